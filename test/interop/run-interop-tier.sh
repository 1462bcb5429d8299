#!/bin/bash
# The interop tier, from the host: build (or reuse) the kernel peers
# (buildtools/kpeers/build.sh), boot the soft-RoCE guest once
# (test/common/tier-host.sh) and run test/interop/interop-tests.sh there.
#
# Usage: bash test/interop/run-interop-tier.sh [BUILD_DIR] [TEST...]
#   BUILD_DIR  a libsmbdirect build tree, handed to the guest tests as
#              $BUILD_DIR; its tools/smbdirect-bridge is staged for the
#              bridge tests (the cifs/ksmbd tests do not need it), its
#              test/interop/ioload for the load tests and its
#              tools/smbdirect-torture for the hostile-peer ones; omit it,
#              or pass "-", to run without one
#   TEST       run only these guest tests (see interop-tests.sh)
# Environment: INTEROP_TIER_TIMEOUT, seconds for the whole boot (default
#   1200: 628 s were measured in the guest on a loaded host); KP_FAULT and every KPEERS_* variable (KPEERS_MB, KPEERS_UMOUNT,
#   ...) are passed to the guest, see interop-tests.sh; SMBDIRECT_CACHE as
#   for build.sh and run.sh.
#
# Results and the staged copies: BUILD_DIR/interop-tier, or a new
# directory under $SMBDIRECT_CACHE/runs (tier_outdir). Prints the guest's
# PASS/FAIL lines (with failing tests' log tails) and its last line
# "interop: N passed, M failed". Exit status: the guest's (0 if every test
# passed); 124 if qemu hit the timeout; 125 if the guest never reported a
# status; 1 if the peers could not be built.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
build=
if [ $# -gt 0 ] && [ "$1" = - ]; then
	shift
elif [ $# -gt 0 ] && [ -d "$1" ]; then
	build="$(cd "$1" && pwd)"
	shift
fi
# shellcheck source=test/common/tier-host.sh
. "$here/test/common/tier-host.sh"
tier_need_deps interop
kpeers="$(bash "$here/buildtools/kpeers/build.sh")" ||
	tier_fail interop "buildtools/kpeers/build.sh failed"
out="$(tier_outdir "$build" interop)"
# Our tools for the tests that use them (those fail with the reason when
# one is missing).
stage="$(tier_stage "$out" "$here/test/interop/kpeers.sh" \
	"$here/test/interop/interop-tests.sh" "$here/test/interop/samba-guest.sh" \
	"$here/test/common/guest-wait.sh" -- "$build/tools/smbdirect-bridge" \
	"$build/test/interop/ioload" "$build/tools/smbdirect-torture")" ||
	tier_fail interop "staging failed"

# Every KPEERS_* setting of the caller goes to the guest (interop-tests.sh
# names them), the defaults below after them.
kp_env=()
for v in "${!KPEERS_@}"; do
	kp_env+=("$v=${!v}")
done
tier_boot interop "${INTEROP_TIER_TIMEOUT:-1200}" "$out" -- \
	env "${kp_env[@]}" BUILD_DIR="$build" KPEERS_MB="${KPEERS_MB:-64}" \
	KPEERS_UMOUNT="${KPEERS_UMOUNT:-}" KP_FAULT="${KP_FAULT:-}" \
	KPEERS_BRIDGE_MB="${KPEERS_BRIDGE_MB:-256}" \
	bash "$stage/interop-tests.sh" "$kpeers" "$@"
