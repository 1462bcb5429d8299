/*
 * libsmbdirect unit tests: connection set-up and negotiation, both roles.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.4.1 and 3.1.7.2 (the negotiate-related steps), 3.1.5.2
 * (negotiate request), 3.1.5.3 (negotiate response), 3.1.5.6 (responder
 * receives the request), 3.1.5.7 (initiator receives the response) and
 * 3.1.6.1 (negotiation timer). Rule tags like [3.1.5.6-c] are those of
 * docs/spec-coverage.md. The peer is played by the
 * test through the mock transport (test/common/mock.h), which records every
 * action as bytes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <talloc.h>

#include "mock.h"
#include "unit.h"

/* --- helpers ---------------------------------------------------------- */

/* assert_terminated(), and nothing was delivered. */
static void assert_terminated_undelivered(const struct mock *m,
					  enum smbdirect_reason reason)
{
	assert_terminated(m, reason);
	assert_int_equal(m->delivered_count, 0);
}

/* Feed `len` bytes: the encoded request (zero-padded past 20 bytes). */
static void recv_request_len(struct mock *m,
			     const struct smbdirect_negotiate_request *req,
			     size_t len)
{
	uint8_t buf[64];

	memset(buf, 0, sizeof(buf));
	smbdirect_negotiate_request_encode(req, buf, sizeof(buf));
	assert_true(len <= sizeof(buf));
	mock_recv(m, buf, len);
}

/* Feed `len` bytes: the encoded response (zero-padded past 32 bytes). */
static void recv_response_len(struct mock *m,
			      const struct smbdirect_negotiate_response *rsp,
			      size_t len)
{
	uint8_t buf[64];

	memset(buf, 0, sizeof(buf));
	smbdirect_negotiate_response_encode(rsp, buf, sizeof(buf));
	assert_true(len <= sizeof(buf));
	mock_recv(m, buf, len);
}

/* Decode sent message `i` as a negotiate response (it must be 32 bytes). */
static void sent_response(const struct mock *m, size_t i,
			  struct smbdirect_negotiate_response *rsp)
{
	assert_true(i < m->sent_count);
	assert_int_equal(m->sent[i].length, SMBDIRECT_NEGOTIATE_RESPONSE_SIZE);
	assert_null(m->sent[i].msg);
	assert_int_equal(smbdirect_negotiate_response_decode(
				 m->sent[i].bytes, m->sent[i].length, rsp),
			 SMBDIRECT_WIRE_OK);
}

/* [MS-SMBD] 3.1.5.3-a..e: a failure response is MinVersion = MaxVersion =
 * 0x0100, Status, and every other field 0. */
static void assert_failure_response(const struct mock *m, size_t i,
				    uint32_t status)
{
	uint8_t expected[32];

	memset(expected, 0, sizeof(expected));
	expected[1] = 0x01;
	expected[3] = 0x01;
	expected[12] = (uint8_t)status;
	expected[13] = (uint8_t)(status >> 8);
	expected[14] = (uint8_t)(status >> 16);
	expected[15] = (uint8_t)(status >> 24);
	assert_sent_bytes(m, i, expected, 32);
}

/* An initiator started and given `len` bytes of `rsp`. */
static struct mock *initiator_given(void *mem,
				    const struct smbdirect_settings *s,
				    const struct smbdirect_negotiate_response *rsp,
				    size_t len)
{
	struct mock *m = started(mem, SMBDIRECT_ROLE_INITIATOR, s);

	assert_int_equal(m->sent_count, 1);
	mock_complete_all(m);
	recv_response_len(m, rsp, len);
	return m;
}

/* [MS-SMBD] 3.1.5.7-a: the initiator refuses `rsp`: it terminates with
 * `reason`, never reports a connection, posts no receive for credits and
 * sends nothing after its request. */
static void expect_initiator_rejects(void *mem,
				     const struct smbdirect_negotiate_response *rsp,
				     size_t len, enum smbdirect_reason reason)
{
	struct mock *m = initiator_given(mem, NULL, rsp, len);

	assert_terminated_undelivered(m, reason);
	assert_false(m->connected);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(m->posted_total, 1);
}

static struct mock *expect_initiator_accepts(
	void *mem, const struct smbdirect_settings *s,
	const struct smbdirect_negotiate_response *rsp, size_t len)
{
	struct mock *m = initiator_given(mem, s, rsp, len);

	assert_running(m);
	assert_true(m->connected);
	assert_int_equal(smbdirect_engine_state(m->engine),
			 SMBDIRECT_STATE_CONNECTED);
	return m;
}

/* [MS-SMBD] 3.1.5.6-a/c: the responder terminates with `reason` and sends
 * no response at all. */
static void expect_responder_terminates_silently(
	void *mem, const struct smbdirect_negotiate_request *req, size_t len,
	enum smbdirect_reason reason)
{
	struct mock *m = started(mem, SMBDIRECT_ROLE_RESPONDER, NULL);

	recv_request_len(m, req, len);
	assert_terminated_undelivered(m, reason);
	assert_false(m->connected);
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(m->posted_total, 1);
}

static struct mock *expect_responder_accepts(
	void *mem, const struct smbdirect_settings *s,
	const struct smbdirect_negotiate_request *req, size_t len,
	struct smbdirect_negotiate_response *rsp)
{
	struct mock *m = started(mem, SMBDIRECT_ROLE_RESPONDER, s);

	recv_request_len(m, req, len);
	assert_running(m);
	assert_true(m->connected);
	assert_int_equal(m->sent_count, 1);
	sent_response(m, 0, rsp);
	assert_int_equal(rsp->status, SMBDIRECT_STATUS_SUCCESS);
	assert_int_equal(rsp->negotiated_version, SMBDIRECT_PROTOCOL_VERSION);
	return m;
}

