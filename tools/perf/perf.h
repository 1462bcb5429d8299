/*
 * smbdirect-perf: what its source files share (docs/tools/smbdirect-perf.md,
 * "Source layout"). The sources are split as perftest's are:
 *
 *   parameters.c     options, defaults, validation, usage; the test table
 *   resources.c      listening, forking, accepting, connecting; the
 *                    registered buffers and exposures; --busy-poll
 *   communication.c  the control messages between client and server and
 *                    the message send/receive machinery the tests share
 *   reporting.c      clock, statistics, the perftest-style tables and CSV
 *   send_lat.c, send_bw.c, msg_rate.c, write_bw.c, read_bw.c
 *                    one test each; rdma_bw.c is what write_bw and read_bw
 *                    share
 *   main.c           main(): the client's and the server's loops
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_PERF_H
#define SMBDIRECT_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/uio.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"
#include "smbdirect_rdma.h"

/* Every control message starts with an 8-byte header (communication.c). */
#define PERF_HDR 8
#define MAX_SIZES 32
#define MAX_DESCS 16
/* The exposed (and the server's local) buffer holds at most this much:
 * SIZE x tx-depth slots, fewer for large sizes; operations cycle through
 * the slots. */
#define MAX_EXPOSED (256u * 1024 * 1024)
#define MAX_ITERS 100000000ull
#define MAX_DEPTH 4096u
#define MAX_SIZE (1024u * 1024 * 1024)

/* A test's number in SETUP and RESULT messages. */
enum perf_test {
	TEST_SEND_LAT = 1,
	TEST_SEND_BW,
	TEST_MSG_RATE,
	TEST_WRITE_BW,
	TEST_READ_BW,
};

enum msg_type {
	MSG_SETUP = 'S',
	MSG_READY = 'A',
	MSG_RESULT = 'R',
	MSG_ERROR = 'E',
	MSG_QUIT = 'Q',
};

struct client;
struct result;
struct session;

/* One test: its names, defaults, and what each side does for one size. */
struct perf_test_def {
	enum perf_test test;
	const char *name;     /* --test NAME, and the CSV's first column */
	const char *title;    /* the banner's title */
	const char *summary;  /* the banner's Test line, in brackets */
	uint32_t default_size;
	uint64_t default_iters;
	uint32_t default_depth;
	/* send_lat: one message in flight, echoed; warm-up exchanges; the
	 * client measures round trips and the server prints its figures. */
	bool ping_pong;
	/* The server moves the data by RDMA and measures. */
	bool rdma;
	/* Client: run one size (SETUP in c->su); fills *r. */
	bool (*client_run)(struct client *c, struct result *r);
	/* Client: a test message while c->phase is CLI_TEST. */
	void (*client_message)(struct client *c, size_t length);
	/* Server: start one size (SETUP checked); false refuses it, *why
	 * saying why. */
	bool (*server_start)(struct session *s, const char **why);
	/* Server: a test message in the test's phase; false if unexpected. */
	bool (*server_message)(struct session *s, size_t length);
	/* RDMA tests: the operation, "write" or "read", whether the client
	 * exposes its buffer for remote write, and the call posting it. */
	const char *rdma_op;
	bool remote_write;
	struct tevent_req *(*rdma_send)(
		void *mem_ctx, struct tevent_context *ev,
		struct smbdirect_conn *conn, struct smbdirect_buffer *local,
		size_t offset, size_t length,
		const struct smbdirect_buffer_descriptor *remote, size_t count);
};

/* The defaults of the bandwidth tests, as perftest's _bw tests. */
#define PERF_BW_DEFAULTS .default_iters = 5000, .default_depth = 128

extern const struct perf_test_def perf_send_lat;
extern const struct perf_test_def perf_send_bw;
extern const struct perf_test_def perf_msg_rate;
extern const struct perf_test_def perf_write_bw;
extern const struct perf_test_def perf_read_bw;

/* --- parameters.c ------------------------------------------------------ */

