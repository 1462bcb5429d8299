/*
 * smbdirect-perf's resources: the server's listener, its forked children
 * and accepted sessions, the client's connection, the registered buffers
 * and exposures of the RDMA tests, and --busy-poll's always-ready fd.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/addr.h"
#include "perf.h"

/* addr_resolve()'s failures: "smbdirect-perf: MESSAGE" on stderr. */
static void perf_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void perf_error(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "smbdirect-perf: %s\n", line);
}

/*
 * --busy-poll: keep the event loop from sleeping and poll the CQ, as
 * perftest does by default (its -e sleeps on CQ events instead). An
 * eventfd with a non-zero count is always readable, so epoll_wait()
 * returns at once; its handler polls the connection's CQ
 * (smbdirect_conn_poll()).
 */
static void spin_ready(struct tevent_context *ev, struct tevent_fd *fde,
		       uint16_t flags, void *priv)
{
	struct endpoint *ep = priv;

	(void)ev;
	(void)fde;
	(void)flags;
	/* Poll the CQ as perftest does, without the channel's wake-up. */
	if (ep->conn != NULL) {
		smbdirect_conn_poll(ep->conn);
	}
}

void spin_start(struct endpoint *ep)
{
	int fd;

	if (ep->spin != NULL) {
		return;
	}
	fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "smbdirect-perf %s: eventfd: %s; not polling\n",
			ep->side, strerror(errno));
		return;
	}
	ep->spin = tevent_add_fd(ep->ev, ep, fd, TEVENT_FD_READ, spin_ready,
				 ep);
	if (ep->spin == NULL) {
		close(fd);
		return;
	}
	tevent_fd_set_auto_close(ep->spin);
}

/* --- the RDMA tests' memory ---------------------------------------------- */

/* Slots of SIZE bytes in the exposed buffer: the tx depth, fewer if that
 * would exceed MAX_EXPOSED. */
static uint32_t slots_for(uint32_t size, uint32_t depth)
{
	uint64_t slots = depth;

	if ((uint64_t)size * slots > MAX_EXPOSED) {
		slots = MAX_EXPOSED / size;
	}
	return slots > 0 ? (uint32_t)slots : 1;
}

/*
 * Cut the sub-range [off, off + len) out of a descriptor list (the
 * client's exposure may in general come as several descriptors).
 */
static size_t slice_descs(const struct smbdirect_buffer_descriptor *in,
			  size_t n, uint64_t off, uint64_t len,
			  struct smbdirect_buffer_descriptor *out, size_t max)
{
	size_t count = 0;
	size_t i;

	for (i = 0; i < n && len > 0; i++) {
		uint64_t take;

		if (off >= in[i].length) {
			off -= in[i].length;
			continue;
		}
		if (count == max) {
			return 0;
		}
		take = in[i].length - off;
		if (take > len) {
			take = len;
		}
		out[count].offset = in[i].offset + off;
		out[count].token = in[i].token;
		out[count].length = (uint32_t)take;
		count++;
		len -= take;
		off = 0;
	}
	return len == 0 ? count : 0;
}

/*
 * The server's side of an RDMA test: its registered local buffer (kept
 * across tests while large enough) and, per slot, the client's
 * descriptors that cover it.
 */
bool server_rdma_buffers(struct session *s, const char **why)
{
	uint32_t slot;
	size_t bytes = (size_t)s->su.slots * s->su.size;

	*why = "server out of memory";
	if (s->su.size > smbdirect_conn_params(s->ep.conn)->max_read_write_size) {
		*why = "size exceeds the negotiated max_read_write_size";
		return false;
	}
	if (s->buf == NULL || smbdirect_buffer_size(s->buf) < bytes) {
		TALLOC_FREE(s->buf);
		s->buf = smbdirect_buffer_new(s, s->ep.conn, bytes);
		if (s->buf == NULL) {
			*why = "server could not register its buffer";
			return false;
		}
		memset(smbdirect_buffer_data(s->buf), 0x5a, bytes);
	}
	s->slice = talloc_zero_array(s->test_ctx,
				     struct smbdirect_buffer_descriptor,
				     (size_t)s->su.slots * MAX_DESCS);
	s->slice_count = talloc_zero_array(s->test_ctx, size_t, s->su.slots);
	if (s->slice == NULL || s->slice_count == NULL) {
		return false;
	}
	for (slot = 0; slot < s->su.slots; slot++) {
		s->slice_count[slot] = slice_descs(
			s->su.descs, s->su.ndesc, (uint64_t)slot * s->su.size,
			s->su.size, &s->slice[(size_t)slot * MAX_DESCS],
			MAX_DESCS);
		if (s->slice_count[slot] == 0) {
			*why = "descriptors do not cover the slots";
			return false;
		}
	}
	return true;
}

/*
 * The client's side of an RDMA test: a buffer of `slots` x SIZE bytes,
 * exposed once for the whole test, its descriptors in c->su. write_bw
 * lets the server write (an SMB2 READ), read_bw lets it read (an SMB2
 * WRITE). NULL (with a note) on failure.
 */
struct smbdirect_exposure *client_rdma_buffer(struct client *c,
					      bool remote_write)
{
	struct smbdirect_buffer *buf;
	struct smbdirect_exposure *x;
	size_t bytes;

	c->su.slots = slots_for(c->su.size, c->su.depth);
	bytes = (size_t)c->su.slots * c->su.size;
	buf = smbdirect_buffer_new(c->test_ctx, c->ep.conn, bytes);
	if (buf == NULL) {
		fprintf(stderr, "smbdirect-perf client: buffer of %zu bytes: "
				"%s\n",
			bytes, strerror(errno));
		return NULL;
	}
	memset(smbdirect_buffer_data(buf), 0xc3, bytes);
	x = smbdirect_expose(c->test_ctx, c->ep.conn, buf, 0, bytes,
			     remote_write, c->su.descs, MAX_DESCS,
			     &c->su.ndesc);
	if (x == NULL) {
		fprintf(stderr, "smbdirect-perf client: expose: %s\n",
			strerror(errno));
		return NULL;
	}
	return x;
}

