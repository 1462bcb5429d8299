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
# Environment: SAMBA_TIER_TIMEOUT (seconds for the boot, default 900);
#   SAMBA_MB (the big file, default 256); SMBDIRECT_CACHE as for the
#   build scripts.
# Prints the guest's PASS/FAIL lines and "samba: N passed, M failed".
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
[ $# -ge 1 ] || { echo "usage: run-samba-tier.sh BUILD_DIR [TEST...]" >&2; exit 2; }
build="$(cd "$1" 2>/dev/null && pwd)" || { echo "samba tier: no build dir $1" >&2; exit 2; }
shift
# shellcheck source=test/common/tier-host.sh
. "$here/test/common/tier-host.sh"
tier_need_deps samba

fail_setup() {
	echo "FAIL setup ($1)"
	echo "samba: 0 passed, 1 failed"
	exit 1
}
kpeers="$(bash "$here/buildtools/kpeers/build.sh")" ||
	fail_setup "buildtools/kpeers/build.sh failed"
prefix="$(bash "$here/buildtools/samba/build.sh")" ||
	fail_setup "buildtools/samba/build.sh failed"

out="$(tier_outdir "$build" samba)"
stage="$out/stage"
mkdir -p "$stage"
cp "$here/test/samba/samba-tests.sh" "$here/test/samba/smbd-valgrind.sh" "$here/test/samba/smbd-valgrind.supp" "$here/test/interop/kpeers.sh" \
	"$here/test/interop/samba-guest.sh" "$here/test/common/guest-wait.sh" \
	"$stage/"
for t in tools/smbdirect-bridge tools/smbdirect-torture test/interop/ioload; do
	[ -x "$build/$t" ] && cp "$build/$t" "$stage/"
done

tier_boot samba "${SAMBA_TIER_TIMEOUT:-900}" "$out" -- \
	env SAMBA_PREFIX="$prefix" SAMBA_MB="${SAMBA_MB:-256}" \
	bash "$stage/samba-tests.sh" "$kpeers" "$@"
