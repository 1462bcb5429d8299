#!/bin/bash
# Baseline throughput of the Linux kernel's SMB-Direct peers, in ONE boot of
# the soft-RoCE guest: cifs.ko -> ksmbd.ko over SMB Direct 3.0 and 3.1.1
# and over TCP (sequential 1 MiB O_DIRECT dd write and read of a SIZE_MB
# file), with perftest's ib_read_bw / ib_write_bw (-R -s 1M) on rxe0 as the
# raw-verbs reference. Every row is measured RUNS times, rows interleaved
# within each run; the report gives medians and ratios to raw verbs (SMB
# writes against ib_read_bw, since the server RDMA-reads the client's data;
# SMB reads against ib_write_bw). Markdown to stdout and OUT/report.md.
#
# Runs INSIDE the guest; from the host use test/bench/run-kpeers-perf.sh.
# Usage (in the guest): bash kpeers-perf.sh KPEERS_DIR
# Environment:
#   RUNS      repetitions of every row (default 3)
#   SIZE_MB   file size and perftest volume in MiB (default 64)
#   TCP_VERS  dialect of the TCP row (default 3.0)
#   ROWS      row ids to measure (default: all, in registration order)
#   REF_ROW   the row the ratios refer to (default raw_verbs)
#   OUT       results directory (default $SDVM_OUT/kpeers-perf)
#   BRIDGE    smbdirect-bridge for the bridge rows (run-kpeers-perf.sh
#             stages it)
#   SAMBA_PREFIX  Samba patched for "smb direct = yes" for the samba rows
#             (buildtools/samba/build.sh's prefix)
#   PROFILE   non-empty: after the runs, perf record -a during a ksmbd, a
#             bridge and a Samba transfer, then (unless PROFILE=perf) the
#             bridge under callgrind (see perf_compare, profile_bridge);
#             PROFILE_MB MiB (default 16)
# Exit status: 0 if every row produced every figure, 1 otherwise.
#
# Adding a row (e.g. our bridge or our server): write ROW_setup (once per
# boot; 0 = ready) and ROW_measure RUN (prints "WRITE READ" in MiB/s, "-"
# for a figure it does not have), then
# add_row ROW "label" below. kpeers.sh's helpers (kp_mount, kp_dd_write,
# kp_dd_read, ...) and the source file $src are there to use.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
KPEERS_DIR="${1:?usage: kpeers-perf.sh KPEERS_DIR}"
if [ -f "$here/kpeers.sh" ]; then
	lib="$here/kpeers.sh"
else
	lib="$here/../interop/kpeers.sh"
fi
# shellcheck source=test/interop/kpeers.sh
. "$lib"
runs="${RUNS:-3}"
size_mb="${SIZE_MB:-64}"
tcp_vers="${TCP_VERS:-3.0}"
out="${OUT:-${SDVM_OUT:-$(mktemp -d)}/kpeers-perf}"
mkdir -p "$out/logs"
KP_STATE="$out/ksmbd"
src=/tmp/kpeers-bench.bin
raw="$out/raw.csv"
echo "row,run,write_mib_s,read_mib_s,load1,rxe_retries" >"$raw"
failures=0

log() { echo "kpeers-perf: $*" >&2; }

row_ids=()
declare -A row_label
# add_row ID LABEL: register a row measured by ID_setup and ID_measure.
add_row() {
	row_ids+=("$1")
	row_label[$1]=$2
}

