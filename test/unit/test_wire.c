/*
 * libsmbdirect unit tests: the [MS-SMBD] 2.2 message codec and the
 * SMB_DIRECT_BUFFER_DESCRIPTOR_V1 list codec (smbdirect_wire.h), and the
 * name functions for wire errors and termination reasons.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Every field is encoded with a value whose bytes all differ, so a swapped
 * field or a big-endian write shows up as a byte mismatch ([MS-SMBD] 2.2-b:
 * little-endian).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "smbdirect.h"
#include "unit.h"

/* Fill a buffer with a marker so that bytes an encoder must not touch,
 * and padding it must zero, can be checked. */
#define MARK 0xEEu

static void fill(uint8_t *buf, size_t len)
{
	memset(buf, MARK, len);
}

static void assert_untouched(const uint8_t *buf, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++) {
		assert_int_equal(buf[i], MARK);
	}
}

/* put_data_header() with Reserved 0. */
static void raw_data_header(uint8_t *b, uint16_t cr, uint16_t cg,
			    uint16_t flags, uint32_t remaining,
			    uint32_t offset, uint32_t length)
{
	put_data_header(b, cr, cg, flags, 0, remaining, offset, length);
}

/* --- 2.2.1 negotiate request ----------------------------------------- */

static const struct smbdirect_negotiate_request sample_request = {
	.min_version = 0x0102,
	.max_version = 0x0304,
	.reserved = 0x0506,
	.credits_requested = 0x0708,
	.preferred_send_size = 0x090A0B0C,
	.max_receive_size = 0x0D0E0F10,
	.max_fragmented_size = 0x11121314,
};

static const uint8_t sample_request_bytes[20] = {
	0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x0C, 0x0B,
	0x0A, 0x09, 0x10, 0x0F, 0x0E, 0x0D, 0x14, 0x13, 0x12, 0x11,
};

/* [MS-SMBD] 2.2.1, 2.2-b: the request is 20 bytes, fields at offsets
 * 0/2/4/6/8/12/16, little-endian; nothing past byte 20 is written. */
static void test_2_2_1_negotiate_request_encode_layout(void **state)
{
	uint8_t buf[32];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_negotiate_request_encode(&sample_request,
							    buf, sizeof(buf)),
			 20);
	assert_memory_equal(buf, sample_request_bytes, 20);
	assert_untouched(buf, 20, sizeof(buf));
}

/* [MS-SMBD] 2.2.1: an encoder never writes past its buffer; 19 bytes is too
 * small (returns 0, writes nothing); NULL arguments are refused. */
static void test_2_2_1_negotiate_request_encode_refuses_small_buffer(
	void **state)
{
	uint8_t buf[20];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(
		smbdirect_negotiate_request_encode(&sample_request, buf, 19), 0);
	assert_untouched(buf, 0, sizeof(buf));
	assert_int_equal(
		smbdirect_negotiate_request_encode(NULL, buf, sizeof(buf)), 0);
	assert_int_equal(smbdirect_negotiate_request_encode(&sample_request,
							    NULL, 20),
			 0);
	assert_int_equal(
		smbdirect_negotiate_request_encode(&sample_request, buf, 20),
		20);
}

/* [MS-SMBD] 2.2.1, 3.1.5.6-a: a request of exactly 20 bytes decodes to
 * the encoded fields; extra trailing bytes are ignored. */
static void test_2_2_1_negotiate_request_decode_round_trip(void **state)
{
	struct smbdirect_negotiate_request req;
	uint8_t longer[28];

	(void)state;
	memset(&req, 0, sizeof(req));
	assert_int_equal(smbdirect_negotiate_request_decode(
				 sample_request_bytes, 20, &req),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&req, &sample_request, sizeof(req));

	memcpy(longer, sample_request_bytes, 20);
	memset(longer + 20, 0x5A, 8);
	memset(&req, 0, sizeof(req));
	assert_int_equal(smbdirect_negotiate_request_decode(
				 longer, sizeof(longer), &req),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&req, &sample_request, sizeof(req));
}

/* [MS-SMBD] 3.1.5.6-a: fewer than 20 bytes is refused, at every length. */
static void test_3_1_5_6_negotiate_request_decode_too_short(void **state)
{
	struct smbdirect_negotiate_request req;
	size_t len;

	(void)state;
	for (len = 0; len < 20; len++) {
		assert_int_equal(smbdirect_negotiate_request_decode(
					 sample_request_bytes, len, &req),
				 SMBDIRECT_WIRE_TOO_SHORT);
	}
	assert_int_equal(smbdirect_negotiate_request_decode(NULL, 20, &req),
			 SMBDIRECT_WIRE_TOO_SHORT);
}

