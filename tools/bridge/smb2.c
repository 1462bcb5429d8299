/*
 * smbdirect-bridge: SMB2 framing, compound walking and READ/WRITE
 * rewrites (see smb2.h).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <string.h>

#include "smb2.h"

/* --- little-endian fields ([MS-SMB2] 2.2: all integers are LE) ---------- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | ((uint64_t)le32(p + 4) << 32);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* --- message kinds and Direct TCP framing ------------------------------- */

enum br_msg_kind br_msg_kind(const uint8_t *msg, size_t len)
{
	if (len < 4 || memcmp(msg + 1, "SMB", 3) != 0) {
		return BR_MSG_BAD;
	}
	switch (msg[0]) {
	case 0xFE:
		return BR_MSG_SMB2;
	case 0xFD:
		return BR_MSG_TRANSFORM;
	case 0xFC:
		return BR_MSG_COMPRESSED;
	case 0xFF:
		return BR_MSG_SMB1;
	default:
		return BR_MSG_BAD;
	}
}

const char *br_msg_kind_name(enum br_msg_kind kind)
{
	switch (kind) {
	case BR_MSG_SMB2:
		return "SMB2";
	case BR_MSG_TRANSFORM:
		return "encrypted (transform header)";
	case BR_MSG_COMPRESSED:
		return "compressed";
	case BR_MSG_SMB1:
		return "SMB1";
	case BR_MSG_BAD:
		break;
	}
	return "not SMB";
}

/* [MS-SMB2] 2.1: Zero (1 byte) then StreamProtocolLength (3 bytes,
 * network byte order). */
bool br_tcp_header_decode(const uint8_t hdr[BR_TCP_HDR], uint32_t *length)
{
	if (hdr[0] != 0) {
		return false;
	}
	*length = ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
	return true;
}

void br_tcp_header_encode(uint8_t hdr[BR_TCP_HDR], uint32_t length)
{
	hdr[0] = 0;
	hdr[1] = (uint8_t)(length >> 16);
	hdr[2] = (uint8_t)(length >> 8);
	hdr[3] = (uint8_t)length;
}

/* --- compounds ------------------------------------------------------------ */

static void pdu_fill(const uint8_t *p, struct br_pdu *pdu)
{
	pdu->command = le16(p + BR_HDR_COMMAND);
	pdu->flags = le32(p + BR_HDR_FLAGS);
	pdu->status = le32(p + BR_HDR_STATUS);
	pdu->message_id = le64(p + BR_HDR_MESSAGE_ID);
}

/* [MS-SMB2] 2.2.1 NextCommand and 3.3.5.2.7: each PDU of a compound starts
 * 8-byte aligned at the offset its predecessor's NextCommand gives. */
