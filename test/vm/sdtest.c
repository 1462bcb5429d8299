/*
 * libsmbdirect VM tests: a server and a client exercising the RDMA binding
 * over real verbs (soft-RoCE in the test guest).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Test protocol carried in SMB-Direct messages (first byte = command):
 *   'E' payload           -> the server echoes the whole message back
 *   'W' len descs...      -> the server RDMA-writes `len` pattern bytes into
 *                            the client's exposed buffer, answers 'w'
 *   'R' len descs...      -> the server RDMA-reads `len` bytes, answers 'r'
 *                            with their checksum
 *   'I' len descs...      -> like 'W', answered by Send-with-Invalidate of
 *                            the first descriptor's token
 *   'Q'                   -> the server ends the connection
 *
 * Usage:
 *   sdtest server ADDR PORT [--fork] [--count N] [--small]
 *   sdtest client ADDR PORT TEST [--count N] [--small]
 * TEST: negotiate | messages | rdma | rkey-reuse | invalidate | keepalive
 *       | idle
 * Exit status 0 on success; each failure prints a reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"
#include "smbdirect_rdma.h"

#define MAX_DESCS 16

static bool small_sizes;
static uint32_t count = 10000;

static void settings_for_test(struct smbdirect_settings *s)
{
	smbdirect_settings_default(s);
	if (small_sizes) {
		/* [MS-SMBD] 3.1.5.6: the smallest legal sizes. */
		s->max_send_size = 128;
		s->max_receive_size = 128;
		s->max_fragmented_size = 131072;
	}
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	return h;
}

static void fill_pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static int parse_addr(const char *host, const char *port,
		      struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(port));
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(port));
		return 0;
	}
	return -1;
}

/* --- server ------------------------------------------------------------- */

struct server_conn {
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	struct smbdirect_buffer *buf;
	bool done;
	int failures;
};

static void free_req(struct tevent_req *req)
{
	/* A reply's result matters only if the connection ended, which the
	 * disconnected handler reports. */
	smbdirect_send_recv(req);
	talloc_free(tevent_req_callback_data_void(req));
}

/* Send a copy of `data`: the payload must stay valid until the send
 * completes, and callers pass stack or receive-buffer memory. */
static void reply(struct server_conn *sc, const void *data, size_t len,
		  uint32_t invalidate)
{
	TALLOC_CTX *holder = talloc_new(sc);
	struct iovec iov;
	struct tevent_req *req;

	iov.iov_base = talloc_memdup(holder, data, len);
	iov.iov_len = len;
	if (invalidate != 0) {
		req = smbdirect_send_invalidate_send(holder, sc->ev, sc->conn,
						     &iov, 1, invalidate);
	} else {
		req = smbdirect_send_send(holder, sc->ev, sc->conn, &iov, 1);
	}
	if (req == NULL) {
		talloc_free(holder);
		sc->failures++;
		return;
	}
	tevent_req_set_callback(req, free_req, holder);
}

struct rdma_job {
	struct server_conn *sc;
	char cmd;
	uint32_t len;
	uint32_t token;
};

static void rdma_job_done(struct tevent_req *req)
{
	struct rdma_job *job = tevent_req_callback_data(req, struct rdma_job);
	struct server_conn *sc = job->sc;
	int ret = smbdirect_rdma_recv(req);

	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "server: RDMA %c failed: %s\n", job->cmd,
			strerror(ret));
		reply(sc, "x", 1, 0);
	} else if (job->cmd == 'R') {
		uint8_t answer[9];
		uint64_t h = hash_bytes(smbdirect_buffer_data(sc->buf),
					job->len);

		answer[0] = 'r';
		memcpy(answer + 1, &h, 8);
		reply(sc, answer, sizeof(answer), 0);
	} else if (job->cmd == 'I') {
		reply(sc, "i", 1, job->token);
	} else {
		reply(sc, "w", 1, 0);
	}
	talloc_free(job);
}

