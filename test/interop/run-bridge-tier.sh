#!/bin/bash
# The bridge tier, from the host: boot the soft-RoCE guest once
# (buildtools/vm/run.sh) and run test/interop/bridge-tests.sh there.
#
# Usage: bash test/interop/run-bridge-tier.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a build tree holding tools/smbdirect-bridge
#   TEST       run only these guest tests (see bridge-tests.sh)
# Environment: BRIDGE_TIER_TIMEOUT, seconds for the whole boot (default
# 540); SMBDIRECT_CACHE as for run.sh.
#
# Needs Debian's samba, samba-vfs-modules, smbclient and samba-testsuite on
# the host (the guest runs the host's binaries; buildtools/setup-debian.sh
# installs them): buildtools/check-guest-deps.sh fails the tier at once,
# naming what is missing, if one is not there.
#
# Prints the guest's PASS/FAIL lines (with a failing test's log tails) and
# as its last line "bridge: N passed, M failed" (also when the guest did
# not finish); its own notes go to stderr. Exit status: the guest's;
# 124 if qemu hit the timeout; 125 if the guest never reported a status.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: run-bridge-tier.sh BUILD_DIR [TEST...]" >&2; exit 2; }
build="$(cd "$1" 2>/dev/null && pwd)" || { echo "bridge tier: no build dir $1" >&2; exit 2; }
shift
if [ ! -x "$build/tools/smbdirect-bridge" ]; then
	echo "bridge tier: $build/tools/smbdirect-bridge is missing" >&2
	exit 2
fi
. "$here/test/common/tier-host.sh"
tier_need_deps bridge
timeout="${BRIDGE_TIER_TIMEOUT:-540}"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
case "$build/" in
/tmp/*)
	mkdir -p "$cache/runs"
	out="$(mktemp -d "$cache/runs/bridge-tier.XXXXXX")"
	;;
*)
	out="$build/bridge-tier"
	rm -rf "$out"
	mkdir -p "$out"
	;;
esac

# What the guest runs: a private copy (the guest cannot see the host's
# /tmp, where a checkout may live).
stage="$out/stage"
mkdir -p "$stage"
cp "$build/tools/smbdirect-bridge" "$stage/"
cp "$here"/test/interop/bridge-*.sh "$here"/test/interop/samba-guest.sh \
	"$here"/test/common/guest-wait.sh \
	"$here"/test/interop/bridge-*.py \
	"$here"/test/interop/bridge-*.supp "$stage/"
cp "$here/test/vm/valgrind.supp" "$stage/" 2>/dev/null

start=$(date +%s)
(cd "$out" && bash "$here/buildtools/vm/run.sh" -t "$timeout" -o "$out" -- \
	bash "$stage/bridge-tests.sh" "$stage" "$@") 2>"$out/run.stderr" |
	tr -d '\r' | grep --line-buffered -E '^(PASS|FAIL|  \| |bridge: |bridge-tests: )' |
	tee "$out/report.txt"
rc=${PIPESTATUS[0]}
if ! grep -q '^bridge: ' "$out/report.txt"; then
	# The guest never finished: count what it reported, and the rest as
	# one failure, so the last line is always the summary.
	echo "FAIL tier (the guest did not finish: exit $rc)"
	echo "bridge: $(grep -c '^PASS' "$out/report.txt") passed, $(($(grep -c '^FAIL' "$out/report.txt") + 1)) failed"
fi
echo "bridge tier: exit $rc after $(($(date +%s) - start)) s (limit $timeout s); logs in $out" >&2
case $rc in
0) ;;
124) echo "bridge tier: qemu timed out" >&2 ;;
125) echo "bridge tier: the guest reported no status (see $out/console.log)" >&2 ;;
*) tail -n 5 "$out/run.stderr" | sed 's/^/bridge tier: /' >&2 ;;
esac
exit "$rc"
