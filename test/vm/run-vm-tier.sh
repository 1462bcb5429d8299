#!/bin/bash
# The VM tier, from the host: boot the soft-RoCE guest once
# (test/common/tier-host.sh) and run test/vm/run-vm-tests.sh there, with
# sdtest and smbdirect-torture staged next to it.
#
# Usage: bash test/vm/run-vm-tier.sh BUILD_DIR [TEST...]
#   BUILD_DIR  a build tree holding test/vm/sdtest
#   TEST       run only these guest tests (see run-vm-tests.sh)
# Environment: VM_TIER_TIMEOUT, seconds for the whole boot (default 1200:
# 722 s were measured in the guest on a loaded host, with the hostile-peer
# tests); SMBDIRECT_CACHE as for run.sh; VM_TIER_ENV, NAME=VALUE words
# for the guest's tests (the by-hand sizes, e.g. "LOAD_CONNECTIONS=64
# LOAD_COUNT=100000").
#
# Results and the staged copies: BUILD_DIR/vm-tier (tier_outdir). Prints
# the guest's PASS/FAIL lines (with a failing test's log tails) and its
# last line "vm: N passed, M failed". Exit status: the guest's (0 if every
# test passed); 124 if qemu hit the timeout; 125 if the guest never
# reported a status.
set -uo pipefail

here="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=test/common/tier-host.sh
. "$here/test/common/tier-host.sh"
build="$(tier_build vm "${1:-}" test/vm/sdtest)" || exit 2
shift
tier_need_deps vm
out="$(tier_outdir "$build" vm)"
# smbdirect-torture: the misbehaving peer of the hostile-peer tests
# (docs/robustness.md).
stage="$(tier_stage "$out" "$build/test/vm/sdtest" \
	"$here/test/vm/run-vm-tests.sh" "$here/test/vm/valgrind.supp" \
	"$here/test/common/guest-wait.sh" -- "$build/tools/smbdirect-torture")" ||
	tier_fail vm "staging failed"
# shellcheck disable=SC2086 # VM_TIER_ENV is words on purpose
tier_boot vm "${VM_TIER_TIMEOUT:-1200}" "$out" -- env ${VM_TIER_ENV:-} \
	bash "$stage/run-vm-tests.sh" "$@"
