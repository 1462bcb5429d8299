/*
 * libsmbdirect unit tests: send and receive credits, both roles.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.5.1 (the send engine's credit steps), 3.1.5.8 (credit
 * fields of a received message) and 3.1.5.9 (posting receives and granting
 * credits), with the engine's documented readings (docs/architecture.md):
 * a credit-only message goes out once the peer holds at most
 * (target - 1) / 2 of our credits, and the last send credit is kept for a
 * message that grants, with one receive beyond the target posted for it.
 * Rule tags like [3.1.5.9-b] are those of docs/spec-coverage.md.
 */
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

/* Submit a message of `len` bytes; the engine takes it. */
static void submit(struct mock *m, size_t len)
{
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now,
						 &tmsg_new(m, len, 0x5C)->msg),
			 0);
}

/* ready_credits() with our ReceiveCreditMax `receive_credit_max`. */
static struct mock *ready_max(void *mem, enum smbdirect_role role,
			      uint16_t receive_credit_max, uint16_t requests,
			      uint16_t grants)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	s.receive_credit_max = receive_credit_max;
	return ready_credits(mem, role, &s, requests, grants);
}

/* Sum of CreditsGranted of the data messages sent from index `from`. */
static uint64_t granted_since(const struct mock *m, size_t from)
{
	uint64_t sum = 0;
	size_t i;

	for (i = from; i < m->sent_count; i++) {
		sum += sent_hdr(m, i).credits_granted;
	}
	return sum;
}

/* --- 3.1.5.1: spending send credits ------------------------------------ */

/* [MS-SMBD] 3.1.5.1-e/f: every message sent uses exactly one send credit:
 * a one-fragment message one, a three-fragment message three. */
static void test_3_1_5_1_send_consumes_one_credit(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 100);
	struct smbdirect_engine_stats st0 = stats(m);

	submit(m, 10);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(stats(m).send_credits, st0.send_credits - 1);
	submit(m, 3000);
	assert_int_equal(m->sent_count, 4);
	assert_int_equal(stats(m).send_credits, st0.send_credits - 4);
	assert_int_equal(stats(m).messages_sent, st0.messages_sent + 4);
}
ROLE_TESTS(test_3_1_5_1_send_consumes_one_credit)

/* [MS-SMBD] 3.1.5.1-b: with no send credit nothing is sent, however long
 * we wait or whatever arrives without credits; the message waits (never
 * dropped) and goes as soon as the peer grants one (3.1.5.8-f). */
static void test_3_1_5_1_no_send_without_credit(void **state,
						enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 1);

	assert_int_equal(stats(m).send_credits, 0);
	submit(m, 100);
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).queued_messages, 1);
	assert_true(stats(m).credit_stalls > 0);
	mock_advance(m, 1000);
	mock_recv_data(m, 255, 0, 0, 0, NULL, 0);
	mock_recv_data(m, 255, 0, 0, 0, "abc", 3);
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).queued_messages, 1);

	mock_recv_data(m, 255, 1, 0, 0, NULL, 0);
	assert_running(m);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).data_length, 100);
	assert_int_equal(stats(m).queued_messages, 0);
	assert_int_equal(stats(m).send_credits, 0);
}
ROLE_TESTS(test_3_1_5_1_no_send_without_credit)

/* [MS-SMBD] 3.1.5.1-d, 3.1.5.9-b: the last send credit is used only by a
 * message that grants credits. With one credit left and no receive that
 * can be posted (mock post_limit 0), a queued message waits; once the
 * transport can post again, one receive beyond the target is posted and
 * the message goes out with CreditsGranted 1, spending the last credit. */