/* [MS-SMBD] 3.1.5.6-c: with each of the `n` values `refused` in the size
 * field `*field` of `req`, the responder ends the connection
 * (negotiate-sizes) without a response; with `accepted` it accepts `req`,
 * answering `rsp`. Returns that last mock. */
static struct mock *responder_size_limit(
	void *mem, struct smbdirect_negotiate_request *req, uint32_t *field,
	const uint32_t *refused, size_t n, uint32_t accepted,
	struct smbdirect_negotiate_response *rsp)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*field = refused[i];
		expect_responder_terminates_silently(
			mem, req, 20, SMBDIRECT_REASON_NEGOTIATE_SIZES);
	}
	*field = accepted;
	return expect_responder_accepts(mem, NULL, req, 20, rsp);
}

/* [MS-SMBD] 3.1.5.7-a: with each of the `n` values `refused` in the size
 * field `*field` of `rsp`, the initiator refuses it (negotiate-sizes);
 * with `accepted` it accepts it. Returns that last mock. */
static struct mock *initiator_size_limit(
	void *mem, struct smbdirect_negotiate_response *rsp, uint32_t *field,
	const uint32_t *refused, size_t n, uint32_t accepted)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*field = refused[i];
		expect_initiator_rejects(mem, rsp, 32,
					 SMBDIRECT_REASON_NEGOTIATE_SIZES);
	}
	*field = accepted;
	return expect_initiator_accepts(mem, NULL, rsp, 32);
}

/* [MS-SMBD] 3.1.5.7-a: with 0 in the credit field `*field` of `rsp` the
 * initiator refuses it (negotiate-credits); with 1 it accepts it. Returns
 * that last mock. */
static struct mock *initiator_credit_limit(
	void *mem, struct smbdirect_negotiate_response *rsp, uint16_t *field)
{
	*field = 0;
	expect_initiator_rejects(mem, rsp, 32,
				 SMBDIRECT_REASON_NEGOTIATE_CREDITS);
	*field = 1;
	return expect_initiator_accepts(mem, NULL, rsp, 32);
}

/* Our settings where every negotiated value is checked: MaxSendSize 1500,
 * MaxReceiveSize 2000, MaxFragmentedSize 262144, MaxReadWriteSize 4 MiB,
 * SendCreditTarget 33, ReceiveCreditMax 50; the rest default. */
static struct smbdirect_settings our_settings(void)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	s.max_send_size = 1500;
	s.max_receive_size = 2000;
	s.max_fragmented_size = 262144;
	s.max_read_write_size = 4194304;
	s.send_credit_target = 33;
	s.receive_credit_max = 50;
	return s;
}

/* --- 3.1.4.1 / 3.1.7.2: set-up ----------------------------------------- */

struct order_log {
	char ev[16];
	int n;
};

static int order_post_recv(void *p, uint32_t count, uint32_t size)
{
	struct order_log *l = p;

	(void)size;
	if (l->n < 15) {
		l->ev[l->n++] = 'R';
	}
	return (int)count;
}

static int order_send(void *p, const struct smbdirect_send_desc *d)
{
	struct order_log *l = p;

	(void)d;
	if (l->n < 15) {
		l->ev[l->n++] = 'S';
	}
	return 0;
}

static void order_connected(void *p, const struct smbdirect_params *params)
{
	struct order_log *l = p;

	(void)params;
	if (l->n < 15) {
		l->ev[l->n++] = 'C';
	}
}

static void order_terminated(void *p, enum smbdirect_reason r, const char *d)
{
	struct order_log *l = p;

	(void)r;
	(void)d;
	if (l->n < 15) {
		l->ev[l->n++] = 'T';
	}
}

static const struct smbdirect_engine_callbacks order_callbacks = {
	.post_recv = order_post_recv,
	.send = order_send,
	.connected = order_connected,
	.deliver = idle_deliver,
	.send_done = idle_send_done,
	.terminated = order_terminated,
};

/* [MS-SMBD] 3.1.4.1-k/m, 3.1.5.2: the initiator posts its receive for the
 * negotiate response before it sends the request. */
static void test_3_1_4_1_initiator_posts_receive_before_request(void **state)
{
	struct smbdirect_settings s;
	struct order_log log;
	struct smbdirect_engine *e;

	memset(&log, 0, sizeof(log));
	smbdirect_settings_default(&s);
	e = smbdirect_engine_new(*state, SMBDIRECT_ROLE_INITIATOR, &s,
				 &order_callbacks, &log);
	assert_non_null(e);
	assert_int_equal(smbdirect_engine_start(e, 1), 0);
	assert_string_equal(log.ev, "RS");
}

/* [MS-SMBD] 3.1.7.2-e, 3.1.5.6-f/g: the responder posts one receive at
 * start and sends nothing; on the request it posts the receives it grants
 * before the response goes out, then reports the connection. */
static void test_3_1_7_2_responder_posts_receives_before_response(
	void **state)
{
	struct smbdirect_settings s;
	struct smbdirect_negotiate_request req = mock_default_request();
	struct order_log log;
	struct smbdirect_engine *e;
	uint8_t buf[20];

	memset(&log, 0, sizeof(log));
	smbdirect_settings_default(&s);
	e = smbdirect_engine_new(*state, SMBDIRECT_ROLE_RESPONDER, &s,
				 &order_callbacks, &log);
	assert_non_null(e);
	assert_int_equal(smbdirect_engine_start(e, 1), 0);
	assert_string_equal(log.ev, "R");
	smbdirect_negotiate_request_encode(&req, buf, sizeof(buf));
	smbdirect_engine_on_recv(e, 2, buf, sizeof(buf));
	assert_string_equal(log.ev, "RRSC");
}

