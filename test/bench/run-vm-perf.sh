#!/bin/bash
# Boot the soft-RoCE guest once and run test/bench/vm-perf.sh in it
# (perftest and smbdirect-perf side by side, medians, ratios), then print
# its markdown report here. It builds nothing.
#
# Usage: test/bench/run-vm-perf.sh [SMBDIRECT_PERF]
#   SMBDIRECT_PERF  the binary to measure: a file, or a build tree holding
#                   tools/smbdirect-perf (default: smbdirect-perf in PATH,
#                   e.g. /usr/local/bin after buildtools/main.sh). It must
#                   not live under /tmp, which the guest does not share.
# Environment: RUNS, SIZES, TX_DEPTH, SCALE, SECTIONS as for vm-perf.sh (passed on);
#   VM_TIMEOUT  seconds before qemu is stopped (default 1800; both sections
#               take about 15 minutes under TCG on a quiet machine).
# Exit status: vm-perf.sh's (0: every figure measured), 124 if the guest
# timed out, 125 if it never reported.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
perf="${1:-$(command -v smbdirect-perf || true)}"
if [ -n "$perf" ] && [ -d "$perf" ]; then
	perf="$perf/tools/smbdirect-perf"
fi
if [ -z "$perf" ] || [ ! -x "$perf" ]; then
	echo "run-vm-perf: smbdirect-perf not found; build it" \
		"(cmake --build BUILD --target smbdirect-perf) and pass" \
		"BUILD or the binary" >&2
	exit 1
fi
perf="$(cd "$(dirname "$perf")" && pwd)/$(basename "$perf")"
case "$perf" in
/tmp/*)
	echo "run-vm-perf: $perf is under /tmp, which the guest does not" \
		"see; build elsewhere" >&2
	exit 1
	;;
esac

cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
mkdir -p "$cache/runs"
out="$(mktemp -d "$cache/runs/vm-perf.XXXXXX")"
echo "run-vm-perf: measuring $perf; guest output in $out" >&2

load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s)
set +e
(cd "$top" && bash buildtools/vm/run.sh -t "${VM_TIMEOUT:-1800}" -o "$out" -- \
	env RUNS="${RUNS:-3}" SIZES="${SIZES:-4096 65536 1048576}" \
	TX_DEPTH="${TX_DEPTH:-16}" SCALE="${SCALE:-1}" SECTIONS="${SECTIONS:-perftest modes}" \
	bash "$here/vm-perf.sh" "$perf") 2>&1 | tee "$out/host.log" |
	grep --line-buffered -E '^(vm-perf|vm|sdvm-init):' >&2
rc=${PIPESTATUS[0]}
set -e
echo "run-vm-perf: guest finished with status $rc after" \
	"$(($(date +%s) - start)) s (boot included)" >&2
if [ -f "$out/vm-perf/report.md" ]; then
	echo
	echo "Command: \`test/bench/run-vm-perf.sh $perf\` (RUNS=${RUNS:-3}, TX_DEPTH=${TX_DEPTH:-16}, SCALE=${SCALE:-1}, SECTIONS=${SECTIONS:-perftest modes})"
	echo
	echo "- Host: $(nproc) CPUs, $(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r); qemu TCG, ${SDVM_SMP:-2} vCPUs; load average (1/5/15 min) $load_start at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
	cat "$out/vm-perf/report.md"
else
	echo "run-vm-perf: no report; the end of the console log:" >&2
	tail -n 30 "$out/host.log" >&2
fi
exit "$rc"
