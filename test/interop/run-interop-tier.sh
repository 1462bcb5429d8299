#!/bin/bash
# The interop tier, from the host: build (or reuse) the kernel peers
# (buildtools/kpeers/build.sh), boot the soft-RoCE guest once
# (buildtools/vm/run.sh) and run test/interop/interop-tests.sh there.
#
# Usage: bash test/interop/run-interop-tier.sh [BUILD_DIR] [TEST...]
#   BUILD_DIR  a libsmbdirect build tree, handed to the guest tests as
#              $BUILD_DIR; its tools/smbdirect-bridge is staged for the
#              bridge tests (the cifs/ksmbd tests do not need it), and its
#              test/interop/ioload for the load tests; omit it, or pass
#              "-", to run without one
#   TEST       run only these guest tests (see interop-tests.sh)
# Environment: INTEROP_TIER_TIMEOUT, seconds for the whole boot (default
#   600); KP_FAULT and every KPEERS_* variable (KPEERS_MB, KPEERS_UMOUNT,
#   ...) are passed to the guest, see interop-tests.sh; SMBDIRECT_CACHE as
#   for build.sh and run.sh.
#
# The guest sees the host's / read-only but has a /tmp of its own, and a
# checkout (CI's) may live in /tmp: the guest scripts are copied into the
# results directory, which the guest shares read-write: BUILD_DIR/interop-tier,
# or a new directory under $SMBDIRECT_CACHE/runs.
#
# Prints the guest's PASS/FAIL lines (with failing tests' log tails) and
# its last line "interop: N passed, M failed". Exit status: the guest's (0
# if every test passed); 124 if qemu hit the timeout; 125 if the guest
# never reported a status; 1 if the peers could not be built.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
build=
if [ $# -gt 0 ] && [ "$1" = - ]; then
	shift
elif [ $# -gt 0 ] && [ -d "$1" ]; then
	build="$(cd "$1" && pwd)"
	shift
fi
. "$here/test/common/tier-host.sh"
tier_need_deps interop
timeout="${INTEROP_TIER_TIMEOUT:-600}"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
start=$(date +%s)

kpeers="$(bash "$here/buildtools/kpeers/build.sh")" || {
	echo "interop tier: buildtools/kpeers/build.sh failed"
	echo "interop: 0 passed, 1 failed"
	exit 1
}

case "$build/" in
/ | /tmp/*)
	mkdir -p "$cache/runs"
	out="$(mktemp -d "$cache/runs/interop-tier.XXXXXX")"
	;;
*)
	out="$build/interop-tier"
	rm -rf "$out"
	mkdir -p "$out"
	;;
esac
stage="$out/stage"
mkdir -p "$stage"
cp "$here/test/interop/kpeers.sh" "$here/test/interop/interop-tests.sh" \
	"$here/test/interop/samba-guest.sh" "$here/test/common/guest-wait.sh" \
	"$stage/"
# Our tools for the tests that use them (the bridge tests fail with the
# reason when it is missing).
if [ -n "$build" ] && [ -x "$build/tools/smbdirect-bridge" ]; then
	cp "$build/tools/smbdirect-bridge" "$stage/"
fi
# ... and the load generator of the *-load-* tests (test/interop/ioload.c).
if [ -n "$build" ] && [ -x "$build/test/interop/ioload" ]; then
	cp "$build/test/interop/ioload" "$stage/"
fi
if [ -n "$build" ] && [ -x "$build/tools/smbdirect-torture" ]; then
	cp "$build/tools/smbdirect-torture" "$stage/"
fi

# The guest starts in the caller's directory: make it one it can see. The
# serial console ends lines with CR LF; keep the guest's report lines.
# Every KPEERS_* setting of the caller goes to the guest (interop-tests.sh
# names them), the defaults below after them.
kp_env=()
for v in "${!KPEERS_@}"; do
	kp_env+=("$v=${!v}")
done
(cd "$out" && bash "$here/buildtools/vm/run.sh" -t "$timeout" -o "$out" -- \
	env "${kp_env[@]}" BUILD_DIR="$build" KPEERS_MB="${KPEERS_MB:-64}" \
	KPEERS_UMOUNT="${KPEERS_UMOUNT:-}" KP_FAULT="${KP_FAULT:-}" \
	KPEERS_BRIDGE_MB="${KPEERS_BRIDGE_MB:-256}" \
	bash "$stage/interop-tests.sh" "$kpeers" "$@") 2>"$out/run.stderr" |
	stdbuf -oL tr -d '\r' | grep --line-buffered -E '^(PASS|FAIL|  \| |interop: |interop-tests: )' |
	tee "$out/report.txt"
rc=${PIPESTATUS[0]}
echo "interop tier: exit $rc after $(($(date +%s) - start)) s (limit $timeout s for the boot); logs in $out"
case $rc in
0) ;;
124) echo "interop tier: qemu timed out" ;;
125) echo "interop tier: the guest reported no status (see $out/console.log)" ;;
*) tail -n 5 "$out/run.stderr" | sed 's/^/interop tier: /' ;;
esac
# A guest that never finished printed no count: count what it did report,
# and the unfinished run as one failure.
if ! grep -q '^interop: [0-9]* passed' "$out/report.txt"; then
	echo "interop: $(grep -c '^PASS ' "$out/report.txt") passed," \
		"$(($(grep -c '^FAIL ' "$out/report.txt") + 1)) failed"
fi
exit "$rc"
