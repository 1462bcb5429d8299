/*
 * libsmbdirect unit tests: the RDMA binding (lib/rdma/, lib/thread/) on the host,
 * over the fake verbs layer (test/common/fakeverbs.h) instead of a device:
 * what the library posts, with which options, in which order, under which
 * credits. The VM tier runs the same code over real verbs (soft-RoCE).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Two kinds of peer: a scripted one (the test reads every message the
 * library sends and answers by hand, so it controls credits exactly), and
 * a second library connection in the same process (listener, accept).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <talloc.h>
#include <tevent.h>

#include "fakeverbs.h"
#include "smbdirect_rdma.h"
#include "smbdirect_relay.h"
#include "smbdirect_wire.h"
#include "unit.h"

#define PORT 5445

/* --- driving the event loop ------------------------------------------------ */

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
		talloc_free(te); /* a timer that fired is gone already */
	}
	if (!*done) {
		fail_msg("the event loop did not get there within 5 s");
	}
}

/* Run whatever is ready now (every fd the fake made readable). */
static void run_ready(struct tevent_context *ev)
{
	bool tick = false;
	struct tevent_timer *te = tevent_add_timer(
		ev, ev, tevent_timeval_current_ofs(0, 1000), guard_fired, &tick);

	assert_non_null(te);
	while (!tick) {
		assert_int_equal(tevent_loop_once(ev), 0);
	}
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

/* --- a scripted peer --------------------------------------------------------- */

struct script {
	struct tevent_context *ev;
	struct fv_peer *peer;
	struct smbdirect_conn *conn;
	size_t seen;            /* inbox messages already accounted */
	uint32_t send_credits;  /* the library's credits the peer holds */
};

/* Take the credits granted by the library's messages not yet seen. */
static void script_account(struct script *s)
{
	while (s->seen < fv_peer_inbox_count(s->peer)) {
		const struct fv_msg *m = fv_peer_msg(s->peer, s->seen);
		struct smbdirect_data_header h;

		if (s->seen > 0) { /* message 0 is the negotiate request */
			assert_int_equal(smbdirect_data_header_decode(
						 m->data, m->length, &h),
					 SMBDIRECT_WIRE_OK);
			s->send_credits += h.credits_granted;
		}
		s->seen += 1;
	}
}

/* The peer sends a data message granting `grant` credits, with `len`
 * payload bytes of `fill` (len 0: none). */
static void script_send(struct script *s, uint16_t grant, size_t len,
			uint8_t fill)
{
	struct smbdirect_data_header h = {
		.credits_requested = 255,
		.credits_granted = grant,
		.data_offset = len > 0 ? SMBDIRECT_DATA_OFFSET : 0,
		.data_length = (uint32_t)len,
	};
	uint8_t buf[1400];
	size_t n;

	assert_true(len <= sizeof(buf) - SMBDIRECT_DATA_OFFSET);
	script_account(s);
	assert_true(s->send_credits > 0);
	n = smbdirect_data_header_encode(&h, buf, sizeof(buf));
	assert_true(n > 0);
	memset(buf + n, fill, len);
	assert_int_equal(fv_peer_send(s->peer, buf, n + len, false, 0),
			 IBV_WC_SUCCESS);
	s->send_credits -= 1;
	run_ready(s->ev);
}

/* Connect the library to a scripted peer that grants `grants` send
 * credits in its negotiate response. */
static void script_connect(void *mem, struct script *s, uint16_t grants)
{
	struct sockaddr_in dst = addr_at(PORT);
	struct smbdirect_negotiate_request nreq;
	struct smbdirect_negotiate_response rsp = {
		.min_version = 0x0100,
		.max_version = 0x0100,
		.negotiated_version = 0x0100,
		.credits_requested = 255,
		.credits_granted = grants,
		.status = SMBDIRECT_STATUS_SUCCESS,
		.max_read_write_size = 1048576,
		.preferred_send_size = 1364,
		.max_receive_size = 1364,
		.max_fragmented_size = 1048576,
	};
	uint8_t buf[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];
	struct tevent_req *req;
	bool done = false;

	memset(s, 0, sizeof(*s));
	s->ev = tevent_context_init(mem);
	assert_non_null(s->ev);
	fv_script_listen(PORT, 16, 16);
	req = smbdirect_connect_send(mem, s->ev, (struct sockaddr *)&dst, NULL,
				     NULL, 1000);
	assert_non_null(req);
	tevent_req_set_callback(req, req_done, &done);
	while (s->peer == NULL || fv_peer_inbox_count(s->peer) == 0) {
		run_ready(s->ev);
		if (s->peer == NULL) {
			s->peer = fv_peer_next();
		}
	}
	/* [MS-SMBD] 3.1.5.2: the request comes first. */
	assert_int_equal(smbdirect_negotiate_request_decode(
				 fv_peer_msg(s->peer, 0)->data,
				 fv_peer_msg(s->peer, 0)->length, &nreq),
			 SMBDIRECT_WIRE_OK);
	assert_int_equal(smbdirect_negotiate_response_encode(&rsp, buf,
							     sizeof(buf)),
			 sizeof(buf));
	assert_int_equal(fv_peer_send(s->peer, buf, sizeof(buf), false, 0),
			 IBV_WC_SUCCESS);
	run_until(s->ev, &done);
	assert_int_equal(smbdirect_connect_recv(req, mem, &s->conn, NULL), 0);
	talloc_free(req);
	run_ready(s->ev);
	script_account(s);
}

/* --- Send-with-Invalidate travels with its own message -------------------- */

struct sent_msg {
	struct tevent_req *req;
	bool done;
	int result;
	uint8_t fill;
	bool invalidate;
	uint32_t rkey;
	uint8_t *payload;
	size_t length;
};

static void sent_done(struct tevent_req *req)
{
	struct sent_msg *m = tevent_req_callback_data_void(req);

	m->result = smbdirect_send_recv(req);
	m->done = true;
	TALLOC_FREE(m->req);
}

static void submit(void *mem, struct script *s, struct sent_msg *m)
{
	struct iovec iov = { .iov_base = m->payload, .iov_len = m->length };

	m->payload = talloc_array(mem, uint8_t, m->length);
	assert_non_null(m->payload);
	memset(m->payload, m->fill, m->length);
	iov.iov_base = m->payload;
	if (m->invalidate) {
		m->req = smbdirect_send_invalidate_send(mem, s->ev, s->conn, &iov,
							1, m->rkey);
	} else {
		m->req = smbdirect_send_send(mem, s->ev, s->conn, &iov, 1);
	}
	assert_non_null(m->req);
	tevent_req_set_callback(m->req, sent_done, m);
}

/*
 * [MS-SMBD] 3.1.4.2: the remote token to invalidate is an argument of one
 * Send Message call; 3.1.5.4 sends it with that message's first fragment,
 * and no other. With no send credit left, five messages (with and without
 * tokens, one of three fragments) queue; the peer then grants one credit
 * at a time. Each message's first fragment must carry its own token, and
 * only it. (With the token kept per connection, the last one submitted
 * left on the first message to go, and the others none: that is what
 * killed cifs 3.1.1 mounts under load.)
 */
static void test_invalidate_per_message(void **state)
{
	void *mem = *state;
	struct script s;
	struct sent_msg msgs[] = {
		{ .fill = 0xa1, .length = 100 },
		{ .fill = 0xa2, .length = 200, .invalidate = true, .rkey = 0x1111 },
		{ .fill = 0xa3, .length = 300 },
		{ .fill = 0xa4, .length = 400, .invalidate = true, .rkey = 0x2222 },
		{ .fill = 0xa5, .length = 3000, .invalidate = true, .rkey = 0x3333 },
		{ .fill = 0xa6, .length = 50, .invalidate = true, .rkey = 0 },
	};
	size_t n = ARRAY_SIZE(msgs);
	size_t first_data;
	size_t i;
	size_t k;
	size_t m_index = 0;
	bool first_fragment = true;
	size_t frags = 0;
	int rounds = 0;

	script_connect(mem, &s, 1);
	/* The library spent its only credit granting credits (its last one
	 * may go only with a grant, 3.1.5.1): it has none now. */
	first_data = fv_peer_inbox_count(s.peer);
	for (i = 0; i < n; i++) {
		submit(mem, &s, &msgs[i]);
	}
	run_ready(s.ev);
	assert_int_equal(fv_peer_inbox_count(s.peer), first_data);

	/* One credit at a time, until every message completed. */
	for (;;) {
		bool all = true;

		for (i = 0; i < n; i++) {
			all = all && msgs[i].done;
		}
		if (all) {
			break;
		}
		assert_true(++rounds < 100);
		script_send(&s, 1, 0, 0);
	}
	script_account(&s);

	/* Walk the data messages: credit-only ones, then fragments of each
	 * message in submission order. */
	for (k = first_data; k < fv_peer_inbox_count(s.peer); k++) {
		const struct fv_msg *w = fv_peer_msg(s.peer, k);
		struct smbdirect_data_header h;
		const struct sent_msg *m;

		assert_int_equal(smbdirect_data_header_decode(w->data, w->length,
							      &h),
				 SMBDIRECT_WIRE_OK);
		if (h.data_length == 0) {
			assert_int_equal(w->opcode, IBV_WR_SEND);
			continue;
		}
		assert_true(m_index < n);
		m = &msgs[m_index];
		frags += 1;
		assert_int_equal(w->data[h.data_offset], m->fill);
		if (first_fragment && m->invalidate) {
			if (w->opcode != IBV_WR_SEND_WITH_INV ||
			    w->invalidate_rkey != m->rkey) {
				fail_msg("message %zu (fill 0x%02x): its first "
					 "fragment went %s rkey 0x%x, not with "
					 "its own 0x%x",
					 m_index, m->fill,
					 w->opcode == IBV_WR_SEND_WITH_INV
						 ? "with"
						 : "without",
					 w->invalidate_rkey, m->rkey);
			}
		} else if (w->opcode != IBV_WR_SEND) {
			fail_msg("message %zu (fill 0x%02x), %s fragment: sent "
				 "with Send-with-Invalidate of 0x%x",
				 m_index, m->fill,
				 first_fragment ? "first" : "a later",
				 w->invalidate_rkey);
		}
		first_fragment = h.remaining_data_length == 0;
		if (first_fragment) {
			m_index += 1;
		}
	}
	assert_int_equal(m_index, n);
	assert_int_equal(frags, n + 2); /* 3000 bytes: 3 fragments of 1340 */
	for (i = 0; i < n; i++) {
		assert_int_equal(msgs[i].result, 0);
	}
	talloc_free(s.conn);
	talloc_free(s.ev);
	assert_int_equal(fv_reset(), 0);
}

/* --- the log goes through the host's hook ------------------------------------ */

struct log_line {
	enum smbdirect_log_level level;
	const struct smbdirect_conn *conn;
	char peer[64];
	char message[256];
};

struct log_capture {
	struct log_line lines[16];
	int count;
};

static void capture_log(void *priv, enum smbdirect_log_level level,
			const struct smbdirect_conn *conn, const char *peer,
			const char *message)
{
	struct log_capture *c = priv;
	struct log_line *l;

	if (c->count == (int)ARRAY_SIZE(c->lines)) {
		return;
	}
	l = &c->lines[c->count++];
	l->level = level;
	l->conn = conn;
	snprintf(l->peer, sizeof(l->peer), "%s", peer != NULL ? peer : "");
	snprintf(l->message, sizeof(l->message), "%s", message);
}

/* A peer that breaks the protocol (a data message whose DataOffset is not
 * 8-byte aligned, [MS-SMBD] 3.1.5.8) ends the connection, and the host's
 * log hook gets one line: a warning, naming the connection, the peer's
 * address and the reason. With no hook, nothing reaches it. */
static void test_log_hook(void **state)
{
	void *mem = *state;
	struct log_capture cap;
	struct script s;
	uint8_t bad[64];
	int i;

	memset(&cap, 0, sizeof(cap));
	smbdirect_set_log_fn(capture_log, &cap);
	script_connect(mem, &s, 16);
	put_data_header(bad, 255, 1, 0, 0, 0, 28, 8);
	assert_int_equal(fv_peer_send(s.peer, bad, 36, false, 0),
			 IBV_WC_SUCCESS);
	run_ready(s.ev);
	assert_int_equal(cap.count, 1);
	assert_int_equal(cap.lines[0].level, SMBDIRECT_LOG_WARNING);
	assert_ptr_equal(cap.lines[0].conn, s.conn);
	assert_string_equal(cap.lines[0].peer, smbdirect_conn_peer(s.conn));
	assert_string_equal(cap.lines[0].peer, "10.9.0.1:5445");
	assert_non_null(strstr(cap.lines[0].message,
			       "connection ended: invalid-message"));
	smbdirect_set_log_fn(NULL, NULL);
	talloc_free(s.conn);
	talloc_free(s.ev);
	assert_int_equal(cap.count, 1);
	for (i = SMBDIRECT_LOG_ERROR; i <= SMBDIRECT_LOG_DEBUG; i++) {
		assert_string_not_equal(smbdirect_log_level_string(i), "unknown");
	}
	assert_int_equal(fv_reset(), 0);
}

/* --- two library connections in one process ----------------------------- */

struct pair {
	struct tevent_context *ev;
	struct smbdirect_listener *listener;
	struct tevent_req *accept_req;
	struct smbdirect_conn *client;
	struct smbdirect_conn *server;
	bool accepted;
	/* server side: echo every message back */
	uint64_t echoed;
	uint64_t echoes_sent;   /* ... and their sends completed */
	/* client side: what came back */
	uint64_t received;
	uint64_t received_bytes;
	uint32_t hash;
	bool disconnected;
	enum smbdirect_reason reason;
};

static void accepted(struct tevent_req *req)
{
	struct pair *p = tevent_req_callback_data_void(req);

	assert_int_equal(smbdirect_accept_recv(req, p, &p->server, NULL), 0);
	TALLOC_FREE(p->accept_req);
	p->accepted = true;
}

static void on_request(struct smbdirect_listener *l,
		       struct smbdirect_conn_request *r, void *priv)
{
	struct pair *p = priv;

	(void)l;
	p->accept_req = smbdirect_accept_send(p, p->ev, r, NULL);
	assert_non_null(p->accept_req);
	tevent_req_set_callback(p->accept_req, accepted, p);
}

/* A send completed (priv: the pair, for the server's echoes, or NULL). */
static void echo_sent(struct tevent_req *req)
{
	struct pair *p = tevent_req_callback_data_void(req);

	assert_int_equal(smbdirect_send_recv(req), 0);
	talloc_free(req);
	if (p != NULL) {
		p->echoes_sent += 1;
	}
}

static void server_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct pair *p = priv;
	/* The message is valid during the call only: send a copy. */
	uint8_t *copy = talloc_memdup(p, data, length);
	struct iovec iov = { .iov_base = copy, .iov_len = length };
	struct tevent_req *req;

	assert_non_null(copy);
	req = smbdirect_send_send(copy, p->ev, conn, &iov, 1);
	assert_non_null(req);
	tevent_req_set_callback(req, echo_sent, p);
	p->echoed += 1;
}

