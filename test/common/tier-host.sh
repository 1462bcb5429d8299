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

# tier_outdir BUILD NAME: print the directory for a tier's results and
# staged files: BUILD/NAME-tier, emptied; or, when BUILD is empty or under
# /tmp (the guest cannot see the host's /tmp), a new directory under
# $SMBDIRECT_CACHE/runs.
tier_outdir() {
	local build=$1 name=$2 cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}" out
	case "$build/" in
	/ | /tmp/*)
		mkdir -p "$cache/runs"
		mktemp -d "$cache/runs/$name-tier.XXXXXX"
		;;
	*)
		out="$build/$name-tier"
		rm -rf "$out"
		mkdir -p "$out"
		echo "$out"
		;;
	esac
}

# tier_boot NAME TIMEOUT OUT -- COMMAND...: boot the soft-RoCE guest once
# (buildtools/vm/run.sh, results in OUT) to run COMMAND; print the guest's
# PASS/FAIL lines, failing tests' log tails ("  | ") and its last line
# "NAME: N passed, M failed" (a guest that never finished counts as one
# more failure); notes on stderr. Returns the guest's status: 124 if qemu
# hit TIMEOUT, 125 if the guest reported none.
tier_boot() {
	local name=$1 timeout=$2 out=$3 start rc
	shift 4
	start=$(date +%s)
	# The guest starts in the caller's directory: make it one it can see.
	# The serial console ends lines with CR LF.
	(cd "$out" && bash "$here/buildtools/vm/run.sh" -t "$timeout" -o "$out" -- "$@") \
		2>"$out/run.stderr" | stdbuf -oL tr -d '\r' |
		grep --line-buffered -E "^(PASS|FAIL|  \| |$name: |$name-tests: )" |
		tee "$out/report.txt"
	rc=${PIPESTATUS[0]}
	echo "$name tier: exit $rc after $(($(date +%s) - start)) s (limit $timeout s); logs in $out" >&2
	case $rc in
	0) ;;
	124) echo "$name tier: qemu timed out" >&2 ;;
	125) echo "$name tier: the guest reported no status (see $out/console.log)" >&2 ;;
	*) tail -n 5 "$out/run.stderr" | sed "s/^/$name tier: /" >&2 ;;
	esac
	if ! grep -q "^$name: [0-9]* passed" "$out/report.txt"; then
		echo "FAIL tier (the guest did not finish: exit $rc)"
		echo "$name: $(grep -c '^PASS ' "$out/report.txt") passed," \
			"$(($(grep -c '^FAIL ' "$out/report.txt") + 1)) failed"
	fi
	return "$rc"
}
