# shellcheck shell=bash
# Host-side helpers of the guest tier runners (test/vm/run-vm-tier.sh,
# test/interop/run-interop-tier.sh, test/interop/run-bridge-tier.sh).
# Source it with $here set to the repository.

# tier_need_deps TIER: fail the tier at once, with the guard's own lines
# and the tier's summary line, if something its guest scripts use is not
# installed on the host (buildtools/check-guest-deps.sh).
tier_need_deps() {
	local tier=$1 missing
	if missing="$(bash "$here/buildtools/check-guest-deps.sh" "$tier")"; then
		return 0
	fi
	echo "$missing" >&2
	echo "FAIL setup ($(echo "$missing" | head -n 1 | sed 's/^guest-deps: //'))"
	echo "$tier: 0 passed, 1 failed"
	exit 1
}