static uint32_t fnv(uint32_t h, const uint8_t *d, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h = (h ^ d[i]) * 16777619u;
	}
	return h;
}

static void client_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct pair *p = priv;

	(void)conn;
	p->received += 1;
	p->received_bytes += length;
	p->hash = fnv(p->hash, data, length);
}

static void client_gone(struct smbdirect_conn *conn,
			enum smbdirect_reason reason, const char *detail,
			void *priv)
{
	struct pair *p = priv;

	(void)conn;
	(void)detail;
	p->disconnected = true;
	p->reason = reason;
}

static void connected(struct tevent_req *req)
{
	struct pair *p = tevent_req_callback_data_void(req);

	assert_int_equal(smbdirect_connect_recv(req, p, &p->client, NULL), 0);
	talloc_free(req);
}

static struct pair *pair_up(void *mem)
{
	struct pair *p = talloc_zero(mem, struct pair);
	struct sockaddr_in a = addr_at(0);
	struct tevent_req *req;
	struct smbdirect_conn_handlers sh = { .message = server_message };
	struct smbdirect_conn_handlers ch = { .message = client_message,
					      .disconnected = client_gone };

	assert_non_null(p);
	p->ev = tevent_context_init(p);
	p->hash = 2166136261u;
	assert_int_equal(smbdirect_listen(p, p->ev, (struct sockaddr *)&a, 16,
					  on_request, p, &p->listener),
			 0);
	req = smbdirect_connect_send(p, p->ev,
				     smbdirect_listener_address(p->listener),
				     NULL, NULL, 1000);
	assert_non_null(req);
	tevent_req_set_callback(req, connected, p);
	while (p->client == NULL || !p->accepted) {
		run_ready(p->ev);
	}
	smbdirect_conn_set_handlers(p->server, &sh, p);
	smbdirect_conn_set_handlers(p->client, &ch, p);
	return p;
}