bool br_compound_split(const uint8_t *msg, size_t len, struct br_pdu *pdus,
		       size_t max, size_t *count, const char **why)
{
	size_t off = 0;
	size_t n = 0;

	*count = 0;
	for (;;) {
		size_t left = len - off;
		uint32_t next;

		if (left < BR_SMB2_HDR) {
			*why = "an SMB2 PDU shorter than its header";
			return false;
		}
		if (memcmp(msg + off, "\xfeSMB", 4) != 0 ||
		    le16(msg + off + BR_HDR_STRUCTURE_SIZE) != BR_SMB2_HDR) {
			*why = "a compound PDU without an SMB2 header";
			return false;
		}
		if (n == max) {
			*why = "too many PDUs in one compound";
			return false;
		}
		next = le32(msg + off + BR_HDR_NEXT_COMMAND);
		if (next != 0 && (next % 8 != 0 || next < BR_SMB2_HDR ||
				  next > left - BR_SMB2_HDR)) {
			*why = "NextCommand unaligned or outside the message";
			return false;
		}
		pdus[n].offset = off;
		pdus[n].length = next != 0 ? next : left;
		pdu_fill(msg + off, &pdus[n]);
		n++;
		if (next == 0) {
			break;
		}
		off += next;
	}
	*count = n;
	return true;
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

uint8_t *br_compound_join(TALLOC_CTX *mem_ctx, const struct br_piece *pieces,
			  size_t count, size_t *length)
{
	size_t total = 0;
	size_t off = 0;
	size_t i;
	uint8_t *out;

	for (i = 0; i < count; i++) {
		if (pieces[i].length < BR_SMB2_HDR) {
			return NULL;
		}
		total += i + 1 < count ? pad8(pieces[i].length)
				       : pieces[i].length;
	}
	out = talloc_array(mem_ctx, uint8_t, total > 0 ? total : 1);
	if (out == NULL) {
		return NULL;
	}
	for (i = 0; i < count; i++) {
		size_t step = i + 1 < count ? pad8(pieces[i].length)
					    : pieces[i].length;

		memcpy(out + off, pieces[i].data, pieces[i].length);
		/* the padding only, not the whole message, is zeroed */
		memset(out + off + pieces[i].length, 0,
		       step - pieces[i].length);
		put32(out + off + BR_HDR_NEXT_COMMAND,
		      i + 1 < count ? (uint32_t)step : 0);
		off += step;
	}
	*length = total;
	return out;
}

const char *br_command_name(uint16_t command)
{
	static const char *const names[] = {
		"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT",
		"TREE_DISCONNECT", "CREATE", "CLOSE", "FLUSH", "READ",
		"WRITE", "LOCK", "IOCTL", "CANCEL", "ECHO", "QUERY_DIRECTORY",
		"CHANGE_NOTIFY", "QUERY_INFO", "SET_INFO", "OPLOCK_BREAK",
	};

	if (command < sizeof(names) / sizeof(names[0])) {
		return names[command];
	}
	return "UNKNOWN";
}

const char *br_verdict_name(enum br_verdict v)
{
	switch (v) {
	case BR_PASS:
		return "pass";
	case BR_RDMA:
		return "rdma";
	case BR_REFUSE:
		return "refuse";
	case BR_MALFORMED:
		return "malformed";
	}
	return "?";
}

/* --- reverse mode: requests with an RDMA channel ------------------------- */

/* Offsets in READ and WRITE requests, from the start of the SMB2 header
 * ([MS-SMB2] 2.2.19, 2.2.21). */
#define RD_LENGTH (BR_SMB2_HDR + 4)
#define RD_CHANNEL (BR_SMB2_HDR + 36)
#define RD_REMAINING (BR_SMB2_HDR + 40)
#define RD_CHINFO_OFFSET (BR_SMB2_HDR + 44)
#define RD_CHINFO_LENGTH (BR_SMB2_HDR + 46)
#define WR_DATA_OFFSET (BR_SMB2_HDR + 2)
#define WR_LENGTH (BR_SMB2_HDR + 4)
#define WR_CHANNEL (BR_SMB2_HDR + 32)
#define WR_REMAINING (BR_SMB2_HDR + 36)
#define WR_CHINFO_OFFSET (BR_SMB2_HDR + 40)
#define WR_CHINFO_LENGTH (BR_SMB2_HDR + 42)
/* READ response ([MS-SMB2] 2.2.20). */
#define RR_DATA_OFFSET (BR_SMB2_HDR + 2)
#define RR_DATA_LENGTH (BR_SMB2_HDR + 4)
#define RR_DATA_REMAINING (BR_SMB2_HDR + 8)

static bool rw_request_ok(const uint8_t *pdu, size_t len)
{
	return len >= BR_RW_BUFFER_OFFSET &&
	       le16(pdu + BR_SMB2_HDR) == BR_RW_REQ_FIXED + 1;
}

static enum br_verdict say(enum br_verdict v, char *why, size_t size,
			   const char *text)
{
	snprintf(why, size, "%s", text);
	return v;
}

/* The channel info of a request: inside the PDU, after the fixed part. */
static enum br_verdict decode_channel_info(
	const uint8_t *pdu, size_t len, uint16_t offset, uint16_t length,
	size_t max_descs, uint64_t max_total, struct br_rdma_io *io,
	struct smbdirect_buffer_descriptor *descs, char *why, size_t why_size)
{
	enum smbdirect_wire_error err;

	if (offset < BR_RW_BUFFER_OFFSET || length == 0 ||
	    (size_t)offset + length > len) {
		return say(BR_MALFORMED, why, why_size,
			   "channel info outside the request");
	}
	if (length / BR_DESC_SIZE > max_descs) {
		snprintf(why, why_size,
			 "%u buffer descriptors, more than the %zu allowed",
			 length / BR_DESC_SIZE, max_descs);
		return BR_MALFORMED;
	}
	/* [MS-SMBD] 2.2.3.1; the total is bounded by MaxReadWriteSize
	 * (3.1.4.3). */
	err = smbdirect_buffer_descriptors_decode(pdu + offset, length, descs,
						  max_descs, max_total,
						  &io->count, &io->total);
	if (err != SMBDIRECT_WIRE_OK) {
		snprintf(why, why_size, "bad buffer descriptor list: %s",
			 smbdirect_wire_error_string(err));
		return BR_MALFORMED;
	}
	return BR_RDMA;
}

static enum br_verdict check_channel(uint32_t channel, uint32_t flags,
				     char *why, size_t why_size)
{
	if (channel == SMB2_CHANNEL_NONE) {
		return BR_PASS;
	}
	if (channel != SMB2_CHANNEL_RDMA_V1 &&
	    channel != SMB2_CHANNEL_RDMA_V1_INVALIDATE) {
		snprintf(why, why_size, "unsupported Channel 0x%x", channel);
		return BR_REFUSE;
	}
	if ((flags & BR_FLAGS_SIGNED) != 0) {
		/* The signature ([MS-SMB2] 3.1.4.1) covers the whole PDU:
		 * a rewritten request would fail verification at the
		 * server, and the unchanged one would be served as a
		 * 0-byte transfer by a server without RDMA. */
		return say(BR_REFUSE, why, why_size,
			   "RDMA channel on a signed request (SMB2_FLAGS_SIGNED): "
			   "rewriting it would break the signature");
	}
	return BR_RDMA;
}

static enum br_verdict parse_read(const uint8_t *pdu, size_t len,
				  size_t max_descs, uint64_t max_total,
				  struct br_rdma_io *io,
				  struct smbdirect_buffer_descriptor *descs,
				  char *why, size_t why_size)
{
	enum br_verdict v;

	io->channel = le32(pdu + RD_CHANNEL);
	v = check_channel(io->channel, le32(pdu + BR_HDR_FLAGS), why,
			  why_size);
	if (v != BR_RDMA) {
		return v;
	}
	io->length = le32(pdu + RD_LENGTH);
	v = decode_channel_info(pdu, len, le16(pdu + RD_CHINFO_OFFSET),
				le16(pdu + RD_CHINFO_LENGTH), max_descs,
				max_total, io, descs, why, why_size);
	if (v != BR_RDMA) {
		return v;
	}
	/* [MS-SMB2] 3.3.5.12: the data goes into the client's buffers, so
	 * they must hold Length bytes. */
	if (io->length == 0 || io->length > io->total) {
		snprintf(why, why_size,
			 "READ Length %u does not fit the %llu bytes of its "
			 "buffer descriptors",
			 io->length, (unsigned long long)io->total);
		return BR_MALFORMED;
	}
	return BR_RDMA;
}

static enum br_verdict parse_write(const uint8_t *pdu, size_t len,
				   size_t max_descs, uint64_t max_total,
				   struct br_rdma_io *io,
				   struct smbdirect_buffer_descriptor *descs,
				   char *why, size_t why_size)
{
	enum br_verdict v;

	io->channel = le32(pdu + WR_CHANNEL);
	v = check_channel(io->channel, le32(pdu + BR_HDR_FLAGS), why,
			  why_size);
	if (v != BR_RDMA) {
		return v;
	}
	/* [MS-SMB2] 2.2.21, 3.3.5.13: with an RDMA channel the data is in
	 * the client's buffers: Length is 0 and RemainingBytes is the
	 * length of the data. */
	if (le32(pdu + WR_LENGTH) != 0) {
		return say(BR_MALFORMED, why, why_size,
			   "WRITE with an RDMA channel and inline data "
			   "(Length != 0)");
	}
	io->length = le32(pdu + WR_REMAINING);
	v = decode_channel_info(pdu, len, le16(pdu + WR_CHINFO_OFFSET),
				le16(pdu + WR_CHINFO_LENGTH), max_descs,
				max_total, io, descs, why, why_size);
	if (v != BR_RDMA) {
		return v;
	}
	if (io->length == 0 || io->length > io->total) {
		snprintf(why, why_size,
			 "WRITE RemainingBytes %u does not fit the %llu bytes "
			 "of its buffer descriptors",
			 io->length, (unsigned long long)io->total);
		return BR_MALFORMED;
	}
	return BR_RDMA;
}

enum br_verdict br_rdma_request_parse(
	const uint8_t *pdu, size_t len, size_t max_descs, uint64_t max_total,
	struct br_rdma_io *io, struct smbdirect_buffer_descriptor *descs,
	char *why, size_t why_size)
{
	memset(io, 0, sizeof(*io));
	why[0] = '\0';
	if (len < BR_SMB2_HDR) {
		return say(BR_MALFORMED, why, why_size, "short SMB2 PDU");
	}
	io->command = le16(pdu + BR_HDR_COMMAND);
	io->message_id = le64(pdu + BR_HDR_MESSAGE_ID);
	if (io->command != BR_SMB2_READ && io->command != BR_SMB2_WRITE) {
		return BR_PASS;
	}
	if ((le32(pdu + BR_HDR_FLAGS) & BR_FLAGS_SERVER_TO_REDIR) != 0) {
		return say(BR_MALFORMED, why, why_size,
			   "a response where a request was expected");
	}
	if (!rw_request_ok(pdu, len)) {
		return say(BR_MALFORMED, why, why_size,
			   "READ/WRITE request shorter than its fixed part");
	}
	if (io->command == BR_SMB2_READ) {
		return parse_read(pdu, len, max_descs, max_total, io, descs,
				  why, why_size);
	}
	return parse_write(pdu, len, max_descs, max_total, io, descs, why,
			   why_size);
}

uint8_t *br_write_make_inline(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			      size_t len, const uint8_t *data, size_t n,
			      size_t *out_len)
{
	uint8_t *out;

	if (len < BR_RW_BUFFER_OFFSET || n > UINT32_MAX) {
		return NULL;
	}
	out = talloc_array(mem_ctx, uint8_t, BR_RW_BUFFER_OFFSET + n);
	if (out == NULL) {
		return NULL;
	}
	memcpy(out, pdu, BR_RW_BUFFER_OFFSET);
	/* [MS-SMB2] 2.2.21: inline data right after the fixed part. */
	put16(out + WR_DATA_OFFSET, BR_RW_BUFFER_OFFSET);
	put32(out + WR_LENGTH, (uint32_t)n);
	put32(out + WR_CHANNEL, SMB2_CHANNEL_NONE);
	put32(out + WR_REMAINING, 0);
	put16(out + WR_CHINFO_OFFSET, 0);
	put16(out + WR_CHINFO_LENGTH, 0);
	put32(out + BR_HDR_NEXT_COMMAND, 0);
	if (n > 0) {
		memcpy(out + BR_RW_BUFFER_OFFSET, data, n);
	}
	*out_len = BR_RW_BUFFER_OFFSET + n;
	return out;
}

void br_read_make_plain(uint8_t *pdu, size_t len)
{
	uint16_t off = le16(pdu + RD_CHINFO_OFFSET);
	uint16_t n = le16(pdu + RD_CHINFO_LENGTH);

	if (off >= BR_RW_BUFFER_OFFSET && (size_t)off + n <= len) {
		memset(pdu + off, 0, n);
	}
	put32(pdu + RD_CHANNEL, SMB2_CHANNEL_NONE);
	put16(pdu + RD_CHINFO_OFFSET, 0);
	put16(pdu + RD_CHINFO_LENGTH, 0);
}

/* --- READ responses ------------------------------------------------------- */

bool br_read_response_parse(const uint8_t *pdu, size_t len,
			    struct br_read_rsp *rsp, const char **why)
{
	memset(rsp, 0, sizeof(*rsp));
	if (len < BR_SMB2_HDR) {
		*why = "short READ response";
		return false;
	}
	rsp->status = le32(pdu + BR_HDR_STATUS);
	if (rsp->status != BR_STATUS_SUCCESS &&
	    rsp->status != BR_STATUS_BUFFER_OVERFLOW) {
		return true;
	}
	if (len < BR_READ_RSP_DATA_OFFSET ||
	    le16(pdu + BR_SMB2_HDR) != BR_READ_RSP_FIXED + 1) {
		*why = "READ response shorter than its fixed part";
		return false;
	}
	rsp->has_data = true;
	rsp->data_offset = pdu[RR_DATA_OFFSET];
	rsp->data_length = le32(pdu + RR_DATA_LENGTH);
	rsp->data_remaining = le32(pdu + RR_DATA_REMAINING);
	if (rsp->data_length == 0) {
		return true;
	}
	if (rsp->data_offset < BR_READ_RSP_DATA_OFFSET ||
	    rsp->data_offset + (uint64_t)rsp->data_length > len) {
		*why = "READ response data outside the response";
		return false;
	}
	return true;
}

uint8_t *br_read_response_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
				    uint32_t written, size_t *out_len)
{
	uint8_t *out = talloc_memdup(mem_ctx, pdu, BR_READ_RSP_DATA_OFFSET);

	if (out == NULL) {
		return NULL;
	}
	/* [MS-SMB2] 2.2.20: DataRemaining is the length of the data sent
	 * on the channel; 3.3.5.12: with an RDMA channel nothing is inline. */
	out[RR_DATA_OFFSET] = BR_READ_RSP_DATA_OFFSET;
	put32(out + RR_DATA_LENGTH, 0);
	put32(out + RR_DATA_REMAINING, written);
	put32(out + BR_HDR_NEXT_COMMAND, 0);
	*out_len = BR_READ_RSP_DATA_OFFSET;
	return out;
}