/* [MS-SMBD] 3.1.4.1-k, 3.1.7.2-e: exactly one receive is posted before
 * negotiation, of at least 512 bytes even when max_receive_size is
 * smaller; a larger max_receive_size is used as is. */
static void test_3_1_4_1_negotiate_receive_at_least_512(void **state,
					 enum smbdirect_role role)
{
	static const uint32_t sizes[][2] = {
		{128, 512}, {511, 512}, {512, 512}, {513, 513}, {1364, 1364}};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct smbdirect_settings s;
		struct mock *m;

		smbdirect_settings_default(&s);
		s.max_receive_size = sizes[i][0];
		m = started(*state, role, &s);
		assert_int_equal(m->post_calls, 1);
		assert_int_equal(m->posted_total, 1);
		assert_int_equal(m->last_buffer_size, sizes[i][1]);
		assert_int_equal(smbdirect_engine_receive_buffer_size(m->engine),
				 sizes[i][1]);
		assert_int_equal(m->sent_count,
				 role == SMBDIRECT_ROLE_INITIATOR ? 1 : 0);
	}
}
ROLE_TESTS(test_3_1_4_1_negotiate_receive_at_least_512)

/* [MS-SMBD] 3.1.7.2-e (and 3.1.4.1-k, 3.1.4.1-m for the initiator): if
 * the receive for the negotiate message cannot be posted, the connection
 * ends (local-error) and no negotiate request is sent. */
static void test_3_1_7_2_no_negotiate_receive_terminates(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);

	m->post_limit = 0;
	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_int_equal(m->sent_count, 0);
	assert_false(m->connected);

	m = mock_new(*state, role, NULL);
	m->post_error = -12;
	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_7_2_no_negotiate_receive_terminates)

/* smbdirect_engine.h: start runs once; a second start is EINVAL and
 * changes nothing. [MS-SMBD] 3.1.4.1-e/g: before negotiation there are no
 * negotiated values (Protocol and MaxReadWriteSize 0). */
static void test_3_1_4_1_start_once_no_params_before_negotiation(
	void **state, enum smbdirect_role role)
{
	struct mock *m = started(*state, role, NULL);
	size_t sent = m->sent_count;

	assert_null(smbdirect_engine_params(m->engine));
	assert_int_equal(smbdirect_engine_state(m->engine),
			 SMBDIRECT_STATE_NEGOTIATING);
	assert_int_equal(smbdirect_engine_start(m->engine, m->now), EINVAL);
	assert_int_equal(m->sent_count, sent);
	assert_int_equal(m->posted_total, 1);
	assert_running(m);
}
ROLE_TESTS(test_3_1_4_1_start_once_no_params_before_negotiation)

/* --- 3.1.5.2: the negotiate request ------------------------------------ */

/* [MS-SMBD] 3.1.5.2-a..g: MinVersion = MaxVersion = 0x0100, Reserved 0,
 * CreditsRequested = SendCreditTarget, PreferredSendSize = MaxSendSize,
 * MaxReceiveSize, MaxFragmentedSize = MaxFragmentedRecvSize: 20 bytes. */
static void test_3_1_5_2_negotiate_request_fields(void **state)
{
	/* 77 = 0x4D, 2000 = 0x7D0, 3000 = 0xBB8, 200000 = 0x30D40 */
	static const uint8_t expected[20] = {
		0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x4D, 0x00, 0xD0, 0x07,
		0x00, 0x00, 0xB8, 0x0B, 0x00, 0x00, 0x40, 0x0D, 0x03, 0x00,
	};
	struct smbdirect_settings s;
	struct mock *m;

	smbdirect_settings_default(&s);
	s.send_credit_target = 77;
	s.max_send_size = 2000;
	s.max_receive_size = 3000;
	s.max_fragmented_size = 200000;
	m = started(*state, SMBDIRECT_ROLE_INITIATOR, &s);
	assert_int_equal(m->sent_count, 1);
	assert_sent_bytes(m, 0, expected, SMBDIRECT_NEGOTIATE_REQUEST_SIZE);
	assert_null(m->sent[0].msg);
}

/* [MS-SMBD] 3.1.5.2-h: the result of posting the request goes back to the
 * caller: a failed send ends the connection (local-error). */
static void test_3_1_5_2_request_send_failure_terminates(void **state)
{
	struct mock *m = mock_new(*state, SMBDIRECT_ROLE_INITIATOR, NULL);

	m->send_error = 5;
	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_int_equal(m->sent_count, 0);
}

/* --- 3.1.5.6: responder receives the request ---------------------------- */

/* [MS-SMBD] 3.1.5.6-a: a request shorter than 20 bytes ends the connection
 * (negotiate-too-short) with no response. */