/*
 * The whole path between two library connections in one process: listen,
 * accept, negotiate, 2,000 echoes of sizes from 1 byte to 64 KiB (so many
 * fragmented), several in flight at once, checksummed; then every verbs
 * object is released (no QP, MR, window, CQ or channel left).
 */
/* `total` messages of 1 byte to 64 KiB from the client (8 in flight),
 * echoed by whoever serves p->server's messages; all come back, in order,
 * checksummed. */
static void echo_stream(struct pair *p, int total)
{
	uint32_t want = 2166136261u;
	uint64_t want_bytes = 0;
	uint32_t seed = 12345;
	uint64_t base = p->received;
	uint64_t base_bytes = p->received_bytes;
	int sent = 0;

	p->hash = 2166136261u;
	while (p->received - base < (uint64_t)total) {
		/* Up to 8 in flight. */
		while (sent < total &&
		       (uint64_t)sent - (p->received - base) < 8) {
			size_t len;
			uint8_t *buf;
			struct iovec iov;
			struct tevent_req *req;
			size_t i;

			seed = seed * 1103515245u + 12345u;
			len = 1 + (seed >> 8) % (sent % 10 == 0 ? 65536 : 2000);
			buf = talloc_size(p, len);
			assert_non_null(buf);
			for (i = 0; i < len; i++) {
				buf[i] = (uint8_t)(seed >> (i % 24)) ^ (uint8_t)i;
			}
			want = fnv(want, buf, len);
			want_bytes += len;
			iov.iov_base = buf;
			iov.iov_len = len;
			req = smbdirect_send_send(buf, p->ev, p->client, &iov, 1);
			assert_non_null(req);
			tevent_req_set_callback(req, echo_sent, NULL);
			sent += 1;
		}
		run_ready(p->ev);
		assert_false(p->disconnected);
	}
	assert_int_equal(p->received - base, total);
	assert_int_equal(p->received_bytes - base_bytes, want_bytes);
	assert_int_equal(p->hash, want);
	/* ... and every echo's send has completed on the serving side (over
	 * a relay its completion comes back later): a test that ends a
	 * side next leaves none of them pending. */
	while (p->echoes_sent < p->echoed) {
		run_ready(p->ev);
		assert_false(p->disconnected);
	}
}

