#!/bin/bash
# Build Samba's smbd from Debian's own Samba source, patched with the
# project's series (module/patches/series) and with libsmbdirect built
# inside Samba's tree by Samba's waf (the project's wscript, lib/ and
# include/ copied to third_party/libsmbdirect), and install it into a
# prefix under the cache directory.
#
#  1. source: `apt-get source samba` (the version of the installed samba
#     package, else the newest) through a private apt state (deb and
#     deb-src for the mirrors and suites the machine's apt uses:
#     buildtools/apt-private.sh; /etc/apt is only read); the .dsc and
#     tarballs are kept, a second run downloads nothing;
#  2. build dependencies: `apt-get build-dep` of that .dsc through the same
#     private state (installs on the host; never ksmbd-tools);
#  3. tree: Debian's tree unpacked (dpkg-source -x), the project's patches
#     applied in series order (patch -p1), libsmbdirect copied in;
#  4. configure: smbd only (options below), CFLAGS -O2 (SAMBA_CFLAGS);
#  5. build and install: one `waf install` of the targets below only
#     (waf-install-targets.py), staged, then moved into the prefix; checks
#     (ldd, smbd -b, the modules, libsmbdirect's links).
#
# Usage: bash buildtools/samba/build.sh    (as root, Debian 12)
# Environment:
#   SMBDIRECT_CACHE  cache directory (default /var/cache/libsmbdirect)
#   SAMBA_CFLAGS     compiler flags (default -O2); part of the key
#   SAMBA_JOBS       parallel jobs for waf (default: nproc)
#   SAMBA_FULL=1     build and install all of Samba's configured targets,
#                    not only those below; part of the key
# Output: the install prefix on stdout ($SMBDIRECT_CACHE/samba/prefix,
#   with sbin/smbd, bin/{testparm,smbpasswd,pdbedit,smbcontrol,smbstatus,
#   smbclient,smbtorture3},
#   libexec/samba/{samba-dcerpcd,rpcd_*}, lib/vfs/*.so,
#   lib/private/libsmbdirect-samba4.so.0, BUILDINFO); messages
#   prefixed "samba-build:" on stderr. Exit status non-zero with one line
#   "samba-build: ERROR: ..." when a step fails (with the tail of its log).
#
# Cache ($SMBDIRECT_CACHE/samba/):
#   apt/          private apt state (sources, lists, archives)
#   src/          the downloaded .dsc, .orig and .debian tarballs
#   tree/         the unpacked, patched tree with waf's build output (bin/);
#                 reused: waf rebuilds only what changed
#   tree/.smbdirect/  what the tree holds: source version, applied patches
#   prefix/       the installed Samba; prefix/.key is the key it was built for
#   logs/         one log per step of the last run
# Key: source version, patch series (names and contents), configure
# options and CFLAGS, targets, this script and waf-install-targets.py, and
# libsmbdirect (wscript, lib/, include/). An unchanged key reuses the
# prefix at once; otherwise the tree is reused where it can be (a new
# source version unpacks a new one) and waf builds incrementally.
# One build at a time (flock on $SMBDIRECT_CACHE/samba/.lock).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
cache="${SMBDIRECT_CACHE:-/var/cache/libsmbdirect}"
sc="$cache/samba"
prefix="$sc/prefix"
cflags="${SAMBA_CFLAGS:--O2}"
jobs="${SAMBA_JOBS:-$(nproc)}"
full="${SAMBA_FULL:-0}"
export DEBIAN_FRONTEND=noninteractive
apt_get=(apt-get -o DPkg::Lock::Timeout=600)

