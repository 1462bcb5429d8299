#!/bin/busybox sh
# /init of the libsmbdirect test guest (see buildtools/vm/README.md).
# Kernel arguments, set by run.sh:
#   sdvm.share=PATH  9p tag "share" (read-write) is mounted at PATH
#   sdvm.cwd=PATH    the host directory the job starts in
# The host's root file system (9p tag "hostroot", read-only, with a tmpfs
# overlay) becomes the root of the job, so host-built binaries run as they
# are under Debian's own kernel. The job is PATH/job.sh; its exit status is
# written to PATH/rc.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp

say() { echo "sdvm-init: $*"; }

for m in virtio_pci 9pnet_virtio 9p overlay crc32_generic dummy veth \
	rdma_rxe rdma_ucm ib_uverbs ib_umad; do
	modprobe "$m" || say "modprobe $m failed"
done

share=
cwd=/
for a in $(cat /proc/cmdline); do
	case "$a" in
	sdvm.share=*) share="${a#sdvm.share=}" ;;
	sdvm.cwd=*) cwd="${a#sdvm.cwd=}" ;;
	esac
done

o9p=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /lower /ovl /root /sharemnt
mount -t 9p -o "$o9p,ro" hostroot /lower || { say "no hostroot"; poweroff -f; }
mount -t 9p -o "$o9p" share /sharemnt || { say "no share"; poweroff -f; }
mount -t tmpfs ovl /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay \
	-o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work /root ||
	{ say "overlay failed"; poweroff -f; }
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mount -t tmpfs tmp /root/tmp
mount -t tmpfs run /root/run
mkdir -p "/root$share"
mount -o bind /sharemnt "/root$share"

# Soft-RoCE on a dummy interface: the guest talks RDMA to its own address.
ip link set lo up
ip link add dummy0 type dummy 2>/dev/null
ip addr add 10.9.0.1/24 dev dummy0
echo 0 >/proc/sys/net/ipv6/conf/dummy0/accept_dad
ip -6 addr add fd00:9::1/64 dev dummy0
ip link set dummy0 up
chroot /root /usr/bin/rdma link add rxe0 type rxe netdev dummy0 ||
	say "rdma link add failed"

say "up at $(cut -d' ' -f1 /proc/uptime) s; running $share/job.sh"
chroot /root /bin/sh -c "cd '$cwd' && HOME=/root \
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
exec /bin/sh '$share/job.sh'"
rc=$?
echo "$rc" >/sharemnt/rc
sync
say "job exited $rc at $(cut -d' ' -f1 /proc/uptime) s"
poweroff -f