/*
 * The whole path between two library connections in one process: listen,
 * accept, negotiate, 2,000 echoes of sizes from 1 byte to 64 KiB (so many
 * fragmented), several in flight at once, checksummed; then every verbs
 * object is released (no QP, MR, window, CQ or channel left).
 */
static void test_echo_stream(void **state)
{
	void *mem = *state;
	struct pair *p = pair_up(mem);
	struct fv_stats st;

	echo_stream(p, 2000);
	fv_get_stats(&st);
	assert_int_equal(st.rnr_errors, 0);
	assert_int_equal(st.cq_overflows, 0);
	talloc_free(p);
	assert_int_equal(fv_reset(), 0);
}

/* RDMA write and read of 1 MiB through an exposure of the client's memory
 * (3.1.4.3-3.1.4.6); then the server answers with Send-with-Invalidate of
 * the exposure's rkey, which the client sees invalidated, and a further
 * RDMA write through that rkey fails and ends the connection. With
 * memory windows (rxe's kind) and with an MR per exposure. */
static void rdma_through_exposure(void **state, bool windows)
{
	void *mem = *state;
	struct pair *p;
	struct smbdirect_buffer *cbuf;
	struct smbdirect_buffer *sbuf;
	struct smbdirect_exposure *x;
	struct smbdirect_buffer_descriptor d[4];
	size_t count = 0;
	const size_t len = 1048576;
	uint8_t *c;
	uint8_t *srv;
	struct tevent_req *req;
	bool done = false;
	struct iovec iov = { .iov_base = (void *)"done", .iov_len = 4 };
	size_t i;

	fv_set_memory_windows(windows);
	p = pair_up(mem);
	assert_int_equal(smbdirect_conn_uses_memory_windows(p->client), windows);
	cbuf = smbdirect_buffer_new(p, p->client, len);
	sbuf = smbdirect_buffer_new(p, p->server, len);
	assert_non_null(cbuf);
	assert_non_null(sbuf);
	c = smbdirect_buffer_data(cbuf);
	srv = smbdirect_buffer_data(sbuf);
	for (i = 0; i < len; i++) {
		srv[i] = (uint8_t)(i * 7 + 3);
	}
	x = smbdirect_expose(p, p->client, cbuf, 0, len, true, d, ARRAY_SIZE(d),
			     &count);
	assert_non_null(x);
	assert_int_equal(count, 1);
	run_ready(p->ev);

	/* The server writes into the client's exposed memory. */
	req = smbdirect_rdma_write_send(p, p->ev, p->server, sbuf, 0, len, d,
					count);
	tevent_req_set_callback(req, req_done, &done);
	run_until(p->ev, &done);
	assert_int_equal(smbdirect_rdma_recv(req), 0);
	talloc_free(req);
	assert_memory_equal(c, srv, len);

	/* The response invalidates the client's rkey (3.1.4.2). */
	req = smbdirect_send_invalidate_send(p, p->ev, p->server, &iov, 1,
					     d[0].token);
	done = false;
	tevent_req_set_callback(req, req_done, &done);
	run_until(p->ev, &done);
	/* With an MR per exposure the send itself fails: the peer's QP
	 * refuses to invalidate an MR's rkey, which ends the connection. */
	assert_int_equal(smbdirect_send_recv(req), windows ? 0 : ENOTCONN);
	talloc_free(req);
	if (windows) {
		while (p->received == 0) {
			run_ready(p->ev);
		}
		assert_true(smbdirect_exposure_invalidated(x));
		/* A later access through the dead rkey fails. */
		req = smbdirect_rdma_write_send(p, p->ev, p->server, sbuf, 0, 4096,
						d, count);
		done = false;
		tevent_req_set_callback(req, req_done, &done);
		run_until(p->ev, &done);
		assert_int_equal(smbdirect_rdma_recv(req), EIO);
		talloc_free(req);
	} else {
		/* An MR's rkey cannot be invalidated by the peer: the
		 * receiving QP fails (measured on rxe too). */
		while (!p->disconnected) {
			run_ready(p->ev);
		}
	}
	talloc_free(x);
	talloc_free(cbuf);
	talloc_free(sbuf);
	talloc_free(p);
	assert_int_equal(fv_reset(), 0);
}

