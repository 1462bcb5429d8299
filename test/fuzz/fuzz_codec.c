/*
 * libsmbdirect: libFuzzer target for the [MS-SMBD] 2.2 codec.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Input layout:
 *   byte 0      max_count for the descriptor list decoder (0..32)
 *   bytes 1..4  max_total, little-endian, shifted left by (byte 5 & 31)
 *   bytes 6..   the message handed to every decoder
 *
 * Every decoder sees the same message. For each one the target checks
 * that the result agrees with an independent reading of the rules of
 * smbdirect_wire.h, that the outputs obey the decoder's guarantees, and
 * that encoding what was decoded gives back the same bytes for every
 * fixed field. Any disagreement calls abort().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smbdirect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			abort();                                               \
		}                                                              \
	} while (0)

#define MAX_DESCRIPTORS 32u

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void check_error_string(enum smbdirect_wire_error err)
{
	const char *s = smbdirect_wire_error_string(err);

	CHECK(s != NULL && s[0] != '\0');
}

/* [MS-SMBD] 2.2.1: OK exactly when there are 20 bytes; every field
 * encodes back to the bytes it came from. */
static void fuzz_negotiate_request(const uint8_t *msg, size_t len)
{
	struct smbdirect_negotiate_request req;
	uint8_t out[SMBDIRECT_NEGOTIATE_REQUEST_SIZE + 1];
	enum smbdirect_wire_error err;

	memset(&req, 0xa5, sizeof(req));
	err = smbdirect_negotiate_request_decode(msg, len, &req);
	check_error_string(err);
	if (len < SMBDIRECT_NEGOTIATE_REQUEST_SIZE) {
		CHECK(err == SMBDIRECT_WIRE_TOO_SHORT);
		return;
	}
	CHECK(err == SMBDIRECT_WIRE_OK);
	CHECK(req.min_version == le16(msg + 0));
	CHECK(req.max_version == le16(msg + 2));
	CHECK(req.credits_requested == le16(msg + 6));
	CHECK(req.max_fragmented_size == le32(msg + 16));

	/* Too small an output buffer writes nothing and returns 0. */
	CHECK(smbdirect_negotiate_request_encode(
		      &req, out, SMBDIRECT_NEGOTIATE_REQUEST_SIZE - 1) == 0);
	out[SMBDIRECT_NEGOTIATE_REQUEST_SIZE] = 0x5a;
	CHECK(smbdirect_negotiate_request_encode(&req, out, sizeof(out)) ==
	      SMBDIRECT_NEGOTIATE_REQUEST_SIZE);
	CHECK(memcmp(out, msg, SMBDIRECT_NEGOTIATE_REQUEST_SIZE) == 0);
	CHECK(out[SMBDIRECT_NEGOTIATE_REQUEST_SIZE] == 0x5a);
}

/* [MS-SMBD] 2.2.2: the same for the 32-byte response. */
static void fuzz_negotiate_response(const uint8_t *msg, size_t len)
{
	struct smbdirect_negotiate_response rsp;
	uint8_t out[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE + 1];
	enum smbdirect_wire_error err;

	memset(&rsp, 0xa5, sizeof(rsp));
	err = smbdirect_negotiate_response_decode(msg, len, &rsp);
	check_error_string(err);
	if (len < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) {
		CHECK(err == SMBDIRECT_WIRE_TOO_SHORT);
		return;
	}
	CHECK(err == SMBDIRECT_WIRE_OK);
	CHECK(rsp.negotiated_version == le16(msg + 4));
	CHECK(rsp.credits_granted == le16(msg + 10));
	CHECK(rsp.status == le32(msg + 12));
	CHECK(rsp.max_fragmented_size == le32(msg + 28));

	CHECK(smbdirect_negotiate_response_encode(
		      &rsp, out, SMBDIRECT_NEGOTIATE_RESPONSE_SIZE - 1) == 0);
	out[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE] = 0x5a;
	CHECK(smbdirect_negotiate_response_encode(&rsp, out, sizeof(out)) ==
	      SMBDIRECT_NEGOTIATE_RESPONSE_SIZE);
	CHECK(memcmp(out, msg, SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) == 0);
	CHECK(out[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE] == 0x5a);
}

/* What smbdirect_data_header_decode() must answer, from the rules in
 * smbdirect_wire.h, read here without the library's helpers. */
