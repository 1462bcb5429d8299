#!/bin/bash
# The bridge tier: smbdirect-bridge end to end with stock Samba. Runs
# INSIDE the soft-RoCE test guest (rxe0 on dummy0 at 10.9.0.1), all in one
# boot; test/interop/run-bridge-tier.sh starts it from the host.
#
# Usage (in the guest): bash bridge-tests.sh STAGE [TEST...]
#   STAGE  a directory holding smbdirect-bridge (outside /tmp: the guest's
#          /tmp is its own)
#   TEST   run only these (names as printed); default: all
#
# The chain under test:
#   smbclient/smbtorture --TCP--> forward bridge (127.0.0.1:4455)
#     --SMB-Direct over rxe0--> reverse bridge (10.9.0.1:5445)
#     --TCP--> stock smbd (127.0.0.1:4450)
# smbd runs with a private smb.conf and private directories on the
# guest's tmpfs, a user "bridge" with a password, signing not required.
#
# Prints "PASS name (seconds)" or "FAIL name (seconds)" per test, a failing
# test's log tails prefixed with "  | ", and a last line
# "bridge: N passed, M failed". Every wait is bounded.
set -u

stage="${1:?usage: bridge-tests.sh STAGE [TEST...]}"
shift
bridge="$stage/smbdirect-bridge"
here="$(cd "$(dirname "$0")" && pwd)"
addr=10.9.0.1
out="${SDVM_OUT:-$(mktemp -d)}/bridge-tests"
work=/tmp/bridge            # the guest's own tmpfs
smbd_port=4450
fwd_port=4455
rev_port=5445
user=bridge
pass='Br1dge-pw'
mkdir -p "$out" "$work"
passed=0
failed=0
bg=()

ms() { echo $(($(date +%s%N) / 1000000)); }
note() { echo "$*" >>"$log.notes"; }

wait_bounded() {
	local pid=$1 limit=$(($2 * 1000)) start
	start=$(ms)
	while kill -0 "$pid" 2>/dev/null; do
		if [ $(($(ms) - start)) -ge $limit ]; then
			note "pid $pid still running after $2 s: killed"
			kill -9 "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.05
	done
	wait "$pid"
}

