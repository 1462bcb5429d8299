#!/bin/bash
# smbd under valgrind memcheck, every process followed (the parent forks a
# child per connection); a log per process in $SG_OUT/vg.PID. Used by the
# samba tier's samba-valgrind test as SG_SMBD. smbd-valgrind.supp (staged
# beside it) holds the one leak of stock Samba it reports.
exec valgrind --tool=memcheck --trace-children=yes --child-silent-after-fork=no \
	--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	--num-callers=30 --suppressions="$(dirname "$0")/smbd-valgrind.supp" --log-file="${SG_OUT:?}/vg.%p" \
	"${SAMBA_PREFIX:?}/sbin/smbd" "$@"