static void test_3_1_5_6_request_shorter_than_20_terminates(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();

	expect_responder_terminates_silently(
		*state, &req, 19, SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
	expect_responder_terminates_silently(
		*state, &req, 1, SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
	expect_responder_terminates_silently(
		*state, &req, 0, SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
}

/* [MS-SMBD] 3.1.5.6-a: exactly 20 bytes is accepted, and so is a longer
 * message (the rest is ignored). [2.2-c]: Reserved is ignored. */
static void test_3_1_5_6_request_of_20_bytes_accepted(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;

	expect_responder_accepts(*state, NULL, &req, 20, &rsp);
	expect_responder_accepts(*state, NULL, &req, 64, &rsp);
	req.reserved = 0xFFFF;
	expect_responder_accepts(*state, NULL, &req, 20, &rsp);
}

/* [MS-SMBD] 3.1.5.6-b, 3.1.5.3-e: a version range without 0x0100 gets a
 * failure response with STATUS_NOT_SUPPORTED and all other fields 0; the
 * connection ends (negotiate-version) only once that send completed; no
 * connection is reported. */
static void test_3_1_5_6_version_range_excluding_0100_not_supported(
	void **state)
{
	static const uint16_t ranges[][2] = {
		{0x0200, 0x0300}, {0x0001, 0x00FF}, {0x0101, 0xFFFF},
		{0x0000, 0x0000}, {0x0200, 0x0100}, {0x0101, 0x00FF},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		struct smbdirect_negotiate_request req = mock_default_request();
		struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);
		struct smbdirect_engine_stats st;

		req.min_version = ranges[i][0];
		req.max_version = ranges[i][1];
		mock_recv_negotiate_request(m, &req);
		assert_int_equal(m->sent_count, 1);
		assert_failure_response(m, 0, SMBDIRECT_STATUS_NOT_SUPPORTED);
		/* Not yet: the failure response is still in flight. */
		assert_int_equal(m->terminated_count, 0);
		assert_false(m->connected);
		smbdirect_engine_get_stats(m->engine, &st);
		assert_int_equal(st.sends_outstanding, 1);
		mock_complete_all(m);
		assert_terminated_undelivered(
			m, SMBDIRECT_REASON_NEGOTIATE_VERSION);
		assert_false(m->connected);
		assert_int_equal(m->sent_count, 1);
	}
}

/* [MS-SMBD] 3.1.5.3-e with 3.1.6.1: if the failure response never
 * completes, the negotiate timer still ends the connection, with the
 * failure's reason. */
static void test_3_1_5_3_failure_response_then_timer(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);

	req.min_version = 0x0200;
	req.max_version = 0x0200;
	mock_recv_negotiate_request(m, &req);
	assert_failure_response(m, 0, SMBDIRECT_STATUS_NOT_SUPPORTED);
	mock_advance(m, 4999);
	assert_int_equal(m->terminated_count, 0);
	mock_advance(m, 1);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_NEGOTIATE_VERSION);
	/* The late completion changes nothing. */
	mock_complete_all(m);
	assert_int_equal(m->terminated_count, 1);
}

/* [MS-SMBD] 3.1.5.6-b: a range that includes 0x0100 is accepted; the
 * bounds are otherwise ignored (SHOULD). */
static void test_3_1_5_6_version_range_including_0100_accepted(void **state)
{
	static const uint16_t ranges[][2] = {
		{0x0100, 0x0100}, {0x0001, 0x0200}, {0x0100, 0xFFFF},
		{0x0000, 0x0100},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ranges); i++) {
		struct smbdirect_negotiate_request req = mock_default_request();
		struct smbdirect_negotiate_response rsp;

		req.min_version = ranges[i][0];
		req.max_version = ranges[i][1];
		expect_responder_accepts(*state, NULL, &req, 20, &rsp);
		assert_int_equal(rsp.min_version, 0x0100);
		assert_int_equal(rsp.max_version, 0x0100);
	}
}

/* [MS-SMBD] 3.1.5.6-c: CreditsRequested 0 ends the connection
 * (negotiate-credits) with no response. */
static void test_3_1_5_6_credits_requested_zero_terminates(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;

	req.credits_requested = 0;
	expect_responder_terminates_silently(
		*state, &req, 20, SMBDIRECT_REASON_NEGOTIATE_CREDITS);
	/* 1 is the boundary and is served. */
	req.credits_requested = 1;
	expect_responder_accepts(*state, NULL, &req, 20, &rsp);
	assert_int_equal(rsp.credits_granted, 1);
}

/* [MS-SMBD] 3.1.5.6-c: MaxReceiveSize below 128 ends the connection
 * (negotiate-sizes) with no response; 128 is accepted, and the responder
 * then sends no more than 128 bytes per message (3.1.5.6-e). */
static void test_3_1_5_6_max_receive_size_limit(void **state)
{
	static const uint32_t refused[] = {127, 0};
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	struct mock *m;

	m = responder_size_limit(*state, &req, &req.max_receive_size, refused,
				 ARRAY_SIZE(refused), 128, &rsp);
	assert_int_equal(rsp.preferred_send_size, 128);
	assert_int_equal(m->params.max_send_size, 128);
}

/* [MS-SMBD] 3.1.5.6-c: MaxFragmentedSize below 131072 ends the connection
 * (negotiate-sizes) with no response; 131072 is accepted and becomes
 * MaxFragmentedSendSize (3.1.5.6-e). */
static void test_3_1_5_6_max_fragmented_size_limit(void **state)
{
	static const uint32_t refused[] = {131071, 0};
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	struct mock *m;

	m = responder_size_limit(*state, &req, &req.max_fragmented_size,
				 refused, ARRAY_SIZE(refused), 131072, &rsp);
	assert_int_equal(m->params.max_fragmented_send_size, 131072);
}

/* [MS-SMBD] 3.1.5.6-d: MaxReceiveSize shrinks to the peer's
 * PreferredSendSize, never below 128, and never grows above ours. */
static void test_3_1_5_6_receive_size_adjustment(void **state)
{
	static const uint32_t cases[][3] = {
		/* ours, peer PreferredSendSize, result */
		{4096, 2000, 2000}, {4096, 4096, 4096}, {4096, 9000, 4096},
		{1364, 128, 128},   {1364, 127, 128},   {1364, 1, 128},
		{1364, 0, 128},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct smbdirect_settings s;
		struct smbdirect_negotiate_request req = mock_default_request();
		struct smbdirect_negotiate_response rsp;
		struct mock *m;

		smbdirect_settings_default(&s);
		s.max_receive_size = cases[i][0];
		req.preferred_send_size = cases[i][1];
		m = expect_responder_accepts(*state, &s, &req, 20, &rsp);
		assert_int_equal(rsp.max_receive_size, cases[i][2]);
		assert_int_equal(m->params.max_receive_size, cases[i][2]);
	}
}

