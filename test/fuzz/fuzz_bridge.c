/*
 * libFuzzer target: smbdirect-bridge's SMB2 parsing and rewriting
 * (tools/bridge/smb2.c), which reads bytes from both networks: SMB2
 * messages from the TCP side and from the SMB-Direct side, in both
 * directions of the bridge.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Input layout:
 *   byte 0      max_descs for the RDMA channel parser (0..40)
 *   bytes 1..4  max_total (little-endian; 0 means 8 MiB)
 *   the rest    one transport message (without the Direct TCP header);
 *               its first 4 bytes also go through the Direct TCP header
 *               decoder
 *
 * The harness does with the message what the bridge does (relay.c,
 * forward.c, reverse.c): the message kind, the compound split, and for
 * each PDU, copied into a heap block of exactly its length (ASan sees any
 * read past it): the reverse mode's RDMA channel parse and the rewrites
 * that follow it, READ response parsing and both response rewrites, the
 * forward mode's inline WRITE/READ parsing and their RDMA rewrites, the
 * NEGOTIATE clamp; then the compound join. It aborts when a result breaks
 * what smb2.h promises:
 *  - a split whose PDUs do not tile the message from offset 0, each at
 *    least a header long and 8-aligned, or a failed split without a
 *    reason;
 *  - an RDMA verdict with no or too many descriptors, a zero-length one,
 *    a sum other than `total`, above max_total, or a length of 0 or above
 *    the sum; a refusal without a reason;
 *  - a rewritten request that does not parse back to what was put in it
 *    (inline WRITE data, the READ's Channel NONE, the forward mode's RDMA
 *    requests parsed by the reverse mode's parser: same length, same
 *    descriptors);
 *  - a READ response whose data lies outside it, or rewrites of it of the
 *    wrong length or content;
 *  - a NEGOTIATE clamp above the limits, for a dialect it must not touch,
 *    or changing other bytes;
 *  - a joined compound that does not split back into the same PDUs.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <talloc.h>

#include "smb2.h"
#include "smbdirect_wire.h"

#define CHECK(cond)                                                       \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "fuzz_bridge: %s:%d: %s\n",       \
				__FILE__, __LINE__, #cond);               \
			abort();                                          \
		}                                                         \
	} while (0)

#define MAX_DESCS 40
/* Bytes of data handed to the rewrites that take some. */
#define MAX_DATA 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint8_t fill[MAX_DATA];

/* The descriptors the forward mode would expose: `n` of them. */
static size_t forward_descs(struct smbdirect_buffer_descriptor *d, size_t n,
			     uint32_t total)
{
	size_t i;

	if (n > total) {
		n = total; /* no descriptor is empty */
	}
	for (i = 0; i < n; i++) {
		d[i].offset = 0x100000ull * (i + 1);
		d[i].token = 0x1000 + (uint32_t)i;
		d[i].length = total / (uint32_t)n +
			      (i == 0 ? total % (uint32_t)n : 0);
	}
	return n;
}

