/*
 * Unit tests of smbdirect-bridge's SMB2 rewriting (tools/bridge/smb2.c):
 * Direct TCP framing, compound walking and joining, the RDMA channel
 * rewrites of both modes, the refusal of signed and unknown channels, the
 * bounds on descriptors and lengths, and the NEGOTIATE clamp.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <talloc.h>

#include "smb2.h"
#include "unit.h"

/* --- builders --------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) | ((uint32_t)get16(p + 2) << 16);
}

/* [MS-SMB2] 2.2.1.2 header. */
static void header(uint8_t *p, uint16_t command, uint64_t mid, uint32_t flags)
{
	memset(p, 0, BR_SMB2_HDR);
	memcpy(p, "\xfeSMB", 4);
	put16(p + 4, 64);
	put16(p + BR_HDR_COMMAND, command);
	put32(p + BR_HDR_FLAGS, flags);
	put64(p + BR_HDR_MESSAGE_ID, mid);
}

static void put_descs(uint8_t *p, size_t count, uint32_t each)
{
	size_t i;

	for (i = 0; i < count; i++) {
		put64(p + 16 * i, 0x10000 * i);
		put32(p + 16 * i + 8, 0xabc0 + (uint32_t)i);
		put32(p + 16 * i + 12, each);
	}
}

/* A WRITE with an RDMA channel ([MS-SMB2] 2.2.21); returns its length. */
static size_t rdma_write(uint8_t *p, uint32_t channel, uint32_t flags,
			 size_t ndesc, uint32_t each, uint32_t remaining)
{
	header(p, BR_SMB2_WRITE, 7, flags);
	memset(p + 64, 0, 48);
	put16(p + 64, 49);
	put16(p + 66, 0x70);
	put32(p + 64 + 32, channel);
	put32(p + 64 + 36, remaining);
	put16(p + 64 + 40, 0x70);
	put16(p + 64 + 42, (uint16_t)(16 * ndesc));
	put_descs(p + 0x70, ndesc, each);
	return 0x70 + 16 * ndesc;
}

/* A READ with an RDMA channel ([MS-SMB2] 2.2.19). */
static size_t rdma_read(uint8_t *p, uint32_t channel, uint32_t flags,
			size_t ndesc, uint32_t each, uint32_t length)
{
	header(p, BR_SMB2_READ, 8, flags);
	memset(p + 64, 0, 48);
	put16(p + 64, 49);
	put32(p + 64 + 4, length);
	put32(p + 64 + 36, channel);
	put16(p + 64 + 44, 0x70);
	put16(p + 64 + 46, (uint16_t)(16 * ndesc));
	put_descs(p + 0x70, ndesc, each);
	return 0x70 + 16 * ndesc;
}

/* A READ response ([MS-SMB2] 2.2.20) with n bytes of 0x5a inline. */
static size_t read_response(uint8_t *p, uint32_t n)
{
	header(p, BR_SMB2_READ, 8, BR_FLAGS_SERVER_TO_REDIR);
	memset(p + 64, 0, 16);
	put16(p + 64, 17);
	p[66] = 0x50;
	put32(p + 68, n);
	memset(p + 0x50, 0x5a, n);
	return 0x50 + n;
}

static enum br_verdict parse(const uint8_t *p, size_t len, size_t max_descs,
			     uint64_t max_total, struct br_rdma_io *io,
			     char *why)
{
	static struct smbdirect_buffer_descriptor descs[64];

	return br_rdma_request_parse(p, len, max_descs, max_total, io, descs,
				     why, 200);
}

/* --- framing and kinds --------------------------------------------------- */

static void tcp_header(void **state)
{
	uint8_t h[4];
	uint32_t len = 0;

	(void)state;
	br_tcp_header_encode(h, 0x123456);
	assert_int_equal(h[0], 0);
	assert_true(br_tcp_header_decode(h, &len));
	assert_int_equal(len, 0x123456);
	h[0] = 0x42;
	assert_false(br_tcp_header_decode(h, &len));
}

