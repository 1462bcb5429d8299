#!/usr/bin/env python3
# libsmbdirect built inside Samba's source tree with Samba's waf (wafsamba).
# The standalone build is CMakeLists.txt; the two source lists must match
# (buildtools/check-sources.sh, run by the test command, checks it).
# This file is exercised by the Samba tier.

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
    lib/rdma/listen.c
    lib/rdma/fork.c
    lib/rdma/accept.c
    lib/rdma/connect.c
'''

SMBDIRECT_PUBLIC_HEADERS = '''
    include/smbdirect.h
    include/smbdirect_wire.h
    include/smbdirect_engine.h
    include/smbdirect_rdma.h
'''


def configure(conf):
    conf.CHECK_HEADERS('infiniband/verbs.h rdma/rdma_cma.h')
    conf.CHECK_LIB('ibverbs rdmacm', shlib=True)


def build(bld):
    bld.SAMBA_LIBRARY('smbdirect',
                      source=SMBDIRECT_SOURCES + SMBDIRECT_RDMA_SOURCES,
                      includes='include lib/core lib/thread lib/rdma',
                      public_headers=SMBDIRECT_PUBLIC_HEADERS,
                      deps='talloc tevent ibverbs rdmacm pthread',
                      private_library=True)
