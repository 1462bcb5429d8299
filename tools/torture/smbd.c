/*
 * smbdirect-torture: [MS-SMBD] played by hand on a raw endpoint:
 * negotiation in either role, data transfer messages with credits kept
 * as 3.1.5.1 and 3.1.5.8 say (when an entry does not break them on
 * purpose), reassembly, keepalive answers, and the probe, a request a
 * working endpoint answers.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

/* What we announce: our receive slots are TP_RECV_SIZE bytes, but we ask
 * for the Linux peers' 1364, as a conforming peer would. */
#define OUR_SIZE 1364u
#define OUR_FRAGMENTED 1048576u

/* A whole upper-layer message waiting for sd_recv_message(). */
struct sd_msg {
	struct sd_msg *next;
	size_t length;
	uint8_t data[];
};

static struct sd_msg *queue_head(struct sd *s)
{
	return (struct sd_msg *)s->frag_queue;
}

struct smbdirect_negotiate_request sd_default_request(void)
{
	struct smbdirect_negotiate_request req = {
		.min_version = SMBDIRECT_PROTOCOL_VERSION,
		.max_version = SMBDIRECT_PROTOCOL_VERSION,
		.credits_requested = TP_RECV_SLOTS,
		.preferred_send_size = OUR_SIZE,
		.max_receive_size = OUR_SIZE,
		.max_fragmented_size = OUR_FRAGMENTED,
	};
	return req;
}

struct smbdirect_negotiate_response sd_default_response(uint16_t grants)
{
	struct smbdirect_negotiate_response rsp = {
		.min_version = SMBDIRECT_PROTOCOL_VERSION,
		.max_version = SMBDIRECT_PROTOCOL_VERSION,
		.negotiated_version = SMBDIRECT_PROTOCOL_VERSION,
		.credits_requested = TP_RECV_SLOTS,
		.credits_granted = grants,
		.status = SMBDIRECT_STATUS_SUCCESS,
		.max_read_write_size = 8388608,
		.preferred_send_size = OUR_SIZE,
		.max_receive_size = OUR_SIZE,
		.max_fragmented_size = OUR_FRAGMENTED,
	};
	return rsp;
}

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

void sd_put_header(uint8_t *b, uint16_t credits_requested,
		   uint16_t credits_granted, uint16_t flags,
		   uint32_t remaining, uint32_t offset, uint32_t length)
{
	put16(b, credits_requested);
	put16(b + 2, credits_granted);
	put16(b + 4, flags);
	put16(b + 6, 0);
	put32(b + 8, remaining);
	put32(b + 12, offset);
	put32(b + 16, length);
}

uint16_t sd_owed(const struct sd *s)
{
	uint32_t posted = s->ep->recvs_posted;

	if (posted <= s->peer_credits) {
		return 0;
	}
	posted -= s->peer_credits;
	return posted > UINT16_MAX ? UINT16_MAX : (uint16_t)posted;
}

void sd_granted(struct sd *s, uint16_t n)
{
	s->peer_credits += n;
}

int sd_send_raw(struct sd *s, const void *msg, size_t len)
{
	if (s->send_credits > 0) {
		s->send_credits -= 1;
	}
	return tp_send(s->ep, msg, len, false, 0, 2000);
}

/* An empty message granting what we owe (answers a keepalive too). */
static int send_credits_only(struct sd *s)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];
	/* no-credit: the peer's sends stay bounded by what we granted,
	 * so its grants to us are bounded too. */
	uint16_t grant = s->no_refill ? 0 : sd_owed(s);

	if (s->send_credits == 0 || (s->send_credits == 1 && grant == 0)) {
		return -1;
	}
	sd_put_header(b, TP_RECV_SLOTS, grant, 0, 0, 0, 0);
	sd_granted(s, grant);
	return sd_send_raw(s, b, sizeof(b)) == IBV_WC_SUCCESS ? 0 : -1;
}

static void queue_message(struct sd *s, const uint8_t *data, size_t len)
{
	struct sd_msg *m = malloc(sizeof(*m) + (len > 0 ? len : 1));
	struct sd_msg **tail = (struct sd_msg **)&s->frag_queue;

	if (m == NULL) {
		return;
	}
	m->next = NULL;
	m->length = len;
	memcpy(m->data, data, len);
	while (*tail != NULL) {
		tail = &(*tail)->next;
	}
	*tail = m;
}

/* One wire message from the peer, after negotiation. Returns false if it
 * breaks [MS-SMBD] (recorded in s->broken). */
