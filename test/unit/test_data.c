/*
 * libsmbdirect unit tests: data transfer, both roles.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.4.2 and 3.1.5.4 (sending: size checks, fragmentation,
 * strict order), 3.1.5.1 (the send queue), and 3.1.5.8 (receiving: field
 * checks, reassembly, delivery). Rule tags like [3.1.5.8-a] are those of
 * docs/spec-coverage.md. The peer is played by the
 * test through the mock transport (test/common/mock.h).
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

/* A connected engine of `role` with the default peer; see ready_peer(). */
static struct mock *ready(void *mem, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();

	return ready_peer(mem, role, NULL, &pc);
}

/* ready() with our MaxFragmentedSize at its smallest, 131072. */
static struct mock *ready_131072(void *mem, enum smbdirect_role role)
{
	struct smbdirect_settings s;
	struct peer_cfg pc = peer_default();

	smbdirect_settings_default(&s);
	s.max_fragmented_size = 131072;
	return ready_peer(mem, role, &s, &pc);
}

static uint8_t pattern(size_t i, unsigned int seed)
{
	return (uint8_t)((i * 31u) ^ (i >> 8) ^ (seed * 101u));
}

/* Fill `n` bytes at `b` with the pattern of `seed` from index `at` on. */
static void fill_pattern(uint8_t *b, size_t n, size_t at, unsigned int seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		b[i] = pattern(at + i, seed);
	}
}

/* An upper-layer message of `len` pattern bytes in one iovec. */
static struct tmsg *new_msg(void *mem, size_t len, unsigned int seed)
{
	struct tmsg *t = tmsg_new(mem, len, 0);

	fill_pattern(t->data, len, 0, seed);
	return t;
}

/* Wire messages the engine sent, reassembled as the peer would: every
 * message is checked against [MS-SMBD] 2.2.3 / 3.1.5.4 on the way. */
struct collected {
	uint8_t *data;
	size_t length;
	size_t ends[64];  /* end offset of each complete message */
	size_t messages;
	size_t fragments; /* messages with payload */
	size_t empty;     /* messages without payload */
};

static void collect(void *mem, const struct mock *m, size_t from,
		    struct collected *c)
{
	uint32_t expect_remaining = 0;
	bool inside = false;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = from; i < m->sent_count; i++) {
		struct smbdirect_data_header hdr;
		const uint8_t *b = m->sent[i].bytes;

		assert_true(mock_sent_data(m, i, &hdr));
		/* 3.1.5.4-d: no message exceeds MaxSendSize. */
		assert_true(m->sent[i].length <= m->params.max_send_size);
		assert_int_equal(hdr.reserved, 0);
		if (hdr.data_length == 0) {
			/* 3.1.5.4-b: an empty message is 20 bytes, zeros. */
			assert_int_equal(m->sent[i].length, 20);
			assert_int_equal(hdr.data_offset, 0);
			assert_int_equal(hdr.remaining_data_length, 0);
			/* ... and never inside a fragmented message. */
			assert_false(inside);
			c->empty += 1;
			continue;
		}
		/* 3.1.5.4-c/e/g/h/i */
		assert_int_equal(hdr.data_offset, 24);
		assert_int_equal(m->sent[i].length, 24 + hdr.data_length);
		assert_int_equal(b[20] | b[21] | b[22] | b[23], 0);
		/* 3.1.5.4-f: RemainingDataLength counts what follows. */
		if (inside) {
			assert_int_equal((uint64_t)hdr.data_length +
						 hdr.remaining_data_length,
					 expect_remaining);
		}
		c->data = talloc_realloc(mem, c->data, uint8_t,
					 c->length + hdr.data_length);
		memcpy(c->data + c->length, b + 24, hdr.data_length);
		c->length += hdr.data_length;
		c->fragments += 1;
		expect_remaining = hdr.remaining_data_length;
		inside = expect_remaining != 0;
		if (!inside) {
			assert_true(c->messages < 64);
			c->ends[c->messages++] = c->length;
		}
	}
	assert_false(inside);
}

/* Play the peer until nothing waits to be sent: complete every send, and
 * while messages wait, send a credit-only message granting `grant`
 * credits (the peer holds one of our receive credits each time). */
static void pump(struct mock *m, uint16_t grant)
{
	int i;

	for (i = 0; i < 100000; i++) {
		struct smbdirect_engine_stats st;

		mock_complete_all(m);
		assert_running(m);
		smbdirect_engine_get_stats(m->engine, &st);
		if (st.queued_messages == 0) {
			mock_complete_all(m);
			return;
		}
		assert_true(st.receive_credits > 0);
		mock_recv_data(m, m->params.receive_credit_target, grant, 0, 0,
			       NULL, 0);
	}
	fail_msg("the queue never drained");
}

/* Feed a hand-built message of `total` bytes: the header (Reserved and
 * RemainingDataLength 0), zero padding up to `offset`, then pattern bytes
 * (seed 7) to the end. */
static void recv_raw(struct mock *m, uint16_t cr, uint16_t cg, uint16_t flags,
		     uint32_t offset, uint32_t length, size_t total)
{
	uint8_t *buf = talloc_zero_size(m, total > 20 ? total : 20);
	size_t i;

	assert_non_null(buf);
	put_data_header(buf, cr, cg, flags, 0, 0, offset, length);
	for (i = offset > 20 ? offset : 20; i < total; i++) {
		buf[i] = pattern(i - offset, 7);
	}
	mock_recv(m, buf, total);
	talloc_free(buf);
}

