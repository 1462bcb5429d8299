#!/usr/bin/env python3
# libsmbdirect built inside Samba's source tree with Samba's waf (wafsamba).
# The standalone build is CMakeLists.txt; the two source lists must match
# (buildtools/check-sources.sh, run by the test command, checks it).
# This file is exercised by the Samba tier.

SMBDIRECT_SOURCES = '''
    lib/settings.c
    lib/wire.c
    lib/engine.c
    lib/send_desc.c
'''

SMBDIRECT_RDMA_SOURCES = '''
    lib/rdma_conn.c
    lib/rdma_connect.c
    lib/rdma_listen.c
    lib/rdma_mem.c
    lib/rdma_thread.c
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
                      includes='include lib',
                      public_headers=SMBDIRECT_PUBLIC_HEADERS,
                      deps='talloc tevent ibverbs rdmacm pthread',
                      private_library=True)
