#!/bin/bash
# The main job's guest part (buildtools/main.sh stages it with its helpers):
# Samba, patched and built with libsmbdirect, serves SMB3 over RDMA with
# "smb direct = yes"; the kernel's cifs mounts it with -o rdma, a file is
# copied both ways and checked, and the throughput and the RDMA counters
# are printed.
#
# Usage: bash demo.sh KPEERS_DIR SAMBA_PREFIX ADDR
#   KPEERS_DIR    cifs.ko with SMB Direct (buildtools/kpeers/build.sh);
#                 "-": use the running kernel's cifs as it is
#   SAMBA_PREFIX  the patched Samba (buildtools/samba/build.sh)
#   ADDR          the IPv4 address of the RDMA device smbd listens on
# Environment: DEMO_MB (the file, default 256), DEMO_VERS (3.1.1).
set -u

here="$(cd "$(dirname "$0")" && pwd)"
KPEERS_DIR="${1:?usage: demo.sh KPEERS_DIR SAMBA_PREFIX ADDR}"
prefix="${2:?usage: demo.sh KPEERS_DIR SAMBA_PREFIX ADDR}"
addr="${3:?usage: demo.sh KPEERS_DIR SAMBA_PREFIX ADDR}"
mb="${DEMO_MB:-256}"
vers="${DEMO_VERS:-3.1.1}"
out="${SDVM_OUT:-$(mktemp -d)}/demo"
mkdir -p "$out"

# shellcheck source=test/interop/kpeers.sh
. "$here/kpeers.sh"
KP_STATE="$out/kpeers"
mkdir -p "$KP_STATE"
SG_WORK=/tmp/smbdirect-demo
SG_OUT="$out"
SG_SMBD="$prefix/sbin/smbd"
SG_SMBPASSWD="$prefix/bin/smbpasswd"
SG_SMBD_PORT=445
SG_USER=demo
SG_PASS=Dem0-pw
# shellcheck source=test/interop/samba-guest.sh
. "$here/samba-guest.sh"
KP_ADDR=$addr
KP_USER=$SG_USER
KP_PASS=$SG_PASS
KP_SHARE=share

die() {
	echo "demo: $*" >&2
	[ -f "$out/smbd.log" ] && tail -n 15 "$out/smbd.log" | sed 's/^/demo:   smbd.log: /' >&2
	exit 1
}

# The kernel's messages go to its log, not between the lines below.
[ -z "${SDVM_OUT:-}" ] || dmesg -n 1 2>/dev/null || true
if [ "$KPEERS_DIR" != - ]; then
	kp_load_modules >"$out/modules.log" 2>&1 || die "loading cifs.ko with SMB Direct failed: $(tail -n 3 "$out/modules.log")"
fi
echo "== smbd ($("$SG_SMBD" -V)) with \"smb direct = yes\" on $addr (rdma_cm ports 5445 and 445)"
smbd_setup "interfaces = $addr/24 127.0.0.1/8" "smb direct = yes" \
	"log level = 1 smb2:3" "smbdirect:ports = 5445 445" >"$out/setup.log" 2>&1 ||
	die "smbd did not start: $(tail -n 5 "$out/setup.log")"
wait_line "$out/smbd.log" "smbdirect: listening on $addr port 5445" 20 >/dev/null 2>&1 ||
	die "smbd does not listen for SMB-Direct on $addr"
grep -o 'smbdirect: listening on .*' "$out/smbd.log" | sed 's/^/   /'

mp=/mnt/smbdirect-demo
echo "== mount -t cifs //$addr/share $mp -o rdma,vers=$vers"
kp_mount rdma "$vers" "$mp" cache=none || die "the mount over RDMA failed"
kp_is_smbdirect_up || die "cifs shows no SMB-Direct connection"
grep -o 'smbdirect: connection from .*' "$out/smbd.log" | tail -n 1 | sed 's/^/   smbd: /'

src=/tmp/demo-src.bin
echo "== $mb MiB of random data, copied both ways (dd, 1 MiB O_DIRECT)"
kp_random_file "$src" "$mb" || die "cannot write $src"
want="$(kp_sha256 "$src")"
pkts0=$(kp_rxe_counter sent_pkts)
sends0=$(kp_rxe_counter rdma_sends)
t0=$(ms)
wmibs="$(kp_dd_write "$src" "$mp/demo.bin")" || die "writing to the mount failed"
t1=$(ms)
rmibs="$(kp_dd_mibs if="$mp/demo.bin" of=/tmp/demo-back.bin bs=1M iflag=direct)" ||
	die "reading from the mount failed"
t2=$(ms)
pkts=$(($(kp_rxe_counter sent_pkts) - pkts0))
sends=$(($(kp_rxe_counter rdma_sends) - sends0))
srv="$(kp_sha256 "$share/demo.bin")"
back="$(kp_sha256 /tmp/demo-back.bin)"
printf '   %-28s %s\n' "source sha256" "$want" "Samba's copy sha256" "$srv" \
	"read back sha256" "$back"
[ "$srv" = "$want" ] && [ "$back" = "$want" ] || die "the copies differ from the source"
printf '   %-28s %8s MiB/s  (%d ms)\n' "write (client -> Samba)" "$wmibs" $((t1 - t0)) \
	"read (Samba -> client)" "$rmibs" $((t2 - t1))
echo "   rxe0 over both copies: $pkts packets sent, $sends SEND messages completed" \
	"(the data went by RDMA read/write: $((sends * 1364 / 1048576)) MiB at most in messages)"

# The child's counters reach smbd's log when its connection ends.
kp_umount "$mp" >/dev/null 2>&1
wait_line "$out/smbd.log" 'smbdirect: peer .*: counters:' 20 >/dev/null 2>&1 &&
	grep -o 'peer .*: counters: .*' "$out/smbd.log" | tail -n 1 | sed 's/^/   libsmbdirect (child smbd): /'
smbd_stop
rm -f "$src" /tmp/demo-back.bin
echo "== ok: Samba served SMB3 over RDMA; smbd's log: $out/smbd.log"