static void message_kinds(void **state)
{
	(void)state;
	assert_int_equal(br_msg_kind((const uint8_t *)"\xfeSMB", 4), BR_MSG_SMB2);
	assert_int_equal(br_msg_kind((const uint8_t *)"\xfdSMB", 4),
			 BR_MSG_TRANSFORM);
	assert_int_equal(br_msg_kind((const uint8_t *)"\xfcSMB", 4),
			 BR_MSG_COMPRESSED);
	assert_int_equal(br_msg_kind((const uint8_t *)"\xffSMB", 4), BR_MSG_SMB1);
	assert_int_equal(br_msg_kind((const uint8_t *)"XSMB", 4), BR_MSG_BAD);
	assert_int_equal(br_msg_kind((const uint8_t *)"\xfeSM", 3), BR_MSG_BAD);
}

/* --- compounds ------------------------------------------------------------- */

static void compound_split_three(void **state)
{
	uint8_t msg[64 * 3 + 16];
	struct br_pdu pdus[4];
	size_t count = 0;
	const char *why = NULL;

	(void)state;
	header(msg, 5, 1, 0);
	put32(msg + BR_HDR_NEXT_COMMAND, 72);
	memset(msg + 64, 0, 8);
	header(msg + 72, 8, 2, BR_FLAGS_RELATED_OPERATIONS);
	put32(msg + 72 + BR_HDR_NEXT_COMMAND, 64);
	header(msg + 136, 6, 3, BR_FLAGS_RELATED_OPERATIONS);
	assert_true(br_compound_split(msg, 200, pdus, 4, &count, &why));
	assert_int_equal(count, 3);
	assert_int_equal(pdus[0].length, 72);
	assert_int_equal(pdus[1].offset, 72);
	assert_int_equal(pdus[1].command, BR_SMB2_READ);
	assert_int_equal(pdus[2].offset, 136);
	assert_int_equal(pdus[2].length, 64);
	assert_int_equal(pdus[2].message_id, 3);
	/* The bound on the number of PDUs. */
	assert_false(br_compound_split(msg, 200, pdus, 2, &count, &why));
	assert_string_equal(why, "too many PDUs in one compound");
}

static void compound_split_bad(void **state)
{
	uint8_t msg[160];
	struct br_pdu pdus[4];
	size_t count;
	const char *why = NULL;

	(void)state;
	header(msg, 13, 1, 0);
	put32(msg + BR_HDR_NEXT_COMMAND, 68); /* unaligned */
	assert_false(br_compound_split(msg, 160, pdus, 4, &count, &why));
	put32(msg + BR_HDR_NEXT_COMMAND, 0x1000); /* past the end */
	assert_false(br_compound_split(msg, 160, pdus, 4, &count, &why));
	put32(msg + BR_HDR_NEXT_COMMAND, 128); /* leaves 32 bytes */
	assert_false(br_compound_split(msg, 160, pdus, 4, &count, &why));
	put32(msg + BR_HDR_NEXT_COMMAND, 64); /* next is not SMB2 */
	memset(msg + 64, 0x11, 96);
	assert_false(br_compound_split(msg, 160, pdus, 4, &count, &why));
	assert_string_equal(why, "a compound PDU without an SMB2 header");
	assert_false(br_compound_split(msg, 40, pdus, 4, &count, &why));
}

static void compound_join_pads(void **state)
{
	uint8_t a[70];
	uint8_t b[72];
	uint8_t c[64];
	struct br_piece pieces[3] = {{a, 70}, {b, 72}, {c, 64}};
	struct br_pdu pdus[3];
	size_t len = 0;
	size_t count;
	const char *why;
	uint8_t *msg;

	header(a, 5, 1, 0);
	memset(a + 64, 0xaa, 6);
	header(b, 8, 2, BR_FLAGS_SIGNED);
	put32(b + BR_HDR_NEXT_COMMAND, 72);
	memset(b + 64, 0xbb, 8);
	header(c, 6, 3, 0);
	put32(c + BR_HDR_NEXT_COMMAND, 999); /* last: becomes 0 */
	msg = br_compound_join(*state, pieces, 3, &len);
	assert_non_null(msg);
	assert_int_equal(len, 72 + 72 + 64);
	assert_int_equal(get32(msg + BR_HDR_NEXT_COMMAND), 72);
	assert_int_equal(msg[70], 0);
	assert_int_equal(msg[71], 0);
	/* A PDU already aligned with the right NextCommand is unchanged
	 * byte for byte (its signature stays valid). */
	assert_memory_equal(msg + 72, b, 72);
	assert_int_equal(get32(msg + 144 + BR_HDR_NEXT_COMMAND), 0);
	assert_true(br_compound_split(msg, len, pdus, 3, &count, &why));
	assert_int_equal(count, 3);
}