/* Reverse mode: a request from the SMB-Direct client. */
static void reverse_request(TALLOC_CTX *mem, const uint8_t *pdu, size_t len,
			    size_t max_descs, uint64_t max_total)
{
	struct smbdirect_buffer_descriptor descs[MAX_DESCS + 1];
	struct br_rdma_io io;
	char why[200];
	enum br_verdict v;
	uint64_t sum = 0;
	size_t i;

	memset(why, 0x55, sizeof(why));
	why[sizeof(why) - 1] = '\0';
	v = br_rdma_request_parse(pdu, len, max_descs, max_total, &io, descs,
				  why, sizeof(why));
	CHECK(strcmp(br_verdict_name(v), "?") != 0);
	if (v == BR_REFUSE || v == BR_MALFORMED) {
		CHECK(strlen(why) > 0);
		return;
	}
	if (v == BR_PASS) {
		return;
	}
	CHECK(io.command == BR_SMB2_READ || io.command == BR_SMB2_WRITE);
	CHECK(io.channel == SMB2_CHANNEL_RDMA_V1 ||
	      io.channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE);
	CHECK(io.count >= 1 && io.count <= max_descs);
	for (i = 0; i < io.count; i++) {
		CHECK(descs[i].length > 0);
		sum += descs[i].length;
	}
	CHECK(sum == io.total);
	CHECK(io.total <= max_total);
	CHECK(io.length >= 1 && io.length <= io.total);

	if (io.command == BR_SMB2_WRITE) {
		/* The bridge RDMA-reads the data, then sends it inline. */
		size_t n = io.length < MAX_DATA ? io.length : MAX_DATA;
		size_t out_len = 0;
		uint8_t *out = br_write_make_inline(mem, pdu, len, fill, n,
						    &out_len);
		const uint8_t *d2;
		uint32_t n2;
		uint32_t ch;

		CHECK(out != NULL);
		CHECK(out_len == BR_RW_BUFFER_OFFSET + n);
		CHECK(br_write_inline_data(out, out_len, &d2, &n2, &ch));
		CHECK(n2 == n && ch == SMB2_CHANNEL_NONE);
		CHECK(n == 0 || memcmp(d2, fill, n) == 0);
		CHECK(le32(out + BR_HDR_NEXT_COMMAND) == 0);
		CHECK(memcmp(out, pdu, BR_HDR_NEXT_COMMAND) == 0);
	} else {
		uint8_t *copy = talloc_memdup(mem, pdu, len);
		uint32_t length;
		uint32_t ch;

		CHECK(copy != NULL);
		br_read_make_plain(copy, len);
		CHECK(br_read_request_length(copy, len, &length, &ch));
		CHECK(ch == SMB2_CHANNEL_NONE && length == io.length);
		/* Only the Channel fields and the descriptors changed. */
		CHECK(memcmp(copy, pdu, BR_SMB2_HDR + 36) == 0);
	}
}

/* A READ response: from the TCP server (reverse) or the SMB-Direct one
 * (forward). */
static void read_response(TALLOC_CTX *mem, const uint8_t *pdu, size_t len)
{
	struct br_read_rsp rsp;
	const char *why = NULL;
	uint8_t *out;
	size_t out_len = 0;
	uint32_t n;

	if (!br_read_response_parse(pdu, len, &rsp, &why)) {
		CHECK(why != NULL);
		return;
	}
	if (!rsp.has_data) {
		return;
	}
	CHECK(len >= BR_READ_RSP_DATA_OFFSET);
	if (rsp.data_length > 0) {
		CHECK(rsp.data_offset >= BR_READ_RSP_DATA_OFFSET);
		CHECK(rsp.data_offset + (uint64_t)rsp.data_length <= len);
	}
	/* Reverse: the data went by RDMA; the response carries none. */
	out = br_read_response_make_rdma(mem, pdu, rsp.data_length, &out_len);
	CHECK(out != NULL && out_len == BR_READ_RSP_DATA_OFFSET);
	CHECK(le32(out + BR_SMB2_HDR + 4) == 0);
	CHECK(le32(out + BR_SMB2_HDR + 8) == rsp.data_length);
	/* Forward: the data came by RDMA; the client gets it inline. */
	n = rsp.data_remaining < MAX_DATA ? rsp.data_remaining : MAX_DATA;
	out = br_read_response_make_inline(mem, pdu, fill, n, &out_len);
	CHECK(out != NULL && out_len == BR_READ_RSP_DATA_OFFSET + n);
	{
		struct br_read_rsp again;

		CHECK(br_read_response_parse(out, out_len, &again, &why));
		if (again.has_data) {
			CHECK(again.data_length == n);
			CHECK(n == 0 || memcmp(out + again.data_offset, fill,
					       n) == 0);
		}
	}
}

