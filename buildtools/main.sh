#!/bin/bash
# The main job: set up the machine, build, install, and run libsmbdirect's
# main program, smbdirect-perf: an SMB-Direct server and client on one
# machine, measuring send/recv latency and RDMA write bandwidth at 64 KiB.
# On a machine with an RDMA device it runs there; without one (the usual
# case: CI, containers) it boots the soft-RoCE guest (buildtools/vm) and
# runs the same pair inside it, on rxe0 at 10.9.0.1.
#
# Usage (as root, from the repository): bash buildtools/main.sh [PREFIX]
# Environment: SMBDIRECT_ADDR  on a machine with RDMA, the local IPv4
#              address to use (default: the first one of an RDMA netdev).
# Internal: bash buildtools/main.sh --run-perf SMBDIRECT_PERF ADDR
#           runs the server/client pair against ADDR (what the guest runs).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

# The pair: a forking server (a child per connection, as smbd would
# use it) and two clients. Iterations: fewer under TCG, where soft-RoCE
# moves about 50 MB/s.
run_perf() {
	local perf="$1" addr="$2" port=5445 lat_n=1000 bw_n=5000 log spid i
	if [ -n "${SDVM_OUT:-}" ]; then
		lat_n=200
		bw_n=1000
	fi
	log="$(mktemp)"
	"$perf" --fork -p "$port" >"$log" 2>&1 &
	spid=$!
	for i in $(seq 1 200); do
		grep -q "Waiting for client" "$log" && break
		kill -0 "$spid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "Waiting for client" "$log"; then
		echo "main: the smbdirect-perf server did not start (waited" \
			"$((i / 10)) s):" >&2
		cat "$log" >&2
		kill "$spid" 2>/dev/null || true
		return 1
	fi
	local rc=0
	"$perf" -p "$port" --test send_lat -s 64K -n "$lat_n" "$addr" || rc=1
	"$perf" -p "$port" --test write_bw -s 64K -n "$bw_n" -t 16 "$addr" ||
		rc=1
	sleep 1
	kill "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		echo "main: smbdirect-perf failed; the server said:" >&2
		cat "$log" >&2
	fi
	rm -f "$log"
	return "$rc"
}

if [ "${1:-}" = "--run-perf" ]; then
	run_perf "$2" "$3"
	exit
fi

prefix="${1:-/usr/local}"
build="$here/build/release"

bash "$here/buildtools/setup-debian.sh"

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_INSTALL_PREFIX="$prefix" -DBUILD_TESTING=OFF
cmake --build "$build" -j"$(nproc)"
cmake --install "$build"
ldconfig

perf="$prefix/bin/smbdirect-perf"
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
	echo "== smbdirect-perf on this machine's RDMA device, $addr"
	run_perf "$perf" "$addr"
	exit
fi

case "$perf" in
/tmp/*)
	echo "main: $perf is under /tmp, which the soft-RoCE guest does not see" >&2
	exit 1
	;;
esac
echo "== no RDMA device here: smbdirect-perf in the soft-RoCE guest (qemu, rxe0 at 10.9.0.1)"
bash "$here/buildtools/check-guest-deps.sh" main
# The guest sees the host's / but not its /tmp, where a checkout may live:
# it runs a copy of this script from a results directory it can see.
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
mkdir -p "$cache/runs"
out="$(mktemp -d "$cache/runs/main.XXXXXX")"
cp "$here/buildtools/main.sh" "$out/main.sh"
cd "$out"
bash "$here/buildtools/vm/run.sh" -t 600 -o "$out" -- \
	bash "$out/main.sh" --run-perf "$perf" 10.9.0.1
