/*
 * binding-bench: the CPU cost of the RDMA binding (lib/) per operation,
 * with the verbs layer faked (test/common/fakeverbs.h), so that callgrind
 * counts the library's own instructions on the host, deterministically:
 * two library connections in one process, a client and an echo server.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Modes (-m):
 *   pingpong  one message of SIZE bytes at a time, echoed back
 *   stream    DEPTH messages in flight, echoed back
 *   write     RDMA writes of SIZE bytes by the server into an exposure of
 *             the client's memory, one at a time
 * With -r the server's connection is relayed (smbdirect_relay.h): a relay
 * keeps it and the server drives it over a socketpair, both in this
 * process, so the counts are the relay hop's whole cost (both sides) on
 * top of the direct path.
 * Only bench_measured_phase() runs between the warm-up and the end, so
 * `valgrind --tool=callgrind --collect-atstart=no
 * --toggle-collect=bench_measured_phase` counts the steady state only
 * (test/bench/binding-callgrind.sh). Prints one line:
 *   mode=M size=S ops=N received=R bytes=B ok
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <talloc.h>
#include <tevent.h>

#include <sys/socket.h>

#include "fakeverbs.h"
#include "smbdirect_rdma.h"
#include "smbdirect_relay.h"

struct bench {
	struct tevent_context *ev;
	struct smbdirect_conn *client;
	struct smbdirect_conn *server;
	struct tevent_req *accept_req;
	uint8_t *payload;
	size_t size;
	unsigned int depth;
	uint64_t sent;
	uint64_t received;
	uint64_t bytes;
	bool failed;
	struct smbdirect_buffer *cbuf;
	struct smbdirect_buffer *sbuf;
	struct smbdirect_buffer_descriptor desc;
	bool rdma_done;
};

static void die(const char *what)
{
	fprintf(stderr, "binding-bench: %s\n", what);
	exit(1);
}

static void sent(struct tevent_req *req)
{
	struct bench *b = tevent_req_callback_data_void(req);

	if (smbdirect_send_recv(req) != 0) {
		b->failed = true;
	}
	talloc_free(req);
}

static void send_one(struct bench *b, struct smbdirect_conn *conn,
		     const uint8_t *data, size_t length)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = length };
	struct tevent_req *req = smbdirect_send_send(b, b->ev, conn, &iov, 1);

	if (req == NULL) {
		die("out of memory");
	}
	tevent_req_set_callback(req, sent, b);
}

/* The server echoes from a buffer of its own (the message is valid only
 * during the call, and the send copies it into a registered slot). */
static void server_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct bench *b = priv;

	memcpy(b->payload + b->size, data, length);
	send_one(b, conn, b->payload + b->size, length);
}

static void client_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct bench *b = priv;

	(void)conn;
	if (length != b->size || memcmp(data, b->payload, length) != 0) {
		b->failed = true;
	}
	b->received += 1;
	b->bytes += length;
}

static void accepted(struct tevent_req *req)
{
	struct bench *b = tevent_req_callback_data_void(req);

	if (smbdirect_accept_recv(req, b, &b->server, NULL) != 0) {
		die("accept failed");
	}
	b->accept_req = NULL;
	talloc_free(req);
}

static void on_request(struct smbdirect_listener *l,
		       struct smbdirect_conn_request *r, void *priv)
{
	struct bench *b = priv;

	(void)l;
	b->accept_req = smbdirect_accept_send(b, b->ev, r, NULL);
	if (b->accept_req == NULL) {
		die("out of memory");
	}
	tevent_req_set_callback(b->accept_req, accepted, b);
}

static void connected(struct tevent_req *req)
{
	struct bench *b = tevent_req_callback_data_void(req);

	if (smbdirect_connect_recv(req, b, &b->client, NULL) != 0) {
		die("connect failed");
	}
	talloc_free(req);
}

static void rdma_done(struct tevent_req *req)
{
	struct bench *b = tevent_req_callback_data_void(req);

	if (smbdirect_rdma_recv(req) != 0) {
		b->failed = true;
	}
	b->rdma_done = true;
	b->bytes += b->size;
	talloc_free(req);
}

static void loop_once(struct bench *b)
{
	if (tevent_loop_once(b->ev) != 0) {
		die("tevent_loop_once failed");
	}
	if (b->failed) {
		die("an operation failed or data differed");
	}
}

