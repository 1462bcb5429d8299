/*
 * libsmbdirect: libFuzzer target for the sans-I/O engine.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * One engine, either role, driven by a script read from the input. The
 * harness plays both the transport and the peer, and keeps its own model
 * of what the engine may do: receives posted, sends outstanding, credits
 * each way ([MS-SMBD] 3.1.5.1, 3.1.5.8, 3.1.5.9), the negotiated values
 * (3.1.5.6, 3.1.5.7) and the reassembly of fragmented messages (3.1.5.8).
 * Any disagreement between the model and the engine calls abort().
 *
 * Input layout:
 *   byte 0      bit 0: role (1 = responder)
 *               bit 1: start with a well-formed negotiate message
 *               bit 2: small settings (bytes 1..6), else the defaults
 *               bits 3-4: re-entry from callbacks (0 none, 1 submit from
 *                     deliver, 2 submit from send_done, 3 close from
 *                     deliver when the payload starts with 0xcc)
 *               bit 5: the transport's receive pool starts limited
 *               bit 6: close from send_done
 *               bit 7: calls from the transport callbacks (submit from
 *                     send and post_recv, close at the Nth of them),
 *                     chosen by bits 3-6 of byte 2 and bits 3-7 of byte 3
 *   bytes 1..6  the small settings (always consumed)
 *   then, if bit 1: 4 bytes choosing the peer's negotiate fields
 *   then a script: an opcode byte and its arguments, until the input ends
 *   (see the OP_ values below). Reading past the end gives zeros.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <talloc.h>

#include "smbdirect.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			abort();                                               \
		}                                                              \
	} while (0)

/* FUZZ_ENGINE_TRACE=1 in the environment prints every event and action,
 * to read what a crashing input does. */
static int fz_trace = -1;

#define TRACE(...)                                                             \
	do {                                                                   \
		if (fz_trace > 0) {                                            \
			fprintf(stderr, __VA_ARGS__);                          \
		}                                                              \
	} while (0)

#define NS_PER_MS 1000000ull
#define FZ_MAX_MSGS 6
#define FZ_MAX_IOV 4
/* Messages the harness submits are never larger than this. */
#define FZ_MAX_SUBMIT (4u * 1024 * 1024)

enum fz_op {
	OP_RECV_RAW = 0,   /* u16 length, then that many raw bytes */
	OP_RECV_DATA,      /* a well-formed data message from 6 bytes */
	OP_RECV_NEGOTIATE, /* a well-formed negotiate message from 4 bytes */
	OP_SEND_COMPLETE,  /* u8 count */
	OP_ADVANCE,        /* u16 time, u8 scale */
	OP_SUBMIT,         /* u16 size, u8 scale, u8 iov split, 3 x u16 cuts */
	OP_CORK,
	OP_UNCORK,
	OP_RECV_BUFFERS,   /* u8 new pool limit */
	OP_INJECT,         /* u8 which fault, u8 argument */
	OP_EXPIRY,         /* handle_expiry whether due or not */
	OP_COUNT
};

/* An upper-layer message the harness submitted. It lives in its own talloc
 * context, freed the moment the engine gives it back, so any later use by
 * the engine is a use-after-free that ASan reports. */
struct fz_msg {
	void *mem; /* NULL: the slot is free */
	struct smbdirect_engine_msg *msg;
	uint8_t *payload;
	size_t length;
	size_t sent;                /* payload bytes seen in send calls */
	uint32_t frags_outstanding; /* its sends not yet completed */
};

struct fz {
	void *mem;
	struct smbdirect_engine *engine;
	struct smbdirect_settings settings;
	enum smbdirect_role role;
	uint64_t now;
	uint32_t buffer_size;
	int reentry;
	bool close_on_send_done;
	/* Calls back into the engine from the transport's callbacks: bit 0
	 * submit from send, bit 1 submit from post_recv, bit 2 close from
	 * the close_at-th send, bit 3 close from the close_at-th post_recv. */
	unsigned int transport_reentry;
	unsigned int close_at;
	unsigned int send_calls;
	unsigned int post_calls;

	const uint8_t *in;
	size_t in_len;
	size_t pos;

	bool connected;
	bool terminated;
	int terminated_calls;
	struct smbdirect_params params;
	int negotiate_sends;
	bool negotiate_failed; /* responder sent a failure response */
	bool corked;

	/* The negotiate message being received, as the harness decoded it. */
	bool in_negotiate;
	bool neg_decoded;
	struct smbdirect_negotiate_request neg_req;
	struct smbdirect_negotiate_response neg_rsp;

	/* Transport: receives posted and not yet completed. */
	uint32_t rx_outstanding;
	int64_t pool_limit; /* most outstanding receives; -1 unlimited */
	bool post_fail;

	/* Transport: sends outstanding, oldest first; slot index or -1. */
	int *tx_ring;
	uint32_t tx_capacity;
	uint32_t tx_first;
	uint32_t tx_count;
	int send_fail;

	/* Credits. engine_send_credits: what the peer granted the engine
	 * (Connection.SendCredits). peer_credits: what the engine granted
	 * the peer (Connection.ReceiveCredits). */
	uint32_t engine_send_credits;
	uint32_t peer_credits;
	uint32_t receive_credit_target;
	bool response_owed;

	/* Timers ([MS-SMBD] 3.1.6): absolute ns or SMBDIRECT_NO_EXPIRY. */
	uint64_t negotiate_deadline;
	uint64_t idle_deadline;
	uint64_t keepalive_deadline;
	bool keepalive_due; /* the next message requests a response */

	/* The receive being delivered. */
	const uint8_t *rx_buf;
	size_t rx_len;

	/* Reassembly model ([MS-SMBD] 3.1.5.8). */
	uint8_t *model;
	size_t model_len;
	uint32_t model_remaining;
	bool model_active;
	bool expect_deliver;
	const uint8_t *expect_ptr; /* NULL: from the reassembly model */
	size_t expect_len;
	bool delivered;

	struct fz_msg msgs[FZ_MAX_MSGS];
	uint32_t pattern;
};

/* --- input ------------------------------------------------------------ */

static uint8_t rd8(struct fz *f)
{
	if (f->pos >= f->in_len) {
		return 0;
	}
	return f->in[f->pos++];
}

static uint16_t rd16(struct fz *f)
{
	uint16_t lo = rd8(f);

	return (uint16_t)(lo | (rd8(f) << 8));
}

