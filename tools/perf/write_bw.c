/*
 * smbdirect-perf's write_bw: the client exposes its buffer for remote
 * write and the server RDMA-writes SIZE bytes into it -n times, -t at
 * once (an SMB2 READ's data path: the server pushes the file data into
 * the client's buffer). The server measures (rdma_bw.c).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "perf.h"

const struct perf_test_def perf_write_bw = {
	.test = TEST_WRITE_BW,
	.name = "write_bw",
	.title = "RDMA Write BW Test",
	.summary = "server RDMA-writes the client's exposed buffer, as for "
		   "SMB2 READ",
	PERF_RDMA_BW_TEST,
	.rdma_op = "write",
	.remote_write = true,
	.rdma_send = smbdirect_rdma_write_send,
};