/* --- reverse mode: requests --------------------------------------------- */

static void rdma_write_parsed(void **state)
{
	uint8_t p[0x70 + 32];
	struct br_rdma_io io;
	char why[200];
	size_t len = rdma_write(p, SMB2_CHANNEL_RDMA_V1_INVALIDATE, 0, 2, 8192,
				10000);

	(void)state;
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_RDMA);
	assert_int_equal(io.command, BR_SMB2_WRITE);
	assert_int_equal(io.channel, SMB2_CHANNEL_RDMA_V1_INVALIDATE);
	assert_int_equal(io.message_id, 7);
	assert_int_equal(io.length, 10000);
	assert_int_equal(io.total, 16384);
	assert_int_equal(io.count, 2);
}

static void rdma_read_parsed(void **state)
{
	uint8_t p[0x70 + 16];
	struct br_rdma_io io;
	char why[200];
	size_t len = rdma_read(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 65536, 65536);

	(void)state;
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_RDMA);
	assert_int_equal(io.command, BR_SMB2_READ);
	assert_int_equal(io.length, 65536);
	assert_int_equal(io.count, 1);
}

static void signed_refused(void **state)
{
	uint8_t p[0x70 + 16];
	struct br_rdma_io io;
	char why[200];
	size_t len;

	(void)state;
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, BR_FLAGS_SIGNED, 1, 4096,
			 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_REFUSE);
	assert_non_null(strstr(why, "signed"));
	len = rdma_read(p, SMB2_CHANNEL_RDMA_V1_INVALIDATE, BR_FLAGS_SIGNED, 1,
			4096, 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_REFUSE);
	assert_int_equal(io.message_id, 8);
	/* A signed request without a channel is none of our business. */
	len = rdma_read(p, SMB2_CHANNEL_NONE, BR_FLAGS_SIGNED, 1, 4096, 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_PASS);
}

static void unknown_channel_refused(void **state)
{
	uint8_t p[0x70 + 16];
	struct br_rdma_io io;
	char why[200];
	size_t len = rdma_write(p, 3, 0, 1, 4096, 4096);

	(void)state;
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_REFUSE);
	assert_non_null(strstr(why, "Channel 0x3"));
}

static void descriptor_bounds(void **state)
{
	uint8_t *p = talloc_zero_array(*state, uint8_t, 0x70 + 16 * 4095);
	struct br_rdma_io io;
	char why[200];
	size_t len;

	/* Too many descriptors: refused before decoding them. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 4095, 16, 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	assert_non_null(strstr(why, "4095 buffer descriptors"));
	/* A zero-length descriptor. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 2, 0, 1);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* The total above MaxReadWriteSize. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 2, 1 << 20, 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* Channel info outside the PDU. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 4096);
	assert_int_equal(parse(p, len - 1, 16, 1 << 20, &io, why),
			 BR_MALFORMED);
	/* Channel info inside the fixed part. */
	put16(p + 64 + 40, 0x60);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* A list whose length is not a multiple of 16. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 4096);
	put16(p + 64 + 42, 15);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
}

static void length_bounds(void **state)
{
	uint8_t p[0x70 + 16];
	struct br_rdma_io io;
	char why[200];
	size_t len;

	(void)state;
	/* READ larger than the buffers. */
	len = rdma_read(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 4097);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* WRITE with inline data as well. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 4096);
	put32(p + 64 + 4, 10);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* WRITE of more than its buffers, and of nothing. */
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 4097);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 0);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* Short PDUs. */
	assert_int_equal(parse(p, 100, 16, 1 << 20, &io, why), BR_MALFORMED);
	assert_int_equal(parse(p, 10, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* A response where a request belongs. */
	len = rdma_read(p, SMB2_CHANNEL_RDMA_V1, BR_FLAGS_SERVER_TO_REDIR, 1,
			4096, 4096);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_MALFORMED);
	/* Other commands pass. */
	header(p, 5, 1, 0);
	assert_int_equal(parse(p, 64, 16, 1 << 20, &io, why), BR_PASS);
}

