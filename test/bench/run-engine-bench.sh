#!/bin/bash
# The engine benchmark report, as markdown on stdout: smbdirect-engine-bench
# (all sizes, both modes) run RUNS times, medians per size, then the
# callgrind table of engine-callgrind.sh, all from the same invocation.
# It builds nothing; progress goes to stderr.
#
# Usage: test/bench/run-engine-bench.sh BUILD_DIR [-- BENCH_OPTIONS...]
#   BUILD_DIR        a build tree holding test/bench/smbdirect-engine-bench
#                    (cmake --build BUILD_DIR --target smbdirect-engine-bench,
#                    in a tree configured with BUILD_TESTING on, the default)
#   BENCH_OPTIONS    passed to every timed run, e.g. --no-verify
# Environment:
#   RUNS            timed runs (default 5; the report shows medians)
#   NO_CALLGRIND    if set, skip the callgrind table
set -euo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [-- BENCH_OPTIONS...]" >&2
	exit 2
}

[ $# -ge 1 ] || usage
build="$1"
shift
if [ $# -gt 0 ]; then
	[ "$1" = "--" ] || usage
	shift
fi
here="$(cd "$(dirname "$0")" && pwd)"
bench="$build/test/bench/smbdirect-engine-bench"
runs="${RUNS:-5}"
if [ ! -x "$bench" ]; then
	echo "$0: $bench not found; build the smbdirect-engine-bench target" >&2
	exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for i in $(seq 1 "$runs"); do
	echo "run-engine-bench: timed run $i of $runs" >&2
	"$bench" --csv --mode both "$@" >"$work/run$i.csv"
done

# Medians per mode and size. CSV columns: 1 mode, 2 bytes, 3 iterations,
# 6 msg_per_s, 7 mib_per_s, 8 wire_per_msg, 9 credit_only_per_msg,
# 10 allocs_per_msg, 15 clock_advances, 16 tx_depth, 17 batch,
# 18 max_send_size, 19 verify.
# shellcheck disable=SC2016 # an awk program, not shell
medians='
function sort_values(a, n,    i, j, v) {
	for (i = 2; i <= n; i++) {
		v = a[i]
		for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
		a[j + 1] = v
	}
}
function median(key, col,    n, i, a) {
	n = count[key]
	for (i = 1; i <= n; i++) a[i] = val[key, col, i] + 0
	sort_values(a, n)
	if (n % 2 == 1) return a[(n + 1) / 2]
	return (a[n / 2] + a[n / 2 + 1]) / 2
}
function extreme(key, col, want_max,    n, i, m, v) {
	n = count[key]
	m = val[key, col, 1] + 0
	for (i = 2; i <= n; i++) {
		v = val[key, col, i] + 0
		if ((want_max && v > m) || (!want_max && v < m)) m = v
	}
	return m
}
FNR == 1 { next }
{
	key = $1 "," $2
	if (!(key in count)) {
		order[++nkeys] = key
		count[key] = 0
	}
	n = ++count[key]
	for (c = 1; c <= NF; c++) val[key, c, n] = $c
	iters[key] = $3
	depth[$1] = $16
	batch = $17
	mss = $18
	verify = $19
	if ($10 == "nan") hooks = 0; else if (hooks == "") hooks = 1
}
END {
	printf("- Bench settings: max_send_size %d (%d payload bytes per fragment), poll batches of 1..%d completions, %s\n\n",
	       mss, mss - 24, batch,
	       verify ? "content verified (hash of every delivered byte)" : "content not verified (--no-verify)")
	for (m = 1; m <= 2; m++) {
		mode = m == 1 ? "stream" : "pingpong"
		if (m == 1) {
			print "### Stream: initiator to responder, tx-depth " depth[mode] " (medians of " runs " runs)"
			print ""
			print "| #bytes | #iterations (messages) | msg/s | msg/s min..max | MiB/s | wire msgs/msg | credit-only/msg | allocs/msg (max) |"
		} else {
			print ""
			print "### Ping-pong: each side answers every delivered message, tx-depth " depth[mode] " (medians of " runs " runs)"
			print ""
			print "msg/s and MiB/s count the messages of both directions."
			print ""
			print "| #bytes | #iterations (exchanges) | msg/s | msg/s min..max | MiB/s | wire msgs/msg | credit-only/msg | allocs/msg (max) |"
		}
		print "|---:|---:|---:|---:|---:|---:|---:|---:|"
		for (k = 1; k <= nkeys; k++) {
			key = order[k]
			split(key, part, ",")
			if (part[1] != mode) continue
			allocs = hooks ? sprintf("%.4f", extreme(key, 10, 1)) : "n/a"
			printf("| %s | %s | %.0f | %.0f..%.0f | %.1f | %.3f | %.4f | %s |\n",
			       part[2], iters[key], median(key, 6),
			       extreme(key, 6, 0), extreme(key, 6, 1),
			       median(key, 7), median(key, 8), median(key, 9),
			       allocs)
			if (extreme(key, 15, 1) > 0) stalls = 1
		}
	}
	if (stalls) {
		print ""
		print "Warning: in some run the virtual clock advanced during the measured phase (the engines waited for a timer)."
	}
}
'

cpu="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
rev="$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "$rev" != unknown ] && ! git -C "$here" diff --quiet HEAD 2>/dev/null; then
	rev="$rev (with uncommitted changes)"
fi
build_type="$(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$build/CMakeCache.txt" 2>/dev/null || true)"
compiler="$(awk -F= '/^CMAKE_C_COMPILER:/ { print $2 }' "$build/CMakeCache.txt" 2>/dev/null || true)"
if [ -n "$compiler" ] && [ -x "$compiler" ]; then
	compiler="$("$compiler" --version | head -1)"
fi

echo "Command: \`test/bench/run-engine-bench.sh $build${*:+ -- $*}\` (RUNS=$runs)"
echo
echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "- Machine: $(nproc) CPUs (nproc), $cpu, Linux $(uname -r)"
echo "- Build: ${build_type:-unknown} (${compiler:-unknown compiler}), libsmbdirect $("$bench" --version | sed 's/.*libsmbdirect \([^)]*\)).*/\1/'), commit $rev"
awk -F, -v runs="$runs" "$medians" "$work"/run*.csv

if [ -z "${NO_CALLGRIND:-}" ]; then
	echo
	echo "### Callgrind: instructions (Ir) per upper-layer message"
	echo
	echo "Measured phase only (\`valgrind --tool=callgrind --collect-atstart=no --toggle-collect='bench_measured_phase*'\`), one run per row, \`smbdirect-engine-bench --callgrind\` iteration counts; \`library\` = lib/core/engine.c + lib/core/wire.c, exclusive; \`lib memcpy\` = libc's memcpy called by the library (reassembly); the other columns are harness costs."
	echo
	bash "$here/engine-callgrind.sh" "$build" ${1+-- "$@"}
fi
