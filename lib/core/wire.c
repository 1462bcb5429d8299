/*
 * libsmbdirect: [MS-SMBD] 2.2 message codec.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stddef.h>
#include <string.h>

#include "smbdirect_wire.h"
#include "byteorder.h"

const char *smbdirect_wire_error_string(enum smbdirect_wire_error error)
{
	switch (error) {
	case SMBDIRECT_WIRE_OK:
		return "ok";
	case SMBDIRECT_WIRE_TOO_SHORT:
		return "too-short";
	case SMBDIRECT_WIRE_BAD_DATA_OFFSET:
		return "bad-data-offset";
	case SMBDIRECT_WIRE_BAD_DATA_LENGTH:
		return "bad-data-length";
	case SMBDIRECT_WIRE_BAD_FLAGS:
		return "bad-flags";
	case SMBDIRECT_WIRE_BAD_LENGTH:
		return "bad-length";
	case SMBDIRECT_WIRE_EMPTY:
		return "empty";
	case SMBDIRECT_WIRE_TOO_MANY:
		return "too-many";
	case SMBDIRECT_WIRE_ZERO_LENGTH:
		return "zero-length";
	case SMBDIRECT_WIRE_TOO_LARGE:
		return "too-large";
	case SMBDIRECT_WIRE_RANGE_WRAPS:
		return "range-wraps";
	}
	return "unknown";
}

/*
 * The negotiate messages are fixed lists of little-endian fields. Each
 * layout is written once, as a table, and serves both encode and decode,
 * so the two can never disagree: a field's offset on the wire, its width
 * (2 or 4 bytes) and where it lives in the decoded struct.
 */
struct field {
	uint8_t offset;
	uint8_t width;
	uint8_t member;
};
#define FIELD(o, w, type, m) { (o), (w), (uint8_t)offsetof(type, m) }

/* [MS-SMBD] 2.2.1 SMBDirect Negotiate Request: 20 bytes. */
#define REQ(o, w, m) FIELD(o, w, struct smbdirect_negotiate_request, m)
static const struct field request_layout[] = {
	REQ(0, 2, min_version),          REQ(2, 2, max_version),
	REQ(4, 2, reserved),             REQ(6, 2, credits_requested),
	REQ(8, 4, preferred_send_size),  REQ(12, 4, max_receive_size),
	REQ(16, 4, max_fragmented_size),
};

/* [MS-SMBD] 2.2.2 SMBDirect Negotiate Response: 32 bytes. */
#define RSP(o, w, m) FIELD(o, w, struct smbdirect_negotiate_response, m)
static const struct field response_layout[] = {
	RSP(0, 2, min_version),          RSP(2, 2, max_version),
	RSP(4, 2, negotiated_version),   RSP(6, 2, reserved),
	RSP(8, 2, credits_requested),    RSP(10, 2, credits_granted),
	RSP(12, 4, status),              RSP(16, 4, max_read_write_size),
	RSP(20, 4, preferred_send_size), RSP(24, 4, max_receive_size),
	RSP(28, 4, max_fragmented_size),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void put_fields(uint8_t *buf, const void *msg, const struct field *f,
		       size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const uint8_t *m = (const uint8_t *)msg + f[i].member;

		if (f[i].width == 2) {
			uint16_t v;

			memcpy(&v, m, sizeof(v));
			sd_put_le16(buf + f[i].offset, v);
		} else {
			uint32_t v;

			memcpy(&v, m, sizeof(v));
			sd_put_le32(buf + f[i].offset, v);
		}
	}
}

static void get_fields(const uint8_t *buf, void *msg, const struct field *f,
		       size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		uint8_t *m = (uint8_t *)msg + f[i].member;

		if (f[i].width == 2) {
			uint16_t v = sd_get_le16(buf + f[i].offset);

			memcpy(m, &v, sizeof(v));
		} else {
			uint32_t v = sd_get_le32(buf + f[i].offset);

			memcpy(m, &v, sizeof(v));
		}
	}
}

