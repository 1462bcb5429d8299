#!/bin/bash
# perftest and smbdirect-perf side by side, in ONE boot of the soft-RoCE
# guest, on rxe0 (10.9.0.1, loopback), like for like:
#  - ib_send_lat against smbdirect-perf send_lat, busy polling (perftest's
#    default; smbdirect-perf --busy-poll) and sleeping on completion events
#    (-e; smbdirect-perf's default), with --wire-size so that a message is
#    one work request; and with the default 1364-byte SMB-Direct messages
#    as an informative row;
#  - ib_write_bw / ib_read_bw against write_bw / read_bw, busy and events;
#  - (section "modes") smbdirect-perf in caller-thread against rdma-thread
#    mode: latency and message rate at 64 and 1340 bytes, RDMA at 1 MiB.
# Every measurement is repeated RUNS times, the tools interleaved, and the
# median is used. The report (markdown) goes to stdout and to
# OUT/report.md.
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

# wait_line (a server's "Waiting for client" banner: both tools print it).
# shellcheck source=test/common/guest-wait.sh
. "$(dirname "$0")/../common/guest-wait.sh"

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
		if ! wait_line "$srv" "Waiting for client" 30 "$spid"; then
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

# One smbdirect-perf measurement, same parameters and result. Further
# arguments go to both sides (a thread mode, --busy-poll, --wire-size);
# VARIANT (a name for the logs) says which.
smbd_once() {
	local test="$1" size="$2" n="$3" run="$4"
	local attempt srv cli spid value t0 tag
	shift 4
	local -a extra=("$@")
	local -a args=(--csv -s "$size" -n "$n" --test "$test")
	result=
	tag="${VARIANT:-default}"
	if [ "$test" = send_lat ]; then
		args+=(--warmup 4)
	else
		args+=(-t "$depth")
	fi
	for attempt in 1 2 3; do
		port_smbd=$((port_smbd + 1))
		srv="$out/logs/smbdirect-perf-$tag-$test-$size-r$run-a$attempt.server"
		cli="$out/logs/smbdirect-perf-$tag-$test-$size-r$run-a$attempt.client"
		"$perf" -p "$port_smbd" "${extra[@]}" >"$srv" 2>&1 &
		spid=$!
		if ! wait_line "$srv" "Waiting for client" 30 "$spid"; then
			stop_server "$spid"
			continue
		fi
		t0=$(date +%s.%N)
		timeout 300 "$perf" "${args[@]}" "${extra[@]}" -p "$port_smbd" \
			"$addr" >"$cli" 2>"$cli.err"
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
# Like for like: perftest busy-polls its CQ by default, and sleeps on
# completion events with -e, as libsmbdirect's tevent loop does unless
# --busy-poll. Message tests use --wire-size SIZE+24 (at most 64 KiB+24),
# so that a message is one work request as in ib_send_lat; the "1364"
# variant keeps the Linux peers' 1364-byte messages (fragmentation).
wire_for() {
	local w=$(($1 + 24))
	[ "$w" -le 65560 ] || w=65560
	[ "$w" -ge 128 ] || w=128
	echo "$w"
}
for run in $(seq 1 "${runs_perftest:-$runs}"); do
	for size in $sizes; do
		n=$(iters_for lat "$size")
		w=$(wire_for "$size")
		perftest_once ib_send_lat "$size" "$n" "$run"
		record perftest:busy send_lat "$size" "$n" "$run" "$result"
		VARIANT=busy smbd_once send_lat "$size" "$n" "$run" --busy-poll --wire-size "$w"
		record smbdirect-perf:busy send_lat "$size" "$n" "$run" "$result"
		perftest_once ib_send_lat "$size" "$n" "$run" -e
		record perftest:events send_lat "$size" "$n" "$run" "$result"
		VARIANT=events smbd_once send_lat "$size" "$n" "$run" --wire-size "$w"
		record smbdirect-perf:events send_lat "$size" "$n" "$run" "$result"
		VARIANT=1364 smbd_once send_lat "$size" "$n" "$run"
		record smbdirect-perf:1364 send_lat "$size" "$n" "$run" "$result"
		n=$(iters_for bw "$size")
		for t in write_bw read_bw; do
			perftest_once "ib_$t" "$size" "$n" "$run"
			record perftest:busy "$t" "$size" "$n" "$run" "$result"
			VARIANT=busy smbd_once "$t" "$size" "$n" "$run" --busy-poll
			record smbdirect-perf:busy "$t" "$size" "$n" "$run" "$result"
			# ib_write_bw has no -e: its event row compares
			# against the busy-polling figure.
			if [ "$t" = read_bw ]; then
				perftest_once "ib_$t" "$size" "$n" "$run" -e
				record perftest:events "$t" "$size" "$n" "$run" "$result"
			fi
			VARIANT=events smbd_once "$t" "$size" "$n" "$run"
			record smbdirect-perf:events "$t" "$size" "$n" "$run" "$result"
		done
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
				VARIANT="$mode" smbd_once "$t" "$size" "$n" "$run" --thread-mode "$mode"
				raw="$raw_modes" record "$mode" "$t" "$size" "$n" "$run" "$result"
			done
		done
	done
	;;
esac
elapsed=$(($(date +%s) - start))

# The report: medians per tool, test and size, and their ratio. Both
# tables read the CSV the same way (record(): tool, test, size,
# iterations, run, result): one row per cell, its runs, their median.
collect='
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
'
{
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); guest kernel $(uname -r), $(nproc) vCPUs, device rxe0 on dummy0 ($addr, loopback)"
	echo "- Tools: perftest $(dpkg-query -W -f '${Version}' perftest 2>/dev/null || echo '?') (\`-R -F\`), $("$perf" --version 2>/dev/null)"
	echo "- Medians of $runs runs per cell, tools interleaved; tx depth $depth for the bandwidth tests (\`-t\` of both tools); latency is t_typical (the median one-way latency, round trip / 2), bandwidth is BW average in MB/s (MB = 2^20 bytes). Busy rows: both tools poll without sleeping (perftest's default, smbdirect-perf \`--busy-poll\`); event rows: both sleep until a completion event (\`-e\`, smbdirect-perf's default)."
	echo "- Perf script run time: ${elapsed} s"
	echo
	awk -F, "$collect"'
	function row(key, what, ref, mine, goal,    p, s, r, ratio, met, part) {
		split(key, part, ",")
		p = median(ref, key)
		s = median(mine, key)
		if (p == "" && s == "") return
		if (p == "" || s == "" || p == 0) {
			ratio = "n/a"; met = "n/a"
		} else {
			r = s / p
			ratio = sprintf("%.2f", r)
			if (goal == "-") met = "-"
			else if (part[1] == "send_lat") met = (r <= 1.2) ? "yes" : "no"
			else met = (r >= 0.95) ? "yes" : "no"
		}
		printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", what,
		       part[2], iters[key], p == "" ? "fail" : sprintf("%.2f", p),
		       s == "" ? "fail" : sprintf("%.2f", s), ratio, goal, met)
		list[++nl] = key "|" ref "|" mine
	}
	END {
		print "| measurement | #bytes | #iterations | perftest | smbdirect-perf | ratio (smbdirect-perf / perftest) | goal | met |"
		print "|---|---:|---:|---:|---:|---:|---|---|"
		for (k = 1; k <= nk; k++) {
			key = order[k]
			split(key, part, ",")
			t = part[1]
			if (t == "send_lat") {
				row(key, "send/recv latency [usec], busy polling (`ib_send_lat` / `send_lat --busy-poll --wire-size`)", "perftest:busy", "smbdirect-perf:busy", "<= 1.20")
				row(key, "send/recv latency [usec], sleeping on events (`ib_send_lat -e` / `send_lat --wire-size`)", "perftest:events", "smbdirect-perf:events", "<= 1.20")
				row(key, "send/recv latency [usec], 1364-byte SMB-Direct messages (`ib_send_lat -e` / `send_lat`), informative", "perftest:events", "smbdirect-perf:1364", "-")
			} else {
				w = t == "write_bw" ? "RDMA write" : "RDMA read"
				row(key, w " BW average [MB/s], busy polling (`ib_" t "` / `" t " --busy-poll`)", "perftest:busy", "smbdirect-perf:busy", ">= 0.95")
				if (t == "write_bw")
					row(key, w " BW average [MB/s], smbdirect-perf sleeping on events (`ib_write_bw`, busy: it has no -e / `write_bw`)", "perftest:busy", "smbdirect-perf:events", ">= 0.95")
				else
					row(key, w " BW average [MB/s], sleeping on events (`ib_" t " -e` / `" t "`)", "perftest:events", "smbdirect-perf:events", ">= 0.95")
			}
		}
		print ""
		print "Every run (in order):"
		print ""
		print "| test | #bytes | reference | runs | smbdirect-perf | runs |"
		print "|---|---:|---|---|---|---|"
		for (k = 1; k <= nl; k++) {
			split(list[k], f, "|")
			split(f[1], part, ",")
			printf("| %s | %s | %s | %s | %s | %s |\n", part[1], part[2], f[2], runs[f[2], f[1]], f[3], runs[f[3], f[1]])
		}
	}' "$raw"
	if [ "$(wc -l <"$raw_modes")" -gt 1 ]; then
		echo
		echo "Thread modes (smbdirect-perf on both sides in the same mode; medians of $runs runs, modes interleaved):"
		echo
		awk -F, "$collect"'
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