/* --- 2.2.2 negotiate response ---------------------------------------- */

static const struct smbdirect_negotiate_response sample_response = {
	.min_version = 0x0102,
	.max_version = 0x0304,
	.negotiated_version = 0x0506,
	.reserved = 0x0708,
	.credits_requested = 0x090A,
	.credits_granted = 0x0B0C,
	.status = 0x0D0E0F10,
	.max_read_write_size = 0x11121314,
	.preferred_send_size = 0x15161718,
	.max_receive_size = 0x191A1B1C,
	.max_fragmented_size = 0x1D1E1F20,
};

static const uint8_t sample_response_bytes[32] = {
	0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x0A, 0x09, 0x0C,
	0x0B, 0x10, 0x0F, 0x0E, 0x0D, 0x14, 0x13, 0x12, 0x11, 0x18, 0x17,
	0x16, 0x15, 0x1C, 0x1B, 0x1A, 0x19, 0x20, 0x1F, 0x1E, 0x1D,
};

/* [MS-SMBD] 2.2.2, 2.2-b: the response is 32 bytes, fields at offsets
 * 0/2/4/6/8/10/12/16/20/24/28, little-endian. */
static void test_2_2_2_negotiate_response_encode_layout(void **state)
{
	uint8_t buf[40];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_negotiate_response_encode(
				 &sample_response, buf, sizeof(buf)),
			 32);
	assert_memory_equal(buf, sample_response_bytes, 32);
	assert_untouched(buf, 32, sizeof(buf));
}

/* [MS-SMBD] 2.2.2: 31 bytes of room is refused without writing; NULL
 * arguments are refused. */
static void test_2_2_2_negotiate_response_encode_refuses_small_buffer(
	void **state)
{
	uint8_t buf[32];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(
		smbdirect_negotiate_response_encode(&sample_response, buf, 31),
		0);
	assert_untouched(buf, 0, sizeof(buf));
	assert_int_equal(smbdirect_negotiate_response_encode(NULL, buf, 32),
			 0);
	assert_int_equal(smbdirect_negotiate_response_encode(&sample_response,
							     NULL, 32),
			 0);
}

/* [MS-SMBD] 2.2.2, 3.1.5.7-a: exactly 32 bytes decodes to the encoded
 * fields; trailing bytes are ignored. */
static void test_2_2_2_negotiate_response_decode_round_trip(void **state)
{
	struct smbdirect_negotiate_response rsp;
	uint8_t longer[36];

	(void)state;
	memset(&rsp, 0, sizeof(rsp));
	assert_int_equal(smbdirect_negotiate_response_decode(
				 sample_response_bytes, 32, &rsp),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&rsp, &sample_response, sizeof(rsp));

	memcpy(longer, sample_response_bytes, 32);
	memset(longer + 32, 0xA5, 4);
	memset(&rsp, 0, sizeof(rsp));
	assert_int_equal(smbdirect_negotiate_response_decode(
				 longer, sizeof(longer), &rsp),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&rsp, &sample_response, sizeof(rsp));
}

/* [MS-SMBD] 3.1.5.7-a: fewer than 32 bytes is refused, at every length. */
static void test_3_1_5_7_negotiate_response_decode_too_short(void **state)
{
	struct smbdirect_negotiate_response rsp;
	size_t len;

	(void)state;
	for (len = 0; len < 32; len++) {
		assert_int_equal(smbdirect_negotiate_response_decode(
					 sample_response_bytes, len, &rsp),
				 SMBDIRECT_WIRE_TOO_SHORT);
	}
	assert_int_equal(smbdirect_negotiate_response_decode(NULL, 32, &rsp),
			 SMBDIRECT_WIRE_TOO_SHORT);
}

/* --- 2.2.3 data transfer header -------------------------------------- */

/* [MS-SMBD] 2.2.3, 3.1.5.4-b: a message without payload is the 20-byte
 * header alone, DataOffset 0; the encoder refuses a non-zero DataOffset
 * for it and a buffer shorter than 20 bytes. */
