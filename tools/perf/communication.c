/*
 * smbdirect-perf's communication: the control messages between client and
 * server (their encoding, and what each side does with them), and the
 * message send/receive machinery the tests share.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The client chooses the test and its parameters and tells the server in
 * a SETUP message per size, so the server needs no options. Test messages
 * carry no header: each phase knows how many SIZE-byte messages it
 * expects. Control messages, little-endian:
 *   header  "SDPF" version(1) type(1) reserved(2)
 *   SETUP   test(1) flags(1) reserved(2) size(4) iters(8) depth(4)
 *           warmup(4) slots(4) ndesc(4) descriptors(16 each,
 *           [MS-SMBD] 2.2.3.1)
 *   READY   -
 *   RESULT  test(1) reserved(3) size(4) iters(8) elapsed_ns(8)
 *           peak_bytes(8) peak_ns(8) then round-trip statistics in ns:
 *           min max median avg stdev p99 p99.9 (8 each)
 *   ERROR   text
 *   QUIT    -
 *
 * Everything runs from tevent callbacks: the message handlers (zero-copy
 * receive) and send completions drive small state machines; no event
 * loop runs inside a library callback.
 */
#include <errno.h>
#include <string.h>

#include "perf.h"

#define PERF_MAGIC "SDPF"
#define PERF_VERSION 1
#define SETUP_FIXED (PERF_HDR + 32)
#define RESULT_SIZE (PERF_HDR + 16 + 10 * 8)

/* --- little-endian encoding ------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static void put_header(uint8_t *p, enum msg_type type)
{
	memcpy(p, PERF_MAGIC, 4);
	p[4] = PERF_VERSION;
	p[5] = (uint8_t)type;
	p[6] = 0;
	p[7] = 0;
}

/* The type of a control message, or 0 if it is none. */
static int msg_type_of(const uint8_t *data, size_t length)
{
	if (length < PERF_HDR || memcmp(data, PERF_MAGIC, 4) != 0 ||
	    data[4] != PERF_VERSION) {
		return 0;
	}
	return data[5];
}

static void encode_result(uint8_t *p, const struct result *r)
{
	put_header(p, MSG_RESULT);
	p += PERF_HDR;
	memset(p, 0, 4);
	p[0] = (uint8_t)r->test;
	put_u32(p + 4, r->size);
	put_u64(p + 8, r->iters);
	put_u64(p + 16, r->elapsed_ns);
	put_u64(p + 24, r->peak_bytes);
	put_u64(p + 32, r->peak_ns);
	put_u64(p + 40, r->rtt_min);
	put_u64(p + 48, r->rtt_max);
	put_u64(p + 56, r->rtt_median);
	put_u64(p + 64, r->rtt_avg);
	put_u64(p + 72, r->rtt_stdev);
	put_u64(p + 80, r->rtt_p99);
	put_u64(p + 88, r->rtt_p999);
}

static bool decode_result(const uint8_t *p, size_t length, struct result *r)
{
	if (length < RESULT_SIZE) {
		return false;
	}
	p += PERF_HDR;
	r->test = (enum perf_test)p[0];
	r->size = get_u32(p + 4);
	r->iters = get_u64(p + 8);
	r->elapsed_ns = get_u64(p + 16);
	r->peak_bytes = get_u64(p + 24);
	r->peak_ns = get_u64(p + 32);
	r->rtt_min = get_u64(p + 40);
	r->rtt_max = get_u64(p + 48);
	r->rtt_median = get_u64(p + 56);
	r->rtt_avg = get_u64(p + 64);
	r->rtt_stdev = get_u64(p + 72);
	r->rtt_p99 = get_u64(p + 80);
	r->rtt_p999 = get_u64(p + 88);
	return true;
}

/* A SETUP, checked: false with *why saying what is wrong. */
static bool decode_setup(const uint8_t *data, size_t length, struct setup *su,
			 const char **why)
{
	const uint8_t *p = data + PERF_HDR;
	const struct perf_test_def *test;
	uint32_t ndesc;

	*why = "malformed SETUP";
	if (length < SETUP_FIXED) {
		return false;
	}
	memset(su, 0, sizeof(*su));
	su->test = (enum perf_test)p[0];
	su->flags = p[1];
	su->size = get_u32(p + 4);
	su->iters = get_u64(p + 8);
	su->depth = get_u32(p + 16);
	su->warmup = get_u32(p + 20);
	su->slots = get_u32(p + 24);
	ndesc = get_u32(p + 28);
	test = perf_test_find(su->test);
	if (test == NULL) {
		*why = "unknown test";
		return false;
	}
	if (su->size == 0 || su->size > MAX_SIZE || su->iters == 0 ||
	    su->iters > MAX_ITERS || su->depth == 0 ||
	    su->depth > MAX_DEPTH) {
		*why = "size, iterations or tx depth out of range";
		return false;
	}
	if (!test->rdma) {
		return ndesc == 0;
	}
	if (su->slots == 0 || (uint64_t)su->slots * su->size > MAX_EXPOSED ||
	    ndesc == 0 || ndesc > MAX_DESCS ||
	    length != SETUP_FIXED + (size_t)ndesc * 16) {
		*why = "bad slots or descriptor count";
		return false;
	}
	if (smbdirect_buffer_descriptors_decode(
		    data + SETUP_FIXED, length - SETUP_FIXED, su->descs,
		    MAX_DESCS, (uint64_t)su->slots * su->size, &su->ndesc,
		    NULL) != SMBDIRECT_WIRE_OK) {
		*why = "invalid buffer descriptor list";
		return false;
	}
	return true;
}

