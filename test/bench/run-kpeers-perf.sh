#!/bin/bash
# Boot the soft-RoCE guest once and run test/bench/kpeers-perf.sh in it
# (cifs.ko -> ksmbd.ko over SMB Direct and TCP, perftest as raw verbs;
# medians, ratios), then print its markdown report here. Builds (or
# reuses) the kernel peers with buildtools/kpeers/build.sh first.
#
# Usage: bash test/bench/run-kpeers-perf.sh [BUILD_DIR]
#   BUILD_DIR  a libsmbdirect build tree whose tools/smbdirect-bridge the
#              bridge rows use (default: build/ of this checkout)
# Environment: RUNS, SIZE_MB, TCP_VERS, ROWS, REF_ROW as for kpeers-perf.sh (passed
#   on); VM_TIMEOUT seconds before qemu is stopped (default 900);
#   SMBDIRECT_CACHE as for build.sh and run.sh.
# Exit status: kpeers-perf.sh's (0: every figure measured), 124 if the guest
# timed out, 125 if it never reported, 1 if the peers could not be built.
set -uo pipefail

top="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
kpeers="$(bash "$top/buildtools/kpeers/build.sh")" || {
	echo "run-kpeers-perf: buildtools/kpeers/build.sh failed" >&2
	exit 1
}
sprefix="$(bash "$top/buildtools/samba/build.sh")" || {
	echo "run-kpeers-perf: buildtools/samba/build.sh failed: the samba rows will fail" >&2
	sprefix=
}
mkdir -p "$cache/runs"
out="$(mktemp -d "$cache/runs/kpeers-perf.XXXXXX")"
# The guest's /tmp is its own, and a checkout may live there: stage the
# scripts in the shared results directory.
cp "$top/test/interop/kpeers.sh" "$top/test/interop/samba-guest.sh" \
	"$top/test/common/guest-wait.sh" "$top/test/bench/kpeers-perf.sh" "$out/"
build="${1:-$top/build}"
if [ -x "$build/tools/smbdirect-bridge" ]; then
	cp "$build/tools/smbdirect-bridge" "$out/"
else
	echo "run-kpeers-perf: no $build/tools/smbdirect-bridge: the bridge rows will fail" >&2
fi
echo "run-kpeers-perf: guest output in $out" >&2

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
(cd "$out" && bash "$top/buildtools/vm/run.sh" -t "${VM_TIMEOUT:-900}" -o "$out" -- \
	env RUNS="${RUNS:-3}" SIZE_MB="${SIZE_MB:-64}" TCP_VERS="${TCP_VERS:-3.0}" \
	ROWS="${ROWS:-}" REF_ROW="${REF_ROW:-raw_verbs}" BRIDGE="$out/smbdirect-bridge" SAMBA_PREFIX="$sprefix" \
	PROFILE="${PROFILE:-}" PROFILE_MB="${PROFILE_MB:-16}" PERF_MB="${PERF_MB:-32}" \
	bash "$out/kpeers-perf.sh" "$kpeers") 2>&1 |
	tee "$out/host.log" | stdbuf -oL tr -d '\r' |
	grep --line-buffered -E '^(kpeers-perf|kpeers|vm|sdvm-init):' >&2
rc=${PIPESTATUS[0]}
echo "run-kpeers-perf: guest finished with status $rc after" \
	"$(($(date +%s) - start)) s (boot included)" >&2
if [ -f "$out/kpeers-perf/report.md" ]; then
	echo
	echo "Command: \`bash test/bench/run-kpeers-perf.sh\` (RUNS=${RUNS:-3}, SIZE_MB=${SIZE_MB:-64}, TCP_VERS=${TCP_VERS:-3.0}), $(date -u +%F)"
	echo
	echo "- Host: $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); qemu TCG, ${SDVM_SMP:-2} vCPUs; load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	echo "- Peers: $(grep -E '^(kernel|ksmbd-tools|patches)' "$kpeers/BUILDINFO" | tr '\n' ';')"
	echo
	cat "$out/kpeers-perf/report.md"
else
	echo "run-kpeers-perf: no report; the end of the console log:" >&2
	tail -n 30 "$out/host.log" >&2
fi
exit "$rc"