static enum smbdirect_wire_error expected_data_error(const uint8_t *msg,
						     size_t len)
{
	uint16_t flags;
	uint32_t offset;
	uint32_t length;

	if (len < SMBDIRECT_DATA_HEADER_MIN) {
		return SMBDIRECT_WIRE_TOO_SHORT;
	}
	flags = le16(msg + 4);
	offset = le32(msg + 12);
	length = le32(msg + 16);
	if ((flags & ~SMBDIRECT_FLAGS_VALID) != 0) {
		return SMBDIRECT_WIRE_BAD_FLAGS;
	}
	/* Aligned for every message, empty or not. */
	if (offset % 8 != 0) {
		return SMBDIRECT_WIRE_BAD_DATA_OFFSET;
	}
	/* A payload may not overlap the header. */
	if (length > 0 && offset < SMBDIRECT_DATA_HEADER_MIN) {
		return SMBDIRECT_WIRE_BAD_DATA_OFFSET;
	}
	/* Within the message, for every message. */
	if ((uint64_t)offset + length > len) {
		return SMBDIRECT_WIRE_BAD_DATA_LENGTH;
	}
	return SMBDIRECT_WIRE_OK;
}

/* [MS-SMBD] 2.2.3. */
static void fuzz_data_header(const uint8_t *msg, size_t len)
{
	struct smbdirect_data_header hdr;
	struct smbdirect_data_header canon;
	uint8_t out[SMBDIRECT_DATA_OFFSET + 1];
	enum smbdirect_wire_error err;
	size_t n;
	size_t i;

	memset(&hdr, 0xa5, sizeof(hdr));
	err = smbdirect_data_header_decode(msg, len, &hdr);
	check_error_string(err);
	CHECK(err == expected_data_error(msg, len));
	if (err != SMBDIRECT_WIRE_OK) {
		return;
	}
	/* The decoder's guarantees: a caller may compute buf + DataOffset
	 * for any accepted message. */
	CHECK((hdr.flags & ~SMBDIRECT_FLAGS_VALID) == 0);
	CHECK(hdr.data_offset % SMBDIRECT_DATA_ALIGNMENT == 0);
	CHECK((uint64_t)hdr.data_offset + hdr.data_length <= len);
	if (hdr.data_length > 0) {
		CHECK(hdr.data_offset >= SMBDIRECT_DATA_HEADER_MIN);
		CHECK(hdr.data_length <= len - SMBDIRECT_DATA_HEADER_MIN);
	}

	/* The encoder writes only the two layouts this library sends:
	 * DataOffset 0 without data, DataOffset 24 with data. Any other
	 * DataOffset must be refused. */
	canon = hdr;
	canon.data_offset = hdr.data_length > 0 ? SMBDIRECT_DATA_OFFSET : 0;
	if (canon.data_offset != hdr.data_offset) {
		CHECK(smbdirect_data_header_encode(&hdr, out, sizeof(out)) == 0);
	}
	n = canon.data_length > 0 ? SMBDIRECT_DATA_OFFSET
				  : SMBDIRECT_DATA_HEADER_MIN;
	CHECK(smbdirect_data_header_encode(&canon, out, n - 1) == 0);
	memset(out, 0x5a, sizeof(out));
	CHECK(smbdirect_data_header_encode(&canon, out, sizeof(out)) == n);
	CHECK(out[n] == 0x5a);
	/* Every fixed field but DataOffset comes back byte for byte. */
	CHECK(memcmp(out, msg, 12) == 0);
	CHECK(memcmp(out + 16, msg + 16, 4) == 0);
	CHECK(le32(out + 12) == canon.data_offset);
	/* Padding is zero. */
	for (i = SMBDIRECT_DATA_HEADER_MIN; i < n; i++) {
		CHECK(out[i] == 0);
	}
	if (canon.data_offset == hdr.data_offset) {
		CHECK(memcmp(out, msg, SMBDIRECT_DATA_HEADER_MIN) == 0);
	}
	/* And it decodes to the same fields. */
	if (canon.data_length == 0) {
		struct smbdirect_data_header again;

		CHECK(smbdirect_data_header_decode(out, n, &again) ==
		      SMBDIRECT_WIRE_OK);
		CHECK(memcmp(&again, &canon, sizeof(again)) == 0);
	}
}

