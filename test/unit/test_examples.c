/*
 * libsmbdirect unit tests: the protocol examples of [MS-SMBD] section 4,
 * byte for byte.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Section 4 gives field values, not hex dumps. Every expected byte array
 * below is derived from the section 4 field values with the 2.2.1, 2.2.2,
 * 2.2.3 and 2.2.3.1 layouts, little-endian (2.2-b). Two typos of the spec
 * are read as noted at their arrays (4.3 DataLength, 4.5 Offset).
 *
 * Each example is checked three ways where possible: the encoder produces
 * the bytes, the decoder gives back the fields, and an engine configured
 * like the example's peer sends exactly those bytes.
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

/* --- the section 4 vectors --------------------------------------------- */

/* 4.1 Negotiate Request: MinVersion 0x0100, MaxVersion 0x0100, Reserved 0,
 * CreditsRequested 10, PreferredSendSize 1024, MaxReceiveSize 1024,
 * MaxFragmentedSize 131072. */
static const uint8_t ex41_request[20] = {
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x04,
	0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
};

static const struct smbdirect_negotiate_request ex41_request_fields = {
	.min_version = 0x0100,
	.max_version = 0x0100,
	.reserved = 0,
	.credits_requested = 10,
	.preferred_send_size = 1024,
	.max_receive_size = 1024,
	.max_fragmented_size = 131072,
};

/* 4.1 Negotiate Response: versions 0x0100/0x0100/0x0100, Reserved 0,
 * CreditsRequested 10, CreditsGranted 10, Status 0, MaxReadWriteSize
 * 1 MiB, PreferredSendSize 1024, MaxReceiveSize 1024, MaxFragmentedSize
 * 131072. */
static const uint8_t ex41_response[32] = {
	0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
	0x0a, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x10, 0x00, 0x00, 0x04, 0x00, 0x00,
	0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00,
};

static const struct smbdirect_negotiate_response ex41_response_fields = {
	.min_version = 0x0100,
	.max_version = 0x0100,
	.negotiated_version = 0x0100,
	.reserved = 0,
	.credits_requested = 10,
	.credits_granted = 10,
	.status = 0,
	.max_read_write_size = 1048576,
	.preferred_send_size = 1024,
	.max_receive_size = 1024,
	.max_fragmented_size = 131072,
};

/* 4.1 first Data Transfer message: CreditsRequested 10, CreditsGranted 10,
 * Flags 0, Reserved 0, RemainingDataLength 0, DataOffset 24, DataLength =
 * length of the upper-layer message (the spec leaves it open; 100 here),
 * 4 bytes of zero Padding. */