static void test_2_2_3_data_header_encode_without_payload_is_20_bytes(
	void **state)
{
	const struct smbdirect_data_header hdr = {
		.credits_requested = 0x0102,
		.credits_granted = 0x0304,
		.flags = SMBDIRECT_FLAG_RESPONSE_REQUESTED,
		.reserved = 0x0708,
		.remaining_data_length = 0,
		.data_offset = 0,
		.data_length = 0,
	};
	const uint8_t expected[20] = {
		0x02, 0x01, 0x04, 0x03, 0x01, 0x00, 0x08, 0x07, 0, 0,
		0,    0,    0,    0,    0,    0,    0,    0,    0, 0,
	};
	struct smbdirect_data_header bad = hdr;
	uint8_t buf[32];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&hdr, buf, sizeof(buf)),
			 20);
	assert_memory_equal(buf, expected, 20);
	assert_untouched(buf, 20, sizeof(buf));

	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&hdr, buf, 19), 0);
	assert_untouched(buf, 0, sizeof(buf));

	bad.data_offset = SMBDIRECT_DATA_OFFSET;
	assert_int_equal(smbdirect_data_header_encode(&bad, buf, sizeof(buf)),
			 0);
	assert_int_equal(smbdirect_data_header_encode(NULL, buf, sizeof(buf)),
			 0);
	assert_int_equal(smbdirect_data_header_encode(&hdr, NULL, 32), 0);
}

/* [MS-SMBD] 2.2.3, 3.1.5.4-e/h: with a payload the header is 24 bytes:
 * DataOffset 24 and 4 Padding bytes of zero; any other DataOffset, or less
 * than 24 bytes of room, is refused. */
static void test_2_2_3_data_header_encode_with_payload_is_24_bytes(
	void **state)
{
	const struct smbdirect_data_header hdr = {
		.credits_requested = 0x0102,
		.credits_granted = 0x0304,
		.flags = 0,
		.reserved = 0,
		.remaining_data_length = 0x0D0E0F10,
		.data_offset = 24,
		.data_length = 0x11121314,
	};
	const uint8_t expected[24] = {
		0x02, 0x01, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00,
		0x10, 0x0F, 0x0E, 0x0D, 0x18, 0x00, 0x00, 0x00,
		0x14, 0x13, 0x12, 0x11, 0x00, 0x00, 0x00, 0x00,
	};
	struct smbdirect_data_header bad = hdr;
	uint8_t buf[32];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&hdr, buf, sizeof(buf)),
			 24);
	assert_memory_equal(buf, expected, 24);
	assert_untouched(buf, 24, sizeof(buf));

	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&hdr, buf, 23), 0);
	assert_untouched(buf, 0, sizeof(buf));

	bad.data_offset = 0;
	assert_int_equal(smbdirect_data_header_encode(&bad, buf, sizeof(buf)),
			 0);
	bad.data_offset = 32;
	assert_int_equal(smbdirect_data_header_encode(&bad, buf, sizeof(buf)),
			 0);
}

/* [MS-SMBD] 2.2.3: a header the encoder wrote decodes to the same fields,
 * with and without payload. */
static void test_2_2_3_data_header_decode_round_trip(void **state)
{
	struct smbdirect_data_header in = {
		.credits_requested = 255,
		.credits_granted = 7,
		.flags = SMBDIRECT_FLAG_RESPONSE_REQUESTED,
		.reserved = 0,
		.remaining_data_length = 4000,
		.data_offset = 24,
		.data_length = 8,
	};
	struct smbdirect_data_header out;
	uint8_t buf[32];

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(smbdirect_data_header_encode(&in, buf, sizeof(buf)),
			 24);
	assert_int_equal(smbdirect_data_header_decode(buf, 32, &out),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&in, &out, sizeof(in));

	in.data_offset = 0;
	in.data_length = 0;
	in.remaining_data_length = 0;
	assert_int_equal(smbdirect_data_header_encode(&in, buf, sizeof(buf)),
			 20);
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &out),
			 SMBDIRECT_WIRE_OK);
	assert_memory_equal(&in, &out, sizeof(in));
}

/* [MS-SMBD] 3.1.5.8-a: a data transfer message is at least 20 bytes. */
static void test_3_1_5_8_data_header_decode_too_short(void **state)
{
	struct smbdirect_data_header hdr;
	uint8_t buf[20];
	size_t len;

	(void)state;
	raw_data_header(buf, 1, 0, 0, 0, 0, 0);
	for (len = 0; len < 20; len++) {
		assert_int_equal(smbdirect_data_header_decode(buf, len, &hdr),
				 SMBDIRECT_WIRE_TOO_SHORT);
	}
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(smbdirect_data_header_decode(NULL, 20, &hdr),
			 SMBDIRECT_WIRE_TOO_SHORT);
}