# --- cifs -> ksmbd rows -----------------------------------------------------
# smb_setup TRANSPORT VERS MOUNTPOINT / smb_measure MOUNTPOINT NAME: one
# mount per row for the whole boot (6.1's SMB-Direct teardown is racy);
# a run writes the source file and reads it back with 1 MiB O_DIRECT I/O
# and checks the server's copy has the right size.
smb_setup() { kp_mount "$1" "$2" "$3"; }
smb_measure() {
	local mp=$1 name=$2 w r sz
	w="$(kp_dd_write "$src" "$mp/$name")" || return 1
	r="$(kp_dd_read "$mp/$name")" || return 1
	sz="$(stat -c %s "$KP_SHARE_DIR/$name" 2>/dev/null)"
	[ "$sz" = $((size_mb * 1048576)) ] ||
		{ kp_say "the server's $name has ${sz:-no} bytes, not $((size_mb * 1048576))"; return 1; }
	echo "$w $r"
}
cifs_rdma_30_setup() { smb_setup rdma 3.0 /mnt/bench-rdma-3.0; }
cifs_rdma_30_measure() { smb_measure /mnt/bench-rdma-3.0 bench-rdma-3.0; }
cifs_rdma_311_setup() { smb_setup rdma 3.1.1 /mnt/bench-rdma-3.1.1; }
cifs_rdma_311_measure() { smb_measure /mnt/bench-rdma-3.1.1 bench-rdma-3.1.1; }
cifs_tcp_setup() { smb_setup tcp "$tcp_vers" "/mnt/bench-tcp-$tcp_vers"; }
cifs_tcp_measure() { smb_measure "/mnt/bench-tcp-$tcp_vers" "bench-tcp-$tcp_vers"; }

# --- cifs -> smbdirect-bridge --reverse -> stock smbd, and cifs -> smbd/TCP ---------
# The bridge (from $BRIDGE, staged by run-kpeers-perf.sh) listens on
# rdma_cm 5445, where cifs looks first; it starts only after the ksmbd
# rows have their mounts (setups run in row order), which then stay on
# ksmbd. smbd (samba-guest.sh) listens on 127.0.0.1:4450 only.
# CPU accounting: the bridge connection process's and smbd's user and
# system time over each run (from /proc/PID/stat) go to OUT/cpu.csv.
SG_WORK=/tmp/kpp-samba
SG_OUT="$out/samba"
SG_SMBD_PORT=4450
SG_USER=bridge
SG_PASS='Br1dge-pw'
# shellcheck source=test/interop/samba-guest.sh
. "$(dirname "$lib")/samba-guest.sh"
bridge_bin="${BRIDGE:-}"
rev_log="$out/logs/reverse-bridge.log"
rev_pid=
echo "row,run,phase,pid,comm,utime_ticks,stime_ticks,mib" >"$out/cpu.csv"
samba_setup() {
	[ -n "${smbd_pid:-}" ] && return 0
	mkdir -p "$SG_OUT"
	smbd_setup
}
bridge_setup() {
	samba_setup || return 1
	[ -n "$rev_pid" ] && return 0
	[ -x "$bridge_bin" ] || { log "no smbdirect-bridge (BRIDGE='$bridge_bin')"; return 1; }
	"$bridge_bin" --reverse -l "$KP_ADDR" -p 5445 -c 127.0.0.1 -P "$SG_SMBD_PORT" -v \
		>"$rev_log" 2>&1 </dev/null &
	rev_pid=$!
	wait_line "$rev_log" 'reverse: listening' 30 "$rev_pid"
}
# cpu_ticks PID: "utime stime" of PID in clock ticks.
cpu_ticks() { awk '{ print $14, $15 }' "/proc/$1/stat" 2>/dev/null; }
# The newest reverse connection process (the one a mount just made).
newest_conn() { grep -oE 'served by process [0-9]+' "$rev_log" | tail -n 1 | awk '{print $4}'; }
# smbd's child serving the newest connection (smbd forks one per client).
smbd_child() { pgrep -P "$smbd_pid" -n -x smbd; }
declare -A row_pids
# measure_cpu ROW RUN MOUNTPOINT NAME: smb_measure with the CPU time of
# the processes in row_pids[ROW] recorded per phase.
measure_cpu() {
	local id=$1 run=$2 mp=$3 name=$4 p t0 t1 w r sz
	declare -A before
	for p in ${row_pids[$id]}; do before[$p]="$(cpu_ticks "$p")"; done
	w="$(kp_dd_write "$src" "$mp/$name")" || return 1
	for p in ${row_pids[$id]}; do
		t1="$(cpu_ticks "$p")"; t0=${before[$p]}
		# A serving process that went away during the run is the row's
		# failure, said as such (it once was a relay closed by smbd).
		[ -n "$t1" ] || { kp_say "$id: serving process $p went away during the write"; return 1; }
		echo "$id,$run,write,$p,$(cat /proc/$p/comm),$((${t1% *} - ${t0% *})),$((${t1#* } - ${t0#* })),$size_mb" >>"$out/cpu.csv"
		before[$p]="$t1"
	done
	r="$(kp_dd_read "$mp/$name")" || return 1
	for p in ${row_pids[$id]}; do
		t1="$(cpu_ticks "$p")"; t0=${before[$p]}
		[ -n "$t1" ] || { kp_say "$id: serving process $p went away during the read"; return 1; }
		echo "$id,$run,read,$p,$(cat /proc/$p/comm),$((${t1% *} - ${t0% *})),$((${t1#* } - ${t0#* })),$size_mb" >>"$out/cpu.csv"
	done
	sz="$(stat -c %s "$share/$name" 2>/dev/null)"
	[ "$sz" = $((size_mb * 1048576)) ] ||
		{ kp_say "smbd's $name has ${sz:-no} bytes, not $((size_mb * 1048576))"; return 1; }
	echo "$w $r"
}
bridge_row_setup() {
	local vers=$1 id=$2 mp=$3
	bridge_setup || return 1
	KP_USER=$SG_USER KP_PASS=$SG_PASS KP_SHARE=share kp_mount rdma "$vers" "$mp" || return 1
	row_pids[$id]="$(newest_conn) $(smbd_child)"
	log "$id: bridge connection process and smbd child: ${row_pids[$id]}"
}
bridge_rdma_30_setup() { bridge_row_setup 3.0 bridge_rdma_30 /mnt/bench-bridge-3.0; }
bridge_rdma_30_measure() { measure_cpu bridge_rdma_30 "$1" /mnt/bench-bridge-3.0 bench-bridge-3.0; }
bridge_rdma_311_setup() { bridge_row_setup 3.1.1 bridge_rdma_311 /mnt/bench-bridge-3.1.1; }
bridge_rdma_311_measure() { measure_cpu bridge_rdma_311 "$1" /mnt/bench-bridge-3.1.1 bench-bridge-3.1.1; }
smbd_tcp_setup() {
	samba_setup || return 1
	KP_ADDR=127.0.0.1 KP_USER=$SG_USER KP_PASS=$SG_PASS KP_SHARE=share \
		kp_mount tcp "$tcp_vers" "/mnt/bench-smbd-tcp" "port=$SG_SMBD_PORT" || return 1
	row_pids[smbd_tcp]="$(smbd_child)"
}
smbd_tcp_measure() { measure_cpu smbd_tcp "$1" /mnt/bench-smbd-tcp bench-smbd-tcp; }