static uint32_t rd32(struct fz *f)
{
	uint32_t lo = rd16(f);

	return lo | ((uint32_t)rd16(f) << 16);
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Payload bytes that differ between neighbours and between messages, so a
 * byte taken from the wrong place shows up. Copied from a table: a loop per
 * byte would cost most of the time in comparison tracing. */
#define FZ_PATTERN_SIZE 4096u
static uint8_t fz_pattern[2 * FZ_PATTERN_SIZE];
static bool fz_pattern_ready;

static void fill_pattern(struct fz *f, uint8_t *dst, size_t length)
{
	size_t done = 0;

	if (!fz_pattern_ready) {
		uint32_t x = 0x9e3779b9u;
		size_t i;

		/* xorshift32 */
		for (i = 0; i < sizeof(fz_pattern); i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			fz_pattern[i] = (uint8_t)x;
		}
		fz_pattern_ready = true;
	}
	f->pattern = (f->pattern + 0x3b) % FZ_PATTERN_SIZE;
	while (done < length) {
		size_t n = length - done;

		if (n > FZ_PATTERN_SIZE) {
			n = FZ_PATTERN_SIZE;
		}
		memcpy(dst + done, fz_pattern + f->pattern, n);
		done += n;
	}
}

static uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static void arm_idle(struct fz *f)
{
	f->idle_deadline =
		f->settings.keepalive_interval_ms == 0
			? SMBDIRECT_NO_EXPIRY
			: f->now + (uint64_t)f->settings.keepalive_interval_ms *
					   NS_PER_MS;
}

/* --- messages --------------------------------------------------------- */

static int find_slot(struct fz *f, const struct smbdirect_engine_msg *msg)
{
	int i;

	for (i = 0; i < FZ_MAX_MSGS; i++) {
		if (f->msgs[i].mem != NULL && f->msgs[i].msg == msg) {
			return i;
		}
	}
	return -1;
}

static void release_slot(struct fz *f, int i)
{
	talloc_free(f->msgs[i].mem);
	memset(&f->msgs[i], 0, sizeof(f->msgs[i]));
}

/* Messages the engine holds that still have bytes to send. */
static uint32_t queued_messages(const struct fz *f)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < FZ_MAX_MSGS; i++) {
		if (f->msgs[i].mem != NULL &&
		    f->msgs[i].sent < f->msgs[i].length) {
			n++;
		}
	}
	return n;
}

static void submit(struct fz *f, size_t length, unsigned int iov_count,
		   const uint16_t *cuts);

/* --- callbacks -------------------------------------------------------- */

static int cb_post_recv(void *priv, uint32_t count, uint32_t buffer_size)
{
	struct fz *f = priv;
	uint32_t n = count;

	TRACE("  post_recv(%u, %u) outstanding %u\n", count, buffer_size,
	      f->rx_outstanding);
	CHECK(!f->terminated);
	CHECK(count > 0);
	CHECK(buffer_size == f->buffer_size);
	CHECK(buffer_size == smbdirect_engine_receive_buffer_size(f->engine));
	/* [MS-SMBD] 3.1.5.9 as bounded by smbdirect_engine.h: never more
	 * than receive_credit_max + 1 outstanding. */
	CHECK((uint64_t)f->rx_outstanding + count <=
	      (uint64_t)f->settings.receive_credit_max + 1);
	if (f->post_fail) {
		f->post_fail = false;
		return -1;
	}
	if (f->pool_limit >= 0) {
		uint32_t room = f->pool_limit > f->rx_outstanding
					? (uint32_t)f->pool_limit - f->rx_outstanding
					: 0;
		n = min32(n, room);
	}
	f->rx_outstanding += n;

	f->post_calls += 1;
	if ((f->transport_reentry & 2) != 0) {
		uint16_t cuts[3] = {0, 0, 0};

		submit(f, 150, 1, cuts);
	}
	if ((f->transport_reentry & 8) != 0 && f->post_calls == f->close_at) {
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
	}
	return (int)n;
}

/* The initiator's negotiate request or the responder's negotiate response
 * ([MS-SMBD] 3.1.5.2, 3.1.5.3, 3.1.5.4). */
static void check_negotiate_send(struct fz *f,
				 const struct smbdirect_send_desc *desc)
{
	CHECK(f->negotiate_sends == 0);
	CHECK(desc->msg == NULL && desc->data_length == 0);
	f->negotiate_sends += 1;
	if (f->role == SMBDIRECT_ROLE_INITIATOR) {
		struct smbdirect_negotiate_request req;

		CHECK(desc->header_length == SMBDIRECT_NEGOTIATE_REQUEST_SIZE);
		CHECK(smbdirect_negotiate_request_decode(
			      desc->header, desc->header_length, &req) ==
		      SMBDIRECT_WIRE_OK);
		CHECK(req.min_version == SMBDIRECT_PROTOCOL_VERSION);
		CHECK(req.max_version == SMBDIRECT_PROTOCOL_VERSION);
		CHECK(req.credits_requested == f->settings.send_credit_target);
		CHECK(req.preferred_send_size == f->settings.max_send_size);
		CHECK(req.max_receive_size == f->settings.max_receive_size);
		CHECK(req.max_fragmented_size ==
		      f->settings.max_fragmented_size);
	} else {
		struct smbdirect_negotiate_response rsp;

		CHECK(desc->header_length == SMBDIRECT_NEGOTIATE_RESPONSE_SIZE);
		CHECK(smbdirect_negotiate_response_decode(
			      desc->header, desc->header_length, &rsp) ==
		      SMBDIRECT_WIRE_OK);
		CHECK(f->in_negotiate && f->neg_decoded);
		if (rsp.status == SMBDIRECT_STATUS_SUCCESS) {
			CHECK(rsp.negotiated_version ==
			      SMBDIRECT_PROTOCOL_VERSION);
			CHECK(rsp.credits_granted >= 1);
			CHECK(rsp.credits_requested ==
			      f->settings.send_credit_target);
			CHECK(rsp.max_receive_size >= SMBDIRECT_MIN_RECEIVE_SIZE);
			CHECK(rsp.max_receive_size <=
			      f->settings.max_receive_size);
			CHECK(rsp.preferred_send_size <=
			      f->settings.max_send_size);
			CHECK(rsp.preferred_send_size <=
			      f->neg_req.max_receive_size);
			CHECK(rsp.max_fragmented_size ==
			      f->settings.max_fragmented_size);
			/* Credits only for receives really posted (3.1.5.6). */
			f->peer_credits = rsp.credits_granted;
			CHECK(f->peer_credits <= f->rx_outstanding);
		} else {
			CHECK(rsp.status == SMBDIRECT_STATUS_NOT_SUPPORTED ||
			      rsp.status ==
				      SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES);
			CHECK(rsp.credits_granted == 0);
			f->negotiate_failed = true;
		}
	}
}