/* --- sending ----------------------------------------------------------------
 *
 * Every send is a tevent request whose payload must stay valid until it
 * completes: control messages are copied into a holder freed with the
 * request; test messages point into a buffer that lives for the whole
 * test, which waits for its last send before freeing it.
 */

struct send_ctx {
	struct endpoint *ep;
	sent_fn done;
};

/* A send completed: its context goes, and its `done` runs. */
static void send_completed(struct tevent_req *req)
{
	struct send_ctx *sc = tevent_req_callback_data(req, struct send_ctx);
	struct endpoint *ep = sc->ep;
	sent_fn done = sc->done;
	int ret = smbdirect_send_recv(req);

	/* The send context is the request's parent: this frees both. */
	talloc_free(sc);
	ep->sends_pending -= 1;
	if (ep->sends_pending == 0) {
		TALLOC_FREE(ep->retired);
	}
	if (ret != 0 && !ep->ended) {
		fprintf(stderr, "smbdirect-perf %s: send failed: %s\n",
			ep->side, strerror(ret));
		ep->failures++;
	}
	if (done != NULL) {
		done(ep, ret);
	}
}

/* A send context for `done`; NULL (a failure counted) without memory. */
static struct send_ctx *send_ctx_new(struct endpoint *ep, sent_fn done)
{
	struct send_ctx *sc = talloc(ep, struct send_ctx);

	if (sc == NULL) {
		ep->failures++;
		return NULL;
	}
	sc->ep = ep;
	sc->done = done;
	return sc;
}

/* Start sending iov under sc (freed, a failure counted, if it cannot). */
static bool send_start(struct send_ctx *sc, const struct iovec *iov, int n)
{
	struct endpoint *ep = sc->ep;
	struct tevent_req *req;

	req = smbdirect_send_send(sc, ep->ev, ep->conn, iov, n);
	if (req == NULL) {
		talloc_free(sc);
		ep->failures++;
		return false;
	}
	ep->sends_pending += 1;
	tevent_req_set_callback(req, send_completed, sc);
	return true;
}

/* Send iov (valid until `done` runs); false if it could not start. */
bool send_iov(struct endpoint *ep, const struct iovec *iov, int n,
	      sent_fn done)
{
	struct send_ctx *sc = send_ctx_new(ep, done);

	return sc != NULL && send_start(sc, iov, n);
}

/* Send a copy of a control message, freed with the request. */
static bool send_copy(struct endpoint *ep, const void *data, size_t length)
{
	struct send_ctx *sc = send_ctx_new(ep, NULL);
	struct iovec iov;

	if (sc == NULL) {
		return false;
	}
	iov.iov_base = talloc_memdup(sc, data, length);
	iov.iov_len = length;
	if (iov.iov_base == NULL) {
		talloc_free(sc);
		ep->failures++;
		return false;
	}
	return send_start(sc, &iov, 1);
}

/* A control message without a body (READY, QUIT). */
bool send_simple(struct endpoint *ep, enum msg_type type)
{
	uint8_t msg[PERF_HDR];

	put_header(msg, type);
	return send_copy(ep, msg, sizeof(msg));
}

void send_error(struct endpoint *ep, const char *text)
{
	uint8_t msg[PERF_HDR + 200];
	size_t n = strlen(text);

	if (n > sizeof(msg) - PERF_HDR) {
		n = sizeof(msg) - PERF_HDR;
	}
	put_header(msg, MSG_ERROR);
	memcpy(msg + PERF_HDR, text, n);
	send_copy(ep, msg, PERF_HDR + n);
}

bool send_result(struct endpoint *ep, const struct result *r)
{
	uint8_t msg[RESULT_SIZE];

	encode_result(msg, r);
	return send_copy(ep, msg, sizeof(msg));
}

