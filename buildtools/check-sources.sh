#!/bin/bash
# The library's source and header lists in CMakeLists.txt and wscript must
# be the same, and every lib/*.c must be in them.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

cmake_list() {
	sed -n "/^set($1\$/,/^)/p" "$here/CMakeLists.txt" | grep -E '^\s+\S' | awk '{print $1}' | sort
}
waf_list() {
	sed -n "/^$1 = '''/,/^'''/p" "$here/wscript" | grep -E '^\s+\S' | awk '{print $1}' | sort
}

diff -u <(cmake_list SMBDIRECT_SOURCES) <(waf_list SMBDIRECT_SOURCES)
diff -u <(cmake_list SMBDIRECT_RDMA_SOURCES) <(waf_list SMBDIRECT_RDMA_SOURCES)
diff -u <(cmake_list SMBDIRECT_PUBLIC_HEADERS) <(waf_list SMBDIRECT_PUBLIC_HEADERS)
diff -u <(cd "$here" && find lib -name '*.c' | sort) \
	<( (cmake_list SMBDIRECT_SOURCES; cmake_list SMBDIRECT_RDMA_SOURCES) | sort)
diff -u <(cd "$here" && ls include/*.h | sort) <(cmake_list SMBDIRECT_PUBLIC_HEADERS)
echo "source lists agree: $( (cmake_list SMBDIRECT_SOURCES; cmake_list SMBDIRECT_RDMA_SOURCES) | wc -l) sources, $(cmake_list SMBDIRECT_PUBLIC_HEADERS | wc -l) headers"