/* Feed a well-formed fragment: `length` pattern bytes (seed, starting at
 * pattern index `at`) with `remaining` bytes still to come. */
static void recv_fragment(struct mock *m, uint32_t length, uint32_t remaining,
			  unsigned int seed, size_t at)
{
	uint8_t *data = talloc_size(m, length > 0 ? length : 1);

	assert_non_null(data);
	fill_pattern(data, length, at, seed);
	mock_recv_data(m, 255, 0, 0, remaining, data, length);
	talloc_free(data);
}

/* Feed a valid message with Reserved `reserved`, DataOffset `offset` and
 * `length` pattern bytes (seed 7), its padding bytes set to 0xAA. */
static void recv_padded(struct mock *m, uint16_t reserved, uint32_t offset,
			uint32_t length)
{
	uint8_t buf[64];

	assert_true(offset >= 20 && offset + length <= sizeof(buf));
	put_data_header(buf, 255, 0, 0, reserved, 0, offset, length);
	memset(buf + 20, 0xAA, offset - 20);
	fill_pattern(buf + offset, length, 0, 7);
	mock_recv(m, buf, offset + length);
}

static void assert_delivered(const struct mock *m, size_t index,
			     size_t length, unsigned int seed)
{
	size_t i;

	assert_true(index < m->delivered_count);
	assert_int_equal(m->delivered_length[index], length);
	for (i = 0; i < length; i++) {
		if (m->delivered[index][i] != pattern(i, seed)) {
			fail_msg("delivery %zu differs at byte %zu", index, i);
		}
	}
}

/* A validation failure ended the connection with `reason`: nothing was
 * delivered or sent, and nothing more happens, whatever arrives. */
static void assert_rejected(struct mock *m, enum smbdirect_reason reason)
{
	assert_terminated(m, reason);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->sent_count, 0);
	mock_recv_data(m, 255, 1, 0, 0, "late", 4);
	assert_int_equal(m->delivered_count, 0);
	assert_int_equal(m->terminated_count, 1);
	assert_int_equal(m->sent_count, 0);
}

/* A fresh connection of `role` given recv_raw() of these fields ends with
 * invalid-message (assert_rejected()). */
static void expect_invalid(void *mem, enum smbdirect_role role, uint16_t cr,
			   uint16_t cg, uint16_t flags, uint32_t offset,
			   uint32_t length, size_t total)
{
	struct mock *m = ready(mem, role);

	recv_raw(m, cr, cg, flags, offset, length, total);
	assert_rejected(m, SMBDIRECT_REASON_INVALID_MESSAGE);
}

/* --- sending: 3.1.4.2, 3.1.5.4 ----------------------------------------- */

/* [MS-SMBD] 3.1.5.4-c/e/f/g/h/i: a message that fits is one data transfer
 * message: DataOffset 24, 4 zero Padding bytes, DataLength = its length,
 * RemainingDataLength 0, then the bytes. */
static void test_3_1_5_4_single_message_one_fragment(void **state,
						     enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *t = new_msg(*state, 100, 1);
	struct smbdirect_data_header hdr;

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(m->sent[0].length, 124);
	assert_ptr_equal(m->sent[0].msg, &t->msg);
	assert_true(mock_sent_data(m, 0, &hdr));
	assert_int_equal(hdr.credits_requested, 255);
	assert_int_equal(hdr.flags, 0);
	assert_int_equal(hdr.reserved, 0);
	assert_int_equal(hdr.remaining_data_length, 0);
	assert_int_equal(hdr.data_offset, 24);
	assert_int_equal(hdr.data_length, 100);
	assert_int_equal(m->sent[0].bytes[20] | m->sent[0].bytes[21] |
				 m->sent[0].bytes[22] | m->sent[0].bytes[23],
			 0);
	assert_memory_equal(m->sent[0].bytes + 24, t->data, 100);
}
ROLE_TESTS(test_3_1_5_4_single_message_one_fragment)

/* [MS-SMBD] 3.1.5.4-d/e/f: a message larger than MaxSendSize - 24 is cut
 * into fragments of MaxSendSize - 24 bytes (the last shorter), each with
 * RemainingDataLength = bytes still to come; they concatenate back. */
static void test_3_1_5_4_fragments_within_max_send_size(
	void **state, enum smbdirect_role role)
{
	static const uint32_t remaining[] = {768, 536, 304, 72, 0};
	struct smbdirect_settings s;
	struct peer_cfg pc = peer_default();
	struct collected c;
	struct tmsg *t = new_msg(*state, 1000, 2);
	struct mock *m;
	size_t i;

	smbdirect_settings_default(&s);
	s.max_send_size = 256;
	m = ready_peer(*state, role, &s, &pc);
	assert_int_equal(m->params.max_send_size, 256);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_int_equal(m->sent_count, 5);
	for (i = 0; i < 5; i++) {
		struct smbdirect_data_header hdr;

		assert_true(mock_sent_data(m, i, &hdr));
		assert_int_equal(hdr.data_length, i < 4 ? 232 : 72);
		assert_int_equal(hdr.remaining_data_length, remaining[i]);
		assert_int_equal(hdr.data_offset, 24);
		assert_ptr_equal(m->sent[i].msg, &t->msg);
	}
	collect(*state, m, 0, &c);
	assert_int_equal(c.messages, 1);
	assert_int_equal(c.length, 1000);
	assert_memory_equal(c.data, t->data, 1000);
}
ROLE_TESTS(test_3_1_5_4_fragments_within_max_send_size)