# --- cifs -> Samba with libsmbdirect ("smb direct = yes") -----------------------
# The patched smbd ($SAMBA_PREFIX, buildtools/samba/build.sh; staged by
# run-kpeers-perf.sh) is a second smbd of its own: rdma_cm 5445 on
# 10.9.0.2 (a second address on dummy0, which rxe0 takes as a GID: the
# bridge holds 10.9.0.1:5445 and ksmbd rdma_cm 445), TCP on 127.0.0.1:4451
# only. cifs tries 5445 first, so a mount of //10.9.0.2 reaches it.
SAMBA_ADDR=10.9.0.2
samba_lib_pid=
samba_lib_share=
samba_lib_setup() {
	local i saved_pid=${smbd_pid:-} saved_share=${share:-} saved_conf=${conf:-}
	[ -n "$samba_lib_pid" ] && return 0
	[ -x "${SAMBA_PREFIX:-}/sbin/smbd" ] || { log "no patched smbd (SAMBA_PREFIX='${SAMBA_PREFIX:-}')"; return 1; }
	ip addr show dev dummy0 | grep -q " $SAMBA_ADDR/" ||
		ip addr add "$SAMBA_ADDR/32" dev dummy0 || return 1
	smbd_pid=
	SG_WORK=/tmp/kpp-samba-lib SG_OUT="$out/samba-lib" SG_SMBD_PORT=4451 \
		SG_SMBD="$SAMBA_PREFIX/sbin/smbd" SG_SMBPASSWD="$SAMBA_PREFIX/bin/smbpasswd" \
		smbd_setup "interfaces = \"$SAMBA_ADDR/32;capability=RSS\" 127.0.0.1/8" "smb direct = yes" \
		"smbdirect:ports = 5445" "log level = 1" || return 1
	samba_lib_pid=$smbd_pid
	samba_lib_share=$share
	smbd_pid=$saved_pid
	share=$saved_share
	conf=$saved_conf
	# (smbd logs its listeners at level 3; this smbd logs at 1, as the
	# stock one: the listener is looked for where rdma_cm shows it.)
	for i in $(seq 1 200); do
		rdma resource show cm_id 2>/dev/null | grep -q "LISTEN.* src-addr $SAMBA_ADDR:5445" && return 0
		sleep 0.1
	done
	log "the patched smbd does not listen on rdma_cm $SAMBA_ADDR:5445"
	return 1
}
samba_row_setup() {
	local vers=$1 id=$2 mp=$3
	mkdir -p "$out/samba-lib"
	samba_lib_setup || return 1
	KP_ADDR=$SAMBA_ADDR KP_USER=$SG_USER KP_PASS=$SG_PASS KP_SHARE=share \
		kp_mount rdma "$vers" "$mp" || return 1
	row_pids[$id]="$(pgrep -P "$samba_lib_pid" -n -x smbd)"
	log "$id: the child smbd serving it: ${row_pids[$id]}"
}
samba_measure() { share=$samba_lib_share measure_cpu "$@"; }
samba_rdma_30_setup() { samba_row_setup 3.0 samba_rdma_30 /mnt/bench-samba-3.0; }
samba_rdma_30_measure() { samba_measure samba_rdma_30 "$1" /mnt/bench-samba-3.0 bench-samba-3.0; }
samba_rdma_311_setup() { samba_row_setup 3.1.1 samba_rdma_311 /mnt/bench-samba-3.1.1; }
samba_rdma_311_measure() { samba_measure samba_rdma_311 "$1" /mnt/bench-samba-3.1.1 bench-samba-3.1.1; }
# Multichannel (issue 11): the second SMB-Direct channel is relayed by the
# child smbd that accepted it to the one owning the session (the
# interface is RSS-capable, so cifs opens it to the same address). CPU
# of both children: the owner, then the relay.
samba_mc_311_setup() {
	local mp=/mnt/bench-samba-mc i n0
	mkdir -p "$out/samba-lib"
	samba_lib_setup || return 1
	n0="$(grep -c 'Extra Channels: 1' /proc/fs/cifs/DebugData)"
	KP_ADDR=$SAMBA_ADDR KP_USER=$SG_USER KP_PASS=$SG_PASS KP_SHARE=share \
		kp_mount rdma 3.1.1 "$mp" multichannel,max_channels=2 || return 1
	for i in $(seq 1 60); do
		[ "$(grep -c 'Extra Channels: 1' /proc/fs/cifs/DebugData)" -gt "$n0" ] && break
		sleep 0.5
	done
	[ "$(grep -c 'Extra Channels: 1' /proc/fs/cifs/DebugData)" -gt "$n0" ] ||
		{ log "samba_mc_311: cifs opened no second channel"; return 1; }
	sleep 1
	row_pids[samba_mc_311]="$(pgrep -P "$samba_lib_pid" -x smbd | sort -n | tail -n 2 | tr '\n' ' ')"
	log "samba_mc_311: the owner and the relay: ${row_pids[samba_mc_311]}"
}
samba_mc_311_measure() { samba_measure samba_mc_311 "$1" /mnt/bench-samba-mc bench-samba-mc; }