#define EX41_DATA_LENGTH 100
static const uint8_t ex41_data_header[24] = {
	0x0a, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* 4.2 (and 4.4, 4.5): CreditsRequested 10, CreditsGranted 1, Flags 0,
 * Reserved 0, RemainingDataLength 0, DataOffset 24, DataLength 500
 * (0x1F4), 4 bytes of zero Padding. */
static const uint8_t ex42_data_header[24] = {
	0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0xf4, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* 4.3 fragments of a 65536-byte message with MaxSendSize 1024:
 * CreditsRequested 10, CreditsGranted 1, DataOffset 24, DataLength 1000
 * (last 536). The spec writes DataLength "0x000003F8 (1000 = MaxReceiveSize
 * - 24)"; 0x3F8 is 1016, a typo: 1000 (0x3E8) fits the formula and the
 * 536-byte last fragment (65 x 1000 + 536 = 65536), so 1000 is used. The
 * spec gives RemainingDataLength only as "63KiB"/"62KiB remaining"; per
 * 3.1.5.4-f it is exactly 64536 (0xFC18), 63536 (0xF830), ..., 0. */
#define EX43_TOTAL 65536u
#define EX43_FRAGMENTS 66u
static const uint8_t ex43_frag1[24] = {
	0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x18, 0xfc, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t ex43_frag2[24] = {
	0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x30, 0xf8, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t ex43_frag66[24] = {
	0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00,
	0x18, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* 4.4 Buffer Descriptor V1: Offset 0x00000000ABCDE012, Token 0x1A00BC56,
 * Length 0x00100000; on the wire Offset, Token, Length (2.2.3.1). */
static const uint8_t ex44_descriptor[16] = {
	0x12, 0xe0, 0xcd, 0xab, 0x00, 0x00, 0x00, 0x00,
	0x56, 0xbc, 0x00, 0x1a, 0x00, 0x00, 0x10, 0x00,
};

/* 4.5 Buffer Descriptor V1: the spec writes Offset "0x00000000DCBA024", 15
 * hex digits; read as the value 0x0DCBA024. Token 0x1A00BC57, Length
 * 0x00100000. */
static const uint8_t ex45_descriptor[16] = {
	0x24, 0xa0, 0xcb, 0x0d, 0x00, 0x00, 0x00, 0x00,
	0x57, 0xbc, 0x00, 0x1a, 0x00, 0x00, 0x10, 0x00,
};

/* Not in section 4, derived from 3.1.5.3-e: the failure response for a
 * version mismatch (Status STATUS_NOT_SUPPORTED 0xC00000BB). */
static const uint8_t failure_response[32] = {
	0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xbb, 0x00, 0x00, 0xc0,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* Not in section 4, derived from 3.1.6.2 and 3.1.5.4-b: a keepalive with
 * CreditsRequested 255, CreditsGranted 0, Flags RESPONSE_REQUESTED. */
static const uint8_t keepalive_message[20] = {
	0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* --- helpers ---------------------------------------------------------- */

/* Settings of the 4.1 peers: 1 KiB sends and receives, 128 KiB
 * reassembly, 10 credits each way, 1 MiB MaxReadWriteSize. */
static struct smbdirect_settings ex41_settings(void)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	s.max_send_size = 1024;
	s.max_receive_size = 1024;
	s.max_fragmented_size = 131072;
	s.max_read_write_size = 1048576;
	s.send_credit_target = 10;
	s.receive_credit_max = 10;
	return s;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 7u) ^ (i >> 8) ^ 0x3Cu);
}

static struct tmsg *new_msg(void *mem, size_t len)
{
	struct tmsg *t = tmsg_new(mem, len, 0);
	size_t i;

	for (i = 0; i < len; i++) {
		t->data[i] = pattern(i);
	}
	return t;
}

/* An engine of `role` with the 4.1 settings, started. */
static struct mock *ex41_started(void *mem, enum smbdirect_role role)
{
	struct smbdirect_settings s = ex41_settings();

	return started(mem, role, &s);
}

/* Sent message `i` is a data transfer message: the 24 bytes `header`,
 * then the `len` bytes of `payload`. */
static void assert_sent_message(const struct mock *m, size_t i,
				const uint8_t *header, const uint8_t *payload,
				size_t len)
{
	assert_true(i < m->sent_count);
	assert_int_equal(m->sent[i].length, 24 + len);
	assert_memory_equal(m->sent[i].bytes, header, 24);
	assert_memory_equal(m->sent[i].bytes + 24, payload, len);
}

/* Feed sent message `i` of `from` to `to`, as the wire would. */
static void forward(struct mock *from, size_t i, struct mock *to)
{
	assert_true(i < from->sent_count);
	mock_recv(to, from->sent[i].bytes, from->sent[i].length);
}

/* An engine of `role` with the 4.1 settings (and one send outstanding at
 * a time), after the 4.1 exchange: it holds 10 send credits and the peer
 * holds 9 of its 10 receive credits, as in 4.2 and 4.3. Logs cleared. */
static struct mock *ex41_established(void *mem, enum smbdirect_role role)
{
	struct smbdirect_settings s = ex41_settings();
	struct mock *m;

	s.max_outstanding_sends = 1;
	m = started(mem, role, &s);
	mock_complete_all(m);
	if (role == SMBDIRECT_ROLE_INITIATOR) {
		mock_recv(m, ex41_response, sizeof(ex41_response));
		/* It granted its 10 credits with its first message; the peer
		 * answers with 1 credit, as 4.2 describes. */
		mock_complete_all(m);
		mock_recv_data(m, 10, 1, 0, 0, NULL, 0);
	} else {
		uint8_t first[24 + EX41_DATA_LENGTH];

		mock_recv(m, ex41_request, sizeof(ex41_request));
		mock_complete_all(m);
		memcpy(first, ex41_data_header, 24);
		memset(first + 24, 0xAB, EX41_DATA_LENGTH);
		mock_recv(m, first, sizeof(first));
	}
	assert_running(m);
	assert_true(m->connected);
	mock_complete_all(m);
	assert_int_equal(stats(m).send_credits, 10);
	assert_int_equal(stats(m).receive_credits, 9);
	clear_logs(m);
	return m;
}

/* --- 4.1 ---------------------------------------------------------------- */

/* [MS-SMBD] 4.1, 2.2.1: the negotiate request encodes to, and decodes
 * from, the derived 20 bytes. */
static void test_4_1_negotiate_request_codec(void **state)
{
	struct smbdirect_negotiate_request req;
	uint8_t buf[20];

	(void)state;
	assert_int_equal(smbdirect_negotiate_request_encode(
				 &ex41_request_fields, buf, sizeof(buf)),
			 20);
	assert_memory_equal(buf, ex41_request, 20);
	assert_int_equal(smbdirect_negotiate_request_decode(ex41_request, 20,
							    &req),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&req, &ex41_request_fields, sizeof(req));
}

/* [MS-SMBD] 4.1, 3.1.5.2: an initiator with the 4.1 settings sends exactly
 * the 4.1 negotiate request. */
static void test_4_1_negotiate_request_from_engine(void **state)
{
	struct mock *m = ex41_started(*state, SMBDIRECT_ROLE_INITIATOR);

	assert_int_equal(m->sent_count, 1);
	assert_sent_bytes(m, 0, ex41_request, 20);
}

/* [MS-SMBD] 4.1, 2.2.2: the negotiate response encodes to, and decodes
 * from, the derived 32 bytes. */
static void test_4_1_negotiate_response_codec(void **state)
{
	struct smbdirect_negotiate_response rsp;
	uint8_t buf[32];

	(void)state;
	assert_int_equal(smbdirect_negotiate_response_encode(
				 &ex41_response_fields, buf, sizeof(buf)),
			 32);
	assert_memory_equal(buf, ex41_response, 32);
	assert_int_equal(smbdirect_negotiate_response_decode(ex41_response, 32,
							     &rsp),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&rsp, &ex41_response_fields, sizeof(rsp));
}

/* [MS-SMBD] 4.1, 3.1.5.3, 3.1.5.6: a responder with the 4.1 settings,
 * given the 4.1 request, sends exactly the 4.1 response (CreditsGranted =
 * the 10 receives it posted, MaxReadWriteSize from max_read_write_size)
 * and is connected with 1 KiB sizes. */
static void test_4_1_negotiate_response_from_engine(void **state)
{
	struct mock *m = ex41_started(*state, SMBDIRECT_ROLE_RESPONDER);

	mock_recv(m, ex41_request, sizeof(ex41_request));
	assert_running(m);
	assert_int_equal(m->sent_count, 1);
	assert_sent_bytes(m, 0, ex41_response, 32);
	assert_true(m->connected);
	assert_int_equal(m->params.max_send_size, 1024);
	assert_int_equal(m->params.max_receive_size, 1024);
	assert_int_equal(m->params.max_fragmented_send_size, 131072);
	assert_int_equal(m->params.receive_credit_target, 10);
	assert_int_equal(stats(m).receive_credits, 10);
}

/* [MS-SMBD] 4.1, 3.1.5.7: an initiator with the 4.1 settings accepts the
 * 4.1 response: SendCredits 10, 1 KiB sizes, MaxReadWriteSize 1 MiB. */
static void test_4_1_initiator_accepts_response(void **state)
{
	struct mock *m = ex41_started(*state, SMBDIRECT_ROLE_INITIATOR);

	smbdirect_engine_cork(m->engine);
	mock_recv(m, ex41_response, sizeof(ex41_response));
	assert_running(m);
	assert_true(m->connected);
	assert_int_equal(stats(m).send_credits, 10);
	assert_int_equal(m->params.max_send_size, 1024);
	assert_int_equal(m->params.max_receive_size, 1024);
	assert_int_equal(m->params.max_read_write_size, 1048576);
	assert_int_equal(m->params.max_fragmented_send_size, 131072);
	smbdirect_engine_uncork(m->engine, m->now);
}

/* [MS-SMBD] 4.1, 2.2.3: the first data transfer message header encodes
 * to, and decodes from, the derived 24 bytes. */
static void test_4_1_first_data_message_codec(void **state)
{
	const struct smbdirect_data_header fields = {
		.credits_requested = 10,
		.credits_granted = 10,
		.data_offset = 24,
		.data_length = EX41_DATA_LENGTH,
	};
	struct smbdirect_data_header hdr;
	uint8_t buf[24 + EX41_DATA_LENGTH];

	(void)state;
	memset(buf, 0xEE, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&fields, buf, 24), 24);
	assert_memory_equal(buf, ex41_data_header, 24);
	assert_int_equal(smbdirect_data_header_decode(buf, sizeof(buf), &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&hdr, &fields, sizeof(hdr));
}

/* [MS-SMBD] 4.1, 3.1.5.1, 3.1.5.9: the initiator's first data transfer
 * message, carrying the upper layer's first message, is exactly the 4.1
 * header: it grants the 10 credits the response asked for and requests
 * 10. */
static void test_4_1_first_data_message_from_engine(void **state)
{
	struct mock *m = ex41_started(*state, SMBDIRECT_ROLE_INITIATOR);
	struct tmsg *t = new_msg(m, EX41_DATA_LENGTH);

	mock_complete_all(m);
	/* The upper layer's first message is submitted as soon as the
	 * connection is up, before anything else goes out. */
	smbdirect_engine_cork(m->engine);
	mock_recv(m, ex41_response, sizeof(ex41_response));
	assert_int_equal(
		smbdirect_engine_submit(m->engine, m->now, &t->msg), 0);
	smbdirect_engine_uncork(m->engine, m->now);
	assert_running(m);
	assert_int_equal(m->sent_count, 2);
	assert_sent_message(m, 1, ex41_data_header, t->data, EX41_DATA_LENGTH);
}

/* --- 4.2 ---------------------------------------------------------------- */

/* [MS-SMBD] 4.2, 2.2.3: the 500-byte message header encodes to, and
 * decodes from, the derived 24 bytes; with its payload it is 524 bytes. */
static void test_4_2_data_message_codec(void **state)
{
	const struct smbdirect_data_header fields = {
		.credits_requested = 10,
		.credits_granted = 1,
		.data_offset = 24,
		.data_length = 500,
	};
	struct smbdirect_data_header hdr;
	uint8_t buf[524];

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&fields, buf, 24), 24);
	assert_memory_equal(buf, ex42_data_header, 24);
	assert_int_equal(smbdirect_data_header_decode(buf, 524, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&hdr, &fields, sizeof(hdr));
	assert_int_equal(smbdirect_data_header_decode(buf, 523, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
}

/* [MS-SMBD] 4.2, 3.1.5.1, 3.1.5.9: after the 4.1 exchange (the peer used
 * one of its 10 credits), a 500-byte message goes out exactly as 4.2:
 * requesting 10, granting the 1 credit back. Both roles. */
static void test_4_2_500_bytes_from_engine(void **state,
					   enum smbdirect_role role)
{
	struct mock *m = ex41_established(*state, role);
	struct tmsg *t = new_msg(m, 500);

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	assert_int_equal(m->sent_count, 1);
	assert_sent_message(m, 0, ex42_data_header, t->data, 500);
	assert_running(m);
}
ROLE_TESTS(test_4_2_500_bytes_from_engine)

/* --- 4.3 ---------------------------------------------------------------- */

/* [MS-SMBD] 4.3, 2.2.3: the first, second and last fragment headers
 * encode to, and decode from, the derived bytes. */
static void test_4_3_fragment_headers_codec(void **state)
{
	static const struct {
		const uint8_t *bytes;
		uint32_t remaining;
		uint32_t length;
	} frags[] = {
		{ex43_frag1, 64536, 1000},
		{ex43_frag2, 63536, 1000},
		{ex43_frag66, 0, 536},
	};
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		const struct smbdirect_data_header fields = {
			.credits_requested = 10,
			.credits_granted = 1,
			.remaining_data_length = frags[i].remaining,
			.data_offset = 24,
			.data_length = frags[i].length,
		};
		struct smbdirect_data_header hdr;
		uint8_t buf[24 + 1000];

		memset(buf, 0, sizeof(buf));
		assert_int_equal(smbdirect_data_header_encode(&fields, buf, 24),
				 24);
		assert_memory_equal(buf, frags[i].bytes, 24);
		assert_int_equal(smbdirect_data_header_decode(
					 frags[i].bytes, 24, &hdr),
				 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
		assert_int_equal(smbdirect_data_header_decode(
					 buf, 24 + frags[i].length, &hdr),
				 SMBDIRECT_WIRE_OK);
		assert_memory_equal(&hdr, &fields, sizeof(hdr));
	}
}

/* [MS-SMBD] 4.3, 3.1.5.4: an engine with MaxSendSize 1024 sends a
 * 65536-byte message as 66 fragments, DataLength 1000 (the last 536),
 * RemainingDataLength 64536, 63536, ..., 536, 0. The peer grants one
 * credit back after each fragment, so each fragment also grants 1, as in
 * the example: every header matches the example byte for byte, and the
 * payloads concatenate back to the message. Both roles. */
static void test_4_3_64kib_fragmented_from_engine(void **state,
						  enum smbdirect_role role)
{
	struct mock *m = ex41_established(*state, role);
	struct tmsg *t = new_msg(m, EX43_TOTAL);
	uint8_t *joined = talloc_size(m, EX43_TOTAL);
	size_t at = 0;
	uint32_t i;

	assert_int_equal(smbdirect_engine_submit(m->engine, m->now, &t->msg),
			 0);
	for (i = 0; i < EX43_FRAGMENTS; i++) {
		uint32_t length = i < EX43_FRAGMENTS - 1 ? 1000 : 536;
		uint32_t remaining = EX43_TOTAL - 1000 * i - length;
		uint8_t expected[24];
		const struct mock_sent *s;

		assert_int_equal(m->sent_count, i + 1);
		s = &m->sent[i];
		assert_int_equal(s->length, 24 + length);
		/* Every header is the 4.3 header with this fragment's
		 * RemainingDataLength and DataLength. */
		memcpy(expected, ex43_frag1, 24);
		expected[8] = (uint8_t)remaining;
		expected[9] = (uint8_t)(remaining >> 8);
		expected[10] = (uint8_t)(remaining >> 16);
		expected[11] = (uint8_t)(remaining >> 24);
		expected[16] = (uint8_t)length;
		expected[17] = (uint8_t)(length >> 8);
		assert_memory_equal(s->bytes, expected, 24);
		if (i == 0) {
			assert_memory_equal(s->bytes, ex43_frag1, 24);
		} else if (i == 1) {
			assert_memory_equal(s->bytes, ex43_frag2, 24);
		} else if (i == EX43_FRAGMENTS - 1) {
			assert_memory_equal(s->bytes, ex43_frag66, 24);
		}
		memcpy(joined + at, s->bytes + 24, length);
		at += length;
		if (i < EX43_FRAGMENTS - 1) {
			/* The peer replenishes the credit this fragment
			 * used; the next fragment follows its completion. */
			mock_recv_data(m, 10, 1, 0, 0, NULL, 0);
			assert_int_equal(m->sent_count, i + 1);
		}
		mock_complete_all(m);
		assert_running(m);
	}
	assert_int_equal(m->sent_count, EX43_FRAGMENTS);
	assert_int_equal(at, EX43_TOTAL);
	assert_memory_equal(joined, t->data, EX43_TOTAL);
	assert_int_equal(m->done_count, 1);
	assert_ptr_equal(m->done[0], &t->msg);
}
ROLE_TESTS(test_4_3_64kib_fragmented_from_engine)

/* [MS-SMBD] 4.1 to 4.3 between two engines: an initiator and a responder
 * with the 4.1 settings exchange the 4.1 negotiate messages and first data
 * message byte for byte; the responder's 500-byte message is the 4.2
 * message; then its 64 KiB message goes out in 66 fragments (1000 bytes,
 * the last 536, RemainingDataLength counting down) that the initiator
 * reassembles, with credits flowing between the engines on their own. */
static void test_4_1_to_4_3_between_two_engines(void **state)
{
	struct smbdirect_settings s = ex41_settings();
	struct mock *ini = mock_new(*state, SMBDIRECT_ROLE_INITIATOR, &s);
	struct mock *rsp = mock_new(*state, SMBDIRECT_ROLE_RESPONDER, &s);
	struct tmsg *first = new_msg(*state, EX41_DATA_LENGTH);
	struct tmsg *m500 = new_msg(*state, 500);
	struct tmsg *big = new_msg(*state, EX43_TOTAL);
	size_t ini_fwd;
	size_t rsp_fwd;
	uint32_t fragments = 0;
	uint32_t expect_remaining = EX43_TOTAL;
	int rounds;

	assert_int_equal(smbdirect_engine_start(rsp->engine, rsp->now), 0);
	assert_int_equal(smbdirect_engine_start(ini->engine, ini->now), 0);
	assert_memory_equal(ini->sent[0].bytes, ex41_request, 20);
	forward(ini, 0, rsp);
	assert_int_equal(rsp->sent_count, 1);
	assert_memory_equal(rsp->sent[0].bytes, ex41_response, 32);
	mock_complete_all(ini);
	mock_complete_all(rsp);

	smbdirect_engine_cork(ini->engine);
	forward(rsp, 0, ini);
	assert_int_equal(
		smbdirect_engine_submit(ini->engine, ini->now, &first->msg), 0);
	smbdirect_engine_uncork(ini->engine, ini->now);
	assert_int_equal(ini->sent_count, 2);
	assert_memory_equal(ini->sent[1].bytes, ex41_data_header, 24);
	forward(ini, 1, rsp);
	assert_int_equal(rsp->delivered_count, 1);
	assert_memory_equal(rsp->delivered[0], first->data, EX41_DATA_LENGTH);

	assert_int_equal(
		smbdirect_engine_submit(rsp->engine, rsp->now, &m500->msg), 0);
	assert_int_equal(rsp->sent_count, 2);
	assert_memory_equal(rsp->sent[1].bytes, ex42_data_header, 24);
	forward(rsp, 1, ini);
	assert_int_equal(ini->delivered_count, 1);
	assert_memory_equal(ini->delivered[0], m500->data, 500);

	/* 4.3: shuttle messages both ways until both are quiet. */
	ini_fwd = ini->sent_count;
	rsp_fwd = rsp->sent_count;
	assert_int_equal(
		smbdirect_engine_submit(rsp->engine, rsp->now, &big->msg), 0);
	for (rounds = 0; rounds < 1000; rounds++) {
		bool moved = false;

		mock_complete_all(ini);
		mock_complete_all(rsp);
		while (rsp_fwd < rsp->sent_count) {
			struct smbdirect_data_header hdr;

			assert_true(mock_sent_data(rsp, rsp_fwd, &hdr));
			assert_int_equal(hdr.credits_requested, 10);
			if (hdr.data_length > 0) {
				fragments += 1;
				assert_int_equal(hdr.data_length,
						 fragments < EX43_FRAGMENTS
							 ? 1000
							 : 536);
				expect_remaining -= hdr.data_length;
				assert_int_equal(hdr.remaining_data_length,
						 expect_remaining);
			}
			forward(rsp, rsp_fwd++, ini);
			moved = true;
		}
		while (ini_fwd < ini->sent_count) {
			forward(ini, ini_fwd++, rsp);
			moved = true;
		}
		assert_running(ini);
		assert_running(rsp);
		if (!moved) {
			break;
		}
	}
	assert_int_equal(fragments, EX43_FRAGMENTS);
	assert_int_equal(ini->delivered_count, 2);
	assert_int_equal(ini->delivered_length[1], EX43_TOTAL);
	assert_memory_equal(ini->delivered[1], big->data, EX43_TOTAL);
	assert_int_equal(rsp->done_count, 2);
	assert_ptr_equal(rsp->done[0], &m500->msg);
	assert_ptr_equal(rsp->done[1], &big->msg);
	assert_int_equal(ini->done_count, 1);
	assert_ptr_equal(ini->done[0], &first->msg);
}

/* --- 4.4, 4.5 ----------------------------------------------------------- */

static void check_descriptor(const uint8_t *bytes, uint64_t offset,
			     uint32_t token, uint32_t length)
{
	const struct smbdirect_buffer_descriptor d = {
		.offset = offset,
		.token = token,
		.length = length,
	};
	struct smbdirect_buffer_descriptor out[1];
	uint8_t buf[16];
	size_t count;
	uint64_t total;

	assert_int_equal(smbdirect_buffer_descriptors_encode(&d, 1, buf, 16),
			 16);
	assert_memory_equal(buf, bytes, 16);
	/* 1 MiB is exactly the 4.1 MaxReadWriteSize. */
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 bytes, 16, out, 1, 1048576, &count, &total),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(count, 1);
	assert_int_equal(total, length);
	assert_memory_equal(&out[0], &d, sizeof(d));
}

/* [MS-SMBD] 4.4, 2.2.3.1: the descriptor of the 1 MiB source buffer
 * encodes to, and decodes from, the derived 16 bytes; the Write request
 * carrying it travels in the same data message header as 4.2. */
static void test_4_4_buffer_descriptor_codec(void **state)
{
	const struct smbdirect_data_header fields = {
		.credits_requested = 10,
		.credits_granted = 1,
		.data_offset = 24,
		.data_length = 500,
	};
	uint8_t buf[24];

	(void)state;
	check_descriptor(ex44_descriptor, 0x00000000ABCDE012ull, 0x1A00BC56,
			 0x00100000);
	assert_int_equal(smbdirect_data_header_encode(&fields, buf, 24), 24);
	assert_memory_equal(buf, ex42_data_header, 24);
}

/* [MS-SMBD] 4.5, 2.2.3.1: the descriptor of the 1 MiB destination buffer
 * encodes to, and decodes from, the derived 16 bytes. */
static void test_4_5_buffer_descriptor_codec(void **state)
{
	(void)state;
	check_descriptor(ex45_descriptor, 0x000000000DCBA024ull, 0x1A00BC57,
			 0x00100000);
}

/* --- vectors derived from the rules -------------------------------------- */

/* [MS-SMBD] 3.1.5.6-b, 3.1.5.3-e: a responder given the 4.1 request with
 * version 2.0 instead sends exactly the failure response. */
static void test_3_1_5_3_failure_response_bytes_from_engine(void **state)
{
	struct mock *m = ex41_started(*state, SMBDIRECT_ROLE_RESPONDER);
	uint8_t req[20];

	memcpy(req, ex41_request, 20);
	req[1] = 0x02; /* MinVersion 0x0200 */
	req[3] = 0x02; /* MaxVersion 0x0200 */
	mock_recv(m, req, sizeof(req));
	assert_int_equal(m->sent_count, 1);
	assert_sent_bytes(m, 0, failure_response, 32);
}

/* [MS-SMBD] 3.1.6.2, 3.1.5.4-b: an idle engine with SendCreditTarget 255
 * whose peer holds all its credits sends exactly the keepalive bytes.
 * Both roles. */
static void test_3_1_6_2_keepalive_bytes_from_engine(void **state,
						     enum smbdirect_role role)
{
	struct mock *m = mock_new(*state, role, NULL);

	mock_connect(m, 255);
	if (role == SMBDIRECT_ROLE_RESPONDER) {
		/* The initiator's first message grants credits. */
		mock_complete_all(m);
		mock_recv_data(m, 255, 255, SMBDIRECT_FLAG_RESPONSE_REQUESTED,
			       0, NULL, 0);
	}
	mock_complete_all(m);
	assert_int_equal(stats(m).receive_credits, 255);
	m->sent_count = 0;
	mock_advance(m, 120000);
	assert_int_equal(m->sent_count, 1);
	assert_sent_bytes(m, 0, keepalive_message, 20);
	assert_running(m);
}
ROLE_TESTS(test_3_1_6_2_keepalive_bytes_from_engine)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_4_1_negotiate_request_codec),
		T(test_4_1_negotiate_request_from_engine),
		T(test_4_1_negotiate_response_codec),
		T(test_4_1_negotiate_response_from_engine),
		T(test_4_1_initiator_accepts_response),
		T(test_4_1_first_data_message_codec),
		T(test_4_1_first_data_message_from_engine),
		T(test_4_2_data_message_codec),
		BOTH(test_4_2_500_bytes_from_engine),
		T(test_4_3_fragment_headers_codec),
		BOTH(test_4_3_64kib_fragmented_from_engine),
		T(test_4_1_to_4_3_between_two_engines),
		T(test_4_4_buffer_descriptor_codec),
		T(test_4_5_buffer_descriptor_codec),
		T(test_3_1_5_3_failure_response_bytes_from_engine),
		BOTH(test_3_1_6_2_keepalive_bytes_from_engine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