/* --- forward mode --------------------------------------------------------- */

bool br_write_inline_data(const uint8_t *pdu, size_t len,
			  const uint8_t **data, uint32_t *n, uint32_t *channel)
{
	uint16_t off;

	if (!rw_request_ok(pdu, len) ||
	    le16(pdu + BR_HDR_COMMAND) != BR_SMB2_WRITE) {
		return false;
	}
	off = le16(pdu + WR_DATA_OFFSET);
	*n = le32(pdu + WR_LENGTH);
	*channel = le32(pdu + WR_CHANNEL);
	if (*n == 0) {
		*data = NULL;
		return true;
	}
	if (off < BR_RW_BUFFER_OFFSET || off + (uint64_t)*n > len) {
		return false;
	}
	*data = pdu + off;
	return true;
}

bool br_read_request_length(const uint8_t *pdu, size_t len, uint32_t *length,
			    uint32_t *channel)
{
	if (!rw_request_ok(pdu, len) ||
	    le16(pdu + BR_HDR_COMMAND) != BR_SMB2_READ) {
		return false;
	}
	*length = le32(pdu + RD_LENGTH);
	*channel = le32(pdu + RD_CHANNEL);
	return true;
}

/* Header and fixed part of @p pdu followed by @p count descriptors. */
static uint8_t *with_descriptors(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
				 const struct smbdirect_buffer_descriptor *descs,
				 size_t count, size_t *out_len)
{
	size_t n = count * BR_DESC_SIZE;
	uint8_t *out;

	if (count == 0 || n > UINT16_MAX) {
		return NULL;
	}
	out = talloc_array(mem_ctx, uint8_t, BR_RW_BUFFER_OFFSET + n);
	if (out == NULL) {
		return NULL;
	}
	memcpy(out, pdu, BR_RW_BUFFER_OFFSET);
	put32(out + BR_HDR_NEXT_COMMAND, 0);
	smbdirect_buffer_descriptors_encode(descs, count,
					    out + BR_RW_BUFFER_OFFSET, n);
	*out_len = BR_RW_BUFFER_OFFSET + n;
	return out;
}

