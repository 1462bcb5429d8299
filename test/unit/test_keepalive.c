/*
 * libsmbdirect unit tests: keepalive and termination, both roles.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.5.5 (any received message restarts the idle timer),
 * 3.1.5.8-e (SMB_DIRECT_RESPONSE_REQUESTED is answered promptly), 3.1.6.2
 * (idle connection timer and keepalive), 3.1.7.1 (connection loss: the
 * upper layer is told once). The answer to a keepalive does not itself ask
 * for a response: a deliberate reading of 3.1.5.1-h, which would make two
 * peers ping-pong (docs/architecture.md, lib/core/engine.c send_control).
 * Rule tags like [3.1.6.2-b] are those of docs/spec-coverage.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <cmocka.h>

#include <talloc.h>

#include "mock.h"
#include "unit.h"

/* --- helpers ---------------------------------------------------------- */

/* A connected engine holding 254 send credits, the peer holding its
 * target (255) of ours; the idle timer was last armed at m->now. */
static struct mock *ready(void *mem, enum smbdirect_role role)
{
	return ready_credits(mem, role, NULL, 255, 255);
}

/* ready() with the default settings but for the keepalive interval and
 * the keepalive answer timeout, in ms. */
static struct mock *ready_keepalive(void *mem, enum smbdirect_role role,
				   uint32_t interval_ms, uint32_t timeout_ms)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	s.keepalive_interval_ms = interval_ms;
	s.keepalive_timeout_ms = timeout_ms;
	return ready_credits(mem, role, &s, 255, 255);
}

/* Sent message `i` is an empty data transfer message (20 bytes) with the
 * given Flags. */
static void assert_empty_message(const struct mock *m, size_t i,
				 uint16_t flags)
{
	struct smbdirect_data_header hdr;

	assert_true(i < m->sent_count);
	assert_int_equal(m->sent[i].length, 20);
	assert_true(mock_sent_data(m, i, &hdr));
	assert_int_equal(hdr.flags, flags);
	assert_int_equal(hdr.data_length, 0);
	assert_int_equal(hdr.data_offset, 0);
	assert_int_equal(hdr.remaining_data_length, 0);
	assert_int_equal(hdr.reserved, 0);
	assert_true(hdr.credits_requested >= 1);
}

/* A message of `len` bytes for smbdirect_engine_submit(). */
static struct smbdirect_engine_msg *new_msg(void *mem, size_t len)
{
	return &tmsg_new(mem, len, 0x77)->msg;
}

/* --- 3.1.6.2: idle timer and keepalive ---------------------------------- */

/* [MS-SMBD] 3.1.6.2-a/b, 3.1.5.6-h, 3.1.5.7-d (note <2>: 120 s): after
 * 120 s with nothing received, and not before, one 20-byte message with
 * SMB_DIRECT_RESPONSE_REQUESTED goes out; its answer is then due within
 * the keepalive timeout (5 s, note <4>). */
static void test_3_1_6_2_keepalive_after_default_120s(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	uint64_t t0 = m->now;

	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    t0 + 120000 * NS_PER_MS);
	mock_advance(m, 119999);
	assert_int_equal(m->sent_count, 0);
	mock_advance(m, 1);
	assert_running(m);
	assert_int_equal(m->sent_count, 1);
	assert_empty_message(m, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED);
	assert_int_equal(stats(m).keepalives_sent, 1);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 5000 * NS_PER_MS);
	/* Only one keepalive per idle period. */
	mock_complete_all(m);
	mock_advance(m, 4000);
	assert_int_equal(m->sent_count, 1);
}
ROLE_TESTS(test_3_1_6_2_keepalive_after_default_120s)

/* [MS-SMBD] 3.1.1.1 KeepaliveInterval: the interval is configurable
 * (1000 ms here). */
static void test_3_1_6_2_keepalive_interval_configurable(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_keepalive(*state, role, 1000, 5000);

	mock_advance(m, 999);
	assert_int_equal(m->sent_count, 0);
	mock_advance(m, 1);
	assert_int_equal(m->sent_count, 1);
	assert_empty_message(m, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED);
	assert_running(m);
}
ROLE_TESTS(test_3_1_6_2_keepalive_interval_configurable)

/* smbdirect.h keepalive_interval_ms: 0 disables keepalive: no timer is
 * armed and nothing is sent, even after ten days of silence. */