/* [MS-SMBD] 3.1.5.4-d/e: exactly MaxSendSize - 24 bytes is one message of
 * MaxSendSize bytes; one byte more makes a second fragment of 1 byte. */
static void test_3_1_5_4_fragment_size_boundary(void **state,
						enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *a = new_msg(*state, 1340, 3);
	struct tmsg *b = new_msg(*state, 1341, 4);
	struct smbdirect_data_header hdr;

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &a->msg),
			 0);
	assert_int_equal(m->sent_count, 1);
	assert_int_equal(m->sent[0].length, 1364);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &b->msg),
			 0);
	assert_int_equal(m->sent_count, 3);
	assert_true(mock_sent_data(m, 1, &hdr));
	assert_int_equal(hdr.data_length, 1340);
	assert_int_equal(hdr.remaining_data_length, 1);
	assert_true(mock_sent_data(m, 2, &hdr));
	assert_int_equal(hdr.data_length, 1);
	assert_int_equal(hdr.remaining_data_length, 0);
	assert_int_equal(m->sent[2].bytes[24], b->data[1340]);
}
ROLE_TESTS(test_3_1_5_4_fragment_size_boundary)

/* [MS-SMBD] 3.1.5.4-d with 3.1.5.6-e / 3.1.5.7-b: the peer's smaller
 * MaxReceiveSize (300) bounds every message we send. */
static void test_3_1_5_4_peer_max_receive_size_bounds_messages(
	void **state, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();
	struct tmsg *t = new_msg(*state, 1000, 5);
	struct collected c;
	struct mock *m;

	pc.max_receive_size = 300;
	m = ready_peer(*state, role, NULL, &pc);
	assert_int_equal(m->params.max_send_size, 300);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_int_equal(m->sent_count, 4); /* 276 * 3 + 172 */
	collect(*state, m, 0, &c);
	assert_int_equal(c.fragments, 4);
	assert_memory_equal(c.data, t->data, 1000);
}
ROLE_TESTS(test_3_1_5_4_peer_max_receive_size_bounds_messages)

/* [MS-SMBD] 3.1.5.4-i: the payload is gathered from all iovecs in order,
 * empty ones skipped, across fragment boundaries. */
static void test_3_1_5_4_iovec_gather(void **state, enum smbdirect_role role)
{
	static const size_t parts[] = {10, 0, 500, 0, 7, 1500, 0};
	struct mock *m = ready(*state, role);
	struct tmsg *t = new_msg(*state, 2017, 6);
	struct collected c;
	size_t off = 0;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(parts); i++) {
		t->iov[i].iov_base = t->data + off;
		t->iov[i].iov_len = parts[i];
		off += parts[i];
	}
	assert_int_equal(off, 2017);
	t->msg.iov_count = ARRAY_SIZE(parts);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_int_equal(m->sent_count, 2);
	collect(*state, m, 0, &c);
	assert_int_equal(c.length, 2017);
	assert_memory_equal(c.data, t->data, 2017);
}
ROLE_TESTS(test_3_1_5_4_iovec_gather)

/* [MS-SMBD] 3.1.5.1 (sending only when ESTABLISHED): before start, while
 * negotiating and after the end, submit refuses with ENOTCONN and sends
 * nothing. */
static void test_3_1_5_1_submit_enotconn_unless_connected(
	void **state, enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);
	struct tmsg *t = new_msg(*state, 10, 7);

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 ENOTCONN);
	smbdirect_engine_start(m->engine, m->now);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 ENOTCONN);
	assert_int_equal(m->sent_count,
			 role == SMBDIRECT_ROLE_INITIATOR ? 1 : 0);

	m = ready(*state, role);
	smbdirect_engine_close(m->engine);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 ENOTCONN);
	assert_int_equal(m->sent_count, 0);
}
ROLE_TESTS(test_3_1_5_1_submit_enotconn_unless_connected)

/* smbdirect_engine.h: an empty message (no iovec, or only empty ones) is
 * EMSGSIZE; a NULL message, or iovecs missing, is EINVAL. Nothing is sent
 * and the connection goes on. */
static void test_3_1_4_2_submit_empty_or_invalid(void **state,
						 enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *t = new_msg(*state, 10, 8);

	t->msg.iov_count = 0;
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 EMSGSIZE);
	t->msg.iov_count = 3;
	t->iov[0].iov_len = 0;
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 EMSGSIZE);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, NULL),
			 EINVAL);
	t->msg.iov = NULL;
	t->msg.iov_count = 1;
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 EINVAL);
	assert_int_equal(m->sent_count, 0);
	assert_running(m);
}
ROLE_TESTS(test_3_1_4_2_submit_empty_or_invalid)

/* [MS-SMBD] 3.1.4.2-a, 3.1.5.4-a: a message longer than
 * MaxFragmentedSendSize (the peer's MaxFragmentedSize, 131072 here) is
 * refused with EMSGSIZE and nothing is sent; exactly 131072 is sent. */
