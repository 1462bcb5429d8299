#!/bin/bash
# Instructions per operation of the RDMA binding on the host, counted by
# callgrind over the fake verbs layer (test/bench/binding-bench.c): the
# library's own code (every source file under lib/), what it calls in
# talloc/tevent/libc, and the fake device (which stands in for the NIC and
# the kernel, so its cost means nothing), as a markdown table. The counts
# are deterministic: compare two trees (before/after a change) with it.
#
# Usage: test/bench/binding-callgrind.sh BUILD_DIR
# Environment: CASES (default "pingpong:64 pingpong:4096 stream:1024
#   write:65536 pingpong:4096:relay write:65536:relay"; a third field
#   "relay" runs the server's side through a relay in the same process,
#   binding-bench -r), N (operations per case, default 2000), KEEP (keep
#   the callgrind files in this directory).
set -euo pipefail

build="${1:?usage: binding-callgrind.sh BUILD_DIR}"
bench="$build/test/bench/binding-bench"
[ -x "$bench" ] || { echo "$0: $bench not found (target binding-bench)" >&2; exit 1; }
cases="${CASES:-pingpong:64 pingpong:4096 stream:1024 write:65536 pingpong:4096:relay write:65536:relay}"
n="${N:-2000}"
if [ -n "${KEEP:-}" ]; then
	work="$KEEP"
	mkdir -p "$work"
else
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
fi

echo "| case | ops | library (lib/) Ir/op | talloc+tevent+libc Ir/op | fake verbs Ir/op | harness Ir/op | total Ir/op |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for c in $cases; do
	IFS=: read -r mode size variant <<<"$c"
	relay=()
	[ "${variant:-}" = relay ] && relay=(-r)
	out="$work/$mode-$size${variant:+-$variant}.callgrind"
	valgrind --tool=callgrind --collect-atstart=no \
		--toggle-collect=bench_measured_phase \
		--callgrind-out-file="$out" \
		"$bench" -m "$mode" -s "$size" -n "$n" "${relay[@]}" >"${out%.callgrind}.log" 2>&1 || {
		echo "$0: $c failed:" >&2
		tail -n 20 "${out%.callgrind}.log" >&2
		exit 1
	}
	grep -q ' ok$' "${out%.callgrind}.log" || { echo "$0: $c: no ok line" >&2; exit 1; }
	# Self cost per function, charged by the file it is in.
	callgrind_annotate --inclusive=no --threshold=100 --auto=no "$out" |
		awk -v c="$c" -v n="$n" '
		/PROGRAM TOTALS/ { t = $1; gsub(/,/, "", t); total = t + 0; next }
		match($0, /^ *[0-9][0-9,]* /) {
			v = substr($0, RSTART, RLENGTH); gsub(/[ ,]/, "", v)
			rest = substr($0, RSTART + RLENGTH)
			sub(/^\([^)]*\) +/, "", rest)
			file = rest; sub(/:.*/, "", file)
			if (file ~ /(^|\/)lib\/[^ ]*\.[ch]$/) lib += v
			else if (file ~ /fakeverbs\.c$/) fake += v
			else if (file ~ /binding-bench\.c$/) harness += v
			else ext += v
		}
		END {
			if (total == 0) { print "no instructions counted" > "/dev/stderr"; exit 1 }
			printf("| %s | %d | **%.0f** | %.0f | %.0f | %.0f | %.0f |\n", c, n,
			       lib / n, ext / n, fake / n, harness / n, total / n)
		}'
done
