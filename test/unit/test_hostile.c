/*
 * libsmbdirect unit tests: hostile peers against the protocol engine
 * (docs/robustness.md, the catalogue's engine entries).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Each test plays a peer that breaks [MS-SMBD] in one way, or pushes a
 * legal value to its extreme, through the mock transport
 * (test/common/mock.h), and checks what the engine must do: end the
 * connection once, with the reason and a detail, deliver nothing of the
 * bad message, send nothing more; or, for legal extremes, go on working
 * within its own limits. The tests named in docs/robustness.md that live
 * elsewhere (test_data.c, test_negotiate.c, test_credits.c, ...) cover
 * the rules of [MS-SMBD] one by one; these cover the classes of the
 * Linux kernel's SMB-Direct CVEs (docs/robustness.md has the table).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <talloc.h>

#include "unit.h"

/* A small deterministic generator: the same bytes on every run. */
static uint32_t prng(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 1;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

/* A responder that got `req` (a talloc child of mem). */
static struct mock *responder_with(void *mem,
				   const struct smbdirect_negotiate_request *req)
{
	struct mock *m = started(mem, SMBDIRECT_ROLE_RESPONDER, NULL);

	mock_recv_negotiate_request(m, req);
	return m;
}

/* The negotiate response the responder sent first. */
static struct smbdirect_negotiate_response sent_response(const struct mock *m)
{
	struct smbdirect_negotiate_response rsp;

	assert_true(m->sent_count >= 1);
	assert_int_equal(m->sent[0].length, SMBDIRECT_NEGOTIATE_RESPONSE_SIZE);
	assert_int_equal(smbdirect_negotiate_response_decode(
				 m->sent[0].bytes, m->sent[0].length, &rsp),
			 SMBDIRECT_WIRE_OK);
	return rsp;
}

/* --- negotiation -------------------------------------------------------- */

/*
 * A negotiate request longer than its 20 bytes (here 512, the whole
 * negotiate receive, the rest garbage): [MS-SMBD] 3.1.5.6 asks for at
 * least 20 bytes; the rest is ignored. The responder answers with
 * success and its values come from the first 20 bytes only.
 */
static void test_hostile_negotiate_request_long(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);
	struct smbdirect_negotiate_response rsp;
	uint8_t buf[512];
	uint32_t seed = 7;
	size_t i;

	for (i = 0; i < sizeof(buf); i++) {
		buf[i] = (uint8_t)prng(&seed);
	}
	req.credits_requested = 17;
	assert_int_equal(smbdirect_negotiate_request_encode(&req, buf,
							    sizeof(buf)),
			 20);
	mock_recv(m, buf, sizeof(buf));
	assert_running(m);
	assert_true(m->connected);
	rsp = sent_response(m);
	assert_int_equal(rsp.status, SMBDIRECT_STATUS_SUCCESS);
	assert_int_equal(m->params.receive_credit_target, 17);
	assert_int_equal(rsp.credits_granted, 17);
}

/* What [MS-SMBD] 3.1.5.6 says must follow a negotiate request. */
static enum smbdirect_reason expected_for_request(
	const struct smbdirect_negotiate_request *q, size_t len)
{
	if (len < SMBDIRECT_NEGOTIATE_REQUEST_SIZE) {
		return SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT;
	}
	if (q->min_version > 0x0100 || q->max_version < 0x0100) {
		return SMBDIRECT_REASON_NEGOTIATE_VERSION;
	}
	if (q->credits_requested == 0) {
		return SMBDIRECT_REASON_NEGOTIATE_CREDITS;
	}
	if (q->max_receive_size < SMBDIRECT_MIN_RECEIVE_SIZE ||
	    q->max_fragmented_size < SMBDIRECT_MIN_FRAGMENTED_SIZE) {
		return SMBDIRECT_REASON_NEGOTIATE_SIZES;
	}
	return SMBDIRECT_REASON_NONE;
}

