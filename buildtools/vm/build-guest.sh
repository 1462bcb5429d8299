#!/bin/bash
# Build the test guest: Debian's own kernel package (it has rdma_rxe, the
# host kernel here has no RDMA) plus a small initramfs whose /init runs a
# job from the host's root file system. Everything downloaded or built is
# cached outside the repository, in $SMBDIRECT_CACHE (default
# /var/cache/libsmbdirect). Prints the guest directory.
#
# Usage: bash buildtools/vm/build-guest.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
mkdir -p "$cache/debs"

need=(qemu-system-x86 busybox-static cpio kmod rdma-core ibverbs-utils
	rdmacm-utils ibverbs-providers perftest)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=600 update -q >&2
	apt-get -o DPkg::Lock::Timeout=600 install -y -q \
		--no-install-recommends "${missing[@]}" >&2
fi

# The kernel package linux-image-amd64 points at, unless KPKG says.
kpkg="${KPKG:-$(apt-cache depends linux-image-amd64 |
	awk '/Depends: linux-image-[0-9]/ {print $2; exit}')}"
[ -n "$kpkg" ] || { echo "build-guest: no kernel package found" >&2; exit 1; }
deb="$(ls "$cache/debs/${kpkg}_"*.deb 2>/dev/null | tail -1 || true)"
if [ -z "$deb" ]; then
	(cd "$cache/debs" && apt-get download "$kpkg" >&2)
	deb="$(ls "$cache/debs/${kpkg}_"*.deb | tail -1)"
fi
kver="${kpkg#linux-image-}"
kroot="$cache/kernel/$kver"
if [ ! -f "$kroot/.done" ]; then
	rm -rf "$kroot"
	mkdir -p "$kroot"
	dpkg -x "$deb" "$kroot"
	depmod -b "$kroot" "$kver"
	touch "$kroot/.done"
fi

guest="$cache/guest/$kver"
stamp="$(sha256sum "$here/guest-init.sh" "$here/build-guest.sh" "$deb" |
	sha256sum | cut -c1-16)"
if [ -f "$guest/stamp" ] && [ "$(cat "$guest/stamp")" = "$stamp" ]; then
	echo "$guest"
	exit 0
fi

stage="$guest/stage"
rm -rf "$guest"
mkdir -p "$stage"/{bin,sbin,proc,sys,dev,tmp,etc,lib/modules/"$kver"}
modules="rdma_rxe rdma_ucm ib_uverbs ib_umad rdma_cm iw_cm ib_cm configfs
	crc32_generic virtio_pci 9p 9pnet_virtio overlay veth dummy"
for m in $modules; do
	modprobe -d "$kroot" -S "$kver" --show-depends "$m" |
		awk '$1 == "insmod" {print $2}'
done | sort -u | while read -r ko; do
	rel="${ko#"$kroot"/}"
	mkdir -p "$stage/$(dirname "$rel")"
	cp "$ko" "$stage/$rel"
done
cp "$kroot/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} \
	"$stage/lib/modules/$kver/"
depmod -b "$stage" "$kver"
cp /bin/busybox "$stage/bin/busybox"
ln -s ../bin/busybox "$stage/sbin/modprobe"
install -m 0755 "$here/guest-init.sh" "$stage/init"
(cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet) \
	>"$guest/initrd.cpio"
cp "$kroot/boot/vmlinuz-$kver" "$guest/vmlinuz"
rm -rf "$stage"
echo "$stamp" >"$guest/stamp"
echo "$guest"
