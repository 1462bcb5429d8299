#!/bin/bash
# perftest and smbdirect-perf side by side, in ONE boot of the soft-RoCE
# guest, on rxe0 (10.9.0.1, loopback): ib_send_lat, ib_write_bw and
# ib_read_bw (-R) against smbdirect-perf's send_lat, write_bw and read_bw
# at the same sizes, tx depth and iteration counts. perftest runs a second
# time with -e (sleeping on CQ events, as libsmbdirect's tevent loop does)
# for informative rows without a goal. Every measurement is
# repeated RUNS times, the tools interleaved, and the median is used. The
# report (markdown) goes to stdout and to OUT/report.md.
#
# Runs INSIDE the guest (it needs rxe0); from the host, use
# test/bench/run-vm-perf.sh, or:
#   bash buildtools/vm/run.sh -t 900 -- bash test/bench/vm-perf.sh [SMBDIRECT_PERF]
#
# SMBDIRECT_PERF  the smbdirect-perf binary (default: the one in PATH, e.g.
#                 /usr/local/bin after buildtools/main.sh). Not under /tmp:
#                 the guest's /tmp is its own.
# Environment:
#   RUNS       repetitions of every measurement (default 3)
#   SIZES      message/RDMA sizes (default "4096 65536 1048576")
#   TX_DEPTH   outstanding RDMA operations, both tools (default 16)
#   SCALE      multiplies every iteration count (default 1; e.g. 0.1 for
#              a quick check)
#   ADDR       server address (default 10.9.0.1)
#   OUT        results directory (default $SDVM_OUT/vm-perf, else a new
#              temporary directory)
#   SECTIONS   what to measure (default "perftest modes"): perftest = the
#              perftest comparison above; modes = smbdirect-perf in
#              caller-thread against rdma-thread mode
# Exit status: 0 if every measurement produced a figure (goals missed are
# reported, not failed), 1 otherwise.
set -uo pipefail

perf="${1:-${SMBDIRECT_PERF:-$(command -v smbdirect-perf || true)}}"
runs="${RUNS:-3}"
sizes="${SIZES:-4096 65536 1048576}"
depth="${TX_DEPTH:-16}"
scale="${SCALE:-1}"
addr="${ADDR:-10.9.0.1}"
if [ -n "${OUT:-}" ]; then
	out="$OUT"
elif [ -n "${SDVM_OUT:-}" ]; then
	out="$SDVM_OUT/vm-perf"
else
	out="$(mktemp -d)"
fi

if [ -z "$perf" ] || [ ! -x "$perf" ]; then
	echo "vm-perf: smbdirect-perf not found (argument or PATH)" >&2
	exit 1
fi
for t in ib_send_lat ib_write_bw ib_read_bw; do
	command -v "$t" >/dev/null || {
		echo "vm-perf: $t not found (Debian package perftest)" >&2
		exit 1
	}
done
mkdir -p "$out/logs"
raw="$out/raw.csv"
echo "tool,test,bytes,iterations,run,value,attempts" >"$raw"
start=$(date +%s)
failures=0

log() { echo "vm-perf: $*" >&2; }

# Iterations per size: about 16 MiB of ping-pong per latency run and
# 96 MiB per bandwidth run (under TCG soft-RoCE moves about 50 MB/s),
# clamped, times SCALE.
iters_for() {
	awk -v kind="$1" -v size="$2" -v scale="$scale" 'BEGIN {
		if (kind == "lat") { n = 16777216 / size; lo = 20; hi = 1000 }
		else { n = 100663296 / size; lo = 64; hi = 5000 }
		if (n < lo) n = lo
		if (n > hi) n = hi
		n = int(n * scale)
		if (n < 5) n = 5
		print n
	}'
}