/* [MS-SMBD] 3.1.5.6-e: MaxSendSize = min(ours, peer's MaxReceiveSize),
 * announced as PreferredSendSize (3.1.5.3-j). */
static void test_3_1_5_6_send_size_adjustment(void **state)
{
	static const uint32_t cases[][3] = {
		/* ours, peer MaxReceiveSize, result */
		{1364, 1000, 1000}, {1364, 8192, 1364}, {1364, 1364, 1364},
		{128, 4096, 128},
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct smbdirect_settings s;
		struct smbdirect_negotiate_request req = mock_default_request();
		struct smbdirect_negotiate_response rsp;
		struct mock *m;

		smbdirect_settings_default(&s);
		s.max_send_size = cases[i][0];
		req.max_receive_size = cases[i][1];
		m = expect_responder_accepts(*state, &s, &req, 20, &rsp);
		assert_int_equal(rsp.preferred_send_size, cases[i][2]);
		assert_int_equal(m->params.max_send_size, cases[i][2]);
	}
}

/* [MS-SMBD] 3.1.5.3-f..l, 3.1.5.6-e: every field of a success response,
 * byte for byte, and the connection values the responder keeps: Protocol
 * 0x0100, ReceiveCreditTarget = CreditsRequested (capped by
 * ReceiveCreditMax), MaxFragmentedSendSize = peer's MaxFragmentedSize. */
static void test_3_1_5_3_success_response_fields(void **state)
{
	/* credits 33/20, rw 4194304 = 0x400000, preferred 1400 = 0x578,
	 * receive 1800 = 0x708, fragmented 262144 = 0x40000 */
	static const uint8_t expected[32] = {
		0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
		0x21, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x40, 0x00, 0x78, 0x05, 0x00, 0x00,
		0x08, 0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
	};
	const struct smbdirect_settings s = our_settings();
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	const struct smbdirect_params *p;
	struct mock *m;

	req.credits_requested = 20;
	req.preferred_send_size = 1800;
	req.max_receive_size = 1400;
	req.max_fragmented_size = 140000;
	m = expect_responder_accepts(*state, &s, &req, 20, &rsp);
	assert_memory_equal(m->sent[0].bytes, expected, 32);

	p = smbdirect_engine_params(m->engine);
	assert_non_null(p);
	assert_memory_equal(p, &m->params, sizeof(*p));
	assert_int_equal(p->protocol, 0x0100);
	assert_int_equal(p->max_send_size, 1400);
	assert_int_equal(p->max_receive_size, 1800);
	assert_int_equal(p->max_fragmented_send_size, 140000);
	assert_int_equal(p->max_fragmented_receive_size, 262144);
	assert_int_equal(p->max_read_write_size, 4194304);
	assert_int_equal(p->receive_credit_target, 20);
	assert_int_equal(p->send_credit_target, 33);
}

/* [MS-SMBD] 3.1.5.3-h, 3.1.5.6-e/f: CreditsGranted is the number of
 * receives posted toward CreditsRequested, capped by ReceiveCreditMax. */
static void test_3_1_5_6_credits_granted_capped_by_receive_credit_max(
	void **state)
{
	struct smbdirect_settings s;
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	struct smbdirect_engine_stats st;
	struct mock *m;

	smbdirect_settings_default(&s);
	s.receive_credit_max = 20;
	req.credits_requested = 300;
	m = expect_responder_accepts(*state, &s, &req, 20, &rsp);
	assert_int_equal(rsp.credits_granted, 20);
	assert_int_equal(m->params.receive_credit_target, 20);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.receive_credits, 20);
	assert_int_equal(st.receives_posted, 20);

	req.credits_requested = 7;
	m = expect_responder_accepts(*state, &s, &req, 20, &rsp);
	assert_int_equal(rsp.credits_granted, 7);
	assert_int_equal(m->posted_total, 1 + 7);
}

/* [MS-SMBD] 3.1.5.3-h, 3.1.5.6-f: when the transport posts fewer receives
 * than asked, CreditsGranted is what was really posted. */
static void test_3_1_5_6_credits_granted_equals_receives_posted(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	struct smbdirect_engine_stats st;
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);

	req.credits_requested = 100;
	m->post_limit = 3;
	mock_recv_negotiate_request(m, &req);
	assert_running(m);
	assert_true(m->connected);
	sent_response(m, 0, &rsp);
	assert_int_equal(rsp.status, SMBDIRECT_STATUS_SUCCESS);
	assert_int_equal(rsp.credits_granted, 3);
	smbdirect_engine_get_stats(m->engine, &st);
	/* Granted credits never exceed the receives at the transport. */
	assert_int_equal(st.receive_credits, 3);
	assert_true(st.receives_posted >= st.receive_credits);
	assert_int_equal(st.receives_posted, m->posted_total - 1);
}

/* [MS-SMBD] 3.1.5.6-f, 3.1.5.3-e: with no receive posted for credits the
 * responder sends a failure response with STATUS_INSUFFICIENT_RESOURCES
 * (error severity), all other fields 0, and ends the connection
 * (local-error) once it completed; no connection is reported. */