static void test_3_1_4_2_submit_above_max_fragmented_send_size(
	void **state, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();
	struct tmsg *big = new_msg(*state, 131073, 9);
	struct tmsg *fit = new_msg(*state, 131072, 9);
	struct collected c;
	struct mock *m;

	pc.max_fragmented_size = 131072;
	m = ready_peer(*state, role, NULL, &pc);
	assert_int_equal(m->params.max_fragmented_send_size, 131072);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &big->msg),
			 EMSGSIZE);
	assert_int_equal(m->sent_count, 0);
	assert_running(m);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &fit->msg),
			 0);
	pump(m, 100);
	collect(*state, m, 0, &c);
	assert_int_equal(c.messages, 1);
	assert_int_equal(c.length, 131072);
	assert_memory_equal(c.data, fit->data, 131072);
}
ROLE_TESTS(test_3_1_4_2_submit_above_max_fragmented_send_size)

/* smbdirect_engine.h send_done, [MS-SMBD] 3.1.4.2-b: a message is the
 * caller's again only when every fragment completed, in order; messages
 * complete in submission order. */
static void test_3_1_4_2_send_done_after_all_fragments(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *a = new_msg(*state, 3000, 10); /* 1340 + 1340 + 320 */
	struct tmsg *b = new_msg(*state, 5, 11);

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &a->msg),
			 0);
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &b->msg),
			 0);
	assert_int_equal(m->sent_count, 4);
	smbdirect_engine_on_send_complete(m->engine, m->now, 1);
	assert_int_equal(m->done_count, 0);
	smbdirect_engine_on_send_complete(m->engine, m->now, 1);
	assert_int_equal(m->done_count, 0);
	smbdirect_engine_on_send_complete(m->engine, m->now, 1);
	assert_int_equal(m->done_count, 1);
	assert_ptr_equal(m->done[0], &a->msg);
	smbdirect_engine_on_send_complete(m->engine, m->now, 1);
	assert_int_equal(m->done_count, 2);
	assert_ptr_equal(m->done[1], &b->msg);
	assert_running(m);
}
ROLE_TESTS(test_3_1_4_2_send_done_after_all_fragments)

/* smbdirect_engine.h on_send_complete: more completions than sends
 * outstanding is a local error. */
static void test_send_complete_overflow_terminates(void **state,
						   enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *a = new_msg(*state, 10, 12);

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &a->msg),
			 0);
	smbdirect_engine_on_send_complete(m->engine, m->now, 2);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_ERROR);
	assert_int_equal(m->done_count, 0);
}
ROLE_TESTS(test_send_complete_overflow_terminates)

/* [MS-SMBD] 3.1.5.1-a/b, 3.1.5.4-k, 3.1.1.1 SendQueue (strict FIFO):
 * messages submitted while no send credit is left wait in order; as the
 * peer grants credits a few at a time they all go out, in order, never
 * dropped, each fragmented correctly; send_done follows the same order. */
static void test_3_1_5_1_queued_messages_sent_in_order(
	void **state, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();
	struct tmsg *t[3];
	struct smbdirect_engine_stats st;
	struct collected c;
	struct mock *m;
	size_t i;

	/* Initiator: 1 credit, spent at once on its credit grant.
	 * Responder: no credit until the peer grants. */
	pc.grants = role == SMBDIRECT_ROLE_INITIATOR ? 1 : 0;
	m = ready_peer(*state, role, NULL, &pc);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.send_credits, 0);

	t[0] = new_msg(*state, 3000, 20);
	t[1] = new_msg(*state, 10, 21);
	t[2] = new_msg(*state, 1500, 22);
	for (i = 0; i < 3; i++) {
		assert_int_equal(
			smbdirect_engine_submit(m->engine, m->now, &t[i]->msg),
			0);
	}
	assert_int_equal(m->sent_count, 0);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.queued_messages, 3);
	assert_true(st.credit_stalls > 0);

	pump(m, 2);
	collect(*state, m, 0, &c);
	assert_int_equal(c.messages, 3);
	assert_int_equal(c.ends[0], 3000);
	assert_int_equal(c.ends[1], 3010);
	assert_int_equal(c.ends[2], 4510);
	assert_memory_equal(c.data, t[0]->data, 3000);
	assert_memory_equal(c.data + 3000, t[1]->data, 10);
	assert_memory_equal(c.data + 3010, t[2]->data, 1500);
	assert_int_equal(m->done_count, 3);
	for (i = 0; i < 3; i++) {
		assert_ptr_equal(m->done[i], &t[i]->msg);
	}
}
ROLE_TESTS(test_3_1_5_1_queued_messages_sent_in_order)

/* [MS-SMBD] 3.1.4.2: a token to invalidate is an argument of one Send
 * Message call, and 3.1.5.4 sends it with that message's first fragment.
 * With no credit, messages with and without tokens queue; the peer grants
 * one credit at a time. Each first fragment carries its own message's
 * token (0 included: it is a valid rkey), and no other fragment, and no
 * credit-only message, carries any. */
