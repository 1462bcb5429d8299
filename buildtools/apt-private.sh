# shellcheck shell=bash
# A private apt state for downloads the machine's own apt is not set up
# for (bookworm-backports for ksmbd-tools, deb-src for Samba's source):
# sources, lists and caches of its own, from the same mirror the machine's
# apt already uses. /etc/apt is only read, never changed. Source it.

# debian_mirror: the URI of the Debian archive the machine's apt sources
# name for its own release (deb822 or one-line format alike: apt itself
# reads them), whatever host that is, a public or a local mirror. Fails
# with a message if there is none.
debian_mirror() {
	local codename uri
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	uri="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
		awk -v r="$codename" '$2 == r {print $1; exit}')"
	if [ -z "$uri" ]; then
		echo "apt-private: the machine's apt sources name no archive for '$codename'" >&2
		return 1
	fi
	echo "$uri"
}

# apt_private_init DIR TYPES SUITES...: a private apt state in DIR for the
# machine's mirror with TYPES ("deb", "deb-src" or "deb deb-src") and
# SUITES (main component). Sets the array apt_private (options for
# apt-get and apt-cache). Does not update the lists.
apt_private_init() {
	local dir=$1 types=$2 mirror
	shift 2
	mirror="$(debian_mirror)" || return 1
	mkdir -p "$dir/lists/partial" "$dir/parts" "$dir/archives/partial"
	: >"$dir/sources.list"
	cat >"$dir/parts/private.sources" <<EOT
Types: $types
URIs: $mirror
Suites: $*
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
	apt_private=(-o Dir::Etc::SourceList="$dir/sources.list"
		-o Dir::Etc::SourceParts="$dir/parts"
		-o Dir::State::Lists="$dir/lists"
		-o Dir::Cache::Archives="$dir/archives"
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
}
