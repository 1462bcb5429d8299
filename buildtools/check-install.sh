#!/bin/bash
# Install libsmbdirect into a staging prefix and build a small program
# against it through pkg-config: checks the install target, the versioned
# soname, smbdirect.pc, that the public headers stand alone, and that the
# programs installed are the tools and nothing else (the benchmarks are
# test code, test/bench).
# Usage: bash buildtools/check-install.sh WORKDIR
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
work="${1:?usage: check-install.sh WORKDIR}"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

cmake -S "$here" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" >"$work/configure.log"
cmake --build "$work/build" -j"$(nproc)" >"$work/build.log"
cmake --install "$work/build" >"$work/install.log"

programs="$(find "$prefix/bin" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')"
[ "$programs" = "smbdirect-bridge smbdirect-perf smbdirect-torture " ] ||
	{ echo "unexpected programs in bin/: $programs"; exit 1; }

libdir="$(dirname "$(find "$prefix" -name smbdirect.pc | head -1)")/.."
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists smbdirect
soname="$(objdump -p "$libdir/libsmbdirect.so" | awk '/SONAME/ {print $2}')"
[ "$soname" = "libsmbdirect.so.0" ] || { echo "bad soname $soname"; exit 1; }

# Every exported symbol is public API (smbdirect_*).
bad="$(nm -D --defined-only "$libdir/libsmbdirect.so" | awk '{print $3}' |
	grep -v -E '^(smbdirect_|SMBDIRECT_)' || true)"
[ -z "$bad" ] || { echo "unexpected exports: $bad"; exit 1; }

cat >"$work/consumer.c" <<'C'
#include <smbdirect.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	struct smbdirect_settings s;
	const char *why = NULL;

	smbdirect_settings_default(&s);
	if (!smbdirect_settings_validate(&s, &why)) {
		return 1;
	}
	char expect[32];

	snprintf(expect, sizeof(expect), "%d.%d.%d", SMBDIRECT_VERSION_MAJOR,
		 SMBDIRECT_VERSION_MINOR, SMBDIRECT_VERSION_PATCH);
	if (strcmp(smbdirect_version_string(), expect) != 0) {
		return 2;
	}
	printf("libsmbdirect %s: %s\n", smbdirect_version_string(),
	       smbdirect_reason_string(SMBDIRECT_REASON_KEEPALIVE_TIMEOUT));
	return 0;
}
C
cc -std=c11 -Wall -Wextra -Werror "$work/consumer.c" -o "$work/consumer" \
	$(pkg-config --cflags --libs smbdirect)
LD_LIBRARY_PATH="$libdir" "$work/consumer"