static void test_3_1_4_2_invalidate_token_per_message(
	void **state, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();
	static const struct {
		size_t length;
		bool invalidate;
		uint32_t token;
	} spec[] = {
		{ 100, false, 0 }, { 200, true, 0x1111 }, { 3000, true, 0x2222 },
		{ 10, false, 0 },  { 1500, true, 0 },     { 40, true, 0x3333 },
	};
	struct tmsg *t[ARRAY_SIZE(spec)];
	struct mock *m;
	size_t i;
	size_t k = 0;
	bool first = true;

	pc.grants = role == SMBDIRECT_ROLE_INITIATOR ? 1 : 0;
	m = ready_peer(*state, role, NULL, &pc);
	for (i = 0; i < ARRAY_SIZE(spec); i++) {
		t[i] = new_msg(*state, spec[i].length, 30 + (unsigned int)i);
		t[i]->msg.invalidate = spec[i].invalidate;
		t[i]->msg.invalidate_token = spec[i].token;
		assert_int_equal(
			smbdirect_engine_submit(m->engine, m->now, &t[i]->msg),
			0);
	}
	assert_int_equal(m->sent_count, 0);
	pump(m, 1);
	assert_int_equal(m->done_count, ARRAY_SIZE(spec));
	for (i = 0; i < m->sent_count; i++) {
		struct smbdirect_data_header hdr;

		assert_true(mock_sent_data(m, i, &hdr));
		if (hdr.data_length == 0) {
			assert_false(m->sent[i].invalidate);
			continue;
		}
		assert_true(k < ARRAY_SIZE(spec));
		assert_ptr_equal(m->sent[i].msg, &t[k]->msg);
		if (first && spec[k].invalidate) {
			assert_true(m->sent[i].invalidate);
			assert_int_equal(m->sent[i].invalidate_token,
					 spec[k].token);
		} else {
			assert_false(m->sent[i].invalidate);
		}
		first = hdr.remaining_data_length == 0;
		if (first) {
			k += 1;
		}
	}
	assert_int_equal(k, ARRAY_SIZE(spec));
}
ROLE_TESTS(test_3_1_4_2_invalidate_token_per_message)

/* [MS-SMBD] 3.1.5.4-k: a send the transport refuses ends the connection
 * (local-error); the message is never reported done. */
static void test_3_1_5_4_send_failure_terminates(void **state,
						 enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct tmsg *a = new_msg(*state, 10, 13);

	m->send_error = 5;
	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &a->msg),
			 0);
	assert_terminated(m, SMBDIRECT_REASON_LOCAL_ERROR);
	mock_complete_all(m);
	assert_int_equal(m->done_count, 0);
}
ROLE_TESTS(test_3_1_5_4_send_failure_terminates)

/* --- receiving: 3.1.5.8 ------------------------------------------------- */

/* [MS-SMBD] 3.1.5.8-a: a message shorter than 20 bytes ends the connection
 * (invalid-message); nothing is delivered or sent. */
static void test_3_1_5_8_message_shorter_than_20_terminates(
	void **state, enum smbdirect_role role)
{
	static const size_t lengths[] = {19, 1, 0};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(lengths); i++) {
		expect_invalid(*state, role, 255, 0, 0, 0, 0, lengths[i]);
	}
}
ROLE_TESTS(test_3_1_5_8_message_shorter_than_20_terminates)

/* [MS-SMBD] 3.1.5.8-a, 2.2.3: a 20-byte message (no payload) is valid and
 * delivers nothing. */
static void test_3_1_5_8_message_of_20_bytes_accepted(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_engine_stats st;

	recv_raw(m, 255, 0, 0, 0, 0, 20);
	assert_running(m);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.messages_delivered, 0);
	assert_int_equal(m->delivered_count, 0);
}
ROLE_TESTS(test_3_1_5_8_message_of_20_bytes_accepted)

/* [MS-SMBD] 3.1.5.8-a, 2.2.3: a DataOffset that is not 8-byte aligned
 * ends the connection (invalid-message). */
static void test_3_1_5_8_data_offset_unaligned_terminates(
	void **state, enum smbdirect_role role)
{
	static const uint32_t offsets[] = {28, 25, 21, 36};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		expect_invalid(*state, role, 255, 0, 0, offsets[i], 10,
			       offsets[i] + 10);
	}
}
ROLE_TESTS(test_3_1_5_8_data_offset_unaligned_terminates)

/* [MS-SMBD] 2.2.3: a payload may not overlap the 20-byte header: aligned
 * DataOffsets 0, 8 and 16 with data end the connection (invalid-message). */
static void test_2_2_3_data_offset_inside_header_terminates(
	void **state, enum smbdirect_role role)
{
	static const uint32_t offsets[] = {0, 8, 16};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offsets); i++) {
		expect_invalid(*state, role, 255, 0, 0, offsets[i], 8, 28);
	}
}
ROLE_TESTS(test_2_2_3_data_offset_inside_header_terminates)

/* [MS-SMBD] 3.1.5.4-e (DataOffset MAY differ from 24), 3.1.5.8-g: an
 * aligned DataOffset of 32 is accepted and the payload taken from there;
 * 12 Padding bytes of any value are ignored (2.2-d). */
static void test_3_1_5_8_data_offset_32_accepted(void **state,
						 enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	recv_padded(m, 0, 32, 10);
	assert_running(m);
	assert_int_equal(m->delivered_count, 1);
	assert_delivered(m, 0, 10, 7);
}
ROLE_TESTS(test_3_1_5_8_data_offset_32_accepted)

