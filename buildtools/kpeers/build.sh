#!/bin/bash
# Build the Linux kernel's own SMB-Direct peers for the soft-RoCE guest:
# cifs.ko (client) and ksmbd.ko (server) from Debian's linux-source-6.1,
# rebuilt with CONFIG_CIFS_SMB_DIRECT and CONFIG_SMB_SERVER_SMBDIRECT (off
# in Debian's kernels), against the linux-headers of the kernel the guest
# boots; plus ksmbd-tools from bookworm-backports, unpacked, not installed.
#
# Usage: bash buildtools/kpeers/build.sh
# Environment: SMBDIRECT_CACHE (default /var/cache/libsmbdirect);
#   KVER to force a kernel ABI (default: what linux-image-amd64 depends on,
#   as buildtools/vm/build-guest.sh picks it).
#
# Everything goes to $SMBDIRECT_CACHE/kpeers/<kver>/ (outside the repo):
#   modules/      a module tree for `modprobe -d DIR/modules`: the guest
#                 kernel's stock modules (hard links into
#                 $SMBDIRECT_CACHE/kernel/<kver>) with the stock cifs.ko and
#                 ksmbd.ko replaced by ours in lib/modules/<kver>/extra/
#   ksmbd-tools/  the ksmbd-tools .deb unpacked (usr/sbin/ksmbd.*)
#   BUILDINFO     versions, srcversions, vermagic, depends
#   src/ build/ apt/ debs/   sources, kbuild tree, private apt state
# Idempotent: a second run with nothing changed takes a second. Prints the
# cache directory on success.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
ksmbd_tools_min=3.5.2
apt_get=(apt-get -o DPkg::Lock::Timeout=600)
export DEBIAN_FRONTEND=noninteractive