# --- raw verbs: perftest --------------------------------------------------------
# perftest_bw PROG RUN [OPTIONS...]: PROG (ib_read_bw or ib_write_bw) -R
# -s 1M over $size_mb iterations on $KP_ADDR, server and client in this
# guest; prints the BW average (perftest's MB/sec, which are MiB/s). Under
# TCG perftest sometimes refuses to report ("r^2 < 0.9"): up to 5
# attempts, each on a port of its own.
perftest_port=18515
perftest_bw() {
	local prog=$1 run=$2 attempt spid srv cli v i port tag
	shift 2
	local -a args=(-R -F -s 1048576 -n "$size_mb" "$@")
	tag="$(printf '%s' "$*" | tr -d ' -')"
	for attempt in 1 2 3 4 5; do
		# (called in a subshell: the port cannot be a counter)
		port=$((perftest_port + (run * 10 + attempt) * 4))
		[ "$prog" = ib_read_bw ] || port=$((port + 1))
		[ -z "$tag" ] || port=$((port + 2))
		srv="$out/logs/$prog$tag-r$run-a$attempt.server"
		cli="$out/logs/$prog$tag-r$run-a$attempt.client"
		timeout 120 stdbuf -oL "$prog" "${args[@]}" -p "$port" >"$srv" 2>&1 &
		spid=$!
		for i in $(seq 1 300); do
			grep -q "Waiting for client" "$srv" 2>/dev/null && break
			kill -0 "$spid" 2>/dev/null || break
			sleep 0.1
		done
		[ "$i" -lt 300 ] || log "$prog: no server banner after 30 s"
		timeout 120 "$prog" "${args[@]}" -p "$port" "$KP_ADDR" >"$cli" 2>&1
		# A server whose client gave up would wait for ever: bounded by
		# its timeout, cut short here.
		for i in $(seq 1 50); do
			kill -0 "$spid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$spid" 2>/dev/null
		wait "$spid" 2>/dev/null
		v="$(awk '$1 == 1048576 && $2 ~ /^[0-9]+$/ { v = $4 }
			END { if (v ~ /^[0-9]+(\.[0-9]+)?$/ && v + 0 > 0) print v }' "$cli")"
		if [ -n "$v" ]; then
			echo "$v"
			return 0
		fi
		log "$prog attempt $attempt gave no figure: $(grep -v '^ *$' "$cli" | tail -n 1)"
	done
	return 1
}
raw_verbs_setup() { :; }
raw_verbs_measure() {
	local w r
	w="$(perftest_bw ib_read_bw "$1")" || return 1
	r="$(perftest_bw ib_write_bw "$1")" || return 1
	echo "$w $r"
}
# ib_read_bw sleeping on completion events (-e), as the kernel peers do,
# instead of busy-polling; ib_write_bw has no -e ("Events feature not
# available on WRITE verb"), so the read column stays empty ("-").
raw_verbs_ev_setup() { :; }
raw_verbs_ev_measure() {
	local w
	w="$(perftest_bw ib_read_bw "$1" -e)" || return 1
	echo "$w -"
}