static void write_inline_rewrite(void **state)
{
	uint8_t p[0x70 + 16];
	uint8_t data[100];
	size_t len = rdma_write(p, SMB2_CHANNEL_RDMA_V1, 0, 1, 4096, 100);
	size_t out_len = 0;
	uint8_t *out;

	memset(data, 0x77, sizeof(data));
	put32(p + BR_HDR_NEXT_COMMAND, 200);
	out = br_write_make_inline(*state, p, len, data, sizeof(data), &out_len);
	assert_non_null(out);
	assert_int_equal(out_len, 0x70 + 100);
	assert_int_equal(get16(out + 66), 0x70);         /* DataOffset */
	assert_int_equal(get32(out + 68), 100);          /* Length */
	assert_int_equal(get32(out + 64 + 32), 0);       /* Channel */
	assert_int_equal(get32(out + 64 + 36), 0);       /* RemainingBytes */
	assert_int_equal(get16(out + 64 + 40), 0);
	assert_int_equal(get16(out + 64 + 42), 0);
	assert_int_equal(get32(out + BR_HDR_NEXT_COMMAND), 0);
	assert_memory_equal(out + 0x70, data, 100);
	assert_memory_equal(out, p, 20); /* header kept */
}

static void read_plain_rewrite(void **state)
{
	uint8_t p[0x70 + 16];
	uint8_t zero[16] = {0};
	size_t len = rdma_read(p, SMB2_CHANNEL_RDMA_V1_INVALIDATE, 0, 1, 4096,
			       4096);
	struct br_rdma_io io;
	char why[200];

	(void)state;
	br_read_make_plain(p, len);
	assert_int_equal(get32(p + 64 + 36), SMB2_CHANNEL_NONE);
	assert_int_equal(get16(p + 64 + 44), 0);
	assert_int_equal(get16(p + 64 + 46), 0);
	assert_int_equal(get32(p + 68), 4096); /* Length kept */
	assert_memory_equal(p + 0x70, zero, 16);
	assert_int_equal(parse(p, len, 16, 1 << 20, &io, why), BR_PASS);
}

/* --- READ responses ---------------------------------------------------------- */

static void read_response_to_rdma(void **state)
{
	uint8_t *p = talloc_array(*state, uint8_t, 0x50 + 4096);
	struct br_read_rsp rsp;
	const char *why = NULL;
	size_t out_len = 0;
	uint8_t *out;
	size_t len = read_response(p, 4096);

	assert_true(br_read_response_parse(p, len, &rsp, &why));
	assert_true(rsp.has_data);
	assert_int_equal(rsp.data_offset, 0x50);
	assert_int_equal(rsp.data_length, 4096);
	/* [MS-SMB2] 2.2.20/3.3.5.12: nothing inline, DataRemaining. */
	out = br_read_response_make_rdma(*state, p, 4096, &out_len);
	assert_int_equal(out_len, 0x50);
	assert_int_equal(out[66], 0x50);
	assert_int_equal(get32(out + 68), 0);
	assert_int_equal(get32(out + 72), 4096);
	/* Data past the end. */
	assert_false(br_read_response_parse(p, len - 1, &rsp, &why));
	/* An error response has no data and is fine. */
	put32(p + BR_HDR_STATUS, 0xC0000011); /* END_OF_FILE */
	assert_true(br_read_response_parse(p, 73, &rsp, &why));
	assert_false(rsp.has_data);
}

/* --- forward mode ------------------------------------------------------------ */

