#!/bin/bash
# The bridge tier, from the host: boot the soft-RoCE guest once
# (test/common/tier-host.sh) and run test/interop/bridge-tests.sh there,
# with smbdirect-bridge staged next to it.
#
# Usage: bash test/interop/run-bridge-tier.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a build tree holding tools/smbdirect-bridge
#   TEST       run only these guest tests (see bridge-tests.sh)
# Environment: BRIDGE_TIER_TIMEOUT, seconds for the whole boot (default
# 900); SMBDIRECT_CACHE as for run.sh.
#
# Needs Debian's samba, samba-vfs-modules, smbclient and samba-testsuite on
# the host (the guest runs the host's binaries; buildtools/setup-debian.sh
# installs them): buildtools/check-guest-deps.sh fails the tier at once,
# naming what is missing, if one is not there.
#
# Results and the staged copies: BUILD_DIR/bridge-tier (tier_outdir).
# Prints the guest's PASS/FAIL lines (with a failing test's log tails) and
# as its last line "bridge: N passed, M failed" (also when the guest did
# not finish); its own notes go to stderr. Exit status: the guest's;
# 124 if qemu hit the timeout; 125 if the guest never reported a status.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=test/common/tier-host.sh
. "$here/test/common/tier-host.sh"
build="$(tier_build bridge "${1:-}" tools/smbdirect-bridge)" || exit 2
shift
tier_need_deps bridge
out="$(tier_outdir "$build" bridge)"
stage="$(tier_stage "$out" "$build/tools/smbdirect-bridge" \
	"$here"/test/interop/bridge-* "$here/test/interop/samba-guest.sh" \
	"$here/test/common/guest-wait.sh" "$here/test/vm/valgrind.supp")" ||
	tier_fail bridge "staging failed"
tier_boot bridge "${BRIDGE_TIER_TIMEOUT:-900}" "$out" -- bash "$stage/bridge-tests.sh" "$@"