static bool take(struct sd *s, const struct tp_rx *rx)
{
	struct smbdirect_data_header h;
	enum smbdirect_wire_error err =
		smbdirect_data_header_decode(rx->data, rx->length, &h);

	s->messages_in += 1;
	if (err != SMBDIRECT_WIRE_OK) {
		snprintf(s->broken, sizeof(s->broken),
			 "the peer sent a bad data message (%zu bytes: %s)",
			 rx->length, smbdirect_wire_error_string(err));
		return false;
	}
	if (s->peer_credits > 0) {
		s->peer_credits -= 1;
	}
	s->send_credits += h.credits_granted;
	s->peer_requests = h.credits_requested;
	if (h.data_length > 0 || h.remaining_data_length > 0) {
		const uint8_t *p = rx->data + h.data_offset;
		uint64_t total = (uint64_t)s->frag_len + h.data_length +
				 h.remaining_data_length;

		if (total > OUR_FRAGMENTED * 16ull) {
			snprintf(s->broken, sizeof(s->broken),
				 "the peer announced a %llu-byte message",
				 (unsigned long long)total);
			return false;
		}
		if (s->frag_len + h.data_length > s->frag_cap) {
			size_t cap = (size_t)total;
			uint8_t *n = realloc(s->frag, cap > 0 ? cap : 1);

			if (n == NULL) {
				return false;
			}
			s->frag = n;
			s->frag_cap = cap;
		}
		memcpy(s->frag + s->frag_len, p, h.data_length);
		s->frag_len += h.data_length;
		if (h.remaining_data_length == 0) {
			queue_message(s, s->frag, s->frag_len);
			s->frag_len = 0;
		}
	}
	if ((h.flags & SMBDIRECT_FLAG_RESPONSE_REQUESTED) != 0) {
		if (send_credits_only(s) == 0) {
			s->keepalives_answered += 1;
		}
	} else if (s->peer_credits == 0 && s->send_credits > 1 &&
		   !s->no_refill) {
		/* The peer is out of our credits: refill it. */
		send_credits_only(s);
	}
	return true;
}

/* Take what arrived, for at most timeout_ms: 1 if a whole message is
 * queued, 0 if not, -1 if the connection ended or the peer broke the
 * protocol. */
static int pump(struct sd *s, int timeout_ms)
{
	uint64_t t0 = tp_now();

	while (queue_head(s) == NULL) {
		struct tp_rx rx;
		int left = timeout_ms - (int)tp_ms_since(t0);
		int got = tp_recv(s->ep, &rx, left > 0 ? left : 0);
		bool ok;

		if (got < 0) {
			return -1;
		}
		if (got == 0) {
			return 0;
		}
		ok = take(s, &rx);
		free(rx.data);
		if (!ok) {
			return -1;
		}
	}
	return 1;
}

int sd_recv_message(struct sd *s, uint8_t **msg, size_t *len, int timeout_ms)
{
	struct sd_msg *m;
	int ret = pump(s, timeout_ms);

	if (ret <= 0) {
		return ret;
	}
	m = queue_head(s);
	s->frag_queue = m->next;
	*len = m->length;
	*msg = malloc(m->length > 0 ? m->length : 1);
	if (*msg != NULL) {
		memcpy(*msg, m->data, m->length);
	}
	free(m);
	return *msg != NULL ? 1 : -1;
}

int sd_send_message(struct sd *s, const void *data, size_t len, int timeout_ms)
{
	const uint8_t *p = data;
	size_t chunk = s->max_send > SMBDIRECT_DATA_OFFSET
			       ? s->max_send - SMBDIRECT_DATA_OFFSET
			       : 1;
	uint64_t t0 = tp_now();
	size_t sent = 0;
	uint8_t buf[TP_SEND_SIZE];

	if (chunk > sizeof(buf) - SMBDIRECT_DATA_OFFSET) {
		chunk = sizeof(buf) - SMBDIRECT_DATA_OFFSET;
	}
	while (sent < len) {
		size_t n = len - sent < chunk ? len - sent : chunk;
		uint16_t grant;

		/* 3.1.5.1: a credit for each message, the last one only for
		 * a message that grants. */
		while (s->send_credits == 0 ||
		       (s->send_credits == 1 && sd_owed(s) == 0)) {
			int left = timeout_ms - (int)tp_ms_since(t0);

			if (left <= 0 || s->ep->end != TP_UP) {
				return -1;
			}
			if (pump(s, left > 50 ? 50 : left) < 0) {
				return -1;
			}
		}
		grant = sd_owed(s);
		sd_put_header(buf, TP_RECV_SLOTS, grant, 0,
			      (uint32_t)(len - sent - n), SMBDIRECT_DATA_OFFSET,
			      (uint32_t)n);
		memset(buf + SMBDIRECT_DATA_HEADER_MIN, 0,
		       SMBDIRECT_DATA_OFFSET - SMBDIRECT_DATA_HEADER_MIN);
		memcpy(buf + SMBDIRECT_DATA_OFFSET, p + sent, n);
		sd_granted(s, grant);
		if (sd_send_raw(s, buf, SMBDIRECT_DATA_OFFSET + n) !=
		    IBV_WC_SUCCESS) {
			return -1;
		}
		sent += n;
	}
	return 0;
}