# smbd only: no AD DC (so no python, no kerberos or LDAP servers), no ADS
# membership, no printing, no winbind, no PAM, no SMB1, no optional
# extras. (--without-ldap fails in Debian's tree: its standalone ldb has
# already taken libldap as a system library; smbd links it, unused.) The paths
# under the prefix are only defaults: a test's smb.conf sets its own
# (the guest sees the prefix read-only).
configure_opts=(
	--prefix="$prefix"
	--with-smbdirect
	--without-ad-dc
	--with-system-mitkrb5
	--disable-python
	--without-json
	--without-ads
	--without-winbind
	--disable-cups
	--disable-iprint
	--without-pam
	--without-quotas
	--without-utmp
	--disable-avahi
	--without-automount
	--without-dmapi
	--without-fam
	--without-libarchive
	--without-regedit
	--without-systemd
	--without-lttng
	--disable-glusterfs
	--disable-cephfs
	--disable-spotlight
	--without-gpgme
	--without-smb1-server
)
# What an smbd test needs (waf target names); libsmbdirect is 'smbdirect'.
# smbd starts samba-dcerpcd (libexec/) on demand for named pipes: srvsvc
# (share listing, `smbclient -L`) is in rpcd_classic, lsarpc in
# rpcd_lsad, the endpoint mapper in rpcd_epmapper; rpcd_classic needs
# rpcd_winreg (svcctl reads the registry).
targets=(
	smbd/smbd testparm smbpasswd pdbedit smbcontrol smbstatus
	samba-dcerpcd rpcd_classic rpcd_lsad rpcd_epmapper rpcd_winreg
	vfs_xattr_tdb vfs_acl_xattr vfs_acl_tdb vfs_streams_xattr
	smbdirect client/smbclient smbtorture3
)
# Host tools and libraries the build needs besides Samba's build-deps.
# libkrb5-dev: Kerberos from MIT's system libraries instead of compiling
# Samba's embedded Heimdal (which was 40% of the compiles of a build).
host_packages=(build-essential dpkg-dev patch python3 libibverbs-dev librdmacm-dev
	libtalloc-dev libtevent-dev libkrb5-dev)

say() { echo "samba-build: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }
[ "$(id -u)" -eq 0 ] || die "run as root (it installs Samba's build dependencies)"

# Steps run with Debian's own python and tools, not whatever PATH has first
# (a pyenv shim, /usr/local).
sys_path=/usr/sbin:/usr/bin:/sbin:/bin
waf() {
	env -u LD_PRELOAD PATH="$sys_path" PYTHONHASHSEED=1 PYTHON=/usr/bin/python3 \
		CFLAGS="$cflags" /usr/bin/python3 ./buildtools/bin/waf "$@"
}

# run_logged NAME CMD...: run CMD with its output in logs/NAME.log; on
# failure show the log's tail and fail. Records the step's seconds.
declare -A took=()
run_logged() {
	local name=$1 t0 rc=0
	shift
	t0=$(date +%s)
	"$@" >"$sc/logs/$name.log" 2>&1 || rc=$?
	took[$name]=$(($(date +%s) - t0))
	echo "$(date -u +%FT%TZ) $name ${took[$name]} s exit $rc load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$sc/logs/times.log"
	if [ $rc -ne 0 ]; then
		tail -n 40 "$sc/logs/$name.log" >&2
		die "$name failed (exit $rc, after ${took[$name]} s; log $sc/logs/$name.log)"
	fi
	say "$name: ${took[$name]} s"
}

mkdir -p "$sc/logs" "$sc/src"
exec 9>"$sc/.lock"
flock -w 3600 9 || die "another build.sh holds $sc/.lock for an hour"

# --- the key ------------------------------------------------------------------
series="$top/module/patches/series"
[ -f "$series" ] || die "no $series"
# The series: one patch name a line; '#' comments and blank lines ignored.
mapfile -t patches < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$series" | grep -v '^$' || true)
for p in "${patches[@]}"; do
	[ -f "$top/module/patches/$p" ] || die "series names $p, which is not in module/patches/"
done
# hash_tree DIR PATHS...: one hash of the names and contents of PATHS.
hash_tree() {
	(cd "$1" && shift && find "$@" -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum) | sha256sum | cut -c1-16
}
libhash="$(hash_tree "$top" wscript lib include module/smb2_smbdirect.c module/smb2_smbdirect.h \
	module/smbdirect_client.c module/smbdirect_client.h)"
patchhash="$( (printf '%s\n' "${patches[@]}"
	for p in "${patches[@]}"; do cat "$top/module/patches/$p"; done) | sha256sum | cut -c1-16)"