/* [MS-SMBD] 2.2.3 Flags: only SMB_DIRECT_RESPONSE_REQUESTED (0x0001) is
 * defined; each of the 15 other bits is refused, alone and with 0x0001. */
static void test_2_2_3_data_header_decode_undefined_flags(void **state)
{
	struct smbdirect_data_header hdr;
	uint8_t buf[20];
	unsigned int bit;

	(void)state;
	raw_data_header(buf, 1, 0, SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, 0, 0);
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(hdr.flags, SMBDIRECT_FLAG_RESPONSE_REQUESTED);
	for (bit = 1; bit < 16; bit++) {
		uint16_t flags = (uint16_t)(1u << bit);

		raw_data_header(buf, 1, 0, flags, 0, 0, 0);
		assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
				 SMBDIRECT_WIRE_BAD_FLAGS);
		raw_data_header(buf, 1, 0, flags | 1u, 0, 0, 0);
		assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
				 SMBDIRECT_WIRE_BAD_FLAGS);
	}
}

/* [MS-SMBD] 2.2.3, 3.1.5.8-a: with a payload, DataOffset must be 8-byte
 * aligned and may not overlap the 20-byte header; 24 and 32 are fine. */
static void test_3_1_5_8_data_header_decode_bad_data_offset(void **state)
{
	static const uint32_t bad[] = {0, 1, 8, 16, 20, 21, 22, 23,
				       25, 28, 31, 33, 36};
	struct smbdirect_data_header hdr;
	uint8_t buf[64];
	size_t i;

	(void)state;
	memset(buf, 0, sizeof(buf));
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		raw_data_header(buf, 1, 0, 0, 0, bad[i], 4);
		assert_int_equal(smbdirect_data_header_decode(buf, 64, &hdr),
				 SMBDIRECT_WIRE_BAD_DATA_OFFSET);
	}
	raw_data_header(buf, 1, 0, 0, 0, 24, 4);
	assert_int_equal(smbdirect_data_header_decode(buf, 28, &hdr),
			 SMBDIRECT_WIRE_OK);
	raw_data_header(buf, 1, 0, 0, 0, 32, 4);
	assert_int_equal(smbdirect_data_header_decode(buf, 36, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(hdr.data_offset, 32);
}

/* [MS-SMBD] 3.1.5.8-a: DataOffset + DataLength must lie within the message;
 * ending exactly at the end is fine; the sum is computed without 32-bit
 * wrap-around. */
static void test_3_1_5_8_data_header_decode_bad_data_length(void **state)
{
	struct smbdirect_data_header hdr;
	uint8_t buf[64];

	(void)state;
	memset(buf, 0, sizeof(buf));
	raw_data_header(buf, 1, 0, 0, 0, 24, 40);
	assert_int_equal(smbdirect_data_header_decode(buf, 64, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(hdr.data_length, 40);
	raw_data_header(buf, 1, 0, 0, 0, 24, 41);
	assert_int_equal(smbdirect_data_header_decode(buf, 64, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
	raw_data_header(buf, 1, 0, 0, 0, 24, 1);
	assert_int_equal(smbdirect_data_header_decode(buf, 24, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
	/* 0xFFFFFFF8 + 0x10 wraps to 8 in 32 bits. */
	raw_data_header(buf, 1, 0, 0, 0, 0xFFFFFFF8u, 0x10);
	assert_int_equal(smbdirect_data_header_decode(buf, 64, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
	raw_data_header(buf, 1, 0, 0, 0, 24, 0xFFFFFFFFu);
	assert_int_equal(smbdirect_data_header_decode(buf, 64, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
}

/* [MS-SMBD] 2.2.3, 2.2-c: an empty message (DataOffset 0, DataLength 0) of
 * 20 bytes is valid; Reserved is returned but not checked. */
static void test_2_2_3_data_header_decode_empty_message(void **state)
{
	struct smbdirect_data_header hdr;
	uint8_t buf[20];

	(void)state;
	raw_data_header(buf, 10, 3, 0, 0, 0, 0);
	buf[6] = 0xCD;
	buf[7] = 0xAB;
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(hdr.credits_requested, 10);
	assert_int_equal(hdr.credits_granted, 3);
	assert_int_equal(hdr.reserved, 0xABCD);
	assert_int_equal(hdr.data_offset, 0);
	assert_int_equal(hdr.data_length, 0);
}

/* [MS-SMBD] 3.1.5.8-a: the DataOffset checks hold for an empty message
 * too: aligned and within the message (16 in a 20-byte message is fine,
 * 24 is past its end, 4 is unaligned). */
static void test_3_1_5_8_empty_message_data_offset_checked(void **state)
{
	struct smbdirect_data_header hdr;
	uint8_t buf[32];

	(void)state;
	memset(buf, 0, sizeof(buf));
	raw_data_header(buf, 1, 0, 0, 0, 16, 0);
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_OK);
	raw_data_header(buf, 1, 0, 0, 0, 4, 0);
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_OFFSET);
	raw_data_header(buf, 1, 0, 0, 0, 24, 0);
	assert_int_equal(smbdirect_data_header_decode(buf, 20, &hdr),
			 SMBDIRECT_WIRE_BAD_DATA_LENGTH);
	assert_int_equal(smbdirect_data_header_decode(buf, 24, &hdr),
			 SMBDIRECT_WIRE_OK);
}

/* --- 2.2.3.1 buffer descriptors -------------------------------------- */

static const struct smbdirect_buffer_descriptor two_descs[2] = {
	{.offset = 0x0102030405060708ull, .token = 0x090A0B0C,
	 .length = 0x0D0E0F10},
	{.offset = 0x1112131415161718ull, .token = 0x191A1B1C,
	 .length = 0x00000020},
};

static const uint8_t two_descs_bytes[32] = {
	0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	0x0C, 0x0B, 0x0A, 0x09, 0x10, 0x0F, 0x0E, 0x0D,
	0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11,
	0x1C, 0x1B, 0x1A, 0x19, 0x20, 0x00, 0x00, 0x00,
};

/* [MS-SMBD] 2.2.3.1: each descriptor is Offset(8) Token(4) Length(4),
 * little-endian, 16 bytes, one after another. */
static void test_2_2_3_1_descriptors_encode_layout(void **state)
{
	uint8_t buf[40];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_buffer_descriptors_encode(two_descs, 2, buf,
							     sizeof(buf)),
			 32);
	assert_memory_equal(buf, two_descs_bytes, 32);
	assert_untouched(buf, 32, sizeof(buf));
}

/* [MS-SMBD] 2.2.3.1: an empty list, a short buffer and NULL arguments are
 * refused by the encoder without writing. */
static void test_2_2_3_1_descriptors_encode_refusals(void **state)
{
	uint8_t buf[32];

	(void)state;
	fill(buf, sizeof(buf));
	assert_int_equal(smbdirect_buffer_descriptors_encode(two_descs, 0, buf,
							     sizeof(buf)),
			 0);
	assert_int_equal(
		smbdirect_buffer_descriptors_encode(two_descs, 2, buf, 31), 0);
	assert_int_equal(
		smbdirect_buffer_descriptors_encode(NULL, 1, buf, 32), 0);
	assert_int_equal(
		smbdirect_buffer_descriptors_encode(two_descs, 1, NULL, 32), 0);
	assert_int_equal(smbdirect_buffer_descriptors_encode(
				 two_descs, SIZE_MAX / 8, buf, sizeof(buf)),
			 0);
	assert_untouched(buf, 0, sizeof(buf));
	assert_int_equal(
		smbdirect_buffer_descriptors_encode(two_descs, 1, buf, 16), 16);
}

/* [MS-SMBD] 2.2.3.1: a list decodes to its descriptors, with count and
 * the sum of the lengths. */
static void test_2_2_3_1_descriptors_decode_round_trip(void **state)
{
	struct smbdirect_buffer_descriptor out[4];
	size_t count = 99;
	uint64_t total = 99;

	(void)state;
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 4, UINT64_MAX,
				 &count, &total),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(count, 2);
	assert_int_equal(total, 0x0D0E0F10ull + 0x20);
	assert_memory_equal(out, two_descs, sizeof(two_descs));
	/* total is optional. */
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 2, UINT64_MAX,
				 &count, NULL),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(count, 2);
}

/* [MS-SMBD] 2.2.3.1: a descriptor list holds at least one descriptor. */
static void test_2_2_3_1_descriptors_decode_empty(void **state)
{
	struct smbdirect_buffer_descriptor out[2];
	size_t count = 99;
	uint64_t total = 99;

	(void)state;
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 0, out, 2, UINT64_MAX, &count,
				 &total),
			 SMBDIRECT_WIRE_EMPTY);
	assert_int_equal(count, 0);
	assert_int_equal(total, 0);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 NULL, 16, out, 2, UINT64_MAX, &count, &total),
			 SMBDIRECT_WIRE_EMPTY);
}

/* [MS-SMBD] 2.2.3.1: the list length is a multiple of 16. */
static void test_2_2_3_1_descriptors_decode_bad_length(void **state)
{
	static const size_t lengths[] = {1, 15, 17, 31};
	struct smbdirect_buffer_descriptor out[2];
	size_t count;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(lengths); i++) {
		count = 99;
		assert_int_equal(smbdirect_buffer_descriptors_decode(
					 two_descs_bytes, lengths[i], out, 2,
					 UINT64_MAX, &count, NULL),
				 SMBDIRECT_WIRE_BAD_LENGTH);
		assert_int_equal(count, 0);
	}
}

/* [MS-SMBD] 2.2.3.1: more descriptors than the caller's array holds are
 * refused (max_count is both capacity and limit); exactly max_count is
 * fine; no output array is refused. */
static void test_2_2_3_1_descriptors_decode_too_many(void **state)
{
	struct smbdirect_buffer_descriptor out[2];
	size_t count = 99;

	(void)state;
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 1, UINT64_MAX,
				 &count, NULL),
			 SMBDIRECT_WIRE_TOO_MANY);
	assert_int_equal(count, 0);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, NULL, 2, UINT64_MAX,
				 &count, NULL),
			 SMBDIRECT_WIRE_TOO_MANY);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 2, UINT64_MAX,
				 &count, NULL),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(count, 2);
}