/*
 * Garbage as the first message, 4,000 times: random lengths (0 to 64
 * bytes) and bytes, with the version field forced to include 0x0100 half
 * of the time so that the later checks are reached too. Each time the
 * responder does exactly what 3.1.5.6 says for those bytes (checked
 * against an independent reading): connects, or answers a version it
 * cannot speak with STATUS_NOT_SUPPORTED and then ends, or ends with the
 * reason; it never delivers anything, never sends more than its one
 * response, and never uses a size the peer gave above its own.
 */
static void test_hostile_negotiate_request_garbage(void **state)
{
	uint32_t seed = 2026;
	int i;

	for (i = 0; i < 4000; i++) {
		void *mem = talloc_new(*state);
		struct mock *m = started(mem, SMBDIRECT_ROLE_RESPONDER, NULL);
		uint8_t buf[64];
		size_t len = prng(&seed) % 65;
		struct smbdirect_negotiate_request q;
		enum smbdirect_reason want;
		size_t k;

		for (k = 0; k < sizeof(buf); k++) {
			buf[k] = (uint8_t)prng(&seed);
		}
		if (i % 2 == 0) {
			put_le16(buf, (uint16_t)(prng(&seed) % 0x101));
			put_le16(buf + 2, (uint16_t)(0x100 + prng(&seed) % 4));
		}
		if (i % 4 == 0) {
			/* Plausible sizes, so that success is reached. */
			put_le32(buf + 12, 128 + prng(&seed) % 4096);
			put_le32(buf + 16, 131072 + prng(&seed) % 1000000);
		}
		memset(&q, 0, sizeof(q));
		smbdirect_negotiate_request_decode(buf, len, &q);
		want = expected_for_request(&q, len);
		mock_recv(m, buf, len);
		mock_complete_all(m);
		assert_int_equal(m->delivered_count, 0);
		if (want == SMBDIRECT_REASON_NONE) {
			assert_running(m);
			assert_true(m->connected);
			assert_int_equal(m->sent_count, 1);
			assert_true(m->params.max_send_size <=
				    m->settings.max_send_size);
			assert_true(m->params.max_send_size <=
				    q.max_receive_size);
			assert_true(m->params.max_receive_size <=
				    m->settings.max_receive_size);
			assert_true(m->params.max_receive_size >=
				    SMBDIRECT_MIN_RECEIVE_SIZE);
		} else {
			assert_terminated(m, want);
			assert_false(m->connected);
			/* Only a failure response, for the version. */
			assert_int_equal(
				m->sent_count,
				want == SMBDIRECT_REASON_NEGOTIATE_VERSION ? 1 : 0);
		}
		talloc_free(mem);
	}
}

/* The same for the initiator, with random negotiate responses. */
static void test_hostile_negotiate_response_garbage(void **state)
{
	uint32_t seed = 4711;
	int i;
	int connected = 0;

	for (i = 0; i < 4000; i++) {
		void *mem = talloc_new(*state);
		struct mock *m = started(mem, SMBDIRECT_ROLE_INITIATOR, NULL);
		struct smbdirect_negotiate_response r = mock_default_response();
		uint8_t buf[64];
		size_t len = 20 + prng(&seed) % 45;
		bool ok;
		size_t k;

		mock_complete_all(m);
		/* Start from a good response and spoil a few fields. */
		smbdirect_negotiate_response_encode(&r, buf, sizeof(buf));
		for (k = 32; k < sizeof(buf); k++) {
			buf[k] = (uint8_t)prng(&seed);
		}
		for (k = prng(&seed) % 4; k > 0; k--) {
			buf[prng(&seed) % 32] = (uint8_t)prng(&seed);
		}
		memset(&r, 0, sizeof(r));
		smbdirect_negotiate_response_decode(buf, len, &r);
		ok = len >= 32 && r.min_version <= 0x0100 &&
		     r.max_version >= 0x0100 && r.negotiated_version == 0x0100 &&
		     r.status == 0 && r.credits_requested > 0 &&
		     r.credits_granted > 0 && r.max_receive_size >= 128 &&
		     r.max_fragmented_size >= 131072 &&
		     r.preferred_send_size <= m->settings.max_receive_size;
		mock_recv(m, buf, len);
		assert_int_equal(m->delivered_count, 0);
		if (ok) {
			connected += 1;
			assert_running(m);
			assert_true(m->connected);
			assert_true(m->params.max_send_size <= r.max_receive_size);
			assert_true(m->params.max_read_write_size <=
				    m->settings.max_read_write_size);
		} else {
			assert_int_equal(m->terminated_count, 1);
			assert_false(m->connected);
			assert_int_equal(m->sent_count, 1); /* our request only */
		}
		talloc_free(mem);
	}
	/* Both outcomes were reached. */
	assert_true(connected > 100 && connected < 3900);
}

