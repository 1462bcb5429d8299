#!/bin/bash
# Instructions per upper-layer message of the libsmbdirect engine, counted
# by callgrind, as a markdown table on stdout.
#
# For each mode and size, smbdirect-engine-bench runs once under
#   valgrind --tool=callgrind --collect-atstart=no
#            --toggle-collect='bench_measured_phase*'
# so only the measured phase is counted (no connect, no warm-up, no
# set-up). callgrind_annotate --inclusive=no --tree=caller then gives the
# instructions (Ir) of every function, and of every call into libc by
# caller, which are summed by where they belong:
#
#   engine.c        lib/core/engine.c (the protocol engine)
#   wire.c          lib/core/wire.c and the byte-order helpers it inlines
#   library         engine.c + wire.c (+ any other lib/*.c except
#                   send_desc.c): the library's own code
#   lib memcpy      libc code the library calls (the reassembly copy)
#   wire copy       the harness's stand-in for the NIC: pair.c's send
#                   callback, lib/core/send_desc.c (flattening a send for the
#                   copy) and the memcpy they call; a real RDMA transport
#                   posts scatter-gather entries instead
#   checksums       the benchmark's content hash of every delivered byte
#   other harness   the pair's CQ polling, the benchmark's driver, and
#                   anything unattributed
#
# Usage: test/bench/engine-callgrind.sh BUILD_DIR [-- BENCH_OPTIONS...]
#   BUILD_DIR        a build tree holding test/bench/smbdirect-engine-bench
#   BENCH_OPTIONS    passed on, e.g. --no-verify or -n 1000
# Environment:
#   SIZES   sizes to run (default "64 1024 8192 65536 1048576")
#   MODES   modes to run (default "stream pingpong")
#   KEEP    if set, keep the callgrind output in this directory
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
bench="$build/test/bench/smbdirect-engine-bench"
if [ ! -x "$bench" ]; then
	echo "$0: $bench not found; build the smbdirect-engine-bench target" >&2
	exit 1
fi
for tool in valgrind callgrind_annotate; do
	if ! command -v "$tool" >/dev/null; then
		echo "$0: $tool not found (Debian package valgrind)" >&2
		exit 1
	fi
done

sizes="${SIZES:-64 1024 8192 65536 1048576}"
modes="${MODES:-stream pingpong}"
if [ -n "${KEEP:-}" ]; then
	work="$KEEP"
	mkdir -p "$work"
else
	work="$(mktemp -d)"
	trap 'rm -rf "$work"' EXIT
fi