static void test_rdma_memory_windows(void **state)
{
	rdma_through_exposure(state, true);
}

static void test_rdma_memory_regions(void **state)
{
	rdma_through_exposure(state, false);
}

/* --- a connection served by a relay (smbdirect_relay.h) ------------------ */

/* p->server's connection relayed over a socketpair to an owner connection
 * in the same process: the owner echoes (server_message). */
struct relayed {
	struct pair *p;
	struct tevent_req *relay;
	struct smbdirect_conn *owner;
	bool relay_done;
	enum smbdirect_reason relay_reason;
	bool owner_ended;
	enum smbdirect_reason owner_reason;
};

static void relay_finished(struct tevent_req *req)
{
	struct relayed *r = tevent_req_callback_data_void(req);

	assert_int_equal(smbdirect_relay_recv(req, &r->relay_reason), 0);
	TALLOC_FREE(r->relay);
	r->relay_done = true;
}

static void owner_message(struct smbdirect_conn *conn, const uint8_t *data,
			  size_t length, void *priv)
{
	struct relayed *r = priv;

	server_message(conn, data, length, r->p);
}

static void owner_disconnected(struct smbdirect_conn *conn,
			       enum smbdirect_reason reason,
			       const char *detail, void *priv)
{
	struct relayed *r = priv;

	(void)conn;
	(void)detail;
	r->owner_ended = true;
	r->owner_reason = reason;
}