static void test_3_1_6_2_keepalive_disabled_with_zero(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_keepalive(*state, role, 0, 5000);

	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    SMBDIRECT_NO_EXPIRY);
	mock_advance(m, 10ull * 86400000ull);
	smbdirect_engine_handle_expiry(m->engine, m->now);
	assert_int_equal(m->sent_count, 0);
	assert_running(m);
	/* A received message does not arm it either. */
	mock_recv_data(m, 255, 0, 0, 0, NULL, 0);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    SMBDIRECT_NO_EXPIRY);
}
ROLE_TESTS(test_3_1_6_2_keepalive_disabled_with_zero)

/* [MS-SMBD] 3.1.6.2-a: a keepalive left unanswered for the keepalive
 * timeout (5 s default) ends the connection (keepalive-timeout), not a
 * millisecond earlier; nothing more is sent. */
static void test_3_1_6_2_unanswered_keepalive_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	mock_advance(m, 120000);
	assert_int_equal(m->sent_count, 1);
	mock_complete_all(m);
	mock_advance(m, 4999);
	assert_running(m);
	mock_advance(m, 1);
	assert_terminated(m, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	assert_int_equal(m->sent_count, 1);
}
ROLE_TESTS(test_3_1_6_2_unanswered_keepalive_terminates)

/* smbdirect.h keepalive_timeout_ms: the answer timeout is configurable
 * (1500 ms here). */
static void test_3_1_6_2_keepalive_timeout_configurable(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_keepalive(*state, role, 120000, 1500);

	mock_advance(m, 120000);
	assert_int_equal(m->sent_count, 1);
	mock_advance(m, 1499);
	assert_running(m);
	mock_advance(m, 1);
	assert_terminated(m, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
}
ROLE_TESTS(test_3_1_6_2_keepalive_timeout_configurable)

/* [MS-SMBD] 3.1.6.2-b with 3.1.5.1-b: a keepalive that cannot be sent for
 * want of a send credit is still unanswered: the connection ends
 * (keepalive-timeout) after the answer timeout. */
static void test_3_1_6_2_keepalive_without_credit_times_out(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 1);

	assert_int_equal(stats(m).send_credits, 0);
	mock_advance(m, 120000);
	assert_int_equal(m->sent_count, 0);
	mock_advance(m, 5000);
	assert_terminated(m, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_6_2_keepalive_without_credit_times_out)

/* [MS-SMBD] 3.1.5.5-c: every received message, with or without payload,
 * restarts the idle timer at KeepaliveInterval. */
static void test_3_1_5_5_received_message_restarts_idle_timer(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	mock_advance(m, 100000);
	mock_recv_data(m, 255, 0, 0, 0, NULL, 0);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 120000 * NS_PER_MS);
	mock_advance(m, 100000);
	mock_recv_data(m, 255, 0, 0, 0, "payload", 7);
	assert_int_equal(m->delivered_count, 1);
	mock_advance(m, 119999);
	assert_int_equal(m->sent_count, 0);
	mock_advance(m, 1);
	assert_int_equal(m->sent_count, 1);
	assert_empty_message(m, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_5_received_message_restarts_idle_timer)

/* [MS-SMBD] 3.1.5.5-c (KeepaliveRequested back to NONE): any message from
 * the peer answers our keepalive: the answer timeout is cancelled, the
 * idle timer restarts, and the next keepalive follows a full interval
 * later. */
static void test_3_1_5_5_received_message_answers_keepalive(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	mock_advance(m, 120000);
	assert_int_equal(stats(m).keepalives_sent, 1);
	mock_complete_all(m);
	mock_advance(m, 3000);
	mock_recv_data(m, 255, 1, 0, 0, NULL, 0);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 120000 * NS_PER_MS);
	mock_advance(m, 5000);
	assert_running(m);
	mock_advance(m, 114999);
	assert_int_equal(stats(m).keepalives_sent, 1);
	mock_advance(m, 1);
	assert_int_equal(stats(m).keepalives_sent, 2);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_5_received_message_answers_keepalive)

/* [MS-SMBD] 3.1.5.8-e: a message with SMB_DIRECT_RESPONSE_REQUESTED is
 * answered at once by one message, which returns the credit it used and
 * does NOT itself ask for a response (deliberate: a literal 3.1.5.1-h
 * would make two peers ping-pong; see lib/core/engine.c send_control). The
 * answer is not a keepalive: no answer timeout is armed. */
