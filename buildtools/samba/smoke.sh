#!/bin/bash
# Smoke test of the Samba that buildtools/samba/build.sh installed: over
# plain TCP (nothing here uses RDMA), on 127.0.0.1 only. testparm on a
# private smb.conf; smbd in the foreground on a high port with every
# directory private (under a temporary directory); Debian's smbclient
# lists the shares (through the installed samba-dcerpcd/rpcd_classic) and
# writes and reads back a file as guest; smbstatus; then smbd and the
# rpc helpers it started are stopped (by their pids).
#
# Usage: bash buildtools/samba/smoke.sh [PREFIX]
#   PREFIX defaults to what build.sh prints (it runs build.sh, which
#   takes a second when the build is up to date).
# Environment: SMOKE_PORT (default 44445), SMOKE_DIR (default: mktemp -d;
#   kept on failure).
# Output: the steps' output on stdout; "samba-smoke: ok" at the end, or
#   "samba-smoke: ERROR: ..." and exit status 1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
say() { echo "samba-smoke: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

prefix="${1:-$(bash "$here/build.sh")}"
port="${SMOKE_PORT:-44445}"
[ -x "$prefix/sbin/smbd" ] || die "no $prefix/sbin/smbd"
command -v smbclient >/dev/null || die "no smbclient (Debian's package smbclient)"
d="${SMOKE_DIR:-$(mktemp -d /tmp/samba-smoke.XXXXXX)}"
mkdir -p "$d"/{private,lock,state,cache,run,ncalrpc,share}
chmod 0777 "$d/share"

cat >"$d/smb.conf" <<EOF
[global]
	workgroup = SMOKE
	server role = standalone server
	smb ports = $port
	interfaces = lo
	bind interfaces only = yes
	disable netbios = yes
	private dir = $d/private
	lock directory = $d/lock
	state directory = $d/state
	cache directory = $d/cache
	pid directory = $d/run
	ncalrpc dir = $d/ncalrpc
	log file = $d/log.%m
	log level = 1
	passdb backend = tdbsam:$d/private/passdb.tdb
	map to guest = bad user
	load printers = no
	printcap name = /dev/null
	disable spoolss = yes
	vfs objects = acl_xattr xattr_tdb
	xattr_tdb:file = $d/state/xattr.tdb
[share]
	path = $d/share
	read only = no
	guest ok = yes
EOF

# show N CMD...: CMD's first N lines of output (all of it is read: with
# pipefail, `CMD | head` fails when CMD gets SIGPIPE).
show() {
	local n=$1 out
	shift
	out="$("$@" 2>&1)" || die "$* failed: $(tail -n 5 <<<"$out")"
	head -n "$n" <<<"$out"
}

smbd_pid=
cleanup() {
	local p helpers
	if [ -n "$smbd_pid" ]; then
		kill "$smbd_pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$smbd_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	# samba-dcerpcd and its rpcd_* outlive smbd for their idle timeout;
	# ours are those started with this smb.conf.
	helpers="$(pgrep -f -- "--configfile=$d/smb.conf" || true)"
	for p in $helpers; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

echo "== smbd -b (head)"
show 12 "$prefix/sbin/smbd" -b
echo "== testparm -s"
show 40 "$prefix/bin/testparm" -s "$d/smb.conf"
setsid "$prefix/sbin/smbd" --foreground --no-process-group -s "$d/smb.conf" \
	>"$d/smbd.stdout" 2>&1 &
smbd_pid=$!
for _ in $(seq 1 150); do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
	kill -0 "$smbd_pid" 2>/dev/null || { cat "$d/smbd.stdout" "$d"/log.* 2>/dev/null | tail -n 20; die "smbd exited"; }
	sleep 0.2
done
echo "== smbd pid $smbd_pid listening on 127.0.0.1:$port"
echo "== smbclient -L"
list="$(smbclient -p "$port" -N -L 127.0.0.1 2>&1 || true)"
echo "$list"
grep -qE '^\s+share\s+Disk' <<<"$list" || die "smbclient -L does not list the share"
echo "== put and get"
head -c 1048576 /dev/urandom >"$d/in.bin"
smbclient -p "$port" -N //127.0.0.1/share -c "put $d/in.bin in.bin; ls; get in.bin $d/out.bin" 2>&1
cmp "$d/in.bin" "$d/out.bin" || die "the file read back differs"
echo "== smbstatus"
show 12 "$prefix/bin/smbstatus" -s "$d/smb.conf"
cleanup
smbd_pid=
trap - EXIT
[ -n "${SMOKE_DIR:-}" ] || rm -rf "$d"
say "ok"
