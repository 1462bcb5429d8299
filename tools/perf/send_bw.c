/*
 * smbdirect-perf's send_bw: the client streams -n SIZE-byte SMB-Direct
 * messages one way, keeping -t of them submitted; the bandwidth is
 * measured at the sender, from the first submit to the last completion
 * (an SMB2 WRITE with its data inline). The server counts what arrives
 * and reports its own figures. msg_rate (msg_rate.c) is this test.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "perf.h"

/* A streamed message's send completed: keep tx depth submitted. */
static void stream_sent(struct endpoint *ep, int error)
{
	struct client *c = (struct client *)ep;
	uint64_t t = now_ns();

	if (!client_data_done(c, error) || c->phase != CLI_STREAM) {
		return;
	}
	c->completed += 1;
	peak_add(&c->peak, t);
	if (c->completed == c->total) {
		c->t_last = t;
		return;
	}
	while (c->posted < c->total &&
	       c->posted - c->completed < c->su.depth) {
		if (!client_submit(c, stream_sent)) {
			client_fail(c, "cannot submit a message");
			return;
		}
	}
}

/* The client's side of one size: stream -n messages, tx depth at once;
 * the figures are the sender's. */
bool send_bw_client_run(struct client *c, struct result *r)
{
	bool done = false;

	if (!client_payload(c) ||
	    !peak_init(c->test_ctx, &c->peak, c->su.iters, c->su.depth,
		       c->su.size) ||
	    !client_ready(c)) {
		return false;
	}
	c->total = c->su.iters;
	c->phase = CLI_STREAM;
	c->t_start = now_ns();
	while (c->posted < c->total && c->posted < c->su.depth) {
		if (!client_submit(c, stream_sent)) {
			return false;
		}
	}
	/* Done when every message has completed here and the server's
	 * RESULT has arrived. */
	while (!done && !c->failed && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
		done = c->completed == c->total && c->got_result &&
		       c->data_pending == 0;
	}
	if (!done) {
		return false;
	}
	c->phase = CLI_IDLE;
	r->test = c->su.test;
	r->size = c->su.size;
	r->iters = c->su.iters;
	r->elapsed_ns = c->t_last - c->t_start;
	r->peak_bytes = c->peak.best_bytes;
	r->peak_ns = c->peak.best_ns;
	return true;
}

/* The server's side of one size: the peak window, then READY. */
bool send_bw_server_start(struct session *s, const char **why)
{
	if (!peak_init(s->test_ctx, &s->peak, s->su.iters, s->su.depth,
		       s->su.size)) {
		*why = "server out of memory";
		return false;
	}
	s->expected = s->su.iters;
	s->phase = SRV_RECV;
	send_simple(&s->ep, MSG_READY);
	return true;
}

/* A streamed message: count it; the last one ends the measurement. */
bool send_bw_server_message(struct session *s, size_t length)
{
	uint64_t t = now_ns();

	if (length != s->su.size) {
		return false;
	}
	if (s->count == 0) {
		s->t_start = t;
	}
	peak_add(&s->peak, t);
	s->t_last = t;
	if (++s->count == s->expected) {
		s->phase = SRV_IDLE;
		server_send_result(s);
	}
	return true;
}

const struct perf_test_def perf_send_bw = {
	.test = TEST_SEND_BW,
	.name = "send_bw",
	.title = "Send BW Test",
	.summary = "one-way stream of SMB-Direct messages",
	.default_size = 65536,
	PERF_BW_DEFAULTS,
	.client_run = send_bw_client_run,
	.server_start = send_bw_server_start,
	.server_message = send_bw_server_message,
};