/* [MS-SMBD] 2.2.3.1: a descriptor of length 0 moves nothing and is
 * refused, wherever it is in the list. */
static void test_2_2_3_1_descriptors_decode_zero_length(void **state)
{
	struct smbdirect_buffer_descriptor descs[3] = {
		{.offset = 1, .token = 2, .length = 3},
		{.offset = 4, .token = 5, .length = 6},
		{.offset = 7, .token = 8, .length = 9},
	};
	struct smbdirect_buffer_descriptor out[3];
	uint8_t buf[48];
	size_t count = 99;
	uint64_t total = 99;
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		struct smbdirect_buffer_descriptor copy[3];

		memcpy(copy, descs, sizeof(copy));
		copy[i].length = 0;
		assert_int_equal(smbdirect_buffer_descriptors_encode(
					 copy, 3, buf, sizeof(buf)),
				 48);
		assert_int_equal(smbdirect_buffer_descriptors_decode(
					 buf, 48, out, 3, UINT64_MAX, &count,
					 &total),
				 SMBDIRECT_WIRE_ZERO_LENGTH);
		assert_int_equal(count, 0);
		assert_int_equal(total, 0);
	}
}

/* [MS-SMBD] 2.2.3.1 with 3.1.1.1 MaxReadWriteSize: the lengths may not add
 * up to more than max_total; exactly max_total is fine. */
