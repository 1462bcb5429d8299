/*
 * smbdirect-torture: the entries of docs/robustness.md's catalogue that
 * a peer on the wire can play. Each is a function on a fresh connection;
 * its name, roles and the outcome a conforming endpoint shows are in the
 * table at the end.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torture.h"

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

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/* --- negotiation, as the client ------------------------------------------- */

/* Send these request bytes and say what came back. A success response is
 * followed by the probe (the connection must also work). */
static enum outcome client_request(struct run *r, struct sd *s,
				   const uint8_t *req, size_t len,
				   char *detail, size_t size)
{
	struct smbdirect_negotiate_response rsp;
	uint64_t t0 = tp_now();
	int got = sd_client_negotiate(s, req, len, &rsp, r->wait_ms);

	if (got < 0) {
		snprintf(detail, size, "ended after %llu ms (%s), no response",
			 (unsigned long long)tp_ms_since(t0),
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	if (got == 0) {
		snprintf(detail, size, "no response within %d ms", r->wait_ms);
		return OUT_NOTHING;
	}
	if (s->response_length < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE ||
	    rsp.status != SMBDIRECT_STATUS_SUCCESS) {
		/* 3.1.5.3: a failure response, then the end. */
		struct tp_rx rx;
		int more = tp_recv(s->ep, &rx, r->wait_ms);

		if (more > 0) {
			free(rx.data);
		}
		snprintf(detail, size,
			 "response of %zu bytes, Status 0x%08x; then %s",
			 s->response_length, rsp.status,
			 s->ep->end != TP_UP ? "the end" : "the connection stayed");
		return s->ep->end != TP_UP ? OUT_REFUSED : OUT_ANSWERED;
	}
	got = sd_probe(s, r->probe, r->wait_ms);
	snprintf(detail, size,
		 "success: CreditsGranted %u, MaxReceiveSize %u, "
		 "PreferredSendSize %u, MaxFragmentedSize %u, "
		 "MaxReadWriteSize %u; probe %s",
		 rsp.credits_granted, rsp.max_receive_size,
		 rsp.preferred_send_size, rsp.max_fragmented_size,
		 rsp.max_read_write_size,
		 got > 0 ? "answered" : got == 0 ? "not answered" : "ended it");
	return got > 0 ? OUT_ANSWERED : got == 0 ? OUT_NOTHING : OUT_ENDED;
}

static enum outcome client_struct(struct run *r, struct sd *s,
				  const struct smbdirect_negotiate_request *q,
				  char *detail, size_t size)
{
	uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];

	smbdirect_negotiate_request_encode(q, b, sizeof(b));
	return client_request(r, s, b, sizeof(b), detail, size);
}

static enum outcome neg_short(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];
	struct smbdirect_negotiate_request q = sd_default_request();

	smbdirect_negotiate_request_encode(&q, b, sizeof(b));
	return client_request(r, s, b, 10, d, n);
}

static enum outcome neg_long(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[512];
	struct smbdirect_negotiate_request q = sd_default_request();
	size_t i;

	for (i = 0; i < sizeof(b); i++) {
		b[i] = (uint8_t)(i * 37 + 11);
	}
	smbdirect_negotiate_request_encode(&q, b, sizeof(b));
	return client_request(r, s, b, sizeof(b), d, n);
}

static enum outcome neg_garbage(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];

	memset(b, 0xa5, sizeof(b));
	return client_request(r, s, b, sizeof(b), d, n);
}

static enum outcome neg_no_0100(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.min_version = 0x0200;
	q.max_version = 0x0300;
	return client_struct(r, s, &q, d, n);
}

static enum outcome neg_zero_credits(struct run *r, struct sd *s, char *d,
				     size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.credits_requested = 0;
	return client_struct(r, s, &q, d, n);
}

static enum outcome neg_small_sizes(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.max_receive_size = 127;
	q.max_fragmented_size = 131071;
	return client_struct(r, s, &q, d, n);
}

static enum outcome neg_min_sizes(struct run *r, struct sd *s, char *d,
				  size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.preferred_send_size = 128;
	q.max_receive_size = 128;
	q.max_fragmented_size = 131072;
	return client_struct(r, s, &q, d, n);
}