# Wait until FILE shows the server's "Waiting for client" banner (both
# tools print it) or PID exits; false on timeout or exit.
wait_ready() {
	local file="$1" pid="$2" _
	for _ in $(seq 1 300); do
		grep -q "Waiting for client" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

stop_server() {
	local pid="$1" _
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

port_perftest=18515
port_smbd=5445

# One perftest measurement; sets `result` to "FIGURE ATTEMPTS" (t_typical
# usec or BW average MB/s), or to nothing. perftest sometimes refuses its report under
# TCG ("r^2 < 0.9"), so a run is retried up to 5 times.
perftest_once() {
	local prog="$1" size="$2" n="$3" run="$4" extra="${5:-}" attempt srv cli spid value t0
	local -a args=(-R -F -s "$size" -n "$n")
	local name="$prog$extra"
	result=
	[ "$prog" = ib_send_lat ] || args+=(-t "$depth")
	[ -z "$extra" ] || args+=("$extra")
	for attempt in 1 2 3 4 5; do
		port_perftest=$((port_perftest + 1))
		srv="$out/logs/$name-$size-r$run-a$attempt.server"
		cli="$out/logs/$name-$size-r$run-a$attempt.client"
		# Line-buffered, or the banner waits in stdio's buffer.
		stdbuf -oL "$prog" "${args[@]}" -p "$port_perftest" >"$srv" 2>&1 &
		spid=$!
		if ! wait_ready "$srv" "$spid"; then
			stop_server "$spid"
			continue
		fi
		t0=$(date +%s.%N)
		timeout 300 "$prog" "${args[@]}" -p "$port_perftest" "$addr" \
			>"$cli" 2>&1
		echo "vm-perf: client wall time $(echo "$(date +%s.%N) $t0" | awk '{ printf("%.2f", $1 - $2) }') s" >>"$cli"
		stop_server "$spid"
		# The result row starts with the size; latency: t_typical is
		# column 5, bandwidth: BW average is column 4. "inf" or 0 (a
		# failed clock calibration) counts as no figure.
		value=$(awk -v size="$size" -v lat="$([ "$prog" = ib_send_lat ] && echo 1)" '
			$1 == size && $2 ~ /^[0-9]+$/ { v = lat ? $5 : $4 }
			END { if (v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) print v }' "$cli")
		if [ -n "$value" ]; then
			result="$value $attempt"
			return 0
		fi
		log "$name $size run $run attempt $attempt gave no figure: $(grep -v '^ *$' "$cli" | tail -1)"
	done
	return 1
}

# One smbdirect-perf measurement, same parameters and result. A fifth
# argument, a thread mode (caller or rdma), is given to both sides.
smbd_once() {
	local test="$1" size="$2" n="$3" run="$4" mode="${5:-caller}"
	local attempt srv cli spid value t0
	local -a args=(--csv -s "$size" -n "$n" --test "$test")
	result=
	if [ "$test" = send_lat ]; then
		args+=(--warmup 4)
	else
		args+=(-t "$depth")
	fi
	args+=(--thread-mode "$mode")
	for attempt in 1 2 3; do
		port_smbd=$((port_smbd + 1))
		srv="$out/logs/smbdirect-perf-$mode-$test-$size-r$run-a$attempt.server"
		cli="$out/logs/smbdirect-perf-$mode-$test-$size-r$run-a$attempt.client"
		"$perf" -p "$port_smbd" --thread-mode "$mode" >"$srv" 2>&1 &
		spid=$!
		if ! wait_ready "$srv" "$spid"; then
			stop_server "$spid"
			continue
		fi
		t0=$(date +%s.%N)
		timeout 300 "$perf" "${args[@]}" -p "$port_smbd" "$addr" \
			>"$cli" 2>"$cli.err"
		echo "vm-perf: client wall time $(echo "$(date +%s.%N) $t0" | awk '{ printf("%.2f", $1 - $2) }') s" >>"$cli.err"
		stop_server "$spid"
		# CSV: bytes is column 3, t_typical_us 8, bw_avg_mib_s 14.
		# msg_rate: MsgRate[Mpps] (column 15).
		value=$(awk -F, -v size="$size" -v test="$test" '
			$1 == test && $3 == size {
				v = test == "send_lat" ? $8 : test == "msg_rate" ? $15 : $14
			}
			END { if (v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) print v }' "$cli")
		if [ -n "$value" ]; then
			result="$value $attempt"
			return 0
		fi
		log "smbdirect-perf $test $size run $run attempt $attempt gave no figure: $(grep -v "wall time" "$cli.err" 2>/dev/null | tail -1)"
	done
	return 1
}

record() {
	local tool="$1" test="$2" size="$3" n="$4" run="$5" result="$6"
	if [ -z "$result" ]; then
		echo "$tool,$test,$size,$n,$run,,0" >>"$raw"
		failures=$((failures + 1))
		log "$tool $test $size run $run: FAILED"
		return
	fi
	echo "$tool,$test,$size,$n,$run,${result% *},${result#* }" >>"$raw"
	log "$tool $test $size run $run: ${result% *} (n=$n)"
}

log "smbdirect-perf: $perf ($("$perf" --version 2>/dev/null))"
log "sizes: $sizes; runs: $runs; tx depth: $depth; output: $out"

result=
sections="${SECTIONS:-perftest modes}"
case " $sections " in
*" perftest "*) ;;
*) runs_perftest=0 ;;
esac
for run in $(seq 1 "${runs_perftest:-$runs}"); do
	for size in $sizes; do
		n=$(iters_for lat "$size")
		perftest_once ib_send_lat "$size" "$n" "$run"
		record perftest send_lat "$size" "$n" "$run" "$result"
		smbd_once send_lat "$size" "$n" "$run"
		record smbdirect-perf send_lat "$size" "$n" "$run" "$result"
		# perftest sleeping on CQ events, as libsmbdirect's tevent
		# loop does: an informative second reference.
		perftest_once ib_send_lat "$size" "$n" "$run" -e
		record perftest send_lat_events "$size" "$n" "$run" "$result"
		n=$(iters_for bw "$size")
		perftest_once ib_write_bw "$size" "$n" "$run"
		record perftest write_bw "$size" "$n" "$run" "$result"
		smbd_once write_bw "$size" "$n" "$run"
		record smbdirect-perf write_bw "$size" "$n" "$run" "$result"
		perftest_once ib_write_bw "$size" "$n" "$run" -e
		record perftest write_bw_events "$size" "$n" "$run" "$result"
		perftest_once ib_read_bw "$size" "$n" "$run"
		record perftest read_bw "$size" "$n" "$run" "$result"
		smbd_once read_bw "$size" "$n" "$run"
		record smbdirect-perf read_bw "$size" "$n" "$run" "$result"
		perftest_once ib_read_bw "$size" "$n" "$run" -e
		record perftest read_bw_events "$size" "$n" "$run" "$result"
	done
done

# The thread modes (docs/architecture.md, "The RDMA thread"): the same
# tests in caller-thread and rdma-thread mode (both sides), interleaved:
# latency and message rate of 64-byte messages and of 1340-byte ones (one
# full 1364-byte SMB-Direct message each), RDMA bandwidth at 1 MiB.
raw_modes="$out/raw-modes.csv"
echo "tool,test,bytes,iterations,run,value,attempts" >"$raw_modes"
mode_cases="send_lat:64 send_lat:1340 msg_rate:64 msg_rate:1340 write_bw:1048576 read_bw:1048576"
case " $sections " in
*" modes "*)
	for run in $(seq 1 "$runs"); do
		for c in $mode_cases; do
			t=${c%%:*}
			size=${c#*:}
			if [ "$t" = send_lat ]; then
				n=$(iters_for lat "$size")
			else
				n=$(iters_for bw "$size")
			fi
			for mode in caller rdma; do
				smbd_once "$t" "$size" "$n" "$run" "$mode"
				raw="$raw_modes" record "$mode" "$t" "$size" "$n" "$run" "$result"
			done
		done
	done
	;;
esac
elapsed=$(($(date +%s) - start))

# The report: medians per tool, test and size, and their ratio.
{
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); guest kernel $(uname -r), $(nproc) vCPUs, device rxe0 on dummy0 ($addr, loopback)"
	echo "- Tools: perftest $(dpkg-query -W -f '${Version}' perftest 2>/dev/null || echo '?') (\`-R -F\`), $("$perf" --version 2>/dev/null)"
	echo "- Medians of $runs runs per cell, tools interleaved; tx depth $depth for the bandwidth tests (\`-t\` of both tools); latency is t_typical (the median one-way latency, round trip / 2), bandwidth is BW average in MB/s (MB = 2^20 bytes)"
	echo "- Perf script run time: ${elapsed} s"
	echo
	awk -F, '
	NR == 1 { next }
	{
		key = $2 "," $3
		if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
		iters[key] = $4
		if ($6 != "") { n = ++cnt[$1, key]; val[$1, key, n] = $6 + 0 }
		runs[$1, key] = runs[$1, key] (runs[$1, key] == "" ? "" : " ") ($6 == "" ? "fail" : $6)
	}
	function median(tool, key,    n, i, j, a, v) {
		n = cnt[tool, key]
		if (n == 0) return ""
		for (i = 1; i <= n; i++) a[i] = val[tool, key, i]
		for (i = 2; i <= n; i++) {
			v = a[i]
			for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
			a[j + 1] = v
		}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	END {
		print "| measurement | #bytes | #iterations | perftest | smbdirect-perf | ratio (smbdirect-perf / perftest) | goal | met |"
		print "|---|---:|---:|---:|---:|---:|---|---|"
		for (k = 1; k <= nk; k++) {
			key = order[k]
			split(key, part, ",")
			t = part[1]
			skey = key
			base = t
			events = sub(/_events$/, "", base)
			if (events) skey = base "," part[2]
			if (base == "send_lat") {
				what = "send/recv latency, t_typical [usec]"
				prog = "ib_send_lat"
				goal = "<= 1.20"
			} else if (base == "write_bw") {
				what = "RDMA write BW average [MB/s]"
				prog = "ib_write_bw"
				goal = ">= 0.95"
			} else {
				what = "RDMA read BW average [MB/s]"
				prog = "ib_read_bw"
				goal = ">= 0.95"
			}
			if (events) {
				what = what " (`" prog " -e` / `" base "`), informative"
				goal = "-"
			} else {
				what = what " (`" prog "` / `" base "`)"
			}
			p = median("perftest", key)
			s = median("smbdirect-perf", skey)
			if (p == "" || s == "" || p == 0) {
				ratio = "n/a"; met = "n/a"
			} else {
				r = s / p
				ratio = sprintf("%.2f", r)
				if (events) met = "-"
				else if (t == "send_lat") met = (r <= 1.2) ? "yes" : "no"
				else met = (r >= 0.95) ? "yes" : "no"
			}
			printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", what,
			       part[2], iters[key], p == "" ? "fail" : sprintf("%.2f", p),
			       s == "" ? "fail" : sprintf("%.2f", s), ratio, goal, met)
		}
		print ""
		print "Every run (in order):"
		print ""
		print "| test | #bytes | perftest runs | smbdirect-perf runs |"
		print "|---|---:|---|---|"
		for (k = 1; k <= nk; k++) {
			key = order[k]
			split(key, part, ",")
			name = part[1]
			events = sub(/_events$/, "", name)
			if (events) name = name " (perftest with -e)"
			printf("| %s | %s | %s | %s |\n", name, part[2],
			       runs["perftest", key],
			       events ? "(as above)" : runs["smbdirect-perf", key])
		}
	}' "$raw"
	if [ "$(wc -l <"$raw_modes")" -gt 1 ]; then
		echo
		echo "Thread modes (smbdirect-perf on both sides in the same mode; medians of $runs runs, modes interleaved):"
		echo
		awk -F, '
		NR == 1 { next }
		{
			key = $2 "," $3
			if (!(key in seen)) { seen[key] = 1; order[++nk] = key }
			iters[key] = $4
			if ($6 != "") { n = ++cnt[$1, key]; val[$1, key, n] = $6 + 0 }
			runs[$1, key] = runs[$1, key] (runs[$1, key] == "" ? "" : " ") ($6 == "" ? "fail" : $6)
		}
		function median(tool, key,    n, i, j, a, v) {
			n = cnt[tool, key]
			if (n == 0) return ""
			for (i = 1; i <= n; i++) a[i] = val[tool, key, i]
			for (i = 2; i <= n; i++) {
				v = a[i]
				for (j = i - 1; j >= 1 && a[j] > v; j--) a[j + 1] = a[j]
				a[j + 1] = v
			}
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			print "| measurement | #bytes | #iterations | caller-thread | rdma-thread | ratio (rdma-thread / caller-thread) | runs caller | runs rdma |"
			print "|---|---:|---:|---:|---:|---:|---|---|"
			for (k = 1; k <= nk; k++) {
				key = order[k]
				split(key, part, ",")
				t = part[1]
				what = t == "send_lat" ? "send/recv latency, t_typical [usec]" : t == "msg_rate" ? "message rate [Mpps]" : t == "write_bw" ? "RDMA write BW average [MB/s]" : "RDMA read BW average [MB/s]"
				a = median("caller", key)
				b = median("rdma", key)
				ratio = (a == "" || b == "" || a == 0) ? "n/a" : sprintf("%.2f", b / a)
				printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", what, part[2], iters[key],
				       a == "" ? "fail" : sprintf("%.4g", a), b == "" ? "fail" : sprintf("%.4g", b),
				       ratio, runs["caller", key], runs["rdma", key])
			}
		}' "$raw_modes"
	fi
} >"$out/report.md"

echo
echo "===== vm-perf report ====="
cat "$out/report.md"
echo "===== end of vm-perf report ====="
log "done in ${elapsed} s; raw figures in $raw, logs in $out/logs"
[ "$failures" -eq 0 ]
