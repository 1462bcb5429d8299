# shellcheck shell=bash
# Guest-side helpers shared by the bridge tier (bridge-tests.sh), the
# interop tier (interop-tests.sh) and the kernel-peers benchmark
# (test/bench/kpeers-perf.sh): a private stock smbd, the counters
# smbdirect-bridge logs, and (from test/common/guest-wait.sh, staged next
# to it) the bounded waits. Source it from bash inside the soft-RoCE guest.
#
# Settings (set before calling; the defaults are the bridge tier's):
SG_WORK="${SG_WORK:-/tmp/bridge}"      # smbd's private tree (guest tmpfs)
SG_OUT="${SG_OUT:-${SDVM_OUT:-/tmp}}"  # where smbd's log goes
SG_SMBD_PORT="${SG_SMBD_PORT:-4450}"   # smbd listens on 127.0.0.1 only
SG_USER="${SG_USER:-bridge}"
SG_PASS="${SG_PASS:-Br1dge-pw}"
SG_SMBD="${SG_SMBD:-smbd}"             # which smbd (the samba tier's own)
SG_SMBPASSWD="${SG_SMBPASSWD:-smbpasswd}"
# Conventions: every wait is bounded; a failing function says why on
# stderr (or through note(), if the caller defines it) and returns non-zero.

# ms, guest_note, wait_bounded, wait_line: staged next to this file.
# shellcheck source=test/common/guest-wait.sh
. "$(dirname "${BASH_SOURCE[0]}")/guest-wait.sh"

# counter LOGFILE NAME: the largest value of a bridge counter NAME=N
# (counters lines, see smbdirect-bridge(1)) in LOGFILE.
counter() {
	grep -oE " $2=[0-9]+" "$1" | cut -d= -f2 | sort -n | tail -n 1
}

# smbd_setup [EXTRA GLOBAL LINES]: start Debian's stock smbd with a
# private smb.conf in $SG_WORK/smbd, listening on 127.0.0.1:$SG_SMBD_PORT
# only, shares "share" and "control" (read-write) for $SG_USER with
# $SG_PASS, signing not required unless EXTRA says so (each argument is
# one more [global] line). Writes $SG_WORK/smbd/client.conf for smbclient
# and smbtorture (-s). Sets $smbd_pid, $share (the share's path) and
# $conf. Waits (20 s at most) until smbd accepts connections.
smbd_setup() {
	local d=$SG_WORK/smbd extra="" line i
	for line in "$@"; do
		extra="$extra	$line
"
	done
	rm -rf "$d"
	mkdir -p "$d"/{private,lock,state,cache,run,share,control,ncalrpc}
	chmod 0777 "$d/share" "$d/control"
	cat >"$d/smb.conf" <<EOF
[global]
	workgroup = BRIDGETEST
	server role = standalone server
	smb ports = $SG_SMBD_PORT
	interfaces = lo
	bind interfaces only = yes
	disable netbios = yes
	private dir = $d/private
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	pid directory = $d/run
	ncalrpc dir = $d/ncalrpc
	log file = $SG_OUT/smbd.log
	log level = 1
	max log size = 0
	passdb backend = tdbsam:$d/private/passdb.tdb
	load printers = no
	printcap name = /dev/null
	disable spoolss = yes
	server min protocol = SMB2_02
	server signing = default
	kernel oplocks = no
	# The guest's tmpfs (6.1) has no user.* xattrs: keep DOS attributes
	# and create times in a tdb, as smb2.dir expects them kept.
	vfs objects = xattr_tdb
	xattr_tdb:file = $d/state/xattr.tdb
$extra[share]
	path = $d/share
	read only = no
	guest ok = no
[control]
	path = $d/control
	read only = no
	guest ok = no
EOF
	cat >"$d/client.conf" <<EOF
[global]
	client min protocol = SMB2_02
	log level = 0
EOF
	conf=$d/client.conf
	share=$d/share
	id "$SG_USER" >/dev/null 2>&1 || useradd -M -N -s /bin/false "$SG_USER" ||
		{ echo "setup: useradd failed"; return 1; }
	printf '%s\n%s\n' "$SG_PASS" "$SG_PASS" |
		"$SG_SMBPASSWD" -c "$d/smb.conf" -s -a "$SG_USER" >"$SG_OUT/smbpasswd.log" 2>&1 ||
		{ echo "setup: smbpasswd failed"; cat "$SG_OUT/smbpasswd.log"; return 1; }
	# Its own session: smbd's exit must not signal the caller.
	setsid "$SG_SMBD" --foreground --no-process-group -s "$d/smb.conf" \
		>"$SG_OUT/smbd.stdout" 2>&1 &
	smbd_pid=$!
	for i in $(seq 1 200); do
		if (exec 3<>/dev/tcp/127.0.0.1/"$SG_SMBD_PORT") 2>/dev/null; then
			return 0
		fi
		kill -0 $smbd_pid 2>/dev/null || break
		sleep 0.1
	done
	echo "setup: smbd did not start"
	tail -n 20 "$SG_OUT/smbd.log" "$SG_OUT/smbd.stdout" 2>/dev/null
	return 1
}

# smbd_stop: end the smbd of smbd_setup (10 s at most).
smbd_stop() {
	[ -n "${smbd_pid:-}" ] || return 0
	kill "$smbd_pid" 2>/dev/null
	wait_bounded "$smbd_pid" 10 >/dev/null 2>&1
	smbd_pid=
}