/*
 * CVE-2026-43185's class (a size compared as signed): PreferredSendSize,
 * MaxReceiveSize and MaxFragmentedSize of 0x80000000 and 0xFFFFFFFF in
 * a request. The responder's sizes stay its own: it receives at most
 * its MaxReceiveSize (a message one byte longer ends the connection) and
 * sends at most its MaxSendSize, however big the peer's numbers.
 */
static void test_hostile_negotiate_request_top_bit_sizes(void **state)
{
	static const uint32_t big[] = {0x80000000u, 0xFFFFFFFFu, 0x7FFFFFFFu};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(big); i++) {
		struct smbdirect_negotiate_request req = mock_default_request();
		struct smbdirect_negotiate_response rsp;
		struct mock *m;
		struct tmsg *t;
		uint8_t msg[1400];
		size_t k;

		req.preferred_send_size = big[i];
		req.max_receive_size = big[i];
		req.max_fragmented_size = big[i];
		m = responder_with(*state, &req);
		assert_running(m);
		rsp = sent_response(m);
		assert_int_equal(rsp.status, SMBDIRECT_STATUS_SUCCESS);
		assert_int_equal(m->params.max_receive_size, 1364);
		assert_int_equal(m->params.max_send_size, 1364);
		assert_int_equal(m->params.max_fragmented_send_size, big[i]);
		assert_int_equal(rsp.max_receive_size, 1364);
		assert_int_equal(rsp.preferred_send_size, 1364);
		mock_complete_all(m);
		/* Credits to send with, then a message as big as allowed:
		 * every fragment stays within our MaxSendSize. */
		mock_recv_data(m, 255, 255, 0, 0, NULL, 0);
		clear_logs(m);
		t = tmsg_new(m, 100000, 0x5a);
		assert_int_equal(smbdirect_engine_submit(m->engine, m->now,
							 &t->msg),
				 0);
		assert_true(m->sent_count > 70);
		for (k = 0; k < m->sent_count; k++) {
			assert_true(m->sent[k].length <= 1364);
		}
		mock_complete_all(m);
		assert_running(m);
		/* A message one byte beyond our MaxReceiveSize. */
		memset(msg, 0, sizeof(msg));
		put_data_header(msg, 255, 0, 0, 0, 0, 24, 1365 - 24);
		mock_recv(m, msg, 1365);
		assert_terminated(m, SMBDIRECT_REASON_INVALID_MESSAGE);
		assert_int_equal(m->delivered_count, 0);
	}
}

/*
 * The same class on the initiator: a response whose PreferredSendSize
 * has the top bit set (far above the MaxReceiveSize we announced) ends
 * the negotiation (3.1.5.7); MaxReceiveSize, MaxFragmentedSize and
 * MaxReadWriteSize of 0xFFFFFFFF are accepted and never raise our own
 * values (MaxReadWriteSize is the smaller of the two).
 */