uint8_t *br_write_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			    size_t len, uint32_t channel,
			    const struct smbdirect_buffer_descriptor *descs,
			    size_t count, size_t *out_len)
{
	const uint8_t *data;
	uint32_t n;
	uint32_t old_channel;
	uint8_t *out;

	if (!br_write_inline_data(pdu, len, &data, &n, &old_channel) ||
	    old_channel != SMB2_CHANNEL_NONE) {
		return NULL;
	}
	out = with_descriptors(mem_ctx, pdu, descs, count, out_len);
	if (out == NULL) {
		return NULL;
	}
	/* [MS-SMB2] 2.2.21: Length 0, the data length in RemainingBytes,
	 * the descriptors ([MS-SMBD] 2.2.3.1) as WriteChannelInfo.
	 * DataOffset 0: no data is in the message. [MS-SMB2] does not say
	 * what DataOffset holds then, but ksmbd (Linux 6.1, smb2_write())
	 * fails a WRITE with an RDMA channel and a DataOffset other than 0
	 * with STATUS_INVALID_PARAMETER, and cifs.ko sends 0
	 * (docs/interop.md, "Differences"). The reverse bridge accepts any
	 * DataOffset there. */
	put16(out + WR_DATA_OFFSET, 0);
	put32(out + WR_LENGTH, 0);
	put32(out + WR_CHANNEL, channel);
	put32(out + WR_REMAINING, n);
	put16(out + WR_CHINFO_OFFSET, BR_RW_BUFFER_OFFSET);
	put16(out + WR_CHINFO_LENGTH, (uint16_t)(count * BR_DESC_SIZE));
	return out;
}