say() { echo "kpeers-build: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- which kernel ----------------------------------------------------------
kver="${KVER:-$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ {sub("linux-image-", "", $2); print $2; exit}')}"
[ -n "$kver" ] || die "no kernel: apt-cache depends linux-image-amd64 names none (apt-get update?)"
kc="$cache/kpeers/$kver"
mkdir -p "$kc"

# One build at a time per kernel (several people share this cache).
exec 9>"$kc/.lock"
flock -w 1200 9 || die "another build.sh holds $kc/.lock for 20 minutes"

# The stock module tree of that kernel, as the guest builder unpacks it.
kroot="$cache/kernel/$kver"
if [ ! -f "$kroot/.done" ]; then
	say "no unpacked kernel at $kroot: running buildtools/vm/build-guest.sh"
	KPKG="linux-image-$kver" bash "$here/../vm/build-guest.sh" >/dev/null
fi
[ -f "$kroot/.done" ] || die "build-guest.sh left no $kroot"
# newest_file GLOB...: the last existing match in version order, or nothing.
newest_file() { printf '%s\n' "$@" | { grep -v '\*' || true; } | sort -V | tail -n 1; }
kdeb="$(newest_file "$cache/debs/linux-image-${kver}_"*.deb)"
[ -n "$kdeb" ] || die "no linux-image-$kver .deb in $cache/debs"
kpkgver="$(dpkg-deb -f "$kdeb" Version)"

# Fast path: everything built for exactly these inputs already.
patches=("$here"/*.patch)
stamp="$(printf '%s\n' "$kver" "$kpkgver" |
	cat - "$here/build.sh" "${patches[@]}" | sha256sum | cut -c1-16)"
if [ -f "$kc/.done" ] && [ "$(cat "$kc/.done")" = "$stamp" ]; then
	echo "$kc"
	exit 0
fi
rm -f "$kc/.done"

# --- packages (Debian's, exactly the guest kernel's version) ----------------
# pkg=version ... -> installs those not installed at that version. Fails
# clearly when the archive index no longer has that version.
apt_ensure() {
	local want=() p name ver cur
	for p in "$@"; do
		name="${p%%=*}"
		ver=
		[ "$name" = "$p" ] || ver="${p#*=}"
		cur="$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' "$name" 2>/dev/null || true)"
		if [ "${cur%%|*}" != "ii " ] || { [ -n "$ver" ] && [ "${cur#*|}" != "$ver" ]; }; then
			want+=("$p")
		fi
	done
	[ ${#want[@]} -gt 0 ] || return 0
	say "apt-get install ${want[*]}"
	"${apt_get[@]}" install -y -q --no-install-recommends "${want[@]}" >&2
}
# Is PKG at VERSION in the apt index?
apt_has() {
	apt-cache madison "$1" 2>/dev/null | awk -F' *\\| *' -v v="$2" '$2 == v {f = 1} END {exit !f}'
}
need_exact=("linux-headers-$kver" linux-source-6.1)
missing=0
for p in "${need_exact[@]}"; do
	[ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)" = "$kpkgver" ] ||
		apt_has "$p" "$kpkgver" || missing=1
done
if [ $missing -ne 0 ]; then
	say "apt-get update (looking for $kpkgver)"
	"${apt_get[@]}" update -q >&2
fi
for p in "${need_exact[@]}"; do
	if [ "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)" != "$kpkgver" ] &&
		! apt_has "$p" "$kpkgver"; then
		die "$p $kpkgver (the guest kernel's version) is not in the apt index;" \
			"apt-cache policy $p shows: $(apt-cache policy "$p" | awk '/Candidate/ {print $2}')." \
			"The modules must be built from exactly the guest kernel's source and headers."
	fi
done
apt_ensure "linux-headers-$kver=$kpkgver" "linux-source-6.1=$kpkgver" \
	make gcc libc6-dev xz-utils binutils kmod patch cifs-utils iproute2 \
	perftest rdma-core
kbuild="/usr/src/linux-headers-$kver"
kcommon="/usr/src/linux-headers-${kver%-*}-common"
tarball=/usr/src/linux-source-6.1.tar.xz
[ -f "$kbuild/Module.symvers" ] || die "$kbuild/Module.symvers missing"
[ -f "$tarball" ] || die "$tarball missing"

# --- ksmbd-tools from bookworm-backports ------------------------------------
# bookworm's 3.4.7 fails every tree connect against this kernel (its share
# config reply lacks payload_sz); 3.5.2 works. It Conflicts: samba, so it
# is never installed: downloaded through a private apt state (sources,
# lists and caches of its own, on the machine's own mirror; /etc/apt is
# only read: buildtools/apt-private.sh) and unpacked.
# shellcheck source=buildtools/apt-private.sh
. "$here/../apt-private.sh"
apt_private_init "$kc/apt" deb bookworm-backports ||
	die "no Debian mirror in the machine's apt sources to take bookworm-backports from"
mkdir -p "$kc/debs"
ktdeb="$(newest_file "$kc/debs/ksmbd-tools_"*.deb)"
if [ -z "$ktdeb" ]; then
	say "ksmbd-tools: apt-get download from bookworm-backports (private apt state in $kc/apt)"
	"${apt_get[@]}" "${apt_private[@]}" update -q >&2
	bpover="$(apt-cache "${apt_private[@]}" madison ksmbd-tools |
		awk -F' *\\| *' '/bookworm-backports/ {print $2; exit}')"
	[ -n "$bpover" ] || die "ksmbd-tools is not in bookworm-backports"
	dpkg --compare-versions "$bpover" ge "$ksmbd_tools_min" ||
		die "bookworm-backports has ksmbd-tools $bpover, need >= $ksmbd_tools_min"
	# apt drops privileges to _apt for downloads: give it the directory.
	chown _apt "$kc/debs" 2>/dev/null || true
	(cd "$kc/debs" && "${apt_get[@]}" "${apt_private[@]}" download -q \
		"ksmbd-tools=$bpover" >&2)
	ktdeb="$(newest_file "$kc/debs/ksmbd-tools_"*.deb)"
	[ -n "$ktdeb" ] || die "apt-get download left no ksmbd-tools .deb in $kc/debs"
fi
ktver="$(dpkg-deb -f "$ktdeb" Version)"
dpkg --compare-versions "$ktver" ge "$ksmbd_tools_min" ||
	die "$ktdeb is $ktver, need >= $ksmbd_tools_min"
# Its shared libraries come from bookworm itself (libnl, glib).
ktdeps="$(dpkg-deb -f "$ktdeb" Depends | tr ',' '\n' |
	sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g' | grep . | sort -u)"
# shellcheck disable=SC2086
apt_ensure $ktdeps
rm -rf "$kc/ksmbd-tools"
dpkg -x "$ktdeb" "$kc/ksmbd-tools"
kt_bin="$kc/ksmbd-tools/usr/sbin"
for t in ksmbd.mountd ksmbd.adduser ksmbd.addshare ksmbd.control; do
	[ -x "$kt_bin/$t" ] || die "$ktdeb has no usr/sbin/$t"
done
# The tools are one binary that acts on argv[0]; the sbin names may be
# absolute symlinks into /usr/libexec, which the host does not have.
for t in "$kt_bin"/ksmbd.*; do
	l="$(readlink "$t" || true)"
	case "$l" in
	/*) ln -sfn "$kc/ksmbd-tools$l" "$t" ;;
	esac
done
if [ "$(ldd "$kt_bin/ksmbd.mountd" | grep -c "not found")" != 0 ]; then
	die "ksmbd.mountd misses libraries: $(ldd "$kt_bin/ksmbd.mountd" | grep 'not found' | tr -d '\t')"
fi
"$kt_bin/ksmbd.mountd" -V >/dev/null 2>&1 || "$kt_bin/ksmbd.mountd" --version >/dev/null 2>&1 ||
	say "note: ksmbd.mountd has no -V/--version"

# --- sources: only fs/smb, fs/internal.h, the ASN.1 compiler -----------------
srcstamp="linux-source-6.1 $kpkgver"
if [ "$(cat "$kc/src/.stamp" 2>/dev/null || true)" != "$srcstamp" ]; then
	say "extracting fs/smb from $tarball"
	rm -rf "$kc/src" "$kc/build"
	mkdir -p "$kc/src"
	tar -C "$kc/src" --strip-components=1 -xJf "$tarball" \
		linux-source-6.1/fs/smb linux-source-6.1/fs/internal.h \
		linux-source-6.1/scripts/asn1_compiler.c
	echo "$srcstamp" >"$kc/src/.stamp"
fi

# --- build tree: a copy of the sources, patched, ASN.1 parsers generated ----
buildstamp="$srcstamp $(cat "${patches[@]}" | sha256sum | cut -c1-16)"
if [ "$(cat "$kc/build/.stamp" 2>/dev/null || true)" != "$buildstamp" ]; then
	rm -rf "$kc/build"
	mkdir -p "$kc/build/fs" "$kc/build/tools"
	# server/vfs.c includes ../../internal.h: keep the tree's layout.
	cp -a "$kc/src/fs/smb" "$kc/src/fs/internal.h" "$kc/build/fs/"
	for p in "${patches[@]}"; do
		say "applying $(basename "$p")"
		patch -d "$kc/build" -p1 --no-backup-if-mismatch -s <"$p" ||
			die "$(basename "$p") does not apply to linux-source-6.1 $kpkgver"
	done
	# Debian's kbuild ships no scripts/asn1_compiler: build it and
	# generate the parsers kbuild would have made.
	gcc -O2 -I"$kcommon/include" -o "$kc/build/tools/asn1_compiler" \
		"$kc/src/scripts/asn1_compiler.c"
	for a in "$kc"/build/fs/smb/client/*.asn1 "$kc"/build/fs/smb/server/*.asn1; do
		"$kc/build/tools/asn1_compiler" "$a" "$a.c" "$a.h"
	done
	echo "$buildstamp" >"$kc/build/.stamp"
fi

# --- kbuild -------------------------------------------------------------------
# CONFIG_* on the make line steer the Makefiles; the headers' autoconf.h
# has both options off, so the C code needs them as -D too.
m="$kc/build/fs/smb"
say "make cifs.ko and ksmbd.ko with SMB Direct (-j2; log $kc/build/make.log)"
t0=$(date +%s)
if ! make -C "$kbuild" M="$m" -j2 \
	CONFIG_SMBFS= CONFIG_CIFS=m CONFIG_CIFS_SMB_DIRECT=y \
	CONFIG_SMB_SERVER=m CONFIG_SMB_SERVER_SMBDIRECT=y \
	KCFLAGS="-DCONFIG_CIFS_SMB_DIRECT=1 -DCONFIG_SMB_SERVER_SMBDIRECT=1" \
	modules >"$kc/build/make.log" 2>&1; then
	tail -n 30 "$kc/build/make.log" >&2
	die "make failed (see $kc/build/make.log)"
fi
say "make took $(($(date +%s) - t0)) s"

# --- checks -------------------------------------------------------------------
stockdir="$kroot/lib/modules/$kver"
want_vermagic="$(modinfo -F vermagic "$stockdir/kernel/fs/smb/client/cifs.ko")"
for ko in "$m/client/cifs.ko" "$m/server/ksmbd.ko"; do
	name="$(basename "$ko")"
	vm="$(modinfo -F vermagic "$ko")"
	[ "$vm" = "$want_vermagic" ] ||
		die "$name vermagic '$vm', the guest kernel's is '$want_vermagic'"
	deps=",$(modinfo -F depends "$ko"),"
	case "$deps" in
	*,ib_core,*) ;;
	*) die "$name does not depend on ib_core (depends: $deps): SMB Direct is not in it" ;;
	esac
	case "$deps" in
	*,rdma_cm,*) ;;
	*) die "$name does not depend on rdma_cm (depends: $deps)" ;;
	esac
done
# (grep reads all of nm's output: with pipefail, grep -q would SIGPIPE nm)
[ "$(nm "$m/client/cifs.ko" | grep -cw 'T smbd_get_connection')" = 1 ] ||
	die "cifs.ko has no smbd_get_connection (SMB Direct client missing)"
[ "$(nm "$m/server/ksmbd.ko" | grep -cw 'T ksmbd_rdma_init')" = 1 ] ||
	die "ksmbd.ko has no ksmbd_rdma_init (SMB Direct server missing)"

# --- module tree for modprobe -d ----------------------------------------------
# The stock tree, hard-linked (no copy of 400 MB), minus the stock cifs.ko
# and ksmbd.ko, plus ours in extra/; depmod resolves the rest (ib_core,
# rdma_cm, cifs_arc4, cifs_md4, ...) from the stock modules.
tree="$kc/modules"
rm -rf "$tree.new"
mkdir -p "$tree.new/lib/modules"
cp -al "$stockdir" "$tree.new/lib/modules/$kver" 2>/dev/null ||
	cp -a "$stockdir" "$tree.new/lib/modules/$kver"
rm -f "$tree.new/lib/modules/$kver/kernel/fs/smb/client/cifs.ko" \
	"$tree.new/lib/modules/$kver/kernel/fs/smb/server/ksmbd.ko"
mkdir -p "$tree.new/lib/modules/$kver/extra"
strip --strip-debug -o "$tree.new/lib/modules/$kver/extra/cifs.ko" "$m/client/cifs.ko"
strip --strip-debug -o "$tree.new/lib/modules/$kver/extra/ksmbd.ko" "$m/server/ksmbd.ko"
depmod -b "$tree.new" "$kver"
for mod in cifs ksmbd; do
	path="$(modprobe -d "$tree.new" -S "$kver" --show-depends "$mod" |
		awk '$1 == "insmod" {p = $2} END {print p}')"
	[ "$path" = "$tree.new/lib/modules/$kver/extra/$mod.ko" ] ||
		die "modprobe -d resolves $mod to '$path', not ours"
done
rm -rf "$tree"
mv "$tree.new" "$tree"

{
	echo "kernel $kver (Debian $kpkgver), built $(date -u +%FT%TZ)"
	echo "patches: $(for p in "${patches[@]}"; do printf '%s ' "$(basename "$p")"; done)"
	echo "ksmbd-tools $ktver ($(basename "$ktdeb"))"
	for mod in cifs ksmbd; do
		f="$tree/lib/modules/$kver/extra/$mod.ko"
		echo "$mod.srcversion $(modinfo -F srcversion "$f")"
		echo "$mod.depends $(modinfo -F depends "$f")"
		echo "$mod.vermagic $(modinfo -F vermagic "$f")"
	done
} >"$kc/BUILDINFO"
echo "$stamp" >"$kc/.done"
say "ok: $(tr '\n' ';' <"$kc/BUILDINFO")"
echo "$kc"