/* Runs from the message callback: everything it starts completes later
 * from the event loop (no nested loop inside a library callback). */
static void server_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct server_conn *sc = priv;
	struct smbdirect_buffer_descriptor descs[MAX_DESCS];
	size_t ndesc = 0;
	uint32_t len = 0;
	struct tevent_req *req;
	struct rdma_job *job;

	(void)conn;
	if (length == 0) {
		return;
	}
	switch (data[0]) {
	case 'E':
		reply(sc, data, length, 0);
		return;
	case 'Q':
		sc->done = true;
		smbdirect_disconnect(sc->conn);
		return;
	case 'W':
	case 'R':
	case 'I':
		if (length < 5) {
			break;
		}
		memcpy(&len, data + 1, 4);
		if (smbdirect_buffer_descriptors_decode(
			    data + 5, length - 5, descs, MAX_DESCS,
			    smbdirect_conn_params(sc->conn)->max_read_write_size,
			    &ndesc, NULL) != SMBDIRECT_WIRE_OK ||
		    len > smbdirect_buffer_size(sc->buf)) {
			fprintf(stderr, "server: bad descriptor list\n");
			sc->failures++;
			reply(sc, "x", 1, 0);
			return;
		}
		job = talloc_zero(sc, struct rdma_job);
		job->sc = sc;
		job->cmd = (char)data[0];
		job->len = len;
		job->token = descs[0].token;
		if (data[0] == 'R') {
			req = smbdirect_rdma_read_send(job, sc->ev, sc->conn,
						       sc->buf, 0, len, descs,
						       ndesc);
		} else {
			fill_pattern(smbdirect_buffer_data(sc->buf), len, len);
			req = smbdirect_rdma_write_send(job, sc->ev, sc->conn,
							sc->buf, 0, len, descs,
							ndesc);
		}
		if (req == NULL) {
			sc->failures++;
			return;
		}
		tevent_req_set_callback(req, rdma_job_done, job);
		return;
	default:
		break;
	}
	fprintf(stderr, "server: unknown command 0x%02x\n", data[0]);
	sc->failures++;
}

static void server_disconnected(struct smbdirect_conn *conn,
				enum smbdirect_reason reason,
				const char *detail, void *priv)
{
	struct server_conn *sc = priv;

	(void)conn;
	fprintf(stderr, "server: connection ended: %s (%s)\n",
		smbdirect_reason_string(reason), detail);
	sc->done = true;
}

/* Serve one accepted request until the connection ends. */
static int serve(struct tevent_context *ev,
		 struct smbdirect_conn_request *request)
{
	struct smbdirect_settings settings;
	struct server_conn *sc = talloc_zero(ev, struct server_conn);
	struct smbdirect_conn_handlers handlers = {
		.message = server_message,
		.disconnected = server_disconnected,
	};
	struct tevent_req *req;
	enum smbdirect_reason reason;
	int ret;

	settings_for_test(&settings);
	sc->ev = ev;
	req = smbdirect_accept_send(sc, ev, request, &settings);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		return 1;
	}
	ret = smbdirect_accept_recv(req, sc, &sc->conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "server: accept failed: %s (%s)\n",
			strerror(ret), smbdirect_reason_string(reason));
		return 1;
	}
	sc->buf = smbdirect_buffer_new(sc, sc->conn, 16 * 1024 * 1024);
	if (sc->buf == NULL) {
		fprintf(stderr, "server: no buffer: %s\n", strerror(errno));
		return 1;
	}
	smbdirect_conn_set_handlers(sc->conn, &handlers, sc);
	while (!sc->done) {
		if (tevent_loop_once(ev) != 0) {
			break;
		}
	}
	ret = sc->failures > 0 ? 1 : 0;
	TALLOC_FREE(sc->buf);
	talloc_free(sc);
	return ret;
}

