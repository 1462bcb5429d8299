/*
 * smbdirect-perf's read_bw: the client exposes its buffer for remote read
 * and the server RDMA-reads SIZE bytes from it -n times, -t at once (an
 * SMB2 WRITE's data path: the server pulls the data from the client's
 * buffer). The server measures (rdma_bw.c).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "perf.h"

const struct perf_test_def perf_read_bw = {
	.test = TEST_READ_BW,
	.name = "read_bw",
	.title = "RDMA Read BW Test",
	.summary = "server RDMA-reads the client's exposed buffer, as for "
		   "SMB2 WRITE",
	PERF_RDMA_BW_TEST,
	.rdma_op = "read",
	.remote_write = false,
	.rdma_send = smbdirect_rdma_read_send,
};