/* --- the server's connections ---------------------------------------------- */

/* The connection is up: the server's handlers, and a line for the log. */
static void session_accepted(struct tevent_req *req)
{
	struct session *s = tevent_req_callback_data(req, struct session);
	struct smbdirect_conn_handlers handlers = {
		.message = server_message,
		.disconnected = on_disconnected,
	};
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	int ret = smbdirect_accept_recv(req, s, &s->ep.conn, &reason);

	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "smbdirect-perf server: accept failed: %s (%s)\n",
			strerror(ret), smbdirect_reason_string(reason));
		s->ep.failures++;
		s->ep.ended = true;
		return;
	}
	smbdirect_conn_set_handlers(s->ep.conn, &handlers, s);
	if (!opt.csv) {
		printf(" Client %s connected\n", smbdirect_conn_peer(s->ep.conn));
		fflush(stdout);
	}
}

/* Accept a connection request into a new session (NULL if that cannot
 * start; the request is then freed). */
struct session *session_start(TALLOC_CTX *ctx, struct tevent_context *ev,
			      struct smbdirect_conn_request *request)
{
	struct smbdirect_settings settings;
	struct session *s = talloc_zero(ctx, struct session);
	struct tevent_req *req;

	if (s == NULL) {
		talloc_free(request);
		return NULL;
	}
	s->ep.ev = ev;
	s->ep.side = "server";
	settings_for(&settings);
	req = smbdirect_accept_send(s, ev, request, &settings);
	if (req == NULL) {
		talloc_free(request);
		talloc_free(s);
		return NULL;
	}
	tevent_req_set_callback(req, session_accepted, s);
	return s;
}

/* A connection request: served in process (one client at a time) or,
 * with --fork, in a child that main() serves once this returns. */
static void on_request(struct smbdirect_listener *listener,
		       struct smbdirect_conn_request *request, void *priv)
{
	struct server *srv = priv;
	pid_t pid;

	if (!opt.fork_mode) {
		if (srv->session != NULL) {
			/* One client at a time, as perftest: refuse. */
			fprintf(stderr, "smbdirect-perf server: busy, refusing "
					"%s\n",
				smbdirect_conn_request_peer(request));
			talloc_free(request);
			return;
		}
		srv->session = session_start(srv->ev, srv->ev, request);
		return;
	}
	pid = smbdirect_listener_fork(listener, request, &srv->child_ev,
				      &srv->child_request);
	if (pid == 0) {
		/* In the child: served from main(), on the child's own event
		 * context, once this callback has returned. */
		srv->in_child = true;
		return;
	}
	if (pid < 0) {
		fprintf(stderr, "smbdirect-perf server: fork failed: %s\n",
			strerror(errno));
	}
}

/* --fork: reap the children, noting the ones that failed. */
static void on_sigchld(struct tevent_context *ev, struct tevent_signal *se,
		       int signum, int count, void *siginfo, void *priv)
{
	struct server *srv = priv;
	int status;
	pid_t pid;

	(void)ev;
	(void)se;
	(void)signum;
	(void)count;
	(void)siginfo;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			srv->children_failed++;
			fprintf(stderr, "smbdirect-perf server: child %d "
					"failed\n",
				(int)pid);
		}
	}
}

/* Listen on --bind (default: every IPv4 address) and the port; with
 * --fork, reap the children. */
bool perf_listen(struct server *srv)
{
	struct smbdirect_listener *listener = NULL;
	struct sockaddr_storage ss;
	int ret;

	if (opt.bind != NULL) {
		if (!addr_resolve(opt.bind, opt.port, true, &ss, NULL,
				  perf_error)) {
			return false;
		}
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons(opt.port);
	}
	ret = smbdirect_listen(srv->ev, srv->ev, (struct sockaddr *)&ss, 64,
			       on_request, srv, &listener);
	if (ret != 0) {
		fprintf(stderr, "smbdirect-perf server: listen on port %u: %s\n",
			opt.port, strerror(ret));
		return false;
	}
	return !opt.fork_mode ||
	       tevent_add_signal(srv->ev, srv->ev, SIGCHLD, 0, on_sigchld,
				 srv) != NULL;
}

/* --- the client's connection ------------------------------------------------ */

/* Connect to the server with the options' settings; false (with a note)
 * if that fails. */
bool perf_connect(struct client *c)
{
	struct smbdirect_settings settings;
	struct sockaddr_storage ss;
	struct tevent_req *req;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	int ret;

	if (!addr_resolve(opt.host, opt.port, false, &ss, NULL, perf_error)) {
		return false;
	}
	settings_for(&settings);
	req = smbdirect_connect_send(c, c->ep.ev, (struct sockaddr *)&ss, NULL,
				     &settings, 5000);
	if (req == NULL || !tevent_req_poll(req, c->ep.ev)) {
		return false;
	}
	ret = smbdirect_connect_recv(req, c, &c->ep.conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr,
			"smbdirect-perf client: connecting to %s port %u: %s "
			"(%s)\n",
			opt.host, opt.port, strerror(ret),
			smbdirect_reason_string(reason));
		return false;
	}
	return true;
}
