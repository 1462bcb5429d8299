/*
 * smbdirect-torture: many connections. Handshakes that fail in every
 * state, and connect-and-idle floods, each followed (or accompanied) by a
 * good client whose connect, negotiation and first answer are timed.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "torture.h"

static double ms_between(uint64_t a, uint64_t b)
{
	return (double)(b - a) / 1e6;
}

void good_client(struct run *r, const struct sockaddr *src,
		 struct good_timing *t)
{
	struct sd s;
	uint64_t t0 = tp_now();
	uint64_t t1;
	uint64_t t2;

	memset(t, 0, sizeof(*t));
	memset(&s, 0, sizeof(s));
	if (tp_connect(&s.ep, (struct sockaddr *)&r->dst, src, 10000,
		       t->detail, sizeof(t->detail)) != 0) {
		return;
	}
	t1 = tp_now();
	if (run_negotiate(r, &s, t->detail, sizeof(t->detail)) != 0) {
		sd_free(&s);
		return;
	}
	t2 = tp_now();
	if (sd_probe(&s, r->probe, 10000) <= 0) {
		snprintf(t->detail, sizeof(t->detail), "no answer to the probe");
		sd_free(&s);
		return;
	}
	t->connect_ms = ms_between(t0, t1);
	t->negotiate_ms = ms_between(t0, t2);
	t->first_message_ms = ms_between(t0, tp_now());
	t->ok = true;
	sd_free(&s);
}

static void print_good(const char *when, const struct good_timing *t)
{
	if (t->ok) {
		printf("torture: good client %s: connected in %.1f ms, "
		       "negotiated at %.1f ms, first answer at %.1f ms\n",
		       when, t->connect_ms, t->negotiate_ms,
		       t->first_message_ms);
	} else {
		printf("torture: good client %s: NOT served (%s)\n", when,
		       t->detail);
	}
	fflush(stdout);
}

/* How a handshake gives up. */
enum abort_kind {
	AK_CONNECT_ONLY,   /* rdma_cm connected, then gone */
	AK_SHORT,          /* a 5-byte negotiate request, then gone */
	AK_VERSION,        /* an unsupported version, then gone */
	AK_HALF_REQUEST,   /* gone before the negotiate response arrived */
	AK_NEGOTIATED,     /* negotiated, then gone */
	AK_BAD_DATA,       /* negotiated, a bad first message, then gone */
	AK_KINDS
};

static const char *const abort_names[AK_KINDS] = {
	"connected then gone", "short request", "unsupported version",
	"gone before the response", "negotiated then gone",
	"bad first message",
};

int aborted_handshakes(struct run *r, int n)
{
	struct good_timing before;
	struct good_timing after;
	int counts[AK_KINDS] = { 0 };
	int refused = 0;
	int failed = 0;
	uint64_t t0;
	int i;

	good_client(r, NULL, &before);
	print_good("before", &before);
	t0 = tp_now();
	for (i = 0; i < n; i++) {
		enum abort_kind k = (enum abort_kind)(i % AK_KINDS);
		struct sd s;
		char why[160];
		uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];
		struct smbdirect_negotiate_request q = sd_default_request();

		memset(&s, 0, sizeof(s));
		if (tp_connect(&s.ep, (struct sockaddr *)&r->dst,
			       r->src.ss_family != 0
				       ? (struct sockaddr *)&r->src
				       : NULL,
			       5000, why, sizeof(why)) != 0) {
			if (strstr(why, "REJECTED") != NULL) {
				refused++;
			} else {
				failed++;
			}
			continue;
		}
		switch (k) {
		case AK_CONNECT_ONLY:
			break;
		case AK_SHORT:
			smbdirect_negotiate_request_encode(&q, b, sizeof(b));
			tp_send(s.ep, b, 5, false, 0, 1000);
			break;
		case AK_VERSION:
			q.min_version = q.max_version = 0x0300;
			smbdirect_negotiate_request_encode(&q, b, sizeof(b));
			tp_send(s.ep, b, sizeof(b), false, 0, 1000);
			break;
		case AK_HALF_REQUEST:
			smbdirect_negotiate_request_encode(&q, b, sizeof(b));
			tp_send_nowait(s.ep, b, sizeof(b));
			break;
		case AK_NEGOTIATED:
		case AK_BAD_DATA:
			if (run_negotiate(r, &s, why, sizeof(why)) == 0 &&
			    k == AK_BAD_DATA) {
				uint8_t bad[SMBDIRECT_DATA_HEADER_MIN];

				sd_put_header(bad, 64, 0, 0x8000, 0, 0, 0);
				sd_send_raw(&s, bad, sizeof(bad));
			}
			break;
		case AK_KINDS:
			break;
		}
		counts[k]++;
		sd_free(&s);
	}
	printf("torture: %d aborted handshakes in %.1f s (", n,
	       ms_between(t0, tp_now()) / 1000.0);
	for (i = 0; i < AK_KINDS; i++) {
		printf("%s%d %s", i > 0 ? ", " : "", counts[i], abort_names[i]);
	}
	printf("); %d rejected by the listener, %d failed to connect\n",
	       refused, failed);
	good_client(r, NULL, &after);
	print_good("after", &after);
	return after.ok ? 0 : 1;
}

