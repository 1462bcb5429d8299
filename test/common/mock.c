/*
 * libsmbdirect tests: a mock transport around one engine.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdlib.h>
#include <string.h>

#include <talloc.h>

#include "mock.h"

static int mock_post_recv(void *priv, uint32_t count, uint32_t buffer_size)
{
	struct mock *m = priv;
	uint32_t n = count;

	m->post_calls += 1;
	m->last_buffer_size = buffer_size;
	if (m->post_error != 0) {
		return m->post_error;
	}
	if (m->post_limit >= 0 && n > (uint32_t)m->post_limit) {
		n = (uint32_t)m->post_limit;
	}
	m->posted_total += n;
	return (int)n;
}

static int mock_send(void *priv, const struct smbdirect_send_desc *desc)
{
	struct mock *m = priv;
	struct mock_sent *s;

	if (m->send_error != 0) {
		return m->send_error;
	}
	if (m->sent_count >= MOCK_MAX_SENT) {
		abort();
	}
	s = &m->sent[m->sent_count++];
	s->length = smbdirect_send_desc_length(desc);
	s->bytes = talloc_size(m, s->length > 0 ? s->length : 1);
	s->msg = desc->msg;
	s->invalidate = desc->invalidate;
	s->invalidate_token = desc->invalidate_token;
	if (smbdirect_send_desc_copy(desc, s->bytes, s->length) != s->length) {
		abort();
	}
	return 0;
}

static void mock_connected(void *priv, const struct smbdirect_params *params)
{
	struct mock *m = priv;

	m->connected = true;
	m->params = *params;
}

static void mock_deliver(void *priv, const uint8_t *data, size_t length)
{
	struct mock *m = priv;
	size_t i = m->delivered_count;

	if (i >= MOCK_MAX_DELIVERED) {
		abort();
	}
	m->delivered[i] = talloc_memdup(m, data, length);
	m->delivered_length[i] = length;
	m->delivered_ptr[i] = data;
	m->delivered_count += 1;
}

static void mock_send_done(void *priv, struct smbdirect_engine_msg *msg)
{
	struct mock *m = priv;

	if (m->done_count >= MOCK_MAX_DELIVERED) {
		abort();
	}
	m->done[m->done_count++] = msg;
}

static void mock_terminated(void *priv, enum smbdirect_reason reason,
			    const char *detail)
{
	struct mock *m = priv;

	m->terminated_count += 1;
	m->reason = reason;
	strncpy(m->detail, detail, sizeof(m->detail) - 1);
}

static const struct smbdirect_engine_callbacks mock_callbacks = {
	.post_recv = mock_post_recv,
	.send = mock_send,
	.connected = mock_connected,
	.deliver = mock_deliver,
	.send_done = mock_send_done,
	.terminated = mock_terminated,
};

struct mock *mock_new(void *mem_ctx, enum smbdirect_role role,
		      const struct smbdirect_settings *settings)
{
	struct mock *m = talloc_zero(mem_ctx, struct mock);

	if (m == NULL) {
		abort();
	}
	if (settings != NULL) {
		m->settings = *settings;
	} else {
		smbdirect_settings_default(&m->settings);
	}
	m->post_limit = -1;
	m->now = 1000000000ull;
	m->engine = smbdirect_engine_new(m, role, &m->settings,
					 &mock_callbacks, m);
	if (m->engine == NULL) {
		abort();
	}
	return m;
}

void mock_recv(struct mock *m, const void *buf, size_t len)
{
	/* Copy so the engine reads exactly `len` bytes of heap memory:
	 * ASan then catches any read past the message. */
	uint8_t *copy = talloc_memdup(m, buf, len > 0 ? len : 1);

	smbdirect_engine_on_recv(m->engine, m->now, copy, len);
	talloc_free(copy);
}

void mock_recv_negotiate_request(struct mock *m,
				 const struct smbdirect_negotiate_request *req)
{
	uint8_t buf[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];

	smbdirect_negotiate_request_encode(req, buf, sizeof(buf));
	mock_recv(m, buf, sizeof(buf));
}

void mock_recv_negotiate_response(
	struct mock *m, const struct smbdirect_negotiate_response *rsp)
{
	uint8_t buf[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];

	smbdirect_negotiate_response_encode(rsp, buf, sizeof(buf));
	mock_recv(m, buf, sizeof(buf));
}

void mock_recv_data(struct mock *m, uint16_t credits_requested,
		    uint16_t credits_granted, uint16_t flags,
		    uint32_t remaining, const void *data, uint32_t data_length)
{
	struct smbdirect_data_header hdr = {
		.credits_requested = credits_requested,
		.credits_granted = credits_granted,
		.flags = flags,
		.remaining_data_length = remaining,
		.data_offset = data_length > 0 ? SMBDIRECT_DATA_OFFSET : 0,
		.data_length = data_length,
	};
	size_t hlen;
	uint8_t *buf = talloc_zero_size(m, SMBDIRECT_DATA_OFFSET + data_length);

	hlen = smbdirect_data_header_encode(&hdr, buf,
					    SMBDIRECT_DATA_OFFSET + data_length);
	if (data != NULL && data_length > 0) {
		memcpy(buf + hlen, data, data_length);
	}
	smbdirect_engine_on_recv(m->engine, m->now, buf, hlen + data_length);
	talloc_free(buf);
}

struct smbdirect_negotiate_request mock_default_request(void)
{
	struct smbdirect_negotiate_request req = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.credits_requested = 255,
		.preferred_send_size = 1364,
		.max_receive_size = 1364,
		.max_fragmented_size = 1048576,
	};
	return req;
}

struct smbdirect_negotiate_response mock_default_response(void)
{
	struct smbdirect_negotiate_response rsp = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.negotiated_version = 0x0100,
		.credits_requested = 255,
		.credits_granted = 255,
		.status = 0,
		.max_read_write_size = 8388608,
		.preferred_send_size = 1364,
		.max_receive_size = 1364,
		.max_fragmented_size = 1048576,
	};
	return rsp;
}

void mock_connect(struct mock *m, uint16_t peer_credits)
{
	smbdirect_engine_start(m->engine, m->now);
	if (smbdirect_engine_params(m->engine) != NULL) {
		return;
	}
	/* The role decides what the peer sends. */
	if (m->sent_count == 0) {
		struct smbdirect_negotiate_request req = mock_default_request();

		req.credits_requested = peer_credits;
		mock_recv_negotiate_request(m, &req);
	} else {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		rsp.credits_granted = peer_credits;
		mock_recv_negotiate_response(m, &rsp);
	}
}

bool mock_sent_data(const struct mock *m, size_t i,
		    struct smbdirect_data_header *hdr)
{
	if (i >= m->sent_count) {
		return false;
	}
	return smbdirect_data_header_decode(m->sent[i].bytes, m->sent[i].length,
					    hdr) == SMBDIRECT_WIRE_OK;
}

void mock_complete_all(struct mock *m)
{
	struct smbdirect_engine_stats st;

	smbdirect_engine_get_stats(m->engine, &st);
	if (st.sends_outstanding > 0) {
		smbdirect_engine_on_send_complete(m->engine, m->now,
						  st.sends_outstanding);
	}
}

void mock_advance(struct mock *m, uint64_t ms)
{
	m->now += ms * 1000000ull;
	if (smbdirect_engine_get_expiry(m->engine) <= m->now) {
		smbdirect_engine_handle_expiry(m->engine, m->now);
	}
}