/* Forward mode: a request from the TCP client, moved to RDMA. */
static void forward_request(TALLOC_CTX *mem, const uint8_t *pdu, size_t len,
			    size_t ndesc)
{
	struct smbdirect_buffer_descriptor exp[16];
	struct smbdirect_buffer_descriptor back[16];
	struct br_rdma_io io;
	char why[200];
	const uint8_t *d;
	uint32_t n;
	uint32_t ch;
	uint8_t *out;
	size_t out_len = 0;
	uint32_t flags = len >= BR_SMB2_HDR ? le32(pdu + BR_HDR_FLAGS) : 0;
	bool plain_request =
		(flags & (BR_FLAGS_SIGNED | BR_FLAGS_SERVER_TO_REDIR)) == 0;

	if (br_write_inline_data(pdu, len, &d, &n, &ch)) {
		if (n > 0) {
			CHECK(d >= pdu + BR_RW_BUFFER_OFFSET);
			CHECK(d + n <= pdu + len);
		}
		if (ch == SMB2_CHANNEL_NONE && n > 0) {
			ndesc = forward_descs(exp, ndesc, n);
			out = br_write_make_rdma(mem, pdu, len,
						 SMB2_CHANNEL_RDMA_V1, exp,
						 ndesc, &out_len);
			CHECK(out != NULL);
			CHECK(out_len == BR_RW_BUFFER_OFFSET + 16 * ndesc);
			if (plain_request) {
				/* The reverse mode's parser reads it back. */
				enum br_verdict v = br_rdma_request_parse(
					out, out_len, 16, UINT64_MAX, &io,
					back, why, sizeof(why));

				if (v != BR_RDMA) {
					fprintf(stderr, "fuzz_bridge: forward "
						"WRITE parsed back as %s: %s\n",
						br_verdict_name(v), why);
				}
				CHECK(v == BR_RDMA);
				CHECK(io.command == BR_SMB2_WRITE);
				CHECK(io.length == n && io.count == ndesc);
				CHECK(memcmp(back, exp,
					     ndesc * sizeof(exp[0])) == 0);
			}
		}
	}
	if (br_read_request_length(pdu, len, &n, &ch) &&
	    ch == SMB2_CHANNEL_NONE && n > 0) {
		ndesc = forward_descs(exp, ndesc, n);
		out = br_read_make_rdma(mem, pdu, len,
					SMB2_CHANNEL_RDMA_V1_INVALIDATE, exp,
					ndesc, &out_len);
		CHECK(out != NULL);
		if (plain_request) {
			enum br_verdict v = br_rdma_request_parse(
				out, out_len, 16, UINT64_MAX, &io, back, why,
				sizeof(why));

			if (v != BR_RDMA) {
				fprintf(stderr, "fuzz_bridge: forward READ "
					"parsed back as %s: %s\n",
					br_verdict_name(v), why);
			}
			CHECK(v == BR_RDMA);
			CHECK(io.command == BR_SMB2_READ);
			CHECK(io.length == n && io.count == ndesc);
			CHECK(io.channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE);
			CHECK(memcmp(back, exp, ndesc * sizeof(exp[0])) == 0);
		}
	}
}