size_t smbdirect_negotiate_request_encode(
	const struct smbdirect_negotiate_request *req, uint8_t *buf,
	size_t size)
{
	if (req == NULL || buf == NULL ||
	    size < SMBDIRECT_NEGOTIATE_REQUEST_SIZE) {
		return 0;
	}
	put_fields(buf, req, request_layout, COUNT(request_layout));
	return SMBDIRECT_NEGOTIATE_REQUEST_SIZE;
}

enum smbdirect_wire_error
smbdirect_negotiate_request_decode(const uint8_t *buf, size_t len,
				   struct smbdirect_negotiate_request *req)
{
	/* [MS-SMBD] 3.1.5.6: the message is at least 20 bytes. */
	if (buf == NULL || len < SMBDIRECT_NEGOTIATE_REQUEST_SIZE) {
		return SMBDIRECT_WIRE_TOO_SHORT;
	}
	get_fields(buf, req, request_layout, COUNT(request_layout));
	return SMBDIRECT_WIRE_OK;
}

size_t smbdirect_negotiate_response_encode(
	const struct smbdirect_negotiate_response *rsp, uint8_t *buf,
	size_t size)
{
	if (rsp == NULL || buf == NULL ||
	    size < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) {
		return 0;
	}
	put_fields(buf, rsp, response_layout, COUNT(response_layout));
	return SMBDIRECT_NEGOTIATE_RESPONSE_SIZE;
}

enum smbdirect_wire_error
smbdirect_negotiate_response_decode(const uint8_t *buf, size_t len,
				    struct smbdirect_negotiate_response *rsp)
{
	/* [MS-SMBD] 3.1.5.7: the message is at least 32 bytes. */
	if (buf == NULL || len < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) {
		return SMBDIRECT_WIRE_TOO_SHORT;
	}
	get_fields(buf, rsp, response_layout, COUNT(response_layout));
	return SMBDIRECT_WIRE_OK;
}

/* [MS-SMBD] 2.2.3 SMBDirect Data Transfer Message. */
size_t smbdirect_data_header_encode(const struct smbdirect_data_header *hdr,
				    uint8_t *buf, size_t size)
{
	size_t length;

	if (hdr == NULL || buf == NULL) {
		return 0;
	}
	if (hdr->data_length == 0) {
		/* 2.2.3: with no payload, DataOffset is 0. */
		if (hdr->data_offset != 0) {
			return 0;
		}
		length = SMBDIRECT_DATA_HEADER_MIN;
	} else {
		if (hdr->data_offset != SMBDIRECT_DATA_OFFSET) {
			return 0;
		}
		length = SMBDIRECT_DATA_OFFSET;
	}
	if (size < length) {
		return 0;
	}
	sd_put_le16(buf + 0, hdr->credits_requested);
	sd_put_le16(buf + 2, hdr->credits_granted);
	sd_put_le16(buf + 4, hdr->flags);
	sd_put_le16(buf + 6, hdr->reserved);
	sd_put_le32(buf + 8, hdr->remaining_data_length);
	sd_put_le32(buf + 12, hdr->data_offset);
	sd_put_le32(buf + 16, hdr->data_length);
	if (length > SMBDIRECT_DATA_HEADER_MIN) {
		/* 2.2.3 Padding: sent as zero. */
		memset(buf + SMBDIRECT_DATA_HEADER_MIN, 0,
		       length - SMBDIRECT_DATA_HEADER_MIN);
	}
	return length;
}

enum smbdirect_wire_error
smbdirect_data_header_decode(const uint8_t *buf, size_t len,
			     struct smbdirect_data_header *hdr)
{
	uint64_t end;

	/* 3.1.5.8: a data transfer message is at least 20 bytes. */
	if (buf == NULL || len < SMBDIRECT_DATA_HEADER_MIN) {
		return SMBDIRECT_WIRE_TOO_SHORT;
	}
	hdr->credits_requested = sd_get_le16(buf + 0);
	hdr->credits_granted = sd_get_le16(buf + 2);
	hdr->flags = sd_get_le16(buf + 4);
	hdr->reserved = sd_get_le16(buf + 6);
	hdr->remaining_data_length = sd_get_le32(buf + 8);
	hdr->data_offset = sd_get_le32(buf + 12);
	hdr->data_length = sd_get_le32(buf + 16);