static void test_3_1_5_1_last_credit_only_for_granting_message(
	void **state, enum smbdirect_role role)
{
	/* Peer target 4; 2 send credits left. */
	struct mock *m = ready_credits(*state, role, NULL, 4, 3);
	struct smbdirect_data_header hdr;

	assert_int_equal(stats(m).send_credits, 2);
	assert_int_equal(stats(m).receives_posted, 4);
	m->post_limit = 0;

	submit(m, 10); /* uses the second-to-last credit */
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(stats(m).send_credits, 1);

	submit(m, 20);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(stats(m).send_credits, 1);
	assert_int_equal(stats(m).queued_messages, 1);
	assert_running(m);

	m->post_limit = -1;
	smbdirect_engine_recv_buffers_available(m->engine, m->now);
	assert_running(m);
	assert_int_equal(m->sent_count, 2);
	hdr = sent_hdr(m, 1);
	assert_int_equal(hdr.data_length, 20);
	assert_int_equal(hdr.credits_granted, 1);
	assert_int_equal(stats(m).send_credits, 0);
	/* The receive beyond the peer's target of 4. */
	assert_int_equal(stats(m).receives_posted, 5);
	assert_int_equal(stats(m).receive_credits, 5);
}
ROLE_TESTS(test_3_1_5_1_last_credit_only_for_granting_message)

/* [MS-SMBD] 3.1.5.9-b/c and smbdirect_engine.h post_recv: the receive
 * beyond the target for the last-credit rule is bounded: never more than
 * ReceiveCreditMax + 1 receives are outstanding, while a stream of
 * messages is sent one credit at a time. */
static void test_3_1_5_9_extra_receive_bounded(void **state,
					       enum smbdirect_role role)
{
	struct mock *m = ready_max(*state, role, 4, 255, 2);
	int i;

	assert_int_equal(m->params.receive_credit_target, 4);
	for (i = 0; i < 20; i++) {
		submit(m, 10);
	}
	for (i = 0; i < 200 && stats(m).queued_messages > 0; i++) {
		assert_true(stats(m).receives_posted <= 5);
		assert_true(stats(m).receive_credits > 0);
		mock_complete_all(m);
		mock_recv_data(m, 255, 1, 0, 0, NULL, 0);
		assert_running(m);
		assert_true(stats(m).receives_posted <= 5);
	}
	assert_int_equal(stats(m).queued_messages, 0);
}
ROLE_TESTS(test_3_1_5_9_extra_receive_bounded)

/* [MS-SMBD] 3.1.5.8-f with 3.1.5.9-b: credits are counted in 16 bits, so
 * the receive beyond the target for the last-credit rule is never the
 * 65536th credit: with ReceiveCreditMax 65535 and the peer holding all
 * 65535, a message waiting with the last credit stays queued until the
 * peer uses one, and then grants exactly that one back. */
static void test_3_1_5_9_peer_never_holds_more_than_65535_credits(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_max(*state, role, 65535, 65535, 2);

	assert_int_equal(stats(m).receive_credits, 65535);
	assert_int_equal(stats(m).send_credits, 1);
	submit(m, 10);
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).receive_credits, 65535);
	assert_int_equal(stats(m).receives_posted, 65535);
	mock_recv_data(m, 65535, 0, 0, 0, NULL, 0);
	assert_running(m);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).credits_granted, 1);
	assert_int_equal(stats(m).receive_credits, 65535);
	assert_true(stats(m).receives_posted <= 65535);
}
ROLE_TESTS(test_3_1_5_9_peer_never_holds_more_than_65535_credits)

/* --- 3.1.5.9: granting receive credits ---------------------------------- */

/* [MS-SMBD] 3.1.5.9-b/c/d, 3.1.1.1 ReceiveCredits: credits are granted
 * only for receives the transport really posted (3 per call here, far
 * below the 100 asked); granted credits never exceed receives posted. */
