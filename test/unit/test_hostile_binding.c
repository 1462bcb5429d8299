/*
 * libsmbdirect unit tests: hostile peers against the RDMA binding
 * (lib/rdma/), over the fake verbs layer (test/common/fakeverbs.h):
 * docs/robustness.md, the catalogue's binding entries.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The peer is scripted: the test sends it whatever bytes it likes,
 * RDMA-reads and -writes the library's memory with any rkey, stalls,
 * vanishes, breaks its QP, or connects to the library's listener and
 * gives up half way. What each test checks: the connection ends once,
 * with a logged reason (or, for legal extremes, works); pending requests
 * fail with the right errno; nothing of the bad input reaches the
 * application; no memory is reachable by the peer but the exposures of
 * live I/Os; and every verbs object is released (fv_reset() counts what
 * the library still holds). Every wait is bounded (5 s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <talloc.h>
#include <tevent.h>

#include "fakeverbs.h"
#include "smbdirect_rdma.h"
#include "smbdirect_wire.h"
#include "unit.h"

#define PORT 5445

/* --- the event loop, bounded ------------------------------------------------ */

static void guard_fired(struct tevent_context *ev, struct tevent_timer *te,
			struct timeval now, void *priv)
{
	(void)ev;
	(void)te;
	(void)now;
	*(bool *)priv = true;
}

/* Run the loop until *done, failing the test after 5 s. */
static void run_until(struct tevent_context *ev, const bool *done)
{
	bool expired = false;
	struct tevent_timer *te = tevent_add_timer(
		ev, ev, tevent_timeval_current_ofs(5, 0), guard_fired, &expired);

	assert_non_null(te);
	while (!*done && !expired) {
		assert_int_equal(tevent_loop_once(ev), 0);
	}
	if (!expired) {
		talloc_free(te);
	}
	if (!*done) {
		fail_msg("the event loop did not get there within 5 s");
	}
}

/* Run the loop for `ms` milliseconds. */
static void run_for_ms(struct tevent_context *ev, uint32_t ms)
{
	bool tick = false;
	struct tevent_timer *te = tevent_add_timer(
		ev, ev, tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
		guard_fired, &tick);

	assert_non_null(te);
	while (!tick) {
		assert_int_equal(tevent_loop_once(ev), 0);
	}
}

/* Run whatever is ready now. */
static void run_ready(struct tevent_context *ev)
{
	run_for_ms(ev, 1);
}

static void req_done(struct tevent_req *req)
{
	*(bool *)tevent_req_callback_data_void(req) = true;
}

static struct sockaddr_in addr_at(uint16_t port)
{
	struct sockaddr_in a;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	inet_pton(AF_INET, "10.9.0.1", &a.sin_addr);
	return a;
}

/* --- the log ---------------------------------------------------------------- */

struct log_capture {
	int count;
	char last[512];
	char all[8192];
};

static struct log_capture logcap;

static void capture_log(void *priv, enum smbdirect_log_level level,
			const struct smbdirect_conn *conn, const char *peer,
			const char *message)
{
	size_t used = strlen(logcap.all);

	(void)priv;
	(void)conn;
	if (getenv("UNIT_LOG") != NULL) {
		fprintf(stderr, "log: %s: %s\n",
			smbdirect_log_level_string(level), message);
	}
	logcap.count += 1;
	snprintf(logcap.last, sizeof(logcap.last), "%s %s: %s",
		 smbdirect_log_level_string(level), peer != NULL ? peer : "?",
		 message);
	if (used + strlen(logcap.last) + 2 < sizeof(logcap.all)) {
		snprintf(logcap.all + used, sizeof(logcap.all) - used, "%s\n",
			 logcap.last);
	}
}

static int setup(void **state)
{
	memset(&logcap, 0, sizeof(logcap));
	smbdirect_set_log_fn(capture_log, NULL);
	return unit_setup(state);
}

static int teardown(void **state)
{
	smbdirect_set_log_fn(NULL, NULL);
	return unit_teardown(state);
}

#define TH(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* The log holds a line containing `text`. */
static void assert_logged(const char *text)
{
	if (strstr(logcap.all, text) == NULL) {
		fail_msg("no log line with \"%s\"; the log:\n%s", text,
			 logcap.all);
	}
}

/* --- a scripted server, the library the client ------------------------------ */

struct script {
	struct tevent_context *ev;
	struct fv_peer *peer;
	struct smbdirect_conn *conn;
	size_t seen;            /* inbox messages already accounted */
	uint32_t send_credits;  /* the library's credits the peer holds */
	/* what the application saw */
	uint64_t delivered;
	uint64_t delivered_bytes;
	bool ended;
	enum smbdirect_reason reason;
};

static void script_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct script *s = priv;

	(void)conn;
	(void)data;
	s->delivered += 1;
	s->delivered_bytes += length;
}

static void script_gone(struct smbdirect_conn *conn,
			enum smbdirect_reason reason, const char *detail,
			void *priv)
{
	struct script *s = priv;

	(void)conn;
	(void)detail;
	s->ended = true;
	s->reason = reason;
}

/* Take the credits granted by the library's messages not yet seen. */
static void script_account(struct script *s)
{
	while (s->seen < fv_peer_inbox_count(s->peer)) {
		const struct fv_msg *m = fv_peer_msg(s->peer, s->seen);
		struct smbdirect_data_header h;

		if (s->seen > 0 &&
		    smbdirect_data_header_decode(m->data, m->length, &h) ==
			    SMBDIRECT_WIRE_OK) {
			s->send_credits += h.credits_granted;
		}
		s->seen += 1;
	}
}

/* A data message from the peer: `len` payload bytes of `fill` with
 * RemainingDataLength `remaining`, granting `grant`. Spends one of the
 * library's credits. */
static void script_data(struct script *s, uint16_t grant, uint32_t remaining,
			size_t len, uint8_t fill)
{
	struct smbdirect_data_header h = {
		.credits_requested = 255,
		.credits_granted = grant,
		.remaining_data_length = remaining,
		.data_offset = len > 0 ? SMBDIRECT_DATA_OFFSET : 0,
		.data_length = (uint32_t)len,
	};
	uint8_t buf[1400];
	size_t n;

	assert_true(len <= sizeof(buf) - SMBDIRECT_DATA_OFFSET);
	script_account(s);
	assert_true(s->send_credits > 0);
	n = smbdirect_data_header_encode(&h, buf, sizeof(buf));
	memset(buf + n, fill, len);
	assert_int_equal(fv_peer_send(s->peer, buf, n + len, false, 0),
			 IBV_WC_SUCCESS);
	s->send_credits -= 1;
}

static struct smbdirect_negotiate_response good_response(uint16_t grants)
{
	struct smbdirect_negotiate_response rsp = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.negotiated_version = 0x0100,
		.credits_requested = 255,
		.credits_granted = grants,
		.status = SMBDIRECT_STATUS_SUCCESS,
		.max_read_write_size = 8388608,
		.preferred_send_size = 1364,
		.max_receive_size = 1364,
		.max_fragmented_size = 1048576,
	};
	return rsp;
}

/* Start connecting the library to a scripted server; returns once the
 * negotiate request arrived. */
