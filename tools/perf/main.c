/*
 * smbdirect-perf: perftest-style measurements of SMB-Direct connections
 * made with libsmbdirect (rdma_cm + verbs on tevent), to be read side by
 * side with perftest's ib_send_lat, ib_write_bw and ib_read_bw on the same
 * device (docs/tools/smbdirect-perf.md). This file is main() and the two
 * sides' top-level loops, the only event loops outside the library's
 * callbacks; perf.h says where the rest is.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Like perftest, one program is both ends: without an address it is the
 * server, with one it is the client. The client runs one test over one
 * connection, a SETUP / READY / RESULT exchange per size
 * (communication.c), and prints a table row per size (reporting.c).
 */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "perf.h"

/* The client: one connection, one test, a table row per size; the exit
 * status (1 if any size failed). */
static int run_client(void)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct client *c;
	struct smbdirect_conn_handlers handlers = {
		.message = client_message,
		.disconnected = on_disconnected,
	};
	const struct perf_test_def *test = opt.test;
	char peer[128];
	unsigned int i;
	int failures = 0;

	if (ev == NULL) {
		return 1;
	}
	c = talloc_zero(ev, struct client);
	if (c == NULL) {
		talloc_free(ev);
		return 1;
	}
	c->ep.ev = ev;
	c->ep.side = "client";
	if (!perf_connect(c)) {
		talloc_free(ev);
		return 1;
	}
	smbdirect_conn_set_handlers(c->ep.conn, &handlers, c);
	if (opt.busy_poll) {
		spin_start(&c->ep);
	}
	snprintf(peer, sizeof(peer), "%s", smbdirect_conn_peer(c->ep.conn));

	if (opt.csv) {
		print_csv_header();
	}
	print_header(test, "client", peer, c->ep.conn,
		     opt.depth != 0 ? opt.depth : test->default_depth,
		     opt.warmup);
	for (i = 0; i < opt.nsizes && !c->ep.ended; i++) {
		struct result r;
		bool ok;

		memset(&r, 0, sizeof(r));
		memset(&c->su, 0, sizeof(c->su));
		c->su.test = test->test;
		c->su.size = opt.sizes[i];
		c->su.iters = opt.iters != 0 ? opt.iters : test->default_iters;
		c->su.depth = opt.depth != 0 ? opt.depth : test->default_depth;
		c->su.warmup = test->ping_pong ? opt.warmup : 0;
		c->su.flags = opt.busy_poll ? SETUP_BUSY_POLL : 0;
		c->failed = false;
		c->test_ctx = talloc_new(c);
		if (c->test_ctx == NULL) {
			failures++;
			break;
		}
		ok = test->client_run(c, &r);
		if (ok) {
			print_result(&r, "client", c->su.depth);
			if (test->ping_pong) {
				/* The server prints the same table. */
				send_result(&c->ep, &r);
			}
		} else {
			failures++;
		}
		/* Nothing of this test may be in flight when its memory
		 * goes. */
		client_wait_sends(c);
		c->phase = CLI_IDLE;
		TALLOC_FREE(c->test_ctx);
		if (!ok && c->ep.ended) {
			break;
		}
	}
	print_footer();
	print_stats(c->ep.conn, "client");

	if (!c->ep.ended) {
		client_quit(c);
	} else if (c->ep.reason != SMBDIRECT_REASON_PEER_DISCONNECTED ||
		   failures > 0) {
		fprintf(stderr, "smbdirect-perf client: connection ended: %s "
				"(%s)\n",
			smbdirect_reason_string(c->ep.reason), c->ep.detail);
		failures++;
	}
	if (c->ep.failures > 0) {
		failures++;
	}
	TALLOC_FREE(c->ep.conn);
	talloc_free(ev);
	return failures > 0 ? 1 : 0;
}

/* Run one session to its end; the exit status of a server. */
static int session_run(struct session *s)
{
	int ret;

	while (!s->ep.ended) {
		if (tevent_loop_once(s->ep.ev) != 0) {
			s->ep.failures++;
			break;
		}
	}
	server_end_table(s);
	if (!s->quit && s->ep.conn != NULL) {
		fprintf(stderr, "smbdirect-perf server: connection ended: %s (%s)\n",
			smbdirect_reason_string(s->ep.reason), s->ep.detail);
		s->ep.failures++;
	}
	if (s->ep.conn != NULL) {
		print_stats(s->ep.conn, "server");
	}
	ret = s->ep.failures > 0 ? 1 : 0;
	TALLOC_FREE(s->test_ctx);
	TALLOC_FREE(s->buf);
	TALLOC_FREE(s->ep.conn);
	talloc_free(s);
	return ret;
}

/* The server: listen, then serve one client in process, or each client
 * in a forked child (--fork) until killed; the exit status. */
static int run_server(void)
{
	struct server srv;
	int ret = 0;

	memset(&srv, 0, sizeof(srv));
	srv.ev = tevent_context_init(NULL);
	if (srv.ev == NULL) {
		return 1;
	}
	if (!perf_listen(&srv)) {
		talloc_free(srv.ev);
		return 1;
	}
	/* Scripts wait for this line (stderr in CSV mode). */
	fprintf(opt.csv ? stderr : stdout,
		"************************************\n"
		"* Waiting for client to connect... *\n"
		"************************************\n"
		"smbdirect-perf server: listening on port %u%s\n",
		opt.port, opt.fork_mode ? " (a child per connection)" : "");
	fflush(opt.csv ? stderr : stdout);
	if (opt.csv) {
		print_csv_header();
	}
	for (;;) {
		if (tevent_loop_once(srv.ev) != 0) {
			ret = 1;
			break;
		}
		if (srv.in_child) {
			struct session *s =
				session_start(srv.child_ev, srv.child_ev,
					      srv.child_request);

			_exit(s != NULL ? session_run(s) : 1);
		}
		if (srv.session != NULL) {
			/* In-process: serve this one client, then exit (as
			 * perftest's servers do). */
			ret = session_run(srv.session);
			srv.session = NULL;
			break;
		}
	}
	talloc_free(srv.ev);
	return ret;
}

int main(int argc, char **argv)
{
	int ret = perf_parse(argc, argv);

	if (ret >= 0) {
		return ret;
	}
	signal(SIGPIPE, SIG_IGN);
	ret = smbdirect_set_thread_mode(opt.thread_mode);
	if (ret != 0) {
		fprintf(stderr, "smbdirect-perf: thread mode %s: %s\n",
			smbdirect_thread_mode_string(opt.thread_mode),
			strerror(ret));
		return 1;
	}
	return opt.host != NULL ? run_client() : run_server();
}
