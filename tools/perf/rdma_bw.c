/*
 * What write_bw and read_bw share: the client exposes one buffer of
 * `slots` x SIZE bytes and sends its descriptor list in SETUP; the server
 * posts -n RDMA operations of SIZE bytes on it, -t at once, operation i
 * on slot i mod slots, and measures from the first post to the last
 * completion. The test's definition names the operation.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "perf.h"

static void rdma_post(struct session *s);

/* An RDMA operation completed: count it, then post more or report. */
static void rdma_done(struct tevent_req *req)
{
	struct session *s = tevent_req_callback_data(req, struct session);
	int ret = smbdirect_rdma_recv(req);
	uint64_t t = now_ns();

	s->in_flight -= 1;
	if (ret != 0) {
		/* Not freed here: the library may still look at the failed
		 * operation after this callback returns; the test context
		 * takes it. */
		talloc_steal(s->test_ctx, req);
		if (s->phase == SRV_RDMA) {
			fprintf(stderr, "smbdirect-perf server: RDMA %s failed: "
					"%s\n",
				s->test->rdma_op, strerror(ret));
			s->ep.failures++;
			send_error(&s->ep, "RDMA operation failed");
			s->phase = SRV_IDLE;
		}
		return;
	}
	talloc_free(req);
	if (s->phase != SRV_RDMA) {
		return;
	}
	s->completed += 1;
	peak_add(&s->peak, t);
	if (s->completed == s->su.iters) {
		s->t_last = t;
		s->phase = SRV_IDLE;
		server_send_result(s);
		return;
	}
	rdma_post(s);
}

/* Keep tx depth operations in flight until -n are posted. */
static void rdma_post(struct session *s)
{
	while (s->posted < s->su.iters && s->in_flight < s->su.depth) {
		uint32_t slot = (uint32_t)(s->posted % s->su.slots);
		const struct smbdirect_buffer_descriptor *d =
			&s->slice[(size_t)slot * MAX_DESCS];
		size_t off = (size_t)slot * s->su.size;
		struct tevent_req *req;

		req = s->test->rdma_send(s->test_ctx, s->ep.ev, s->ep.conn,
					 s->buf, off, s->su.size, d,
					 s->slice_count[slot]);
		if (req == NULL) {
			s->ep.failures++;
			send_error(&s->ep, "server out of memory");
			s->phase = SRV_IDLE;
			return;
		}
		tevent_req_set_callback(req, rdma_done, s);
		s->posted += 1;
		s->in_flight += 1;
	}
}

/* The server's side of one size: buffers, then the first posts. */
bool rdma_bw_server_start(struct session *s, const char **why)
{
	if (!server_rdma_buffers(s, why) ||
	    !peak_init(s->test_ctx, &s->peak, s->su.iters, s->su.depth,
		       s->su.size)) {
		return false;
	}
	s->phase = SRV_RDMA;
	s->t_start = now_ns();
	rdma_post(s);
	return true;
}

/* The client exposes its buffer and waits for the server's figures. */
bool rdma_bw_client_run(struct client *c, struct result *r)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->ep.conn);
	struct smbdirect_exposure *x;

	if (c->su.size > p->max_read_write_size) {
		fprintf(stderr,
			"smbdirect-perf client: %u bytes exceed the negotiated "
			"max_read_write_size (%u); skipped\n",
			c->su.size, p->max_read_write_size);
		return false;
	}
	x = client_rdma_buffer(c, opt.test->remote_write);
	if (x == NULL) {
		return false;
	}
	c->phase = CLI_WAIT_RESULT;
	if (!client_send_setup(c) || !client_wait(c, &c->got_result)) {
		return false;
	}
	c->phase = CLI_IDLE;
	*r = c->server_result;
	if (r->test != c->su.test || r->size != c->su.size ||
	    r->iters != c->su.iters) {
		fprintf(stderr, "smbdirect-perf client: the server reported "
				"another test\n");
		return false;
	}
	/* The server's operations are complete: revoking is safe. */
	talloc_free(x);
	return true;
}
