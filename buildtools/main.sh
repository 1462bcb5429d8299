#!/bin/bash
# The main job: set up the machine, build, install, and run libsmbdirect's
# main program. Until the RDMA binding exists this is the protocol engine's
# benchmark: an initiator and a responder engine exchanging checksummed
# messages in memory.
#
# Usage (as root, from the repository): bash buildtools/main.sh [PREFIX]
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
echo "== smbdirect-engine-bench: MS-SMBD engine pair in memory (no RDMA yet)"
"$prefix/bin/smbdirect-engine-bench"
