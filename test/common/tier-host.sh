# shellcheck shell=bash
# Host-side helpers of the guest tier runners (test/vm/run-vm-tier.sh,
# test/interop/run-interop-tier.sh, test/interop/run-bridge-tier.sh,
# test/samba/run-samba-tier.sh). Source it with $here set to the
# repository. A runner checks its build (tier_build) and the host's
# packages (tier_need_deps), makes its results directory (tier_outdir),
# copies what the guest runs into it (tier_stage) and boots the guest once
# (tier_boot), which prints the guest's PASS/FAIL lines and its count.

# vm_run: boots the soft-RoCE guest, in this process (a subshell of it).
# shellcheck source=buildtools/vm/run.sh
. "$here/buildtools/vm/run.sh"

# tier_fail TIER REASON: the tier could not start: print one failure,
# "FAIL setup (REASON)", and the tier's summary line; exit 1.
tier_fail() {
	echo "FAIL setup ($2)"
	echo "$1: 0 passed, 1 failed"
	exit 1
}

# tier_build TIER DIR [FILE]: print DIR's absolute path, for
# build="$(tier_build ...)" || exit 2; fails (2), saying why on stderr,
# if DIR is not a directory or DIR/FILE is not executable.
tier_build() {
	local dir
	if [ -z "${2:-}" ] || ! dir="$(cd "$2" 2>/dev/null && pwd)"; then
		echo "$1 tier: no build dir '${2:-}' (usage: run-$1-tier.sh BUILD_DIR [TEST...])" >&2
		return 2
	fi
	if [ -n "${3:-}" ] && [ ! -x "$dir/$3" ]; then
		echo "$1 tier: $dir/$3 is missing" >&2
		return 2
	fi
	echo "$dir"
}

# tier_need_deps TIER: fail the tier at once (tier_fail), with the guard's
# own lines on stderr, if something its guest scripts use is not
# installed on the host (buildtools/check-guest-deps.sh).
tier_need_deps() {
	local missing
	missing="$(bash "$here/buildtools/check-guest-deps.sh" "$1")" && return 0
	echo "$missing" >&2
	tier_fail "$1" "$(echo "$missing" | head -n 1 | sed 's/^guest-deps: //')"
}

# tier_outdir BUILD NAME: print the directory for a tier's results and
# staged files: BUILD/NAME-tier, emptied; or, when BUILD is empty or under
# /tmp (the guest cannot see the host's /tmp), a new directory under
# $SMBDIRECT_CACHE/runs.
tier_outdir() {
	local build=$1 name=$2 cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}" out
	case "$build/" in
	/ | /tmp/*)
		mkdir -p "$cache/runs"
		mktemp -d "$cache/runs/$name-tier.XXXXXX"
		;;
	*)
		out="$build/$name-tier"
		rm -rf "$out"
		mkdir -p "$out"
		echo "$out"
		;;
	esac
}

# tier_stage OUT FILE... [-- OPTIONAL...]: copy every FILE, and every
# OPTIONAL file that exists, into OUT/stage; print OUT/stage. The guest
# shares OUT but not the host's /tmp, where a checkout may live: it runs
# these copies, and each guest script finds its files next to itself.
tier_stage() {
	local stage=$1/stage optional=0 f
	shift
	mkdir -p "$stage"
	for f; do
		if [ "$f" = -- ]; then
			optional=1
		elif [ $optional -eq 0 ] || [ -e "$f" ]; then
			cp "$f" "$stage/" || return 1
		fi
	done
	echo "$stage"
}

# tier_boot NAME TIMEOUT OUT -- COMMAND...: boot the soft-RoCE guest once
# (vm_run, results in OUT) to run COMMAND; print the guest's PASS/FAIL
# lines, failing tests' log tails ("  | ") and its last line
# "NAME: N passed, M failed" (a guest that never finished counts as one
# more failure); notes on stderr. Returns the guest's status: 124 if qemu
# hit TIMEOUT, 125 if the guest reported none.
tier_boot() {
	local name=$1 timeout=$2 out=$3 start rc
	shift 4
	start=$(date +%s)
	# The guest starts in the caller's directory: make it one it can see.
	# The serial console ends lines with CR LF.
	(cd "$out" || exit 2; vm_run -t "$timeout" -o "$out" -- "$@") \
		2>"$out/run.stderr" | stdbuf -oL tr -d '\r' |
		grep --line-buffered -E "^(PASS|FAIL|  \| |$name: |$name-tests: )" |
		tee "$out/report.txt"
	rc=${PIPESTATUS[0]}
	echo "$name tier: exit $rc after $(($(date +%s) - start)) s (limit $timeout s); logs in $out" >&2
	case $rc in
	0) ;;
	124) echo "$name tier: qemu timed out" >&2 ;;
	125) echo "$name tier: the guest reported no status (see $out/console.log)" >&2 ;;
	*) tail -n 5 "$out/run.stderr" | sed "s/^/$name tier: /" >&2 ;;
	esac
	if ! grep -q "^$name: [0-9]* passed" "$out/report.txt"; then
		echo "FAIL tier (the guest did not finish: exit $rc)"
		echo "$name: $(grep -c '^PASS ' "$out/report.txt") passed," \
			"$(($(grep -c '^FAIL ' "$out/report.txt") + 1)) failed"
	fi
	return "$rc"
}
