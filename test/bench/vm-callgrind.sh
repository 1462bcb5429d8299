#!/bin/bash
# CPU cost per operation of smbdirect-perf over real verbs, in user-space
# instructions counted by callgrind (repeatable whatever the machine's load,
# unlike time under TCG), in caller-thread and in rdma-thread mode: what
# the RDMA thread's hop costs. Both sides sleep on completion events (a
# busy-polling loop would count its spinning). Kernel work (rxe, system
# calls) is not counted.
#
# Each figure is the difference of two runs, N and 2N operations, divided
# by N, so set-up, connection and teardown cancel out. What a real-time
# program does still varies a little with timing (how many completions one
# wake-up finds): expect a few percent of noise. The measured side runs
# under callgrind; its peer runs normally:
#   send_lat   one round trip seen by the client (one message sent, one
#              received; --wire-size so that each is one work request)
#   read_bw    one RDMA read of SIZE bytes, by the server, which issues them
#   write_bw   one RDMA write, likewise
# perftest is not measured: it calibrates its clock by spinning for a fixed
# time at start-up, so its instruction count depends on time.
#
# Runs INSIDE the guest (rxe0); from the host:
#   bash buildtools/vm/run.sh -t 2400 -- bash test/bench/vm-callgrind.sh PERF
# Environment: CASES (default "send_lat:64 send_lat:4096 read_bw:65536
#   write_bw:65536"), N (default 200), ADDR (default 10.9.0.1), OUT.
# Prints a markdown table; exit status 0 if every figure was measured.
set -uo pipefail

perf="${1:-${SMBDIRECT_PERF:-$(command -v smbdirect-perf || true)}}"
cases="${CASES:-send_lat:64 send_lat:4096 read_bw:65536 write_bw:65536}"
n="${N:-200}"
addr="${ADDR:-10.9.0.1}"
out="${OUT:-${SDVM_OUT:-$(mktemp -d)}/vm-callgrind}"
mkdir -p "$out"
port=19500
failures=0

log() { echo "vm-callgrind: $*" >&2; }

[ -x "$perf" ] || { log "smbdirect-perf not found"; exit 1; }

# wait_line (the server's "Waiting for client" banner).
# shellcheck source=test/common/guest-wait.sh
. "$(dirname "$0")/../common/guest-wait.sh"

# callgrind's total instruction count of an output file.
total_ir() {
	awk '/^(summary|totals):/ { print $2; exit }' "$1"
}

# run_pair SERVER_CG CLIENT_CG NAME -- SERVER_CMD... -- CLIENT_CMD...:
# start the server, run the client (bounded), under callgrind on the side
# whose flag is 1; echo the measured side's Ir, or nothing.
run_pair() {
	local scg="$1" ccg="$2" name="$3" spid cfile sfile
	local -a scmd=() ccmd=() vg=(valgrind --tool=callgrind)
	shift 4
	while [ "$1" != "--" ]; do scmd+=("$1"); shift; done
	shift
	ccmd=("$@")
	port=$((port + 1))
	sfile="$out/$name.server.cg"
	cfile="$out/$name.client.cg"
	rm -f "$sfile" "$cfile"
	if [ "$scg" = 1 ]; then
		stdbuf -oL "${vg[@]}" --callgrind-out-file="$sfile" "${scmd[@]}" \
			-p "$port" >"$out/$name.server" 2>&1 &
	else
		stdbuf -oL "${scmd[@]}" -p "$port" >"$out/$name.server" 2>&1 &
	fi
	spid=$!
	if ! wait_line "$out/$name.server" "Waiting for client" 60 "$spid"; then
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		log "$name: the server did not start"
		return
	fi
	if [ "$ccg" = 1 ]; then
		timeout 900 "${vg[@]}" --callgrind-out-file="$cfile" "${ccmd[@]}" \
			-p "$port" "$addr" >"$out/$name.client" 2>&1
	else
		timeout 900 "${ccmd[@]}" -p "$port" "$addr" >"$out/$name.client" 2>&1
	fi
	# A server under callgrind exits after its client and then writes
	# its counts: give it time.
	for _ in $(seq 1 1200); do
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	if [ "$scg" = 1 ]; then
		[ -f "$sfile" ] && total_ir "$sfile"
	else
		[ -f "$cfile" ] && total_ir "$cfile"
	fi
}

# per_op TEST SIZE MODE: instructions per operation, or nothing.
per_op() {
	local test="$1" size="$2" mode="$3" a b k iters w
	local -a r=() opts copts
	w=$((size + 24 < 128 ? 128 : size + 24))
	for k in 1 2; do
		iters=$((n * k))
		opts=(--thread-mode "$mode")
		copts=(--test "$test" -s "$size" -n "$iters")
		if [ "$test" = send_lat ]; then
			copts+=(--warmup 0 --wire-size "$w")
			opts+=(--wire-size "$w")
			r+=("$(run_pair 0 1 "$mode-$test-$size-$k" -- \
				"$perf" "${opts[@]}" -- "$perf" "${opts[@]}" "${copts[@]}")")
		else
			copts+=(-t 16)
			r+=("$(run_pair 1 0 "$mode-$test-$size-$k" -- \
				"$perf" "${opts[@]}" -- "$perf" "${opts[@]}" "${copts[@]}")")
		fi
	done
	a="${r[0]:-}"
	b="${r[1]:-}"
	if [ -z "$a" ] || [ -z "$b" ]; then
		return
	fi
	awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN { printf("%.0f", (b - a) / n) }'
}

echo "| operation | #bytes | caller-thread (Ir/op) | rdma-thread (Ir/op) | rdma-thread - caller-thread (the hop) |"
echo "|---|---:|---:|---:|---:|"
for c in $cases; do
	t=${c%%:*}
	size=${c#*:}
	s=$(per_op "$t" "$size" caller)
	m=$(per_op "$t" "$size" rdma)
	log "$t $size: caller ${s:-fail}, rdma-thread ${m:-fail}"
	[ -n "$s" ] && [ -n "$m" ] || failures=$((failures + 1))
	awk -v t="$t" -v size="$size" -v s="$s" -v m="$m" 'BEGIN {
		what = t == "send_lat" ? "round trip (one message each way), client" : t == "read_bw" ? "RDMA read, issuing side" : "RDMA write, issuing side"
		d = (s != "" && m != "") ? sprintf("%+d", m - s) : "n/a"
		printf("| %s | %s | %s | %s | %s |\n", what, size,
		       s == "" ? "fail" : s, m == "" ? "fail" : m, d)
	}'
done
[ "$failures" -eq 0 ]