struct server {
	struct tevent_context *ev;
	bool fork_mode;
	int children;
	int served;
	int failures;
	bool in_child;
	struct tevent_context *child_ev;
	struct smbdirect_conn_request *child_request;
	struct smbdirect_conn_request *pending;
};

static void on_request(struct smbdirect_listener *listener,
		       struct smbdirect_conn_request *request, void *priv)
{
	struct server *srv = priv;
	pid_t pid;

	if (!srv->fork_mode) {
		/* Served from the main loop: tevent does not nest loops. */
		srv->pending = request;
		return;
	}
	pid = smbdirect_listener_fork(listener, request, &srv->child_ev,
				      &srv->child_request);
	if (pid == 0) {
		srv->in_child = true;
		return;
	}
	if (pid < 0) {
		fprintf(stderr, "server: fork failed: %s\n", strerror(errno));
		srv->failures++;
		return;
	}
	srv->children++;
}

static int run_server(const struct sockaddr *addr, bool fork_mode,
		      int expect)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct smbdirect_listener *listener = NULL;
	struct server srv = {.ev = ev, .fork_mode = fork_mode};
	int ret;
	int status;
	int reaped = 0;

	ret = smbdirect_listen(ev, ev, addr, 64, on_request, &srv, &listener);
	if (ret != 0) {
		fprintf(stderr, "server: listen failed: %s\n", strerror(ret));
		return 1;
	}
	printf("server: listening\n");
	fflush(stdout);
	while (srv.served + srv.children < expect) {
		if (tevent_loop_once(ev) != 0) {
			break;
		}
		if (srv.pending != NULL) {
			struct smbdirect_conn_request *r = srv.pending;

			srv.pending = NULL;
			srv.served++;
			if (serve(ev, r) != 0) {
				srv.failures++;
			}
		}
		if (srv.in_child) {
			/* The child owns one connection, on its own event
			 * context; the listener is the parent's. */
			ret = serve(srv.child_ev, srv.child_request);
			_exit(ret);
		}
		while (waitpid(-1, &status, WNOHANG) > 0) {
			reaped++;
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				srv.failures++;
			}
		}
	}
	while (reaped < srv.children && waitpid(-1, &status, 0) > 0) {
		reaped++;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			srv.failures++;
		}
	}
	printf("server: %d connections (%d children), %d failures\n",
	       srv.served + srv.children, srv.children, srv.failures);
	talloc_free(ev);
	return srv.failures > 0 ? 1 : 0;
}

/* --- client ------------------------------------------------------------- */

struct client {
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	uint8_t *last;
	size_t last_length;
	bool got;
	bool ended;
	enum smbdirect_reason reason;
};

static void client_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct client *c = priv;

	(void)conn;
	talloc_free(c->last);
	c->last = talloc_memdup(c, data, length);
	c->last_length = length;
	c->got = true;
}

static void client_disconnected(struct smbdirect_conn *conn,
				enum smbdirect_reason reason,
				const char *detail, void *priv)
{
	struct client *c = priv;

	(void)conn;
	(void)detail;
	c->ended = true;
	c->reason = reason;
}

/* Send one message and wait for the answer. */
static int exchange(struct client *c, const struct iovec *iov, int n)
{
	struct tevent_req *req;
	int ret;

	c->got = false;
	req = smbdirect_send_send(c, c->ev, c->conn, iov, n);
	if (req == NULL || !tevent_req_poll(req, c->ev)) {
		return EIO;
	}
	ret = smbdirect_send_recv(req);
	talloc_free(req);
	if (ret != 0) {
		return ret;
	}
	while (!c->got && !c->ended) {
		if (tevent_loop_once(c->ev) != 0) {
			return EIO;
		}
	}
	return c->got ? 0 : ENOTCONN;
}