static void test_hostile_negotiate_response_top_bit_sizes(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m = started(*state, SMBDIRECT_ROLE_INITIATOR, NULL);

	rsp.preferred_send_size = 0x80000000u;
	mock_recv_negotiate_response(m, &rsp);
	assert_terminated(m, SMBDIRECT_REASON_NEGOTIATE_SIZES);
	assert_false(m->connected);

	m = started(*state, SMBDIRECT_ROLE_INITIATOR, NULL);
	rsp = mock_default_response();
	rsp.max_receive_size = 0xFFFFFFFFu;
	rsp.max_fragmented_size = 0xFFFFFFFFu;
	rsp.max_read_write_size = 0xFFFFFFFFu;
	mock_recv_negotiate_response(m, &rsp);
	assert_running(m);
	assert_int_equal(m->params.max_send_size, 1364);
	assert_int_equal(m->params.max_read_write_size, 8388608);
	assert_int_equal(m->params.max_fragmented_receive_size, 1048576);
}

/*
 * MaxReadWriteSize 0 from the listener: the connection carries messages
 * (3.1.5.7 makes no rule about it), with a MaxReadWriteSize of 0: the
 * RDMA binding then refuses every RDMA read and write locally (EINVAL;
 * test_hostile_binding:test_hostile_rdma_refused_locally).
 */
static void test_hostile_negotiate_response_read_write_zero(void **state)
{
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m = started(*state, SMBDIRECT_ROLE_INITIATOR, NULL);
	struct tmsg *t;

	rsp.max_read_write_size = 0;
	mock_recv_negotiate_response(m, &rsp);
	assert_running(m);
	assert_int_equal(m->params.max_read_write_size, 0);
	t = tmsg_new(m, 3000, 1);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_running(m);
}

/*
 * A second negotiate message after the connection is up: it is read as
 * a data transfer message (2.2: the negotiate messages are the first two
 * only). A request's MaxReceiveSize lands in DataOffset, so its data
 * lies past the message: invalid-message; a response's
 * NegotiatedVersion 0x0100 lands in Flags: undefined bits,
 * invalid-message. Nothing is delivered.
 */
static void test_hostile_negotiate_twice(void **state)
{
	struct smbdirect_negotiate_request req = mock_default_request();
	struct smbdirect_negotiate_response rsp = mock_default_response();
	struct mock *m;

	m = ready_credits(*state, SMBDIRECT_ROLE_RESPONDER, NULL, 255, 255);
	req.max_receive_size = 1368; /* 8-aligned: past the message */
	mock_recv_negotiate_request(m, &req);
	assert_terminated(m, SMBDIRECT_REASON_INVALID_MESSAGE);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->sent_count, 0);

	m = ready_credits(*state, SMBDIRECT_ROLE_RESPONDER, NULL, 255, 255);
	req = mock_default_request();
	mock_recv_negotiate_request(m, &req);
	assert_terminated(m, SMBDIRECT_REASON_INVALID_MESSAGE);

	m = ready_credits(*state, SMBDIRECT_ROLE_INITIATOR, NULL, 255, 255);
	mock_recv_negotiate_response(m, &rsp);
	assert_terminated(m, SMBDIRECT_REASON_INVALID_MESSAGE);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->sent_count, 0);
}

/*
 * Data before negotiation: a data transfer message (24 bytes with 4 of
 * payload) as the first message. The responder reads it as a negotiate
 * request (3.1.5.5): its CreditsRequested and CreditsGranted (255, 255)
 * are a version range without 0x0100: STATUS_NOT_SUPPORTED, then the
 * end; an initiator finds it shorter than a response (32 bytes). Never
 * connected, nothing delivered.
 */