static void test_2_2_3_1_descriptors_decode_total_limit(void **state)
{
	struct smbdirect_buffer_descriptor out[2];
	const uint64_t sum = 0x0D0E0F10ull + 0x20;
	size_t count = 99;
	uint64_t total = 99;

	(void)state;
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 2, sum, &count,
				 &total),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(total, sum);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 2, sum - 1, &count,
				 &total),
			 SMBDIRECT_WIRE_TOO_LARGE);
	assert_int_equal(count, 0);
	assert_int_equal(total, 0);
	/* The first descriptor alone is over the limit. */
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 two_descs_bytes, 32, out, 2, 0x1000, &count,
				 &total),
			 SMBDIRECT_WIRE_TOO_LARGE);
}

/* [MS-SMBD] 2.2.3.1: the sum of many 0xFFFFFFFF lengths is computed in 64
 * bits: 8 of them total 0x7FFFFFFF8, which a 32-bit sum would wrap to
 * 0xFFFFFFF8 and let through a smaller limit. */
static void test_2_2_3_1_descriptors_decode_sum_does_not_wrap(void **state)
{
	struct smbdirect_buffer_descriptor descs[8];
	struct smbdirect_buffer_descriptor out[8];
	uint8_t buf[128];
	size_t count;
	uint64_t total;
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		/* High addresses whose ranges still end below 2^64. */
		descs[i].offset = UINT64_MAX - 0xFFFFFFFFull * (uint64_t)(i + 1) + 1;
		descs[i].token = 0xFFFFFFFFu;
		descs[i].length = 0xFFFFFFFFu;
	}
	assert_int_equal(
		smbdirect_buffer_descriptors_encode(descs, 8, buf, sizeof(buf)),
		128);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 128, out, 8, UINT64_MAX, &count, &total),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(count, 8);
	assert_true(total == 8ull * 0xFFFFFFFFull);
	assert_memory_equal(out, descs, sizeof(descs));
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 128, out, 8, 8ull * 0xFFFFFFFFull - 1,
				 &count, &total),
			 SMBDIRECT_WIRE_TOO_LARGE);
	assert_int_equal(smbdirect_buffer_descriptors_decode(
				 buf, 128, out, 8, 0xFFFFFFFFull, &count,
				 &total),
			 SMBDIRECT_WIRE_TOO_LARGE);
}