static void test_3_1_5_6_no_receive_credits_insufficient_resources(
	void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);

	m->post_limit = 0;
	mock_recv_negotiate_request(m, &req);
	assert_int_equal(m->sent_count, 1);
	assert_failure_response(m, 0, SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES);
	/* Severity bits 31..30 = 11: STATUS_SEVERITY_ERROR (MS-ERREF 2.3). */
	assert_int_equal(SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES >> 30, 3);
	assert_int_equal(m->terminated_count, 0);
	assert_false(m->connected);
	mock_complete_all(m);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_false(m->connected);
	/* Negotiation failed: there are no parameters in force. */
	assert_null(smbdirect_engine_params(m->engine));
}

/* [MS-SMBD] 3.1.5.3-m: a response that cannot be posted ends the
 * connection (local-error); no connection is reported. */
static void test_3_1_5_3_response_send_failure_terminates(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);

	m->send_error = 12;
	mock_recv_negotiate_request(m, &req);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_false(m->connected);
}

/* [MS-SMBD] 3.1.5.6-g/h: after the response the connection is reported,
 * the negotiation timer is cancelled and the idle timer runs at the
 * keepalive interval. */
static void test_3_1_5_6_connected_timers(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp;
	struct mock *m;
	uint64_t t;

	m = expect_responder_accepts(*state, NULL, &req, 20, &rsp);
	t = m->now;
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    t + 120000 * NS_PER_MS);
	mock_advance(m, 6000);
	assert_running(m);
	assert_int_equal(smbdirect_engine_state(m->engine),
			 SMBDIRECT_STATE_CONNECTED);
}

/* --- 3.1.5.7: initiator receives the response --------------------------- */

/* [MS-SMBD] 3.1.5.7-a: a response shorter than 32 bytes ends the
 * connection (negotiate-too-short). */
static void test_3_1_5_7_response_shorter_than_32_terminates(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();

	expect_initiator_rejects(*state, &rsp, 31,
				 SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
	expect_initiator_rejects(*state, &rsp, 20,
				 SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
	expect_initiator_rejects(*state, &rsp, 0,
				 SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
}

/* [MS-SMBD] 3.1.5.7-a: exactly 32 bytes is accepted, and so is a longer
 * message. [2.2-c]: Reserved is ignored. */
static void test_3_1_5_7_response_of_32_bytes_accepted(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();

	expect_initiator_accepts(*state, NULL, &rsp, 32);
	expect_initiator_accepts(*state, NULL, &rsp, 40);
	rsp.reserved = 0xFFFF;
	expect_initiator_accepts(*state, NULL, &rsp, 32);
}

/* [MS-SMBD] 3.1.5.7-a: NegotiatedVersion other than 0x0100 ends the
 * connection (negotiate-version). */
static void test_3_1_5_7_negotiated_version_not_0100_terminates(void **state)
{
	static const uint16_t versions[] = {0x0000, 0x00FF, 0x0101, 0x0200,
					    0xFFFF};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(versions); i++) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		rsp.max_version = 0xFFFF;
		rsp.min_version = 0x0000;
		rsp.negotiated_version = versions[i];
		expect_initiator_rejects(*state, &rsp, 32,
					 SMBDIRECT_REASON_NEGOTIATE_VERSION);
	}
}

/* [MS-SMBD] 3.1.5.7-a with 2.2.2: stricter than 3.1.5.7, the engine also
 * refuses a response whose own MinVersion..MaxVersion excludes the 0x0100
 * it claims to have negotiated (negotiate-version); a range that includes
 * it is accepted. */
static void test_3_1_5_7_response_range_must_include_0100(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();

	rsp.min_version = 0x0200;
	rsp.max_version = 0x0300;
	expect_initiator_rejects(*state, &rsp, 32,
				 SMBDIRECT_REASON_NEGOTIATE_VERSION);
	rsp.min_version = 0x0001;
	rsp.max_version = 0x00FF;
	expect_initiator_rejects(*state, &rsp, 32,
				 SMBDIRECT_REASON_NEGOTIATE_VERSION);
	rsp.min_version = 0x0001;
	rsp.max_version = 0x0200;
	expect_initiator_accepts(*state, NULL, &rsp, 32);
}

/* [MS-SMBD] 3.1.5.7-a: a Status other than STATUS_SUCCESS ends the
 * connection (negotiate-rejected): a 3.1.5.3-e failure response, and an
 * otherwise valid response with a non-zero Status. */
static void test_3_1_5_7_status_not_success_terminates(void **state)
{
	static const uint32_t statuses[] = {SMBDIRECT_STATUS_NOT_SUPPORTED,
					    SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES,
					    0x00000001u, 0x80000005u};
	struct smbdirect_negotiate_response failure = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.status = SMBDIRECT_STATUS_NOT_SUPPORTED,
	};
	size_t i;

	expect_initiator_rejects(*state, &failure, 32,
				 SMBDIRECT_REASON_NEGOTIATE_REJECTED);
	for (i = 0; i < ARRAY_SIZE(statuses); i++) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		rsp.status = statuses[i];
		expect_initiator_rejects(*state, &rsp, 32,
					 SMBDIRECT_REASON_NEGOTIATE_REJECTED);
	}
}

/* [MS-SMBD] 3.1.5.7-a: CreditsGranted 0 ends the connection
 * (negotiate-credits); 1 is accepted and becomes SendCredits. */
static void test_3_1_5_7_credits_granted_zero_terminates(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();

	initiator_credit_limit(*state, &rsp, &rsp.credits_granted);
}

/* [MS-SMBD] 3.1.5.7-a: CreditsRequested 0 ends the connection
 * (negotiate-credits); 1 is accepted. */