static enum outcome neg_top_bit(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.preferred_send_size = 0x80000000u;
	q.max_receive_size = 0x80000000u;
	q.max_fragmented_size = 0x80000000u;
	return client_struct(r, s, &q, d, n);
}

static enum outcome neg_all_ones(struct run *r, struct sd *s, char *d,
				 size_t n)
{
	struct smbdirect_negotiate_request q = sd_default_request();

	q.preferred_send_size = 0xFFFFFFFFu;
	q.max_receive_size = 0xFFFFFFFFu;
	q.max_fragmented_size = 0xFFFFFFFFu;
	return client_struct(r, s, &q, d, n);
}

static enum outcome data_first(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_DATA_OFFSET + 4];

	sd_put_header(b, 64, 64, 0, 0, SMBDIRECT_DATA_OFFSET, 4);
	memset(b + SMBDIRECT_DATA_HEADER_MIN, 0, sizeof(b) - 20);
	memcpy(b + SMBDIRECT_DATA_OFFSET, "data", 4);
	return client_request(r, s, b, sizeof(b), d, n);
}

/* Connect and say nothing: the endpoint's negotiate timer must end it. */
static enum outcome never_negotiate(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	uint64_t t0 = tp_now();
	int bound = r->wait_ms > 8000 ? r->wait_ms : 8000;

	while (s->ep->end == TP_UP && (int)tp_ms_since(t0) < bound) {
		tp_pump(s->ep, 50);
	}
	if (s->ep->end == TP_UP) {
		snprintf(d, n, "still up after %d ms", bound);
		return OUT_NOTHING;
	}
	snprintf(d, n, "ended after %llu ms (%s)",
		 tp_end_ms(s->ep, t0),
		 tp_end_string(s->ep));
	return OUT_ENDED;
}

/* --- negotiation, as the server --------------------------------------------- */