void on_disconnected(struct smbdirect_conn *conn,
		     enum smbdirect_reason reason, const char *detail,
		     void *priv)
{
	struct endpoint *ep = priv;

	(void)conn;
	ep->ended = true;
	ep->reason = reason;
	snprintf(ep->detail, sizeof(ep->detail), "%s", detail);
}

/* --- the server's side ------------------------------------------------------ */

/* The figures of a test the server measured: to the client, and printed. */
void server_send_result(struct session *s)
{
	struct result r;

	memset(&r, 0, sizeof(r));
	r.test = s->su.test;
	r.size = s->su.size;
	r.iters = s->su.iters;
	r.elapsed_ns = s->t_last - s->t_start;
	r.peak_bytes = s->peak.best_bytes;
	r.peak_ns = s->peak.best_ns;
	send_result(&s->ep, &r);
	print_result(&r, "server", s->su.depth);
}

/* A SETUP: check it against the connection and start the test's size. */
static void server_setup(struct session *s, const uint8_t *data,
			 size_t length)
{
	const struct smbdirect_params *p = smbdirect_conn_params(s->ep.conn);
	const char *why = NULL;

	/* The previous test's RDMA operations are complete here, but the
	 * last echoes may still be sending from its payload. */
	if (s->test_ctx != NULL && s->ep.sends_pending > 0) {
		if (s->ep.retired == NULL) {
			s->ep.retired = talloc_new(s);
		}
		if (s->ep.retired != NULL) {
			talloc_steal(s->ep.retired, s->test_ctx);
			s->test_ctx = NULL;
		}
	}
	TALLOC_FREE(s->test_ctx);
	s->test_ctx = talloc_new(s);
	if (s->test_ctx == NULL) {
		send_error(&s->ep, "server out of memory");
		return;
	}
	if (!decode_setup(data, length, &s->su, &why)) {
		goto refuse;
	}
	s->test = perf_test_find(s->su.test);
	if (!s->test->rdma &&
	    (s->su.size > p->max_fragmented_receive_size ||
	     (s->test->ping_pong &&
	      s->su.size > p->max_fragmented_send_size))) {
		why = "size exceeds the negotiated max_fragmented_size";
		goto refuse;
	}
	s->count = 0;
	s->posted = 0;
	s->completed = 0;
	s->in_flight = 0;
	if ((s->su.flags & SETUP_BUSY_POLL) != 0) {
		spin_start(&s->ep);
	}
	server_start_table(s, s->test);
	if (s->test->server_start(s, &why)) {
		return;
	}
refuse:
	fprintf(stderr, "smbdirect-perf server: refusing a test: %s\n",
		why != NULL ? why : "?");
	send_error(&s->ep, why != NULL ? why : "refused");
	s->phase = SRV_IDLE;
}

/* The server's message handler: test messages go to the test. */
void server_message(struct smbdirect_conn *conn, const uint8_t *data,
		    size_t length, void *priv)
{
	struct session *s = priv;
	const struct perf_test_def *test;
	struct result r;

	(void)conn;
	switch (s->phase) {
	case SRV_LAT:
	case SRV_RECV:
		if (s->test->server_message(s, length)) {
			return;
		}
		break;
	case SRV_RDMA:
	case SRV_IDLE:
		switch (msg_type_of(data, length)) {
		case MSG_SETUP:
			if (s->phase == SRV_RDMA) {
				break;
			}
			server_setup(s, data, length);
			return;
		case MSG_RESULT:
			/* The client's latency figures, for our table. */
			if (decode_result(data, length, &r) &&
			    (test = perf_test_find(r.test)) != NULL &&
			    test->ping_pong) {
				print_result(&r, "server", 1);
			}
			return;
		case MSG_QUIT:
			/* The client disconnects next. */
			s->quit = true;
			return;
		default:
			break;
		}
		break;
	}
	fprintf(stderr,
		"smbdirect-perf server: unexpected message of %zu bytes in "
		"phase %d\n",
		length, (int)s->phase);
	s->ep.failures++;
	smbdirect_disconnect(s->ep.conn);
}

/* --- the client's side ------------------------------------------------------ */

void client_fail(struct client *c, const char *what)
{
	fprintf(stderr, "smbdirect-perf client: %s\n", what);
	c->failed = true;
	c->phase = CLI_IDLE;
}

