#!/bin/bash
# smbd under valgrind memcheck, every process followed (the parent forks a
# child per connection); a log per process in $SG_OUT/vg.PID. Used by the
# samba tier's samba-valgrind test as SG_SMBD.
exec valgrind --tool=memcheck --trace-children=yes --child-silent-after-fork=no \
	--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
	--num-callers=30 --log-file="${SG_OUT:?}/vg.%p" \
	"${SAMBA_PREFIX:?}/sbin/smbd" "$@"