/* A data transfer message ([MS-SMBD] 2.2.3, 3.1.5.1). */
static void check_data_send(struct fz *f, const struct smbdirect_send_desc *desc)
{
	struct smbdirect_data_header hdr;
	size_t total = desc->header_length + desc->data_length;

	CHECK(desc->header_length == SMBDIRECT_DATA_HEADER_MIN ||
	      desc->header_length == SMBDIRECT_DATA_OFFSET);
	CHECK(desc->data_length <= f->params.max_send_size);
	CHECK(total <= f->params.max_send_size);
	/* The decoder reads only the 20 fixed bytes; `total` is the length
	 * of the whole wire message. */
	CHECK(smbdirect_data_header_decode(desc->header, total, &hdr) ==
	      SMBDIRECT_WIRE_OK);
	CHECK(hdr.data_length == desc->data_length);
	if (desc->data_length > 0) {
		CHECK(desc->header_length == SMBDIRECT_DATA_OFFSET);
		CHECK(hdr.data_offset == SMBDIRECT_DATA_OFFSET);
		CHECK(memcmp(desc->header + SMBDIRECT_DATA_HEADER_MIN,
			     "\0\0\0\0", 4) == 0);
	} else {
		CHECK(desc->header_length == SMBDIRECT_DATA_HEADER_MIN);
		CHECK(hdr.data_offset == 0);
	}
	CHECK(hdr.reserved == 0);
	CHECK(hdr.credits_requested == f->params.send_credit_target);
	/* 3.1.6.2: only a keepalive asks for a response; the answer to one
	 * does not (docs/architecture.md). */
	CHECK(((hdr.flags & SMBDIRECT_FLAG_RESPONSE_REQUESTED) != 0) ==
	      f->keepalive_due);

	if (desc->msg == NULL) {
		CHECK(desc->data_length == 0);
		CHECK(hdr.remaining_data_length == 0);
	} else {
		int i = find_slot(f, desc->msg);
		struct fz_msg *m;
		const struct iovec *iov = desc->iov;
		size_t left = desc->data_length;
		size_t off = desc->iov_offset;
		size_t done = 0;
		unsigned int k = 0;

		/* Only a message the engine holds, with bytes to send. */
		CHECK(i >= 0);
		m = &f->msgs[i];
		CHECK(desc->data_length > 0);
		CHECK(m->sent + desc->data_length <= m->length);
		CHECK(hdr.remaining_data_length ==
		      m->length - m->sent - desc->data_length);
		/* The iovecs are a tail of the message's own array, and
		 * walking them from iov_offset gives exactly the next bytes
		 * of the payload. */
		CHECK(iov != NULL);
		CHECK(iov >= m->msg->iov &&
		      iov + desc->iov_count == m->msg->iov + m->msg->iov_count);
		while (left > 0) {
			size_t take;

			CHECK(k < desc->iov_count);
			CHECK(off <= iov[k].iov_len);
			take = iov[k].iov_len - off;
			if (take > left) {
				take = left;
			}
			if (take > 0) {
				CHECK((const uint8_t *)iov[k].iov_base + off ==
				      m->payload + m->sent + done);
			}
			done += take;
			left -= take;
			off = 0;
			k++;
		}
	}

	/* 3.1.5.1: a message needs a send credit, and the last one is kept
	 * for a message that grants credits. */
	CHECK(f->engine_send_credits >= 1);
	if (f->engine_send_credits == 1) {
		CHECK(hdr.credits_granted >= 1);
	}
	/* 3.1.5.9: never grant a credit without a posted receive. */
	CHECK((uint64_t)f->peer_credits + hdr.credits_granted <=
	      f->rx_outstanding);
	/* Nor make the peer hold more than 65535: the engine itself ends a
	 * connection whose peer does that (credit-overflow, 3.1.5.8). */
	CHECK((uint64_t)f->peer_credits + hdr.credits_granted <= UINT16_MAX);
}

/* Account for a send the transport accepted. */
static void record_send(struct fz *f, const struct smbdirect_send_desc *desc)
{
	int slot = -1;

	if (f->connected) {
		uint16_t granted = (uint16_t)(desc->header[2] |
					      (desc->header[3] << 8));

		f->engine_send_credits -= 1;
		f->peer_credits += granted;
		f->response_owed = false;
		f->keepalive_due = false;
	}
	if (desc->msg != NULL) {
		slot = find_slot(f, desc->msg);
		f->msgs[slot].sent += desc->data_length;
		f->msgs[slot].frags_outstanding += 1;
	}
	f->tx_ring[(f->tx_first + f->tx_count) % f->tx_capacity] = slot;
	f->tx_count += 1;
}

/* smbdirect_send_desc_copy() flattens exactly the wire message: header,
 * then the next payload bytes of the message; it refuses a short buffer. */
static void check_flatten(struct fz *f, const struct smbdirect_send_desc *desc)
{
	size_t length = smbdirect_send_desc_length(desc);
	uint8_t *flat;

	CHECK(length == desc->header_length + desc->data_length);
	flat = talloc_size(f->mem, length + 1);
	CHECK(flat != NULL);
	CHECK(smbdirect_send_desc_copy(desc, flat, length - 1) == 0);
	flat[length] = 0x5a;
	CHECK(smbdirect_send_desc_copy(desc, flat, length + 1) == length);
	CHECK(flat[length] == 0x5a);
	CHECK(memcmp(flat, desc->header, desc->header_length) == 0);
	if (desc->data_length > 0) {
		int i = find_slot(f, desc->msg);

		CHECK(i >= 0);
		CHECK(f->msgs[i].sent + desc->data_length <= f->msgs[i].length);
		CHECK(memcmp(flat + desc->header_length,
			     f->msgs[i].payload + f->msgs[i].sent,
			     desc->data_length) == 0);
	}
	talloc_free(flat);
}

static int cb_send(void *priv, const struct smbdirect_send_desc *desc)
{
	struct fz *f = priv;
	int err;

	CHECK(!f->terminated);
	CHECK(desc != NULL && desc->header != NULL);
	TRACE("  send(header %zu, data %zu, msg %d) granted %u credits %u\n",
	      desc->header_length, desc->data_length,
	      desc->msg != NULL ? find_slot(f, desc->msg) : -1,
	      desc->header_length >= 4 ? (unsigned int)(desc->header[2] |
						       desc->header[3] << 8)
				       : 0,
	      f->engine_send_credits);
	check_flatten(f, desc);
	/* The send queue depth is never exceeded. */
	CHECK(f->tx_count < f->settings.max_outstanding_sends);
	if (!f->connected) {
		check_negotiate_send(f, desc);
	} else {
		/* Corked, every data message waits for uncork. */
		CHECK(!f->corked);
		check_data_send(f, desc);
	}
	if (f->send_fail != 0) {
		err = f->send_fail;
		f->send_fail = 0;
		return err;
	}
	record_send(f, desc);

	f->send_calls += 1;
	if ((f->transport_reentry & 1) != 0) {
		uint16_t cuts[3] = {7, 0, 0};

		submit(f, 300, 2, cuts);
	}
	if ((f->transport_reentry & 4) != 0 && f->send_calls == f->close_at) {
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
	}
	return 0;
}