static void test_3_1_5_7_credits_requested_zero_terminates(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m;

	m = initiator_credit_limit(*state, &rsp, &rsp.credits_requested);
	assert_int_equal(m->params.receive_credit_target, 1);
}

/* [MS-SMBD] 3.1.5.7-a: MaxReceiveSize below 128 ends the connection
 * (negotiate-sizes); 128 is accepted and limits our sends (3.1.5.7-b). */
static void test_3_1_5_7_max_receive_size_limit(void **state)
{
	static const uint32_t refused[] = {127, 0};
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m;

	m = initiator_size_limit(*state, &rsp, &rsp.max_receive_size, refused,
				 ARRAY_SIZE(refused), 128);
	assert_int_equal(m->params.max_send_size, 128);
}

/* [MS-SMBD] 3.1.5.7-a: MaxFragmentedSize below 131072 ends the connection
 * (negotiate-sizes); 131072 is accepted and becomes MaxFragmentedSendSize
 * (3.1.5.7-b). */
static void test_3_1_5_7_max_fragmented_size_limit(void **state)
{
	static const uint32_t refused[] = {131071};
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m;

	m = initiator_size_limit(*state, &rsp, &rsp.max_fragmented_size,
				 refused, ARRAY_SIZE(refused), 131072);
	assert_int_equal(m->params.max_fragmented_send_size, 131072);
}

/* [MS-SMBD] 3.1.5.7-a: PreferredSendSize above the MaxReceiveSize we
 * announced ends the connection (negotiate-sizes); equal is accepted. */
static void test_3_1_5_7_preferred_send_size_above_max_receive_terminates(
	void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct smbdirect_settings s;
	uint32_t refused[2];
	struct mock *m;

	smbdirect_settings_default(&s);
	refused[0] = s.max_receive_size + 1;
	refused[1] = 0xFFFFFFFFu;
	m = initiator_size_limit(*state, &rsp, &rsp.preferred_send_size,
				 refused, ARRAY_SIZE(refused),
				 s.max_receive_size);
	assert_int_equal(m->params.max_receive_size, s.max_receive_size);
}

/* [MS-SMBD] 3.1.5.7-b: the connection values after a response:
 * Protocol 0x0100; MaxReceiveSize = min(ours, PreferredSendSize), at least
 * 128; MaxSendSize = min(ours, MaxReceiveSize); MaxReadWriteSize =
 * min(ours, theirs); SendCredits = CreditsGranted; MaxFragmentedSendSize;
 * ReceiveCreditTarget = CreditsRequested (capped by ReceiveCreditMax). */
static void test_3_1_5_7_connection_values(void **state)
{
	const struct smbdirect_settings s = our_settings();
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct smbdirect_engine_stats st;
	const struct smbdirect_params *p;
	struct mock *m;

	rsp.credits_requested = 70;
	rsp.credits_granted = 9;
	rsp.max_read_write_size = 1048576;
	rsp.preferred_send_size = 1800;
	rsp.max_receive_size = 1400;
	rsp.max_fragmented_size = 140000;

	m = started(*state, SMBDIRECT_ROLE_INITIATOR, &s);
	/* Corked, so that no credit grant goes out yet and SendCredits can
	 * be read as the response set it. */
	smbdirect_engine_cork(m->engine);
	mock_recv_negotiate_response(m, &rsp);
	assert_running(m);
	assert_true(m->connected);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.send_credits, 9);
	assert_int_equal(st.receives_posted, 50);
	p = smbdirect_engine_params(m->engine);
	assert_non_null(p);
	assert_memory_equal(p, &m->params, sizeof(*p));
	assert_int_equal(p->protocol, 0x0100);
	assert_int_equal(p->max_receive_size, 1800);
	assert_int_equal(p->max_send_size, 1400);
	assert_int_equal(p->max_read_write_size, 1048576);
	assert_int_equal(p->max_fragmented_send_size, 140000);
	assert_int_equal(p->max_fragmented_receive_size, 262144);
	assert_int_equal(p->receive_credit_target, 50);
	assert_int_equal(p->send_credit_target, 33);
	smbdirect_engine_uncork(m->engine, m->now);

	/* The peer's MaxReadWriteSize above ours: ours wins. */
	rsp.max_read_write_size = 16777216;
	m = expect_initiator_accepts(*state, &s, &rsp, 32);
	assert_int_equal(m->params.max_read_write_size, 4194304);
}

/* [MS-SMBD] 3.1.5.7-b: MaxReceiveSize shrinks to PreferredSendSize but
 * never below 128. */
static void test_3_1_5_7_receive_size_floor_128(void **state)
{
	static const uint32_t cases[][2] = {
		{1000, 1000}, {128, 128}, {127, 128}, {64, 128}, {0, 128}};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();
		struct mock *m;

		rsp.preferred_send_size = cases[i][0];
		m = expect_initiator_accepts(*state, NULL, &rsp, 32);
		assert_int_equal(m->params.max_receive_size, cases[i][1]);
	}
}

/* [MS-SMBD] 3.1.5.7-c: receives are posted per 3.1.5.9 toward the peer's
 * CreditsRequested; with none posted the connection ends (local-error)
 * and is never reported. */
static void test_3_1_5_7_no_receive_credits_terminates(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m = started(*state, SMBDIRECT_ROLE_INITIATOR, NULL);

	m->post_limit = 0;
	mock_recv_negotiate_response(m, &rsp);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_false(m->connected);
	assert_int_equal(m->sent_count, 1);
}

/* [MS-SMBD] 3.1.5.7-c/d/e: on success the initiator posts receives toward
 * the peer's CreditsRequested, reports the connection, cancels the
 * negotiation timer and starts the idle timer. */