int sd_client_negotiate(struct sd *s, const uint8_t *req, size_t len,
			struct smbdirect_negotiate_response *rsp,
			int timeout_ms)
{
	struct tp_rx rx;
	int got;
	int st = tp_send(s->ep, req, len, false, 0, timeout_ms);

	if (st != IBV_WC_SUCCESS) {
		return st == -1 ? 0 : -1;
	}
	got = tp_recv(s->ep, &rx, timeout_ms);
	if (got <= 0) {
		return got;
	}
	memset(rsp, 0, sizeof(*rsp));
	smbdirect_negotiate_response_decode(rx.data, rx.length, rsp);
	s->response_length = rx.length;
	free(rx.data);
	if (rsp->status == SMBDIRECT_STATUS_SUCCESS &&
	    rsp->negotiated_version == SMBDIRECT_PROTOCOL_VERSION &&
	    rsp->credits_granted > 0) {
		struct smbdirect_negotiate_request q;

		memset(&q, 0, sizeof(q));
		smbdirect_negotiate_request_decode(req, len, &q);
		s->max_send = rsp->max_receive_size < q.preferred_send_size
				      ? rsp->max_receive_size
				      : q.preferred_send_size;
		s->max_receive = OUR_SIZE;
		s->peer_max_fragmented = rsp->max_fragmented_size;
		s->max_read_write = rsp->max_read_write_size;
		s->send_credits = rsp->credits_granted;
		s->peer_credits = 0;
		s->peer_requests = rsp->credits_requested;
	}
	return 1;
}

int sd_server_wait_request(struct sd *s, struct smbdirect_negotiate_request *req,
			   size_t *len, int timeout_ms)
{
	struct tp_rx rx;
	int got = tp_recv(s->ep, &rx, timeout_ms);

	if (got <= 0) {
		return got;
	}
	memset(req, 0, sizeof(*req));
	smbdirect_negotiate_request_decode(rx.data, rx.length, req);
	*len = rx.length;
	free(rx.data);
	return 1;
}

int sd_server_respond(struct sd *s, const struct smbdirect_negotiate_request *req,
		      const uint8_t *rsp_bytes, size_t len)
{
	struct smbdirect_negotiate_response rsp;
	int st;

	memset(&rsp, 0, sizeof(rsp));
	smbdirect_negotiate_response_decode(rsp_bytes, len, &rsp);
	st = tp_send(s->ep, rsp_bytes, len, false, 0, 2000);
	if (st == IBV_WC_SUCCESS && rsp.status == SMBDIRECT_STATUS_SUCCESS) {
		s->max_send = rsp.preferred_send_size < req->max_receive_size
				      ? rsp.preferred_send_size
				      : req->max_receive_size;
		s->max_receive = OUR_SIZE;
		s->peer_max_fragmented = req->max_fragmented_size;
		s->max_read_write = rsp.max_read_write_size;
		s->send_credits = 0; /* the client's first message grants */
		s->peer_credits = rsp.credits_granted;
		s->peer_requests = req->credits_requested;
	}
	return st;
}

/* [MS-SMB2] 2.2.1, 2.2.3: an SMB2 NEGOTIATE request for dialects 2.0.2
 * to 3.0.2 (no negotiate contexts), the first message of every SMB2
 * client. */
static size_t smb2_negotiate(uint8_t *b, uint64_t message_id)
{
	static const uint16_t dialects[] = { 0x0202, 0x0210, 0x0300, 0x0302 };
	size_t i;

	memset(b, 0, 64 + 36 + 8);
	memcpy(b, "\xfeSMB", 4);
	put16(b + 4, 64);           /* StructureSize */
	put16(b + 14, 1);           /* CreditRequest */
	put32(b + 24, (uint32_t)message_id);
	put16(b + 64, 36);          /* StructureSize */
	put16(b + 66, 4);           /* DialectCount */
	put16(b + 68, 1);           /* SecurityMode: signing enabled */
	memcpy(b + 76, "smbdirect-tortur", 16); /* ClientGuid */
	for (i = 0; i < 4; i++) {
		put16(b + 100 + 2 * i, dialects[i]);
	}
	return 64 + 36 + 8;
}

int sd_probe(struct sd *s, enum probe_kind kind, int timeout_ms)
{
	uint8_t req[128];
	size_t len;
	uint64_t t0 = tp_now();

	if (kind == PROBE_SDTEST) {
		req[0] = 'P';
		len = 1;
	} else {
		len = smb2_negotiate(req, s->next_message_id++);
	}
	if (sd_send_message(s, req, len, timeout_ms) != 0) {
		return -1;
	}
	for (;;) {
		uint8_t *m;
		size_t n;
		int left = timeout_ms - (int)tp_ms_since(t0);
		int got = sd_recv_message(s, &m, &n, left > 0 ? left : 0);
		bool answer;

		if (got <= 0) {
			return got;
		}
		answer = kind == PROBE_SDTEST
				 ? n >= 1 && m[0] == 'p'
				 : n >= 64 && memcmp(m, "\xfeSMB", 4) == 0 &&
					   (m[16] & 1) != 0;
		free(m);
		if (answer) {
			return 1;
		}
	}
}

void sd_free(struct sd *s)
{
	while (queue_head(s) != NULL) {
		struct sd_msg *m = queue_head(s);

		s->frag_queue = m->next;
		free(m);
	}
	free(s->frag);
	tp_free(s->ep);
	memset(s, 0, sizeof(*s));
}