/* [MS-SMBD] 3.1.5.6 and 3.1.5.7: what the negotiated values must be. */
static void cb_connected(void *priv, const struct smbdirect_params *params)
{
	struct fz *f = priv;
	const struct smbdirect_settings *s = &f->settings;
	uint32_t max_receive;

	TRACE("  connected: send %u receive %u frag %u/%u target %u\n",
	      params->max_send_size, params->max_receive_size,
	      params->max_fragmented_send_size,
	      params->max_fragmented_receive_size,
	      params->receive_credit_target);
	CHECK(!f->terminated && !f->connected);
	CHECK(f->in_negotiate && f->neg_decoded);
	CHECK(params != NULL);
	CHECK(params->protocol == SMBDIRECT_PROTOCOL_VERSION);
	CHECK(params->max_fragmented_receive_size == s->max_fragmented_size);
	CHECK(params->send_credit_target == s->send_credit_target);
	if (f->role == SMBDIRECT_ROLE_RESPONDER) {
		const struct smbdirect_negotiate_request *r = &f->neg_req;

		CHECK(f->negotiate_sends == 1 && !f->negotiate_failed);
		CHECK(r->min_version <= SMBDIRECT_PROTOCOL_VERSION &&
		      r->max_version >= SMBDIRECT_PROTOCOL_VERSION);
		CHECK(r->credits_requested > 0);
		CHECK(r->max_receive_size >= SMBDIRECT_MIN_RECEIVE_SIZE);
		CHECK(r->max_fragmented_size >= SMBDIRECT_MIN_FRAGMENTED_SIZE);
		max_receive = min32(s->max_receive_size, r->preferred_send_size);
		CHECK(params->max_send_size ==
		      min32(s->max_send_size, r->max_receive_size));
		CHECK(params->max_fragmented_send_size ==
		      r->max_fragmented_size);
		CHECK(params->max_read_write_size == s->max_read_write_size);
		CHECK(params->receive_credit_target ==
		      min32(r->credits_requested, s->receive_credit_max));
		/* The initiator grants the first credits (3.1.5.6). */
		f->engine_send_credits = 0;
	} else {
		const struct smbdirect_negotiate_response *r = &f->neg_rsp;

		CHECK(f->negotiate_sends == 1);
		CHECK(r->min_version <= SMBDIRECT_PROTOCOL_VERSION &&
		      r->max_version >= SMBDIRECT_PROTOCOL_VERSION);
		CHECK(r->negotiated_version == SMBDIRECT_PROTOCOL_VERSION);
		CHECK(r->status == SMBDIRECT_STATUS_SUCCESS);
		CHECK(r->credits_requested > 0 && r->credits_granted > 0);
		CHECK(r->max_receive_size >= SMBDIRECT_MIN_RECEIVE_SIZE);
		CHECK(r->max_fragmented_size >= SMBDIRECT_MIN_FRAGMENTED_SIZE);
		CHECK(r->preferred_send_size <= s->max_receive_size);
		max_receive = min32(s->max_receive_size, r->preferred_send_size);
		CHECK(params->max_send_size ==
		      min32(s->max_send_size, r->max_receive_size));
		CHECK(params->max_fragmented_send_size ==
		      r->max_fragmented_size);
		CHECK(params->max_read_write_size ==
		      min32(s->max_read_write_size, r->max_read_write_size));
		CHECK(params->receive_credit_target ==
		      min32(r->credits_requested, s->receive_credit_max));
		/* 3.1.5.7: SendCredits = CreditsGranted. */
		f->engine_send_credits = r->credits_granted;
		f->peer_credits = 0;
	}
	if (max_receive < SMBDIRECT_MIN_RECEIVE_SIZE) {
		max_receive = SMBDIRECT_MIN_RECEIVE_SIZE;
	}
	CHECK(params->max_receive_size == max_receive);
	CHECK(params->max_send_size >= SMBDIRECT_MIN_RECEIVE_SIZE);
	CHECK(smbdirect_engine_params(f->engine) != NULL);
	f->params = *params;
	f->receive_credit_target = params->receive_credit_target;
	f->negotiate_deadline = SMBDIRECT_NO_EXPIRY;
	arm_idle(f);
	f->connected = true;
}

static void cb_deliver(void *priv, const uint8_t *data, size_t length)
{
	struct fz *f = priv;

	TRACE("  deliver(%zu)\n", length);
	CHECK(!f->terminated && f->connected);
	CHECK(data != NULL);
	CHECK(length > 0);
	CHECK(length <= f->params.max_fragmented_receive_size);
	CHECK(f->expect_deliver && !f->delivered);
	CHECK(length == f->expect_len);
	if (f->expect_ptr != NULL) {
		/* In one piece: straight from the receive buffer. */
		CHECK(data == f->expect_ptr);
		CHECK(data >= f->rx_buf && data + length <= f->rx_buf + f->rx_len);
	} else {
		CHECK(memcmp(data, f->model, length) == 0);
	}
	f->delivered = true;

	if (f->reentry == 1) {
		uint16_t cuts[3] = {1, 2, 3};

		submit(f, length % 700 + 1, 2, cuts);
	} else if (f->reentry == 3 && data[0] == 0xcc) {
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
	}
}

static void cb_send_done(void *priv, struct smbdirect_engine_msg *msg)
{
	struct fz *f = priv;
	int i = find_slot(f, msg);

	TRACE("  send_done(%d)\n", i);
	CHECK(!f->terminated);
	/* Only a message the engine holds, once, and only after every one
	 * of its fragments was sent and completed. */
	CHECK(i >= 0);
	CHECK(f->msgs[i].sent == f->msgs[i].length);
	CHECK(f->msgs[i].frags_outstanding == 0);
	release_slot(f, i);
	if (f->close_on_send_done) {
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
	} else if (f->reentry == 2) {
		uint16_t cuts[3] = {0, 0, 0};

		submit(f, 200, 1, cuts);
	}
}

static void cb_terminated(void *priv, enum smbdirect_reason reason,
			  const char *detail)
{
	struct fz *f = priv;
	int i;

	TRACE("  terminated(%s): %s\n", smbdirect_reason_string(reason),
	      detail != NULL ? detail : "(null)");
	CHECK(f->terminated_calls == 0 && !f->terminated);
	f->terminated_calls += 1;
	f->terminated = true;
	CHECK(reason != SMBDIRECT_REASON_NONE);
	CHECK((unsigned int)reason < SMBDIRECT_REASON_COUNT);
	/* Every end names its cause for the log. */
	CHECK(detail != NULL && detail[0] != '\0');
	CHECK(strlen(detail) < 1024);
	CHECK(smbdirect_engine_state(f->engine) == SMBDIRECT_STATE_TERMINATED);
	CHECK(smbdirect_engine_reason(f->engine) == reason);
	CHECK(smbdirect_engine_get_expiry(f->engine) == SMBDIRECT_NO_EXPIRY);
	/* Every message is the caller's again: free them, so any later use
	 * by the engine is caught. */
	for (i = 0; i < FZ_MAX_MSGS; i++) {
		if (f->msgs[i].mem != NULL) {
			release_slot(f, i);
		}
	}
	f->tx_count = 0;

	/* Calls from inside the callback run no callback again. */
	{
		struct smbdirect_engine_msg late = {0};
		struct iovec iov = {.iov_base = &late, .iov_len = 1};

		late.iov = &iov;
		late.iov_count = 1;
		CHECK(smbdirect_engine_submit(f->engine, f->now, &late) ==
		      ENOTCONN);
		smbdirect_engine_close(f->engine);
		smbdirect_engine_fail(f->engine, SMBDIRECT_REASON_LOCAL_ERROR,
				      NULL);
		smbdirect_engine_uncork(f->engine, f->now);
	}
}

static const struct smbdirect_engine_callbacks fz_callbacks = {
	.post_recv = cb_post_recv,
	.send = cb_send,
	.connected = cb_connected,
	.deliver = cb_deliver,
	.send_done = cb_send_done,
	.terminated = cb_terminated,
};

/* --- events ----------------------------------------------------------- */