/* Forward mode: the NEGOTIATE response from the SMB-Direct server. */
static void negotiate_clamp(TALLOC_CTX *mem, const uint8_t *pdu, size_t len)
{
	struct br_size_limits lim = { 65536, 131072, 262144 };
	struct br_size_limits before;
	uint8_t *copy = talloc_memdup(mem, pdu, len);
	uint16_t dialect = 0xFFFF;
	bool changed;
	size_t i;

	CHECK(copy != NULL);
	changed = br_negotiate_clamp(copy, len, &lim, &dialect, &before);
	if (!changed) {
		CHECK(memcmp(copy, pdu, len) == 0);
		return;
	}
	CHECK(dialect == 0x0202 || dialect == 0x0210 || dialect == 0x0300 ||
	      dialect == 0x0302);
	CHECK(le32(copy + BR_SMB2_HDR + 28) <= lim.max_transact);
	CHECK(le32(copy + BR_SMB2_HDR + 32) <= lim.max_read);
	CHECK(le32(copy + BR_SMB2_HDR + 36) <= lim.max_write);
	for (i = 0; i < len; i++) {
		if (i >= BR_SMB2_HDR + 28 && i < BR_SMB2_HDR + 40) {
			continue;
		}
		CHECK(copy[i] == pdu[i]);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	TALLOC_CTX *mem;
	struct br_pdu pdus[BR_MAX_COMPOUND];
	struct br_piece pieces[BR_MAX_COMPOUND];
	const uint8_t *msg;
	uint8_t *heap;
	size_t len;
	size_t max_descs;
	uint64_t max_total;
	size_t count = 0;
	const char *why = NULL;
	enum br_msg_kind kind;
	size_t i;

	if (size <= 5) {
		return 0; /* no message */
	}
	if (fill[0] == 0) {
		for (i = 0; i < MAX_DATA; i++) {
			fill[i] = (uint8_t)(i * 31 + 7);
		}
	}
	max_descs = data[0] % (MAX_DESCS + 1);
	max_total = le32(data + 1);
	if (max_total == 0) {
		max_total = 8388608;
	}
	msg = data + 5;
	len = size - 5;
	mem = talloc_new(NULL);
	CHECK(mem != NULL);
	/* The message in a block of exactly its size. */
	heap = talloc_memdup(mem, msg, len);
	CHECK(heap != NULL);

	if (len >= BR_TCP_HDR) {
		uint32_t length;
		uint8_t hdr[BR_TCP_HDR];

		if (br_tcp_header_decode(heap, &length)) {
			CHECK(length <= BR_TCP_MAX_FRAME);
			br_tcp_header_encode(hdr, length);
			CHECK(memcmp(hdr, heap, BR_TCP_HDR) == 0);
		} else {
			CHECK(heap[0] != 0);
		}
	}
	kind = br_msg_kind(heap, len);
	CHECK(br_msg_kind_name(kind) != NULL);
	if (kind != BR_MSG_SMB2) {
		talloc_free(mem);
		return 0;
	}
	CHECK(len >= 4 && heap[0] == 0xFE);

	if (!br_compound_split(heap, len, pdus, BR_MAX_COMPOUND, &count,
			       &why)) {
		CHECK(why != NULL);
		CHECK(count == 0);
		talloc_free(mem);
		return 0;
	}
	CHECK(count >= 1 && count <= BR_MAX_COMPOUND);
	for (i = 0; i < count; i++) {
		size_t end = pdus[i].offset + pdus[i].length;
		uint8_t *pdu;

		CHECK(pdus[i].offset == (i == 0 ? 0 : pdus[i - 1].offset +
							      pdus[i - 1].length));
		CHECK(pdus[i].offset % 8 == 0);
		CHECK(pdus[i].length >= BR_SMB2_HDR);
		CHECK(end <= len);
		CHECK(i + 1 < count || end == len);
		CHECK(pdus[i].command == le16(heap + pdus[i].offset +
					      BR_HDR_COMMAND));
		CHECK(br_command_name(pdus[i].command) != NULL);

		pdu = talloc_memdup(mem, heap + pdus[i].offset, pdus[i].length);
		CHECK(pdu != NULL);
		reverse_request(mem, pdu, pdus[i].length, max_descs, max_total);
		if (pdus[i].command == BR_SMB2_READ) {
			read_response(mem, pdu, pdus[i].length);
		}
		forward_request(mem, pdu, pdus[i].length, 1 + i % 16);
		if (pdus[i].command == BR_SMB2_NEGOTIATE) {
			negotiate_clamp(mem, pdu, pdus[i].length);
		}
		pieces[i].data = pdu;
		pieces[i].length = pdus[i].length;
	}

	/* Joined again, the compound splits into the same PDUs. */
	{
		size_t out_len = 0;
		uint8_t *out = br_compound_join(mem, pieces, count, &out_len);
		struct br_pdu again[BR_MAX_COMPOUND];
		size_t n2 = 0;

		CHECK(out != NULL);
		CHECK(br_compound_split(out, out_len, again, BR_MAX_COMPOUND,
					&n2, &why));
		CHECK(n2 == count);
		for (i = 0; i < count; i++) {
			CHECK(again[i].command == pdus[i].command);
			CHECK(again[i].message_id == pdus[i].message_id);
			CHECK(again[i].length >= pieces[i].length);
			CHECK(memcmp(out + again[i].offset, pieces[i].data,
				     BR_HDR_NEXT_COMMAND) == 0);
		}
	}
	talloc_free(mem);
	return 0;
}