static void test_3_1_5_9_credits_only_for_posted_receives(
	void **state, enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);
	uint64_t granted = 0;
	int i;

	assert_int_equal(smbdirect_engine_start(m->engine, m->now), 0);
	mock_complete_all(m);
	clear_logs(m);
	m->post_limit = 3;
	if (role == SMBDIRECT_ROLE_INITIATOR) {
		struct smbdirect_negotiate_response rsp =
			mock_default_response();

		rsp.credits_requested = 100;
		mock_recv_negotiate_response(m, &rsp);
	} else {
		struct smbdirect_negotiate_request req = mock_default_request();
		struct smbdirect_negotiate_response rsp;

		req.credits_requested = 100;
		mock_recv_negotiate_request(m, &req);
		assert_int_equal(smbdirect_negotiate_response_decode(
					 m->sent[0].bytes, m->sent[0].length,
					 &rsp),
				 SMBDIRECT_WIRE_OK);
		granted = rsp.credits_granted;
		assert_int_equal(granted, 3);
		clear_logs(m);
		mock_recv_data(m, 100, 50, 0, 0, NULL, 0);
		granted -= 1;
	}
	assert_running(m);
	for (i = 0; i < 10; i++) {
		struct smbdirect_engine_stats st = stats(m);

		granted += granted_since(m, 0);
		clear_logs(m);
		/* What we granted and the peer did not use yet ... */
		assert_int_equal(st.receive_credits, granted);
		/* ... is never more than what the transport holds. */
		assert_true(st.receive_credits <= st.receives_posted);
		assert_true(st.receives_posted <= m->posted_total);
		assert_true(st.receive_credits < 100);
		mock_complete_all(m);
		mock_recv_data(m, 100, 1, 0, 0, NULL, 0);
		granted -= 1;
		assert_running(m);
	}
}
ROLE_TESTS(test_3_1_5_9_credits_only_for_posted_receives)

/* [MS-SMBD] 3.1.5.8-d, 3.1.5.9-a/b/c: credits are granted toward the
 * CreditsRequested of the peer's latest message. Raised from 10 to 20:
 * the peer is topped up to 20. Lowered to 4: nothing is granted while the
 * peer holds 4 or more, and it is topped up to 4 again once low. */
static void test_3_1_5_9_grant_toward_peer_target(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 10, 255);
	struct smbdirect_data_header hdr;
	int i;

	assert_int_equal(stats(m).receive_credits, 10);
	mock_recv_data(m, 20, 0, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 1);
	hdr = sent_hdr(m, 0);
	assert_int_equal(hdr.data_length, 0);
	assert_int_equal(hdr.credits_granted, 11);
	assert_int_equal(stats(m).receive_credits, 20);
	assert_int_equal(stats(m).receives_posted, 20);
	/* 3.1.5.9-b/c: each receive holds a MaxReceiveSize message. */
	assert_true(m->last_buffer_size >= m->params.max_receive_size);
	assert_int_equal(m->last_buffer_size,
			 smbdirect_engine_receive_buffer_size(m->engine));

	clear_logs(m);
	for (i = 0; i < 18; i++) {
		mock_recv_data(m, 4, 0, 0, 0, NULL, 0);
		mock_complete_all(m);
	}
	/* 2 credits left: no grant yet (threshold (4 - 1) / 2 = 1). */
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).receive_credits, 2);
	assert_true(stats(m).receives_posted <= 4);
	mock_recv_data(m, 4, 0, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).credits_granted, 3);
	assert_int_equal(stats(m).receive_credits, 4);
	assert_int_equal(stats(m).receives_posted, 4);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_9_grant_toward_peer_target)

/* [MS-SMBD] 3.1.5.9-c, 3.1.5.6-e, 3.1.5.8-d: the target is capped by
 * ReceiveCreditMax (50): a peer asking 500, later 1000, gets 50. */
static void test_3_1_5_9_grant_capped_by_receive_credit_max(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_max(*state, role, 50, 500, 255);
	int i;

	assert_int_equal(m->params.receive_credit_target, 50);
	assert_true(stats(m).receive_credits <= 50);
	for (i = 0; i < 40; i++) {
		mock_recv_data(m, 1000, 0, 0, 0, NULL, 0);
		mock_complete_all(m);
		assert_true(stats(m).receives_posted <= 50);
		assert_true(stats(m).receive_credits <= 50);
	}
	assert_running(m);
	assert_int_equal(stats(m).receives_posted, 50);
}
ROLE_TESTS(test_3_1_5_9_grant_capped_by_receive_credit_max)

/* [MS-SMBD] 3.1.5.9-a, 3.1.5.1-c: while the peer holds its target, a data
 * message grants nothing; after the peer used 3 credits, the next data
 * message carries those 3 (no separate credit-only message). */