static void submit(struct fz *f, size_t length, unsigned int iov_count,
		   const uint16_t *cuts)
{
	struct fz_msg *m = NULL;
	struct iovec *iov;
	size_t bounds[FZ_MAX_IOV + 1];
	unsigned int i;
	int expect;
	int ret;

	for (i = 0; i < FZ_MAX_MSGS; i++) {
		if (f->msgs[i].mem == NULL) {
			m = &f->msgs[i];
			break;
		}
	}
	if (m == NULL || length > FZ_MAX_SUBMIT) {
		return;
	}
	if (iov_count > FZ_MAX_IOV) {
		iov_count = FZ_MAX_IOV;
	}
	m->mem = talloc_new(f->mem);
	CHECK(m->mem != NULL);
	m->msg = talloc_zero(m->mem, struct smbdirect_engine_msg);
	/* Exactly iov_count entries: ASan reports a read past the last. */
	if (iov_count == 0) {
		iov_count = 1;
	}
	iov = talloc_zero_array(m->mem, struct iovec, iov_count);
	m->payload = talloc_size(m->mem, length > 0 ? length : 1);
	CHECK(m->msg != NULL && iov != NULL && m->payload != NULL);
	m->length = length;
	fill_pattern(f, m->payload, length);

	/* Cut the payload into iov_count pieces at sorted points; empty
	 * pieces are allowed. */
	bounds[0] = 0;
	for (i = 1; i < iov_count; i++) {
		size_t c = length > 0 ? cuts[i - 1] % (length + 1) : 0;

		bounds[i] = c < bounds[i - 1] ? bounds[i - 1] : c;
	}
	bounds[iov_count] = length;
	for (i = 0; i < iov_count; i++) {
		iov[i].iov_base = m->payload + bounds[i];
		iov[i].iov_len = bounds[i + 1] - bounds[i];
	}
	m->msg->iov = iov;
	m->msg->iov_count = iov_count;

	if (smbdirect_engine_state(f->engine) != SMBDIRECT_STATE_CONNECTED) {
		expect = ENOTCONN;
	} else if (length == 0 || length > f->params.max_fragmented_send_size) {
		expect = EMSGSIZE;
	} else {
		expect = 0;
	}
	TRACE("submit(%zu in %u pieces) -> slot %d\n", length, iov_count,
	      (int)(m - f->msgs));
	ret = smbdirect_engine_submit(f->engine, f->now, m->msg);
	CHECK(ret == expect);
	/* The slot may already be gone if the engine sent the whole message
	 * and ended the connection inside submit(). */
	if (ret != 0 && m->mem != NULL) {
		release_slot(f, (int)(m - f->msgs));
	}
}

/* Analyse a data transfer message before the engine sees it: update the
 * credit and reassembly models, and note whether the engine must end the
 * connection or deliver. If the engine ends the connection the models no
 * longer matter. */
static bool model_data(struct fz *f, const uint8_t *buf, size_t len)
{
	struct smbdirect_data_header hdr;
	uint32_t dl;
	uint32_t rem;

	if (len > f->params.max_receive_size) {
		return true;
	}
	if (smbdirect_data_header_decode(buf, len, &hdr) != SMBDIRECT_WIRE_OK) {
		return true;
	}
	if (hdr.credits_requested == 0 || f->peer_credits == 0) {
		return true;
	}
	f->peer_credits -= 1;
	if (f->engine_send_credits + hdr.credits_granted > UINT16_MAX) {
		return true;
	}
	f->engine_send_credits += hdr.credits_granted;
	f->receive_credit_target =
		min32(hdr.credits_requested, f->settings.receive_credit_max);
	if ((hdr.flags & SMBDIRECT_FLAG_RESPONSE_REQUESTED) != 0) {
		f->response_owed = true;
	}
	/* 3.1.6.2: any message restarts the idle timer and answers a
	 * keepalive. */
	arm_idle(f);
	f->keepalive_deadline = SMBDIRECT_NO_EXPIRY;

	dl = hdr.data_length;
	rem = hdr.remaining_data_length;
	if (!f->model_active) {
		uint64_t total = (uint64_t)dl + rem;

		if (dl == 0) {
			return rem != 0;
		}
		if (total > f->params.max_fragmented_receive_size) {
			return true;
		}
		if (rem == 0) {
			f->expect_deliver = true;
			f->expect_ptr = buf + hdr.data_offset;
			f->expect_len = dl;
			return false;
		}
		f->model = talloc_realloc(f->mem, f->model, uint8_t, total);
		CHECK(f->model != NULL);
		memcpy(f->model, buf + hdr.data_offset, dl);
		f->model_len = dl;
		f->model_remaining = rem;
		f->model_active = true;
		return false;
	}
	/* An empty message with RemainingDataLength 0 (a credit grant, a
	 * keepalive answer) is no fragment, even between two fragments
	 * (3.1.5.8, 3.1.4.1; ksmbd sends them there). */
	if (dl == 0 && rem == 0) {
		return false;
	}
	if ((uint64_t)dl + rem != f->model_remaining) {
		return true;
	}
	if (dl == 0) {
		return false;
	}
	memcpy(f->model + f->model_len, buf + hdr.data_offset, dl);
	f->model_len += dl;
	f->model_remaining = rem;
	if (rem == 0) {
		f->model_active = false;
		f->expect_deliver = true;
		f->expect_ptr = NULL;
		f->expect_len = f->model_len;
	}
	return false;
}

/* A posted receive completes with `len` bytes. */
static void recv_message(struct fz *f, const uint8_t *bytes, size_t len)
{
	enum smbdirect_engine_state state = smbdirect_engine_state(f->engine);
	bool must_end = false;
	uint8_t *copy;

	if (f->terminated) {
		/* Ignored, and no callback may run. */
		smbdirect_engine_on_recv(f->engine, f->now, bytes, len);
		return;
	}
	if (f->rx_outstanding == 0) {
		/* Nothing posted: on a real QP this is a transport error. */
		smbdirect_engine_fail(f->engine,
				      SMBDIRECT_REASON_TRANSPORT_ERROR,
				      "receive without a posted buffer");
		CHECK(f->terminated);
		return;
	}
	if (len > f->buffer_size) {
		len = f->buffer_size;
	}
	/* Exactly `len` heap bytes: ASan reports any read past them. */
	copy = talloc_size(f->mem, len > 0 ? len : 1);
	CHECK(copy != NULL);
	memcpy(copy, bytes, len);
	f->rx_buf = copy;
	f->rx_len = len;
	f->expect_deliver = false;
	f->delivered = false;

	if (state == SMBDIRECT_STATE_NEGOTIATING) {
		f->in_negotiate = true;
		if (f->role == SMBDIRECT_ROLE_RESPONDER) {
			f->neg_decoded = smbdirect_negotiate_request_decode(
						 copy, len, &f->neg_req) ==
					 SMBDIRECT_WIRE_OK;
		} else {
			f->neg_decoded = smbdirect_negotiate_response_decode(
						 copy, len, &f->neg_rsp) ==
					 SMBDIRECT_WIRE_OK;
		}
		must_end = !f->neg_decoded || f->negotiate_failed;
	} else if (state == SMBDIRECT_STATE_CONNECTED) {
		must_end = model_data(f, copy, len);
	}
	TRACE("recv(%zu) state %d must_end %d deliver %d\n", len, (int)state,
	      must_end, f->expect_deliver);
	f->rx_outstanding -= 1;
	smbdirect_engine_on_recv(f->engine, f->now, copy, len);
	f->in_negotiate = false;
	if (must_end) {
		CHECK(f->terminated);
	}
	if (!f->terminated) {
		/* An expected delivery happened. */
		CHECK(f->delivered == f->expect_deliver);
		if (state == SMBDIRECT_STATE_NEGOTIATING) {
			/* Negotiation either succeeded or the responder is
			 * sending its failure response (3.1.5.3). */
			CHECK(f->connected ||
			      (f->role == SMBDIRECT_ROLE_RESPONDER &&
			       f->negotiate_failed));
		}
	}
	if (f->delivered && f->expect_ptr == NULL) {
		f->model_len = 0;
	}
	f->expect_deliver = false;
	f->rx_buf = NULL;
	f->rx_len = 0;
	talloc_free(copy);
}

