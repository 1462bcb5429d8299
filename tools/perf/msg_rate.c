/*
 * smbdirect-perf's msg_rate: send_bw (send_bw.c) with small messages,
 * 64 bytes by default (an SMB2 header), read as messages per second.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "perf.h"

const struct perf_test_def perf_msg_rate = {
	.test = TEST_MSG_RATE,
	.name = "msg_rate",
	.title = "Send Message Rate Test",
	.summary = "one-way stream of SMB-Direct messages",
	.default_size = 64,
	PERF_BW_DEFAULTS,
	.client_run = send_bw_client_run,
	.server_start = send_bw_server_start,
	.server_message = send_bw_server_message,
};