struct options {
	const char *host;   /* NULL: server */
	const char *bind;   /* server: address to listen on */
	uint16_t port;
	const struct perf_test_def *test;
	uint32_t sizes[MAX_SIZES];
	unsigned int nsizes;
	uint64_t iters;     /* 0: the test's default */
	uint32_t depth;     /* 0: the test's default */
	uint32_t warmup;
	bool small;
	bool csv;
	bool fork_mode;
	bool stats;
	bool busy_poll;
	uint32_t wire_size; /* 0: the library's default */
	enum smbdirect_thread_mode thread_mode;
};

extern struct options opt;

/* The test with this number, or NULL. */
const struct perf_test_def *perf_test_find(enum perf_test test);
/* The library's settings as the options ask (--wire-size, --small). */
void settings_for(struct smbdirect_settings *s);
/* Parse the command line into opt: -1 to go on, else the exit status. */
int perf_parse(int argc, char **argv);

/* --- reporting.c -------------------------------------------------------- */

/* What the side that measured reports; latency figures are round trips
 * in ns. */
struct result {
	enum perf_test test;
	uint32_t size;
	uint64_t iters;
	uint64_t elapsed_ns;
	uint64_t peak_bytes;
	uint64_t peak_ns;
	uint64_t rtt_min, rtt_max, rtt_median, rtt_avg, rtt_stdev, rtt_p99,
		rtt_p999;
};

/* Bandwidth peak: the fastest window of `window` consecutive
 * completions (reporting.c). */
struct peak {
	uint64_t *ring;
	uint32_t window;
	uint64_t seen;
	uint64_t best_bytes;
	uint64_t best_ns;
	uint32_t size;
};

uint64_t now_ns(void);
void latency_result(uint64_t *rtt, uint64_t n, struct result *r);
bool peak_init(TALLOC_CTX *ctx, struct peak *p, uint64_t iters,
	       uint32_t depth, uint32_t size);
void peak_add(struct peak *p, uint64_t t);
void print_csv_header(void);
void print_header(const struct perf_test_def *test, const char *side,
		  const char *peer, struct smbdirect_conn *conn,
		  uint32_t depth, uint32_t warmup);
void print_result(const struct result *r, const char *side, uint32_t depth);
void print_footer(void);
void print_stats(struct smbdirect_conn *conn, const char *side);
void server_start_table(struct session *s, const struct perf_test_def *test);
void server_end_table(struct session *s);

/* --- both sides --------------------------------------------------------- */

/* What a SETUP message carries (communication.c). */
struct setup {
	enum perf_test test;
	uint8_t flags;
	uint32_t size;
	uint64_t iters;
	uint32_t depth;
	uint32_t warmup;
	uint32_t slots;
	struct smbdirect_buffer_descriptor descs[MAX_DESCS];
	size_t ndesc;
};

#define SETUP_BUSY_POLL 0x01

struct endpoint;
typedef void (*sent_fn)(struct endpoint *ep, int error);

/* One side of the connection; first in struct session and struct client,
 * so that send completions can get back to them. */
struct endpoint {
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	const char *side;        /* "client" or "server" */
	uint32_t sends_pending;  /* all our send requests not completed */
	/* Memory of finished tests that sends may still point into: freed
	 * when no send is pending. */
	TALLOC_CTX *retired;
	struct tevent_fd *spin;  /* --busy-poll: an fd that is always ready */
	int failures;
	bool ended;
	enum smbdirect_reason reason;
	char detail[160];
};

/* --- the server --------------------------------------------------------- */

/* The numbers appear in the "unexpected message" error. */
enum server_phase {
	SRV_IDLE,     /* waiting for SETUP, a client's RESULT or QUIT */
	SRV_LAT,      /* echoing test messages */
	SRV_RECV,     /* counting streamed test messages */
	SRV_RDMA,     /* running RDMA operations */
};