/* A negotiate message the peer would send, from 4 input bytes. */
static void recv_negotiate(struct fz *f, uint8_t a, uint8_t b, uint8_t c,
			   uint8_t d)
{
	static const uint32_t sizes[8] = {128,  129,  256,  512,
					  1024, 1364, 4096, 65536};
	static const uint32_t frag[4] = {131072, 131073, 262144, 1048576};
	uint8_t buf[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];
	uint16_t credits = (uint16_t)(a % 16 + 1);
	uint32_t max_receive = sizes[b % 8];
	uint32_t preferred = sizes[(b >> 3) % 8];
	uint32_t max_frag = frag[(b >> 6) % 4];
	size_t len;

	if (c & 0x80) {
		credits = (uint16_t)(credits * 17);
	}
	if ((d & 0x30) == 0x30) {
		credits = (uint16_t)(UINT16_MAX - a % 4);
	}
	if (f->role == SMBDIRECT_ROLE_RESPONDER) {
		struct smbdirect_negotiate_request req = {
			.min_version = SMBDIRECT_PROTOCOL_VERSION,
			.max_version = SMBDIRECT_PROTOCOL_VERSION,
			.credits_requested = credits,
			.preferred_send_size = preferred,
			.max_receive_size = max_receive,
			.max_fragmented_size = max_frag,
		};

		if ((d & 3) == 3) {
			/* Versions that exclude 1.0: a failure response. */
			req.min_version = 0x0200;
			req.max_version = 0x0300;
		}
		len = smbdirect_negotiate_request_encode(&req, buf, sizeof(buf));
	} else {
		struct smbdirect_negotiate_response rsp = {
			.min_version = SMBDIRECT_PROTOCOL_VERSION,
			.max_version = SMBDIRECT_PROTOCOL_VERSION,
			.negotiated_version = SMBDIRECT_PROTOCOL_VERSION,
			.credits_requested = credits,
			.credits_granted = (uint16_t)(c % 16 + 1),
			.status = SMBDIRECT_STATUS_SUCCESS,
			.max_read_write_size = 1u << (d % 24),
			/* The initiator refuses one above its own
			 * MaxReceiveSize (3.1.5.7). */
			.preferred_send_size =
				min32(preferred, f->settings.max_receive_size),
			.max_receive_size = max_receive,
			.max_fragmented_size = max_frag,
		};

		if ((d & 0xc0) == 0xc0) {
			rsp.status = SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES;
		}
		len = smbdirect_negotiate_response_encode(&rsp, buf,
							  sizeof(buf));
	}
	recv_message(f, buf, len);
}

/* A data transfer message the peer would send, from 6 input bytes. */
static void recv_data(struct fz *f)
{
	uint8_t credits_requested = rd8(f);
	uint8_t granted = rd8(f);
	uint8_t flags = rd8(f);
	uint16_t length = rd16(f);
	uint8_t sel = rd8(f);
	uint32_t max_receive = f->connected ? f->params.max_receive_size
					    : f->buffer_size;
	uint32_t room = max_receive - SMBDIRECT_DATA_OFFSET;
	struct smbdirect_data_header hdr = {0};
	uint8_t *buf;
	size_t hlen;

	/* Mostly a message that fits; sometimes up to the buffer size. */
	if ((flags & 0x40) != 0) {
		room = f->buffer_size - SMBDIRECT_DATA_OFFSET;
	}
	if (credits_requested == 0xff) {
		hdr.credits_requested = 0; /* invalid (3.1.5.8) */
	} else if ((credits_requested & 0xc0) == 0xc0) {
		/* Near the 16-bit limit. */
		hdr.credits_requested =
			(uint16_t)(UINT16_MAX - (credits_requested & 0x3f));
	} else {
		hdr.credits_requested = (uint16_t)(credits_requested % 32 + 1);
	}
	hdr.credits_granted = (granted & 0x80) != 0
				      ? (uint16_t)(granted * 257)
				      : (uint16_t)(granted % 8);
	hdr.flags = (uint16_t)(flags & SMBDIRECT_FLAG_RESPONSE_REQUESTED);
	if ((flags & 0x80) != 0) {
		hdr.flags |= 0x8000; /* undefined: refused */
	}
	/* 0xffff: a full message, else any length that fits. */
	hdr.data_length = length == 0xffff ? room : length % (room + 1);
	if (f->model_active && (sel & 0x80) == 0) {
		/* The next fragment of the message being reassembled. */
		hdr.data_length = min32(hdr.data_length, f->model_remaining);
		hdr.remaining_data_length =
			f->model_remaining - hdr.data_length;
	} else {
		switch (sel >> 6) {
		case 0:
			hdr.remaining_data_length = 0;
			break;
		case 1:
			hdr.remaining_data_length = rd16(f);
			break;
		case 2:
			hdr.remaining_data_length = (uint32_t)rd16(f) * 4;
			break;
		default:
			hdr.remaining_data_length = rd32(f);
			break;
		}
	}
	hdr.data_offset = hdr.data_length > 0 ? SMBDIRECT_DATA_OFFSET : 0;
	buf = talloc_size(f->mem, SMBDIRECT_DATA_OFFSET + hdr.data_length);
	CHECK(buf != NULL);
	hlen = smbdirect_data_header_encode(
		&hdr, buf, SMBDIRECT_DATA_OFFSET + hdr.data_length);
	CHECK(hlen > 0);
	fill_pattern(f, buf + hlen, hdr.data_length);
	if (hdr.data_length > 0 && (sel & 0x20) != 0) {
		buf[hlen] = 0xcc;
	}
	recv_message(f, buf, hlen + hdr.data_length);
	talloc_free(buf);
}

static void recv_raw(struct fz *f)
{
	size_t len = rd16(f);
	size_t left = f->in_len - f->pos;

	if (len > left) {
		len = left;
	}
	recv_message(f, f->in + f->pos, len);
	f->pos += len;
}

static void send_complete(struct fz *f)
{
	uint8_t arg = rd8(f);
	uint32_t count;
	uint32_t i;
	bool too_many = false;

	if (arg == 0xff) {
		/* More than outstanding: a local error (smbdirect_engine.h). */
		count = f->tx_count + 1;
		too_many = true;
	} else {
		count = min32(arg, f->tx_count);
	}
	if (f->terminated) {
		smbdirect_engine_on_send_complete(f->engine, f->now, count);
		return;
	}
	if (!too_many) {
		for (i = 0; i < count; i++) {
			int slot = f->tx_ring[f->tx_first];

			f->tx_first = (f->tx_first + 1) % f->tx_capacity;
			f->tx_count -= 1;
			if (slot >= 0) {
				CHECK(f->msgs[slot].mem != NULL);
				CHECK(f->msgs[slot].frags_outstanding > 0);
				f->msgs[slot].frags_outstanding -= 1;
			}
		}
	}
	TRACE("send_complete(%u)\n", count);
	smbdirect_engine_on_send_complete(f->engine, f->now, count);
	if (too_many) {
		CHECK(f->terminated);
	}
}

/* smbdirect_engine_handle_expiry(), whether a timer is due or not, checked
 * against the timer model ([MS-SMBD] 3.1.6.1, 3.1.6.2). */