# Rows in report order. REF_ROW (default raw_verbs) is the reference of
# the ratios.
add_row cifs_rdma_30 "cifs → ksmbd, SMB Direct 3.0"
add_row cifs_rdma_311 "cifs → ksmbd, SMB Direct 3.1.1"
add_row cifs_tcp "cifs → ksmbd, TCP $tcp_vers"
add_row bridge_rdma_30 "cifs → smbdirect-bridge → smbd, SMB Direct 3.0"
add_row bridge_rdma_311 "cifs → smbdirect-bridge → smbd, SMB Direct 3.1.1"
add_row smbd_tcp "cifs → smbd, TCP $tcp_vers"
add_row samba_rdma_30 "cifs → Samba + libsmbdirect, SMB Direct 3.0"
add_row samba_rdma_311 "cifs → Samba + libsmbdirect, SMB Direct 3.1.1"
add_row samba_mc_311 "cifs → Samba + libsmbdirect, SMB Direct 3.1.1, 2 channels (one relayed)"
add_row raw_verbs "raw verbs: perftest -R -s 1M (write: ib_read_bw, read: ib_write_bw)"
add_row raw_verbs_ev "raw verbs: ib_read_bw -e (CQ events), the same"
ref_row="${REF_ROW:-raw_verbs}"

if [ -n "${ROWS:-}" ]; then
	read -r -a selected <<<"$ROWS"
else
	selected=("${row_ids[@]}")
fi