/* [MS-SMBD] 3.1.5.8-a: DataOffset + DataLength beyond the message ends the
 * connection (invalid-message), including a DataLength that would wrap a
 * 32-bit sum; ending exactly at the end is fine. */
static void test_3_1_5_8_data_length_past_message_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m;

	expect_invalid(*state, role, 255, 0, 0, 24, 11, 34);
	expect_invalid(*state, role, 255, 0, 0, 24, 0xFFFFFFF0u, 40);

	m = ready(*state, role);
	recv_raw(m, 255, 0, 0, 24, 10, 34);
	assert_running(m);
	assert_delivered(m, 0, 10, 7);
}
ROLE_TESTS(test_3_1_5_8_data_length_past_message_terminates)

/* [MS-SMBD] 2.2.3 Flags: a bit other than SMB_DIRECT_RESPONSE_REQUESTED
 * ends the connection (invalid-message). This is stricter than the
 * 3.1.5.8-a list; 2.2.3 says Flags MUST be built from the defined values. */
static void test_2_2_3_undefined_flags_terminate(void **state,
						 enum smbdirect_role role)
{
	static const uint16_t flags[] = {0x0002, 0x8000, 0xFFFF, 0x0003};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(flags); i++) {
		expect_invalid(*state, role, 255, 0, flags[i], 24, 10, 34);
	}
}
ROLE_TESTS(test_2_2_3_undefined_flags_terminate)

/* [MS-SMBD] 3.1.5.8-a: CreditsRequested 0 ends the connection
 * (invalid-message), with and without payload; 1 is fine. */
static void test_3_1_5_8_credits_requested_zero_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m;

	expect_invalid(*state, role, 0, 0, 0, 24, 10, 34);
	expect_invalid(*state, role, 0, 5, 0, 0, 0, 20);

	m = ready(*state, role);
	recv_raw(m, 1, 0, 0, 24, 10, 34);
	assert_running(m);
	assert_int_equal(m->delivered_count, 1);
}
ROLE_TESTS(test_3_1_5_8_credits_requested_zero_terminates)

/* [MS-SMBD] 3.1.1.1 MaxReceiveSize, 3.1.5.6-d / 3.1.5.7-b: a message
 * longer than the negotiated MaxReceiveSize ends the connection
 * (invalid-message); exactly MaxReceiveSize is fine. Checked with the
 * default 1364 and with a peer whose PreferredSendSize (600) shrank it. */
static void test_3_1_5_8_message_longer_than_max_receive_size_terminates(
	void **state, enum smbdirect_role role)
{
	struct peer_cfg pc = peer_default();
	struct mock *m = ready(*state, role);

	assert_int_equal(m->params.max_receive_size, 1364);
	recv_raw(m, 255, 0, 0, 24, 1341, 1365);
	assert_rejected(m, SMBDIRECT_REASON_INVALID_MESSAGE);

	m = ready(*state, role);
	recv_raw(m, 255, 0, 0, 24, 1340, 1364);
	assert_running(m);
	assert_delivered(m, 0, 1340, 7);

	pc.preferred_send_size = 600;
	m = ready_peer(*state, role, NULL, &pc);
	assert_int_equal(m->params.max_receive_size, 600);
	recv_raw(m, 255, 0, 0, 24, 577, 601);
	assert_rejected(m, SMBDIRECT_REASON_INVALID_MESSAGE);

	m = ready_peer(*state, role, NULL, &pc);
	recv_raw(m, 255, 0, 0, 24, 576, 600);
	assert_running(m);
	assert_delivered(m, 0, 576, 7);
}
ROLE_TESTS(test_3_1_5_8_message_longer_than_max_receive_size_terminates)

/* [MS-SMBD] 3.1.5.8-a: DataLength + RemainingDataLength above our
 * MaxFragmentedSize (131072 here) ends the connection
 * (fragment-overflow) and nothing is delivered, also when the sum only
 * overflows 32 bits; a first fragment announcing exactly 131072 is fine. */
static void test_3_1_5_8_fragment_overflow_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_131072(*state, role);

	recv_fragment(m, 100, 131072 - 100 + 1, 1, 0);
	assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_OVERFLOW);

	m = ready_131072(*state, role);
	recv_fragment(m, 100, 0xFFFFFFFFu, 1, 0);
	assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_OVERFLOW);

	/* An empty message announcing too much overflows as well. */
	m = ready_131072(*state, role);
	recv_fragment(m, 0, 131073, 1, 0);
	assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_OVERFLOW);

	m = ready_131072(*state, role);
	recv_fragment(m, 100, 131072 - 100, 1, 0);
	assert_running(m);
	assert_int_equal(m->delivered_count, 0);
}
ROLE_TESTS(test_3_1_5_8_fragment_overflow_terminates)

/* [MS-SMBD] 3.1.5.8-a applies to every message: a later fragment whose
 * DataLength + RemainingDataLength exceeds MaxFragmentedSize ends the
 * connection (fragment-overflow); the partial message is not delivered. */
static void test_3_1_5_8_fragment_overflow_mid_sequence_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_131072(*state, role);

	recv_fragment(m, 1000, 2000, 1, 0);
	assert_running(m);
	recv_fragment(m, 1000, 131072, 1, 1000);
	assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_OVERFLOW);
}
ROLE_TESTS(test_3_1_5_8_fragment_overflow_mid_sequence_terminates)

