#!/bin/bash
# Install everything libsmbdirect needs to build and test, from Debian 12's
# own archive only. Idempotent; run as root.
set -euo pipefail

# By use (docs/testing.md has the table, with the reasons):
PACKAGES=(
	# build: the library, its tests and tools
	build-essential cmake pkg-config git
	libtalloc-dev libtevent-dev libcmocka-dev
	libibverbs-dev librdmacm-dev rdma-core ibverbs-providers
	# fuzzers (libFuzzer) and the sanitizer runtimes
	clang libclang-rt-14-dev
	valgrind python3
	# the soft-RoCE guest: Debian's kernel under qemu, a busybox initrd
	qemu-system-x86 busybox-static cpio kmod iproute2 ibverbs-utils
	rdmacm-utils perftest
	# guest tiers that run stock Samba (smbd with vfs xattr_tdb, whose
	# module is in samba-vfs-modules), its clients and cifs.ko's helper
	samba samba-vfs-modules smbclient samba-testsuite cifs-utils
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "setup: all ${#PACKAGES[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages (${missing[*]}); run as root" >&2
	exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Samba is for the bridge tier, which runs the host's smbd inside the
# guest: the host's own services are not started by the install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