scripthash="$(hash_tree "$here" build.sh waf-install-targets.py)"
[ "$full" = 1 ] && targets_key=ALL || targets_key="${targets[*]}"
confhash="$(printf '%s\n' "${configure_opts[@]}" "CFLAGS=$cflags" | sha256sum | cut -c1-16)"

# --- 1. the source version and its files -------------------------------------
# shellcheck source=buildtools/apt-private.sh
. "$here/../apt-private.sh"
apt_ready=0
# apt_private_ready: the private apt state, lists updated once a day.
apt_private_ready() {
	[ $apt_ready = 0 ] || return 0
	apt_private_init_machine "$sc/apt" "deb deb-src" ||
		die "no Debian mirror in the machine's apt sources"
	if [ -z "$(find "$sc/apt/lists" -maxdepth 1 -name '*_Sources*' -mmin -1440 2>/dev/null)" ]; then
		say "apt-get update (private state in $sc/apt: deb and deb-src of $(debian_repos | awk '{printf "%s ", $2}'))"
		"${apt_get[@]}" "${apt_private[@]}" update -q >"$sc/logs/apt-update.log" 2>&1 || {
			tail -n 20 "$sc/logs/apt-update.log" >&2
			die "apt-get update of the private state failed"
		}
	fi
	apt_ready=1
}
# dsc_of VERSION: the .dsc file name (no epoch).
dsc_of() { echo "$sc/src/samba_${1#*:}.dsc"; }
# src_ok VERSION: the .dsc and every file it lists are there and intact.
src_ok() {
	local dsc
	dsc="$(dsc_of "$1")"
	[ -f "$dsc" ] || return 1
	awk '/^Checksums-Sha256:/ {f = 1; next} /^[^ ]/ {f = 0} f && NF == 3 {print $1 "  " $3}' "$dsc" |
		(cd "$sc/src" && sha256sum -c --quiet --status -)
}

installed="$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}' samba 2>/dev/null || true)"
want=
[ "${installed%%|*}" != "ii " ] || want="${installed#*|}"
if [ -n "$want" ] && src_ok "$want"; then
	version="$want"
else
	apt_private_ready
	avail="$(apt-cache "${apt_private[@]}" showsrc samba | awk '/^Package: / {p = $2} /^Version: / && p == "samba" {print $2}')"
	[ -n "$avail" ] || die "no samba source package in the private apt lists ($sc/apt)"
	if [ -n "$want" ] && grep -qxF "$want" <<<"$avail"; then
		version="$want"
	else
		version=
		while read -r v; do
			if [ -z "$version" ] || dpkg --compare-versions "$v" gt "$version"; then version=$v; fi
		done <<<"$avail"
		[ -z "$want" ] || say "warning: installed samba is $want, whose source the archive has not got; using $version"
	fi
fi
key="$(printf '%s\n' "$version" "$patchhash" "$confhash" "$targets_key" "$scripthash" "$libhash" |
	sha256sum | cut -c1-16)"

# Fast path: installed for exactly this key, and its libraries resolve.
if [ "$(cat "$prefix/.key" 2>/dev/null || true)" = "$key" ] && [ -x "$prefix/sbin/smbd" ] &&
	! grep -q "not found" <<<"$(ldd "$prefix/sbin/smbd" 2>&1)"; then
	say "up to date ($version, key $key)"
	echo "$prefix"
	exit 0
fi
say "building samba $version (key $key)"

if ! src_ok "$version"; then
	apt_private_ready
	# apt downloads as _apt: give it the directory.
	chown _apt "$sc/src" 2>/dev/null || true
	run_logged download \
		bash -c 'cd "$1" && shift && "$@"' _ "$sc/src" \
		"${apt_get[@]}" "${apt_private[@]}" source --download-only -q "samba=$version"
	src_ok "$version" || die "apt-get source left no intact samba $version in $sc/src"
