/*
 * smbdirect-perf: perftest-style measurements of SMB-Direct connections
 * made with libsmbdirect (rdma_cm + verbs on tevent), to be read side by
 * side with perftest's ib_send_lat, ib_write_bw and ib_read_bw on the same
 * device (docs/tools/smbdirect-perf.md).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Like perftest, one program is both ends: without an address it is the
 * server, with one it is the client. The client chooses the test and its
 * parameters and tells the server in its first message, so the server
 * needs no options.
 *
 * Tests:
 *  send_lat  ping-pong of SIZE-byte SMB-Direct messages; one-way latency
 *            is half the round trip, as ib_send_lat reports it.
 *  send_bw   the client streams SIZE-byte messages with -t of them
 *            submitted at once; bandwidth at the sender (first submit to
 *            last completion).
 *  msg_rate  send_bw with small messages (default 64 bytes, an SMB2
 *            header), read as messages per second.
 *  write_bw  the client exposes one buffer of SIZE x slots bytes for remote
 *            write and sends its descriptor list; the server RDMA-writes
 *            SIZE bytes -n times, -t at once (an SMB2 READ's data path).
 *  read_bw   the same with RDMA reads of the client's buffer (an SMB2
 *            WRITE's data path).
 *
 * Everything runs from tevent callbacks and small state machines: the
 * message handler (zero-copy receive), send and RDMA completions. The
 * only loops are the top-level ones in main(), never one inside a library
 * callback.
 *
 * Control messages (test messages carry no header: each phase knows how
 * many SIZE-byte messages it expects). Little-endian:
 *   header  "SDPF" version(1) type(1) reserved(2)
 *   SETUP   test(1) reserved(3) size(4) iters(8) depth(4) warmup(4)
 *           slots(4) ndesc(4) descriptors(16 each, [MS-SMBD] 2.2.3.1)
 *   READY   -
 *   RESULT  test(1) reserved(3) size(4) iters(8) elapsed_ns(8)
 *           peak_bytes(8) peak_ns(8) then round-trip statistics in ns:
 *           min max median avg stdev p99 p99.9 (8 each)
 *   ERROR   text
 *   QUIT    -
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <talloc.h>
#include <tevent.h>

#include "common/addr.h"
#include "smbdirect.h"
#include "smbdirect_rdma.h"

#define PERF_MAGIC "SDPF"
#define PERF_VERSION 1
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
/* Peak bandwidth: the best window of this many completions at most. */
#define MAX_PEAK_WINDOW 65536u
#define MIB (1024.0 * 1024.0)
#define RULE                                                                 \
	"-------------------------------------------------------------------" \
	"--------------------"

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

static const struct {
	enum perf_test test;
	const char *name;
	const char *title;
} tests[] = {
	{TEST_SEND_LAT, "send_lat", "Send Latency Test"},
	{TEST_SEND_BW, "send_bw", "Send BW Test"},
	{TEST_MSG_RATE, "msg_rate", "Send Message Rate Test"},
	{TEST_WRITE_BW, "write_bw", "RDMA Write BW Test"},
	{TEST_READ_BW, "read_bw", "RDMA Read BW Test"},
};

static const char *test_name(enum perf_test t)
{
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (tests[i].test == t) {
			return tests[i].name;
		}
	}
	return "?";
}

static const char *test_title(enum perf_test t)
{
	size_t i;

	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
		if (tests[i].test == t) {
			return tests[i].title;
		}
	}
	return "?";
}

static bool is_rdma_test(enum perf_test t)
{
	return t == TEST_WRITE_BW || t == TEST_READ_BW;
}

/* --- options ------------------------------------------------------------ */