static void handle_expiry(struct fz *f)
{
	bool negotiate = f->now >= f->negotiate_deadline;
	bool keepalive = f->now >= f->keepalive_deadline;
	bool was_terminated = f->terminated;

	if (!was_terminated && !negotiate && !keepalive &&
	    f->now >= f->idle_deadline) {
		/* The idle timer: the next message is a keepalive. */
		f->idle_deadline = SMBDIRECT_NO_EXPIRY;
		f->keepalive_due = true;
		f->keepalive_deadline =
			f->now +
			(uint64_t)f->settings.keepalive_timeout_ms * NS_PER_MS;
	}
	smbdirect_engine_handle_expiry(f->engine, f->now);
	if (was_terminated) {
		return;
	}
	if (negotiate) {
		CHECK(f->terminated);
		CHECK(f->negotiate_failed ||
		      smbdirect_engine_reason(f->engine) ==
			      SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);
	} else if (keepalive) {
		CHECK(f->terminated);
		CHECK(smbdirect_engine_reason(f->engine) ==
		      SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	}
	/* Everything due was handled. */
	CHECK(smbdirect_engine_get_expiry(f->engine) > f->now);
}

static void advance(struct fz *f)
{
	uint64_t ms = rd16(f);
	uint8_t scale = rd8(f);
	uint64_t expiry;

	ms <<= (scale % 4) * 4;
	f->now += ms * NS_PER_MS;
	expiry = smbdirect_engine_get_expiry(f->engine);
	TRACE("advance(%llu ms)%s\n", (unsigned long long)ms,
	      expiry <= f->now ? " expiry" : "");
	if (expiry <= f->now) {
		handle_expiry(f);
	}
}

static void op_submit(struct fz *f)
{
	size_t length = rd16(f);
	uint8_t scale = rd8(f);
	uint8_t split = rd8(f);
	uint16_t cuts[3];

	cuts[0] = rd16(f);
	cuts[1] = rd16(f);
	cuts[2] = rd16(f);
	switch (scale % 8) {
	case 6:
		length <<= 2;
		break;
	case 7:
		/* Around the peer's MaxFragmentedSize. */
		if (f->connected) {
			length = (size_t)f->params.max_fragmented_send_size +
				 length % 3 - 1;
		}
		break;
	default:
		length %= 4096;
		break;
	}
	submit(f, length, split % FZ_MAX_IOV + 1, cuts);
}

static void inject(struct fz *f)
{
	uint8_t which = rd8(f);
	uint8_t arg = rd8(f);

	TRACE("inject(%u, %u)\n", which % 8, arg);
	switch (which % 8) {
	case 0:
		f->send_fail = EIO;
		break;
	case 1:
		f->post_fail = true;
		break;
	case 2:
		/* Any value, even out of range, is a valid reason here. */
		smbdirect_engine_fail(f->engine, (enum smbdirect_reason)arg,
				      arg & 1 ? NULL : "injected");
		CHECK(f->terminated);
		break;
	case 3:
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
		break;
	case 4:
		CHECK(smbdirect_engine_start(f->engine, f->now) == EINVAL);
		break;
	case 5:
		/* A transport that reports a receive it never posted: the
		 * engine ends the connection (a local error). */
		if (f->rx_outstanding == 0) {
			uint8_t junk[SMBDIRECT_DATA_OFFSET] = {0};

			smbdirect_engine_on_recv(f->engine, f->now, junk,
						 arg % sizeof(junk));
			CHECK(f->terminated);
		}
		break;
	case 6: {
		/* Bad arguments are refused before anything else. */
		struct smbdirect_engine_msg bad = {0};

		CHECK(smbdirect_engine_submit(f->engine, f->now, NULL) ==
		      EINVAL);
		bad.iov_count = arg % 3 + 1;
		CHECK(smbdirect_engine_submit(f->engine, f->now, &bad) ==
		      EINVAL);
		break;
	}
	default:
		/* Harmless: the engine ignores a spurious wake-up. */
		smbdirect_engine_recv_buffers_available(f->engine, f->now);
		break;
	}
}

/* --- invariants between events ----------------------------------------- */

static void check_state(struct fz *f)
{
	struct smbdirect_engine_stats st;
	uint32_t queued;
	uint32_t ceiling;
	uint32_t room;
	uint32_t grant;
	bool may_send;

	/* The negotiated values exist exactly when negotiation succeeded,
	 * and stay after the end. */
	if (f->connected) {
		const struct smbdirect_params *p =
			smbdirect_engine_params(f->engine);

		CHECK(p != NULL);
		CHECK(p->protocol == f->params.protocol &&
		      p->max_send_size == f->params.max_send_size &&
		      p->max_receive_size == f->params.max_receive_size &&
		      p->max_fragmented_send_size ==
			      f->params.max_fragmented_send_size &&
		      p->max_fragmented_receive_size ==
			      f->params.max_fragmented_receive_size &&
		      p->max_read_write_size == f->params.max_read_write_size &&
		      p->receive_credit_target ==
			      f->params.receive_credit_target &&
		      p->send_credit_target == f->params.send_credit_target);
	} else {
		CHECK(smbdirect_engine_params(f->engine) == NULL);
	}
	if (f->terminated) {
		CHECK(smbdirect_engine_state(f->engine) ==
		      SMBDIRECT_STATE_TERMINATED);
		CHECK(smbdirect_engine_get_expiry(f->engine) ==
		      SMBDIRECT_NO_EXPIRY);
		return;
	}
	CHECK(smbdirect_engine_state(f->engine) != SMBDIRECT_STATE_TERMINATED);
	CHECK(smbdirect_engine_get_expiry(f->engine) ==
	      min64(f->negotiate_deadline,
		    min64(f->idle_deadline, f->keepalive_deadline)));
	smbdirect_engine_get_stats(f->engine, &st);
	queued = queued_messages(f);
	CHECK(st.receives_posted == f->rx_outstanding);
	CHECK(st.sends_outstanding == f->tx_count);
	CHECK(st.queued_messages == queued);
	if (!f->connected) {
		return;
	}
	CHECK(smbdirect_engine_state(f->engine) == SMBDIRECT_STATE_CONNECTED);
	CHECK(st.send_credits == f->engine_send_credits);
	CHECK(st.receive_credits == f->peer_credits);
	CHECK(f->peer_credits <= f->rx_outstanding);
	if (f->corked) {
		return;
	}

	/* Liveness: with nothing corked, the engine has posted and sent all
	 * that its credits allow ([MS-SMBD] 3.1.5.1, 3.1.5.9). This mirrors
	 * the policy documented in lib/core/engine.c. */
	ceiling = f->receive_credit_target;
	if (f->engine_send_credits == 1 && queued > 0 &&
	    ceiling < f->peer_credits + 1) {
		ceiling = f->peer_credits + 1;
	}
	ceiling = min32(ceiling, (uint32_t)f->settings.receive_credit_max + 1);
	ceiling = min32(ceiling, UINT16_MAX);
	if (f->pool_limit < 0) {
		CHECK(f->rx_outstanding >= ceiling);
	}
	room = ceiling > f->peer_credits ? ceiling - f->peer_credits : 0;
	grant = min32(f->rx_outstanding - f->peer_credits, room);
	may_send = f->engine_send_credits > 0 &&
		   !(f->engine_send_credits == 1 && grant == 0) &&
		   f->tx_count < f->settings.max_outstanding_sends;
	if (queued > 0) {
		CHECK(!may_send);
	} else if (f->response_owed || f->keepalive_due ||
		   (grant > 0 &&
		    f->peer_credits <= (f->receive_credit_target - 1) / 2)) {
		CHECK(!may_send);
	}
}

/* --- driver ----------------------------------------------------------- */

static void small_settings(struct smbdirect_settings *s, const uint8_t *b)
{
	static const uint32_t send_sizes[8] = {128, 129, 136,  200,
					       256, 512, 1364, 4096};
	static const uint32_t recv_sizes[8] = {128, 136,  256,  511,
					       512, 600, 1364, 8192};

	s->max_send_size = send_sizes[b[0] % 8];
	s->max_receive_size = recv_sizes[b[1] % 8];
	s->max_fragmented_size = (b[0] & 0x80) != 0 ? 262144 : 131072;
	/* Both at least 2 (smbdirect_settings_validate()). */
	s->send_credit_target = (uint16_t)(b[2] % 8 + 2);
	s->receive_credit_max = (uint16_t)(b[3] % 8 + 2);
	s->max_outstanding_sends = (uint16_t)(b[4] % 8 + 1);
	if ((b[3] & 0x80) != 0) {
		/* Credits at the 16-bit limit. */
		s->receive_credit_max = (uint16_t)(UINT16_MAX - (b[3] & 3));
		s->send_credit_target = (uint16_t)(UINT16_MAX - (b[2] & 3));
		/* The receive pool stays within 256 MiB. */
		s->max_receive_size = min32(s->max_receive_size, 1364);
	}
	s->max_read_write_size = 65536;
	s->negotiate_timeout_ms = (uint32_t)(b[5] % 16 + 1) * 10;
	s->keepalive_interval_ms = (b[5] & 0x30) == 0 ? 0 : 50;
	s->keepalive_timeout_ms = (b[5] & 0x40) != 0 ? 1 : 20;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz *f;
	uint8_t flags;
	uint8_t sb[6];
	unsigned int steps = 0;
	int i;

	if (fz_trace < 0) {
		const char *v = getenv("FUZZ_ENGINE_TRACE");

		fz_trace = v != NULL && v[0] != '\0' && v[0] != '0';
	}
	f = talloc_zero(NULL, struct fz);
	CHECK(f != NULL);
	f->mem = f;
	f->in = data;
	f->in_len = size;
	f->now = 1000 * NS_PER_MS;

	flags = rd8(f);
	for (i = 0; i < 6; i++) {
		sb[i] = rd8(f);
	}
	f->role = (flags & 1) != 0 ? SMBDIRECT_ROLE_RESPONDER
				   : SMBDIRECT_ROLE_INITIATOR;
	smbdirect_settings_default(&f->settings);
	if ((flags & 4) != 0) {
		small_settings(&f->settings, sb);
	}
	CHECK(smbdirect_settings_validate(&f->settings, NULL));
	f->reentry = (flags >> 3) & 3;
	f->close_on_send_done = (flags & 0x40) != 0;
	if ((flags & 0x80) != 0) {
		f->transport_reentry = (sb[1] >> 3) & 0xf;
		f->close_at = (sb[2] >> 3) + 1u;
	}
	f->pool_limit = (flags & 0x20) != 0 ? sb[4] % 4 : -1;

	f->tx_capacity = f->settings.max_outstanding_sends;
	f->tx_ring = talloc_array(f, int, f->tx_capacity);
	CHECK(f->tx_ring != NULL);
	f->engine = smbdirect_engine_new(f, f->role, &f->settings,
					 &fz_callbacks, f);
	CHECK(f->engine != NULL);
	f->buffer_size = smbdirect_engine_receive_buffer_size(f->engine);
	CHECK(f->buffer_size >= SMBDIRECT_NEGOTIATE_RECEIVE_SIZE);
	CHECK(f->buffer_size >= f->settings.max_receive_size);
	CHECK(smbdirect_engine_state(f->engine) == SMBDIRECT_STATE_IDLE);
	CHECK(smbdirect_engine_params(f->engine) == NULL);

	TRACE("start: role %d, send %u receive %u credits %u/%u sends %u\n",
	      (int)f->role, f->settings.max_send_size,
	      f->settings.max_receive_size, f->settings.send_credit_target,
	      f->settings.receive_credit_max,
	      f->settings.max_outstanding_sends);
	f->negotiate_deadline =
		f->now + (uint64_t)f->settings.negotiate_timeout_ms * NS_PER_MS;
	f->idle_deadline = SMBDIRECT_NO_EXPIRY;
	f->keepalive_deadline = SMBDIRECT_NO_EXPIRY;
	CHECK(smbdirect_engine_start(f->engine, f->now) == 0);
	check_state(f);
	if ((flags & 2) != 0) {
		uint8_t a = rd8(f), b = rd8(f), c = rd8(f), d = rd8(f);

		recv_negotiate(f, a, b, c, d);
		check_state(f);
	}

	while (f->pos < f->in_len && steps++ < 4096) {
		uint8_t op = rd8(f);

		switch (op % OP_COUNT) {
		case OP_RECV_RAW:
			recv_raw(f);
			break;
		case OP_RECV_DATA:
			recv_data(f);
			break;
		case OP_RECV_NEGOTIATE: {
			uint8_t a = rd8(f), b = rd8(f), c = rd8(f), d = rd8(f);

			recv_negotiate(f, a, b, c, d);
			break;
		}
		case OP_SEND_COMPLETE:
			send_complete(f);
			break;
		case OP_ADVANCE:
			advance(f);
			break;
		case OP_SUBMIT:
			op_submit(f);
			break;
		case OP_CORK:
			TRACE("cork\n");
			smbdirect_engine_cork(f->engine);
			f->corked = true;
			break;
		case OP_UNCORK:
			TRACE("uncork\n");
			f->corked = false;
			smbdirect_engine_uncork(f->engine, f->now);
			break;
		case OP_RECV_BUFFERS: {
			uint8_t limit = rd8(f);

			f->pool_limit =
				limit == 0xff
					? -1
					: limit % (f->settings.receive_credit_max +
						   2);
			TRACE("recv_buffers_available(pool %lld)\n",
			      (long long)f->pool_limit);
			smbdirect_engine_recv_buffers_available(f->engine,
								f->now);
			break;
		}
		case OP_INJECT:
			inject(f);
			break;
		case OP_EXPIRY:
			TRACE("handle_expiry\n");
			handle_expiry(f);
			break;
		}
		check_state(f);
	}

	/* The end: close, and every message must be ours again. */
	if (!f->terminated) {
		smbdirect_engine_close(f->engine);
		CHECK(f->terminated);
		CHECK(smbdirect_engine_reason(f->engine) ==
		      SMBDIRECT_REASON_LOCAL_CLOSE);
	}
	for (i = 0; i < FZ_MAX_MSGS; i++) {
		CHECK(f->msgs[i].mem == NULL);
	}
	CHECK(f->terminated_calls == 1);
	/* Events after the end are ignored and call nothing. */
	smbdirect_engine_handle_expiry(f->engine, f->now + 1000000 * NS_PER_MS);
	smbdirect_engine_on_send_complete(f->engine, f->now, 1);
	smbdirect_engine_recv_buffers_available(f->engine, f->now);
	talloc_free(f);
	return 0;
}
