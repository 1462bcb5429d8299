#!/bin/bash
# The samba tier, from the host: build (or reuse) cifs.ko with SMB Direct
# (buildtools/kpeers/build.sh) and Debian's Samba patched for "smb direct"
# with libsmbdirect in its tree (buildtools/samba/build.sh), boot the
# soft-RoCE guest once and run test/samba/samba-tests.sh there.
#
# Usage: bash test/samba/run-samba-tier.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a libsmbdirect build tree (its tools are staged for the
#              tests that use them)
#   TEST       run only these guest tests (see samba-tests.sh)
# Environment: SAMBA_TIER_TIMEOUT (seconds for the boot, default 1500);
#   SAMBA_MB (the big file, default 256); SMBDIRECT_CACHE as for the
#   build scripts.
# Prints the guest's PASS/FAIL lines and "samba: N passed, M failed".
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=test/common/tier-host.sh
. "$here/test/common/tier-host.sh"
build="$(tier_build samba "${1:-}")" || exit 2
shift
tier_need_deps samba
kpeers="$(bash "$here/buildtools/kpeers/build.sh")" ||
	tier_fail samba "buildtools/kpeers/build.sh failed"
prefix="$(bash "$here/buildtools/samba/build.sh")" ||
	tier_fail samba "buildtools/samba/build.sh failed"
out="$(tier_outdir "$build" samba)"
stage="$(tier_stage "$out" "$here/test/samba/samba-tests.sh" \
	"$here/test/samba/smbd-valgrind.sh" "$here/test/samba/smbd-valgrind.supp" \
	"$here/test/interop/kpeers.sh" "$here/test/interop/samba-guest.sh" \
	"$here/test/common/guest-wait.sh" -- "$build/tools/smbdirect-bridge" \
	"$build/tools/smbdirect-torture" "$build/test/interop/ioload")" ||
	tier_fail samba "staging failed"

tier_boot samba "${SAMBA_TIER_TIMEOUT:-1500}" "$out" -- \
	env SAMBA_PREFIX="$prefix" SAMBA_MB="${SAMBA_MB:-256}" \
	bash "$stage/samba-tests.sh" "$kpeers" "$@"
