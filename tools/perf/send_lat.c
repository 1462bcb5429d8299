/*
 * smbdirect-perf's send_lat: a ping-pong of SIZE-byte SMB-Direct messages.
 * The client sends one message, the server echoes it, -n times after
 * --warmup unmeasured exchanges; the one-way latency is half the round
 * trip, as ib_send_lat reports it. The client measures and sends its
 * figures to the server, which prints them too.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "perf.h"

/* A message's send completed (its echo drives the next one). */
static void lat_sent(struct endpoint *ep, int error)
{
	client_data_done((struct client *)ep, error);
}

/* The next exchange: the payload, timed from its submit. */
static void lat_send_next(struct client *c)
{
	c->t_sent = now_ns();
	if (!client_submit(c, lat_sent)) {
		client_fail(c, "cannot submit a message");
	}
}

/* The echo of the message in flight: its round trip, then the next. */
static void lat_echo(struct client *c, size_t length)
{
	uint64_t t = now_ns();

	if (length != c->su.size) {
		client_fail(c, "echo of the wrong length");
		return;
	}
	if (c->received >= c->su.warmup) {
		c->rtt[c->received - c->su.warmup] = t - c->t_sent;
	}
	c->received += 1;
	if (c->received < c->total) {
		lat_send_next(c);
	} else {
		c->phase = CLI_IDLE;
	}
}

/* The client's side of one size: the warm-up and -n measured exchanges,
 * then the latency figures of the measured ones. */
static bool lat_client_run(struct client *c, struct result *r)
{
	uint64_t measured = c->su.iters;
	bool done = false;

	if (!client_payload(c)) {
		return false;
	}
	c->rtt = talloc_array(c->test_ctx, uint64_t, measured);
	if (c->rtt == NULL || !client_ready(c)) {
		return false;
	}
	c->total = c->su.iters + c->su.warmup;
	c->phase = CLI_TEST;
	lat_send_next(c);
	while (!done && !c->failed && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
		done = c->phase == CLI_IDLE && c->received == c->total &&
		       c->data_pending == 0;
	}
	if (!done) {
		return false;
	}
	r->test = TEST_SEND_LAT;
	r->size = c->su.size;
	latency_result(c->rtt, measured, r);
	return true;
}

/* The server's side of one size: an echo buffer, then READY. */
static bool lat_server_start(struct session *s, const char **why)
{
	s->payload = talloc_zero_size(s->test_ctx, s->su.size);
	if (s->payload == NULL) {
		*why = "server out of memory";
		return false;
	}
	s->expected = s->su.iters + s->su.warmup;
	s->phase = SRV_LAT;
	send_simple(&s->ep, MSG_READY);
	return true;
}

/* A test message: echo it from a buffer of our own (the message lives
 * only during the handler's call). */
static bool lat_server_message(struct session *s, size_t length)
{
	struct iovec iov;

	if (length != s->su.size) {
		return false;
	}
	iov.iov_base = s->payload;
	iov.iov_len = s->su.size;
	send_iov(&s->ep, &iov, 1, NULL);
	if (++s->count == s->expected) {
		s->phase = SRV_IDLE;
	}
	return true;
}

const struct perf_test_def perf_send_lat = {
	.test = TEST_SEND_LAT,
	.name = "send_lat",
	.title = "Send Latency Test",
	.summary = "ping-pong of SMB-Direct messages",
	.default_size = 2,
	.default_iters = 1000,
	.default_depth = 1,
	.ping_pong = true,
	.client_run = lat_client_run,
	.client_message = lat_echo,
	.server_start = lat_server_start,
	.server_message = lat_server_message,
};