static void test_3_1_5_1_data_message_carries_due_credits(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 10, 255);
	uint64_t credit_only = stats(m).credit_only_sent;
	int i;

	assert_int_equal(stats(m).receive_credits, 10);
	submit(m, 10);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).credits_granted, 0);
	for (i = 0; i < 3; i++) {
		mock_recv_data(m, 10, 0, 0, 0, NULL, 0);
	}
	assert_int_equal(m->sent_count, 1);
	submit(m, 10);
	assert_int_equal(m->sent_count, 2);
	assert_int_equal(sent_hdr(m, 1).data_length, 10);
	assert_int_equal(sent_hdr(m, 1).credits_granted, 3);
	assert_int_equal(stats(m).receive_credits, 10);
	assert_int_equal(stats(m).credit_only_sent, credit_only);
}
ROLE_TESTS(test_3_1_5_1_data_message_carries_due_credits)

/* --- 3.1.5.8: credit fields of received messages ------------------------ */

/* [MS-SMBD] 3.1.5.8-b (with 3.1.5.9): a peer that sends with none of our
 * credits left is terminated (no-credit); that message is not delivered.
 * The engine, with no send credit of its own, cannot grant more. */
static void test_3_1_5_8_no_credit_terminates(void **state,
					      enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 3, 1);
	int i;

	assert_int_equal(stats(m).send_credits, 0);
	assert_int_equal(stats(m).receive_credits, 3);
	for (i = 0; i < 3; i++) {
		mock_recv_data(m, 3, 0, 0, 0, "ok", 2);
		assert_running(m);
	}
	assert_int_equal(m->delivered_count, 3);
	assert_int_equal(stats(m).receive_credits, 0);
	assert_true(stats(m).receives_posted > 0);
	mock_recv_data(m, 3, 0, 0, 0, "no", 2);
	assert_terminated(m, SMBDIRECT_REASON_NO_CREDIT);
	assert_int_equal(m->delivered_count, 3);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_5_8_no_credit_terminates)

/* [MS-SMBD] 3.1.5.8-f: CreditsGranted adds to SendCredits; the total may
 * reach 65535 (the field's range) but a grant that takes it above ends the
 * connection (credit-overflow) without delivering that message. */
static void test_3_1_5_8_credit_overflow_terminates(void **state,
						    enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 1000);
	uint16_t have = stats(m).send_credits;

	mock_recv_data(m, 255, 5, 0, 0, NULL, 0);
	assert_int_equal(stats(m).send_credits, have + 5);
	mock_recv_data(m, 255, (uint16_t)(65535 - have - 5), 0, 0, NULL, 0);
	assert_running(m);
	assert_int_equal(stats(m).send_credits, 65535);
	assert_int_equal(m->sent_count, 0);
	mock_recv_data(m, 255, 1, 0, 0, "x", 1);
	assert_terminated(m, SMBDIRECT_REASON_CREDIT_OVERFLOW);
	assert_int_equal(m->delivered_count, 0);

	m = ready_credits(*state, role, NULL, 255, 2);
	mock_recv_data(m, 255, 65535, 0, 0, NULL, 0);
	assert_terminated(m, SMBDIRECT_REASON_CREDIT_OVERFLOW);
}
ROLE_TESTS(test_3_1_5_8_credit_overflow_terminates)

/* [MS-SMBD] 3.1.5.1-g: every data transfer message we send, with data,
 * fragmented, credit-only or answering a keepalive, has CreditsRequested =
 * SendCreditTarget (37 here). */
static void test_3_1_5_1_credits_requested_is_send_credit_target(
	void **state, enum smbdirect_role role)
{
	struct smbdirect_settings s;
	struct mock *m;
	size_t i;

	smbdirect_settings_default(&s);
	s.send_credit_target = 37;
	m = ready_credits(*state, role, &s, 4, 255);
	submit(m, 3000);
	mock_recv_data(m, 4, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL, 0);
	for (i = 0; i < 3; i++) {
		mock_recv_data(m, 4, 0, 0, 0, NULL, 0);
	}
	mock_complete_all(m);
	mock_advance(m, s.keepalive_interval_ms);
	assert_running(m);
	assert_true(m->sent_count >= 6);
	assert_int_equal(stats(m).keepalives_sent, 1);
	for (i = 0; i < m->sent_count; i++) {
		assert_int_equal(sent_hdr(m, i).credits_requested, 37);
	}
}
ROLE_TESTS(test_3_1_5_1_credits_requested_is_send_credit_target)