static int test_messages(struct client *c)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->conn);
	uint32_t max = p->max_fragmented_send_size;
	uint8_t *msg = talloc_size(c, max);
	uint64_t x = 12345;
	uint32_t i;

	if (max > p->max_fragmented_receive_size) {
		max = p->max_fragmented_receive_size;
	}
	for (i = 0; i < count; i++) {
		uint32_t size;
		struct iovec iov;
		int ret;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* 1..max, log-uniform, the extremes included. */
		if (i == 0) {
			size = 1;
		} else if (i % 1000 == 1) {
			size = max;
		} else {
			uint32_t bits = (uint32_t)(x % 18);
			uint64_t limit = 1ull << bits;

			if (limit > max) {
				limit = max;
			}
			size = 1 + (uint32_t)((x >> 8) % limit);
		}
		fill_pattern(msg, size, i);
		msg[0] = 'E';
		iov.iov_base = msg;
		iov.iov_len = size;
		ret = exchange(c, &iov, 1);
		if (ret != 0) {
			fprintf(stderr, "client: message %u (%u bytes): %s\n", i,
				size, strerror(ret));
			return 1;
		}
		if (c->last_length != size ||
		    hash_bytes(c->last, size) != hash_bytes(msg, size)) {
			fprintf(stderr,
				"client: message %u: %zu bytes back, %u sent, "
				"checksum %s\n",
				i, c->last_length, size,
				c->last_length == size ? "differs" : "-");
			return 1;
		}
	}
	printf("client: %u messages echoed intact (max %u bytes)\n", count,
	       max);
	return 0;
}

/* Ask the server for an RDMA operation on our buffer, split into `nd`
 * exposures, and check the result. */
static int rdma_case(struct client *c, struct smbdirect_buffer *buf,
		     char cmd, uint32_t len, int nd)
{
	struct smbdirect_buffer_descriptor descs[MAX_DESCS];
	struct smbdirect_exposure *x[MAX_DESCS];
	uint8_t msg[5 + MAX_DESCS * 16];
	uint8_t *data = smbdirect_buffer_data(buf);
	struct iovec iov;
	size_t per = len / (size_t)nd;
	size_t off = 0;
	int i;
	int ret;

	for (i = 0; i < nd; i++) {
		size_t n = i == nd - 1 ? len - off : per;
		size_t got = 0;

		x[i] = smbdirect_expose(c, c->conn, buf, off, n, cmd != 'R',
					&descs[i], 1, &got);
		if (x[i] == NULL) {
			fprintf(stderr, "client: expose: %s\n",
				strerror(errno));
			return 1;
		}
		off += n;
	}
	msg[0] = (uint8_t)cmd;
	memcpy(msg + 1, &len, 4);
	smbdirect_buffer_descriptors_encode(descs, (size_t)nd, msg + 5,
					    sizeof(msg) - 5);
	if (cmd == 'R') {
		fill_pattern(data, len, len + 7);
	} else {
		memset(data, 0, len);
	}
	iov.iov_base = msg;
	iov.iov_len = 5 + (size_t)nd * 16;
	ret = exchange(c, &iov, 1);
	if (ret != 0) {
		fprintf(stderr, "client: %c %u: %s\n", cmd, len, strerror(ret));
		return 1;
	}
	if (cmd == 'R') {
		uint64_t h;

		memcpy(&h, c->last + 1, 8);
		if (c->last[0] != 'r' || h != hash_bytes(data, len)) {
			fprintf(stderr,
				"client: RDMA read %u: wrong data (answer %c, "
				"hash %016llx, expected %016llx)\n",
				len, c->last[0], (unsigned long long)h,
				(unsigned long long)hash_bytes(data, len));
			return 1;
		}
	} else {
		uint8_t *expect = talloc_size(c, len);

		fill_pattern(expect, len, len);
		if (c->last[0] != (cmd == 'I' ? 'i' : 'w') ||
		    memcmp(expect, data, len) != 0) {
			fprintf(stderr, "client: RDMA write %u: wrong data\n",
				len);
			return 1;
		}
		talloc_free(expect);
		if (cmd == 'I' && !smbdirect_exposure_invalidated(x[0])) {
			fprintf(stderr, "client: rkey not invalidated\n");
			return 1;
		}
	}
	for (i = 0; i < nd; i++) {
		talloc_free(x[i]);
	}
	return 0;
}