/* A pair whose server connection a relay serves over a socketpair;
 * returns the owner's end of it (no owner attached yet). */
static struct relayed *relay_start(void *mem, int *owner_fd)
{
	struct relayed *r = talloc_zero(mem, struct relayed);
	int sv[2];

	assert_non_null(r);
	r->p = pair_up(r);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->relay = smbdirect_relay_send(r, r->p->ev, r->p->server, sv[0]);
	assert_non_null(r->relay);
	tevent_req_set_callback(r->relay, relay_finished, r);
	*owner_fd = sv[1];
	return r;
}

static struct relayed *relay_up(void *mem)
{
	struct smbdirect_conn_handlers oh = {
		.message = owner_message,
		.disconnected = owner_disconnected,
	};
	int fd;
	struct relayed *r = relay_start(mem, &fd);

	/* The greeting went out at once: attach does not need the loop. */
	assert_int_equal(smbdirect_relay_attach(r, r->p->ev, fd, 1000,
						&r->owner),
			 0);
	assert_true(smbdirect_conn_is_relayed(r->owner));
	assert_false(smbdirect_conn_is_relayed(r->p->server));
	assert_memory_equal(smbdirect_conn_params(r->owner),
			    smbdirect_conn_params(r->p->server),
			    sizeof(struct smbdirect_params));
	assert_string_equal(smbdirect_conn_peer(r->owner),
			    smbdirect_conn_peer(r->p->server));
	assert_memory_equal(smbdirect_conn_peer_address(r->owner),
			    smbdirect_conn_peer_address(r->p->server),
			    sizeof(struct sockaddr_in));
	smbdirect_conn_set_handlers(r->owner, &oh, r);
	return r;
}

static int rdma_result(struct relayed *r, struct tevent_req *req)
{
	bool done = false;
	int ret;

	assert_non_null(req);
	tevent_req_set_callback(req, req_done, &done);
	run_until(r->p->ev, &done);
	ret = smbdirect_rdma_recv(req);
	talloc_free(req);
	return ret;
}

/*
 * The owner drives the connection through the relay as if it were its
 * own: 500 echoes (checksummed, 8 in flight), an RDMA write and read of
 * 1 MiB between a shared buffer of the owner's and the client's exposed
 * memory (3.1.4.5, 3.1.4.6), a bad descriptor list refused (EINVAL) and a
 * response with Send-with-Invalidate that kills the client's rkey
 * (3.1.4.2). Then the owner disconnects: the client sees the end, the
 * relay completes, and no verbs object is left (the relay's registrations
 * of the shared buffers included).
 */
