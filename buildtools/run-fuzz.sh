#!/bin/bash
# Run every libFuzzer target of libsmbdirect for a bounded time.
#
# Usage: bash buildtools/run-fuzz.sh BUILD_DIR [SECONDS_PER_TARGET]
#
# BUILD_DIR is a build configured with CC=clang -DSMBDIRECT_FUZZ=ON (the
# fuzzers are BUILD_DIR/test/fuzz/fuzz_*). Each target runs for SECONDS
# (default 60) over a copy of its seed corpus (test/fuzz/corpus/<name>) in a
# temporary directory; nothing is written into the repository. Prints one
# summary line per target. Exits 0 if every target ran clean, 1 if any
# crashed, leaked, timed out or ran out of memory (libFuzzer exit status not
# 0), printing the artifact and a hex dump of the input that did it, and 2
# on a usage error. The temporary directory is removed on success and kept
# on failure. See docs/fuzzing.md.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
	echo "usage: $0 BUILD_DIR [SECONDS_PER_TARGET]" >&2
	exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
build="$1"
seconds="${2:-60}"
case "$seconds" in
'' | *[!0-9]*) usage ;;
esac
[ "$seconds" -ge 1 ] || usage

targets=(fuzz_codec fuzz_engine fuzz_bridge)
for t in "${targets[@]}"; do
	if [ ! -x "$build/test/fuzz/$t" ]; then
		echo "run-fuzz: $build/test/fuzz/$t not found; configure with" \
			"CC=clang -DSMBDIRECT_FUZZ=ON and build it" >&2
		exit 2
	fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/smbdirect-fuzz.XXXXXX")"
keep=0
cleanup() {
	if [ "$keep" -eq 0 ]; then
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# A value from libFuzzer's final statistics ("stat::name: value").
final_stat() {
	sed -n "s/^stat::$1:[[:space:]]*//p" "$2" | tail -1
}

# A field of the last status line ("#N DONE cov: X ft: Y corp: A/B ...").
field() {
	{ grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|pulse|NEW|REDUCE)' "$2" ||
		true; } | tail -1 | sed -n "s/.* $1: \([^ ]*\).*/\1/p"
}

failed=0
for t in "${targets[@]}"; do
	name="${t#fuzz_}"
	dir="$work/$name"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	seeds=0
	if [ -d "$here/test/fuzz/corpus/$name" ]; then
		cp -R "$here/test/fuzz/corpus/$name/." "$dir/corpus/"
		seeds="$(find "$dir/corpus" -type f | wc -l)"
	fi
	log="$dir/fuzz.log"

	# libFuzzer stops itself after max_total_time; the outer timeout is
	# only a safety net for a wedged process.
	rc=0
	(cd "$dir" &&
		UBSAN_OPTIONS="print_stacktrace=1:${UBSAN_OPTIONS:-}" \
			timeout --signal=KILL $((seconds * 2 + 120)) \
			"$build/test/fuzz/$t" \
			-max_total_time="$seconds" -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$dir/artifacts/" \
			"$dir/corpus") >"$log" 2>&1 || rc=$?

	runs="$(final_stat number_of_executed_units "$log")"
	speed="$(final_stat average_exec_per_sec "$log")"
	cov="$(field cov "$log")"
	ft="$(field ft "$log")"
	corp="$(field corp "$log")"
	if [ "$rc" -eq 0 ]; then
		echo "$t: ok, ${runs:-?} runs (${speed:-?}/s) in ${seconds}s," \
			"cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?} from $seeds seeds"
		continue
	fi

	failed=1
	keep=1
	echo "$t: FAILED (exit $rc) after ${runs:-?} runs, cov ${cov:-?}"
	found=0
	for a in "$dir"/artifacts/*; do
		[ -f "$a" ] || continue
		found=1
		echo "  artifact: $a ($(wc -c <"$a") bytes)"
		od -A x -t x1z -v "$a" | head -n 64 | sed 's/^/    /'
		echo "  reproduce: $build/test/fuzz/$t $a"
	done
	if [ "$found" -eq 0 ]; then
		echo "  no artifact written (killed, or the failure was not in an input)"
	fi
	echo "  log: $log; its end:"
	{ grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" || true; } |
		tail -n 60 | sed 's/^/    /'
done

if [ "$failed" -ne 0 ]; then
	echo "run-fuzz: FAILED; inputs and logs kept in $work"
	exit 1
fi
echo "run-fuzz: all ${#targets[@]} targets ran ${seconds}s clean"