# wait_line FILE PATTERN SECONDS [PID]
wait_line() {
	local file=$1 pattern=$2 limit=$(($3 * 1000)) pid=${4:-} start
	start=$(ms)
	until grep -qE "$pattern" "$file" 2>/dev/null; do
		if [ $(($(ms) - start)) -ge $limit ] ||
			{ [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; }; then
			note "no '$pattern' in $(basename "$file") after $3 s"
			return 1
		fi
		sleep 0.05
	done
}

# --- smbd ---------------------------------------------------------------------

smbd_setup() {
	local d=$work/smbd
	rm -rf "$d"
	mkdir -p "$d"/{private,lock,state,cache,run,share,ncalrpc}
	chmod 0777 "$d/share"
	cat >"$d/smb.conf" <<EOF
[global]
	workgroup = BRIDGETEST
	server role = standalone server
	smb ports = $smbd_port
	interfaces = lo
	bind interfaces only = yes
	disable netbios = yes
	private dir = $d/private
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	pid directory = $d/run
	ncalrpc dir = $d/ncalrpc
	log file = $out/smbd.log
	log level = 1
	max log size = 0
	passdb backend = tdbsam:$d/private/passdb.tdb
	load printers = no
	printcap name = /dev/null
	disable spoolss = yes
	server min protocol = SMB2_02
	server signing = default
	kernel oplocks = no
[share]
	path = $d/share
	read only = no
	guest ok = no
EOF
	cat >"$d/client.conf" <<EOF
[global]
	client min protocol = SMB2_02
	log level = 0
EOF
	id "$user" >/dev/null 2>&1 || useradd -M -N -s /bin/false "$user" ||
		{ echo "setup: useradd failed"; return 1; }
	printf '%s\n%s\n' "$pass" "$pass" |
		smbpasswd -c "$d/smb.conf" -s -a "$user" >"$out/smbpasswd.log" 2>&1 ||
		{ echo "setup: smbpasswd failed"; cat "$out/smbpasswd.log"; return 1; }
	# Its own session: smbd's exit must not signal this script.
	setsid smbd --foreground --no-process-group -s "$d/smb.conf" \
		>"$out/smbd.stdout" 2>&1 &
	smbd_pid=$!
	local i
	for i in $(seq 1 200); do
		if (exec 3<>/dev/tcp/127.0.0.1/$smbd_port) 2>/dev/null; then
			return 0
		fi
		kill -0 $smbd_pid 2>/dev/null || break
		sleep 0.1
	done
	echo "setup: smbd did not start"
	tail -n 20 "$out/smbd.log" "$out/smbd.stdout" 2>/dev/null
	return 1
}

conf=$work/smbd/client.conf
share=$work/smbd/share

# --- bridges ---------------------------------------------------------------------

# start_reverse [OPTIONS]: the reverse bridge in front of smbd; $rpid.
start_reverse() {
	rev_port=$((rev_port + 1))
	"${rwrap[@]}" "$bridge" --reverse -l $addr -p $rev_port \
		-c 127.0.0.1 -P $smbd_port "$@" >"$log.reverse" 2>&1 &
	rpid=$!
	bg+=("$rpid")
	wait_line "$log.reverse" 'reverse: listening' 60 "$rpid"
}

# start_forward [OPTIONS]: the forward bridge to the reverse one; $fpid.
start_forward() {
	fwd_port=$((fwd_port + 1))
	"${fwrap[@]}" "$bridge" --forward -l 127.0.0.1 -p $fwd_port \
		-c $addr -P $rev_port "$@" >"$log.forward" 2>&1 &
	fpid=$!
	bg+=("$fpid")
	wait_line "$log.forward" 'forward: listening' 60 "$fpid"
}

# chain "REVERSE OPTIONS" "FORWARD OPTIONS"
chain() {
	# shellcheck disable=SC2086
	start_reverse $1 || return 1
	# shellcheck disable=SC2086
	start_forward $2 || return 1
}

# smbc PORT LIMIT COMMANDS [SMBCLIENT OPTIONS]: smbclient against PORT.
smbc() {
	local port=$1 limit=$2 cmds=$3
	shift 3
	timeout -k 5 "$limit" smbclient -s "$conf" "//127.0.0.1/share" \
		-p "$port" -U "$user%$pass" "$@" -c "$cmds" >>"$log.client" 2>&1
	local rc=$?
	note "smbclient ($cmds) exit $rc"
	return $rc
}

# make_file NAME MIB: random data in $work/NAME.
make_file() {
	head -c $(($2 * 1024 * 1024)) /dev/urandom >"$work/$1"
}

# putget NAME PORT LIMIT [SMBCLIENT OPTIONS]: put $work/NAME, get it back,
# compare sha256 of the original, the server's copy and the one read back.
putget() {
	local name=$1 port=$2 limit=$3 a b c
	shift 3
	rm -f "$share/$name" "$work/$name.back"
	smbc "$port" "$limit" "put $work/$name $name; get $name $work/$name.back" "$@" ||
		return 1
	a=$(sha256sum <"$work/$name" | cut -d' ' -f1)
	b=$(sha256sum <"$share/$name" 2>/dev/null | cut -d' ' -f1)
	c=$(sha256sum <"$work/$name.back" 2>/dev/null | cut -d' ' -f1)
	note "sha256 sent $a, on the server $b, read back $c"
	[ "$a" = "$b" ] || { note "the server's copy differs"; return 1; }
	[ "$a" = "$c" ] || { note "the copy read back differs"; return 1; }
}

# counter LOGFILE NAME: the largest value of counter NAME in the log.
counter() {
	grep -oE " $2=[0-9]+" "$1" | cut -d= -f2 | sort -n | tail -n 1
}

# End the bridges of this test (their connection processes end with them:
# SIGTERM to the parent ends each child with a logged reason).
stop_bridges() {
	local p
	for p in ${fpid:-} ${rpid:-}; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in ${fpid:-} ${rpid:-}; do
		wait_bounded "$p" 10 >/dev/null
	done
	sleep 0.3
}

cleanup() {
	local p
	stop_bridges
	for p in "${bg[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -9 "$p" 2>/dev/null
			wait "$p" 2>/dev/null
		fi
	done
	bg=()
	fpid=
	rpid=
}

run_test() {
	local name=$1 start rc elapsed f
	shift
	if [ ${#only[@]} -gt 0 ] && ! printf '%s\n' "${only[@]}" | grep -qx "$name"; then
		return
	fi
	log="$out/$name"
	rm -f "$log".*
	fwrap=()
	rwrap=()
	start=$(ms)
	"$@"
	rc=$?
	cleanup
	elapsed=$(($(ms) - start))
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %s (%d.%d s)\n' "$name" $((elapsed / 1000)) $((elapsed % 1000 / 100))
	else
		failed=$((failed + 1))
		printf 'FAIL %s (%d.%d s)\n' "$name" $((elapsed / 1000)) $((elapsed % 1000 / 100))
		for f in "$log".notes "$log".forward "$log".reverse "$log".client*; do
			[ -f "$f" ] || continue
			echo "  | == $(basename "$f")"
			grep -E '^==[0-9]+==' "$f" | head -n 20 | sed 's/^/  | /'
			grep -vE '^==[0-9]+==' "$f" | tail -n 12 | sed 's/^/  | /'
		done
	fi
}

# --- the tests -------------------------------------------------------------------

# The control: smbclient straight to smbd over TCP.
t_tcp_control() { putget f64 $smbd_port 120; }

# 64 MiB through the whole chain, default settings, SMB 3.1.1: the
# NEGOTIATE response stays as it is, WRITEs of up to 8 MiB go inline
# (the reverse bridge reassembles up to 16 MiB).
t_chain_64m() {
	chain "" "" || return 1
	putget f64 $fwd_port 300 || return 1
	grep -q 'dialect 0x0311: NEGOTIATE response unchanged' "$log.forward" ||
		{ note "no 3.1.1 negotiate seen"; return 1; }
}

# The RDMA channel end to end: the forward bridge turns every unsigned
# READ/WRITE of 4 KiB or more into an RDMA-channel one (RDMA_V1_INVALIDATE
# with 3.1.1), the reverse bridge performs the RDMA against the forward
# bridge's exposed buffers and gives smbd inline requests. The counters
# printed at the connection's end must show it.
t_chain_rdma() {
	chain "-v -v" "--rdma-threshold 4096" || return 1
	putget f64 $fwd_port 300 || return 1
	stop_bridges
	local wr rd rr rw inv
	wr=$(counter "$log.forward" fwd_write_rdma)
	rd=$(counter "$log.forward" fwd_read_rdma)
	rr=$(counter "$log.reverse" rdma_read)
	rw=$(counter "$log.reverse" rdma_write)
	inv=$(counter "$log.reverse" send_invalidate)
	note "forward: writes $wr reads $rd as RDMA; reverse: $rr RDMA reads, $rw RDMA writes, $inv send-with-invalidate"
	[ "${wr:-0}" -gt 0 ] && [ "${rd:-0}" -gt 0 ] && [ "${rr:-0}" -gt 0 ] &&
		[ "${rw:-0}" -gt 0 ] && [ "${inv:-0}" -gt 0 ]
}

only=("$@")
echo "bridge-tests: $(uname -r), $(rdma link show 2>/dev/null | head -1), logs in $out"
[ -x "$bridge" ] || { echo "FAIL setup (no $bridge)"; echo "bridge: 0 passed, 1 failed"; exit 1; }
total_start=$(ms)
smbd_setup || { echo "FAIL setup (smbd)"; echo "bridge: 0 passed, 1 failed"; exit 1; }
make_file f64 64
run_test tcp-control t_tcp_control
run_test chain-64m t_chain_64m
run_test chain-rdma t_chain_rdma
kill $smbd_pid 2>/dev/null
wait_bounded $smbd_pid 10 >/dev/null 2>&1
total=$(($(ms) - total_start))
echo "bridge-tests: $((total / 1000)) s in the guest"
echo "bridge: $passed passed, $failed failed"
[ $failed -eq 0 ]