/* What smbdirect_buffer_descriptors_decode() must answer. */
static enum smbdirect_wire_error
expected_descriptor_error(const uint8_t *msg, size_t len, size_t max_count,
			  uint64_t max_total)
{
	uint64_t sum = 0;
	size_t i;

	if (len == 0) {
		return SMBDIRECT_WIRE_EMPTY;
	}
	if (len % 16 != 0) {
		return SMBDIRECT_WIRE_BAD_LENGTH;
	}
	if (len / 16 > max_count) {
		return SMBDIRECT_WIRE_TOO_MANY;
	}
	for (i = 0; i < len / 16; i++) {
		uint32_t length = le32(msg + i * 16 + 12);
		uint64_t offset = (uint64_t)le32(msg + i * 16) |
				  (uint64_t)le32(msg + i * 16 + 4) << 32;

		if (length == 0) {
			return SMBDIRECT_WIRE_ZERO_LENGTH;
		}
		/* The last byte, offset + length - 1, must not wrap. */
		if (offset + (length - 1) < offset) {
			return SMBDIRECT_WIRE_RANGE_WRAPS;
		}
		sum += length;
		if (sum > max_total) {
			return SMBDIRECT_WIRE_TOO_LARGE;
		}
	}
	return SMBDIRECT_WIRE_OK;
}

/* [MS-SMBD] 2.2.3.1. */
static void fuzz_descriptors(const uint8_t *msg, size_t len, size_t max_count,
			     uint64_t max_total)
{
	struct smbdirect_buffer_descriptor *descs = NULL;
	enum smbdirect_wire_error err;
	enum smbdirect_wire_error err2;
	size_t count = 12345;
	uint64_t total = 12345;
	uint64_t sum = 0;
	uint8_t *out;
	size_t i;

	/* Exactly max_count entries: ASan reports any write past them. */
	if (max_count > 0) {
		descs = malloc(max_count * sizeof(*descs));
		CHECK(descs != NULL);
	}
	err = smbdirect_buffer_descriptors_decode(msg, len, descs, max_count,
						  max_total, &count, &total);
	check_error_string(err);
	CHECK(err == expected_descriptor_error(msg, len, max_count, max_total));
	if (err != SMBDIRECT_WIRE_OK) {
		/* Failure leaves the outputs at zero. */
		CHECK(count == 0 && total == 0);
		free(descs);
		return;
	}
	CHECK(count == len / 16 && count >= 1 && count <= max_count);
	for (i = 0; i < count; i++) {
		CHECK(descs[i].length != 0);
		sum += descs[i].length;
	}
	CHECK(sum == total && total <= max_total);

	/* The same answer without the optional outputs. */
	err2 = smbdirect_buffer_descriptors_decode(msg, len, descs, max_count,
						   max_total, &count, NULL);
	CHECK(err2 == SMBDIRECT_WIRE_OK && count == len / 16);

	/* Round trip, byte for byte; too small a buffer writes nothing. */
	out = malloc(len);
	CHECK(out != NULL);
	CHECK(smbdirect_buffer_descriptors_encode(descs, count, out, len - 1) ==
	      0);
	CHECK(smbdirect_buffer_descriptors_encode(descs, 0, out, len) == 0);
	CHECK(smbdirect_buffer_descriptors_encode(descs, count, out, len) ==
	      len);
	CHECK(memcmp(out, msg, len) == 0);
	free(out);
	free(descs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max_count;
	uint64_t max_total;
	const uint8_t *msg;
	size_t len;

	if (size < 6) {
		/* Still give the decoders the short input. */
		fuzz_negotiate_request(data, size);
		fuzz_negotiate_response(data, size);
		fuzz_data_header(data, size);
		fuzz_descriptors(data, size, 1, UINT64_MAX);
		return 0;
	}
	max_count = data[0] % (MAX_DESCRIPTORS + 1);
	max_total = (uint64_t)le32(data + 1) << (data[5] & 31);
	msg = data + 6;
	len = size - 6;

	fuzz_negotiate_request(msg, len);
	fuzz_negotiate_response(msg, len);
	fuzz_data_header(msg, len);
	fuzz_descriptors(msg, len, max_count, max_total);
	/* NULL input is refused, never dereferenced. */
	if (data[0] == 0xff) {
		struct smbdirect_negotiate_request req;
		struct smbdirect_data_header hdr;

		CHECK(smbdirect_negotiate_request_decode(NULL, len, &req) ==
		      SMBDIRECT_WIRE_TOO_SHORT);
		CHECK(smbdirect_data_header_decode(NULL, len, &hdr) ==
		      SMBDIRECT_WIRE_TOO_SHORT);
	}
	return 0;
}