static struct tevent_req *script_start(void *mem, struct script *s,
				       const struct smbdirect_settings *set,
				       uint8_t responder_resources,
				       bool *done)
{
	struct sockaddr_in dst = addr_at(PORT);
	struct tevent_req *req;
	int rounds = 0;

	memset(s, 0, sizeof(*s));
	s->ev = tevent_context_init(mem);
	assert_non_null(s->ev);
	fv_script_listen(PORT, responder_resources, responder_resources);
	req = smbdirect_connect_send(mem, s->ev, (struct sockaddr *)&dst, NULL,
				     set, 1000);
	assert_non_null(req);
	tevent_req_set_callback(req, req_done, done);
	while (s->peer == NULL || fv_peer_inbox_count(s->peer) == 0) {
		assert_true(++rounds < 1000);
		run_ready(s->ev);
		if (s->peer == NULL) {
			s->peer = fv_peer_next();
		}
	}
	return req;
}

/* Connect the library to a scripted server that answers with `rsp`. */
static void script_connect_with(void *mem, struct script *s,
				const struct smbdirect_settings *set,
				const struct smbdirect_negotiate_response *rsp,
				uint8_t responder_resources)
{
	uint8_t buf[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];
	struct smbdirect_conn_handlers h = { .message = script_message,
					     .disconnected = script_gone };
	bool done = false;
	struct tevent_req *req = script_start(mem, s, set, responder_resources,
					      &done);

	assert_int_equal(smbdirect_negotiate_response_encode(rsp, buf,
							     sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(fv_peer_send(s->peer, buf, sizeof(buf), false, 0),
			 IBV_WC_SUCCESS);
	run_until(s->ev, &done);
	assert_int_equal(smbdirect_connect_recv(req, mem, &s->conn, NULL), 0);
	talloc_free(req);
	smbdirect_conn_set_handlers(s->conn, &h, s);
	run_ready(s->ev);
	script_account(s);
}

static void script_connect(void *mem, struct script *s,
			   const struct smbdirect_settings *set)
{
	struct smbdirect_negotiate_response rsp = good_response(255);

	script_connect_with(mem, s, set, &rsp, 16);
}

/* Run until the application heard of the end (bounded). */
static void script_wait_end(struct script *s)
{
	run_until(s->ev, &s->ended);
}

/* Free the connection and its loop; every verbs object must be gone. */
static void script_free(struct script *s)
{
	talloc_free(s->conn);
	talloc_free(s->ev);
	assert_int_equal(fv_reset(), 0);
}

/* --- negotiation and timing ------------------------------------------------- */

/*
 * A server that accepts the connection and never answers the negotiate
 * request: the connect fails with ETIMEDOUT (negotiate-timeout) after the
 * negotiate timer, logged, and every resource goes.
 */
static void test_hostile_server_never_answers(void **state)
{
	void *mem = *state;
	struct smbdirect_settings set;
	struct script s;
	bool done = false;
	struct tevent_req *req;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	struct smbdirect_conn *conn = NULL;

	smbdirect_settings_default(&set);
	set.negotiate_timeout_ms = 200;
	req = script_start(mem, &s, &set, 16, &done);
	run_until(s.ev, &done);
	assert_int_equal(smbdirect_connect_recv(req, mem, &conn, &reason),
			 ETIMEDOUT);
	assert_int_equal(reason, SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);
	assert_null(conn);
	assert_logged("negotiate-timeout");
	talloc_free(req);
	talloc_free(s.ev);
	assert_int_equal(fv_reset(), 0);
}

/* --- a library listener, scripted clients ----------------------------------- */

struct server {
	struct tevent_context *ev;
	struct smbdirect_listener *listener;
	struct smbdirect_settings settings;
	int requests;            /* connection requests seen */
	int accepted;            /* negotiated */
	int failed;              /* accepts that failed */
	int errors[8];           /* the first errnos of failed accepts */
	enum smbdirect_reason reasons[8];
	struct smbdirect_conn *conns[64];
	int nconns;
};

static void server_accepted(struct tevent_req *req)
{
	struct server *sv = tevent_req_callback_data_void(req);
	struct smbdirect_conn *conn = NULL;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	int ret = smbdirect_accept_recv(req, sv, &conn, &reason);

	talloc_free(req);
	if (ret != 0) {
		if (sv->failed < 8) {
			sv->errors[sv->failed] = ret;
			sv->reasons[sv->failed] = reason;
		}
		sv->failed += 1;
		return;
	}
	sv->accepted += 1;
	if (sv->nconns < 64) {
		sv->conns[sv->nconns++] = conn;
	} else {
		talloc_free(conn);
	}
}

static void server_request(struct smbdirect_listener *l,
			   struct smbdirect_conn_request *r, void *priv)
{
	struct server *sv = priv;
	struct tevent_req *req;

	(void)l;
	sv->requests += 1;
	req = smbdirect_accept_send(sv, sv->ev, r, &sv->settings);
	assert_non_null(req);
	tevent_req_set_callback(req, server_accepted, sv);
}

static struct server *server_new(void *mem)
{
	struct server *sv = talloc_zero(mem, struct server);
	struct sockaddr_in a = addr_at(PORT);

	assert_non_null(sv);
	sv->ev = tevent_context_init(sv);
	assert_non_null(sv->ev);
	smbdirect_settings_default(&sv->settings);
	assert_int_equal(smbdirect_listen(sv, sv->ev, (struct sockaddr *)&a, 16,
					  server_request, sv, &sv->listener),
			 0);
	return sv;
}

/* Free the connections the server kept. */
static void server_drop_conns(struct server *sv)
{
	int i;

	for (i = 0; i < sv->nconns; i++) {
		talloc_free(sv->conns[i]);
	}
	sv->nconns = 0;
}

/* Run until the library answered the scripted client: accepted or
 * rejected (bounded). */
static void wait_answered(struct server *sv, struct fv_peer *p)
{
	int rounds = 0;

	while (!fv_peer_accepted(p) && !fv_peer_rejected(p)) {
		assert_true(++rounds < 5000);
		run_ready(sv->ev);
	}
}

/* A scripted client's negotiate request (defaults, or with `mutate`). */
static void client_negotiate(struct fv_peer *p,
			     const struct smbdirect_negotiate_request *req)
{
	uint8_t buf[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];

	assert_int_equal(smbdirect_negotiate_request_encode(req, buf,
							    sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(fv_peer_send(p, buf, sizeof(buf), false, 0),
			 IBV_WC_SUCCESS);
}

static struct smbdirect_negotiate_request good_request(void)
{
	struct smbdirect_negotiate_request req = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.credits_requested = 255,
		.preferred_send_size = 1364,
		.max_receive_size = 1364,
		.max_fragmented_size = 1048576,
	};
	return req;
}

/*
 * A client that connects and never negotiates: the library's negotiate
 * timer ends it (ETIMEDOUT, negotiate-timeout, logged) and frees
 * everything it made for it.
 */
static void test_hostile_client_never_negotiates(void **state)
{
	struct server *sv = server_new(*state);
	struct fv_peer *p;

	sv->settings.negotiate_timeout_ms = 200;
	p = fv_script_connect(PORT, NULL, 16, 16);
	assert_non_null(p);
	wait_answered(sv, p);
	assert_true(fv_peer_accepted(p));
	while (sv->failed == 0) {
		run_for_ms(sv->ev, 50);
		assert_int_equal(sv->accepted, 0);
	}
	assert_int_equal(sv->errors[0], ETIMEDOUT);
	assert_int_equal(sv->reasons[0], SMBDIRECT_REASON_NEGOTIATE_TIMEOUT);
	assert_true(fv_peer_disconnected(p));
	assert_logged("negotiate-timeout");
	talloc_free(sv);
	assert_int_equal(fv_reset(), 0);
}

/*
 * A negotiate request longer than the receive posted for it (600 bytes
 * into the 512-byte negotiate receive... here into max_receive_size 1364,
 * so 1500 bytes): the device fails the receive (local length error), the
 * connection ends with transport-error, logged; nothing is left.
 */
static void test_hostile_negotiate_longer_than_receive(void **state)
{
	struct server *sv = server_new(*state);
	struct fv_peer *p = fv_script_connect(PORT, NULL, 16, 16);
	uint8_t big[1500];
	struct smbdirect_negotiate_request req = good_request();

	memset(big, 0xab, sizeof(big));
	smbdirect_negotiate_request_encode(&req, big, sizeof(big));
	wait_answered(sv, p);
	assert_int_equal(fv_peer_send(p, big, sizeof(big), false, 0),
			 IBV_WC_REM_INV_REQ_ERR);
	while (sv->failed == 0) {
		run_ready(sv->ev);
	}
	assert_int_equal(sv->accepted, 0);
	assert_int_equal(sv->reasons[0], SMBDIRECT_REASON_TRANSPORT_ERROR);
	assert_logged("receive failed");
	talloc_free(sv);
	assert_int_equal(fv_reset(), 0);
}

/* --- the listener: handshakes that fail ------------------------------------------ */

/* How a scripted client gives up (test_hostile_aborted_handshakes). */
enum abort_state {
	AB_BEFORE_ACCEPT,   /* gone before the library answered */
	AB_BEFORE_NEGOTIATE, /* accepted, disconnects without a word */
	AB_SHORT,           /* a 5-byte negotiate request */
	AB_VERSION,         /* versions without 0x0100: failure response */
	AB_SIZES,           /* MaxReceiveSize 127 */
	AB_NEGOTIATED,      /* negotiates, then disconnects at once */
	AB_GARBAGE_DATA,    /* negotiates, then an invalid data message */
	AB_STATES
};

/*
 * The listener under 1,000 handshakes that fail, in every state (gone
 * before the accept, after it, with a short, an unsupported or a too
 * small negotiate request, right after negotiating, with a bad first
 * message), 10 at a time from one address, with the default half-open
 * bounds. Every request is accepted and ends (accept failed, or the
 * connection the server kept ends); none is rejected, so no failed
 * handshake kept its half-open place (16 kept ones would have filled the
 * address's bound); nothing leaks, nothing is left half open, and then a
 * good client connects at once (a handful of event loop turns).
 */
static void test_hostile_aborted_handshakes(void **state)
{
	struct server *sv = server_new(*state);
	struct sockaddr_in dst = addr_at(PORT);
	struct smbdirect_conn *good = NULL;
	struct tevent_req *req;
	bool done = false;
	int round;
	int turns = 0;

	for (round = 0; round < 100; round++) {
		struct fv_peer *p[10];
		int i;

		for (i = 0; i < 10; i++) {
			p[i] = fv_script_connect(PORT, NULL, 16, 16);
			assert_non_null(p[i]);
			if ((round * 10 + i) % AB_STATES == AB_BEFORE_ACCEPT) {
				fv_peer_abort(p[i]);
			}
		}
		for (i = 0; i < 10; i++) {
			if ((round * 10 + i) % AB_STATES != AB_BEFORE_ACCEPT) {
				wait_answered(sv, p[i]);
				assert_true(fv_peer_accepted(p[i]));
			}
		}
		for (i = 0; i < 10; i++) {
			struct smbdirect_negotiate_request q = good_request();
			uint8_t bad[SMBDIRECT_DATA_HEADER_MIN];

			switch ((round * 10 + i) % AB_STATES) {
			case AB_BEFORE_ACCEPT:
				break;
			case AB_BEFORE_NEGOTIATE:
				fv_peer_disconnect(p[i]);
				break;
			case AB_SHORT:
				fv_peer_send(p[i], "\x00\x01\x00\x01\x00", 5,
					     false, 0);
				break;
			case AB_VERSION:
				q.min_version = q.max_version = 0x0200;
				client_negotiate(p[i], &q);
				break;
			case AB_SIZES:
				q.max_receive_size = 127;
				client_negotiate(p[i], &q);
				break;
			case AB_NEGOTIATED:
				client_negotiate(p[i], &q);
				fv_peer_disconnect(p[i]);
				break;
			case AB_GARBAGE_DATA:
				client_negotiate(p[i], &q);
				put_data_header(bad, 255, 0, 0x8000, 0, 0, 0, 0);
				fv_peer_send(p[i], bad, sizeof(bad), false, 0);
				break;
			}
		}
		run_for_ms(sv->ev, 5);
		/* The server drops what negotiated (those peers are gone). */
		server_drop_conns(sv);
	}
	assert_int_equal(sv->requests, 1000);
	assert_int_equal(smbdirect_listener_rejected(sv->listener), 0);
	while (sv->accepted + sv->failed < 1000) {
		assert_true(++turns < 5000);
		run_ready(sv->ev);
	}
	turns = 0;
	assert_int_equal(sv->accepted + sv->failed, 1000);
	assert_int_equal(smbdirect_listener_half_open(sv->listener), 0);

	/* A good client now: connected and answered within a few turns. */
	sv->settings = (struct smbdirect_settings){ 0 };
	smbdirect_settings_default(&sv->settings);
	req = smbdirect_connect_send(sv, sv->ev, (struct sockaddr *)&dst, NULL,
				     NULL, 1000);
	tevent_req_set_callback(req, req_done, &done);
	while (!done) {
		assert_true(++turns < 50);
		assert_int_equal(tevent_loop_once(sv->ev), 0);
	}
	assert_int_equal(smbdirect_connect_recv(req, sv, &good, NULL), 0);
	talloc_free(req);
	assert_int_equal(sv->accepted, 1000 - sv->failed + 1);
	talloc_free(good);
	server_drop_conns(sv);
	talloc_free(sv);
	assert_int_equal(fv_reset(), 0);
}

/*
 * The half-open bound (smbdirect_listener_set_limits()): with at most 4
 * negotiating connections, and 2 per peer address, idle clients fill
 * the slots; the next request is rejected at once (the client sees the
 * reject) and logged; a client from another address is served while one
 * address is at its bound; a slot comes back when its connection
 * negotiates or its negotiate timer ends it.
 */
static void test_hostile_half_open_bound(void **state)
{
	struct server *sv = server_new(*state);
	struct fv_peer *p[8];
	struct smbdirect_negotiate_request q = good_request();

	assert_int_equal(smbdirect_listener_set_limits(sv->listener, 4, 2), 0);
	assert_int_equal(smbdirect_listener_set_limits(sv->listener, 0, 2),
			 EINVAL);
	sv->settings.negotiate_timeout_ms = 300;
	/* 2 from 10.9.0.2, the third from there is refused. */
	p[0] = fv_script_connect(PORT, "10.9.0.2", 16, 16);
	p[1] = fv_script_connect(PORT, "10.9.0.2", 16, 16);
	p[2] = fv_script_connect(PORT, "10.9.0.2", 16, 16);
	wait_answered(sv, p[0]);
	wait_answered(sv, p[1]);
	wait_answered(sv, p[2]);
	assert_true(fv_peer_accepted(p[0]) && fv_peer_accepted(p[1]));
	assert_true(fv_peer_rejected(p[2]));
	assert_int_equal(smbdirect_listener_half_open(sv->listener), 2);
	assert_logged("half-open");
	/* Others are served: 2 from 10.9.0.3 fill the listener (4)... */
	p[3] = fv_script_connect(PORT, "10.9.0.3", 16, 16);
	p[4] = fv_script_connect(PORT, "10.9.0.3", 16, 16);
	wait_answered(sv, p[3]);
	wait_answered(sv, p[4]);
	assert_true(fv_peer_accepted(p[3]) && fv_peer_accepted(p[4]));
	assert_int_equal(smbdirect_listener_half_open(sv->listener), 4);
	/* ...and the fifth, from anywhere, is refused. */
	p[5] = fv_script_connect(PORT, "10.9.0.4", 16, 16);
	wait_answered(sv, p[5]);
	assert_true(fv_peer_rejected(p[5]));
	assert_int_equal(sv->requests, 4);
	/* One negotiates: its slot is free, a newcomer is served. */
	client_negotiate(p[3], &q);
	run_ready(sv->ev);
	assert_int_equal(sv->accepted, 1);
	assert_int_equal(smbdirect_listener_half_open(sv->listener), 3);
	p[6] = fv_script_connect(PORT, "10.9.0.4", 16, 16);
	wait_answered(sv, p[6]);
	assert_true(fv_peer_accepted(p[6]));
	/* The idle ones time out: every slot comes back. */
	while (sv->failed < 4) {
		run_for_ms(sv->ev, 50);
	}
	assert_int_equal(smbdirect_listener_half_open(sv->listener), 0);
	p[7] = fv_script_connect(PORT, "10.9.0.2", 16, 16);
	wait_answered(sv, p[7]);
	assert_true(fv_peer_accepted(p[7]));
	(void)p;
	server_drop_conns(sv);
	talloc_free(sv);
	assert_int_equal(fv_reset(), 0);
}

/* --- data transfer ------------------------------------------------------------ */

/*
 * The peer disconnects in the middle of a fragmented message (two of
 * three fragments sent): the application hears of the end once
 * (peer-disconnected), the half message is never delivered, nothing
 * leaks.
 */
static void test_hostile_disconnect_mid_fragment(void **state)
{
	struct script s;

	script_connect(*state, &s, NULL);
	script_data(&s, 0, 2680, 1340, 1);
	script_data(&s, 0, 1340, 1340, 2);
	run_ready(s.ev);
	assert_false(s.ended);
	fv_peer_disconnect(s.peer);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_PEER_DISCONNECTED);
	assert_int_equal(s.delivered, 0);
	script_free(&s);
}

/*
 * The peer's messages land in a QP whose receives are gone: a peer whose
 * QP breaks (an asynchronous QP error: the receives flush). The
 * connection ends, logged, once; nothing is delivered after.
 */
static void test_hostile_qp_error(void **state)
{
	struct script s;

	script_connect(*state, &s, NULL);
	fv_peer_qp_error(s.peer);
	script_wait_end(&s);
	assert_true(s.reason == SMBDIRECT_REASON_PEER_DISCONNECTED ||
		    s.reason == SMBDIRECT_REASON_TRANSPORT_ERROR);
	assert_logged("connection ended");
	script_free(&s);
}

/* A send of `len` bytes of `fill` on the script's connection. */
struct sent {
	struct tevent_req *req;
	bool done;
	int result;
	uint8_t *payload;
};

static void sent_done(struct tevent_req *req)
{
	struct sent *m = tevent_req_callback_data_void(req);

	m->result = smbdirect_send_recv(req);
	m->done = true;
	TALLOC_FREE(m->req);
}

static void send_msg(void *mem, struct script *s, struct sent *m, size_t len,
		     uint8_t fill)
{
	struct iovec iov;

	memset(m, 0, sizeof(*m));
	m->payload = talloc_size(mem, len);
	assert_non_null(m->payload);
	memset(m->payload, fill, len);
	iov.iov_base = m->payload;
	iov.iov_len = len;
	m->req = smbdirect_send_send(mem, s->ev, s->conn, &iov, 1);
	assert_non_null(m->req);
	tevent_req_set_callback(m->req, sent_done, m);
}

/*
 * RNR: a peer that grants credits but posts no receive (its credits lie).
 * The library's send finds none (RNR retry 0, as the Linux peers): the
 * send fails, the connection ends with transport-error, logged; the
 * send request fails with ENOTCONN.
 */
static void test_hostile_rnr(void **state)
{
	struct script s;
	struct sent m;

	script_connect(*state, &s, NULL);
	fv_peer_set_rnr(s.peer, true);
	send_msg(*state, &s, &m, 100, 7);
	run_until(s.ev, &m.done);
	assert_int_equal(m.result, ENOTCONN);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_TRANSPORT_ERROR);
	assert_logged("RNR retry");
	script_free(&s);
}

/*
 * A peer that vanishes without a disconnect (its host died: no rdma_cm
 * event ever comes). Idle, the library's keepalive finds nobody (the
 * transport's retries run out): the connection ends within the keepalive
 * interval (+ timeout), and freeing it takes no wait for the peer.
 */
static void test_hostile_vanish_idle(void **state)
{
	struct smbdirect_settings set;
	struct script s;
	uint64_t t0;

	smbdirect_settings_default(&set);
	set.keepalive_interval_ms = 200;
	set.keepalive_timeout_ms = 200;
	script_connect(*state, &s, &set);
	fv_peer_vanish(s.peer);
	t0 = (uint64_t)time(NULL);
	script_wait_end(&s);
	assert_true((uint64_t)time(NULL) - t0 <= 2);
	assert_true(s.reason == SMBDIRECT_REASON_TRANSPORT_ERROR ||
		    s.reason == SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	assert_logged("connection ended");
	script_free(&s);
}

/*
 * A peer that stops reading (it no longer acknowledges: every work
 * request to it stays in the send queue): 1,000 messages submitted. The
 * library has at most max_outstanding_sends messages at the device (the
 * rest wait in its queue, not copied), the connection ends with
 * keepalive-timeout within interval + timeout, every send request fails
 * with ENOTCONN and the queue is freed.
 */
static void test_hostile_stops_reading(void **state)
{
	struct smbdirect_settings set;
	struct script s;
	struct sent *m = talloc_zero_array(*state, struct sent, 1000);
	int i;

	smbdirect_settings_default(&set);
	set.keepalive_interval_ms = 300;
	set.keepalive_timeout_ms = 200;
	set.max_outstanding_sends = 32;
	script_connect(*state, &s, &set);
	fv_peer_stall(s.peer, true);
	for (i = 0; i < 1000; i++) {
		send_msg(m, &s, &m[i], 2000, (uint8_t)i);
	}
	run_ready(s.ev);
	assert_true(fv_peer_lib_held(s.peer) <= 32);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT);
	run_ready(s.ev);
	for (i = 0; i < 1000; i++) {
		assert_true(m[i].done);
		assert_int_equal(m[i].result, ENOTCONN);
	}
	script_free(&s);
	talloc_free(m);
}

/*
 * Send-with-Invalidate of an rkey that is not ours, and of one of ours
 * twice: the receiving QP refuses it (remote invalid request); the
 * connection ends with transport-error, logged.
 */
static void test_hostile_invalidate_foreign_rkey(void **state)
{
	struct script s;
	uint8_t msg[SMBDIRECT_DATA_HEADER_MIN];
	struct smbdirect_buffer *b;
	struct smbdirect_exposure *x;
	struct smbdirect_buffer_descriptor d;
	size_t count;

	script_connect(*state, &s, NULL);
	put_data_header(msg, 255, 0, 0, 0, 0, 0, 0);
	assert_int_equal(fv_peer_send(s.peer, msg, sizeof(msg), true, 0x5a5a00),
			 IBV_WC_REM_INV_REQ_ERR);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_TRANSPORT_ERROR);
	assert_logged("receive failed");
	script_free(&s);

	/* One of ours, twice. */
	script_connect(*state, &s, NULL);
	b = smbdirect_buffer_new(*state, s.conn, 4096);
	assert_non_null(b);
	x = smbdirect_expose(*state, s.conn, b, 0, 4096, true, &d, 1, &count);
	assert_non_null(x);
	run_ready(s.ev);
	script_account(&s);
	assert_int_equal(fv_peer_send(s.peer, msg, sizeof(msg), true, d.token),
			 IBV_WC_SUCCESS);
	s.send_credits -= 1;
	run_ready(s.ev);
	assert_true(smbdirect_exposure_invalidated(x));
	assert_false(s.ended);
	assert_int_equal(fv_peer_send(s.peer, msg, sizeof(msg), true, d.token),
			 IBV_WC_REM_INV_REQ_ERR);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_TRANSPORT_ERROR);
	talloc_free(x);
	talloc_free(b);
	script_free(&s);
}