uint8_t *br_read_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			   size_t len, uint32_t channel,
			   const struct smbdirect_buffer_descriptor *descs,
			   size_t count, size_t *out_len)
{
	uint32_t length;
	uint32_t old_channel;
	uint8_t *out;

	if (!br_read_request_length(pdu, len, &length, &old_channel) ||
	    old_channel != SMB2_CHANNEL_NONE) {
		return NULL;
	}
	out = with_descriptors(mem_ctx, pdu, descs, count, out_len);
	if (out == NULL) {
		return NULL;
	}
	/* [MS-SMB2] 2.2.19: ReadChannelInfo holds the descriptors. */
	put32(out + RD_CHANNEL, channel);
	put16(out + RD_CHINFO_OFFSET, BR_RW_BUFFER_OFFSET);
	put16(out + RD_CHINFO_LENGTH, (uint16_t)(count * BR_DESC_SIZE));
	return out;
}

uint8_t *br_read_response_make_inline(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
				      const uint8_t *data, uint32_t written,
				      size_t *out_len)
{
	uint8_t *out = talloc_array(mem_ctx, uint8_t,
				    BR_READ_RSP_DATA_OFFSET + (size_t)written);

	if (out == NULL) {
		return NULL;
	}
	memcpy(out, pdu, BR_READ_RSP_DATA_OFFSET);
	out[RR_DATA_OFFSET] = BR_READ_RSP_DATA_OFFSET;
	put32(out + RR_DATA_LENGTH, written);
	put32(out + RR_DATA_REMAINING, 0);
	put32(out + BR_HDR_NEXT_COMMAND, 0);
	if (written > 0) {
		memcpy(out + BR_READ_RSP_DATA_OFFSET, data, written);
	}
	*out_len = BR_READ_RSP_DATA_OFFSET + (size_t)written;
	return out;
}