static void test_3_1_5_8_response_requested_answered_without_flag(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_data_header hdr;

	mock_recv_data(m, 255, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL,
		       0);
	assert_int_equal(m->sent_count, 1);
	assert_empty_message(m, 0, 0);
	assert_true(mock_sent_data(m, 0, &hdr));
	assert_int_equal(hdr.credits_granted, 1);
	assert_int_equal(stats(m).keepalives_sent, 0);
	assert_true(smbdirect_engine_get_expiry(m->engine) ==
		    m->now + 120000 * NS_PER_MS);

	/* With a payload: delivered, and answered the same way. */
	mock_complete_all(m);
	mock_recv_data(m, 255, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, "hi",
		       2);
	assert_int_equal(m->delivered_count, 1);
	assert_int_equal(m->sent_count, 2);
	assert_empty_message(m, 1, 0);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_response_requested_answered_without_flag)

/* [MS-SMBD] 3.1.5.8-e/f, 3.1.5.1-a: when a data message was waiting for
 * credits and the peer's message asking for a response grants some, the
 * data message itself is the answer: one message, no extra empty one. */
static void test_3_1_5_8_response_requested_answered_by_queued_data(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 1);
	struct smbdirect_data_header hdr;

	assert_int_equal(stats(m).send_credits, 0);
	assert_int_equal(
		smbdirect_engine_submit(m->engine, m->now, new_msg(m, 40)), 0);
	assert_int_equal(m->sent_count, 0);
	mock_recv_data(m, 255, 2, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL,
		       0);
	assert_int_equal(m->sent_count, 1);
	assert_true(mock_sent_data(m, 0, &hdr));
	assert_int_equal(hdr.data_length, 40);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.credits_granted, 1);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_response_requested_answered_by_queued_data)

/* --- 3.1.7.1: termination ----------------------------------------------- */

/* [MS-SMBD] 3.1.7.1-a, smbdirect_engine.h close: closing reports
 * local-close exactly once, in every state; closing again or failing
 * afterwards changes nothing. */
static void test_3_1_7_1_close_reports_local_close_once(
	void **state, enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);

	/* Before start. */
	smbdirect_engine_close(m->engine);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);
	assert_int_equal(smbdirect_engine_start(m->engine, m->now), EINVAL);
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(m->posted_total, 0);

	/* While negotiating. */
	m = mock_new(*state, role, NULL);
	smbdirect_engine_start(m->engine, m->now);
	smbdirect_engine_close(m->engine);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);

	/* Connected. */
	m = ready(*state, role);
	smbdirect_engine_close(m->engine);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);
	smbdirect_engine_close(m->engine);
	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_TRANSPORT_ERROR,
			      "late");
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_7_1_close_reports_local_close_once)

/* [MS-SMBD] 3.1.7.1-a, smbdirect_engine.h fail: the reason given is
 * reported with the detail; SMBDIRECT_REASON_NONE or a value outside the
 * enum becomes local-error; without detail the reason's name is used. */
static void test_3_1_7_1_fail_reports_reason(void **state,
					     enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_PEER_DISCONNECTED,
			      "peer went away");
	assert_terminated(m, SMBDIRECT_REASON_PEER_DISCONNECTED);
	assert_string_equal(m->detail, "peer went away");

	m = ready(*state, role);
	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_TRANSPORT_ERROR,
			      NULL);
	assert_terminated(m, SMBDIRECT_REASON_TRANSPORT_ERROR);
	assert_string_equal(m->detail, "transport-error");

	m = ready(*state, role);
	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_NONE, NULL);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_ERROR);

	m = ready(*state, role);
	smbdirect_engine_fail(m->engine, (enum smbdirect_reason)999, "x");
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_ERROR);

	m = mock_new(*state, role, NULL);
	smbdirect_engine_start(m->engine, m->now);
	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_PEER_DISCONNECTED,
			      NULL);
	assert_terminated(m, SMBDIRECT_REASON_PEER_DISCONNECTED);
	assert_false(m->connected);
}
ROLE_TESTS(test_3_1_7_1_fail_reports_reason)

/* smbdirect_engine.h: after the terminated callback no callback runs
 * again and every event is ignored: completions of in-flight fragments
 * (no send_done), received data (no delivery, no answer), timers, new
 * receives, submit (ENOTCONN), cork/uncork. */