static void test_relay_echo_rdma(void **state)
{
	struct relayed *r;
	struct smbdirect_buffer *cbuf;
	struct smbdirect_buffer *obuf;
	struct smbdirect_exposure *x;
	struct smbdirect_exposure *xr;
	struct smbdirect_buffer_descriptor d[4];
	struct smbdirect_buffer_descriptor dr[4];
	struct smbdirect_buffer_descriptor bad;
	struct smbdirect_conn_stats st;
	size_t count = 0;
	const size_t len = 1048576;
	struct iovec iov = { .iov_base = (void *)"done", .iov_len = 4 };
	uint8_t *c;
	uint8_t *o;
	struct tevent_req *req;
	bool done = false;
	size_t i;

	fv_set_memory_windows(true);
	r = relay_up(*state);
	echo_stream(r->p, 500);
	assert_int_equal(r->p->echoed, 500);

	cbuf = smbdirect_buffer_new(r, r->p->client, len);
	obuf = smbdirect_buffer_new(r, r->owner, len);
	assert_non_null(cbuf);
	assert_non_null(obuf);
	c = smbdirect_buffer_data(cbuf);
	o = smbdirect_buffer_data(obuf);
	for (i = 0; i < len; i++) {
		o[i] = (uint8_t)(i * 7 + 3);
	}
	x = smbdirect_expose(r, r->p->client, cbuf, 0, len, true, d,
			     ARRAY_SIZE(d), &count);
	assert_non_null(x);
	assert_int_equal(count, 1);
	run_ready(r->p->ev);
	/* The owner's memory is not the relay's to expose. */
	assert_null(smbdirect_expose(r, r->owner, obuf, 0, len, true, d,
				     ARRAY_SIZE(d), &count));
	assert_int_equal(errno, ENOTSUP);

	assert_int_equal(rdma_result(r, smbdirect_rdma_write_send(
						r, r->p->ev, r->owner, obuf, 0,
						len, d, 1)),
			 0);
	assert_memory_equal(c, o, len);
	for (i = 0; i < len; i++) {
		c[i] = (uint8_t)(i * 13 + 1);
	}
	/* A READ's buffer is exposed for reading. */
	xr = smbdirect_expose(r, r->p->client, cbuf, 0, len, false, dr,
			      ARRAY_SIZE(dr), &count);
	assert_non_null(xr);
	run_ready(r->p->ev);
	assert_int_equal(rdma_result(r, smbdirect_rdma_read_send(
						r, r->p->ev, r->owner, obuf, 0,
						len, dr, 1)),
			 0);
	assert_memory_equal(c, o, len);
	talloc_free(xr);
	/* The relay's library checks the list as for a local caller. */
	bad = d[0];
	bad.length = 0;
	assert_int_equal(rdma_result(r, smbdirect_rdma_read_send(
						r, r->p->ev, r->owner, obuf, 0,
						4096, &bad, 1)),
			 EINVAL);
	smbdirect_conn_get_stats(r->owner, &st);
	assert_int_equal(st.rdma_writes, 1);
	assert_int_equal(st.rdma_reads, 1);
	assert_int_equal(st.rdma_bytes, 2 * len);
	assert_true(st.engine.messages_received >= 500);

	req = smbdirect_send_invalidate_send(r, r->p->ev, r->owner, &iov, 1,
					     d[0].token);
	assert_non_null(req);
	tevent_req_set_callback(req, req_done, &done);
	run_until(r->p->ev, &done);
	assert_int_equal(smbdirect_send_recv(req), 0);
	talloc_free(req);
	while (!smbdirect_exposure_invalidated(x)) {
		run_ready(r->p->ev);
	}

	smbdirect_disconnect(r->owner);
	while (!r->p->disconnected || !r->relay_done || !r->owner_ended) {
		run_ready(r->p->ev);
	}
	assert_int_equal(r->owner_reason, SMBDIRECT_REASON_LOCAL_CLOSE);
	assert_int_equal(r->relay_reason, SMBDIRECT_REASON_LOCAL_CLOSE);
	/* After the end, the owner's calls fail at once. */
	assert_null(smbdirect_buffer_new(r, r->owner, 4096));
	assert_int_equal(errno, ENOTCONN);
	talloc_free(x);
	talloc_free(cbuf);
	talloc_free(obuf);
	talloc_free(r);
	assert_int_equal(fv_reset(), 0);
}

/* The owner dies (its end of the socket closes): the relay disconnects
 * the peer and completes. */
static void test_relay_owner_dies(void **state)
{
	struct relayed *r = relay_up(*state);

	echo_stream(r->p, 20);
	TALLOC_FREE(r->owner);
	while (!r->p->disconnected || !r->relay_done) {
		run_ready(r->p->ev);
	}
	assert_int_equal(r->relay_reason, SMBDIRECT_REASON_LOCAL_CLOSE);
	talloc_free(r);
	assert_int_equal(fv_reset(), 0);
}

/* The peer leaves: the owner hears why. Then the relay itself goes: an
 * owner's pending call fails, and its connection ends once. */
static void test_relay_peer_leaves(void **state)
{
	struct relayed *r = relay_up(*state);

	echo_stream(r->p, 20);
	smbdirect_disconnect(r->p->client);
	while (!r->owner_ended || !r->relay_done) {
		run_ready(r->p->ev);
	}
	assert_int_equal(r->owner_reason, SMBDIRECT_REASON_PEER_DISCONNECTED);
	talloc_free(r);
	assert_int_equal(fv_reset(), 0);
}

static void test_relay_goes_away(void **state)
{
	struct relayed *r = relay_up(*state);
	struct smbdirect_buffer *obuf;
	struct smbdirect_buffer_descriptor d = {
		.offset = 0, .token = 1, .length = 4096
	};
	struct tevent_req *req;
	bool done = false;

	echo_stream(r->p, 20);
	obuf = smbdirect_buffer_new(r, r->owner, 4096);
	assert_non_null(obuf);
	/* The relay process is gone before it could answer. */
	req = smbdirect_rdma_read_send(r, r->p->ev, r->owner, obuf, 0, 4096,
				       &d, 1);
	assert_non_null(req);
	tevent_req_set_callback(req, req_done, &done);
	TALLOC_FREE(r->relay);
	run_until(r->p->ev, &done);
	assert_int_equal(smbdirect_rdma_recv(req), ENOTCONN);
	talloc_free(req);
	assert_true(r->owner_ended);
	assert_int_equal(r->owner_reason, SMBDIRECT_REASON_TRANSPORT_ERROR);
	talloc_free(obuf);
	talloc_free(r);
	assert_int_equal(fv_reset(), 0);
}

