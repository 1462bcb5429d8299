# shellcheck shell=bash
# A private apt state for downloads the machine's own apt is not set up
# for (bookworm-backports for ksmbd-tools, deb-src for Samba's source):
# sources, lists and caches of its own, from the same mirror(s) the
# machine's apt already uses. /etc/apt is only read, never changed. Source it.
#
# Functions:
#   debian_mirror                 the URI of the machine's archive for its release
#   debian_repos                  "URI SUITE" of each of the machine's Debian suites
#   apt_private_init DIR TYPES SUITES...
#                                 one mirror (debian_mirror), the SUITES given
#   apt_private_init_machine DIR TYPES
#                                 every mirror and suite of debian_repos
# Both init functions set the array apt_private (options for apt-get and
# apt-cache) and do not update the lists.

# debian_repos: one "URI SUITE" line for each suite of the machine's own
# Debian release that its apt sources name (deb822 or one-line format
# alike: apt itself reads them): RELEASE, RELEASE-updates,
# RELEASE-security, RELEASE-backports, each with the URI it comes from,
# whatever host that is, a public or a local mirror. Fails with a message
# if there is none.
debian_repos() {
	local codename repos
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	repos="$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(TARGET_OF)' 2>/dev/null |
		awk -v r="$codename" '$3 == "deb" && r != "" &&
			($2 == r || $2 == r "-updates" || $2 == r "-security" || $2 == r "-backports") &&
			!seen[$1 " " $2]++ {print $1, $2}')"
	if [ -z "$repos" ]; then
		echo "apt-private: the machine's apt sources name no archive for '$codename'" >&2
		return 1
	fi
	echo "$repos"
}

# debian_mirror: the URI of the Debian archive the machine's apt sources
# name for its own release (not -updates or -security).
debian_mirror() {
	local codename uri
	codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
	uri="$(debian_repos | awk -v r="$codename" '$2 == r {print $1; exit}')"
	if [ -z "$uri" ]; then
		echo "apt-private: the machine's apt sources name no archive for '$codename'" >&2
		return 1
	fi
	echo "$uri"
}

# _apt_private_dirs DIR: the directories and the options, with an empty
# sources.list (only DIR/parts/*.sources count).
_apt_private_dirs() {
	local dir=$1
	mkdir -p "$dir/lists/partial" "$dir/parts" "$dir/archives/partial"
	: >"$dir/sources.list"
	apt_private=(-o Dir::Etc::SourceList="$dir/sources.list"
		-o Dir::Etc::SourceParts="$dir/parts"
		-o Dir::State::Lists="$dir/lists"
		-o Dir::Cache::Archives="$dir/archives"
		-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
}

# apt_private_init DIR TYPES SUITES...: a private apt state in DIR for the
# machine's mirror with TYPES ("deb", "deb-src" or "deb deb-src") and
# SUITES (main component).
apt_private_init() {
	local dir=$1 types=$2 mirror
	shift 2
	mirror="$(debian_mirror)" || return 1
	_apt_private_dirs "$dir"
	cat >"$dir/parts/private.sources" <<EOT
Types: $types
URIs: $mirror
Suites: $*
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
}

# apt_private_init_machine DIR TYPES: a private apt state in DIR with
# TYPES for every mirror and suite the machine's own apt uses for its
# Debian release (debian_repos; main component), e.g. "deb deb-src" to
# add the source indexes the machine's apt has not got.
apt_private_init_machine() {
	local dir=$1 types=$2 repos
	repos="$(debian_repos)" || return 1
	_apt_private_dirs "$dir"
	echo "$repos" | awk -v t="$types" '{
		printf "Types: %s\nURIs: %s\nSuites: %s\nComponents: main\n", t, $1, $2
		printf "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
	}' >"$dir/parts/private.sources.new"
	mv "$dir/parts/private.sources.new" "$dir/parts/private.sources"
}
