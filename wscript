#!/usr/bin/env python3
# libsmbdirect built inside Samba's source tree with Samba's waf (wafsamba),
# as a private library of Samba (libsmbdirect-samba4.so in lib/private).
# The standalone build is CMakeLists.txt; the two source lists must match
# (buildtools/check-sources.sh, run by the test command, checks it).
#
# Samba's top-level wscript recurses here (third_party/libsmbdirect) with
# the patch module/patches/0001-build-libsmbdirect-in-tree.patch, which
# adds --with-smbdirect/--without-smbdirect (default: when libibverbs and
# librdmacm are found). buildtools/samba/build.sh copies this file, lib/
# and include/ there and builds it; this file is exercised by that build.

# The sans-I/O protocol core: links nothing but talloc.
SMBDIRECT_SOURCES = '''
    lib/core/settings.c
    lib/core/wire.c
    lib/core/engine.c
    lib/core/send_desc.c
'''

# Where RDMA calls run, and the RDMA binding (rdma_cm + verbs on tevent).
SMBDIRECT_RDMA_SOURCES = '''
    lib/thread/rdma_thread.c
    lib/rdma/util.c
    lib/rdma/end.c
    lib/rdma/post.c
    lib/rdma/timer.c
    lib/rdma/verbs.c
    lib/rdma/memory.c
    lib/rdma/rdma_io.c
    lib/rdma/messages.c
    lib/rdma/transport.c
    lib/rdma/completion.c
    lib/rdma/cm.c
    lib/rdma/conn.c
    lib/rdma/proxy.c
    lib/rdma/half_open.c
    lib/rdma/listen.c
    lib/rdma/fork.c
    lib/rdma/accept.c
    lib/rdma/connect.c
    lib/rdma/relay_io.c
    lib/rdma/relay.c
    lib/rdma/remote.c
'''

# Installed by the standalone build only: Samba does not allow public
# headers on a private library. Its own code includes them from
# third_party/libsmbdirect/include (the 'smbdirect' target's includes).
SMBDIRECT_PUBLIC_HEADERS = '''
    include/smbdirect.h
    include/smbdirect_wire.h
    include/smbdirect_engine.h
    include/smbdirect_rdma.h
    include/smbdirect_relay.h
'''


def configure(conf):
    '''Find rdma-core. Sets SMBDIRECT_ENABLED and HAVE_LIBSMBDIRECT when
    libibverbs and librdmacm (headers and shared libraries) are there.'''
    headers = conf.CHECK_HEADERS('infiniband/verbs.h rdma/rdma_cma.h')
    libs = conf.CHECK_LIB('ibverbs rdmacm', shlib=True)
    if headers and sorted(libs) == ['ibverbs', 'rdmacm']:
        conf.env.SMBDIRECT_ENABLED = True
        conf.DEFINE('HAVE_LIBSMBDIRECT', 1)
    else:
        conf.env.SMBDIRECT_ENABLED = False


def build(bld):
    if not bld.env.SMBDIRECT_ENABLED:
        return
    # Links what CMakeLists.txt links: talloc, tevent, ibverbs, rdmacm,
    # pthread. Exports what lib/smbdirect.map exports (smbdirect_*), with
    # Samba's private symbol version. _GNU_SOURCE as in CMakeLists.txt.
    bld.SAMBA_LIBRARY('smbdirect',
                      source=SMBDIRECT_SOURCES + SMBDIRECT_RDMA_SOURCES,
                      includes='include lib/core lib/thread lib/rdma',
                      cflags='-D_GNU_SOURCE',
                      deps='talloc tevent ibverbs rdmacm pthread',
                      abi_match='smbdirect_*',
                      private_library=True)
