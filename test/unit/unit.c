/*
 * libsmbdirect unit tests: helpers shared by the test_*.c files.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <talloc.h>

#include "unit.h"

int unit_setup(void **state)
{
	*state = talloc_new(NULL);
	return *state == NULL ? -1 : 0;
}

int unit_teardown(void **state)
{
	talloc_free(*state);
	return 0;
}

void assert_running(const struct mock *m)
{
	if (m->terminated_count != 0) {
		fail_msg("terminated unexpectedly: %s (%s)",
			 smbdirect_reason_string(m->reason), m->detail);
	}
	assert_int_not_equal(smbdirect_engine_state(m->engine),
			     SMBDIRECT_STATE_TERMINATED);
}

void assert_terminated(const struct mock *m, enum smbdirect_reason reason)
{
	if (m->terminated_count != 1 || m->reason != reason) {
		fail_msg("expected one termination with %s, got %d, last %s "
			 "(%s)",
			 smbdirect_reason_string(reason), m->terminated_count,
			 smbdirect_reason_string(m->reason), m->detail);
	}
	assert_int_equal(smbdirect_engine_state(m->engine),
			 SMBDIRECT_STATE_TERMINATED);
	assert_int_equal(smbdirect_engine_reason(m->engine), reason);
	/* The terminated callback explains itself. */
	assert_true(strlen(m->detail) > 0);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    SMBDIRECT_NO_EXPIRY);
}

struct smbdirect_engine_stats stats(const struct mock *m)
{
	struct smbdirect_engine_stats st;

	smbdirect_engine_get_stats(m->engine, &st);
	return st;
}

void clear_logs(struct mock *m)
{
	m->sent_count = 0;
	m->delivered_count = 0;
	m->done_count = 0;
}

struct mock *started(void *mem, enum smbdirect_role role,
		     const struct smbdirect_settings *s)
{
	struct mock *m = mock_new(mem, role, s);

	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	assert_running(m);
	return m;
}

struct peer_cfg peer_default(void)
{
	const struct smbdirect_negotiate_response rsp = mock_default_response();
	struct peer_cfg pc = {
		.requests = rsp.credits_requested,
		.grants = rsp.credits_granted,
		.flags = 0,
		.max_receive_size = rsp.max_receive_size,
		.preferred_send_size = rsp.preferred_send_size,
		.max_fragmented_size = rsp.max_fragmented_size,
	};
	return pc;
}

struct mock *ready_peer(void *mem, enum smbdirect_role role,
			const struct smbdirect_settings *s,
			const struct peer_cfg *pc)
{
	struct mock *m = mock_new(mem, role, s);

	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	mock_complete_all(m);
	if (role == SMBDIRECT_ROLE_INITIATOR) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		rsp.credits_requested = pc->requests;
		rsp.credits_granted = pc->grants;
		rsp.max_receive_size = pc->max_receive_size;
		rsp.preferred_send_size = pc->preferred_send_size;
		rsp.max_fragmented_size = pc->max_fragmented_size;
		mock_recv_negotiate_response(m, &rsp);
	} else {
		struct smbdirect_negotiate_request req = mock_default_request();

		req.credits_requested = pc->requests;
		req.max_receive_size = pc->max_receive_size;
		req.preferred_send_size = pc->preferred_send_size;
		req.max_fragmented_size = pc->max_fragmented_size;
		mock_recv_negotiate_request(m, &req);
		mock_complete_all(m);
		if (pc->grants > 0) {
			mock_recv_data(m, pc->requests, pc->grants, pc->flags,
				       0, NULL, 0);
		}
	}
	assert_running(m);
	assert_true(m->connected);
	mock_complete_all(m);
	clear_logs(m);
	return m;
}

struct mock *ready_credits(void *mem, enum smbdirect_role role,
			   const struct smbdirect_settings *s,
			   uint16_t requests, uint16_t grants)
{
	struct peer_cfg pc = peer_default();

	pc.requests = requests;
	pc.grants = grants;
	pc.flags = SMBDIRECT_FLAG_RESPONSE_REQUESTED;
	return ready_peer(mem, role, s, &pc);
}

void recv_default_negotiate(struct mock *m, enum smbdirect_role role)
{
	if (role == SMBDIRECT_ROLE_INITIATOR) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		mock_recv_negotiate_response(m, &rsp);
	} else {
		struct smbdirect_negotiate_request req = mock_default_request();

		mock_recv_negotiate_request(m, &req);
	}
}

struct smbdirect_data_header sent_hdr(const struct mock *m, size_t i)
{
	struct smbdirect_data_header hdr;

	assert_true(i < m->sent_count);
	assert_true(mock_sent_data(m, i, &hdr));
	return hdr;
}

void assert_sent_bytes(const struct mock *m, size_t i, const void *bytes,
		       size_t len)
{
	assert_true(i < m->sent_count);
	assert_int_equal(m->sent[i].length, len);
	assert_memory_equal(m->sent[i].bytes, bytes, len);
}

struct tmsg *tmsg_new(void *mem, size_t len, uint8_t fill)
{
	struct tmsg *t = talloc_zero(mem, struct tmsg);

	assert_non_null(t);
	t->data = talloc_size(t, len > 0 ? len : 1);
	assert_non_null(t->data);
	memset(t->data, fill, len);
	t->iov[0].iov_base = t->data;
	t->iov[0].iov_len = len;
	t->msg.iov = t->iov;
	t->msg.iov_count = 1;
	return t;
}

void put_data_header(uint8_t *b, uint16_t credits_requested,
		     uint16_t credits_granted, uint16_t flags,
		     uint16_t reserved, uint32_t remaining, uint32_t offset,
		     uint32_t length)
{
	const uint16_t half[4] = {credits_requested, credits_granted, flags,
				  reserved};
	const uint32_t word[3] = {remaining, offset, length};
	int i;
	int k;

	for (k = 0; k < 4; k++) {
		b[2 * k] = (uint8_t)half[k];
		b[2 * k + 1] = (uint8_t)(half[k] >> 8);
	}
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 4; i++) {
			b[8 + 4 * k + i] = (uint8_t)(word[k] >> (8 * i));
		}
	}
}

static int idle_post_recv(void *p, uint32_t count, uint32_t size)
{
	(void)p;
	(void)size;
	return (int)count;
}

static int idle_send(void *p, const struct smbdirect_send_desc *d)
{
	(void)p;
	(void)d;
	return 0;
}

static void idle_connected(void *p, const struct smbdirect_params *params)
{
	(void)p;
	(void)params;
}

void idle_deliver(void *p, const uint8_t *data, size_t length)
{
	(void)p;
	(void)data;
	(void)length;
}

void idle_send_done(void *p, struct smbdirect_engine_msg *msg)
{
	(void)p;
	(void)msg;
}

static void idle_terminated(void *p, enum smbdirect_reason r, const char *d)
{
	(void)p;
	(void)r;
	(void)d;
}

const struct smbdirect_engine_callbacks idle_callbacks = {
	.post_recv = idle_post_recv,
	.send = idle_send,
	.connected = idle_connected,
	.deliver = idle_deliver,
	.send_done = idle_send_done,
	.terminated = idle_terminated,
};
