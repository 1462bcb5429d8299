/*
 * libsmbdirect: [MS-SMBD] 2.2 message codec.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
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
	}
	return "unknown";
}

/* [MS-SMBD] 2.2.1 SMBDirect Negotiate Request: 20 bytes. */
size_t smbdirect_negotiate_request_encode(
	const struct smbdirect_negotiate_request *req, uint8_t *buf,
	size_t size)
{
	if (req == NULL || buf == NULL ||
	    size < SMBDIRECT_NEGOTIATE_REQUEST_SIZE) {
		return 0;
	}
	sd_put_le16(buf + 0, req->min_version);
	sd_put_le16(buf + 2, req->max_version);
	sd_put_le16(buf + 4, req->reserved);
	sd_put_le16(buf + 6, req->credits_requested);
	sd_put_le32(buf + 8, req->preferred_send_size);
	sd_put_le32(buf + 12, req->max_receive_size);
	sd_put_le32(buf + 16, req->max_fragmented_size);
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
	req->min_version = sd_get_le16(buf + 0);
	req->max_version = sd_get_le16(buf + 2);
	req->reserved = sd_get_le16(buf + 4);
	req->credits_requested = sd_get_le16(buf + 6);
	req->preferred_send_size = sd_get_le32(buf + 8);
	req->max_receive_size = sd_get_le32(buf + 12);
	req->max_fragmented_size = sd_get_le32(buf + 16);
	return SMBDIRECT_WIRE_OK;
}

/* [MS-SMBD] 2.2.2 SMBDirect Negotiate Response: 32 bytes. */
size_t smbdirect_negotiate_response_encode(
	const struct smbdirect_negotiate_response *rsp, uint8_t *buf,
	size_t size)
{
	if (rsp == NULL || buf == NULL ||
	    size < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) {
		return 0;
	}
	sd_put_le16(buf + 0, rsp->min_version);
	sd_put_le16(buf + 2, rsp->max_version);
	sd_put_le16(buf + 4, rsp->negotiated_version);
	sd_put_le16(buf + 6, rsp->reserved);
	sd_put_le16(buf + 8, rsp->credits_requested);
	sd_put_le16(buf + 10, rsp->credits_granted);
	sd_put_le32(buf + 12, rsp->status);
	sd_put_le32(buf + 16, rsp->max_read_write_size);
	sd_put_le32(buf + 20, rsp->preferred_send_size);
	sd_put_le32(buf + 24, rsp->max_receive_size);
	sd_put_le32(buf + 28, rsp->max_fragmented_size);
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
	rsp->min_version = sd_get_le16(buf + 0);
	rsp->max_version = sd_get_le16(buf + 2);
	rsp->negotiated_version = sd_get_le16(buf + 4);
	rsp->reserved = sd_get_le16(buf + 6);
	rsp->credits_requested = sd_get_le16(buf + 8);
	rsp->credits_granted = sd_get_le16(buf + 10);
	rsp->status = sd_get_le32(buf + 12);
	rsp->max_read_write_size = sd_get_le32(buf + 16);
	rsp->preferred_send_size = sd_get_le32(buf + 20);
	rsp->max_receive_size = sd_get_le32(buf + 24);
	rsp->max_fragmented_size = sd_get_le32(buf + 28);
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
