/*
 * libsmbdirect tests: a mock transport around one engine.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * It records every action the engine asks for (posted receives, sent
 * messages as bytes, deliveries, terminations), so a test can feed crafted
 * peer messages and check the engine's answers byte for byte.
 */
#ifndef SMBDIRECT_TEST_MOCK_H
#define SMBDIRECT_TEST_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smbdirect.h"

#define MOCK_MAX_SENT 4096
#define MOCK_MAX_DELIVERED 256
#define MOCK_MSG_MAX (1024 * 1024 + 64)

/* One message the engine sent, as wire bytes. */
struct mock_sent {
	uint8_t *bytes; /* header + payload, talloc'd off the mock */
	size_t length;
	struct smbdirect_engine_msg *msg;
	bool invalidate;           /* desc->invalidate */
	uint32_t invalidate_token; /* desc->invalidate_token */
};

struct mock {
	struct smbdirect_engine *engine;
	struct smbdirect_settings settings;
	uint64_t now;

	/* post_recv: how many to grant per call (-1: all asked). */
	int post_limit;
	/* post_recv returns this if non-zero (simulated failure). */
	int post_error;
	uint32_t posted_total;   /* receives posted so far */
	uint32_t post_calls;
	uint32_t last_buffer_size;

	/* send: fail with this errno if non-zero. */
	int send_error;
	struct mock_sent sent[MOCK_MAX_SENT];
	size_t sent_count;

	/* deliveries, concatenated copies */
	uint8_t *delivered[MOCK_MAX_DELIVERED];
	size_t delivered_length[MOCK_MAX_DELIVERED];
	const uint8_t *delivered_ptr[MOCK_MAX_DELIVERED];
	size_t delivered_count;

	struct smbdirect_engine_msg *done[MOCK_MAX_DELIVERED];
	size_t done_count;

	bool connected;
	struct smbdirect_params params;

	int terminated_count;
	enum smbdirect_reason reason;
	char detail[256];
};

/* Create a mock (talloc child of mem_ctx) with an engine of `role` and
 * `settings` (NULL: defaults). */
struct mock *mock_new(void *mem_ctx, enum smbdirect_role role,
		      const struct smbdirect_settings *settings);

/* Feed `len` bytes as a completed receive. */
void mock_recv(struct mock *m, const void *buf, size_t len);

/* Feed a negotiate request/response built from the struct. */
void mock_recv_negotiate_request(struct mock *m,
				 const struct smbdirect_negotiate_request *req);
void mock_recv_negotiate_response(
	struct mock *m, const struct smbdirect_negotiate_response *rsp);

/* Feed a data transfer message: header fields plus `data_length` payload
 * bytes from `data` (NULL: zeros). The message is DataOffset 24 if
 * data_length > 0, else 20 bytes. */
void mock_recv_data(struct mock *m, uint16_t credits_requested,
		    uint16_t credits_granted, uint16_t flags,
		    uint32_t remaining, const void *data, uint32_t data_length);

/* A valid negotiate request / response as a default peer would send. */
struct smbdirect_negotiate_request mock_default_request(void);
struct smbdirect_negotiate_response mock_default_response(void);

/* Bring the mock to CONNECTED with a default peer (responder: feed a
 * request; initiator: start and feed a response granting `peer_credits`). */
void mock_connect(struct mock *m, uint16_t peer_credits);

/* Decode the data header of sent message `i`. */
bool mock_sent_data(const struct mock *m, size_t i,
		    struct smbdirect_data_header *hdr);

/* Complete all outstanding sends. */
void mock_complete_all(struct mock *m);

/* Advance the clock by `ms` and handle expiry if due. */
void mock_advance(struct mock *m, uint64_t ms);

#endif