/* [MS-SMBD] 3.1.5.8-g/h/j: a message of exactly MaxFragmentedSize
 * (131072) in 98 fragments is reassembled and delivered once, intact. */
static void test_3_1_5_8_reassembly_of_max_fragmented_size(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready_131072(*state, role);
	size_t at = 0;

	while (at < 131072) {
		uint32_t n = 131072 - at < 1340 ? (uint32_t)(131072 - at)
						: 1340;

		assert_int_equal(m->delivered_count, 0);
		recv_fragment(m, n, (uint32_t)(131072 - at - n), 2, at);
		at += n;
		assert_running(m);
		mock_complete_all(m);
	}
	assert_int_equal(m->delivered_count, 1);
	assert_delivered(m, 0, 131072, 2);
}
ROLE_TESTS(test_3_1_5_8_reassembly_of_max_fragmented_size)

/* [MS-SMBD] 3.1.5.8-h/j (and docs/architecture.md "fragment sequence"):
 * a fragment whose DataLength + RemainingDataLength is not the previous
 * RemainingDataLength ends the connection (fragment-sequence), nothing
 * delivered: too little remaining, a final fragment while bytes are still
 * due, a growing remainder, an empty message announcing a remainder that
 * is not the one due, and too much data. (An empty message with
 * RemainingDataLength 0 is no fragment: see the next test.) */
static void test_3_1_5_8_remaining_data_length_sequence_terminates(
	void **state, enum smbdirect_role role)
{
	static const uint32_t second[][2] = {
		/* DataLength, RemainingDataLength; the first fragment is
		 * 100 bytes with 200 remaining */
		{100, 150}, {100, 0}, {100, 300}, {0, 77}, {200, 50}};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(second); i++) {
		struct mock *m = ready(*state, role);

		recv_fragment(m, 100, 200, 3, 0);
		assert_running(m);
		recv_fragment(m, second[i][0], second[i][1], 3, 100);
		assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_SEQUENCE);
	}
}
ROLE_TESTS(test_3_1_5_8_remaining_data_length_sequence_terminates)

/* [MS-SMBD] 3.1.5.8-g (only a payload is appended) and 3.1.4.1 (an empty
 * message has RemainingDataLength 0): an empty message between two
 * fragments of a message is a credit grant or a keepalive answer, not a
 * fragment; reassembly goes on and the message is delivered whole. ksmbd
 * (Linux 6.1) sends credit grants there, in the middle of a fragmented
 * READ response (docs/interop.md, "Differences"). */
static void test_3_1_5_8_empty_message_between_fragments_ignored(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_engine_stats st0;
	struct smbdirect_engine_stats st;

	recv_fragment(m, 100, 250, 7, 0);
	smbdirect_engine_get_stats(m->engine, &st0);
	/* an empty message granting 10 credits, then one requesting a
	 * response (keepalive), both inside the sequence */
	mock_recv_data(m, 255, 10, 0, 0, NULL, 0);
	assert_running(m);
	mock_recv_data(m, 255, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, NULL,
		       0);
	assert_running(m);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.send_credits >= st0.send_credits + 10 - 1, 1);
	recv_fragment(m, 150, 100, 7, 100);
	mock_recv_data(m, 255, 0, 0, 0, NULL, 0);
	recv_fragment(m, 100, 0, 7, 250);
	assert_int_equal(m->delivered_count, 1);
	assert_delivered(m, 0, 350, 7);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_empty_message_between_fragments_ignored)

/* [MS-SMBD] 3.1.5.4-b (an empty message has RemainingDataLength 0): an
 * empty message announcing more data, outside a fragmented message, ends
 * the connection (fragment-sequence). */
static void test_3_1_5_8_empty_message_with_remaining_terminates(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	recv_fragment(m, 0, 10, 3, 0);
	assert_rejected(m, SMBDIRECT_REASON_FRAGMENT_SEQUENCE);
}
ROLE_TESTS(test_3_1_5_8_empty_message_with_remaining_terminates)

/* [MS-SMBD] 3.1.5.8-g/h/j: fragments are appended in order and the whole
 * message is delivered exactly once, when RemainingDataLength reaches 0;
 * the reassembly buffer is reused for the next fragmented message, and
 * single-piece messages in between are delivered in order. */
static void test_3_1_5_8_reassembly_in_order_delivered_once(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_engine_stats st;

	recv_fragment(m, 100, 250, 4, 0);
	assert_int_equal(m->delivered_count, 0);
	recv_fragment(m, 150, 100, 4, 100);
	assert_int_equal(m->delivered_count, 0);
	recv_fragment(m, 100, 0, 4, 250);
	assert_int_equal(m->delivered_count, 1);
	assert_delivered(m, 0, 350, 4);

	recv_fragment(m, 30, 0, 5, 0);
	assert_int_equal(m->delivered_count, 2);
	assert_delivered(m, 1, 30, 5);

	recv_fragment(m, 1000, 1000, 6, 0);
	recv_fragment(m, 1000, 0, 6, 1000);
	assert_int_equal(m->delivered_count, 3);
	assert_delivered(m, 2, 2000, 6);

	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.messages_delivered, 3);
	assert_int_equal(st.bytes_delivered, 350 + 30 + 2000);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_reassembly_in_order_delivered_once)

