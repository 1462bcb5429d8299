#!/bin/bash
# Before a guest tier boots: is everything its guest scripts use there?
# The guest runs the host's own binaries (its root is the host's /, read
# only), so a package missing here fails tests there, far from the cause
# (a missing samba-vfs-modules once failed 16 tests with "tree connect
# failed"). This fails at once instead, one line per missing piece.
#
# Usage: bash buildtools/check-guest-deps.sh TIER...
#   TIER: vm, interop, bridge, samba, main (the main job's guest run)
# Exit status 0 if nothing is missing, 1 otherwise (2: usage). Prints
#   guest-deps: TIER tier needs WHAT (Debian package PKG): missing
# for each missing piece; nothing when all is there.
#
# The table below is the list of record: a guest script that starts
# using a new program, module or library adds its line here, and
# buildtools/setup-debian.sh installs its package (docs/testing.md says
# which tier needs which package and why).
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: check-guest-deps.sh TIER..." >&2; exit 2; }

# tiers      kind    what                         package
# kind: cmd = a program in PATH; file = a path; lib = a shared library
# ldconfig knows; smbmod = a module under smbd's MODULESDIR (smbd -b).
table='
vm,interop,bridge,samba,main  cmd  qemu-system-x86_64  qemu-system-x86
vm,interop,bridge,samba,main  file /bin/busybox        busybox-static
vm,interop,bridge,samba,main  cmd  cpio                cpio
vm,interop,bridge,samba,main  cmd  depmod              kmod
vm,interop,bridge,samba,main  cmd  rdma                iproute2
vm,interop,bridge,samba,main  lib  libgcc_s.so.1       libgcc-s1
vm,interop,bridge,samba,main  file /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so ibverbs-providers
vm,bridge,samba               cmd  valgrind            valgrind
interop,bridge,samba          cmd  smbd                samba
interop,bridge,samba          cmd  smbpasswd           samba-common-bin
interop,bridge,samba          smbmod vfs/xattr_tdb.so  samba-vfs-modules
interop,bridge,samba          cmd  smbclient           smbclient
interop,bridge,samba          cmd  smbtorture          samba-testsuite
interop,samba,main            cmd  mount.cifs          cifs-utils
interop,samba                 cmd  ss                  iproute2
bridge                        cmd  python3             python3
'

missing=0
# Read once: "ldconfig -p | grep -q" under pipefail failed now and then
# (grep -q stops early, ldconfig dies of SIGPIPE) and named a library
# missing that was there.
libs="$(ldconfig -p 2>/dev/null)"
for tier in "$@"; do
	case "$tier" in
	vm | interop | bridge | samba | main) ;;
	*) echo "check-guest-deps: unknown tier '$tier'" >&2; exit 2 ;;
	esac
	while read -r tiers kind what pkg; do
		[ -n "$tiers" ] || continue
		case ",$tiers," in *",$tier,"*) ;; *) continue ;; esac
		case "$kind" in
		cmd) command -v "$what" >/dev/null 2>&1 && continue ;;
		file) [ -e "$what" ] && continue ;;
		lib) grep -q "[[:space:]]$what " <<<"$libs" && continue ;;
		smbmod)
			dir="$(smbd -b 2>/dev/null | awk '$1 == "MODULESDIR:" {print $2}')"
			[ -n "$dir" ] && [ -e "$dir/$what" ] && continue
			what="smbd module ${dir:-<MODULESDIR>}/$what"
			;;
		esac
		echo "guest-deps: $tier tier needs $what (Debian package $pkg): missing"
		missing=1
	done <<<"$table"
done
exit $missing