/* --- RDMA against the peer's descriptors --------------------------------------- */

struct rdma_call {
	bool done;
	int result;
};

static void rdma_done(struct tevent_req *req)
{
	struct rdma_call *c = tevent_req_callback_data_void(req);

	c->result = smbdirect_rdma_recv(req);
	c->done = true;
	talloc_free(req);
}

/* An RDMA read or write by the library; returns its result. */
static int do_rdma(struct script *s, bool write, struct smbdirect_buffer *b,
		   size_t length, const struct smbdirect_buffer_descriptor *d,
		   size_t count)
{
	struct rdma_call c = { false, -1 };
	struct tevent_req *req =
		write ? smbdirect_rdma_write_send(s->ev, s->ev, s->conn, b, 0,
						  length, d, count)
		      : smbdirect_rdma_read_send(s->ev, s->ev, s->conn, b, 0,
						 length, d, count);

	assert_non_null(req);
	tevent_req_set_callback(req, rdma_done, &c);
	run_until(s->ev, &c.done);
	return c.result;
}

/*
 * Descriptor lists the library refuses without touching the device or
 * ending the connection (EINVAL): a zero-length descriptor; a READ whose
 * descriptors hold fewer bytes than its length; a length above
 * MaxReadWriteSize; an Offset + Length that passes 2^64. Then, on a
 * connection whose peer announced MaxReadWriteSize 0, every RDMA call.
 * The connection still carries messages afterwards.
 */