static int test_rdma(struct client *c)
{
	static const uint32_t sizes[] = {4096, 65536, 1048576, 8388608};
	struct smbdirect_buffer *buf =
		smbdirect_buffer_new(c, c->conn, 8 * 1024 * 1024);
	size_t i;
	int nd;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (nd = 1; nd <= 4; nd += 3) {
			if (rdma_case(c, buf, 'W', sizes[i], nd) != 0 ||
			    rdma_case(c, buf, 'R', sizes[i], nd) != 0) {
				return 1;
			}
			printf("client: RDMA write+read %u bytes over %d "
			       "descriptor(s): ok\n",
			       sizes[i], nd);
		}
	}
	talloc_free(buf);
	return 0;
}

static int run_client(const struct sockaddr *addr, const char *test)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct client *c = talloc_zero(ev, struct client);
	struct smbdirect_settings settings;
	struct smbdirect_conn_handlers handlers = {
		.message = client_message,
		.disconnected = client_disconnected,
	};
	struct tevent_req *req;
	enum smbdirect_reason reason;
	int ret;

	settings_for_test(&settings);
	c->ev = ev;
	req = smbdirect_connect_send(c, ev, addr, NULL, &settings, 5000);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		return 1;
	}
	ret = smbdirect_connect_recv(req, c, &c->conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "client: connect failed: %s (%s)\n",
			strerror(ret), smbdirect_reason_string(reason));
		return 1;
	}
	smbdirect_conn_set_handlers(c->conn, &handlers, c);
	{
		const struct smbdirect_params *p =
			smbdirect_conn_params(c->conn);

		printf("client: negotiated: send %u receive %u fragmented "
		       "%u/%u rw %u credits target %u\n",
		       p->max_send_size, p->max_receive_size,
		       p->max_fragmented_send_size,
		       p->max_fragmented_receive_size, p->max_read_write_size,
		       p->receive_credit_target);
	}
	ret = 0;
	if (strcmp(test, "messages") == 0) {
		ret = test_messages(c);
	} else if (strcmp(test, "rdma") == 0) {
		ret = test_rdma(c);
	} else if (strcmp(test, "negotiate") == 0) {
		ret = 0;
	} else {
		fprintf(stderr, "client: unknown test %s\n", test);
		ret = 2;
	}
	{
		uint8_t q = 'Q';
		struct iovec iov = {.iov_base = &q, .iov_len = 1};

		req = smbdirect_send_send(c, ev, c->conn, &iov, 1);
		if (req != NULL && tevent_req_poll(req, ev)) {
			smbdirect_send_recv(req);
		}
		talloc_free(req);
		while (!c->ended) {
			if (tevent_loop_once(ev) != 0) {
				break;
			}
		}
	}
	talloc_free(ev);
	return ret;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	bool fork_mode = false;
	int expect = 1;
	int i;

	if (argc < 4 || parse_addr(argv[2], argv[3], &ss) != 0) {
		fprintf(stderr, "usage: sdtest server|client ADDR PORT ...\n");
		return 2;
	}
	for (i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--fork") == 0) {
			fork_mode = true;
		} else if (strcmp(argv[i], "--small") == 0) {
			small_sizes = true;
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			count = (uint32_t)strtoul(argv[++i], NULL, 0);
		} else if (strcmp(argv[i], "--connections") == 0 &&
			   i + 1 < argc) {
			expect = atoi(argv[++i]);
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "server") == 0) {
		return run_server((struct sockaddr *)&ss, fork_mode, expect);
	}
	if (strcmp(argv[1], "client") == 0 && argc >= 5) {
		return run_client((struct sockaddr *)&ss, argv[4]);
	}
	fprintf(stderr, "usage: sdtest server|client ADDR PORT ...\n");
	return 2;
}