static void test_3_1_5_7_connected_timers_and_receives(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m;

	rsp.credits_requested = 12;
	m = expect_initiator_accepts(*state, NULL, &rsp, 32);
	assert_int_equal(m->posted_total, 1 + 12);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 120000 * NS_PER_MS);
	mock_advance(m, 6000);
	assert_running(m);
}

/* --- 3.1.6.1: the negotiation timer ------------------------------------- */

/* [MS-SMBD] 3.1.6.1-a (3.1.4.1-j, 3.1.7.2-c): with no negotiate message
 * the connection ends (negotiate-timeout) after negotiate_timeout_ms,
 * 5 s by default for both roles, and not a millisecond earlier. A late
 * negotiate message is then ignored. */
static void test_3_1_6_1_negotiate_timeout_default_5s(void **state,
					    enum smbdirect_role role)
{
	struct mock *m = started(*state, role, NULL);

	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 5000 * NS_PER_MS);
	mock_advance(m, 4999);
	assert_running(m);
	mock_advance(m, 1);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);
	assert_false(m->connected);
	recv_default_negotiate(m, role);
	assert_false(m->connected);
	assert_int_equal(m->terminated_count, 1);
	assert_int_equal(m->sent_count,
			 role == SMBDIRECT_ROLE_INITIATOR ? 1 : 0);
}
ROLE_TESTS(test_3_1_6_1_negotiate_timeout_default_5s)

/* [MS-SMBD] 3.1.6.1-a: the timeout is configurable (1234 ms here; 1 ms,
 * the smallest, too). */
static void test_3_1_6_1_negotiate_timeout_configurable(void **state,
						 enum smbdirect_role role)
{
	struct smbdirect_settings s;
	struct mock *m;

	smbdirect_settings_default(&s);
	s.negotiate_timeout_ms = 1234;
	m = started(*state, role, &s);
	mock_advance(m, 1233);
	assert_running(m);
	mock_advance(m, 1);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);

	s.negotiate_timeout_ms = 1;
	m = started(*state, role, &s);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + NS_PER_MS);
	mock_advance(m, 1);
	assert_terminated_undelivered(m, SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);
}
ROLE_TESTS(test_3_1_6_1_negotiate_timeout_configurable)

/* [MS-SMBD] 3.1.5.6-g, 3.1.5.7-d: a negotiation that finishes just before
 * the timer cancels it; the connection outlives the old deadline. */
static void test_3_1_6_1_negotiate_timer_cancelled_on_success(void **state,
					    enum smbdirect_role role)
{
	struct mock *m = started(*state, role, NULL);

	mock_advance(m, 4999);
	mock_connect(m, 10);
	assert_running(m);
	assert_true(m->connected);
	mock_advance(m, 2);
	mock_advance(m, 60000);
	assert_running(m);
	assert_int_equal(smbdirect_engine_state(m->engine),
			 SMBDIRECT_STATE_CONNECTED);
}
ROLE_TESTS(test_3_1_6_1_negotiate_timer_cancelled_on_success)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_3_1_4_1_initiator_posts_receive_before_request),
		T(test_3_1_7_2_responder_posts_receives_before_response),
		BOTH(test_3_1_4_1_negotiate_receive_at_least_512),
		BOTH(test_3_1_7_2_no_negotiate_receive_terminates),
		BOTH(test_3_1_4_1_start_once_no_params_before_negotiation),
		T(test_3_1_5_2_negotiate_request_fields),
		T(test_3_1_5_2_request_send_failure_terminates),
		T(test_3_1_5_6_request_shorter_than_20_terminates),
		T(test_3_1_5_6_request_of_20_bytes_accepted),
		T(test_3_1_5_6_version_range_excluding_0100_not_supported),
		T(test_3_1_5_3_failure_response_then_timer),
		T(test_3_1_5_6_version_range_including_0100_accepted),
		T(test_3_1_5_6_credits_requested_zero_terminates),
		T(test_3_1_5_6_max_receive_size_limit),
		T(test_3_1_5_6_max_fragmented_size_limit),
		T(test_3_1_5_6_receive_size_adjustment),
		T(test_3_1_5_6_send_size_adjustment),
		T(test_3_1_5_3_success_response_fields),
		T(test_3_1_5_6_credits_granted_capped_by_receive_credit_max),
		T(test_3_1_5_6_credits_granted_equals_receives_posted),
		T(test_3_1_5_6_no_receive_credits_insufficient_resources),
		T(test_3_1_5_3_response_send_failure_terminates),
		T(test_3_1_5_6_connected_timers),
		T(test_3_1_5_7_response_shorter_than_32_terminates),
		T(test_3_1_5_7_response_of_32_bytes_accepted),
		T(test_3_1_5_7_negotiated_version_not_0100_terminates),
		T(test_3_1_5_7_response_range_must_include_0100),
		T(test_3_1_5_7_status_not_success_terminates),
		T(test_3_1_5_7_credits_granted_zero_terminates),
		T(test_3_1_5_7_credits_requested_zero_terminates),
		T(test_3_1_5_7_max_receive_size_limit),
		T(test_3_1_5_7_max_fragmented_size_limit),
		T(test_3_1_5_7_preferred_send_size_above_max_receive_terminates),
		T(test_3_1_5_7_connection_values),
		T(test_3_1_5_7_receive_size_floor_128),
		T(test_3_1_5_7_no_receive_credits_terminates),
		T(test_3_1_5_7_connected_timers_and_receives),
		BOTH(test_3_1_6_1_negotiate_timeout_default_5s),
		BOTH(test_3_1_6_1_negotiate_timeout_configurable),
		BOTH(test_3_1_6_1_negotiate_timer_cancelled_on_success),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