static void test_hostile_data_before_negotiate(void **state)
{
	struct mock *m = started(*state, SMBDIRECT_ROLE_RESPONDER, NULL);

	mock_recv_data(m, 255, 255, 0, 0, "abcd", 4);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(sent_response(m).status,
			 SMBDIRECT_STATUS_NOT_SUPPORTED);
	mock_complete_all(m);
	assert_terminated(m, SMBDIRECT_REASON_NEGOTIATE_VERSION);
	assert_false(m->connected);
	assert_int_equal(m->delivered_count, 0);

	m = started(*state, SMBDIRECT_ROLE_INITIATOR, NULL);
	mock_complete_all(m);
	mock_recv_data(m, 255, 255, 0, 0, "abcd", 4);
	assert_terminated(m, SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT);
	assert_false(m->connected);
	assert_int_equal(m->delivered_count, 0);
}

/* --- buffer descriptors -------------------------------------------------- */

/*
 * A descriptor whose Offset + Length runs past 2^64 ([MS-SMBD] 2.2.3.1:
 * Offset is the first byte of a registered buffer of Length bytes): the
 * decoder refuses it (range-wraps), whatever the other descriptors; a
 * range that ends exactly at 2^64 - 1 is accepted. (The RDMA binding
 * refuses the same lists itself: test_hostile_binding.c,
 * test_hostile_rdma_refused_locally.)
 */
static void test_hostile_descriptor_range_wraps(void **state)
{
	struct smbdirect_buffer_descriptor d[2] = {
		{ 0x1000, 1, 4096 },
		{ UINT64_MAX - 4095, 2, 4096 },
	};
	struct smbdirect_buffer_descriptor out[2];
	uint8_t buf[32];
	size_t count;

	(void)state;
	assert_int_equal(smbdirect_buffer_descriptors_encode(d, 2, buf,
							     sizeof(buf)),
			 32);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 32, out, 2, UINT64_MAX, &count, NULL),
			 SMBDIRECT_WIRE_OK);
	d[1].offset += 1;
	smbdirect_buffer_descriptors_encode(d, 2, buf, sizeof(buf));
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 32, out, 2, UINT64_MAX, &count, NULL),
			 SMBDIRECT_WIRE_RANGE_WRAPS);
	assert_int_equal(count, 0);
	d[1].offset = UINT64_MAX;
	d[1].length = 0xFFFFFFFFu;
	smbdirect_buffer_descriptors_encode(d, 2, buf, sizeof(buf));
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 32, out, 2, UINT64_MAX, &count, NULL),
			 SMBDIRECT_WIRE_RANGE_WRAPS);
	assert_string_equal(
		smbdirect_wire_error_string(SMBDIRECT_WIRE_RANGE_WRAPS),
		"range-wraps");
}

/* --- data transfer ------------------------------------------------------- */

/*
 * CVE-2025-39942's class (reassembly beyond MaxFragmentedSize), with the
 * sum wrapping in 32 bits: DataLength 32 and RemainingDataLength
 * 0xFFFFFFF0 add up to 2^32 + 16, which a 32-bit sum would read as 16.
 * And mid-message: a second fragment whose DataLength +
 * RemainingDataLength is the previous RemainingDataLength plus 2^32.
 * Both end the connection (fragment-overflow) with nothing delivered
 * and no reassembly memory beyond MaxFragmentedSize.
 */
static void test_hostile_remaining_wraps(void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 255);
	uint8_t payload[1000];

	memset(payload, 0x33, sizeof(payload));
	mock_recv_data(m, 255, 0, 0, 0xFFFFFFF0u, payload, 32);
	assert_terminated(m, SMBDIRECT_REASON_FRAGMENT_OVERFLOW);
	assert_int_equal(m->delivered_count, 0);

	/* 500 bytes still due after the first fragment; the second has
	 * 1000 bytes and RemainingDataLength 2^32 - 500: in 32 bits the
	 * two add up to the 500 due, and its 1000 bytes would overrun the
	 * 1500-byte reassembly buffer. */
	m = ready_credits(*state, role, NULL, 255, 255);
	mock_recv_data(m, 255, 0, 0, 500, payload, 1000);
	assert_running(m);
	mock_recv_data(m, 255, 0, 0, 0xFFFFFE0Cu, payload, 1000);
	assert_int_equal(m->terminated_count, 1);
	assert_true(m->reason == SMBDIRECT_REASON_FRAGMENT_OVERFLOW ||
		    m->reason == SMBDIRECT_REASON_FRAGMENT_SEQUENCE);
	assert_int_equal(m->delivered_count, 0);
	assert_true(talloc_total_size(m->engine) <
		    1048576 + 64 * 1024);
}
ROLE_TESTS(test_hostile_remaining_wraps)

