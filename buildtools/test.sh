#!/bin/bash
# Run every test of libsmbdirect: set up the machine, then
#   1. release build (gcc -O2) + unit tests (CTest/cmocka)
#   2. the same unit tests built with AddressSanitizer + UBSan
#   3. the unit tests under valgrind memcheck (leaks and errors are fatal)
#   4. libFuzzer targets (clang), each for a bounded time
#   5. CMakeLists.txt and wscript list the same sources; the library's
#      layering (buildtools/check-layers.py)
#   6. install into a staging dir and build a consumer with pkg-config
#   7. the guest tiers: end-to-end tests over soft-RoCE in a qemu guest
#      (vm: the library; interop: the Linux kernel's SMB-Direct peers)
# Ends with one line "tests: N passed, M failed"; exits non-zero on failure.
#
# Usage (as root, from the repository): bash buildtools/test.sh
# Environment: FUZZ_SECONDS (per fuzz target, default 90), JOBS,
# VM_TIER_TIMEOUT, INTEROP_TIER_TIMEOUT (default 600), BRIDGE_TIER_TIMEOUT
# (default 540): qemu limits of the guest tiers in seconds.
set -uo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${JOBS:-$(nproc)}"
fuzz_seconds="${FUZZ_SECONDS:-90}"
passed=0
failed=0
failures=()

bash "$here/buildtools/setup-debian.sh" || exit 1

# Count a CTest run: add its passed and failed tests to the totals.
ctest_stage() {
	local name="$1" dir="$2"
	shift 2
	local log="$dir/ctest-$name.log"
	echo "== $name"
	(cd "$dir" && ctest --output-on-failure "$@") 2>&1 | tee "$log"
	local line total nfail
	line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
	if [ -z "$line" ]; then
		failed=$((failed + 1))
		failures+=("$name: ctest did not run")
		return
	fi
	nfail="$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed.*/\1/')"
	total="$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')"
	passed=$((passed + total - nfail))
	failed=$((failed + nfail))
	if [ "$nfail" -ne 0 ]; then
		failures+=("$name: $nfail of $total failed")
	fi
}

# Count a single check.
check_stage() {
	local name="$1"
	shift
	echo "== $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

build_tree() {
	local dir="$1"
	shift
	cmake -S "$here" -B "$dir" "$@" >"$dir.configure.log" 2>&1 &&
		cmake --build "$dir" -j"$jobs" >"$dir.build.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		tail -50 "$dir.configure.log" "$dir.build.log" 2>/dev/null
	fi
	return $rc
}

mkdir -p "$here/build"

# 1. Release build and unit tests.
if check_stage "build release" build_tree "$here/build/test-release" \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=ON; then
	ctest_stage release "$here/build/test-release" -j"$jobs"
fi

# 2. ASan + UBSan.
if check_stage "build asan+ubsan" build_tree "$here/build/test-asan" \
	-DCMAKE_BUILD_TYPE=Debug -DSMBDIRECT_SANITIZE=ON -DBUILD_TESTING=ON; then
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest_stage asan+ubsan "$here/build/test-asan" -j"$jobs"
fi

# 3. valgrind memcheck on the release build's unit tests: any error or
#    definite/indirect leak fails the test.
valgrind_one() {
	SMBDIRECT_TEST_QUICK=1 valgrind -q --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect "$1" >"$1.valgrind.log" 2>&1
	local rc=$?
	if [ $rc -ne 0 ]; then
		tail -40 "$1.valgrind.log"
	fi
	return $rc
}
if [ -d "$here/build/test-release/test/unit" ]; then
	for t in "$here"/build/test-release/test/unit/test_*; do
		[ -x "$t" ] || continue
		check_stage "valgrind $(basename "$t")" valgrind_one "$t"
	done
fi

# 4. Fuzzers, bounded.
if check_stage "build fuzzers" env CC=clang bash -c "$(declare -f build_tree); here='$here'; jobs='$jobs'; build_tree '$here/build/test-fuzz' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMBDIRECT_FUZZ=ON -DBUILD_TESTING=ON"; then
	check_stage "fuzz ($fuzz_seconds s per target)" \
		bash "$here/buildtools/run-fuzz.sh" "$here/build/test-fuzz" "$fuzz_seconds"
fi

# 5. The waf (Samba tree) and CMake source lists agree; the layering holds
#    on the release build's objects (the core is sans-I/O, no cycle between
#    the binding's files).
check_stage "source lists (CMake = wscript)" \
	bash "$here/buildtools/check-sources.sh"
check_stage "layers (buildtools/check-layers.py)" \
	python3 "$here/buildtools/check-layers.py" "$here/build/test-release"

# 6. Install and consume through pkg-config.
check_stage "install + pkg-config consumer" \
	bash "$here/buildtools/check-install.sh" "$here/build/test-install"

# 7. The guest tiers: each boots the soft-RoCE guest once and prints
#    PASS/FAIL lines and "NAME: N passed, M failed". Each guest test counts
#    as one test; a qemu timeout, or a guest report that does not add up,
#    is one more failure.
#    - vm (docs/testing.md): the RDMA binding over real verbs, on the
#      release build's sdtest;
#    - interop (docs/interop.md): the Linux kernel's SMB-Direct peers
#      (cifs.ko, ksmbd.ko rebuilt with SMB Direct);
#    - bridge (docs/tools/smbdirect-bridge.md): stock smbclient and
#      smbtorture through smbdirect-bridge to stock smbd;
#    - samba (docs/samba.md): Samba itself with "smb direct = yes"
#      (Debian's Samba patched and built by buildtools/samba/build.sh,
#      cached) serving cifs.ko over RDMA.
guest_stage() {
	local name="$1" prefix="$2" log rc npass nfail summary line
	shift 2
	log="$here/build/test-release/$name-tier.log"
	echo "== $name tier"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	npass=$(grep -c '^PASS ' "$log")
	nfail=$(grep -c '^FAIL ' "$log")
	passed=$((passed + npass))
	failed=$((failed + nfail))
	while IFS= read -r line; do
		failures+=("$name tier: ${line#FAIL }")
	done < <(grep '^FAIL ' "$log")
	summary="$(grep -E "^$prefix: [0-9]+ passed, [0-9]+ failed$" "$log" | tail -1)"
	if [ "$rc" -eq 124 ]; then
		failed=$((failed + 1))
		failures+=("$name tier: qemu timed out")
	elif [ "$summary" != "$prefix: $npass passed, $nfail failed" ]; then
		failed=$((failed + 1))
		failures+=("$name tier: incomplete guest report (exit $rc)")
	elif [ "$rc" -ne 0 ] && [ "$nfail" -eq 0 ]; then
		failed=$((failed + 1))
		failures+=("$name tier: exit $rc")
	fi
}
if [ -x "$here/build/test-release/test/vm/sdtest" ]; then
	guest_stage vm vm bash "$here/test/vm/run-vm-tier.sh" \
		"$here/build/test-release"
else
	failed=$((failed + 1))
	failures+=("vm tier: no build/test-release/test/vm/sdtest")
fi
guest_stage interop interop bash "$here/test/interop/run-interop-tier.sh" \
	"$here/build/test-release"
guest_stage bridge bridge bash "$here/test/interop/run-bridge-tier.sh" \
	"$here/build/test-release"
guest_stage samba samba bash "$here/test/samba/run-samba-tier.sh" \
	"$here/build/test-release"

echo
for f in "${failures[@]}"; do
	echo "FAILED: $f"
done
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