/* An owner that reads nothing cannot keep the relay: the peer leaves
 * while the relay's frames fill the socket, and the relay ends within its
 * 10 s grace instead of waiting for ever. */
static void test_relay_owner_stuck(void **state)
{
	int owner_fd;
	struct relayed *r = relay_start(*state, &owner_fd);
	uint8_t *big;
	struct iovec iov;
	struct timeval t0, t1;
	int i;

	/* owner_fd is never read: 64 messages of 60 KiB fill it. */
	big = talloc_zero_size(r, 60000);
	assert_non_null(big);
	iov.iov_base = big;
	iov.iov_len = 60000;
	for (i = 0; i < 64; i++) {
		struct tevent_req *req = smbdirect_send_send(big, r->p->ev,
							     r->p->client,
							     &iov, 1);

		assert_non_null(req);
		tevent_req_set_callback(req, echo_sent, NULL);
	}
	for (i = 0; i < 200; i++) {
		run_ready(r->p->ev);
	}
	assert_false(r->relay_done);
	gettimeofday(&t0, NULL);
	smbdirect_disconnect(r->p->client);
	do {
		run_ready(r->p->ev);
		gettimeofday(&t1, NULL);
	} while (!r->relay_done && t1.tv_sec - t0.tv_sec < 20);
	assert_true(r->relay_done);
	assert_true(t1.tv_sec - t0.tv_sec <= 12);
	assert_int_equal(r->relay_reason, SMBDIRECT_REASON_PEER_DISCONNECTED);
	close(owner_fd);
	talloc_free(r);
	assert_int_equal(fv_reset(), 0);
}

/* What is not a relay's greeting is refused; silence times out. */
static void test_relay_attach_refuses(void **state)
{
	struct tevent_context *ev = tevent_context_init(*state);
	struct smbdirect_conn *conn = NULL;
	uint8_t junk[16];
	int sv[2];

	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(smbdirect_relay_attach(*state, ev, sv[1], 50, &conn),
			 ETIMEDOUT);
	assert_int_equal(write(sv[0], junk, sizeof(junk)), sizeof(junk));
	assert_int_equal(smbdirect_relay_attach(*state, ev, sv[1], 50, &conn),
			 EPROTO);
	close(sv[0]);
	assert_int_equal(smbdirect_relay_attach(*state, ev, sv[1], 50, &conn),
			 ENOTCONN);
	assert_null(conn);
	close(sv[1]);
	talloc_free(ev);
}

static bool is_rdma(int family, const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET6) {
		assert_int_equal(inet_pton(AF_INET6, text,
					   &((struct sockaddr_in6 *)&ss)->sin6_addr),
				 1);
	} else {
		assert_int_equal(inet_pton(AF_INET, text,
					   &((struct sockaddr_in *)&ss)->sin_addr),
				 1);
	}
	return smbdirect_address_is_rdma((struct sockaddr *)&ss);
}

/* Loopback and wildcard addresses are no RDMA interface, though rdma_cm
 * binds them (the loopback one to any device): a listener there took the
 * port from the device's real address in the guest. */
static void test_address_is_rdma(void **state)
{
	(void)state;
	/* The fake device serves every address it is bound to. */
	assert_true(is_rdma(AF_INET, "10.9.0.1"));
	assert_true(is_rdma(AF_INET6, "fd00:9::1"));
	assert_false(is_rdma(AF_INET, "127.0.0.1"));
	assert_false(is_rdma(AF_INET, "127.1.2.3"));
	assert_false(is_rdma(AF_INET, "0.0.0.0"));
	assert_false(is_rdma(AF_INET6, "::1"));
	assert_false(is_rdma(AF_INET6, "::"));
	assert_false(is_rdma(AF_INET6, "::ffff:127.0.0.1"));
	assert_true(is_rdma(AF_INET6, "::ffff:10.9.0.1"));
	assert_false(smbdirect_address_is_rdma(NULL));
	assert_int_equal(fv_reset(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_invalidate_per_message),
		T(test_log_hook),
		T(test_echo_stream),
		T(test_rdma_memory_windows),
		T(test_rdma_memory_regions),
		T(test_relay_echo_rdma),
		T(test_relay_owner_dies),
		T(test_relay_peer_leaves),
		T(test_relay_goes_away),
		T(test_relay_owner_stuck),
		T(test_relay_attach_refuses),
		T(test_address_is_rdma),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