static void test_3_1_7_1_no_callbacks_after_termination(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_engine_msg *msg = new_msg(m, 50);
	struct smbdirect_engine_stats st;
	uint32_t post_calls;

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, msg), 0);
	assert_int_equal(m->sent_count, 1);
	smbdirect_engine_close(m->engine);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);
	post_calls = m->post_calls;

	smbdirect_engine_on_send_complete(m->engine, m->now, 1);
	mock_recv_data(m, 255, 10, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0,
		       "late", 4);
	smbdirect_engine_recv_buffers_available(m->engine, m->now);
	mock_advance(m, 1000ull * 1000 * 1000);
	smbdirect_engine_handle_expiry(m->engine, m->now);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now,
						 new_msg(m, 5)),
			 ENOTCONN);
	smbdirect_engine_cork(m->engine);
	smbdirect_engine_uncork(m->engine, m->now);

	assert_int_equal(m->done_count, 0);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(m->post_calls, post_calls);
	assert_int_equal(m->terminated_count, 1);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.queued_messages, 0);
	assert_int_equal(st.sends_outstanding, 0);
}
ROLE_TESTS(test_3_1_7_1_no_callbacks_after_termination)

/* smbdirect_engine.h: a connection closed while negotiating never reports
 * connected, even if the peer's negotiate message then arrives. */
static void test_3_1_7_1_close_during_negotiation_never_connects(
	void **state, enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);
	size_t sent;

	smbdirect_engine_start(m->engine, m->now);
	sent = m->sent_count;
	smbdirect_engine_close(m->engine);
	recv_default_negotiate(m, role);
	assert_false(m->connected);
	assert_null(smbdirect_engine_params(m->engine));
	assert_int_equal(m->sent_count, sent);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_CLOSE);
}
ROLE_TESTS(test_3_1_7_1_close_during_negotiation_never_connects)

/* --- callbacks that act on the engine ------------------------------------ */

/* A minimal transport whose deliver callback closes the engine, or submits
 * a reply, to check re-entrant calls (smbdirect_engine.h: callbacks may
 * call submit and close). */
struct actor {
	struct smbdirect_engine *engine;
	bool close_on_deliver;
	bool reply_on_deliver;
	struct smbdirect_engine_msg reply;
	struct iovec reply_iov;
	uint8_t reply_data[8];
	int sends;
	int sends_after_terminated;
	int callbacks_after_terminated;
	int delivered;
	int terminated;
	enum smbdirect_reason reason;
	struct smbdirect_data_header last;
};

static int actor_post_recv(void *p, uint32_t count, uint32_t size)
{
	struct actor *a = p;

	(void)size;
	a->callbacks_after_terminated += a->terminated;
	return (int)count;
}

static int actor_send(void *p, const struct smbdirect_send_desc *d)
{
	struct actor *a = p;

	a->callbacks_after_terminated += a->terminated;
	a->sends += 1;
	if (smbdirect_engine_state(a->engine) == SMBDIRECT_STATE_CONNECTED) {
		assert_int_equal(smbdirect_data_header_decode(
					 d->header, d->header_length +
							    d->data_length,
					 &a->last),
				 SMBDIRECT_WIRE_OK);
	}
	return 0;
}

static void actor_connected(void *p, const struct smbdirect_params *params)
{
	struct actor *a = p;

	(void)params;
	a->callbacks_after_terminated += a->terminated;
}

static void actor_deliver(void *p, const uint8_t *data, size_t len)
{
	struct actor *a = p;

	(void)data;
	(void)len;
	a->callbacks_after_terminated += a->terminated;
	a->delivered += 1;
	if (a->close_on_deliver) {
		smbdirect_engine_close(a->engine);
	}
	if (a->reply_on_deliver) {
		assert_int_equal(smbdirect_engine_submit(a->engine, 0,
							 &a->reply),
				 0);
	}
}

static void actor_send_done(void *p, struct smbdirect_engine_msg *msg)
{
	struct actor *a = p;

	(void)msg;
	a->callbacks_after_terminated += a->terminated;
}

static void actor_terminated(void *p, enum smbdirect_reason r, const char *d)
{
	struct actor *a = p;

	(void)d;
	a->callbacks_after_terminated += a->terminated;
	a->terminated += 1;
	a->reason = r;
}

static const struct smbdirect_engine_callbacks actor_callbacks = {
	.post_recv = actor_post_recv,
	.send = actor_send,
	.connected = actor_connected,
	.deliver = actor_deliver,
	.send_done = actor_send_done,
	.terminated = actor_terminated,
};