/* [MS-SMBD] 3.1.7.2-h, 3.1.5.6 (SendCredits is not set): the responder
 * starts with no send credit and sends nothing until the initiator's
 * first message grants some (5), which it then holds. */
static void test_3_1_5_6_responder_starts_with_zero_send_credits(
	void **state)
{
	struct mock *m =
		ready_credits(*state, SMBDIRECT_ROLE_RESPONDER, NULL, 255, 0);

	assert_int_equal(stats(m).send_credits, 0);
	submit(m, 10);
	assert_int_equal(m->sent_count, 0);
	mock_recv_data(m, 255, 5, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).data_length, 10);
	assert_int_equal(stats(m).send_credits, 4);
}

/* [MS-SMBD] 3.1.5.7-b: the initiator's SendCredits is the response's
 * CreditsGranted (read while corked, before anything is sent). */
static void test_3_1_5_7_initiator_send_credits_from_response(void **state)
{
	struct mock *m = mock_new(*state, SMBDIRECT_ROLE_INITIATOR, NULL);
	struct smbdirect_negotiate_response rsp = mock_default_response();

	rsp.credits_granted = 7;
	smbdirect_engine_start(m->engine, m->now);
	mock_complete_all(m);
	smbdirect_engine_cork(m->engine);
	mock_recv_negotiate_response(m, &rsp);
	assert_true(m->connected);
	assert_int_equal(stats(m).send_credits, 7);
	assert_int_equal(m->sent_count, 1);
	smbdirect_engine_uncork(m->engine, m->now);
	/* Its first message grants the responder its credits. */
	assert_int_equal(m->sent_count, 2);
	assert_int_equal(sent_hdr(m, 1).credits_granted, 255);
	assert_int_equal(stats(m).send_credits, 6);
}

/* [MS-SMBD] 3.1.5.8-f: CreditsGranted of each received message is added
 * to SendCredits. */
static void test_3_1_5_8_credits_granted_added(void **state,
					       enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 100);
	uint16_t have = stats(m).send_credits;

	mock_recv_data(m, 255, 5, 0, 0, NULL, 0);
	assert_int_equal(stats(m).send_credits, have + 5);
	mock_recv_data(m, 255, 0, 0, 0, "data", 4);
	assert_int_equal(stats(m).send_credits, have + 5);
	mock_recv_data(m, 255, 300, 0, 0, "data", 4);
	assert_int_equal(stats(m).send_credits, have + 305);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_5_8_credits_granted_added)

/* [MS-SMBD] 3.1.5.8-c with the documented threshold: with nothing queued,
 * a credit-only message (20 bytes, DataOffset = DataLength =
 * RemainingDataLength = 0, Flags 0) tops the peer up to its target (10)
 * once it holds (10 - 1) / 2 = 4 credits or fewer, not before. */
static void test_3_1_5_8_credit_only_message_when_peer_low(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 10, 255);
	uint64_t credit_only = stats(m).credit_only_sent;
	struct smbdirect_data_header hdr;
	int i;

	assert_int_equal(stats(m).receive_credits, 10);
	for (i = 0; i < 5; i++) {
		mock_recv_data(m, 10, 0, 0, 0, NULL, 0);
	}
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).receive_credits, 5);
	mock_recv_data(m, 10, 0, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(m->sent[0].length, 20);
	hdr = sent_hdr(m, 0);
	assert_int_equal(hdr.credits_granted, 6);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.reserved, 0);
	assert_int_equal(hdr.data_offset, 0);
	assert_int_equal(hdr.data_length, 0);
	assert_int_equal(hdr.remaining_data_length, 0);
	assert_int_equal(stats(m).credit_only_sent, credit_only + 1);
	assert_int_equal(stats(m).receive_credits, 10);
}
ROLE_TESTS(test_3_1_5_8_credit_only_message_when_peer_low)

/* [MS-SMBD] 3.1.5.8-c: a peer left with no credit is always refilled at
 * once, for the smallest targets: 2 (after two messages) and 1 (after
 * every message; a peer may ask for 1). */