# --- setup ------------------------------------------------------------------------
start=$(date +%s)
log "kernel $(uname -r); $(tr '\n' ';' <"$KPEERS_DIR/BUILDINFO")"
log "rows: ${selected[*]}; runs: $runs; $size_mb MiB each; output $out"
kp_load_modules || { log "modules: FAILED"; exit 1; }
kp_ksmbd_start || { log "ksmbd: FAILED"; exit 1; }
kp_random_file "$src" "$size_mb" || { log "cannot write $src"; exit 1; }
declare -A ready
for id in "${selected[@]}"; do
	if [ -z "${row_label[$id]+x}" ]; then
		log "unknown row $id (known: ${row_ids[*]})"
		failures=$((failures + 1))
		continue
	fi
	if "${id}_setup" >"$out/logs/$id.setup" 2>&1; then
		ready[$id]=1
	else
		log "$id: setup FAILED: $(tail -n 3 "$out/logs/$id.setup" | tr '\n' ' ')"
		failures=$((failures + 1))
	fi
done

# --- runs, rows interleaved ---------------------------------------------------------
# rxe0's count of retransmission symptoms (requests seen twice, requester
# retries): non-zero means rxe lost time to timeouts.
rxe_retries() {
	echo $(($(kp_rxe_counter duplicate_request) + $(kp_rxe_counter completer_retry_err)))
}
for run in $(seq 1 "$runs"); do
	for id in "${selected[@]}"; do
		[ -n "${ready[$id]:-}" ] || continue
		load1="$(cut -d' ' -f1 /proc/loadavg)"
		retries0=$(rxe_retries)
		if res="$("${id}_measure" "$run" 2>>"$out/logs/$id.measure")" && [ -n "$res" ]; then
			retries=$(($(rxe_retries) - retries0))
			echo "$id,$run,${res% *},${res#* },$load1,$retries" >>"$raw"
			log "run $run $id: write ${res% *} read ${res#* } MiB/s (guest load $load1, rxe retransmits $retries)"
		else
			echo "$id,$run,,,$load1," >>"$raw"
			log "run $run $id: FAILED: $(tail -n 2 "$out/logs/$id.measure" | tr '\n' ' ')"
			failures=$((failures + 1))
		fi
	done
done

