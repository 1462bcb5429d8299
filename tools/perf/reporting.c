/*
 * smbdirect-perf's reporting: the clock, the latency statistics and the
 * bandwidth peak, the perftest-style banner and tables, the CSV rows and
 * the --stats counters.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "perf.h"

/* Peak bandwidth: the best window of this many completions at most. */
#define MAX_PEAK_WINDOW 65536u
#define MIB (1024.0 * 1024.0)
#define RULE                                                                 \
	"-------------------------------------------------------------------" \
	"--------------------"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

/* The latency figures of n round trips (sorted here). */
void latency_result(uint64_t *rtt, uint64_t n, struct result *r)
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
bool peak_init(TALLOC_CTX *ctx, struct peak *p, uint64_t iters,
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

/* A completion at time t. */
void peak_add(struct peak *p, uint64_t t)
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

void print_csv_header(void)
{
	printf("test,side,bytes,iterations,tx_depth,t_min_us,t_max_us,"
	       "t_typical_us,t_avg_us,t_stdev_us,t_p99_us,t_p999_us,"
	       "bw_peak_mib_s,bw_avg_mib_s,msg_rate_mpps\n");
}

/* The banner and the table's column heads (nothing with --csv). */
void print_header(const struct perf_test_def *test, const char *side,
		  const char *peer, struct smbdirect_conn *conn,
		  uint32_t depth, uint32_t warmup)
{
	const struct smbdirect_params *p = smbdirect_conn_params(conn);

	if (opt.csv) {
		return;
	}
	printf("%s\n", RULE);
	printf("                    SMB-Direct %s\n", test->title);
	printf(" Tool           : smbdirect-perf, libsmbdirect %s\n",
	       smbdirect_version_string());
	printf(" Test           : %s (%s)\n", test->name, test->summary);
	printf(" Side           : %s, peer %s\n", side, peer);
	printf(" Connection     : RC, rdma_cm (always), [MS-SMBD] 1.0, "
	       "%s mode\n",
	       smbdirect_thread_mode_string(smbdirect_get_thread_mode()));
	printf(" Negotiated     : max_send %u max_receive %u "
	       "max_fragmented %u/%u max_read_write %u credits %u\n",
	       p->max_send_size, p->max_receive_size,
	       p->max_fragmented_send_size, p->max_fragmented_receive_size,
	       p->max_read_write_size, p->receive_credit_target);
	if (test->ping_pong) {
		printf(" Warm-up        : %u exchanges, not measured\n", warmup);
		printf(" Latency        : one-way = round trip / 2 "
		       "(as ib_send_lat), usec\n");
	} else {
		printf(" TX depth       : %u\n", depth);
		printf(" Measured by    : %s\n",
		       test->rdma
			       ? "the server (first post to last completion)"
			       : "the sender (first submit to last completion)");
		printf(" Units          : MB = 2^20 bytes (as perftest), "
		       "Mpps = 10^6 messages/s\n");
	}
	printf("%s\n", RULE);
	if (test->ping_pong) {
		printf(" #bytes #iterations    t_min[usec]    t_max[usec]  "
		       "t_typical[usec]    t_avg[usec]    t_stdev[usec]   "
		       "99%% percentile[usec]   99.9%% percentile[usec]\n");
	} else {
		printf(" #bytes     #iterations    BW peak[MB/sec]    "
		       "BW average[MB/sec]   MsgRate[Mpps]\n");
	}
	fflush(stdout);
}

/* One row of the table, or of the CSV. */
void print_result(const struct result *r, const char *side, uint32_t depth)
{
	const struct perf_test_def *test = perf_test_find(r->test);
	const char *name = test != NULL ? test->name : "?";

	if (test != NULL && test->ping_pong) {
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
			       name, side, r->size, r->iters, mn, mx, md, av,
			       sd, p99, p999);
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
			       name, side, r->size, r->iters, depth, peak, avg,
			       rate);
		} else {
			printf(" %-10u %-14" PRIu64 " %-18.2f %-20.2f %.6f\n",
			       r->size, r->iters, peak, avg, rate);
		}
	}
	fflush(stdout);
}

void print_footer(void)
{
	if (!opt.csv) {
		printf("%s\n", RULE);
		fflush(stdout);
	}
}

/* --stats: the connection's counters on stderr. */
void print_stats(struct smbdirect_conn *conn, const char *side)
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

/* The server prints a table per test: a new one when the test changes. */
void server_start_table(struct session *s, const struct perf_test_def *test)
{
	if (s->header_for == test->test) {
		return;
	}
	server_end_table(s);
	print_header(test, "server", smbdirect_conn_peer(s->ep.conn), s->ep.conn,
		     s->su.depth, s->su.warmup);
	s->header_for = test->test;
}

void server_end_table(struct session *s)
{
	if (s->header_for != 0) {
		print_footer();
		s->header_for = 0;
	}
}