/* [MS-SMB2] 2.2.4: offsets in the NEGOTIATE response. */
#define NEG_STRUCTURE_SIZE 65
#define NEG_DIALECT (BR_SMB2_HDR + 4)
#define NEG_MAX_TRANSACT (BR_SMB2_HDR + 28)
#define NEG_MAX_READ (BR_SMB2_HDR + 32)
#define NEG_MAX_WRITE (BR_SMB2_HDR + 36)
#define NEG_FIXED_END (BR_SMB2_HDR + 64)

static bool clamp32(uint8_t *p, uint32_t limit)
{
	if (le32(p) <= limit) {
		return false;
	}
	put32(p, limit);
	return true;
}

bool br_negotiate_clamp(uint8_t *pdu, size_t len,
			const struct br_size_limits *limits, uint16_t *dialect,
			struct br_size_limits *before)
{
	bool changed = false;

	*dialect = 0;
	if (len < NEG_FIXED_END || le16(pdu + BR_HDR_COMMAND) != 0 ||
	    le32(pdu + BR_HDR_STATUS) != BR_STATUS_SUCCESS ||
	    le16(pdu + BR_SMB2_HDR) != NEG_STRUCTURE_SIZE) {
		return false;
	}
	*dialect = le16(pdu + NEG_DIALECT);
	if (before != NULL) {
		before->max_transact = le32(pdu + NEG_MAX_TRANSACT);
		before->max_read = le32(pdu + NEG_MAX_READ);
		before->max_write = le32(pdu + NEG_MAX_WRITE);
	}
	switch (*dialect) {
	case 0x0202:
	case 0x0210:
	case 0x0300:
	case 0x0302:
		break;
	default:
		/* 0x0311: preauthentication integrity hashes this message
		 * ([MS-SMB2] 3.3.5.4, 3.2.5.2); 0x02FF: a second NEGOTIATE
		 * follows. */
		return false;
	}
	changed |= clamp32(pdu + NEG_MAX_TRANSACT, limits->max_transact);
	changed |= clamp32(pdu + NEG_MAX_READ, limits->max_read);
	changed |= clamp32(pdu + NEG_MAX_WRITE, limits->max_write);
	return changed;
}