# Sum an annotated profile (stdin) into the categories above and print one
# table row. Callers ("<" lines) precede the function they call ("*"
# line); a function outside the project is charged to its callers in
# proportion to what each call cost, which is exact for leaves (memcpy).
# shellcheck disable=SC2016 # an awk program, not shell
summarise='
function category(name,    file, fn) {
	file = name
	sub(/:.*/, "", file)
	fn = name
	sub(/^[^:]*:/, "", fn)
	if (file ~ /(^|\/)lib\/(core\/)?engine\.c$/) return "engine"
	if (file ~ /(^|\/)lib\/(core\/)?(wire\.c|byteorder\.h)$/) return "wire"
	if (file ~ /(^|\/)lib\/(core\/)?send_desc\.c$/) return "wirecopy"
	if (file ~ /(^|\/)lib\/(core\/)?[^\/]*$/) return "libother"
	if (file ~ /(^|\/)test\/common\/pair\.c$/)
		return fn ~ /^side_send/ ? "wirecopy" : "harness"
	if (file ~ /smbdirect-engine-bench\.c$/)
		return fn ~ /^hash64/ ? "checksum" : "harness"
	return "external"
}
function caller_category(name,    c) {
	c = category(name)
	if (c == "engine" || c == "wire" || c == "libother") return "libcall"
	if (c == "external") return "other"
	return c
}
function charge(cost,    i, sum) {
	if (cost == 0) return
	sum = 0
	for (i = 0; i < ncallers; i++) sum += ccost[i]
	if (sum == 0) {
		ir["other"] += cost
		return
	}
	for (i = 0; i < ncallers; i++)
		ir[caller_category(cname[i])] += cost * ccost[i] / sum
}
{
	line = $0
	if (line ~ /PROGRAM TOTALS/) {
		t = line
		sub(/^ */, "", t)
		sub(/ .*/, "", t)
		gsub(/,/, "", t)
		total = t + 0
		next
	}
	if (!match(line, /^ *([0-9][0-9,]*|\.) +/)) next
	cost = substr(line, RSTART, RLENGTH)
	gsub(/[ ,]/, "", cost)
	if (cost == ".") cost = 0
	rest = substr(line, RSTART + RLENGTH)
	sub(/^\([^)]*\) +/, "", rest)
	mark = substr(rest, 1, 1)
	if (mark != "<" && mark != "*") next
	rest = substr(rest, 2)
	sub(/^ +/, "", rest)
	sub(/ \[[^]]*\]$/, "", rest)
	sub(/ \([0-9,]+x\)$/, "", rest)
	if (mark == "<") {
		cname[ncallers] = rest
		ccost[ncallers] = cost + 0
		ncallers++
		next
	}
	c = category(rest)
	if (c == "external") {
		charge(cost + 0)
	} else {
		ir[c] += cost
	}
	ncallers = 0
}
END {
	if (total == 0 || msgs == 0) {
		print "engine-callgrind: no instructions collected" > "/dev/stderr"
		exit 1
	}
	lib = ir["engine"] + ir["wire"] + ir["libother"]
	other = ir["harness"] + ir["other"]
	sum = lib + ir["libcall"] + ir["wirecopy"] + ir["checksum"] + other
	if (sum < total * 0.999 || sum > total * 1.001)
		printf("engine-callgrind: %s %s: categories sum to %.0f of %.0f Ir\n",
		       mode, bytes, sum, total) > "/dev/stderr"
	printf("| %s | %s | %d | %.3f | %.1f | %.1f | %.1f | **%.1f** | %.1f | %.1f | %.1f | %.1f | %.1f |\n",
	       mode, bytes, msgs, wire / msgs, total / msgs,
	       ir["engine"] / msgs, ir["wire"] / msgs, lib / msgs,
	       ir["libcall"] / msgs, ir["wirecopy"] / msgs,
	       ir["checksum"] / msgs, other / msgs, lib / wire)
}
'

echo "| mode | #bytes | messages | wire/msg | Ir/msg total | engine.c | wire.c | library | lib memcpy | wire copy | checksums | other harness | library Ir per wire msg |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for mode in $modes; do
	for size in $sizes; do
		name="$mode-$size"
		echo "engine-callgrind: $mode $size bytes" >&2
		valgrind --tool=callgrind --collect-atstart=no \
			--toggle-collect='bench_measured_phase*' \
			--callgrind-out-file="$work/$name.callgrind" \
			"$bench" --callgrind --csv --mode "$mode" -s "$size" "$@" \
			>"$work/$name.csv" 2>"$work/$name.log" || {
			echo "$0: $mode $size failed:" >&2
			tail -20 "$work/$name.log" >&2
			exit 1
		}
		# CSV columns: 4 messages, 13 wire_messages.
		msgs="$(awk -F, 'NR == 2 { print $4 }' "$work/$name.csv")"
		wire="$(awk -F, 'NR == 2 { print $13 }' "$work/$name.csv")"
		callgrind_annotate --inclusive=no --tree=caller --threshold=100 \
			"$work/$name.callgrind" >"$work/$name.annotate"
		awk -v mode="$mode" -v bytes="$size" -v msgs="$msgs" \
			-v wire="$wire" "$summarise" "$work/$name.annotate"
	done
done
