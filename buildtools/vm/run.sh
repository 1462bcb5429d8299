#!/bin/bash
# Run a job inside the soft-RoCE test guest and return its exit status.
#
# Usage: bash buildtools/vm/run.sh [-t SECONDS] [-o OUTDIR] -- COMMAND [ARGS]
#    or, sourced (the tier runners, through test/common/tier-host.sh):
#        (vm_run [-t SECONDS] [-o OUTDIR] -- COMMAND [ARGS])
#    in a subshell of its own: vm_run exits.
#
# The guest boots Debian's kernel under qemu (TCG: no KVM here), sees the
# host's root file system read-only (with a RAM overlay), has rdma_rxe on
# dummy0 at 10.9.0.1 (device rxe0), starts in the current directory and
# runs COMMAND as root. OUTDIR (default: a new directory under
# $SMBDIRECT_CACHE/runs) is writable from the guest at the same path and is
# exported to the job as $SDVM_OUT; the console log is OUTDIR/console.log.
# Exit status: the job's, 124 if qemu timed out, 125 if the guest never
# reported one.

vm_run() {
	local vmdir cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}" \
		timeout=900 out='' guest start qrc
	vmdir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
	while [ $# -gt 0 ]; do
		case "$1" in
		-t) timeout="$2"; shift 2 ;;
		-o) out="$2"; shift 2 ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	[ $# -gt 0 ] || { echo "usage: run.sh [-t S] [-o DIR] -- COMMAND [ARGS]" >&2; exit 2; }

	guest="$(bash "$vmdir/build-guest.sh")" || exit
	if [ -z "$out" ]; then
		mkdir -p "$cache/runs" || exit
		out="$(mktemp -d "$cache/runs/run.XXXXXX")" || exit
	fi
	mkdir -p "$out" && out="$(cd "$out" && pwd)" && rm -f "$out/rc" || exit
	{
		echo "#!/bin/sh"
		echo "export SDVM_OUT='$out'"
		printf 'exec'
		printf " '%s'" "$@"
		echo
	} >"$out/job.sh" || exit

	start=$(date +%s)
	timeout -k 10 "$timeout" qemu-system-x86_64 -nodefaults -display none \
		-monitor none -serial stdio -no-reboot -accel tcg -cpu max \
		-m "${SDVM_MEM:-2048}" -smp "${SDVM_SMP:-2}" \
		-kernel "$guest/vmlinuz" -initrd "$guest/initrd.cpio" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$out,mount_tag=share,security_model=none" \
		-append "console=ttyS0 panic=-1 quiet sdvm.share=$out sdvm.cwd=$PWD" \
		</dev/null 2>&1 | tee "$out/console.log"
	qrc=${PIPESTATUS[0]}
	echo "vm: qemu exit $qrc after $(( $(date +%s) - start )) s; output in $out" >&2
	[ "$qrc" -eq 0 ] || exit 124
	[ -f "$out/rc" ] || exit 125
	exit "$(cat "$out/rc")"
}

# Executed rather than sourced: run the job.
[ "${BASH_SOURCE[0]}" != "$0" ] || vm_run "$@"