/* The median of the timings that succeeded (first-message time). */
static double median_first(struct good_timing *t, int n, int *served)
{
	double v[64];
	int k = 0;
	int i;
	int j;

	for (i = 0; i < n && k < 64; i++) {
		if (t[i].ok) {
			v[k++] = t[i].first_message_ms;
		}
	}
	*served = k;
	for (i = 1; i < k; i++) {
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double x = v[j];

			v[j] = v[j - 1];
			v[j - 1] = x;
		}
	}
	return k > 0 ? v[k / 2] : -1.0;
}

int idle_flood(struct run *r, int n, const struct sockaddr *src, int hold_ms)
{
	struct tp_ep **peers = calloc((size_t)n, sizeof(*peers));
	struct good_timing base[5];
	struct good_timing during[64];
	struct good_timing after;
	const struct sockaddr *good_src =
		r->src.ss_family != 0 ? (struct sockaddr *)&r->src : NULL;
	int nduring = 0;
	int up = 0;
	int rejected = 0;
	int failed = 0;
	int ended = 0;
	int served;
	double m_base;
	double m_during;
	uint64_t t0;
	int i;

	if (peers == NULL) {
		return 1;
	}
	for (i = 0; i < 5; i++) {
		good_client(r, good_src, &base[i]);
	}
	m_base = median_first(base, 5, &served);
	printf("torture: good client without a flood: %d of 5 served, "
	       "median first answer %.1f ms (connect %.1f ms)\n",
	       served, m_base, base[0].connect_ms);
	t0 = tp_now();
	for (i = 0; i < n; i++) {
		char why[160];

		if (tp_connect(&peers[i], (struct sockaddr *)&r->dst, src, 5000,
			       why, sizeof(why)) == 0) {
			up++;
		} else if (strstr(why, "REJECTED") != NULL) {
			rejected++;
		} else {
			failed++;
		}
		if (i % 50 == 49 && nduring < 64) {
			good_client(r, good_src, &during[nduring]);
			print_good("during the flood", &during[nduring]);
			nduring++;
		}
	}
	printf("torture: flood of %d connect-and-idle peers in %.1f s: %d "
	       "connected, %d rejected by the listener, %d failed\n",
	       n, ms_between(t0, tp_now()) / 1000.0, up, rejected, failed);
	/* Hold them, idle, while good clients come. */
	t0 = tp_now();
	while ((int)tp_ms_since(t0) < hold_ms) {
		if (nduring < 64) {
			good_client(r, good_src, &during[nduring]);
			print_good("while the flood holds", &during[nduring]);
			nduring++;
		}
		for (i = 0; i < n; i++) {
			if (peers[i] != NULL) {
				tp_pump(peers[i], 0);
			}
		}
		{
			struct timespec ts = { 0, 200000000 };

			nanosleep(&ts, NULL);
		}
	}
	for (i = 0; i < n; i++) {
		if (peers[i] != NULL) {
			tp_pump(peers[i], 0);
			ended += peers[i]->end != TP_UP;
			tp_free(peers[i]);
		}
	}
	m_during = median_first(during, nduring, &served);
	printf("torture: good client during the flood: %d of %d served, "
	       "median first answer %.1f ms; %d of the %d idle peers were "
	       "ended by the endpoint within %d ms\n",
	       served, nduring, m_during, ended, up, hold_ms);
	good_client(r, good_src, &after);
	print_good("after the flood", &after);
	free(peers);
	return served == nduring && after.ok ? 0 : 1;
}