/*
 * RemainingDataLength that grows in the middle of a message (each
 * fragment claims more is still to come than the one before): the
 * second fragment ends the connection (fragment-sequence); the first
 * fragment is never delivered.
 */
static void test_hostile_remaining_grows(void **state,
					 enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 255);
	uint8_t payload[1000];

	memset(payload, 0x44, sizeof(payload));
	mock_recv_data(m, 255, 0, 0, 10000, payload, 1000);
	mock_recv_data(m, 255, 0, 0, 10000, payload, 1000);
	assert_terminated(m, SMBDIRECT_REASON_FRAGMENT_SEQUENCE);
	assert_int_equal(m->delivered_count, 0);
}
ROLE_TESTS(test_hostile_remaining_grows)

/*
 * Credits granted over and over until the counter would overflow: 1000
 * at a time, each message spending one of our credits. Every grant up to
 * 65535 in all is taken; the one beyond ends the connection
 * (credit-overflow, 3.1.5.8) and the counter never wraps.
 */
static void test_hostile_grant_until_overflow(void **state,
					      enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 1);
	uint32_t have = stats(m).send_credits;
	int i;

	for (i = 0; have + 1000 <= 65535; i++) {
		mock_recv_data(m, 255, 1000, 0, 0, NULL, 0);
		mock_complete_all(m);
		clear_logs(m);
		assert_running(m);
		assert_int_equal(stats(m).send_credits, have + 1000);
		have += 1000;
	}
	assert_true(i >= 65);
	mock_recv_data(m, 255, 1000, 0, 0, NULL, 0);
	assert_terminated(m, SMBDIRECT_REASON_CREDIT_OVERFLOW);
	assert_int_equal(stats(m).send_credits, have);
}
ROLE_TESTS(test_hostile_grant_until_overflow)

/*
 * The peer's side of the credits: how many of our credits it holds (it
 * starts with its full target, as ready_credits() leaves it) and how
 * many of our messages it has not yet paid back with a grant. Taken from
 * the mock's log of sent messages, which it then clears.
 */
struct peer_books {
	uint32_t holds;   /* our credits the peer may still spend */
	uint32_t owed;    /* our messages since the peer last granted */
	uint64_t seen;    /* our messages in all */
};

static void books_take(struct mock *m, struct peer_books *b)
{
	size_t i;

	for (i = 0; i < m->sent_count; i++) {
		b->holds += sent_hdr(m, i).credits_granted;
	}
	b->owed += (uint32_t)m->sent_count;
	b->seen += m->sent_count;
	mock_complete_all(m);
	clear_logs(m);
}

/* The peer sends an empty message with `flags`, granting what it owes
 * if `pay`; it must hold one of our credits. */
static void books_send(struct mock *m, struct peer_books *b, uint16_t flags,
		       bool pay)
{
	uint16_t grant = pay ? (uint16_t)b->owed : 0;

	assert_true(b->holds > 0);
	b->holds -= 1;
	if (pay) {
		b->owed = 0;
	}
	mock_recv_data(m, 255, grant, flags, 0, NULL, 0);
}

/*
 * A storm of SMB_DIRECT_RESPONSE_REQUESTED: 20,000 messages that each
 * ask for an answer, the peer spending our credits as fast as we give
 * them and paying back each of our messages with a credit, in batches
 * of 16 (as the binding corks a batch of completions). The engine
 * answers every batch, with one message where one suffices; it never
 * sends more messages than it received, never queues, holds no more
 * credits than the peer really gave, and its memory does not grow.
 */