/* The client's message handler: in CLI_TEST, messages go to the test. */
void client_message(struct smbdirect_conn *conn, const uint8_t *data,
		    size_t length, void *priv)
{
	struct client *c = priv;
	int type;

	(void)conn;
	if (c->phase == CLI_TEST) {
		opt.test->client_message(c, length);
		return;
	}
	type = msg_type_of(data, length);
	if (type == MSG_ERROR) {
		fprintf(stderr, "smbdirect-perf client: the server refused: "
				"%.*s\n",
			(int)(length - PERF_HDR), (const char *)data + PERF_HDR);
		c->failed = true;
		c->phase = CLI_IDLE;
		return;
	}
	if (type == MSG_READY && c->phase == CLI_WAIT_READY) {
		c->got_ready = true;
		return;
	}
	if (type == MSG_RESULT &&
	    (c->phase == CLI_WAIT_RESULT || c->phase == CLI_STREAM) &&
	    decode_result(data, length, &c->server_result)) {
		c->got_result = true;
		return;
	}
	fprintf(stderr, "smbdirect-perf client: unexpected message of %zu bytes\n",
		length);
	c->failed = true;
	c->phase = CLI_IDLE;
}

/* Run the event loop until `*flag` (or the test failed, or the connection
 * ended); false unless `*flag`. */
bool client_wait(struct client *c, const bool *flag)
{
	while (!*flag && !c->failed && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
	}
	return *flag && !c->failed;
}

/* Run the event loop until every send has completed. */
bool client_wait_sends(struct client *c)
{
	while (c->ep.sends_pending > 0 && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
	}
	return c->ep.sends_pending == 0;
}

/* The SETUP of c->su (with its descriptors for an RDMA test). */
bool client_send_setup(struct client *c)
{
	uint8_t msg[SETUP_FIXED + MAX_DESCS * 16];
	uint8_t *p = msg + PERF_HDR;
	size_t length = SETUP_FIXED;

	put_header(msg, MSG_SETUP);
	memset(p, 0, 4);
	p[0] = (uint8_t)c->su.test;
	p[1] = c->su.flags;
	put_u32(p + 4, c->su.size);
	put_u64(p + 8, c->su.iters);
	put_u32(p + 16, c->su.depth);
	put_u32(p + 20, c->su.warmup);
	put_u32(p + 24, c->su.slots);
	put_u32(p + 28, (uint32_t)c->su.ndesc);
	if (c->su.ndesc > 0) {
		length += smbdirect_buffer_descriptors_encode(
			c->su.descs, c->su.ndesc, msg + SETUP_FIXED,
			sizeof(msg) - SETUP_FIXED);
	}
	c->got_ready = false;
	c->got_result = false;
	return send_copy(&c->ep, msg, length);
}

/* A message test's payload, if the negotiated sizes allow the size
 * (a note says why not). */
bool client_payload(struct client *c)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->ep.conn);

	if (c->su.size > p->max_fragmented_send_size ||
	    (opt.test->ping_pong &&
	     c->su.size > p->max_fragmented_receive_size)) {
		fprintf(stderr,
			"smbdirect-perf client: %u bytes exceed the negotiated "
			"max_fragmented_size (%u/%u); skipped\n",
			c->su.size, p->max_fragmented_send_size,
			p->max_fragmented_receive_size);
		return false;
	}
	c->payload = talloc_zero_size(c->test_ctx, c->su.size);
	if (c->payload == NULL) {
		return false;
	}
	memset(c->payload, 0xa5, c->su.size);
	return true;
}

/* A message test: SETUP, then wait for the server's READY. */
bool client_ready(struct client *c)
{
	c->phase = CLI_WAIT_READY;
	if (!client_send_setup(c) || !client_wait(c, &c->got_ready)) {
		return false;
	}
	c->posted = 0;
	c->completed = 0;
	c->received = 0;
	return true;
}

/* Submit one test message from the payload; `done` runs on completion. */
bool client_submit(struct client *c, sent_fn done)
{
	struct iovec iov = {.iov_base = c->payload, .iov_len = c->su.size};

	if (!send_iov(&c->ep, &iov, 1, done)) {
		return false;
	}
	c->data_pending += 1;
	c->posted += 1;
	return true;
}

/* A test message's send completed; false if it failed. */
bool client_data_done(struct client *c, int error)
{
	c->data_pending -= 1;
	if (error != 0) {
		c->failed = true;
		return false;
	}
	return true;
}

static void quit_timeout(struct tevent_context *ev, struct tevent_timer *te,
			 struct timeval now, void *priv)
{
	bool *expired = priv;

	(void)ev;
	(void)te;
	(void)now;
	*expired = true;
}

/* QUIT tells the server that the end is expected; once it has gone out
 * (or 5 s have passed), we disconnect. */
void client_quit(struct client *c)
{
	bool expired = false;
	struct tevent_timer *te = tevent_add_timer(
		c->ep.ev, c, tevent_timeval_current_ofs(5, 0), quit_timeout,
		&expired);

	send_simple(&c->ep, MSG_QUIT);
	while (c->ep.sends_pending > 0 && !c->ep.ended && !expired) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			break;
		}
	}
	if (!c->ep.ended) {
		smbdirect_disconnect(c->ep.conn);
	}
	talloc_free(te);
}