static void test_hostile_rdma_refused_locally(void **state)
{
	struct script s;
	struct smbdirect_buffer *b;
	struct smbdirect_buffer_descriptor d[2];
	struct smbdirect_negotiate_response rsp;
	struct fv_stats st;
	struct sent m;
	uint8_t *peer_mem = talloc_zero_size(*state, 65536);
	uint32_t rkey;

	script_connect(*state, &s, NULL);
	b = smbdirect_buffer_new(*state, s.conn, 8388608 + 4096);
	assert_non_null(b);
	rkey = fv_peer_expose(s.peer, peer_mem, 65536, true);
	d[0] = (struct smbdirect_buffer_descriptor){
		(uint64_t)(uintptr_t)peer_mem, rkey, 4096 };
	d[1] = (struct smbdirect_buffer_descriptor){
		(uint64_t)(uintptr_t)peer_mem + 4096, rkey, 0 };
	assert_int_equal(do_rdma(&s, true, b, 4096, d, 2), EINVAL);
	d[1].length = 4096;
	assert_int_equal(do_rdma(&s, false, b, 8193, d, 2), EINVAL);
	d[0].length = 8388608;
	assert_int_equal(do_rdma(&s, true, b, 8388608 + 1, d, 2), EINVAL);
	d[0] = (struct smbdirect_buffer_descriptor){ UINT64_MAX - 100, rkey,
						     4096 };
	assert_int_equal(do_rdma(&s, true, b, 4096, d, 1), EINVAL);
	fv_get_stats(&st);
	assert_int_equal(st.rdma_reads + st.rdma_writes, 0);
	assert_false(s.ended);
	send_msg(*state, &s, &m, 100, 1);
	run_until(s.ev, &m.done);
	assert_int_equal(m.result, 0);
	talloc_free(b);
	script_free(&s);

	rsp = good_response(255);
	rsp.max_read_write_size = 0;
	script_connect_with(*state, &s, NULL, &rsp, 16);
	assert_int_equal(smbdirect_conn_params(s.conn)->max_read_write_size, 0);
	b = smbdirect_buffer_new(*state, s.conn, 4096);
	rkey = fv_peer_expose(s.peer, peer_mem, 4096, true);
	d[0] = (struct smbdirect_buffer_descriptor){
		(uint64_t)(uintptr_t)peer_mem, rkey, 4096 };
	assert_int_equal(do_rdma(&s, true, b, 1, d, 1), EINVAL);
	assert_int_equal(do_rdma(&s, false, b, 1, d, 1), EINVAL);
	assert_false(s.ended);
	talloc_free(b);
	script_free(&s);
}