static void test_hostile_response_requested_storm(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 255);
	struct peer_books b = { .holds = 255 };
	struct smbdirect_engine_stats st;
	size_t size0 = talloc_total_size(m->engine);
	uint32_t ours = stats(m).send_credits;
	int sent_by_peer = 0;
	int i;

	for (i = 0; i < 20000; i++) {
		if (b.holds == 0) {
			break;
		}
		if (i % 16 == 0) {
			smbdirect_engine_cork(m->engine);
		}
		books_send(m, &b, SMBDIRECT_FLAG_RESPONSE_REQUESTED,
			   i % 16 == 0);
		sent_by_peer += 1;
		if (i % 16 == 15) {
			smbdirect_engine_uncork(m->engine, m->now);
			books_take(m, &b);
			assert_running(m);
		}
	}
	smbdirect_engine_uncork(m->engine, m->now);
	books_take(m, &b);
	assert_int_equal(sent_by_peer, 20000);
	st = stats(m);
	assert_int_equal(st.queued_messages, 0);
	assert_true(b.seen >= 20000 / 16);
	assert_true(b.seen <= 20000);
	/* Our credits: what we had, plus what the peer granted, minus what
	 * we spent: at most what we started with. */
	assert_true(st.send_credits <= ours);
	assert_int_equal(talloc_total_size(m->engine), size0);
}
ROLE_TESTS(test_hostile_response_requested_storm)

/*
 * The same storm from a peer that never grants a credit back: the
 * engine answers while it has credits (keeping its last one for a
 * message that grants, 3.1.5.1), then stops; it never sends without a
 * credit and never ends the connection for it (the peer is merely
 * rude). The peer spends the credits our answers gave it and falls
 * silent; our keepalive (sent with the last credit, which it may take
 * since it grants) goes unanswered: keepalive-timeout after the
 * interval and the timeout, a bounded time.
 */
static void test_hostile_response_requested_without_credits(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 10);
	struct peer_books b = { .holds = 255 };
	int i;

	for (i = 0; i < 100000 && b.holds > 0; i++) {
		books_send(m, &b, SMBDIRECT_FLAG_RESPONSE_REQUESTED, false);
		books_take(m, &b);
		assert_running(m);
	}
	assert_true(b.holds == 0);
	/* 9 credits left after the first grant: at most 9 answers. */
	assert_true(b.seen <= 9);
	assert_true(stats(m).send_credits <= 1);
	mock_advance(m, m->settings.keepalive_interval_ms);
	books_take(m, &b);
	assert_running(m);
	mock_advance(m, m->settings.keepalive_timeout_ms);
	assert_terminated(m, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
}
ROLE_TESTS(test_hostile_response_requested_without_credits)

/*
 * Starvation: a peer that asks for credits (CreditsRequested 1, legal)
 * but never grants one while 100 of our messages wait. Nothing is sent
 * without a credit, the messages stay queued (the caller's, linked: the
 * engine allocates nothing for them), and the connection ends with
 * keepalive-timeout within interval + timeout; the waiting messages go
 * back to the caller (no send_done).
 */
