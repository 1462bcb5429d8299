#!/bin/bash
# The VM tier, from the host: boot the soft-RoCE guest once
# (buildtools/vm/run.sh) and run test/vm/run-vm-tests.sh there.
#
# Usage: bash test/vm/run-vm-tier.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a build tree holding test/vm/sdtest
#   TEST       run only these guest tests (see run-vm-tests.sh)
# Environment: VM_TIER_TIMEOUT, seconds for the whole boot (default 600:
# the tier's budget is 10 minutes); SMBDIRECT_CACHE as for run.sh.
#
# The guest sees the host's / read-only but has a /tmp of its own, and a
# checkout (CI's) may live in /tmp: so sdtest and the guest scripts are
# copied into the results directory, which the guest shares read-write.
# That is BUILD_DIR/vm-tier, or a new directory under
# $SMBDIRECT_CACHE/runs if BUILD_DIR is under /tmp.
#
# Prints the guest's PASS/FAIL lines (with a failing test's log tails) and
# its last line "vm: N passed, M failed". Exit status: the guest's (0 if
# every test passed); 124 if qemu hit the timeout; 125 if the guest never
# reported a status.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: run-vm-tier.sh BUILD_DIR [TEST...]" >&2; exit 2; }
build="$(cd "$1" 2>/dev/null && pwd)" || { echo "vm tier: no build dir $1" >&2; exit 2; }
shift
if [ ! -x "$build/test/vm/sdtest" ]; then
	echo "vm tier: $build/test/vm/sdtest is missing" >&2
	exit 2
fi
. "$here/test/common/tier-host.sh"
tier_need_deps vm
timeout="${VM_TIER_TIMEOUT:-600}"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
case "$build/" in
/tmp/*)
	mkdir -p "$cache/runs"
	out="$(mktemp -d "$cache/runs/vm-tier.XXXXXX")"
	;;
*)
	out="$build/vm-tier"
	rm -rf "$out"
	mkdir -p "$out"
	;;
esac

# What the guest runs: a private copy, laid out as a build tree.
stage="$out/stage"
mkdir -p "$stage/test/vm" "$stage/tools"
cp "$build/test/vm/sdtest" "$stage/test/vm/"
# The misbehaving peer of the hostile-peer tests (docs/robustness.md).
if [ -x "$build/tools/smbdirect-torture" ]; then
	cp "$build/tools/smbdirect-torture" "$stage/tools/"
fi
cp "$here/test/vm/run-vm-tests.sh" "$here/test/vm/valgrind.supp" \
	"$here/test/common/guest-wait.sh" "$stage/"

start=$(date +%s)
# The guest starts in the caller's directory: make it one it can see. The
# serial console ends lines with CR LF; keep the guest's report lines.
(cd "$out" && bash "$here/buildtools/vm/run.sh" -t "$timeout" -o "$out" -- \
	bash "$stage/run-vm-tests.sh" "$stage" "$@") 2>"$out/run.stderr" |
	tr -d '\r' | grep --line-buffered -E '^(PASS|FAIL|  \| |vm: |vm-tests: )'
rc=${PIPESTATUS[0]}
echo "vm tier: exit $rc after $(($(date +%s) - start)) s (limit $timeout s); logs in $out"
case $rc in
0) ;;
124) echo "vm tier: qemu timed out" ;;
125) echo "vm tier: the guest reported no status (see $out/console.log)" ;;
*) tail -n 5 "$out/run.stderr" | sed 's/^/vm tier: /' ;;
esac
exit "$rc"