/* Wait for the client's request, answer with these bytes, and watch. */
static enum outcome server_response(struct run *r, struct sd *s,
				    const uint8_t *rsp, size_t len,
				    char *detail, size_t size)
{
	struct smbdirect_negotiate_request req;
	size_t qlen = 0;
	int got = sd_server_wait_request(s, &req, &qlen, r->wait_ms);
	int st;

	if (got <= 0) {
		snprintf(detail, size, "no negotiate request (%s)",
			 got < 0 ? tp_end_string(s->ep) : "timeout");
		return OUT_ERROR;
	}
	if (len == 0) {
		/* Never answer: the client's negotiate timer must end it. */
		uint64_t t0 = tp_now();
		int bound = r->wait_ms > 8000 ? r->wait_ms : 8000;

		while (s->ep->end == TP_UP && (int)tp_ms_since(t0) < bound) {
			tp_pump(s->ep, 50);
		}
		if (s->ep->end == TP_UP) {
			snprintf(detail, size, "still up after %d ms", bound);
			return OUT_NOTHING;
		}
		snprintf(detail, size, "ended after %llu ms (%s)",
			 tp_end_ms(s->ep, t0),
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	st = sd_server_respond(s, &req, rsp, len);
	if (st != IBV_WC_SUCCESS) {
		snprintf(detail, size, "our response did not go (%d: %s)", st,
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	return observe(r, s, detail, size);
}

static enum outcome server_struct(struct run *r, struct sd *s,
				  const struct smbdirect_negotiate_response *p,
				  size_t len, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];

	smbdirect_negotiate_response_encode(p, b, sizeof(b));
	return server_response(r, s, b, len, d, n);
}

static enum outcome rsp_short(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	return server_struct(r, s, &p, 20, d, n);
}

static enum outcome rsp_no_0100(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.min_version = p.max_version = p.negotiated_version = 0x0200;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_status_fail(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.status = SMBDIRECT_STATUS_NOT_SUPPORTED;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_zero_credits(struct run *r, struct sd *s, char *d,
				     size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(0);

	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_small_sizes(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.max_receive_size = 127;
	p.max_fragmented_size = 131071;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_top_bit(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.preferred_send_size = 0x80000000u;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_all_ones(struct run *r, struct sd *s, char *d,
				 size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.max_receive_size = 0xFFFFFFFFu;
	p.max_fragmented_size = 0xFFFFFFFFu;
	p.max_read_write_size = 0xFFFFFFFFu;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_rw_zero(struct run *r, struct sd *s, char *d, size_t n)
{
	struct smbdirect_negotiate_response p = sd_default_response(TP_RECV_SLOTS);

	p.max_read_write_size = 0;
	return server_struct(r, s, &p, 32, d, n);
}

static enum outcome rsp_never(struct run *r, struct sd *s, char *d, size_t n)
{
	return server_response(r, s, NULL, 0, d, n);
}

/* --- data transfer (either role, after a good negotiation) ---------------- */

/* Negotiate, then (as the server) take the client's first request, which
 * also gives us credits. */
static int ready(struct run *r, struct sd *s, char *d, size_t n)
{
	if (run_negotiate(r, s, d, n) != 0) {
		return -1;
	}
	if (s->server) {
		uint8_t *m;
		size_t len;
		int got = sd_recv_message(s, &m, &len, r->wait_ms);

		if (got <= 0) {
			snprintf(d, n, "the client sent no first message (%s)",
				 got < 0 ? tp_end_string(s->ep) : "timeout");
			return -1;
		}
		free(m);
	}
	if (s->send_credits == 0) {
		snprintf(d, n, "the peer granted no credit");
		return -1;
	}
	return 0;
}

/* One raw message after a good negotiation; then watch. */
static enum outcome bad_message(struct run *r, struct sd *s, const void *msg,
				size_t len, char *d, size_t n)
{
	int st;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	st = sd_send_raw(s, msg, len);
	if (st != IBV_WC_SUCCESS && st != -2) {
		snprintf(d, n, "our message failed at the wire: %s",
			 st >= 0 ? ibv_wc_status_str(st) : "timeout");
		/* A refused send (the peer's receive too short) ends the
		 * connection: that is its reaction. */
		return s->ep->end != TP_UP ? OUT_ENDED : OUT_NOTHING;
	}
	return observe(r, s, d, n);
}

static enum outcome data_offset_outside(struct run *r, struct sd *s, char *d,
					size_t n)
{
	uint8_t b[32] = { 0 };

	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0, 4096, 8);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome data_offset_unaligned(struct run *r, struct sd *s,
					  char *d, size_t n)
{
	uint8_t b[40] = { 0 };

	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0, 28, 8);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome data_offset_in_header(struct run *r, struct sd *s,
					  char *d, size_t n)
{
	uint8_t b[40] = { 0 };

	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0, 8, 16);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome data_length_beyond(struct run *r, struct sd *s, char *d,
				       size_t n)
{
	uint8_t b[40] = { 0 };

	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0, 24, 1000);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome remaining_over_max(struct run *r, struct sd *s, char *d,
				       size_t n)
{
	uint8_t b[24 + 100] = { 0 };

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	/* The peer's own MaxFragmentedSize: that much remains after 100. */
	sd_put_header(b, TP_RECV_SLOTS, 0, 0, s->peer_max_fragmented, 24,
		      100);
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "our message failed (%s)", tp_end_string(s->ep));
		return OUT_ENDED;
	}
	return observe(r, s, d, n);
}

static enum outcome remaining_wraps(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	uint8_t b[24 + 32] = { 0 };

	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0xFFFFFFF0u, 24, 32);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome remaining_grows(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	uint8_t b[24 + 100] = { 0 };

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 5000, 24, 100);
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the first fragment failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ERROR;
	}
	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 9000, 24, 100);
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the second fragment failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	return observe(r, s, d, n);
}

/* Empty messages that grant nothing, past the credits the peer gave.
 * The peer may keep granting (3.1.5.8) while it has credits of ours to
 * send with, so we take its grants as they come and grant it nothing:
 * once it has used every credit we gave (peer_credits 0, all its
 * messages arrived) and we have none left, our next message is past
 * its credits for certain. A peer that checks ends the connection. */
static enum outcome no_credit(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];
	uint64_t t0;
	bool certain = false;
	int i;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	s->no_refill = true;
	sd_put_header(b, TP_RECV_SLOTS, 0, 0, 0, 0, 0);
	t0 = tp_now();
	for (i = 0; !certain && i < 50000 && s->ep->end == TP_UP &&
		    tp_ms_since(t0) < 15000;
	     i++) {
		uint8_t *m;
		size_t len;
		int got = sd_recv_message(s, &m, &len, 0);

		if (got > 0) {
			free(m);
		} else if (got < 0) {
			break;
		}
		certain = s->send_credits == 0 && s->peer_credits == 0;
		if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
			break;
		}
	}
	if (s->ep->end != TP_UP) {
		snprintf(d, n, "ended after %d messages (%s)", i,
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	if (!certain) {
		snprintf(d, n, "the peer still had credits to grant after "
			       "%d messages", i);
		return OUT_ERROR;
	}
	return observe(r, s, d, n);
}

/* First the credits we really have (our receives), then 65535 more: the
 * peer's count would pass 65535 (3.1.5.8 counts in 16 bits). */
static enum outcome grant_65535(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];
	uint16_t grant;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	grant = sd_owed(s);
	sd_put_header(b, TP_RECV_SLOTS, grant, 0, 0, 0, 0);
	sd_granted(s, grant);
	if (grant == 0 || sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the first grant failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ERROR;
	}
	sd_put_header(b, TP_RECV_SLOTS, 65535, 0, 0, 0, 0);
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the grant of 65535 failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	return observe(r, s, d, n);
}

static enum outcome grant_overflow(struct run *r, struct sd *s, char *d,
				   size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	sd_put_header(b, TP_RECV_SLOTS, 40000, 0, 0, 0, 0);
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the first grant failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
		snprintf(d, n, "the second grant failed (%s)",
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	return observe(r, s, d, n);
}

static enum outcome credits_requested_zero(struct run *r, struct sd *s,
					   char *d, size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];

	sd_put_header(b, 0, 0, 0, 0, 0, 0);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome undefined_flags(struct run *r, struct sd *s, char *d,
				    size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];

	sd_put_header(b, TP_RECV_SLOTS, 0, 0x8000, 0, 0, 0);
	return bad_message(r, s, b, sizeof(b), d, n);
}

static enum outcome oversize_message(struct run *r, struct sd *s, char *d,
				     size_t n)
{
	uint8_t *b;
	size_t len;
	enum outcome o;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	/* One message 100 bytes longer than the peer said it receives. */
	len = s->max_send + 100;
	if (len > TP_SEND_SIZE) {
		len = TP_SEND_SIZE;
	}
	b = calloc(1, len);
	sd_put_header(b, TP_RECV_SLOTS, sd_owed(s), 0, 0, 24,
		      (uint32_t)(len - 24));
	sd_granted(s, sd_owed(s));
	if (sd_send_raw(s, b, len) != IBV_WC_SUCCESS) {
		snprintf(d, n, "our %zu-byte message was refused at the wire "
			       "(%s)", len, tp_end_string(s->ep));
		free(b);
		return s->ep->end != TP_UP ? OUT_ENDED : OUT_NOTHING;
	}
	free(b);
	o = observe(r, s, d, n);
	return o;
}

/* SMB_DIRECT_RESPONSE_REQUESTED on 200 messages (within our credits),
 * then the probe: the endpoint answers them and keeps working. */
static enum outcome response_requested_storm(struct run *r, struct sd *s,
					     char *d, size_t n)
{
	uint8_t b[SMBDIRECT_DATA_HEADER_MIN];
	uint64_t answered0;
	int sent = 0;
	int got;
	uint64_t t0;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	answered0 = s->messages_in;
	t0 = tp_now();
	while (sent < 200 && s->ep->end == TP_UP &&
	       (int)tp_ms_since(t0) < r->wait_ms * 4) {
		uint16_t grant;
		uint8_t *m;
		size_t len;

		if (s->send_credits <= 1) {
			/* Take the answers and grants that came. */
			if (sd_recv_message(s, &m, &len, 20) > 0) {
				free(m);
			}
			continue;
		}
		grant = sd_owed(s);
		sd_put_header(b, TP_RECV_SLOTS, grant,
			      SMBDIRECT_FLAG_RESPONSE_REQUESTED, 0, 0, 0);
		sd_granted(s, grant);
		if (sd_send_raw(s, b, sizeof(b)) != IBV_WC_SUCCESS) {
			break;
		}
		sent += 1;
	}
	if (s->ep->end != TP_UP) {
		snprintf(d, n, "ended after %d requests (%s)", sent,
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	got = s->server ? 1 : sd_probe(s, r->probe, r->wait_ms);
	snprintf(d, n, "%d requests, %llu messages back; %s", sent,
		 (unsigned long long)(s->messages_in - answered0),
		 s->server ? "still up"
			   : got > 0 ? "probe answered" : "probe not answered");
	return got > 0 && sent == 200 ? OUT_ANSWERED : OUT_NOTHING;
}

/* Half a message, then we disconnect: the endpoint must go on serving
 * (the run's liveness check says whether it does). */
static enum outcome disconnect_mid_fragment(struct run *r, struct sd *s,
					    char *d, size_t n)
{
	uint8_t b[24 + 1000];

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	memset(b, 0x42, sizeof(b));
	sd_put_header(b, TP_RECV_SLOTS, sd_owed(s), 0, 100000, 24, 1000);
	sd_granted(s, sd_owed(s));
	sd_send_raw(s, b, sizeof(b));
	snprintf(d, n, "sent 1000 of 101000 bytes, then disconnected");
	return OUT_ANSWERED;
}

/* We go silent: no grants, no answers, no disconnect. The endpoint's
 * keepalive must find out ([MS-SMBD] 3.1.6.2). */
static enum outcome vanish(struct run *r, struct sd *s, char *d, size_t n)
{
	uint64_t t0;

	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	t0 = tp_now();
	while (s->ep->end == TP_UP && (int)tp_ms_since(t0) < r->wait_ms) {
		tp_pump(s->ep, 100);
	}
	if (s->ep->end == TP_UP) {
		snprintf(d, n, "still up after %d ms of silence", r->wait_ms);
		return OUT_NOTHING;
	}
	snprintf(d, n, "ended after %llu ms of silence (%s)",
		 tp_end_ms(s->ep, t0),
		 tp_end_string(s->ep));
	return OUT_ENDED;
}

/* --- buffer descriptors (as the client) --------------------------------------- */

/* Our memory for the endpoint: 64 chunks of 4 KiB, registered once per
 * entry. */
#define DESC_CHUNK 4096u
#define DESC_CHUNKS 64u

/* Ask the endpoint to RDMA-write `len` bytes into our descriptors
 * (sdtest's 'W'), or to RDMA-read them (an SMB2 WRITE with
 * SMB2_CHANNEL_RDMA_V1: the bridge reads before it forwards), and watch.
 * `mem` must not change where the endpoint may not write. */
static enum outcome rdma_request(struct run *r, struct sd *s,
				 const struct smbdirect_buffer_descriptor *dd,
				 size_t count, uint32_t len, const uint8_t *mem,
				 size_t mem_len, char *d, size_t n)
{
	uint8_t req[64 + 48 + 16 * 80];
	size_t qlen;
	uint8_t *m;
	size_t mlen;
	uint64_t t0 = tp_now();
	int got;
	size_t i;
	size_t written = 0;

	if (r->probe == PROBE_SDTEST) {
		req[0] = 'W';
		put32(req + 1, len);
		smbdirect_buffer_descriptors_encode(dd, count, req + 5,
						    sizeof(req) - 5);
		qlen = 5 + 16 * count;
	} else {
		/* [MS-SMB2] 2.2.1, 2.2.21. No session: a server answers
		 * with an error, after the RDMA read if it reads first. */
		memset(req, 0, 64 + 48);
		memcpy(req, "\xfeSMB", 4);
		put16(req + 4, 64);
		put16(req + 12, 9); /* WRITE */
		put16(req + 14, 1);
		put32(req + 24, (uint32_t)s->next_message_id++);
		put16(req + 64, 49);
		put16(req + 66, 0);     /* DataOffset */
		put32(req + 68, 0);     /* Length */
		memset(req + 80, 0xff, 16); /* FileId */
		put32(req + 96, SMB2_CHANNEL_RDMA_V1);
		put32(req + 100, len);  /* RemainingBytes */
		put16(req + 104, 0x70); /* WriteChannelInfoOffset */
		put16(req + 106, (uint16_t)(16 * count));
		smbdirect_buffer_descriptors_encode(dd, count, req + 0x70,
						    sizeof(req) - 0x70);
		qlen = 0x70 + 16 * count;
	}
	if (sd_send_message(s, req, qlen, r->wait_ms) != 0) {
		snprintf(d, n, "the request did not go (%s)",
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	got = sd_recv_message(s, &m, &mlen, r->wait_ms);
	for (i = 0; i < mem_len; i++) {
		written += mem[i] != 0;
	}
	if (got < 0) {
		snprintf(d, n, "ended after %llu ms (%s); %zu of our bytes "
			       "written",
			 (unsigned long long)tp_ms_since(t0),
			 s->broken[0] != '\0' ? s->broken : tp_end_string(s->ep),
			 written);
		return OUT_ENDED;
	}
	if (got == 0) {
		snprintf(d, n, "no answer within %d ms; %zu of our bytes "
			       "written", r->wait_ms, written);
		return OUT_NOTHING;
	}
	if (r->probe == PROBE_SDTEST) {
		snprintf(d, n, "answered '%c'; %zu of our bytes written",
			 mlen > 0 ? m[0] : '?', written);
	} else {
		snprintf(d, n, "answered: SMB2 status 0x%08x; %zu of our "
			       "bytes written",
			 mlen >= 12 ? get32(m + 8) : 0, written);
	}
	free(m);
	return OUT_ANSWERED;
}

/* Which descriptor list an entry sends. */
enum desc_case {
	DC_ZERO_LENGTH,
	DC_WRAPS,
	DC_TOO_MANY,
	DC_OVER_MAX,
	DC_32,
	DC_WRONG_RKEY,
	DC_INVALIDATED,
	DC_SHORT,
};

static enum outcome descriptors(struct run *r, struct sd *s, enum desc_case c,
				char *d, size_t n)
{
	struct smbdirect_buffer_descriptor dd[80];
	size_t count = 1;
	uint32_t len = DESC_CHUNK;
	uint8_t *mem;
	struct ibv_mr *mr;
	enum outcome o;
	size_t i;

	if (s->server) {
		return OUT_SKIPPED;
	}
	if (ready(r, s, d, n) != 0) {
		return OUT_ERROR;
	}
	mem = calloc(DESC_CHUNKS, DESC_CHUNK);
	mr = mem != NULL ? tp_reg(s->ep, mem, DESC_CHUNKS * DESC_CHUNK) : NULL;
	if (mr == NULL) {
		free(mem);
		snprintf(d, n, "cannot register memory");
		return OUT_ERROR;
	}
	for (i = 0; i < 80; i++) {
		dd[i].offset = (uint64_t)(uintptr_t)mem +
			       (i % DESC_CHUNKS) * DESC_CHUNK;
		dd[i].token = mr->rkey;
		dd[i].length = DESC_CHUNK;
	}
	switch (c) {
	case DC_ZERO_LENGTH:
		count = 2;
		dd[1].length = 0;
		break;
	case DC_WRAPS:
		dd[0].offset = UINT64_MAX - 100;
		break;
	case DC_TOO_MANY:
		count = 64;
		len = 64 * DESC_CHUNK;
		break;
	case DC_OVER_MAX:
		/* Two descriptors whose sum passes the endpoint's
		 * MaxReadWriteSize (ours is 8 MiB): 2 x 0x7fffffff. */
		count = 2;
		dd[0].length = dd[1].length = 0x7fffffffu;
		len = DESC_CHUNK;
		break;
	case DC_32:
		count = 32;
		len = 32 * DESC_CHUNK;
		break;
	case DC_WRONG_RKEY:
		dd[0].token = mr->rkey ^ 0x55aa00u;
		break;
	case DC_INVALIDATED:
		/* Registered, described, then deregistered before the
		 * request goes: the rkey names nothing any more. */
		break;
	case DC_SHORT:
		count = 2;
		len = 3 * DESC_CHUNK;
		break;
	}
	if (c == DC_INVALIDATED) {
		ibv_dereg_mr(mr);
		mr = NULL;
	}
	o = rdma_request(r, s, dd, count, len, mem, DESC_CHUNKS * DESC_CHUNK, d,
			 n);
	if (mr != NULL) {
		ibv_dereg_mr(mr);
	}
	free(mem);
	return o;
}

#define DESC_ENTRY(fn, c)                                                  \
	static enum outcome fn(struct run *r, struct sd *s, char *d, size_t n) \
	{                                                                  \
		return descriptors(r, s, c, d, n);                         \
	}
DESC_ENTRY(desc_zero_length, DC_ZERO_LENGTH)
DESC_ENTRY(desc_offset_wraps, DC_WRAPS)
DESC_ENTRY(desc_too_many, DC_TOO_MANY)
DESC_ENTRY(desc_over_max, DC_OVER_MAX)
DESC_ENTRY(desc_32, DC_32)
DESC_ENTRY(desc_wrong_rkey, DC_WRONG_RKEY)
DESC_ENTRY(desc_invalidated_rkey, DC_INVALIDATED)
DESC_ENTRY(desc_short, DC_SHORT)

/* A second negotiate request on a working connection. */
static enum outcome neg_twice(struct run *r, struct sd *s, char *d, size_t n)
{
	uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];
	struct smbdirect_negotiate_request q = sd_default_request();

	if (s->server) {
		return OUT_SKIPPED;
	}
	smbdirect_negotiate_request_encode(&q, b, sizeof(b));
	return bad_message(r, s, b, sizeof(b), d, n);
}

#define ENDS O(OUT_ENDED)
#define WORKS O(OUT_ANSWERED)

const struct entry torture_entries[] = {
	/* negotiation: we are the client */
	{ "neg-short", true, false, ENDS,
	  "a 10-byte negotiate request", neg_short },
	{ "neg-long", true, false, WORKS,
	  "a 512-byte negotiate request (20 good bytes, then garbage)",
	  neg_long },
	{ "neg-garbage", true, false, O(OUT_REFUSED) | ENDS,
	  "20 bytes of 0xa5", neg_garbage },
	{ "neg-no-0100", true, false, O(OUT_REFUSED),
	  "versions 0x0200..0x0300", neg_no_0100 },
	{ "neg-zero-credits", true, false, ENDS,
	  "CreditsRequested 0", neg_zero_credits },
	{ "neg-small-sizes", true, false, ENDS,
	  "MaxReceiveSize 127, MaxFragmentedSize 131071", neg_small_sizes },
	{ "neg-min-sizes", true, false, WORKS,
	  "the smallest legal sizes: 128 / 131072", neg_min_sizes },
	{ "neg-top-bit", true, false, WORKS,
	  "PreferredSendSize, MaxReceiveSize, MaxFragmentedSize 0x80000000",
	  neg_top_bit },
	{ "neg-all-ones", true, false, WORKS,
	  "PreferredSendSize, MaxReceiveSize, MaxFragmentedSize 0xFFFFFFFF",
	  neg_all_ones },
	{ "neg-twice", true, false, ENDS,
	  "a second negotiate request after a good one", neg_twice },
	{ "data-first", true, false, O(OUT_REFUSED) | ENDS,
	  "a data transfer message instead of the negotiate request",
	  data_first },
	{ "never-negotiate", true, false, ENDS,
	  "connect, then say nothing", never_negotiate },
	/* negotiation: we are the server */
	{ "rsp-short", false, true, ENDS,
	  "a 20-byte negotiate response", rsp_short },
	{ "rsp-no-0100", false, true, ENDS,
	  "NegotiatedVersion 0x0200", rsp_no_0100 },
	{ "rsp-status-fail", false, true, ENDS,
	  "Status STATUS_NOT_SUPPORTED", rsp_status_fail },
	{ "rsp-zero-credits", false, true, ENDS,
	  "CreditsGranted 0", rsp_zero_credits },
	{ "rsp-small-sizes", false, true, ENDS,
	  "MaxReceiveSize 127, MaxFragmentedSize 131071", rsp_small_sizes },
	{ "rsp-top-bit", false, true, ENDS,
	  "PreferredSendSize 0x80000000 (above the client's MaxReceiveSize)",
	  rsp_top_bit },
	{ "rsp-all-ones", false, true, WORKS,
	  "MaxReceiveSize, MaxFragmentedSize, MaxReadWriteSize 0xFFFFFFFF",
	  rsp_all_ones },
	{ "rsp-read-write-zero", false, true, WORKS,
	  "MaxReadWriteSize 0", rsp_rw_zero },
	{ "rsp-never", false, true, ENDS,
	  "no negotiate response at all", rsp_never },
	/* data transfer: either role */
	{ "data-offset-outside", true, true, ENDS,
	  "DataOffset 4096 in a 32-byte message", data_offset_outside },
	{ "data-offset-unaligned", true, true, ENDS,
	  "DataOffset 28", data_offset_unaligned },
	{ "data-offset-in-header", true, true, ENDS,
	  "DataOffset 8 with data", data_offset_in_header },
	{ "data-length-beyond", true, true, ENDS,
	  "DataLength 1000 in a 40-byte message", data_length_beyond },
	{ "remaining-grows", true, true, ENDS,
	  "RemainingDataLength 5000, then 9000", remaining_grows },
	{ "remaining-over-max", true, true, ENDS,
	  "RemainingDataLength = the peer's MaxFragmentedSize after 100 bytes",
	  remaining_over_max },
	{ "remaining-wraps", true, true, ENDS,
	  "DataLength 32, RemainingDataLength 0xFFFFFFF0", remaining_wraps },
	{ "no-credit", true, true, ENDS,
	  "messages past the credits granted", no_credit },
	{ "grant-65535", true, true, ENDS,
	  "CreditsGranted 65535 on top of the credits granted before",
	  grant_65535 },
	{ "grant-overflow", true, true, ENDS,
	  "CreditsGranted 40000, twice", grant_overflow },
	{ "credits-requested-zero", true, true, ENDS,
	  "CreditsRequested 0 on a data message", credits_requested_zero },
	{ "undefined-flags", true, true, ENDS,
	  "Flags 0x8000", undefined_flags },
	{ "oversize-message", true, true, ENDS,
	  "a message 100 bytes above the peer's MaxReceiveSize",
	  oversize_message },
	{ "response-requested-storm", true, true, WORKS,
	  "200 messages with SMB_DIRECT_RESPONSE_REQUESTED, within credits",
	  response_requested_storm },
	{ "disconnect-mid-fragment", true, true, WORKS,
	  "1000 bytes of a 101000-byte message, then a disconnect",
	  disconnect_mid_fragment },
	{ "vanish", true, true, ENDS,
	  "silence: no grants, no answers, no disconnect", vanish },
	/* buffer descriptors: we are the client */
	{ "desc-zero-length", true, false, O(OUT_ANSWERED) | ENDS,
	  "a descriptor of length 0 (refused: an error answer or the end)",
	  desc_zero_length },
	{ "desc-offset-wraps", true, false, O(OUT_ANSWERED) | ENDS,
	  "Offset 2^64 - 101, Length 4096", desc_offset_wraps },
	{ "desc-too-many", true, false, O(OUT_ANSWERED) | ENDS,
	  "64 descriptors", desc_too_many },
	{ "desc-over-max", true, false, O(OUT_ANSWERED) | ENDS,
	  "two descriptors of 0x7fffffff bytes", desc_over_max },
	{ "desc-32", true, false, WORKS,
	  "32 descriptors of 4 KiB (Windows sends up to 31)", desc_32 },
	{ "desc-wrong-rkey", true, false, O(OUT_ANSWERED) | ENDS,
	  "an rkey we never registered", desc_wrong_rkey },
	{ "desc-invalidated-rkey", true, false, O(OUT_ANSWERED) | ENDS,
	  "an rkey deregistered before the request", desc_invalidated_rkey },
	{ "desc-short", true, false, O(OUT_ANSWERED) | ENDS,
	  "a transfer longer than its descriptors", desc_short },
	{ NULL, false, false, 0, NULL, NULL },
};