static void test_hostile_starvation(void **state, enum smbdirect_role role)
{
	struct smbdirect_settings s;
	struct mock *m;
	size_t size0;
	int i;

	smbdirect_settings_default(&s);
	s.keepalive_interval_ms = 2000;
	s.keepalive_timeout_ms = 1000;
	/* The peer grants one credit, which we spend at once. */
	m = ready_credits(*state, role, &s, 1, 1);
	assert_int_equal(stats(m).send_credits, 0);
	size0 = talloc_total_size(m->engine);
	for (i = 0; i < 100; i++) {
		struct tmsg *t = tmsg_new(m, 5000, (uint8_t)i);

		assert_int_equal(smbdirect_engine_submit(m->engine, m->now,
							 &t->msg),
				 0);
	}
	assert_int_equal(m->sent_count, 0);
	assert_int_equal(stats(m).queued_messages, 100);
	assert_int_equal(talloc_total_size(m->engine), size0);
	mock_advance(m, 2000);
	assert_running(m);
	assert_int_equal(m->sent_count, 0);
	mock_advance(m, 1000);
	assert_terminated(m, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	assert_int_equal(m->done_count, 0);
}
ROLE_TESTS(test_hostile_starvation)

/*
 * The transport fails in the middle of a fragmented message (the peer
 * disconnected, or its QP broke): the half message is never delivered,
 * the end is told once with the reason, and the reassembly buffer goes
 * with the engine (ASan/valgrind see no leak).
 */
static void test_hostile_disconnect_mid_fragment(void **state,
						 enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 255);
	uint8_t payload[1340];

	memset(payload, 0x55, sizeof(payload));
	mock_recv_data(m, 255, 0, 0, 100000, payload, 1340);
	mock_recv_data(m, 255, 0, 0, 100000 - 1340, payload, 1340);
	assert_running(m);
	smbdirect_engine_fail(m->engine, SMBDIRECT_REASON_PEER_DISCONNECTED,
			      "peer disconnected");
	assert_terminated(m, SMBDIRECT_REASON_PEER_DISCONNECTED);
	assert_int_equal(m->delivered_count, 0);
	/* Later events change nothing. */
	mock_recv_data(m, 255, 0, 0, 0, payload, 10);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->terminated_count, 1);
}
ROLE_TESTS(test_hostile_disconnect_mid_fragment)

/*
 * The engine's memory is bounded whatever the peer does: after messages
 * of MaxFragmentedSize, again and again, and a storm of small ones, the
 * engine holds its fixed part, the in-flight ring and one reassembly
 * buffer of at most MaxFragmentedSize (docs/robustness.md, "Memory per
 * connection").
 */
static void test_hostile_engine_memory_bounded(void **state,
					       enum smbdirect_role role)
{
	struct mock *m = ready_credits(*state, role, NULL, 255, 255);
	const uint32_t max = m->settings.max_fragmented_size;
	const uint32_t chunk = m->params.max_receive_size - 24;
	size_t bound = 4096 + m->settings.max_outstanding_sends *
				      sizeof(void *) + max;
	uint8_t *payload = talloc_size(m, chunk);
	int round;

	memset(payload, 0x66, chunk);
	for (round = 0; round < 3; round++) {
		uint32_t left = max;

		while (left > 0) {
			uint32_t n = left < chunk ? left : chunk;

			left -= n;
			mock_recv_data(m, 255, 0, 0, left, payload, n);
			mock_complete_all(m);
			clear_logs(m);
		}
		assert_running(m);
		assert_true(talloc_total_size(m->engine) <= bound);
	}
	assert_int_equal(stats(m).messages_delivered, 3);
}
ROLE_TESTS(test_hostile_engine_memory_bounded)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_hostile_negotiate_request_long),
		T(test_hostile_negotiate_request_garbage),
		T(test_hostile_negotiate_response_garbage),
		T(test_hostile_negotiate_request_top_bit_sizes),
		T(test_hostile_negotiate_response_top_bit_sizes),
		T(test_hostile_negotiate_response_read_write_zero),
		T(test_hostile_negotiate_twice),
		T(test_hostile_data_before_negotiate),
		T(test_hostile_descriptor_range_wraps),
		BOTH(test_hostile_remaining_wraps),
		BOTH(test_hostile_remaining_grows),
		BOTH(test_hostile_grant_until_overflow),
		BOTH(test_hostile_response_requested_storm),
		BOTH(test_hostile_response_requested_without_credits),
		BOTH(test_hostile_starvation),
		BOTH(test_hostile_disconnect_mid_fragment),
		BOTH(test_hostile_engine_memory_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
