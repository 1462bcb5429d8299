#!/bin/bash
# The main job: set up the machine, build and install libsmbdirect, build
# Debian's Samba patched for "smb direct = yes" with libsmbdirect in its
# tree (buildtools/samba/build.sh) and the kernel's cifs.ko with SMB
# Direct (buildtools/kpeers/build.sh); then Samba serves SMB3 over RDMA,
# cifs mounts it with -o rdma, a file is copied both ways and checked, and
# the throughput and the RDMA counters are printed (buildtools/samba/
# demo.sh). With an RDMA device here it runs on it (with this kernel's
# cifs, which needs CONFIG_CIFS_SMB_DIRECT); without one (the usual case:
# CI, containers) it boots the soft-RoCE guest (buildtools/vm) and runs
# there, on rxe0 at 10.9.0.1. Both builds are cached in $SMBDIRECT_CACHE
# (the first Samba build takes 20-35 minutes on 2 cores).
#
# Usage (as root, from the repository): bash buildtools/main.sh [PREFIX]
# Environment: SMBDIRECT_ADDR  on a machine with RDMA, the local IPv4
#              address to use (default: the first one of an RDMA netdev);
#              DEMO_MB, DEMO_VERS  the file's size (256) and the dialect
#              (3.1.1), see demo.sh.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

prefix="${1:-/usr/local}"
build="$here/build/release"

bash "$here/buildtools/setup-debian.sh"

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_TESTING=OFF
cmake --build "$build" -j"$(nproc)"
cmake --install "$build"
ldconfig

echo
echo "== libsmbdirect $(PKG_CONFIG_PATH="$prefix/lib/x86_64-linux-gnu/pkgconfig:$prefix/lib/pkgconfig" pkg-config --modversion smbdirect) installed in $prefix"

# An RDMA device here? Then its first IPv4 address carries the test.
if [ -d /sys/class/infiniband ] && [ -n "$(ls -A /sys/class/infiniband 2>/dev/null)" ]; then
	addr="${SMBDIRECT_ADDR:-}"
	if [ -z "$addr" ]; then
		for nd in /sys/class/infiniband/*/ports/*/gid_attrs/ndevs/*; do
			dev="$(cat "$nd" 2>/dev/null || true)"
			[ -n "$dev" ] || continue
			addr="$(ip -4 -o addr show dev "$dev" 2>/dev/null |
				awk '{ sub("/.*", "", $4); print $4; exit }')"
			[ -n "$addr" ] && break
		done
	fi
	if [ -z "$addr" ]; then
		echo "main: RDMA device(s) in /sys/class/infiniband but no" \
			"IPv4 address on their netdevs; set SMBDIRECT_ADDR" >&2
		exit 1
	fi
	echo "== building Samba with libsmbdirect (cached after the first time)"
	sprefix="$(bash "$here/buildtools/samba/build.sh")"
	echo "== Samba on this machine's RDMA device, $addr"
	exec bash "$here/buildtools/samba/demo.sh" - "$sprefix" "$addr"
fi

echo "== no RDMA device here: the soft-RoCE guest (qemu, rxe0 at 10.9.0.1)"
bash "$here/buildtools/check-guest-deps.sh" main
echo "== building cifs.ko with SMB Direct and Samba with libsmbdirect (cached after the first time)"
kpeers="$(bash "$here/buildtools/kpeers/build.sh")"
sprefix="$(bash "$here/buildtools/samba/build.sh")"
# The guest sees the host's / but not its /tmp, where a checkout may live:
# it runs copies of the scripts from a results directory it can see.
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
mkdir -p "$cache/runs"
out="$(mktemp -d "$cache/runs/main.XXXXXX")"
cp "$here/buildtools/samba/demo.sh" "$here/test/interop/kpeers.sh" \
	"$here/test/interop/samba-guest.sh" "$here/test/common/guest-wait.sh" "$out/"
cd "$out"
bash "$here/buildtools/vm/run.sh" -t 900 -o "$out" -- \
	env DEMO_MB="${DEMO_MB:-256}" DEMO_VERS="${DEMO_VERS:-3.1.1}" \
	bash "$out/demo.sh" "$kpeers" "$sprefix" 10.9.0.1