/* One client's connection, in a child (--fork) or in process. */
struct session {
	struct endpoint ep;   /* first: the handlers get the session */
	enum server_phase phase;
	struct setup su;
	const struct perf_test_def *test;  /* su.test's */
	enum perf_test header_for; /* the table being printed */
	bool quit;
	/* send_lat */
	uint8_t *payload;
	uint64_t expected;
	uint64_t count;
	/* send_bw, msg_rate, RDMA */
	uint64_t t_start;
	uint64_t t_last;
	struct peak peak;
	/* RDMA */
	TALLOC_CTX *test_ctx;
	struct smbdirect_buffer *buf;
	struct smbdirect_buffer_descriptor *slice; /* MAX_DESCS per slot */
	size_t *slice_count;
	uint64_t posted;
	uint64_t completed;
	uint32_t in_flight;
};

/* The listener's state (resources.c, main.c). */
struct server {
	struct tevent_context *ev;
	struct session *session;      /* in-process mode */
	bool in_child;
	struct tevent_context *child_ev;
	struct smbdirect_conn_request *child_request;
	int children_failed;
};

/* --- the client --------------------------------------------------------- */

enum client_phase {
	CLI_IDLE,
	CLI_WAIT_READY,
	CLI_TEST,         /* the test's own messages: its client_message */
	CLI_STREAM,
	CLI_WAIT_RESULT,
};

struct client {
	struct endpoint ep;   /* first: the handlers get the client */
	enum client_phase phase;
	struct setup su;
	TALLOC_CTX *test_ctx;
	bool failed;          /* this test failed (ERROR from the server) */
	bool got_ready;
	bool got_result;
	struct result server_result;
	/* send tests */
	uint8_t *payload;
	uint64_t total;
	uint64_t posted;
	uint64_t completed;
	uint64_t received;
	uint64_t t_sent;
	uint64_t *rtt;
	uint64_t t_start;
	uint64_t t_last;
	struct peak peak;
	uint32_t data_pending; /* test messages not yet completed */
};

/* --- communication.c ---------------------------------------------------- */

bool send_iov(struct endpoint *ep, const struct iovec *iov, int n,
	      sent_fn done);
bool send_simple(struct endpoint *ep, enum msg_type type);
void send_error(struct endpoint *ep, const char *text);
bool send_result(struct endpoint *ep, const struct result *r);
void on_disconnected(struct smbdirect_conn *conn,
		     enum smbdirect_reason reason, const char *detail,
		     void *priv);
void server_message(struct smbdirect_conn *conn, const uint8_t *data,
		    size_t length, void *priv);
void server_send_result(struct session *s);
void client_message(struct smbdirect_conn *conn, const uint8_t *data,
		    size_t length, void *priv);
void client_fail(struct client *c, const char *what);
bool client_wait(struct client *c, const bool *flag);
bool client_wait_sends(struct client *c);
bool client_send_setup(struct client *c);
bool client_payload(struct client *c);
bool client_ready(struct client *c);
bool client_submit(struct client *c, sent_fn done);
bool client_data_done(struct client *c, int error);
void client_quit(struct client *c);

/* --- resources.c -------------------------------------------------------- */

void spin_start(struct endpoint *ep);
bool server_rdma_buffers(struct session *s, const char **why);
struct smbdirect_exposure *client_rdma_buffer(struct client *c,
					      bool remote_write);
struct session *session_start(TALLOC_CTX *ctx, struct tevent_context *ev,
			      struct smbdirect_conn_request *request);
bool perf_listen(struct server *srv);
bool perf_connect(struct client *c);

/* --- the tests' shared parts -------------------------------------------- */

bool send_bw_client_run(struct client *c, struct result *r);
bool send_bw_server_start(struct session *s, const char **why);
bool send_bw_server_message(struct session *s, size_t length);
bool rdma_bw_client_run(struct client *c, struct result *r);
bool rdma_bw_server_start(struct session *s, const char **why);

/* What write_bw and read_bw define alike (rdma_bw.c). */
#define PERF_RDMA_BW_TEST                                                  \
	.default_size = 65536, PERF_BW_DEFAULTS, .rdma = true,             \
	.client_run = rdma_bw_client_run, .server_start = rdma_bw_server_start

#endif /* SMBDIRECT_PERF_H */