fi
dsc="$(dsc_of "$version")"

# --- 2. build dependencies -----------------------------------------------------
# apt_ensure PKG...: install those not installed (private apt state).
apt_ensure() {
	local want=() p
	for p in "$@"; do
		[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" = "ii " ] ||
			want+=("$p")
	done
	[ ${#want[@]} -gt 0 ] || return 0
	apt_private_ready
	run_logged host-packages "${apt_get[@]}" "${apt_private[@]}" install -y -q \
		--no-install-recommends "${want[@]}"
}
apt_ensure "${host_packages[@]}"

# Their services (if any) are not started by the install.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
builddeps_ok() {
	local d
	d="$(mktemp -d)"
	# dpkg-checkbuilddeps reads debian/control only.
	tar -C "$d" -xJf "$sc/src/$(awk '/^Files:/ {f = 1; next} /^[^ ]/ {f = 0}
		f && $3 ~ /debian\.tar/ {print $3}' "$dsc")" debian/control
	local rc=0
	(cd "$d" && dpkg-checkbuilddeps >/dev/null 2>&1) || rc=1
	rm -rf "$d"
	return $rc
}
if ! builddeps_ok; then
	apt_private_ready
	plan="$("${apt_get[@]}" "${apt_private[@]}" build-dep -s -q --no-install-recommends "$dsc" 2>&1)" ||
		{ echo "$plan" | tail -n 20 >&2; die "apt-get build-dep -s $dsc failed"; }
	if grep -q '^Inst ksmbd-tools ' <<<"$plan"; then
		die "apt-get build-dep would install ksmbd-tools, which conflicts with samba"
	fi
	say "apt-get build-dep: $(grep -c '^Inst ' <<<"$plan" || true) packages"
	run_logged build-dep "${apt_get[@]}" "${apt_private[@]}" build-dep -y -q \
		--no-install-recommends "$dsc"
	builddeps_ok || die "build dependencies still unmet after apt-get build-dep (log $sc/logs/build-dep.log)"
fi

# --- 3. the tree: unpacked, patched, libsmbdirect in third_party/ --------------
tree="$sc/tree"
state="$tree/.smbdirect"
if [ "$(cat "$state/source" 2>/dev/null || true)" != "$version" ] || [ -e "$state/dirty" ]; then
	say "unpacking samba $version into $tree"
	rm -rf "$tree" "$tree.new"
	run_logged unpack dpkg-source --no-copy -x "$dsc" "$tree.new"
	mkdir -p "$tree.new/.smbdirect/applied"
	: >"$tree.new/.smbdirect/applied/series"
	echo "$version" >"$tree.new/.smbdirect/source"
	mv "$tree.new" "$tree"
fi

# The series the tree holds (state/applied: copies of the applied patches
# and their order) against the one wanted: reverse what differs from the
# first difference on, apply the rest. A patch that does not reverse
# cleanly means the tree is not what the record says: start again.
mapfile -t applied <"$state/applied/series"
same=0
while [ $same -lt ${#applied[@]} ] && [ $same -lt ${#patches[@]} ] &&
	[ "${applied[$same]}" = "${patches[$same]}" ] &&
	cmp -s "$state/applied/${applied[$same]}" "$top/module/patches/${patches[$same]}"; do
	same=$((same + 1))
done
for ((i = ${#applied[@]} - 1; i >= same; i--)); do
	p="${applied[$i]}"
	say "reversing $p"
	touch "$state/dirty"
	patch -d "$tree" -p1 -R -s -f --no-backup-if-mismatch <"$state/applied/$p" >"$sc/logs/patch.log" 2>&1 ||
		die "the tree's $p does not reverse (log $sc/logs/patch.log); the next run unpacks anew"
	rm -f "$state/applied/$p"
	head -n "$i" "$state/applied/series" >"$state/applied/series.new"
	mv "$state/applied/series.new" "$state/applied/series"
	rm -f "$state/dirty"
done
for ((i = same; i < ${#patches[@]}; i++)); do
	p="${patches[$i]}"
	say "applying $p"
	if ! patch -d "$tree" -p1 -s -f --dry-run <"$top/module/patches/$p" >"$sc/logs/patch.log" 2>&1; then
		cat "$sc/logs/patch.log" >&2
		die "patch $p does not apply to samba $version"
	fi
	touch "$state/dirty"
	patch -d "$tree" -p1 -s -f --no-backup-if-mismatch <"$top/module/patches/$p" >"$sc/logs/patch.log" 2>&1 ||
		die "patch $p failed after a clean dry run (log $sc/logs/patch.log)"
	cp "$top/module/patches/$p" "$state/applied/$p"
	echo "$p" >>"$state/applied/series"
	rm -f "$state/dirty"
done

# libsmbdirect: the project's wscript, lib/ and include/ as they are.
lsd="$tree/third_party/libsmbdirect"
rm -rf "$lsd"
mkdir -p "$lsd"
cp -a "$top/wscript" "$top/lib" "$top/include" "$lsd/"
# smbd's glue to it (the series builds source3/smbd/smb2_smbdirect.c).
cp -a "$top/module/smb2_smbdirect.c" "$top/module/smb2_smbdirect.h" \
	"$tree/source3/smbd/"
# The client's (the series builds libcli/smb/smbdirect_client.c).
cp -a "$top/module/smbdirect_client.c" "$top/module/smbdirect_client.h" \
	"$tree/libcli/smb/"

# --- 4. configure ----------------------------------------------------------------
# Again when the options, the series or the library's wscript changed.
confkey="$(printf '%s\n' "$version" "$confhash" "$patchhash" | cat - "$top/wscript" |
	sha256sum | cut -c1-16)"
cd "$tree"
if [ "$(cat "$state/configured" 2>/dev/null || true)" != "$confkey" ] ||
	[ ! -f bin/c4che/default_cache.py ]; then
	rm -f "$state/configured"
	say "configure: ${configure_opts[*]} CFLAGS=$cflags"
	run_logged configure waf -j1 configure "${configure_opts[@]}"
	echo "$confkey" >"$state/configured"
fi
# The flags reach waf's environment ...
grep -q "^CFLAGS = .*'${cflags%% *}'" bin/c4che/default_cache.py ||
	die "configure did not keep CFLAGS='$cflags' (bin/c4che/default_cache.py: $(grep '^CFLAGS' bin/c4che/default_cache.py))"
grep -q "^SMBDIRECT_ENABLED = True" bin/c4che/default_cache.py ||
	die "configure did not enable libsmbdirect (log $sc/logs/configure.log)"

# --- 5. build and install ----------------------------------------------------------
# One `waf install` builds and installs: a `waf build` before it would be
# redone in part, as Samba's install mode compiles some objects
# (dynconfig, ...) with other flags than its build mode, and the next
# build would redo them again.
tlist=()
[ "$full" = 1 ] || tlist=(--targets="$(IFS=,; echo "${targets[*]}")")
stage="$sc/stage"
rm -rf "$stage"
say "waf install -j$jobs ${tlist[*]:-(everything)} (log $sc/logs/build.log)"
# A targeted `waf install` installs nothing of its targets (see
# waf-install-targets.py); the helper makes it install them and what they
# link. Without targets it is Samba's waf as it is. -v logs every command.
run_logged build env -u LD_PRELOAD PATH="$sys_path" PYTHONHASHSEED=1 \
	PYTHON=/usr/bin/python3 CFLAGS="$cflags" /usr/bin/python3 "$here/waf-install-targets.py" \
	install -v -j"$jobs" "${tlist[@]}" --destdir="$stage"
# ... and the flags reach the compiler.
# (Only when this run compiled it: an incremental build may not.)
ecc="$(grep "'../../third_party/libsmbdirect/lib/core/engine\.c'" "$sc/logs/build.log" || true)"
if [ -n "$ecc" ]; then
	grep -q -- "'${cflags%% *}'" <<<"$ecc" ||
		die "the compile of libsmbdirect's engine.c did not get $cflags (log $sc/logs/build.log)"
fi
# The time spent compiling and linking (up to waf's last command) and
# copying (the rest).
last="$(grep -oE '^[0-9]{2}:[0-9]{2}:[0-9]{2} runner' "$sc/logs/build.log" | tail -n 1 | cut -d' ' -f1 || true)"
if [ -n "$last" ]; then
	end="$(date -r "$sc/logs/build.log" +%s)"
	lastsec="$(date -d "$(date -r "$sc/logs/build.log" +%F) $last" +%s)"
	[ "$lastsec" -le "$end" ] || lastsec=$((lastsec - 86400))
	took[copy]=$((end - lastsec))
	took[compile]=$((took[build] - took[copy]))
fi
[ -x "$stage$prefix/sbin/smbd" ] || die "waf install left no $stage$prefix/sbin/smbd"
rm -rf "$prefix.old"
[ ! -e "$prefix" ] || mv "$prefix" "$prefix.old"
mv "$stage$prefix" "$prefix"
rm -rf "$prefix.old" "$stage"

# --- checks --------------------------------------------------------------------------
for b in sbin/smbd bin/testparm bin/smbpasswd bin/pdbedit bin/smbcontrol bin/smbstatus bin/smbclient bin/smbtorture3; do
	[ -x "$prefix/$b" ] || die "$prefix/$b was not installed"
	# (grep reads all of the output: with pipefail, grep -q after a pipe
	# could end the writer with SIGPIPE and fail the test.)
	deps="$(ldd "$prefix/$b" 2>&1)"
	if grep -q "not found" <<<"$deps"; then
		die "$b misses libraries: $(grep 'not found' <<<"$deps" | tr -d '\t' | tr '\n' ' ')"
	fi
	# Its own private libraries, not Debian's (/usr/lib/*/samba).
	if grep -q "/usr/lib/x86_64-linux-gnu/samba/" <<<"$deps"; then
		die "$b resolves Debian's private Samba libraries instead of $prefix/lib/private"
	fi
done
for b in libexec/samba/samba-dcerpcd libexec/samba/rpcd_classic; do
	[ -x "$prefix/$b" ] || die "$prefix/$b was not installed"
done
for m in xattr_tdb acl_xattr; do
	[ -f "$prefix/lib/vfs/$m.so" ] || die "no vfs module $prefix/lib/vfs/$m.so"
done
lib="$prefix/lib/private/libsmbdirect-samba4.so.0"
[ -f "$lib" ] || die "libsmbdirect was not installed as $lib"
needed="$(objdump -p "$lib" | awk '$1 == "NEEDED" {print $2}' | sort | tr '\n' ' ')"
for n in $needed; do
	case "$n" in
	libtalloc.so.* | libtevent.so.* | libibverbs.so.* | librdmacm.so.* | libpthread.so.* | libc.so.*) ;;
	*) die "libsmbdirect links $n (only talloc, tevent, ibverbs, rdmacm, pthread allowed)" ;;
	esac
done
grep -q "SBINDIR: $prefix/sbin\$" <<<"$("$prefix/sbin/smbd" -b)" ||
	die "smbd -b does not show SBINDIR $prefix/sbin"

{
	echo "samba $version, key $key, built $(date -u +%FT%TZ)"
	echo "patches: ${patches[*]}"
	echo "configure: ${configure_opts[*]}"
	echo "CFLAGS: $cflags"
	echo "targets: $targets_key"
	echo "libsmbdirect: $libhash ($(basename "$lib"), NEEDED $needed)"
	for s in download host-packages build-dep unpack configure build compile copy; do
		[ -z "${took[$s]:-}" ] || echo "took.$s ${took[$s]} s"
	done
} >"$prefix/BUILDINFO"
echo "$key" >"$prefix/.key"
say "ok: $(for s in download host-packages build-dep unpack configure build compile copy; do
	[ -z "${took[$s]:-}" ] || printf '%s %ss, ' "$s" "${took[$s]}"; done)prefix $prefix"
echo "$prefix"