	/* 2.2.3 Flags: only SMB_DIRECT_RESPONSE_REQUESTED is defined. */
	if ((hdr->flags & ~SMBDIRECT_FLAGS_VALID) != 0) {
		return SMBDIRECT_WIRE_BAD_FLAGS;
	}
	/* 3.1.5.8: DataOffset is 8-byte aligned, for every message (0, as
	 * sent with no payload, passes). */
	if (hdr->data_offset % SMBDIRECT_DATA_ALIGNMENT != 0) {
		return SMBDIRECT_WIRE_BAD_DATA_OFFSET;
	}
	/* 2.2.3: a payload cannot overlap the 20-byte header. */
	if (hdr->data_length > 0 &&
	    hdr->data_offset < SMBDIRECT_DATA_HEADER_MIN) {
		return SMBDIRECT_WIRE_BAD_DATA_OFFSET;
	}
	/* 3.1.5.8: DataOffset + DataLength lies within the message. */
	end = (uint64_t)hdr->data_offset + hdr->data_length;
	if (end > len) {
		return SMBDIRECT_WIRE_BAD_DATA_LENGTH;
	}
	return SMBDIRECT_WIRE_OK;
}

/* [MS-SMBD] 2.2.3.1 Buffer Descriptor V1: Offset(8) Token(4) Length(4). */
size_t smbdirect_buffer_descriptors_encode(
	const struct smbdirect_buffer_descriptor *descs, size_t count,
	uint8_t *buf, size_t size)
{
	size_t i;

	if (descs == NULL || buf == NULL || count == 0 ||
	    count > SIZE_MAX / SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE ||
	    size < count * SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE) {
		return 0;
	}
	for (i = 0; i < count; i++) {
		uint8_t *p = buf + i * SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE;

		sd_put_le64(p + 0, descs[i].offset);
		sd_put_le32(p + 8, descs[i].token);
		sd_put_le32(p + 12, descs[i].length);
	}
	return count * SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE;
}

enum smbdirect_wire_error smbdirect_buffer_descriptors_decode(
	const uint8_t *buf, size_t len,
	struct smbdirect_buffer_descriptor *descs, size_t max_count,
	uint64_t max_total, size_t *count, uint64_t *total)
{
	size_t n;
	size_t i;
	uint64_t sum = 0;

	if (count != NULL) {
		*count = 0;
	}
	if (total != NULL) {
		*total = 0;
	}
	if (buf == NULL || len == 0) {
		return SMBDIRECT_WIRE_EMPTY;
	}
	if (len % SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE != 0) {
		return SMBDIRECT_WIRE_BAD_LENGTH;
	}
	n = len / SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE;
	if (n > max_count || descs == NULL) {
		return SMBDIRECT_WIRE_TOO_MANY;
	}
	for (i = 0; i < n; i++) {
		const uint8_t *p = buf + i * SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE;

		descs[i].offset = sd_get_le64(p + 0);
		descs[i].token = sd_get_le32(p + 8);
		descs[i].length = sd_get_le32(p + 12);
		if (descs[i].length == 0) {
			return SMBDIRECT_WIRE_ZERO_LENGTH;
		}
		/* 2.2.3.1: Offset is the first byte of a registered buffer
		 * of Length bytes: the buffer cannot run past 2^64 (an
		 * RDMA work request built from it would wrap). */
		if (descs[i].offset > UINT64_MAX - descs[i].length + 1) {
			return SMBDIRECT_WIRE_RANGE_WRAPS;
		}
		/* Each length is < 2^32 and n < 2^60, so sum cannot wrap. */
		sum += descs[i].length;
		if (sum > max_total) {
			return SMBDIRECT_WIRE_TOO_LARGE;
		}
	}
	if (count != NULL) {
		*count = n;
	}
	if (total != NULL) {
		*total = sum;
	}
	return SMBDIRECT_WIRE_OK;
}