static void test_3_1_5_8_peer_at_zero_credits_refilled(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 2, 255);
	int i;

	mock_recv_data(m, 2, 0, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 0);
	mock_recv_data(m, 2, 0, 0, 0, NULL, 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_hdr(m, 0).credits_granted, 2);

	m = ready_credits(*state, role, NULL, 1, 255);
	for (i = 0; i < 5; i++) {
		assert_int_equal(stats(m).receive_credits, 1);
		mock_recv_data(m, 1, 0, 0, 0, NULL, 0);
		mock_complete_all(m);
		assert_int_equal(m->sent_count, (size_t)i + 1);
		assert_int_equal(sent_hdr(m, (size_t)i).credits_granted, 1);
	}
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_peer_at_zero_credits_refilled)

/* smbdirect_engine.h cork/uncork with [MS-SMBD] 3.1.5.8-c/e: uncorked,
 * three messages asking for a response get three answers granting 1 each;
 * corked, the same three get one answer granting 3 at uncork, and a data
 * message submitted meanwhile carries the credits and is the answer. */
static void test_cork_batches_credit_grants(void **state,
					    enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 10, 255);
	struct smbdirect_data_header hdr;
	int i;

	for (i = 0; i < 3; i++) {
		mock_recv_data(m, 10, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0,
			       NULL, 0);
	}
	assert_int_equal(m->sent_count, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(sent_hdr(m, (size_t)i).credits_granted, 1);
	}

	m = ready_credits(*state, role, NULL, 10, 255);
	smbdirect_engine_cork(m->engine);
	for (i = 0; i < 3; i++) {
		mock_recv_data(m, 10, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0,
			       NULL, 0);
	}
	assert_int_equal(m->sent_count, 0);
	smbdirect_engine_uncork(m->engine, m->now);
	assert_int_equal(m->sent_count, 1);
	hdr = sent_hdr(m, 0);
	assert_int_equal(hdr.credits_granted, 3);
	assert_int_equal(hdr.data_length, 0);
	assert_int_equal(stats(m).receive_credits, 10);

	m = ready_credits(*state, role, NULL, 10, 255);
	smbdirect_engine_cork(m->engine);
	mock_recv_data(m, 10, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL,
		       0);
	mock_recv_data(m, 10, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL,
		       0);
	submit(m, 100);
	assert_int_equal(m->sent_count, 0);
	smbdirect_engine_uncork(m->engine, m->now);
	assert_int_equal(m->sent_count, 1);
	hdr = sent_hdr(m, 0);
	assert_int_equal(hdr.data_length, 100);
	assert_int_equal(hdr.credits_granted, 2);
	/* Uncorking again with nothing due sends nothing. */
	smbdirect_engine_uncork(m->engine, m->now);
	assert_int_equal(m->sent_count, 1);
	assert_running(m);
}
ROLE_TESTS(test_cork_batches_credit_grants)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_3_1_5_1_send_consumes_one_credit),
		BOTH(test_3_1_5_1_no_send_without_credit),
		BOTH(test_3_1_5_1_last_credit_only_for_granting_message),
		BOTH(test_3_1_5_9_extra_receive_bounded),
		BOTH(test_3_1_5_9_peer_never_holds_more_than_65535_credits),
		BOTH(test_3_1_5_9_credits_only_for_posted_receives),
		BOTH(test_3_1_5_9_grant_toward_peer_target),
		BOTH(test_3_1_5_9_grant_capped_by_receive_credit_max),
		BOTH(test_3_1_5_1_data_message_carries_due_credits),
		BOTH(test_3_1_5_8_no_credit_terminates),
		BOTH(test_3_1_5_8_credit_overflow_terminates),
		BOTH(test_3_1_5_1_credits_requested_is_send_credit_target),
		T(test_3_1_5_6_responder_starts_with_zero_send_credits),
		T(test_3_1_5_7_initiator_send_credits_from_response),
		BOTH(test_3_1_5_8_credits_granted_added),
		BOTH(test_3_1_5_8_credit_only_message_when_peer_low),
		BOTH(test_3_1_5_8_peer_at_zero_credits_refilled),
		BOTH(test_cork_batches_credit_grants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