/* --- errors and names ------------------------------------------------ */

/* smbdirect_wire.h: every wire error is returned by a decoder for some
 * input (encoders report failure by returning 0, checked above). */
static void test_2_2_every_wire_error_reachable(void **state)
{
	bool seen[SMBDIRECT_WIRE_RANGE_WRAPS + 1];
	struct smbdirect_negotiate_request req;
	struct smbdirect_negotiate_response rsp;
	struct smbdirect_data_header hdr;
	struct smbdirect_buffer_descriptor out[2];
	uint8_t buf[64];
	uint8_t zero_len[16];
	size_t count;
	int i;

	(void)state;
	memset(seen, 0, sizeof(seen));
	memset(buf, 0, sizeof(buf));
	raw_data_header(buf, 1, 0, 0, 0, 24, 8);
	seen[smbdirect_data_header_decode(buf, 32, &hdr)] = true;
	seen[smbdirect_negotiate_request_decode(buf, 19, &req)] = true;
	seen[smbdirect_negotiate_response_decode(buf, 31, &rsp)] = true;
	raw_data_header(buf, 1, 0, 0, 0, 28, 8);
	seen[smbdirect_data_header_decode(buf, 64, &hdr)] = true;
	raw_data_header(buf, 1, 0, 0, 0, 24, 41);
	seen[smbdirect_data_header_decode(buf, 64, &hdr)] = true;
	raw_data_header(buf, 1, 0, 0x0004, 0, 0, 0);
	seen[smbdirect_data_header_decode(buf, 20, &hdr)] = true;
	seen[smbdirect_buffer_descriptors_decode(two_descs_bytes, 20, out, 2,
						 UINT64_MAX, &count, NULL)] =
		true;
	seen[smbdirect_buffer_descriptors_decode(two_descs_bytes, 0, out, 2,
						 UINT64_MAX, &count, NULL)] =
		true;
	seen[smbdirect_buffer_descriptors_decode(two_descs_bytes, 32, out, 1,
						 UINT64_MAX, &count, NULL)] =
		true;
	memset(zero_len, 0, sizeof(zero_len));
	seen[smbdirect_buffer_descriptors_decode(zero_len, 16, out, 2,
						 UINT64_MAX, &count, NULL)] =
		true;
	seen[smbdirect_buffer_descriptors_decode(two_descs_bytes, 32, out, 2, 1,
						 &count, NULL)] = true;
	memset(zero_len, 0xff, 16); /* Offset 2^64 - 1, Length 0xffffffff */
	seen[smbdirect_buffer_descriptors_decode(zero_len, 16, out, 2,
						 UINT64_MAX, &count, NULL)] =
		true;
	for (i = SMBDIRECT_WIRE_OK; i <= SMBDIRECT_WIRE_RANGE_WRAPS; i++) {
		if (!seen[i]) {
			fail_msg("wire error %d (%s) not reached", i,
				 smbdirect_wire_error_string(
					 (enum smbdirect_wire_error)i));
		}
	}
}

/* smbdirect_wire.h: every wire error has its own non-NULL name; values
 * outside the enum give "unknown", which no real error uses. */
