# shellcheck shell=bash
# Bounded waits for the scripts that run inside the soft-RoCE guest: the
# VM tier (test/vm/run-vm-tests.sh), the bridge and interop tiers and the
# kernel-peers benchmark (through test/interop/samba-guest.sh). The tier
# runners stage this file next to those scripts (the guest's /tmp is its
# own, and a checkout may live there). Every wait is bounded; a wait that
# fails says why through the caller's note(), or on stderr without one.

ms() { echo $(($(date +%s%N) / 1000000)); }

# guest_note MSG: through the caller's note() if it has one, else stderr.
guest_note() {
	if declare -F note >/dev/null; then
		note "$*"
	else
		echo "guest: $*" >&2
	fi
}

# wait_bounded PID SECONDS: wait for PID; after SECONDS, SIGKILL it (after
# a SIGCONT, in case a test stopped it) and return 124. Otherwise PID's
# exit status.
wait_bounded() {
	local pid=$1 limit=$(($2 * 1000)) start
	start=$(ms)
	while kill -0 "$pid" 2>/dev/null; do
		if [ $(($(ms) - start)) -ge $limit ]; then
			guest_note "pid $pid still running after $2 s: killed"
			kill -CONT "$pid" 2>/dev/null
			kill -9 "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			return 124
		fi
		sleep 0.05
	done
	wait "$pid"
}

# wait_line FILE PATTERN SECONDS [PID]: until FILE has a line matching the
# extended regex PATTERN; 1 after SECONDS, or as soon as PID is gone.
wait_line() {
	local file=$1 pattern=$2 limit=$(($3 * 1000)) pid=${4:-} start
	start=$(ms)
	until grep -qE "$pattern" "$file" 2>/dev/null; do
		if [ $(($(ms) - start)) -ge $limit ] ||
			{ [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; }; then
			guest_note "no '$pattern' in $(basename "$file") after $3 s"
			return 1
		fi
		sleep 0.05
	done
}

# test_verdict NAME RC START_MS: count a finished test in the caller's
# passed/failed and print "PASS NAME (s.d s)" or "FAIL NAME (s.d s)", the
# lines the tier runners and buildtools/test.sh read. Returns RC, so that
# the caller can add its failure details: test_verdict ... || details.
test_verdict() {
	local elapsed=$(($(ms) - $3))
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1))
		printf 'PASS %s (%d.%d s)\n' "$1" $((elapsed / 1000)) $((elapsed % 1000 / 100))
	else
		failed=$((failed + 1))
		printf 'FAIL %s (%d.%d s)\n' "$1" $((elapsed / 1000)) $((elapsed % 1000 / 100))
	fi
	return "$2"
}

# run_test [--optional|--always] NAME FUNCTION [ARGS...]: run one guest
# test. Skipped when the caller's list of tests to run (the array $only)
# is not empty and does not name it; an --optional test runs only when
# named, an --always one whatever the list. Sets $log to $out/NAME, the
# prefix of the test's files: FUNCTION's output goes to $log.log; the
# caller's test_begin NAME and test_end NAME hooks run around it if
# defined. A sanitizer report in any $log.* fails the test. Prints
# PASS/FAIL (test_verdict) and, on failure, the tail of each file
# $log.PATTERN for the caller's array test_logs of PATTERNs (default: all
# of $log.*), valgrind's first report first, prefixed "  | ". A FUNCTION
# that returns 3 met only a known bug of a peer, not ours: PASS, followed
# by its output's lines starting "KNOWN".
run_test() {
	local optional=0 always=0 name start rc pattern f
	case "$1" in
	--optional) optional=1; shift ;;
	--always) always=1; shift ;;
	esac
	name=$1
	shift
	if [ $always -eq 0 ]; then
		if [ ${#only[@]} -gt 0 ]; then
			printf '%s\n' "${only[@]}" | grep -qx "$name" || return 0
		elif [ $optional -eq 1 ]; then
			return 0
		fi
	fi
	log="$out/$name"
	rm -f "$log".*
	start=$(ms)
	if declare -F test_begin >/dev/null; then
		test_begin "$name"
	fi
	"$@" >"$log.log" 2>&1
	rc=$?
	if declare -F test_end >/dev/null; then
		test_end "$name"
	fi
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log".* 2>/dev/null; then
		echo "a sanitizer reported an error (see the logs)" >>"$log.log"
		rc=1
	fi
	if [ $rc -eq 3 ]; then
		test_verdict "$name" 0 "$start"
		grep '^KNOWN' "$log.log" | sed 's/^/  | /'
		return 0
	fi
	if ! test_verdict "$name" $rc "$start"; then
		for pattern in "${test_logs[@]:-*}"; do
			# shellcheck disable=SC2086 # the pattern is a glob
			for f in "$log".$pattern; do
				[ -f "$f" ] || continue
				echo "  | == $(basename "$f")"
				grep -E '^==[0-9]+==' "$f" | head -n 20 | sed 's/^/  | /'
				grep -vE '^==[0-9]+==' "$f" | tail -n 20 | sed 's/^/  | /'
			done
		done
	fi
	return $rc
}