/* `ops` operations of the mode; returns how many completed. */
static uint64_t run(struct bench *b, const char *mode, uint64_t ops)
{
	uint64_t done = 0;

	if (strcmp(mode, "write") == 0) {
		for (done = 0; done < ops; done++) {
			struct tevent_req *req = smbdirect_rdma_write_send(
				b, b->ev, b->server, b->sbuf, 0, b->size,
				&b->desc, 1);

			if (req == NULL) {
				die("out of memory");
			}
			b->rdma_done = false;
			tevent_req_set_callback(req, rdma_done, b);
			while (!b->rdma_done) {
				loop_once(b);
			}
		}
		return done;
	}
	{
		uint64_t start = b->received;
		uint64_t queued = 0;

		while (b->received - start < ops) {
			while (queued < ops &&
			       queued - (b->received - start) < b->depth) {
				send_one(b, b->client, b->payload, b->size);
				queued += 1;
			}
			loop_once(b);
		}
		return b->received - start;
	}
}

/* The phase callgrind counts (--toggle-collect=bench_measured_phase). */
__attribute__((noinline)) uint64_t bench_measured_phase(struct bench *b,
							 const char *mode,
							 uint64_t ops);
__attribute__((noinline)) uint64_t bench_measured_phase(struct bench *b,
							 const char *mode,
							 uint64_t ops)
{
	return run(b, mode, ops);
}

int main(int argc, char **argv)
{
	const char *mode = "pingpong";
	uint64_t ops = 1000;
	uint64_t warmup = 100;
	struct bench *b;
	struct smbdirect_listener *listener;
	struct sockaddr_in a;
	struct smbdirect_conn_handlers sh = { .message = server_message };
	struct smbdirect_conn_handlers ch = { .message = client_message };
	struct tevent_req *req;
	uint64_t done;
	size_t i;
	bool relayed = false;
	int opt;

	b = talloc_zero(NULL, struct bench);
	b->size = 64;
	b->depth = 1;
	while ((opt = getopt(argc, argv, "m:s:n:d:w:r")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 's':
			b->size = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			ops = strtoull(optarg, NULL, 0);
			break;
		case 'd':
			b->depth = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'w':
			warmup = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			relayed = true;
			break;
		default:
			fprintf(stderr, "usage: binding-bench [-m pingpong|stream|"
					"write] [-s SIZE] [-n OPS] [-d DEPTH] "
					"[-w WARMUP] [-r]\n");
			return 2;
		}
	}
	if (strcmp(mode, "stream") == 0 && b->depth == 1) {
		b->depth = 16;
	}
	if (b->size == 0 || b->depth == 0) {
		die("size and depth must be positive");
	}
	b->ev = tevent_context_init(b);
	b->payload = talloc_size(b, 2 * b->size);
	if (b->ev == NULL || b->payload == NULL) {
		die("out of memory");
	}
	for (i = 0; i < b->size; i++) {
		b->payload[i] = (uint8_t)(i * 31 + 7);
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	inet_pton(AF_INET, "10.9.0.1", &a.sin_addr);
	if (smbdirect_listen(b, b->ev, (struct sockaddr *)&a, 16, on_request, b,
			     &listener) != 0) {
		die("listen failed");
	}
	req = smbdirect_connect_send(b, b->ev,
				     smbdirect_listener_address(listener), NULL,
				     NULL, 1000);
	if (req == NULL) {
		die("out of memory");
	}
	tevent_req_set_callback(req, connected, b);
	while (b->client == NULL || b->server == NULL) {
		loop_once(b);
	}
	if (relayed) {
		struct smbdirect_conn *owner = NULL;
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
		    smbdirect_relay_send(b, b->ev, b->server, sv[0]) == NULL ||
		    smbdirect_relay_attach(b, b->ev, sv[1], 1000, &owner) != 0) {
			die("relay set-up failed");
		}
		b->server = owner;
	}
	smbdirect_conn_set_handlers(b->server, &sh, b);
	smbdirect_conn_set_handlers(b->client, &ch, b);
	if (strcmp(mode, "write") == 0) {
		size_t count = 0;

		b->cbuf = smbdirect_buffer_new(b, b->client, b->size);
		b->sbuf = smbdirect_buffer_new(b, b->server, b->size);
		if (b->cbuf == NULL || b->sbuf == NULL ||
		    smbdirect_expose(b, b->client, b->cbuf, 0, b->size, true,
				     &b->desc, 1, &count) == NULL) {
			die("buffers");
		}
	} else if (strcmp(mode, "pingpong") != 0 && strcmp(mode, "stream") != 0) {
		die("unknown mode");
	}
	run(b, mode, warmup);
	b->bytes = 0;
	done = bench_measured_phase(b, mode, ops);
	printf("mode=%s size=%zu%s ops=%llu bytes=%llu ok\n", mode, b->size,
	       relayed ? " relayed" : "", (unsigned long long)done,
	       (unsigned long long)b->bytes);
	talloc_free(b);
	return fv_reset() == 0 ? 0 : 1;
}