/* An initiator engine driven by `a`, connected with 10 credits. */
static void actor_connect(void *mem, struct actor *a)
{
	struct smbdirect_settings s;
	struct smbdirect_negotiate_response rsp = mock_default_response();
	uint8_t buf[32];

	smbdirect_settings_default(&s);
	a->engine = smbdirect_engine_new(mem, SMBDIRECT_ROLE_INITIATOR, &s,
					 &actor_callbacks, a);
	assert_non_null(a->engine);
	assert_int_equal(smbdirect_engine_start(a->engine, 0), 0);
	rsp.credits_granted = 10;
	smbdirect_negotiate_response_encode(&rsp, buf, sizeof(buf));
	smbdirect_engine_on_recv(a->engine, 0, buf, sizeof(buf));
	assert_int_equal(smbdirect_engine_state(a->engine),
			 SMBDIRECT_STATE_CONNECTED);
	smbdirect_engine_on_send_complete(a->engine, 0, (uint32_t)a->sends);
	a->sends = 0;
}

static void actor_recv(struct actor *a, uint16_t flags, const char *text)
{
	uint8_t buf[64];
	struct smbdirect_data_header hdr = {
		.credits_requested = 255,
		.credits_granted = 0,
		.flags = flags,
		.data_offset = 24,
		.data_length = (uint32_t)strlen(text),
	};
	size_t n = smbdirect_data_header_encode(&hdr, buf, sizeof(buf));

	memcpy(buf + n, text, hdr.data_length);
	smbdirect_engine_on_recv(a->engine, 0, buf, n + hdr.data_length);
}

/* smbdirect_engine.h, [MS-SMBD] 3.1.7.1: closing from inside the deliver
 * callback ends the connection at once: the answer that the received
 * SMB_DIRECT_RESPONSE_REQUESTED would have caused is not sent, and no
 * callback runs after terminated. */
static void test_3_1_7_1_close_from_deliver_callback(void **state)
{
	struct actor *a = talloc_zero(*state, struct actor);

	actor_connect(*state, a);
	a->close_on_deliver = true;
	actor_recv(a, SMBDIRECT_FLAG_RESPONSE_REQUESTED, "bye");
	assert_int_equal(a->delivered, 1);
	assert_int_equal(a->terminated, 1);
	assert_int_equal(a->reason, SMBDIRECT_REASON_LOCAL_CLOSE);
	assert_int_equal(a->sends, 0);
	actor_recv(a, 0, "more");
	smbdirect_engine_handle_expiry(a->engine, UINT64_MAX - 1);
	assert_int_equal(a->delivered, 1);
	assert_int_equal(a->callbacks_after_terminated, 0);
}

/* smbdirect_engine.h, [MS-SMBD] 3.1.5.8-e: a reply submitted from inside
 * the deliver callback is sent at once and is itself the answer to
 * SMB_DIRECT_RESPONSE_REQUESTED (one message, carrying the credit). */
static void test_3_1_5_8_reply_from_deliver_callback_answers(void **state)
{
	struct actor *a = talloc_zero(*state, struct actor);

	actor_connect(*state, a);
	memcpy(a->reply_data, "pong", 4);
	a->reply_iov.iov_base = a->reply_data;
	a->reply_iov.iov_len = 4;
	a->reply.iov = &a->reply_iov;
	a->reply.iov_count = 1;
	a->reply_on_deliver = true;
	actor_recv(a, SMBDIRECT_FLAG_RESPONSE_REQUESTED, "ping");
	assert_int_equal(a->delivered, 1);
	assert_int_equal(a->sends, 1);
	assert_int_equal(a->last.data_length, 4);
	assert_int_equal(a->last.flags, 0);
	assert_int_equal(a->last.credits_granted, 1);
	assert_int_equal(a->terminated, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_3_1_6_2_keepalive_after_default_120s),
		BOTH(test_3_1_6_2_keepalive_interval_configurable),
		BOTH(test_3_1_6_2_keepalive_disabled_with_zero),
		BOTH(test_3_1_6_2_unanswered_keepalive_terminates),
		BOTH(test_3_1_6_2_keepalive_timeout_configurable),
		BOTH(test_3_1_6_2_keepalive_without_credit_times_out),
		BOTH(test_3_1_5_5_received_message_restarts_idle_timer),
		BOTH(test_3_1_5_5_received_message_answers_keepalive),
		BOTH(test_3_1_5_8_response_requested_answered_without_flag),
		BOTH(test_3_1_5_8_response_requested_answered_by_queued_data),
		BOTH(test_3_1_7_1_close_reports_local_close_once),
		BOTH(test_3_1_7_1_fail_reports_reason),
		BOTH(test_3_1_7_1_no_callbacks_after_termination),
		BOTH(test_3_1_7_1_close_during_negotiation_never_connects),
		T(test_3_1_7_1_close_from_deliver_callback),
		T(test_3_1_5_8_reply_from_deliver_callback_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