# --- where the bridge's time goes (PROFILE=1) ------------------------------------------
# After the runs: the reverse listener is SIGKILLed (its connection
# processes live on), and a bridge with --once (the relay in the process
# itself) runs under valgrind --tool=callgrind on 5445. A new 3.1.1 mount
# writes and reads PROFILE_MB MiB (1 MiB O_DIRECT) through it; SIGTERM
# ends it. OUT/callgrind.txt is callgrind_annotate's output and
# OUT/profile.md the instructions per MiB moved by part: copying
# (memcpy/memmove), the library (lib/*.c), the bridge's relay
# (tools/bridge, with tools/common), verbs (libibverbs, librdmacm, the rxe
# provider), talloc/tevent, the rest of libc, the rest.
profile_bridge() {
	local mb="${PROFILE_MB:-16}" cglog="$out/logs/callgrind-bridge.log" cg="$out/callgrind.out" pid mp=/mnt/bench-profile w r
	[ -n "$rev_pid" ] || { log "profile: no bridge rows ran"; return 1; }
	kill -KILL "$rev_pid" 2>/dev/null
	wait "$rev_pid" 2>/dev/null
	valgrind --tool=callgrind --callgrind-out-file="$cg" "$bridge_bin" --reverse --once \
		-l "$KP_ADDR" -p 5445 -c 127.0.0.1 -P "$SG_SMBD_PORT" >"$cglog" 2>&1 </dev/null &
	pid=$!
	wait_line "$cglog" 'reverse: listening' 120 "$pid" || return 1
	KP_USER=$SG_USER KP_PASS=$SG_PASS KP_SHARE=share kp_mount rdma 3.1.1 "$mp" || return 1
	head -c $((mb * 1048576)) "$src" >/tmp/kpp-profile.bin
	w="$(kp_dd_write /tmp/kpp-profile.bin "$mp/profile")" || return 1
	r="$(kp_dd_read "$mp/profile")" || return 1
	kill -TERM "$pid"
	wait_bounded "$pid" 180 || return 1
	callgrind_annotate --inclusive=no --threshold=100 "$cg" >"$out/callgrind.txt" 2>&1 || return 1
	awk -v mib=$((2 * mb)) -v w="$w" -v r="$r" '
		/^ *[0-9,]+ +(\([ 0-9.]+%\) +)?[^ ]+:[^ ]+ \[/ {
			n = $1; gsub(",", "", n); line = $0
			if (line ~ /memcpy|memmove/) part = "copying (memcpy/memmove)"
			else if (line ~ /\/lib\/[a-z_]+\.c:/ && line ~ /smbdirect-bridge\]/) part = "libsmbdirect (lib/*.c)"
			else if (line ~ /tools\/(bridge\/|common\/|smbdirect-bridge)/) part = "the relay (tools/bridge)"
			else if (line ~ /libibverbs|librdmacm|librxe|rdmav/) part = "verbs (libibverbs, librdmacm, rxe provider)"
			else if (line ~ /libtalloc|libtevent/) part = "talloc, tevent"
			else if (line ~ /libc[.-]/) part = "libc (other)"
			else part = "other (ld.so, valgrind glue, ...)"
			sum[part] += n; total += n
		}
		END {
			printf "%d MiB written and %d MiB read through the bridge under callgrind (%s / %s MiB/s there)\n\n", mib / 2, mib / 2, w, r
			print "| part | instructions | per MiB moved | share |"
			print "|---|---:|---:|---:|"
			for (p in sum) printf "| %s | %d | %d | %.1f%% |\n", p, sum[p], sum[p] / mib, 100 * sum[p] / total
			printf "| all (user space) | %d | %d | 100%% |\n", total, total / mib
		}' "$out/callgrind.txt" >"$out/profile.md"
	log "profile: $(tail -n 1 "$out/profile.md")"
}
# perf_compare: where the whole guest's CPU time goes during one write and
# read of PERF_MB (default 32) MiB through the ksmbd 3.1.1 mount and through the
# bridge 3.1.1 mount (perf record -a, cpu-clock: TCG has no PMU), by
# command and by kernel/user symbol. OUT/perf-ROW.txt; the summary (top
# commands, top symbols) goes into OUT/perf.md.
perf_compare() {
	local mb="${PERF_MB:-32}" id mp ppid
	command -v perf >/dev/null || { log "perf: not installed"; return 1; }
	head -c $((mb * 1048576)) "$src" >/tmp/kpp-perf.bin
	: >"$out/perf.md"
	for id in cifs_rdma_311 bridge_rdma_311 samba_rdma_311; do
		case $id in
		cifs_rdma_311) mp=/mnt/bench-rdma-3.1.1 ;;
		bridge_rdma_311) mp=/mnt/bench-bridge-3.1.1 ;;
		samba_rdma_311) mp=/mnt/bench-samba-3.1.1 ;;
		esac
		[ -d "$mp" ] || continue
		perf record -a -g -e cpu-clock -F 499 -o "$out/perf-$id.data" \
			>"$out/logs/perf-$id.log" 2>&1 &
		ppid=$!
		# perf takes seconds to start in the guest (its files come over
		# 9p): a transfer begun at once can be over before it records.
		sleep 8
		kp_dd_write /tmp/kpp-perf.bin "$mp/perf" >/dev/null &&
			kp_dd_read "$mp/perf" >/dev/null
		kill -INT "$ppid"
		wait_bounded "$ppid" 60 >/dev/null
		perf report -i "$out/perf-$id.data" --stdio --no-children --sort comm \
			--percent-limit 2 2>/dev/null | grep -E '^ +[0-9.]+%' >"$out/perf-$id.comm.txt"
		perf report -i "$out/perf-$id.data" --stdio --no-children --sort dso,sym \
			--percent-limit 1.5 -g none 2>/dev/null | grep -E '^ +[0-9.]+%' >"$out/perf-$id.sym.txt"
		perf report -i "$out/perf-$id.data" --stdio --children --sort sym \
			--percent-limit 4 -g none 2>/dev/null | grep -E '^ +[0-9.]+%' >"$out/perf-$id.incl.txt"
		{
			echo "$id: $mb MiB written and read back, perf record -a (cpu-clock), by command:"
			echo
			sed 's/^/    /' "$out/perf-$id.comm.txt"
			echo
			echo "by symbol (over 1.5%):"
			echo
			sed 's/^/    /' "$out/perf-$id.sym.txt"
			echo
			echo "by symbol with its callees (children, inclusive; over 4%):"
			echo
			sed 's/^/    /' "$out/perf-$id.incl.txt"
			echo
		} >>"$out/perf.md"
	done
}
if [ -n "${PROFILE:-}" ]; then
	perf_compare || { log "perf: FAILED"; failures=$((failures + 1)); }
	# PROFILE=perf: perf only (the bridge's callgrind run takes minutes)
	[ "$PROFILE" = perf ] ||
		profile_bridge || { log "profile: FAILED"; failures=$((failures + 1)); }