static void forward_write_round_trip(void **state)
{
	uint8_t *p = talloc_zero_array(*state, uint8_t, 0x70 + 5000);
	struct smbdirect_buffer_descriptor d = {.offset = 0x1000,
						.token = 0x55,
						.length = 5000};
	struct br_rdma_io io;
	char why[200];
	const uint8_t *data;
	uint32_t n;
	uint32_t channel;
	size_t len = 0;
	uint8_t *out;

	header(p, BR_SMB2_WRITE, 42, 0);
	put16(p + 64, 49);
	put16(p + 66, 0x70);
	put32(p + 68, 5000);
	memset(p + 0x70, 0x33, 5000);
	assert_true(br_write_inline_data(p, 0x70 + 5000, &data, &n, &channel));
	assert_int_equal(n, 5000);
	assert_ptr_equal(data, p + 0x70);
	out = br_write_make_rdma(*state, p, 0x70 + 5000,
				 SMB2_CHANNEL_RDMA_V1_INVALIDATE, &d, 1, &len);
	assert_non_null(out);
	assert_int_equal(len, 0x70 + 16);
	/* Length 0 and DataOffset 0, as cifs.ko sends and ksmbd demands. */
	assert_int_equal(get32(out + 68), 0);
	assert_int_equal(get16(out + 66), 0);
	/* What the reverse bridge (or ksmbd) reads from it. */
	assert_int_equal(parse(out, len, 16, 1 << 20, &io, why), BR_RDMA);
	assert_int_equal(io.length, 5000);
	assert_int_equal(io.total, 5000);
	assert_int_equal(io.message_id, 42);
	/* Inline data that points past the PDU is refused. */
	put32(p + 68, 6000);
	assert_false(br_write_inline_data(p, 0x70 + 5000, &data, &n, &channel));
	/* Not a second time: it already has a channel. */
	assert_null(br_write_make_rdma(*state, out, len, 1, &d, 1, &len));
}

static void forward_read_round_trip(void **state)
{
	uint8_t p[0x71];
	struct smbdirect_buffer_descriptor d = {.offset = 0,
						.token = 0x66,
						.length = 65536};
	uint8_t *data = talloc_array(*state, uint8_t, 65536);
	struct br_rdma_io io;
	struct br_read_rsp rsp;
	const char *cwhy;
	char why[200];
	uint8_t rsp_pdu[0x50];
	uint32_t n;
	uint32_t channel;
	size_t len = 0;
	uint8_t *out;

	header(p, BR_SMB2_READ, 43, 0);
	memset(p + 64, 0, 49);
	put16(p + 64, 49);
	put32(p + 68, 65536);
	assert_true(br_read_request_length(p, sizeof(p), &n, &channel));
	assert_int_equal(n, 65536);
	out = br_read_make_rdma(*state, p, sizeof(p), SMB2_CHANNEL_RDMA_V1, &d,
				1, &len);
	assert_non_null(out);
	assert_int_equal(parse(out, len, 16, 1 << 20, &io, why), BR_RDMA);
	assert_int_equal(io.length, 65536);
	/* The server's answer: data placed by RDMA, DataRemaining. */
	read_response(rsp_pdu, 0);
	put32(rsp_pdu + 72, 1000);
	memset(data, 0x44, 1000);
	out = br_read_response_make_inline(*state, rsp_pdu, data, 1000, &len);
	assert_int_equal(len, 0x50 + 1000);
	assert_true(br_read_response_parse(out, len, &rsp, &cwhy));
	assert_int_equal(rsp.data_length, 1000);
	assert_int_equal(rsp.data_remaining, 0);
	assert_memory_equal(out + 0x50, data, 1000);
}

/* A compound CREATE + WRITE(RDMA) + CLOSE: the WRITE is rewritten, the
 * chain rejoined, and it walks again. */
static void compound_rewrite(void **state)
{
	uint8_t msg[72 + 0x70 + 16 + 64];
	struct br_pdu pdus[4];
	struct br_piece pieces[4];
	struct br_rdma_io io;
	char why[200];
	const char *cwhy;
	uint8_t data[300];
	size_t count;
	size_t i;
	size_t len;
	uint8_t *joined;
	uint8_t *inline_pdu;

	header(msg, 5, 1, 0);
	put32(msg + BR_HDR_NEXT_COMMAND, 72);
	memset(msg + 64, 0, 8);
	rdma_write(msg + 72, SMB2_CHANNEL_RDMA_V1, BR_FLAGS_RELATED_OPERATIONS,
		   1, 4096, 300);
	put32(msg + 72 + BR_HDR_NEXT_COMMAND, 0x70 + 16);
	header(msg + 72 + 0x80, 6, 3, BR_FLAGS_RELATED_OPERATIONS);
	assert_true(br_compound_split(msg, sizeof(msg), pdus, 4, &count, &cwhy));
	assert_int_equal(count, 3);
	for (i = 0; i < count; i++) {
		pieces[i].data = msg + pdus[i].offset;
		pieces[i].length = pdus[i].length;
	}
	assert_int_equal(parse(pieces[1].data, pieces[1].length, 16, 1 << 20,
			       &io, why),
			 BR_RDMA);
	memset(data, 0x99, sizeof(data));
	inline_pdu = br_write_make_inline(*state, pieces[1].data,
					  pieces[1].length, data, io.length,
					  &len);
	pieces[1].data = inline_pdu;
	pieces[1].length = len;
	joined = br_compound_join(*state, pieces, 3, &len);
	assert_non_null(joined);
	/* 0x70 + 300 = 412, padded to 416. */
	assert_int_equal(len, 72 + 416 + 64);
	assert_true(br_compound_split(joined, len, pdus, 4, &count, &cwhy));
	assert_int_equal(count, 3);
	assert_int_equal(pdus[1].length, 416);
	assert_int_equal(get32(joined + 72 + 68), 300);
	assert_memory_equal(joined + 72 + 0x70, data, 300);
	assert_int_equal(pdus[2].command, 6);
}