/*
 * Descriptors that name the wrong memory: an rkey the peer never gave,
 * another I/O's rkey (valid, but for a different range), an rkey the
 * peer already had invalidated, an access one byte past the end. Each
 * fails at the device: EIO, the connection ends with transport-error,
 * and the failure is logged. The peer's memory outside the exposure is
 * untouched.
 */
static void test_hostile_rdma_wrong_memory(void **state)
{
	struct {
		const char *what;
		int kind;
	} cases[] = {
		{ "unknown rkey", 0 },
		{ "another I/O's rkey", 1 },
		{ "invalidated rkey", 2 },
		{ "one byte past the end", 3 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct script s;
		struct smbdirect_buffer *b;
		struct smbdirect_buffer_descriptor d;
		uint8_t *mem = talloc_zero_size(*state, 3 * 4096);
		uint32_t r1;
		uint32_t r2;
		size_t k;

		script_connect(*state, &s, NULL);
		b = smbdirect_buffer_new(*state, s.conn, 8192);
		memset(smbdirect_buffer_data(b), 0xee, 8192);
		r1 = fv_peer_expose(s.peer, mem, 4096, true);
		r2 = fv_peer_expose(s.peer, mem + 8192, 4096, true);
		d = (struct smbdirect_buffer_descriptor){
			(uint64_t)(uintptr_t)mem, r1, 4096 };
		switch (cases[i].kind) {
		case 0:
			d.token = r1 ^ 0x5500;
			break;
		case 1:
			d.offset = (uint64_t)(uintptr_t)(mem + 8192) - 4096;
			d.token = r2;
			break;
		case 2: {
			struct iovec iov = { .iov_base = (void *)"x",
					     .iov_len = 1 };
			struct tevent_req *req = smbdirect_send_invalidate_send(
				*state, s.ev, s.conn, &iov, 1, r1);
			bool done = false;

			tevent_req_set_callback(req, req_done, &done);
			run_until(s.ev, &done);
			assert_int_equal(smbdirect_send_recv(req), 0);
			talloc_free(req);
			assert_true(fv_peer_invalidated(s.peer, r1));
			break;
		}
		case 3:
			d.offset += 1;
			break;
		}
		if (do_rdma(&s, true, b, 4096, &d, 1) != EIO) {
			fail_msg("%s: the write did not fail with EIO",
				 cases[i].what);
		}
		script_wait_end(&s);
		assert_int_equal(s.reason, SMBDIRECT_REASON_TRANSPORT_ERROR);
		assert_logged("RDMA write failed");
		for (k = 0; k < 3 * 4096; k++) {
			if (mem[k] != 0) {
				fail_msg("%s: the peer's byte %zu was written",
					 cases[i].what, k);
			}
		}
		talloc_free(b);
		script_free(&s);
		talloc_free(mem);
		memset(&logcap, 0, sizeof(logcap));
	}
}

/*
 * 32 buffer descriptors (Windows sends up to 31 per WRITE), each 4 KiB
 * of a separate registration of the peer's, with a peer that takes one
 * RDMA read at a time (responder resources 1): a read and a write of
 * 128 KiB through all of them complete, in order, data intact; the reads
 * queue behind the initiator depth instead of failing or stalling.
 */
static void test_hostile_32_descriptors(void **state)
{
	struct script s;
	struct smbdirect_buffer *b;
	struct smbdirect_buffer_descriptor d[32];
	uint8_t *mem[32];
	uint8_t *local;
	struct smbdirect_negotiate_response rsp = good_response(255);
	struct rdma_call c = { false, -1 };
	struct tevent_req *req;
	size_t i;
	size_t k;

	script_connect_with(*state, &s, NULL, &rsp, 1);
	b = smbdirect_buffer_new(*state, s.conn, 32 * 4096);
	local = smbdirect_buffer_data(b);
	for (i = 0; i < 32; i++) {
		mem[i] = talloc_size(*state, 4096);
		for (k = 0; k < 4096; k++) {
			mem[i][k] = (uint8_t)(i * 7 + k);
		}
		d[i].offset = (uint64_t)(uintptr_t)mem[i];
		d[i].token = fv_peer_expose(s.peer, mem[i], 4096, false);
		d[i].length = 4096;
	}
	/* With the peer stalled, one read at a time is at the device. */
	fv_peer_stall(s.peer, true);
	req = smbdirect_rdma_read_send(s.ev, s.ev, s.conn, b, 0, 32 * 4096, d,
				       32);
	tevent_req_set_callback(req, rdma_done, &c);
	run_ready(s.ev);
	assert_int_equal(fv_peer_lib_held_reads(s.peer), 1);
	fv_peer_stall(s.peer, false);
	run_until(s.ev, &c.done);
	assert_int_equal(c.result, 0);
	for (i = 0; i < 32; i++) {
		assert_memory_equal(local + i * 4096, mem[i], 4096);
	}
	for (k = 0; k < 32 * 4096; k++) {
		local[k] = (uint8_t)(k * 13);
	}
	/* The peer's WRITE buffers: the same memory, exposed for writing. */
	for (i = 0; i < 32; i++) {
		d[i].token = fv_peer_expose(s.peer, mem[i], 4096, true);
	}
	assert_int_equal(do_rdma(&s, true, b, 32 * 4096, d, 32), 0);
	for (i = 0; i < 32; i++) {
		assert_memory_equal(local + i * 4096, mem[i], 4096);
	}
	assert_false(s.ended);
	talloc_free(b);
	script_free(&s);
}

/*
 * Memory per connection (docs/robustness.md, "Memory per connection"),
 * with the default settings: once connected, the connection's own heap
 * (talloc_total_size of it, the engine and both registered pools
 * included) is the two pools, receive_credit_max + 1 receives of
 * MaxReceiveSize and max_outstanding_sends send slots of MaxSendSize
 * ([MS-SMBD] 3.1.1.1's limits), plus under 64 KiB; a peer's messages
 * of MaxFragmentedSize add the one reassembly buffer (3.1.5.8; the
 * engine keeps it for the next message, so it is taken once), and three
 * such messages later the heap is where it was after the first: nothing
 * grows per message.
 */
static void test_hostile_connection_memory(void **state)
{
	struct script s;
	struct smbdirect_settings set;
	size_t pools;
	size_t base;
	size_t mid;
	size_t after;
	size_t first = 0;
	uint32_t left;
	int round;

	smbdirect_settings_default(&set);
	pools = (size_t)(set.receive_credit_max + 1) * set.max_receive_size +
		(size_t)set.max_outstanding_sends * set.max_send_size;
	script_connect(*state, &s, NULL);
	base = talloc_total_size(s.conn);
	print_message("connection heap %zu bytes, pools %zu\n", base, pools);
	assert_true(base >= pools);
	assert_true(base <= pools + 65536);
	for (round = 0; round < 3; round++) {
		/* A message of 1 MiB (the peer's MaxFragmentedSize is ours):
		 * 1000-byte fragments, the peer granting as it goes. */
		left = set.max_fragmented_size;
		mid = 0;
		while (left > 0) {
			uint32_t n = left < 1000 ? left : 1000;

			left -= n;
			script_account(&s);
			if (s.send_credits < 2) {
				run_ready(s.ev);
				script_account(&s);
			}
			script_data(&s, 1, left, n, (uint8_t)round);
			if (mid == 0 && left <= set.max_fragmented_size / 2) {
				run_ready(s.ev);
				mid = talloc_total_size(s.conn);
			}
		}
		run_ready(s.ev);
		assert_true(mid > base);
		assert_true(mid <= base + set.max_fragmented_size + 65536);
		after = talloc_total_size(s.conn);
		print_message("message %d: %zu bytes in the middle, %zu after\n",
			      round + 1, mid, after);
		assert_true(after <= base + set.max_fragmented_size + 65536);
		if (round == 0) {
			first = after;
		}
		assert_int_equal(after, first);
	}
	assert_int_equal(s.delivered, 3);
	assert_int_equal(s.delivered_bytes, 3 * (uint64_t)set.max_fragmented_size);
	assert_false(s.ended);
	script_free(&s);
}

/*
 * CQ overflow: everything that can complete at once does. The peer stops
 * acknowledging while the library has 40 messages to send and an RDMA
 * read of 8 descriptors for it, and fills every receive it has a credit
 * for ([MS-SMBD] 3.1.5.8: it may send one message per credit we granted,
 * and 3.1.5.9: we grant only for posted receives) while the application's
 * loop does not run; then all the held sends and reads complete at once.
 * Every completion fits the completion queue (none dropped: a dropped one
 * would lose a message or leave a send forever outstanding), every
 * message of the peer is delivered, every send and the read complete, and
 * the connection lives on.
 */
static void test_hostile_cq_full(void **state)
{
	struct script s;
	struct sent m[40];
	struct smbdirect_buffer *b;
	struct smbdirect_buffer_descriptor d[8];
	uint8_t *mem[8];
	struct rdma_call c = { false, -1 };
	struct tevent_req *req;
	struct fv_stats st;
	uint64_t filled = 0;
	size_t i;

	script_connect(*state, &s, NULL);
	b = smbdirect_buffer_new(*state, s.conn, 8 * 4096);
	for (i = 0; i < 8; i++) {
		mem[i] = talloc_zero_size(*state, 4096);
		memset(mem[i], (int)(i + 1), 4096);
		d[i].offset = (uint64_t)(uintptr_t)mem[i];
		d[i].token = fv_peer_expose(s.peer, mem[i], 4096, false);
		d[i].length = 4096;
	}
	fv_peer_stall(s.peer, true);
	for (i = 0; i < 40; i++) {
		send_msg(*state, &s, &m[i], 1000, (uint8_t)i);
	}
	req = smbdirect_rdma_read_send(s.ev, s.ev, s.conn, b, 0, 8 * 4096, d,
				       8);
	assert_non_null(req);
	tevent_req_set_callback(req, rdma_done, &c);
	run_ready(s.ev);
	assert_true(fv_peer_lib_held(s.peer) > 0);
	/* The loop does not run: the peer spends every credit it holds. */
	script_account(&s);
	while (s.send_credits > 0) {
		script_data(&s, 0, 0, 100, (uint8_t)filled);
		filled += 1;
	}
	assert_true(filled >= 2);
	fv_peer_stall(s.peer, false);
	run_until(s.ev, &c.done);
	/* 255 credits from the peer: the 40 sends need no more. */
	for (i = 0; i < 40; i++) {
		run_until(s.ev, &m[i].done);
		assert_int_equal(m[i].result, 0);
	}
	assert_int_equal(c.result, 0);
	for (i = 0; i < 8; i++) {
		assert_memory_equal(smbdirect_buffer_data(b) + i * 4096,
				    mem[i], 4096);
	}
	assert_int_equal(s.delivered, filled);
	assert_false(s.ended);
	fv_get_stats(&st);
	assert_int_equal(st.cq_overflows, 0);
	talloc_free(b);
	script_free(&s);
}

/*
 * A disconnect while an RDMA read is in flight (the peer stopped
 * acknowledging, so the work requests are still at the device): the
 * read fails with ENOTCONN, the connection ends (peer-disconnected), and
 * freeing the buffer and the connection afterwards is safe: the device
 * touches nothing more (the QP goes with the connection).
 */
static void test_hostile_disconnect_during_rdma(void **state)
{
	struct script s;
	struct smbdirect_buffer *b;
	struct smbdirect_buffer_descriptor d[8];
	uint8_t *mem = talloc_zero_size(*state, 8 * 65536);
	struct rdma_call c = { false, -1 };
	struct tevent_req *req;
	size_t i;

	script_connect(*state, &s, NULL);
	b = smbdirect_buffer_new(*state, s.conn, 8 * 65536);
	for (i = 0; i < 8; i++) {
		d[i].offset = (uint64_t)(uintptr_t)(mem + i * 65536);
		d[i].token = fv_peer_expose(s.peer, mem + i * 65536, 65536,
					    false);
		d[i].length = 65536;
	}
	fv_peer_stall(s.peer, true);
	req = smbdirect_rdma_read_send(s.ev, s.ev, s.conn, b, 0, 8 * 65536, d,
				       8);
	tevent_req_set_callback(req, rdma_done, &c);
	run_ready(s.ev);
	assert_false(c.done);
	assert_true(fv_peer_lib_held(s.peer) > 0);
	fv_peer_disconnect(s.peer);
	run_until(s.ev, &c.done);
	assert_int_equal(c.result, ENOTCONN);
	script_wait_end(&s);
	assert_int_equal(s.reason, SMBDIRECT_REASON_PEER_DISCONNECTED);
	talloc_free(b);
	script_free(&s);
}

/* --- memory exposure ----------------------------------------------------------- */

/*
 * What a peer can reach of ours, with memory windows (rxe's kind) and
 * with a registration per exposure: only a live exposure's range, with
 * the access it was given. The device reports nothing else as remotely
 * accessible (receive and send pools, lent buffers: local only). Probes
 * one byte before and after, with the wrong access, with another
 * exposure's rkey over this one's range, and after the exposure was
 * freed: each fails (and, as on rxe, the failed access breaks the
 * connection, so each probe gets a connection of its own). On rxe a
 * window's accesses are checked against the registration under it, not
 * the window (fv_set_windows_unbounded()): the windows variant runs on
 * such a device too, where before the fix a write one byte before the
 * window (and anywhere in the lent buffer) went through.
 */
static void exposure_probe(void **state, bool windows, bool rxe)
{
	enum { P_OK, P_BEFORE, P_AFTER, P_ACCESS, P_OTHER, P_FREED, P_N };
	int probe;

	for (probe = P_OK; probe < P_N; probe++) {
		struct script s;
		struct smbdirect_buffer *b;
		struct smbdirect_exposure *x1;
		struct smbdirect_exposure *x2;
		struct smbdirect_buffer_descriptor d1;
		struct smbdirect_buffer_descriptor d2;
		struct fv_region reg[8];
		uint8_t *data;
		uint8_t buf[4096];
		size_t count;
		uint64_t addr;
		uint32_t rkey;
		bool write = true;
		size_t len = 1024;
		enum ibv_wc_status st;

		fv_set_memory_windows(windows);
		/* rxe's windows are bounded by the registration under them
		 * only; another device's by themselves. */
		fv_set_rxe(rxe);
		fv_set_windows_unbounded(rxe);
		script_connect(*state, &s, NULL);
		assert_int_equal(smbdirect_conn_uses_memory_windows(s.conn),
				 windows);
		assert_int_equal(fv_remote_regions(reg, 8), 0);
		b = smbdirect_buffer_new(*state, s.conn, 3 * 4096);
		data = smbdirect_buffer_data(b);
		memset(data, 0x11, 3 * 4096);
		assert_int_equal(fv_remote_regions(reg, 8), 0);
		/* 1 KiB at 4096 for the peer to write; 1 KiB at 8192 to
		 * read. */
		x1 = smbdirect_expose(*state, s.conn, b, 4096, 1024, true, &d1,
				      1, &count);
		x2 = smbdirect_expose(*state, s.conn, b, 8192, 1024, false, &d2,
				      1, &count);
		assert_non_null(x1);
		assert_non_null(x2);
		run_ready(s.ev);
		assert_int_equal(fv_remote_regions(reg, 8), 2);
		for (count = 0; count < 2; count++) {
			assert_int_equal(reg[count].window, windows);
			assert_int_equal(reg[count].length, 1024);
			assert_true(reg[count].addr == d1.offset ||
				    reg[count].addr == d2.offset);
		}
		addr = d1.offset;
		rkey = d1.token;
		switch (probe) {
		case P_BEFORE:
			addr -= 1;
			break;
		case P_AFTER:
			addr += 1;
			break;
		case P_ACCESS:
			write = false; /* read through a write exposure */
			break;
		case P_OTHER:
			rkey = d2.token; /* the other I/O's rkey */
			break;
		case P_FREED:
			TALLOC_FREE(x1);
			assert_int_equal(fv_remote_regions(reg, 8), 1);
			break;
		}
		memset(buf, 0x77, sizeof(buf));
		st = fv_peer_rdma(s.peer, write, rkey, addr, buf, len);
		if (probe == P_OK) {
			assert_int_equal(st, IBV_WC_SUCCESS);
			assert_int_equal(data[4096], 0x77);
			assert_int_equal(data[4096 + 1023], 0x77);
			assert_int_equal(data[4096 - 1], 0x11);
			assert_int_equal(data[4096 + 1024], 0x11);
			assert_false(s.ended);
		} else {
			if (st != IBV_WC_REM_ACCESS_ERR) {
				fail_msg("probe %d (%s): the access went "
					 "through", probe,
					 windows ? "windows" : "MRs");
			}
			script_wait_end(&s);
			/* Nothing of ours changed. */
			for (count = 0; count < 3 * 4096; count++) {
				assert_int_equal(data[count], 0x11);
			}
		}
		talloc_free(x1);
		talloc_free(x2);
		assert_int_equal(fv_remote_regions(reg, 8), 0);
		talloc_free(b);
		script_free(&s);
	}
}

static void test_hostile_exposure_windows(void **state)
{
	exposure_probe(state, true, false);
}

/* The same probes on a device whose windows do not bound the access
 * themselves (rxe: only the registration under the window is checked):
 * the library must not expose more than the window all the same. */
static void test_hostile_exposure_windows_rxe(void **state)
{
	exposure_probe(state, true, true);
}

static void test_hostile_exposure_regions(void **state)
{
	exposure_probe(state, false, true);
}

/* --- the receive queue for smbdirect_recv_send() -------------------------------- */

/*
 * An application that does not read (no message handler, no
 * smbdirect_recv_send()) while the peer sends messages of
 * MaxFragmentedSize (1 MiB) as fast as credits allow: the library holds
 * what it queued for the application within its bound (docs/robustness.md,
 * "Memory per connection": 4 x MaxFragmentedSize), then ends the
 * connection with local-error, logged, instead of holding more.
 */
static void test_hostile_receive_queue_bounded(void **state)
{
	struct script s;
	uint64_t sent = 0;
	const size_t chunk = 1340;
	const uint32_t msg = 1048576;
	uint32_t left = msg;

	script_connect(*state, &s, NULL);
	smbdirect_conn_set_handlers(s.conn, NULL, NULL);
	while (!fv_peer_disconnected(s.peer) && sent < 300ull * msg) {
		int n;

		script_account(&s);
		for (n = 0; n < 200 && s.send_credits > 1; n++) {
			uint32_t len = left < chunk ? left : (uint32_t)chunk;

			left -= len;
			script_data(&s, 1, left, len, 0x3c);
			sent += len;
			if (left == 0) {
				left = msg;
			}
		}
		run_ready(s.ev);
	}
	assert_true(fv_peer_disconnected(s.peer));
	/* At most 4 messages and the one being reassembled held. */
	if (sent > 6ull * msg) {
		fail_msg("the library took %llu bytes for an application "
			 "that reads nothing before it ended the connection",
			 (unsigned long long)sent);
	}
	assert_logged("waiting for the application");
	talloc_free(s.conn);
	talloc_free(s.ev);
	assert_int_equal(fv_reset(), 0);
}

/* --- freeing from callbacks while completions pour in -------------------------- */

struct free_in_cb {
	struct smbdirect_conn *conn;
	int messages;
	int free_at;
	bool freed;
};

static void free_on_message(struct smbdirect_conn *conn, const uint8_t *data,
			    size_t length, void *priv)
{
	struct free_in_cb *f = priv;

	(void)data;
	(void)length;
	if (f->freed) {
		fail_msg("a message was delivered after the connection was "
			 "freed");
	}
	f->messages += 1;
	if (f->messages == f->free_at) {
		talloc_free(conn);
		f->freed = true;
	}
}

/*
 * The class of CVE-2025-39932 and CVE-2026-31536 (work and completions
 * that outlive the connection): the application frees the connection
 * from its message handler while 60 more completions of that connection
 * wait in the completion queue and a send is outstanding. Nothing more
 * reaches the application for that connection (before the fix the rest
 * of the batch was delivered to it), and the send request it still
 * holds, freed afterwards, touches nothing freed (ASan).
 */
static void test_hostile_free_during_completions(void **state)
{
	struct script s;
	struct free_in_cb f = { .free_at = 3 };
	struct smbdirect_conn_handlers h = { .message = free_on_message };
	struct sent m;
	int i;

	script_connect(*state, &s, NULL);
	f.conn = s.conn;
	smbdirect_conn_set_handlers(s.conn, &h, &f);
	fv_peer_stall(s.peer, true);
	send_msg(*state, &s, &m, 5000, 9);
	for (i = 0; i < 64 && s.send_credits > 1; i++) {
		script_data(&s, 1, 0, 100, (uint8_t)i);
	}
	run_for_ms(s.ev, 20);
	assert_true(f.freed);
	assert_int_equal(f.messages, 3);
	/* Its connection is gone: the request never completes; freeing it
	 * is safe. */
	assert_false(m.done);
	TALLOC_FREE(m.req);
	talloc_free(s.ev);
	assert_int_equal(fv_reset(), 0);
}

static void recv_never(struct tevent_req *req)
{
	(void)req;
	fail_msg("a request completed after its connection was freed");
}

/*
 * The application frees a connection that still has a send waiting for
 * credits, a receive request and an RDMA read at a stalled peer, then
 * frees those: each forgets the connection (ASan sees no access to it),
 * none calls back. (Exposures and lent buffers go first: they belong to
 * the connection's protection domain, smbdirect_rdma.h.)
 */
static void test_hostile_free_with_requests(void **state)
{
	struct script s;
	struct sent m;
	struct tevent_req *rr;
	struct tevent_req *rd;
	struct smbdirect_buffer *b;
	struct smbdirect_exposure *x;
	struct smbdirect_buffer_descriptor d;
	uint8_t *mem = talloc_zero_size(*state, 4096);
	size_t count;

	script_connect(*state, &s, NULL);
	smbdirect_conn_set_handlers(s.conn, NULL, NULL);
	b = smbdirect_buffer_new(*state, s.conn, 8192);
	x = smbdirect_expose(*state, s.conn, b, 4096, 4096, true, &d, 1,
			     &count);
	assert_non_null(x);
	fv_peer_stall(s.peer, true);
	send_msg(*state, &s, &m, 100, 1);
	rr = smbdirect_recv_send(*state, s.ev, s.conn);
	tevent_req_set_callback(rr, recv_never, NULL);
	d.offset = (uint64_t)(uintptr_t)mem;
	d.token = fv_peer_expose(s.peer, mem, 4096, false);
	d.length = 4096;
	rd = smbdirect_rdma_read_send(*state, s.ev, s.conn, b, 0, 4096, &d, 1);
	tevent_req_set_callback(rd, recv_never, NULL);
	run_ready(s.ev);
	talloc_free(x);
	talloc_free(s.conn);
	run_ready(s.ev);
	assert_false(m.done);
	TALLOC_FREE(m.req);
	talloc_free(rr);
	talloc_free(rd);
	talloc_free(s.ev);
	/* The buffer's registration outlived the PD (the application's
	 * mistake: the verbs refuse to free a PD in use); it goes now. */
	talloc_free(b);
	fv_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		TH(test_hostile_server_never_answers),
		TH(test_hostile_client_never_negotiates),
		TH(test_hostile_negotiate_longer_than_receive),
		TH(test_hostile_aborted_handshakes),
		TH(test_hostile_half_open_bound),
		TH(test_hostile_disconnect_mid_fragment),
		TH(test_hostile_qp_error),
		TH(test_hostile_rnr),
		TH(test_hostile_vanish_idle),
		TH(test_hostile_stops_reading),
		TH(test_hostile_invalidate_foreign_rkey),
		TH(test_hostile_rdma_refused_locally),
		TH(test_hostile_rdma_wrong_memory),
		TH(test_hostile_32_descriptors),
		TH(test_hostile_cq_full),
		TH(test_hostile_connection_memory),
		TH(test_hostile_disconnect_during_rdma),
		TH(test_hostile_exposure_windows),
		TH(test_hostile_exposure_windows_rxe),
		TH(test_hostile_exposure_regions),
		TH(test_hostile_receive_queue_bounded),
		TH(test_hostile_free_during_completions),
		TH(test_hostile_free_with_requests),
	};

	if (getenv("UNIT_TEST_FILTER") != NULL) {
		cmocka_set_test_filter(getenv("UNIT_TEST_FILTER"));
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