static void test_2_2_wire_error_strings_distinct(void **state)
{
	const int last = SMBDIRECT_WIRE_RANGE_WRAPS;
	int i;
	int j;

	(void)state;
	for (i = 0; i <= last; i++) {
		const char *a =
			smbdirect_wire_error_string((enum smbdirect_wire_error)i);

		assert_non_null(a);
		assert_true(strlen(a) > 0);
		assert_string_not_equal(a, "unknown");
		for (j = 0; j < i; j++) {
			assert_string_not_equal(
				a, smbdirect_wire_error_string(
					   (enum smbdirect_wire_error)j));
		}
	}
	assert_string_equal(smbdirect_wire_error_string(
				    (enum smbdirect_wire_error)(last + 1)),
			    "unknown");
	assert_string_equal(
		smbdirect_wire_error_string((enum smbdirect_wire_error)-1),
		"unknown");
	assert_string_equal(smbdirect_wire_error_string(SMBDIRECT_WIRE_OK),
			    "ok");
	assert_string_equal(
		smbdirect_wire_error_string(SMBDIRECT_WIRE_BAD_DATA_OFFSET),
		"bad-data-offset");
}

/* smbdirect.h: every termination reason has its own non-NULL name; values
 * outside the enum (SMBDIRECT_REASON_COUNT and beyond) give "unknown". */
static void test_reason_strings_distinct(void **state)
{
	int i;
	int j;

	(void)state;
	for (i = 0; i < SMBDIRECT_REASON_COUNT; i++) {
		const char *a =
			smbdirect_reason_string((enum smbdirect_reason)i);

		assert_non_null(a);
		assert_true(strlen(a) > 0);
		assert_string_not_equal(a, "unknown");
		for (j = 0; j < i; j++) {
			assert_string_not_equal(
				a, smbdirect_reason_string(
					   (enum smbdirect_reason)j));
		}
	}
	assert_string_equal(smbdirect_reason_string(SMBDIRECT_REASON_COUNT),
			    "unknown");
	assert_string_equal(
		smbdirect_reason_string((enum smbdirect_reason)-1), "unknown");
	assert_string_equal(
		smbdirect_reason_string(SMBDIRECT_REASON_NEGOTIATE_TIMEOUT),
		"negotiate-timeout");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_2_2_1_negotiate_request_encode_layout),
		cmocka_unit_test(
			test_2_2_1_negotiate_request_encode_refuses_small_buffer),
		cmocka_unit_test(test_2_2_1_negotiate_request_decode_round_trip),
		cmocka_unit_test(test_3_1_5_6_negotiate_request_decode_too_short),
		cmocka_unit_test(test_2_2_2_negotiate_response_encode_layout),
		cmocka_unit_test(
			test_2_2_2_negotiate_response_encode_refuses_small_buffer),
		cmocka_unit_test(
			test_2_2_2_negotiate_response_decode_round_trip),
		cmocka_unit_test(
			test_3_1_5_7_negotiate_response_decode_too_short),
		cmocka_unit_test(
			test_2_2_3_data_header_encode_without_payload_is_20_bytes),
		cmocka_unit_test(
			test_2_2_3_data_header_encode_with_payload_is_24_bytes),
		cmocka_unit_test(test_2_2_3_data_header_decode_round_trip),
		cmocka_unit_test(test_3_1_5_8_data_header_decode_too_short),
		cmocka_unit_test(test_2_2_3_data_header_decode_undefined_flags),
		cmocka_unit_test(test_3_1_5_8_data_header_decode_bad_data_offset),
		cmocka_unit_test(test_3_1_5_8_empty_message_data_offset_checked),
		cmocka_unit_test(test_3_1_5_8_data_header_decode_bad_data_length),
		cmocka_unit_test(test_2_2_3_data_header_decode_empty_message),
		cmocka_unit_test(test_2_2_3_1_descriptors_encode_layout),
		cmocka_unit_test(test_2_2_3_1_descriptors_encode_refusals),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_round_trip),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_empty),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_bad_length),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_too_many),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_zero_length),
		cmocka_unit_test(test_2_2_3_1_descriptors_decode_total_limit),
		cmocka_unit_test(
			test_2_2_3_1_descriptors_decode_sum_does_not_wrap),
		cmocka_unit_test(test_2_2_every_wire_error_reachable),
		cmocka_unit_test(test_2_2_wire_error_strings_distinct),
		cmocka_unit_test(test_reason_strings_distinct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