struct options {
	const char *host;   /* NULL: server */
	const char *bind;   /* server: address to listen on */
	uint16_t port;
	enum perf_test test;
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

static struct options opt;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void settings_for(struct smbdirect_settings *s)
{
	smbdirect_settings_default(s);
	if (opt.wire_size != 0) {
		s->max_send_size = opt.wire_size;
		s->max_receive_size = opt.wire_size;
	}
	if (opt.small) {
		/* [MS-SMBD] 3.1.5.6: the smallest legal sizes. */
		s->max_send_size = 128;
		s->max_receive_size = 128;
		s->max_fragmented_size = 131072;
	}
}

static uint64_t default_iters(enum perf_test t)
{
	return t == TEST_SEND_LAT ? 1000 : 5000;
}

static uint32_t default_depth(enum perf_test t)
{
	return t == TEST_SEND_LAT ? 1 : 128;
}

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

#define SETUP_BUSY_POLL 0x01

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

#define SETUP_FIXED (PERF_HDR + 32)

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

#define RESULT_SIZE (PERF_HDR + 16 + 10 * 8)

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

/* --- statistics ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* Percentile by rank (nearest rank, as perftest's sorted report). */
static uint64_t rank(const uint64_t *sorted, uint64_t n, double fraction)
{
	uint64_t i = (uint64_t)ceil(fraction * (double)n);

	if (i < 1) {
		i = 1;
	}
	if (i > n) {
		i = n;
	}
	return sorted[i - 1];
}

static void latency_result(uint64_t *rtt, uint64_t n, struct result *r)
{
	double sum = 0;
	double var = 0;
	double avg;
	uint64_t i;

	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	for (i = 0; i < n; i++) {
		sum += (double)rtt[i];
	}
	avg = sum / (double)n;
	for (i = 0; i < n; i++) {
		double d = (double)rtt[i] - avg;

		var += d * d;
	}
	r->iters = n;
	r->elapsed_ns = (uint64_t)sum;
	r->rtt_min = rtt[0];
	r->rtt_max = rtt[n - 1];
	r->rtt_median = n % 2 == 1 ? rtt[n / 2]
				   : (rtt[n / 2 - 1] + rtt[n / 2]) / 2;
	r->rtt_avg = (uint64_t)llround(avg);
	r->rtt_stdev = (uint64_t)llround(sqrt(var / (double)n));
	r->rtt_p99 = rank(rtt, n, 0.99);
	r->rtt_p999 = rank(rtt, n, 0.999);
}

/*
 * Bandwidth peak: the fastest window of `window` consecutive completions,
 * over the whole run. The window is four times the tx depth (completions
 * come in bursts: a window of one depth can hold a burst whose work was
 * done before the window began) and at least a tenth of the run. A run
 * too short for one window reports its average.
 */
struct peak {
	uint64_t *ring;
	uint32_t window;
	uint64_t seen;
	uint64_t best_bytes;
	uint64_t best_ns;
	uint32_t size;
};

static bool peak_init(TALLOC_CTX *ctx, struct peak *p, uint64_t iters,
		      uint32_t depth, uint32_t size)
{
	uint64_t w = iters / 10;

	if (w < 4 * (uint64_t)depth) {
		w = 4 * (uint64_t)depth;
	}
	if (w > MAX_PEAK_WINDOW) {
		w = MAX_PEAK_WINDOW;
	}
	if (w < 1) {
		w = 1;
	}
	memset(p, 0, sizeof(*p));
	p->window = (uint32_t)w;
	p->size = size;
	p->ring = talloc_array(ctx, uint64_t, p->window);
	return p->ring != NULL;
}

static void peak_add(struct peak *p, uint64_t t)
{
	uint32_t i = (uint32_t)(p->seen % p->window);

	if (p->seen >= p->window) {
		uint64_t span = t - p->ring[i];
		uint64_t bytes = (uint64_t)p->window * p->size;

		/* bytes/span > best_bytes/best_ns */
		if (span > 0 &&
		    (p->best_ns == 0 || (double)bytes * (double)p->best_ns >
						(double)p->best_bytes * (double)span)) {
			p->best_bytes = bytes;
			p->best_ns = span;
		}
	}
	p->ring[i] = t;
	p->seen += 1;
}

/* --- output ---------------------------------------------------------------- */

static void print_csv_header(void)
{
	printf("test,side,bytes,iterations,tx_depth,t_min_us,t_max_us,"
	       "t_typical_us,t_avg_us,t_stdev_us,t_p99_us,t_p999_us,"
	       "bw_peak_mib_s,bw_avg_mib_s,msg_rate_mpps\n");
}

static void print_header(enum perf_test test, const char *side,
			 const char *peer, struct smbdirect_conn *conn,
			 uint32_t depth, uint32_t warmup)
{
	const struct smbdirect_params *p = smbdirect_conn_params(conn);

	if (opt.csv) {
		return;
	}
	printf("%s\n", RULE);
	printf("                    SMB-Direct %s\n", test_title(test));
	printf(" Tool           : smbdirect-perf, libsmbdirect %s\n",
	       smbdirect_version_string());
	printf(" Test           : %s (", test_name(test));
	switch (test) {
	case TEST_SEND_LAT:
		printf("ping-pong of SMB-Direct messages)\n");
		break;
	case TEST_SEND_BW:
	case TEST_MSG_RATE:
		printf("one-way stream of SMB-Direct messages)\n");
		break;
	case TEST_WRITE_BW:
		printf("server RDMA-writes the client's exposed buffer, "
		       "as for SMB2 READ)\n");
		break;
	case TEST_READ_BW:
		printf("server RDMA-reads the client's exposed buffer, "
		       "as for SMB2 WRITE)\n");
		break;
	}
	printf(" Side           : %s, peer %s\n", side, peer);
	printf(" Connection     : RC, rdma_cm (always), [MS-SMBD] 1.0, "
	       "%s mode\n",
	       smbdirect_thread_mode_string(smbdirect_get_thread_mode()));
	printf(" Negotiated     : max_send %u max_receive %u "
	       "max_fragmented %u/%u max_read_write %u credits %u\n",
	       p->max_send_size, p->max_receive_size,
	       p->max_fragmented_send_size, p->max_fragmented_receive_size,
	       p->max_read_write_size, p->receive_credit_target);
	if (test == TEST_SEND_LAT) {
		printf(" Warm-up        : %u exchanges, not measured\n", warmup);
		printf(" Latency        : one-way = round trip / 2 "
		       "(as ib_send_lat), usec\n");
	} else {
		printf(" TX depth       : %u\n", depth);
		printf(" Measured by    : %s\n",
		       is_rdma_test(test)
			       ? "the server (first post to last completion)"
			       : "the sender (first submit to last completion)");
		printf(" Units          : MB = 2^20 bytes (as perftest), "
		       "Mpps = 10^6 messages/s\n");
	}
	printf("%s\n", RULE);
	if (test == TEST_SEND_LAT) {
		printf(" #bytes #iterations    t_min[usec]    t_max[usec]  "
		       "t_typical[usec]    t_avg[usec]    t_stdev[usec]   "
		       "99%% percentile[usec]   99.9%% percentile[usec]\n");
	} else {
		printf(" #bytes     #iterations    BW peak[MB/sec]    "
		       "BW average[MB/sec]   MsgRate[Mpps]\n");
	}
	fflush(stdout);
}

static void print_result(const struct result *r, const char *side,
			 uint32_t depth)
{
	if (r->test == TEST_SEND_LAT) {
		double mn = (double)r->rtt_min / 2000.0;
		double mx = (double)r->rtt_max / 2000.0;
		double md = (double)r->rtt_median / 2000.0;
		double av = (double)r->rtt_avg / 2000.0;
		double sd = (double)r->rtt_stdev / 2000.0;
		double p99 = (double)r->rtt_p99 / 2000.0;
		double p999 = (double)r->rtt_p999 / 2000.0;

		if (opt.csv) {
			printf("%s,%s,%u,%" PRIu64 ",1,%.2f,%.2f,%.2f,%.2f,%.2f,"
			       "%.2f,%.2f,,,\n",
			       test_name(r->test), side, r->size, r->iters, mn,
			       mx, md, av, sd, p99, p999);
		} else {
			printf(" %-7u %-10" PRIu64
			       " %-14.2f %-14.2f %-16.2f %-14.2f %-15.2f "
			       "%-23.2f %.2f\n",
			       r->size, r->iters, mn, mx, md, av, sd, p99, p999);
		}
	} else {
		double secs = (double)r->elapsed_ns / 1e9;
		double avg = secs > 0 ? (double)r->size * (double)r->iters /
						secs / MIB
				      : 0;
		double peak = r->peak_ns > 0 ? (double)r->peak_bytes /
						       ((double)r->peak_ns / 1e9) /
						       MIB
					     : avg;
		double rate = secs > 0 ? (double)r->iters / secs / 1e6 : 0;

		if (peak < avg) {
			peak = avg;
		}
		if (opt.csv) {
			printf("%s,%s,%u,%" PRIu64 ",%u,,,,,,,,%.2f,%.2f,%.6f\n",
			       test_name(r->test), side, r->size, r->iters,
			       depth, peak, avg, rate);
		} else {
			printf(" %-10u %-14" PRIu64 " %-18.2f %-20.2f %.6f\n",
			       r->size, r->iters, peak, avg, rate);
		}
	}
	fflush(stdout);
}

static void print_footer(void)
{
	if (!opt.csv) {
		printf("%s\n", RULE);
		fflush(stdout);
	}
}

static void print_stats(struct smbdirect_conn *conn, const char *side)
{
	struct smbdirect_conn_stats st;

	if (!opt.stats) {
		return;
	}
	smbdirect_conn_get_stats(conn, &st);
	fprintf(stderr,
		"smbdirect-perf %s: rdma reads %" PRIu64 " writes %" PRIu64
		" bytes %" PRIu64 ", cq polls %" PRIu64 " events %" PRIu64
		", inline sends %" PRIu64 "\n",
		side, st.rdma_reads, st.rdma_writes, st.rdma_bytes,
		st.cq_polls, st.cq_events, st.inline_sends);
	if (smbdirect_get_thread_mode() == SMBDIRECT_THREAD_MODE_RDMA_THREAD) {
		struct smbdirect_thread_stats ts;

		smbdirect_get_thread_stats(&ts);
		fprintf(stderr,
			"smbdirect-perf %s: RDMA thread: %" PRIu64
			" calls, %" PRIu64 " posts of %" PRIu64
			" work requests, %" PRIu64 " wake-ups\n",
			side, ts.calls, ts.posts, ts.work_requests, ts.wakeups);
	}
}

/* --- sending ----------------------------------------------------------------
 *
 * Every send is a tevent request whose payload must stay valid until it
 * completes: control messages are copied into a holder freed with the
 * request; test messages point into a buffer that lives for the whole
 * test, which waits for its last send before freeing it.
 */

struct endpoint;
typedef void (*sent_fn)(struct endpoint *ep, int error);

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

struct send_ctx {
	struct endpoint *ep;
	sent_fn done;
};

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

/* Send iov (valid until `done` runs); false if it could not start. */
static bool send_iov(struct endpoint *ep, const struct iovec *iov, int n,
		     sent_fn done)
{
	struct send_ctx *sc = talloc(ep, struct send_ctx);
	struct tevent_req *req;

	if (sc == NULL) {
		ep->failures++;
		return false;
	}
	sc->ep = ep;
	sc->done = done;
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

/* Send a copy of a control message. */
static bool send_copy(struct endpoint *ep, const void *data, size_t length)
{
	struct send_ctx *sc = talloc(ep, struct send_ctx);
	struct tevent_req *req;
	struct iovec iov;

	if (sc == NULL) {
		ep->failures++;
		return false;
	}
	sc->ep = ep;
	sc->done = NULL;
	iov.iov_base = talloc_memdup(sc, data, length);
	iov.iov_len = length;
	if (iov.iov_base == NULL) {
		talloc_free(sc);
		ep->failures++;
		return false;
	}
	req = smbdirect_send_send(sc, ep->ev, ep->conn, &iov, 1);
	if (req == NULL) {
		talloc_free(sc);
		ep->failures++;
		return false;
	}
	ep->sends_pending += 1;
	tevent_req_set_callback(req, send_completed, sc);
	return true;
}

static bool send_simple(struct endpoint *ep, enum msg_type type)
{
	uint8_t msg[PERF_HDR];

	put_header(msg, type);
	return send_copy(ep, msg, sizeof(msg));
}

static void send_error(struct endpoint *ep, const char *text)
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

static void spin_start(struct endpoint *ep)
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

static void on_disconnected(struct smbdirect_conn *conn,
			    enum smbdirect_reason reason, const char *detail,
			    void *priv)
{
	struct endpoint *ep = priv;

	(void)conn;
	ep->ended = true;
	ep->reason = reason;
	snprintf(ep->detail, sizeof(ep->detail), "%s", detail);
}

/* --- server ------------------------------------------------------------------ */

enum server_phase {
	SRV_IDLE,     /* waiting for SETUP, a client's RESULT or QUIT */
	SRV_LAT,      /* echoing test messages */
	SRV_RECV,     /* counting streamed test messages */
	SRV_RDMA,     /* running RDMA operations */
};

struct session {
	struct endpoint ep;   /* first: the handlers get the session */
	enum server_phase phase;
	struct setup su;
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

static void server_end_table(struct session *s)
{
	if (s->header_for != 0) {
		print_footer();
		s->header_for = 0;
	}
}

static void server_start_table(struct session *s, enum perf_test test)
{
	if (s->header_for == test) {
		return;
	}
	server_end_table(s);
	print_header(test, "server", smbdirect_conn_peer(s->ep.conn), s->ep.conn,
		     s->su.depth, s->su.warmup);
	s->header_for = test;
}

static void server_send_result(struct session *s)
{
	struct result r;
	uint8_t msg[RESULT_SIZE];

	memset(&r, 0, sizeof(r));
	r.test = s->su.test;
	r.size = s->su.size;
	r.iters = s->su.iters;
	r.elapsed_ns = s->t_last - s->t_start;
	r.peak_bytes = s->peak.best_bytes;
	r.peak_ns = s->peak.best_ns;
	encode_result(msg, &r);
	send_copy(&s->ep, msg, sizeof(msg));
	print_result(&r, "server", s->su.depth);
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

static void rdma_post(struct session *s);

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
				s->su.test == TEST_WRITE_BW ? "write" : "read",
				strerror(ret));
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

static void rdma_post(struct session *s)
{
	while (s->posted < s->su.iters && s->in_flight < s->su.depth) {
		uint32_t slot = (uint32_t)(s->posted % s->su.slots);
		const struct smbdirect_buffer_descriptor *d =
			&s->slice[(size_t)slot * MAX_DESCS];
		size_t off = (size_t)slot * s->su.size;
		struct tevent_req *req;

		if (s->su.test == TEST_WRITE_BW) {
			req = smbdirect_rdma_write_send(
				s->test_ctx, s->ep.ev, s->ep.conn, s->buf, off,
				s->su.size, d, s->slice_count[slot]);
		} else {
			req = smbdirect_rdma_read_send(
				s->test_ctx, s->ep.ev, s->ep.conn, s->buf, off,
				s->su.size, d, s->slice_count[slot]);
		}
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

static bool decode_setup(const uint8_t *data, size_t length, struct setup *su,
			 const char **why)
{
	const uint8_t *p = data + PERF_HDR;
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
	if (su->test < TEST_SEND_LAT || su->test > TEST_READ_BW) {
		*why = "unknown test";
		return false;
	}
	if (su->size == 0 || su->size > MAX_SIZE || su->iters == 0 ||
	    su->iters > MAX_ITERS || su->depth == 0 ||
	    su->depth > MAX_DEPTH) {
		*why = "size, iterations or tx depth out of range";
		return false;
	}
	if (!is_rdma_test(su->test)) {
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

static bool server_setup_rdma(struct session *s, const char **why)
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
	if (!is_rdma_test(s->su.test) &&
	    (s->su.size > p->max_fragmented_receive_size ||
	     (s->su.test == TEST_SEND_LAT &&
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
	server_start_table(s, s->su.test);
	switch (s->su.test) {
	case TEST_SEND_LAT:
		s->payload = talloc_zero_size(s->test_ctx, s->su.size);
		if (s->payload == NULL) {
			why = "server out of memory";
			goto refuse;
		}
		s->expected = s->su.iters + s->su.warmup;
		s->phase = SRV_LAT;
		send_simple(&s->ep, MSG_READY);
		return;
	case TEST_SEND_BW:
	case TEST_MSG_RATE:
		if (!peak_init(s->test_ctx, &s->peak, s->su.iters, s->su.depth,
			       s->su.size)) {
			why = "server out of memory";
			goto refuse;
		}
		s->expected = s->su.iters;
		s->phase = SRV_RECV;
		send_simple(&s->ep, MSG_READY);
		return;
	case TEST_WRITE_BW:
	case TEST_READ_BW:
		if (!server_setup_rdma(s, &why) ||
		    !peak_init(s->test_ctx, &s->peak, s->su.iters, s->su.depth,
			       s->su.size)) {
			goto refuse;
		}
		s->phase = SRV_RDMA;
		s->t_start = now_ns();
		rdma_post(s);
		return;
	}
refuse:
	fprintf(stderr, "smbdirect-perf server: refusing a test: %s\n",
		why != NULL ? why : "?");
	send_error(&s->ep, why != NULL ? why : "refused");
	s->phase = SRV_IDLE;
}

static void server_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct session *s = priv;
	struct result r;
	struct iovec iov;

	(void)conn;
	switch (s->phase) {
	case SRV_LAT:
		if (length != s->su.size) {
			break;
		}
		/* Echo from a buffer of our own: `data` lives only during
		 * this call. */
		iov.iov_base = s->payload;
		iov.iov_len = s->su.size;
		send_iov(&s->ep, &iov, 1, NULL);
		if (++s->count == s->expected) {
			s->phase = SRV_IDLE;
		}
		return;
	case SRV_RECV: {
		uint64_t t = now_ns();

		if (length != s->su.size) {
			break;
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
		return;
	}
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
			    r.test == TEST_SEND_LAT) {
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

static struct session *session_start(TALLOC_CTX *ctx,
				     struct tevent_context *ev,
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

struct server {
	struct tevent_context *ev;
	struct session *session;      /* in-process mode */
	bool in_child;
	struct tevent_context *child_ev;
	struct smbdirect_conn_request *child_request;
	int children_failed;
};

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

static int run_server(void)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct smbdirect_listener *listener = NULL;
	struct server srv;
	struct sockaddr_storage ss;
	int ret;

	memset(&srv, 0, sizeof(srv));
	srv.ev = ev;
	if (ev == NULL) {
		return 1;
	}
	if (opt.bind != NULL) {
		if (!addr_resolve(opt.bind, opt.port, true, &ss, NULL,
				  perf_error)) {
			return 1;
		}
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		memset(&ss, 0, sizeof(ss));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_ANY);
		in->sin_port = htons(opt.port);
	}
	ret = smbdirect_listen(ev, ev, (struct sockaddr *)&ss, 64, on_request,
			       &srv, &listener);
	if (ret != 0) {
		fprintf(stderr, "smbdirect-perf server: listen on port %u: %s\n",
			opt.port, strerror(ret));
		talloc_free(ev);
		return 1;
	}
	if (opt.fork_mode &&
	    tevent_add_signal(ev, ev, SIGCHLD, 0, on_sigchld, &srv) == NULL) {
		talloc_free(ev);
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
		if (tevent_loop_once(ev) != 0) {
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
	talloc_free(ev);
	return ret;
}

/* --- client ------------------------------------------------------------------- */

enum client_phase {
	CLI_IDLE,
	CLI_WAIT_READY,
	CLI_LAT,
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

static void client_fail(struct client *c, const char *what)
{
	fprintf(stderr, "smbdirect-perf client: %s\n", what);
	c->failed = true;
	c->phase = CLI_IDLE;
}

static void lat_send_next(struct client *c);

static void data_sent(struct endpoint *ep, int error)
{
	struct client *c = (struct client *)ep;
	uint64_t t = now_ns();

	c->data_pending -= 1;
	if (error != 0) {
		c->failed = true;
		return;
	}
	if (c->phase != CLI_STREAM) {
		return;
	}
	c->completed += 1;
	peak_add(&c->peak, t);
	if (c->completed == c->total) {
		c->t_last = t;
		return;
	}
	/* Keep tx depth messages submitted. */
	while (c->posted < c->total &&
	       c->posted - c->completed < c->su.depth) {
		struct iovec iov = {.iov_base = c->payload,
				    .iov_len = c->su.size};

		if (!send_iov(&c->ep, &iov, 1, data_sent)) {
			client_fail(c, "cannot submit a message");
			return;
		}
		c->data_pending += 1;
		c->posted += 1;
	}
}

static void lat_send_next(struct client *c)
{
	struct iovec iov = {.iov_base = c->payload, .iov_len = c->su.size};

	c->t_sent = now_ns();
	if (!send_iov(&c->ep, &iov, 1, data_sent)) {
		client_fail(c, "cannot submit a message");
		return;
	}
	c->data_pending += 1;
	c->posted += 1;
}

static void client_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct client *c = priv;
	int type;

	(void)conn;
	if (c->phase == CLI_LAT) {
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
static bool client_wait(struct client *c, const bool *flag)
{
	while (!*flag && !c->failed && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
	}
	return *flag && !c->failed;
}

static bool client_wait_sends(struct client *c)
{
	while (c->ep.sends_pending > 0 && !c->ep.ended) {
		if (tevent_loop_once(c->ep.ev) != 0) {
			return false;
		}
	}
	return c->ep.sends_pending == 0;
}

static bool client_send_setup(struct client *c)
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

static bool client_send_test(struct client *c, struct result *r)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->ep.conn);
	uint64_t measured = c->su.iters;

	if (c->su.size > p->max_fragmented_send_size ||
	    (c->su.test == TEST_SEND_LAT &&
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
	if (c->su.test == TEST_SEND_LAT) {
		c->rtt = talloc_array(c->test_ctx, uint64_t, measured);
		if (c->rtt == NULL) {
			return false;
		}
	} else if (!peak_init(c->test_ctx, &c->peak, c->su.iters, c->su.depth,
			      c->su.size)) {
		return false;
	}
	c->phase = CLI_WAIT_READY;
	if (!client_send_setup(c) || !client_wait(c, &c->got_ready)) {
		return false;
	}
	c->posted = 0;
	c->completed = 0;
	c->received = 0;
	if (c->su.test == TEST_SEND_LAT) {
		bool done = false;

		c->total = c->su.iters + c->su.warmup;
		c->phase = CLI_LAT;
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
	c->total = c->su.iters;
	c->phase = CLI_STREAM;
	c->t_start = now_ns();
	while (c->posted < c->total && c->posted < c->su.depth) {
		struct iovec iov = {.iov_base = c->payload,
				    .iov_len = c->su.size};

		if (!send_iov(&c->ep, &iov, 1, data_sent)) {
			return false;
		}
		c->data_pending += 1;
		c->posted += 1;
	}
	{
		bool done = false;

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

static bool client_rdma_test(struct client *c, struct result *r)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->ep.conn);
	struct smbdirect_buffer *buf;
	struct smbdirect_exposure *x;
	size_t bytes;

	if (c->su.size > p->max_read_write_size) {
		fprintf(stderr,
			"smbdirect-perf client: %u bytes exceed the negotiated "
			"max_read_write_size (%u); skipped\n",
			c->su.size, p->max_read_write_size);
		return false;
	}
	c->su.slots = slots_for(c->su.size, c->su.depth);
	bytes = (size_t)c->su.slots * c->su.size;
	buf = smbdirect_buffer_new(c->test_ctx, c->ep.conn, bytes);
	if (buf == NULL) {
		fprintf(stderr, "smbdirect-perf client: buffer of %zu bytes: "
				"%s\n",
			bytes, strerror(errno));
		return false;
	}
	memset(smbdirect_buffer_data(buf), 0xc3, bytes);
	/* One exposure for the whole test: write_bw lets the server write
	 * (an SMB2 READ), read_bw lets it read (an SMB2 WRITE). */
	x = smbdirect_expose(c->test_ctx, c->ep.conn, buf, 0, bytes,
			     c->su.test == TEST_WRITE_BW, c->su.descs, MAX_DESCS,
			     &c->su.ndesc);
	if (x == NULL) {
		fprintf(stderr, "smbdirect-perf client: expose: %s\n",
			strerror(errno));
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

static void quit_timeout(struct tevent_context *ev, struct tevent_timer *te,
			 struct timeval now, void *priv)
{
	bool *expired = priv;

	(void)ev;
	(void)te;
	(void)now;
	*expired = true;
}

static int run_client(void)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct client *c;
	struct smbdirect_settings settings;
	struct smbdirect_conn_handlers handlers = {
		.message = client_message,
		.disconnected = on_disconnected,
	};
	struct sockaddr_storage ss;
	struct tevent_req *req;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	char peer[128];
	unsigned int i;
	int ret;
	int failures = 0;

	if (ev == NULL) {
		return 1;
	}
	c = talloc_zero(ev, struct client);
	if (c == NULL ||
	    !addr_resolve(opt.host, opt.port, false, &ss, NULL, perf_error)) {
		talloc_free(ev);
		return 1;
	}
	c->ep.ev = ev;
	c->ep.side = "client";
	settings_for(&settings);
	req = smbdirect_connect_send(c, ev, (struct sockaddr *)&ss, NULL,
				     &settings, 5000);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		talloc_free(ev);
		return 1;
	}
	ret = smbdirect_connect_recv(req, c, &c->ep.conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr,
			"smbdirect-perf client: connecting to %s port %u: %s "
			"(%s)\n",
			opt.host, opt.port, strerror(ret),
			smbdirect_reason_string(reason));
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
	print_header(opt.test, "client", peer, c->ep.conn,
		     opt.depth != 0 ? opt.depth : default_depth(opt.test),
		     opt.warmup);
	for (i = 0; i < opt.nsizes && !c->ep.ended; i++) {
		struct result r;
		bool ok;

		memset(&r, 0, sizeof(r));
		memset(&c->su, 0, sizeof(c->su));
		c->su.test = opt.test;
		c->su.size = opt.sizes[i];
		c->su.iters = opt.iters != 0 ? opt.iters
					     : default_iters(opt.test);
		c->su.depth = opt.depth != 0 ? opt.depth
					     : default_depth(opt.test);
		c->su.warmup = opt.test == TEST_SEND_LAT ? opt.warmup : 0;
		c->su.flags = opt.busy_poll ? SETUP_BUSY_POLL : 0;
		c->failed = false;
		c->test_ctx = talloc_new(c);
		if (c->test_ctx == NULL) {
			failures++;
			break;
		}
		if (is_rdma_test(opt.test)) {
			ok = client_rdma_test(c, &r);
		} else {
			ok = client_send_test(c, &r);
		}
		if (ok) {
			print_result(&r, "client", c->su.depth);
			if (r.test == TEST_SEND_LAT) {
				/* The server prints the same table. */
				uint8_t msg[RESULT_SIZE];

				encode_result(msg, &r);
				send_copy(&c->ep, msg, sizeof(msg));
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
		/* QUIT tells the server that the end is expected; once it
		 * has gone out, we disconnect. */
		bool expired = false;
		struct tevent_timer *te = tevent_add_timer(
			ev, c, tevent_timeval_current_ofs(5, 0), quit_timeout,
			&expired);

		send_simple(&c->ep, MSG_QUIT);
		while (c->ep.sends_pending > 0 && !c->ep.ended && !expired) {
			if (tevent_loop_once(ev) != 0) {
				break;
			}
		}
		if (!c->ep.ended) {
			smbdirect_disconnect(c->ep.conn);
		}
		talloc_free(te);
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

/* --- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  smbdirect-perf [OPTIONS]          start a server and wait for "
		"a client\n"
		"  smbdirect-perf [OPTIONS] <host>   connect to the server at "
		"<host>\n"
		"\n"
		"The client chooses the test; the server needs no options.\n"
		"\n"
		"Options:\n"
		"  --test=TEST          send_lat (default), send_bw, msg_rate, "
		"write_bw, read_bw\n"
		"  -p, --port=PORT      listen on / connect to PORT (default "
		"%u)\n"
		"  -s, --size=SIZE[,..] message or RDMA size; K and M "
		"suffixes; a list runs each\n"
		"                       (default: send_lat 2, msg_rate 64, "
		"others 65536)\n"
		"  -a, --all[=LIST]     sizes 4096,65536,1048576, or LIST "
		"(-aLIST)\n"
		"  -n, --iters=N        measured exchanges or operations per "
		"size\n"
		"                       (default: send_lat 1000, others "
		"5000)\n"
		"  -t, --tx-depth=N     outstanding messages or RDMA "
		"operations (default 128;\n"
		"                       send_lat is a ping-pong: always 1)\n"
		"      --warmup=N       unmeasured send_lat exchanges first "
		"(default 16)\n"
		"      --small          smallest legal [MS-SMBD] sizes (128-byte "
		"messages,\n"
		"                       131072-byte reassembly)\n"
		"      --csv            comma-separated output with one header "
		"line\n"
		"      --stats          connection counters on stderr at the "
		"end\n"
		"      --busy-poll      keep both event loops spinning instead "
		"of sleeping\n"
		"                       (perftest's default; without it, as "
		"perftest -e)\n"
		"      --wire-size=N    MaxSendSize and MaxReceiveSize (128.."
		"1048576; default\n"
		"                       1364): messages up to N-24 bytes go "
		"as one work request\n"
		"      --thread-mode=M  caller (default) or rdma: RDMA calls on "
		"the library's\n"
		"                       own thread (smbdirect_set_thread_mode)"
		"\n"
		"      --bind=ADDR      server: listen on ADDR (default: every "
		"IPv4 address)\n"
		"      --fork           server: serve clients forever, each in "
		"a forked child\n"
		"  -R, --rdma_cm        accepted for perftest habits: rdma_cm "
		"is always used\n"
		"  -d, --ib-dev=DEV     ignored: rdma_cm picks the device of "
		"the address\n"
		"  -h, --help           this text\n"
		"  -V, --version        the library version\n",
		SMBDIRECT_DEFAULT_PORT);
}

static bool parse_size(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s) {
		return false;
	}
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v == 0 || v > MAX_SIZE) {
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool add_sizes(const char *list)
{
	char *copy = strdup(list);
	char *save = NULL;
	char *tok;
	bool ok = copy != NULL;

	for (tok = ok ? strtok_r(copy, ",", &save) : NULL; tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsizes == MAX_SIZES ||
		    !parse_size(tok, &opt.sizes[opt.nsizes])) {
			ok = false;
			break;
		}
		opt.nsizes++;
	}
	free(copy);
	return ok;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

enum {
	OPT_TEST = 256,
	OPT_SMALL,
	OPT_CSV,
	OPT_WARMUP,
	OPT_BIND,
	OPT_FORK,
	OPT_STATS,
	OPT_BUSY_POLL,
	OPT_WIRE_SIZE,
	OPT_THREAD_MODE,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"test", required_argument, NULL, OPT_TEST},
		{"port", required_argument, NULL, 'p'},
		{"size", required_argument, NULL, 's'},
		{"all", optional_argument, NULL, 'a'},
		{"iters", required_argument, NULL, 'n'},
		{"tx-depth", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"small", no_argument, NULL, OPT_SMALL},
		{"csv", no_argument, NULL, OPT_CSV},
		{"stats", no_argument, NULL, OPT_STATS},
		{"busy-poll", no_argument, NULL, OPT_BUSY_POLL},
		{"wire-size", required_argument, NULL, OPT_WIRE_SIZE},
		{"thread-mode", required_argument, NULL, OPT_THREAD_MODE},
		{"bind", required_argument, NULL, OPT_BIND},
		{"fork", no_argument, NULL, OPT_FORK},
		{"rdma_cm", no_argument, NULL, 'R'},
		{"ib-dev", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool all = false;
	bool test_set = false;
	uint64_t v;
	int ch;
	size_t i;

	opt.port = SMBDIRECT_DEFAULT_PORT;
	opt.test = TEST_SEND_LAT;
	opt.warmup = 16;
	while ((ch = getopt_long(argc, argv, "p:s:a::n:t:Rd:hV", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case OPT_TEST:
			for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
				if (strcmp(optarg, tests[i].name) == 0) {
					opt.test = tests[i].test;
					break;
				}
			}
			if (i == sizeof(tests) / sizeof(tests[0])) {
				fprintf(stderr, "smbdirect-perf: unknown test "
						"%s\n",
					optarg);
				return 2;
			}
			test_set = true;
			break;
		case 'p':
			if (!parse_u64(optarg, 1, 65535, &v)) {
				fprintf(stderr, "smbdirect-perf: bad port %s\n",
					optarg);
				return 2;
			}
			opt.port = (uint16_t)v;
			break;
		case 's':
			if (!add_sizes(optarg)) {
				fprintf(stderr, "smbdirect-perf: bad size %s "
						"(1..1G, at most %d)\n",
					optarg, MAX_SIZES);
				return 2;
			}
			break;
		case 'a':
			all = true;
			if (optarg != NULL && !add_sizes(optarg)) {
				fprintf(stderr, "smbdirect-perf: bad size list "
						"%s\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, 1, MAX_ITERS, &v)) {
				fprintf(stderr, "smbdirect-perf: bad "
						"iteration count %s\n",
					optarg);
				return 2;
			}
			opt.iters = v;
			break;
		case 't':
			if (!parse_u64(optarg, 1, MAX_DEPTH, &v)) {
				fprintf(stderr, "smbdirect-perf: bad tx depth "
						"%s (1..%u)\n",
					optarg, MAX_DEPTH);
				return 2;
			}
			opt.depth = (uint32_t)v;
			break;
		case OPT_WARMUP:
			if (!parse_u64(optarg, 0, 1000000, &v)) {
				fprintf(stderr, "smbdirect-perf: bad warm-up "
						"%s\n",
					optarg);
				return 2;
			}
			opt.warmup = (uint32_t)v;
			break;
		case OPT_SMALL:
			opt.small = true;
			break;
		case OPT_CSV:
			opt.csv = true;
			break;
		case OPT_STATS:
			opt.stats = true;
			break;
		case OPT_BUSY_POLL:
			opt.busy_poll = true;
			break;
		case OPT_WIRE_SIZE:
			if (!parse_u64(optarg, 128, 1048576, &v)) {
				fprintf(stderr, "smbdirect-perf: bad wire size "
						"%s (128..1048576)\n",
					optarg);
				return 2;
			}
			opt.wire_size = (uint32_t)v;
			break;
		case OPT_THREAD_MODE:
			if (strcmp(optarg, "rdma") == 0 ||
			    strcmp(optarg, "rdma-thread") == 0) {
				opt.thread_mode =
					SMBDIRECT_THREAD_MODE_RDMA_THREAD;
			} else if (strcmp(optarg, "caller") == 0 ||
				   strcmp(optarg, "caller-thread") == 0) {
				opt.thread_mode = SMBDIRECT_THREAD_MODE_CALLER;
			} else {
				fprintf(stderr, "smbdirect-perf: thread mode is "
						"caller or rdma\n");
				return 2;
			}
			break;
		case OPT_BIND:
			opt.bind = optarg;
			break;
		case OPT_FORK:
			opt.fork_mode = true;
			break;
		case 'R':
			break;
		case 'd':
			fprintf(stderr,
				"smbdirect-perf: note: -d %s ignored; rdma_cm "
				"uses the device that holds the address\n",
				optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("smbdirect-perf (libsmbdirect %s)\n",
			       smbdirect_version_string());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		opt.host = argv[optind++];
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (all && opt.nsizes == 0) {
		add_sizes("4096,65536,1048576");
	}
	if (opt.nsizes == 0) {
		opt.sizes[0] = opt.test == TEST_SEND_LAT   ? 2
			       : opt.test == TEST_MSG_RATE ? 64
							   : 65536;
		opt.nsizes = 1;
	}
	if (opt.test == TEST_SEND_LAT && opt.depth > 1 && opt.host != NULL) {
		fprintf(stderr, "smbdirect-perf: note: send_lat is a "
				"ping-pong; -t ignored\n");
		opt.depth = 1;
	}
	if (opt.host == NULL &&
	    (test_set || opt.nsizes > 1 || opt.iters != 0 || opt.depth != 0)) {
		fprintf(stderr, "smbdirect-perf: note: the client chooses the "
				"test and its parameters; the server ignores "
				"them\n");
	}
	signal(SIGPIPE, SIG_IGN);
	ch = smbdirect_set_thread_mode(opt.thread_mode);
	if (ch != 0) {
		fprintf(stderr, "smbdirect-perf: thread mode %s: %s\n",
			smbdirect_thread_mode_string(opt.thread_mode),
			strerror(ch));
		return 1;
	}
	return opt.host != NULL ? run_client() : run_server();
}