fi

# --- report -------------------------------------------------------------------------
# median ID COLUMN (3 = write, 4 = read) of the runs in raw.csv
median() {
	awk -F, -v id="$1" -v c="$2" '$1 == id && $c ~ /^[0-9.]+$/ { print $c }' "$raw" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
runs_of() { awk -F, -v id="$1" -v c="$2" '$1 == id { printf "%s%s", sep, ($c == "" ? "-" : $c); sep = " " }' "$raw"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'; }
rw="$(median "$ref_row" 3)"
rr="$(median "$ref_row" 4)"
sum_of() { awk -F, -v id="$1" '$1 == id { s += $6 } END { print s + 0 }' "$raw"; }
{
	echo "| path | write MiB/s | read MiB/s | write / raw | read / raw | runs (write; read) | rxe retransmits |"
	echo "|---|---:|---:|---:|---:|---|---:|"
	for id in "${selected[@]}"; do
		[ -n "${row_label[$id]+x}" ] || continue
		w="$(median "$id" 3)"
		r="$(median "$id" 4)"
		echo "| ${row_label[$id]} | $w | $r | $(ratio "$w" "$rw") | $(ratio "$r" "$rr") | $(runs_of "$id" 3); $(runs_of "$id" 4) | $(sum_of "$id") |"
	done
	echo
	echo "CPU time of the serving processes (median of the runs, ms per MiB moved; user + system; clock ticks of 10 ms):"
	echo
	echo "| row | process | write: user | write: system | read: user | read: system |"
	echo "|---|---|---:|---:|---:|---:|"
	awk -F, 'NR > 1 { k = $1 "," $5; key[k] = 1; v[k "," $3 ",u"] = v[k "," $3 ",u"] " " ($6 * 10 / $8); v[k "," $3 ",s"] = v[k "," $3 ",s"] " " ($7 * 10 / $8) }
		function med(str,   a, n, i, j, t) { n = split(str, a, " "); if (n == 0) return "n/a"
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
			return sprintf("%.2f", n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2) }
		END { for (k in key) { split(k, p, ","); printf "| %s | %s | %s | %s | %s | %s |\n", p[1], p[2],
			med(v[k ",write,u"]), med(v[k ",write,s"]), med(v[k ",read,u"]), med(v[k ",read,s"]) } }' "$out/cpu.csv" | sort
	echo
	if [ -f "$out/profile.md" ]; then
		cat "$out/profile.md"
		echo
	fi
	if [ -s "$out/perf.md" ]; then
		cat "$out/perf.md"
	fi
	echo "Medians of $runs runs in one boot (rows interleaved), $size_mb MiB per run, dd bs=1M oflag=direct / iflag=direct through the cifs mount; rxe0 on dummy0 (loopback, 10.9.0.1); guest kernel $(uname -r) under qemu TCG; $(($(date +%s) - start)) s of measuring. Ratios against the row \"${row_label[$ref_row]:-$ref_row}\": SMB writes against ib_read_bw (ksmbd RDMA-reads the client's buffers), SMB reads against ib_write_bw. rxe retransmits: duplicate_request + completer_retry_err on rxe0 over all runs of the row."
} | tee "$out/report.md"
log "$failures failure(s)"
[ $failures -eq 0 ]