/* smbdirect_engine.h deliver (zero copy): a message that came in one piece
 * is delivered with a pointer into the receive buffer, at DataOffset
 * (24 or 32); a reassembled one is delivered from the engine's buffer. */
static void test_3_1_5_8_single_fragment_zero_copy(void **state,
						   enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	uint8_t *buf = talloc_zero_size(*state, 64);
	uint8_t *frag = talloc_zero_size(*state, 64);

	put_data_header(buf, 255, 0, 0, 0, 0, 24, 16);
	memset(buf + 24, 0x42, 16);
	smbdirect_engine_on_recv(m->engine, m->now, buf, 40);
	assert_int_equal(m->delivered_count, 1);
	assert_ptr_equal(m->delivered_ptr[0], buf + 24);
	assert_int_equal(m->delivered_length[0], 16);

	put_data_header(buf, 255, 0, 0, 0, 0, 32, 16);
	smbdirect_engine_on_recv(m->engine, m->now, buf, 48);
	assert_int_equal(m->delivered_count, 2);
	assert_ptr_equal(m->delivered_ptr[1], buf + 32);

	put_data_header(frag, 255, 0, 0, 0, 8, 24, 8);
	smbdirect_engine_on_recv(m->engine, m->now, frag, 32);
	put_data_header(frag, 255, 0, 0, 0, 0, 24, 8);
	smbdirect_engine_on_recv(m->engine, m->now, frag, 32);
	assert_int_equal(m->delivered_count, 3);
	assert_int_equal(m->delivered_length[2], 16);
	assert_true(m->delivered_ptr[2] < frag ||
		    m->delivered_ptr[2] >= frag + 64);
	assert_running(m);
}
ROLE_TESTS(test_3_1_5_8_single_fragment_zero_copy)

/* [MS-SMBD] 3.1.5.8-j: a message without payload (credits, keepalive
 * answers) delivers nothing to the upper layer. */
static void test_3_1_5_8_empty_message_delivers_nothing(
	void **state, enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);
	struct smbdirect_engine_stats st;
	int i;

	for (i = 0; i < 5; i++) {
		mock_recv_data(m, 255, 1, 0, 0, NULL, 0);
	}
	assert_running(m);
	assert_int_equal(m->delivered_count, 0);
	smbdirect_engine_get_stats(m->engine, &st);
	assert_int_equal(st.messages_delivered, 0);
	assert_int_equal(st.bytes_delivered, 0);
	assert_int_equal(st.messages_received >= 5, 1);
}
ROLE_TESTS(test_3_1_5_8_empty_message_delivers_nothing)

/* [MS-SMBD] 2.2-c/d: Reserved and Padding are ignored on receipt. */
static void test_2_2_reserved_and_padding_ignored(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = ready(*state, role);

	recv_padded(m, 0xBEEF, 24, 10);
	assert_running(m);
	assert_delivered(m, 0, 10, 7);
}
ROLE_TESTS(test_2_2_reserved_and_padding_ignored)

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_3_1_5_4_single_message_one_fragment),
		BOTH(test_3_1_5_4_fragments_within_max_send_size),
		BOTH(test_3_1_5_4_fragment_size_boundary),
		BOTH(test_3_1_5_4_peer_max_receive_size_bounds_messages),
		BOTH(test_3_1_5_4_iovec_gather),
		BOTH(test_3_1_5_1_submit_enotconn_unless_connected),
		BOTH(test_3_1_4_2_submit_empty_or_invalid),
		BOTH(test_3_1_4_2_submit_above_max_fragmented_send_size),
		BOTH(test_3_1_4_2_send_done_after_all_fragments),
		BOTH(test_send_complete_overflow_terminates),
		BOTH(test_3_1_5_1_queued_messages_sent_in_order),
		BOTH(test_3_1_4_2_invalidate_token_per_message),
		BOTH(test_3_1_5_4_send_failure_terminates),
		BOTH(test_3_1_5_8_message_shorter_than_20_terminates),
		BOTH(test_3_1_5_8_message_of_20_bytes_accepted),
		BOTH(test_3_1_5_8_data_offset_unaligned_terminates),
		BOTH(test_2_2_3_data_offset_inside_header_terminates),
		BOTH(test_3_1_5_8_data_offset_32_accepted),
		BOTH(test_3_1_5_8_data_length_past_message_terminates),
		BOTH(test_2_2_3_undefined_flags_terminate),
		BOTH(test_3_1_5_8_credits_requested_zero_terminates),
		BOTH(test_3_1_5_8_message_longer_than_max_receive_size_terminates),
		BOTH(test_3_1_5_8_fragment_overflow_terminates),
		BOTH(test_3_1_5_8_fragment_overflow_mid_sequence_terminates),
		BOTH(test_3_1_5_8_reassembly_of_max_fragmented_size),
		BOTH(test_3_1_5_8_remaining_data_length_sequence_terminates),
		BOTH(test_3_1_5_8_empty_message_with_remaining_terminates),
		BOTH(test_3_1_5_8_empty_message_between_fragments_ignored),
		BOTH(test_3_1_5_8_reassembly_in_order_delivered_once),
		BOTH(test_3_1_5_8_single_fragment_zero_copy),
		BOTH(test_3_1_5_8_empty_message_delivers_nothing),
		BOTH(test_2_2_reserved_and_padding_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