/* --- NEGOTIATE ------------------------------------------------------------------- */

static size_t negotiate_response(uint8_t *p, uint16_t dialect)
{
	header(p, BR_SMB2_NEGOTIATE, 0, BR_FLAGS_SERVER_TO_REDIR);
	memset(p + 64, 0, 65);
	put16(p + 64, 65);
	put16(p + 68, dialect);
	put32(p + 64 + 28, 8 << 20);
	put32(p + 64 + 32, 8 << 20);
	put32(p + 64 + 36, 8 << 20);
	return 64 + 65;
}

static void negotiate_clamped(void **state)
{
	uint8_t p[64 + 65];
	struct br_size_limits lim = {.max_transact = 126976,
				     .max_read = 126976,
				     .max_write = 126976};
	struct br_size_limits was;
	uint16_t dialect;
	static const uint16_t old[] = {0x0202, 0x0210, 0x0300, 0x0302};
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++) {
		size_t len = negotiate_response(p, old[i]);

		assert_true(br_negotiate_clamp(p, len, &lim, &dialect, &was));
		assert_int_equal(dialect, old[i]);
		assert_int_equal(was.max_write, 8 << 20);
		assert_int_equal(get32(p + 64 + 28), 126976);
		assert_int_equal(get32(p + 64 + 32), 126976);
		assert_int_equal(get32(p + 64 + 36), 126976);
		/* A second time: nothing left to lower. */
		assert_false(br_negotiate_clamp(p, len, &lim, &dialect, NULL));
	}
}

static void negotiate_311_untouched(void **state)
{
	uint8_t p[64 + 65];
	uint8_t copy[64 + 65];
	struct br_size_limits lim = {1, 1, 1};
	uint16_t dialect;
	size_t len = negotiate_response(p, 0x0311);

	(void)state;
	memcpy(copy, p, len);
	/* [MS-SMB2] 3.3.5.4/3.2.5.2: hashed into the preauth integrity
	 * value, so never changed. */
	assert_false(br_negotiate_clamp(p, len, &lim, &dialect, NULL));
	assert_int_equal(dialect, 0x0311);
	assert_memory_equal(p, copy, len);
	len = negotiate_response(p, 0x02FF);
	assert_false(br_negotiate_clamp(p, len, &lim, &dialect, NULL));
	/* Error responses and short ones are left alone. */
	len = negotiate_response(p, 0x0300);
	put32(p + BR_HDR_STATUS, 0xC0000022);
	assert_false(br_negotiate_clamp(p, len, &lim, &dialect, NULL));
	assert_int_equal(dialect, 0);
	put32(p + BR_HDR_STATUS, 0);
	assert_false(br_negotiate_clamp(p, 100, &lim, &dialect, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(tcp_header),
		T(message_kinds),
		T(compound_split_three),
		T(compound_split_bad),
		T(compound_join_pads),
		T(rdma_write_parsed),
		T(rdma_read_parsed),
		T(signed_refused),
		T(unknown_channel_refused),
		T(descriptor_bounds),
		T(length_bounds),
		T(write_inline_rewrite),
		T(read_plain_rewrite),
		T(read_response_to_rdma),
		T(forward_write_round_trip),
		T(forward_read_round_trip),
		T(compound_rewrite),
		T(negotiate_clamped),
		T(negotiate_311_untouched),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
