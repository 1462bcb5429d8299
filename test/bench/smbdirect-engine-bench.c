/*
 * smbdirect-engine-bench: the host CPU cost of the sans-I/O [MS-SMBD]
 * engine, with an initiator and a responder engine wired together in memory
 * (test/common/pair.c). No RDMA is involved: the figures are what the
 * protocol engine (plus a memcpy per wire message, standing in for the
 * NIC) costs on this CPU.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Per upper-layer message size it reports, perftest-style, the message
 * rate, the bandwidth, the wire messages and credit-only messages per
 * upper-layer message, and the heap allocations per message, counted by
 * interposing the allocator of this executable (see "Heap accounting").
 *
 * Modes:
 *  stream:   the initiator keeps tx-depth messages submitted; the
 *            responder only receives (and grants credits).
 *  pingpong: each side answers every delivered message with one of its
 *            own; the initiator starts with tx-depth messages.
 *
 * Each run is: connect, warm up (so the reassembly buffer has grown and
 * the credit flow is in its steady state), then the measured phase,
 * bench_measured_phase(), which is timed with CLOCK_MONOTONIC, counts heap
 * calls, and is the function test/bench/engine-callgrind.sh collects with
 * valgrind --toggle-collect.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <talloc.h>

#include "smbdirect.h"
#include "pair.h"

/* --- Heap accounting -------------------------------------------------- */

/*
 * The executable defines the allocator entry points and forwards them to
 * glibc's own implementation. Shared libraries (libtalloc, libc itself)
 * bind to these definitions, so every heap call of the process passes
 * here. While `heap.counting` is set, calls are counted.
 *
 * Sanitizers bring their own allocator: there the hooks are left out and
 * allocations are reported as unknown.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define BENCH_NO_ALLOC_HOOKS 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
	__has_feature(thread_sanitizer)
#undef BENCH_NO_ALLOC_HOOKS
#define BENCH_NO_ALLOC_HOOKS 1
#endif
#endif

static struct {
	bool counting;
	/* malloc, calloc, realloc, and the aligned variants */
	uint64_t allocs;
	/* free of a non-NULL pointer */
	uint64_t frees;
} heap;

#ifndef BENCH_NO_ALLOC_HOOKS
#define BENCH_ALLOC_HOOKS 1

/* glibc's exported implementation (GLIBC_2.2.5). */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void *__libc_valloc(size_t size);
extern void *__libc_pvalloc(size_t size);

static inline void count_alloc(void)
{
	if (heap.counting) {
		heap.allocs += 1;
	}
}

void *malloc(size_t size)
{
	count_alloc();
	return __libc_malloc(size);
}

void *calloc(size_t nmemb, size_t size)
{
	count_alloc();
	return __libc_calloc(nmemb, size);
}

void *realloc(void *ptr, size_t size)
{
	count_alloc();
	return __libc_realloc(ptr, size);
}

void free(void *ptr)
{
	if (heap.counting && ptr != NULL) {
		heap.frees += 1;
	}
	__libc_free(ptr);
}

void *memalign(size_t alignment, size_t size)
{
	count_alloc();
	return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
	count_alloc();
	return __libc_memalign(alignment, size);
}

int posix_memalign(void **memptr, size_t alignment, size_t size)
{
	void *p;

	if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) {
		return EINVAL;
	}
	count_alloc();
	p = __libc_memalign(alignment, size);
	if (p == NULL) {
		return ENOMEM;
	}
	*memptr = p;
	return 0;
}

void *valloc(size_t size)
{
	count_alloc();
	return __libc_valloc(size);
}

void *pvalloc(size_t size)
{
	count_alloc();
	return __libc_pvalloc(size);
}
#endif /* BENCH_NO_ALLOC_HOOKS */

/*
 * Prove that the hooks see talloc's allocations (libtalloc is a shared
 * library: if the executable's malloc were not the one it binds to, every
 * figure would read 0 for the wrong reason).
 */
static void heap_self_test(void)
{
#ifdef BENCH_ALLOC_HOOKS
	uint64_t allocs = heap.allocs;
	uint64_t frees = heap.frees;
	void *ctx;

	heap.counting = true;
	ctx = talloc_size(NULL, 100);
	talloc_free(ctx);
	heap.counting = false;
	if (ctx == NULL || heap.allocs == allocs || heap.frees == frees) {
		fprintf(stderr,
			"smbdirect-engine-bench: the allocator hooks do not "
			"see talloc's allocations; refusing to report "
			"allocation counts\n");
		abort();
	}
	heap.allocs = 0;
	heap.frees = 0;
#endif
}

/* --- Options ---------------------------------------------------------- */

enum bench_mode {
	MODE_STREAM = 1,
	MODE_PINGPONG = 2,
	MODE_BOTH = 3,
};

#define MAX_SIZES 16
#define MAX_DEPTH 4096
#define HDR_BYTES 16u

struct options {
	uint32_t sizes[MAX_SIZES];
	unsigned int nsizes;
	uint64_t iters;       /* 0: per-size default */
	uint64_t warmup;      /* 0: default */
	uint32_t tx_depth;    /* 0: per-mode default */
	uint32_t batch;       /* pair max_batch */
	uint32_t max_send_size;
	uint64_t seed;
	enum bench_mode mode;
	bool verify;
	bool callgrind;
	bool csv;
};

static const uint32_t all_sizes[] = {64, 1024, 8192, 65536, 1048576};

/*
 * Default iterations per size: each row runs for about a third of a second
 * on an idle core of a current x86-64 server, so the whole default run
 * (both modes, all sizes) stays well under 20 s on a busy 2-core machine.
 * Under --callgrind, 50 times fewer: instruction counts need no repeats.
 */
static uint64_t default_iters(const struct options *o, enum bench_mode mode,
			      uint32_t size)
{
	uint64_t n;

	if (size <= 64) {
		n = 4000000;
	} else if (size <= 1024) {
		n = 2000000;
	} else if (size <= 8192) {
		n = 300000;
	} else if (size <= 65536) {
		n = 40000;
	} else {
		n = 2500;
	}
	if (mode == MODE_PINGPONG) {
		n /= 2; /* two messages per exchange */
	}
	if (o->callgrind) {
		n /= 50;
	}
	return n > 0 ? n : 1;
}

static uint32_t default_depth(enum bench_mode mode)
{
	return mode == MODE_STREAM ? 64 : 1;
}

/* --- The benchmark ---------------------------------------------------- */

struct slot {
	struct smbdirect_engine_msg msg;
	struct iovec iov[2];
	uint8_t header[HDR_BYTES];
	uint64_t tail_hash;
};

/* One side's application: sends from a pool of slots, checks what the
 * peer sends. */
struct app {
	struct bench *bench;
	int index;
	struct slot *slots;
	uint32_t nslots;
	uint32_t *free_slots;
	uint32_t nfree;
	/* One buffer behind the payload of every slot: slot k's payload
	 * starts 8 * k bytes in, so every slot sends different bytes (a
	 * fragment delivered into the wrong message shows) while the buffer
	 * is only size + 8 * nslots bytes long, even at 1 MiB and depth 64. */
	uint8_t *payload;
	/* Messages submitted, allowed to submit, and to submit in all. */
	uint64_t sent;
	uint64_t allowed;
	uint64_t target;
	uint64_t completed;
	/* Messages from the peer delivered here. */
	uint64_t received;
	/* Answer each delivered message (pingpong). */
	bool answer;
	uint64_t errors;
	char first_error[200];
};

struct bench {
	const struct options *opt;
	enum bench_mode mode;
	uint32_t size;
	uint32_t depth;
	struct pair *pair;
	struct app app[2];
	/* Times the virtual clock moved while a phase ran. */
	uint64_t clock_moves;
};

struct result {
	enum bench_mode mode;
	uint32_t size;
	uint64_t iterations;     /* stream: messages; pingpong: exchanges */
	uint64_t messages;       /* upper-layer messages delivered */
	uint64_t bytes;          /* upper-layer bytes delivered */
	double seconds;
	uint64_t wire_messages;
	uint64_t credit_only;
	uint64_t allocs;
	uint64_t frees;
	uint64_t clock_advances; /* times the virtual clock had to move */
	uint32_t tx_depth;
	uint32_t max_send_size;
};

/*
 * A 64-bit content hash, cheap enough to run on every delivered byte: four
 * independent lanes of 8 bytes (so the multiplies overlap), each step a
 * bijection of the lane, so any single changed word changes the result;
 * the lanes are folded in order, so moved blocks change it too.
 * Kept out of line so that profiles show checksum costs on their own.
 */
static uint64_t hash64(const uint8_t *p, size_t n) __attribute__((noinline));

static uint64_t hash64(const uint8_t *p, size_t n)
{
	const uint64_t m = 0x9e3779b97f4a7c15ull;
	uint64_t h0 = 0x6a09e667f3bcc909ull ^ n;
	uint64_t h1 = 0xbb67ae8584caa73bull;
	uint64_t h2 = 0x3c6ef372fe94f82bull;
	uint64_t h3 = 0xa54ff53a5f1d36f1ull;
	uint64_t w[4];
	uint64_t h;

	while (n >= 32) {
		memcpy(w, p, 32);
		h0 = (h0 ^ w[0]) * m;
		h1 = (h1 ^ w[1]) * m;
		h2 = (h2 ^ w[2]) * m;
		h3 = (h3 ^ w[3]) * m;
		p += 32;
		n -= 32;
	}
	h = h0;
	h = (h ^ (h >> 29) ^ h1) * m;
	h = (h ^ (h >> 29) ^ h2) * m;
	h = (h ^ (h >> 29) ^ h3) * m;
	while (n > 0) {
		h = (h ^ *p++) * m;
		n--;
	}
	return h ^ (h >> 31);
}

static void app_error(struct app *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void app_error(struct app *a, const char *fmt, ...)
{
	va_list ap;

	if (a->errors++ != 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(a->first_error, sizeof(a->first_error), fmt, ap);
	va_end(ap);
}

/* Submit while allowed and a slot is free. */
static void pump(struct app *a)
{
	struct bench *b = a->bench;
	struct pair_side *side = &b->pair->side[a->index];

	while (a->sent < a->allowed && a->nfree > 0) {
		uint32_t k = a->free_slots[--a->nfree];
		struct slot *s = &a->slots[k];
		uint64_t seq = a->sent;
		int ret;

		memcpy(s->header, &seq, 8);
		memcpy(s->header + 8, &k, 4);
		memcpy(s->header + 12, &b->size, 4);
		a->sent += 1;
		ret = smbdirect_engine_submit(side->engine, b->pair->now,
					      &s->msg);
		if (ret != 0) {
			app_error(a, "submit of message %" PRIu64 " failed: %s",
				  seq, strerror(ret));
			a->free_slots[a->nfree++] = k;
			return;
		}
	}
}

static void on_deliver(struct pair_side *side, const uint8_t *data,
		       size_t length)
{
	struct app *a = side->app;
	struct bench *b = a->bench;
	const struct app *from = &b->app[1 - a->index];
	uint64_t seq;
	uint32_t k;

	if (length != b->size) {
		app_error(a, "message %" PRIu64 ": %zu bytes, expected %u",
			  a->received, length, b->size);
	} else {
		memcpy(&seq, data, 8);
		memcpy(&k, data + 8, 4);
		if (seq != a->received) {
			app_error(a, "message %" PRIu64 " arrived as number "
				  "%" PRIu64, seq, a->received);
		} else if (k >= from->nslots) {
			app_error(a, "message %" PRIu64 ": bad slot %u", seq,
				  k);
		} else if (b->opt->verify &&
			   hash64(data + HDR_BYTES, length - HDR_BYTES) !=
				   from->slots[k].tail_hash) {
			app_error(a, "message %" PRIu64 ": content mismatch",
				  seq);
		}
	}
	a->received += 1;
	if (a->answer && a->allowed < a->target) {
		a->allowed += 1;
		pump(a);
	}
}

static void on_send_done(struct pair_side *side,
			 struct smbdirect_engine_msg *msg)
{
	struct app *a = side->app;

	a->completed += 1;
	a->free_slots[a->nfree++] = (uint32_t)(uintptr_t)msg->private_data;
	pump(a);
}

static void app_init(struct bench *b, struct app *a, int index,
		     uint32_t nslots)
{
	size_t tail = b->size - HDR_BYTES;
	size_t payload_size = tail + 8 * (size_t)nslots;
	uint64_t x = (b->opt->seed ^ (0x9e3779b97f4a7c15ull * (index + 1))) |
		     1;
	size_t i;
	uint32_t k;

	memset(a, 0, sizeof(*a));
	a->bench = b;
	a->index = index;
	a->nslots = nslots;
	a->slots = talloc_zero_array(b->pair, struct slot, nslots);
	a->free_slots = talloc_array(b->pair, uint32_t, nslots);
	a->payload = talloc_size(b->pair, payload_size);
	if (a->slots == NULL || a->free_slots == NULL || a->payload == NULL) {
		fprintf(stderr, "smbdirect-engine-bench: out of memory\n");
		exit(1);
	}
	for (i = 0; i + 8 <= payload_size; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(a->payload + i, &x, 8);
	}
	for (; i < payload_size; i++) {
		a->payload[i] = (uint8_t)(x >> (8 * (i % 8)));
	}
	for (k = 0; k < nslots; k++) {
		struct slot *s = &a->slots[k];

		s->iov[0].iov_base = s->header;
		s->iov[0].iov_len = HDR_BYTES;
		s->iov[1].iov_base = a->payload + 8 * (size_t)k;
		s->iov[1].iov_len = tail;
		s->msg.iov = s->iov;
		s->msg.iov_count = 2;
		s->msg.private_data = (void *)(uintptr_t)k;
		s->tail_hash = hash64(s->iov[1].iov_base, tail);
		/* Popped from the end: slot 0 goes first. */
		a->free_slots[nslots - 1 - k] = k;
	}
	a->nfree = nslots;
}

static bool phase_done(struct pair *p)
{
	const struct app *a0 = p->side[0].app;
	const struct app *a1 = p->side[1].app;
	int i;

	for (i = 0; i < 2; i++) {
		if (p->side[i].terminated) {
			return true;
		}
	}
	if (a0->errors != 0 || a1->errors != 0) {
		return true;
	}
	return a0->sent == a0->target && a0->completed == a0->target &&
	       a1->sent == a1->target && a1->completed == a1->target &&
	       a0->received == a1->target && a1->received == a0->target;
}

static bool both_connected(struct pair *p)
{
	return (p->side[0].connected && p->side[1].connected) ||
	       p->side[0].terminated || p->side[1].terminated;
}

/* Queue `count` more messages (stream) or exchanges (pingpong), and run
 * until every one of them was delivered and completed. */
static bool run_phase(struct bench *b, uint64_t count)
{
	struct app *a0 = &b->app[0];
	struct app *a1 = &b->app[1];
	uint64_t now = b->pair->now;

	a0->target += count;
	if (b->mode == MODE_STREAM) {
		a0->allowed = a0->target;
	} else {
		a1->target += count;
		a0->allowed += b->depth < count ? b->depth : count;
	}
	pump(a0);
	while (!phase_done(b->pair)) {
		if (!pair_step(b->pair)) {
			break;
		}
		if (b->pair->now != now) {
			/* Nothing was in flight: the engines waited for a
			 * timer. In steady state that is a stall. */
			now = b->pair->now;
			b->clock_moves += 1;
		}
	}
	return phase_done(b->pair) && !b->pair->side[0].terminated &&
	       !b->pair->side[1].terminated && b->app[0].errors == 0 &&
	       b->app[1].errors == 0;
}

/*
 * The measured phase: test/bench/engine-callgrind.sh collects exactly this
 * function (valgrind --toggle-collect='bench_measured_phase*'), and the
 * heap hooks count only while it runs. It must stay a real, externally
 * visible function.
 */
bool bench_measured_phase(struct bench *b, uint64_t count)
	__attribute__((noinline));

bool bench_measured_phase(struct bench *b, uint64_t count)
{
	return run_phase(b, count);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void engine_totals(const struct pair *p, uint64_t *credit_only)
{
	int i;

	*credit_only = 0;
	for (i = 0; i < 2; i++) {
		struct smbdirect_engine_stats st;

		smbdirect_engine_get_stats(p->side[i].engine, &st);
		*credit_only += st.credit_only_sent;
	}
}

static void report_failure(const struct bench *b, const char *what)
{
	int i;

	fprintf(stderr, "smbdirect-engine-bench: %s failed (%s, %u bytes)\n",
		what, b->mode == MODE_STREAM ? "stream" : "pingpong", b->size);
	for (i = 0; i < 2; i++) {
		const struct pair_side *s = &b->pair->side[i];
		const struct app *a = &b->app[i];
		struct smbdirect_engine_stats st;

		smbdirect_engine_get_stats(s->engine, &st);
		fprintf(stderr,
			"  %s: terminated=%d reason=%s (%s); sent %" PRIu64
			"/%" PRIu64 " completed %" PRIu64 " received %" PRIu64
			"; credits send=%u receive=%u; queued=%u; "
			"errors=%" PRIu64 " %s\n",
			i == 0 ? "initiator" : "responder", s->terminated,
			smbdirect_reason_string(s->reason), s->detail, a->sent,
			a->target, a->completed, a->received, st.send_credits,
			st.receive_credits, st.queued_messages, a->errors,
			a->first_error);
	}
	if (b->pair->qp_failed) {
		fprintf(stderr, "  QP failed: %s\n", b->pair->qp_error);
	}
}

static bool run_one(const struct options *o, enum bench_mode mode,
		    uint32_t size, struct result *r)
{
	TALLOC_CTX *ctx = talloc_new(NULL);
	struct smbdirect_settings set;
	struct bench b;
	uint64_t iters = o->iters != 0 ? o->iters : default_iters(o, mode, size);
	uint64_t warmup;
	uint64_t wire0;
	uint64_t credit0;
	uint64_t credit1;
	double t0;
	double t1;
	bool ok;

	memset(&b, 0, sizeof(b));
	memset(r, 0, sizeof(*r));
	b.opt = o;
	b.mode = mode;
	b.size = size;
	b.depth = o->tx_depth != 0 ? o->tx_depth : default_depth(mode);
	warmup = o->warmup != 0 ? o->warmup : 2 * (uint64_t)b.depth + 64;

	smbdirect_settings_default(&set);
	if (o->max_send_size != 0) {
		set.max_send_size = o->max_send_size;
		set.max_receive_size = o->max_send_size;
	}
	if (ctx == NULL) {
		fprintf(stderr, "smbdirect-engine-bench: out of memory\n");
		exit(1);
	}
	b.pair = pair_new(ctx, &set, &set, o->seed);
	b.pair->max_batch = o->batch;
	app_init(&b, &b.app[0], 0, b.depth);
	/* The responder answers at most about tx-depth messages at once;
	 * more would wait in `allowed` for a free slot. */
	app_init(&b, &b.app[1], 1, b.depth);
	b.app[1].answer = mode == MODE_PINGPONG;
	b.app[0].answer = mode == MODE_PINGPONG;
	for (int i = 0; i < 2; i++) {
		struct pair_side *s = &b.pair->side[i];

		s->app = &b.app[i];
		s->on_deliver = on_deliver;
		s->on_send_done = on_send_done;
	}

	pair_start(b.pair);
	if (!pair_run_until(b.pair, both_connected, 1000) ||
	    b.pair->side[0].terminated || b.pair->side[1].terminated) {
		report_failure(&b, "connecting");
		talloc_free(ctx);
		return false;
	}
	/* Warm up: the reassembly buffer grows to the message size, the
	 * credit flow settles, the caches fill. */
	if (!run_phase(&b, warmup)) {
		report_failure(&b, "warm-up");
		talloc_free(ctx);
		return false;
	}

	wire0 = b.pair->wire_messages;
	engine_totals(b.pair, &credit0);
	b.clock_moves = 0;
	heap.allocs = 0;
	heap.frees = 0;
	t0 = now_seconds();
	heap.counting = true;
	ok = bench_measured_phase(&b, iters);
	heap.counting = false;
	t1 = now_seconds();
	engine_totals(b.pair, &credit1);

	r->mode = mode;
	r->size = size;
	r->iterations = iters;
	r->messages = mode == MODE_STREAM ? iters : 2 * iters;
	r->bytes = r->messages * (uint64_t)size;
	r->seconds = t1 - t0;
	r->wire_messages = b.pair->wire_messages - wire0;
	r->credit_only = credit1 - credit0;
	r->allocs = heap.allocs;
	r->frees = heap.frees;
	r->clock_advances = b.clock_moves;
	r->tx_depth = b.depth;
	r->max_send_size = set.max_send_size;
	if (!ok) {
		report_failure(&b, "measured phase");
	} else if (b.clock_moves != 0) {
		fprintf(stderr,
			"smbdirect-engine-bench: warning: %s %u bytes: the "
			"virtual clock advanced during the measured phase "
			"(the engines waited for a timer)\n",
			mode == MODE_STREAM ? "stream" : "pingpong", size);
	}
	talloc_free(ctx);
	return ok;
}

/* --- Output ----------------------------------------------------------- */

static const char *mode_name(enum bench_mode mode)
{
	return mode == MODE_STREAM ? "stream" : "pingpong";
}

#define RULE "----------------------------------------------------------" \
	     "-----------------------------"

static void print_header(const struct options *o, enum bench_mode mode)
{
	struct smbdirect_settings set;
	uint32_t send_size;
	uint32_t depth = o->tx_depth != 0 ? o->tx_depth : default_depth(mode);

	smbdirect_settings_default(&set);
	send_size = o->max_send_size != 0 ? o->max_send_size : set.max_send_size;
	if (o->csv) {
		return;
	}
	printf("%s\n", RULE);
	if (mode == MODE_STREAM) {
		printf(" Stream: initiator -> responder, one direction\n");
	} else {
		printf(" Ping-pong: each side answers every delivered message"
		       " (#iterations = exchanges,\n"
		       " msg/s and MiB/s count both directions)\n");
	}
	printf(" libsmbdirect %s engine pair in memory: host CPU only, "
	       "no RDMA\n",
	       smbdirect_version_string());
	printf(" Max send size: %u B (%u B payload per fragment)  "
	       "TX depth: %u  Poll batch: 1..%u\n",
	       send_size, send_size - SMBDIRECT_DATA_OFFSET, depth, o->batch);
	printf(" Verify: %s  Seed: %" PRIu64 "  Allocations: %s\n",
	       o->verify ? "length, order, content hash"
			 : "length, order",
	       o->seed,
#ifdef BENCH_ALLOC_HOOKS
	       "counted (malloc family, talloc included)"
#else
	       "not counted (sanitizer build)"
#endif
	);
	printf(" MiB/s: 2^20 bytes of upper-layer payload delivered per "
	       "second\n");
	printf("%s\n", RULE);
	printf(" %-10s %-13s %-14s %-12s %-10s %-12s %s\n", "#bytes",
	       "#iterations", "msg/s", "MiB/s", "wire/msg", "credit/msg",
	       "allocs/msg");
}

static void print_csv_header(void)
{
	printf("mode,bytes,iterations,messages,seconds,msg_per_s,mib_per_s,"
	       "wire_per_msg,credit_only_per_msg,allocs_per_msg,allocs,frees,"
	       "wire_messages,credit_only,clock_advances,tx_depth,batch,"
	       "max_send_size,verify\n");
}

static void print_row(const struct options *o, const struct result *r)
{
	double msgs = (double)r->messages;
	double rate = r->seconds > 0 ? msgs / r->seconds : 0;
	double mib = r->seconds > 0
			     ? (double)r->bytes / r->seconds / 1048576.0
			     : 0;
	double wire = (double)r->wire_messages / msgs;
	double credit = (double)r->credit_only / msgs;
	double allocs = (double)r->allocs / msgs;

	if (o->csv) {
		printf("%s,%u,%" PRIu64 ",%" PRIu64 ",%.6f,%.1f,%.2f,%.4f,%.4f,",
		       mode_name(r->mode), r->size, r->iterations, r->messages,
		       r->seconds, rate, mib, wire, credit);
#ifdef BENCH_ALLOC_HOOKS
		printf("%.4f,%" PRIu64 ",%" PRIu64 ",", allocs, r->allocs,
		       r->frees);
#else
		(void)allocs;
		printf("nan,,,");
#endif
		printf("%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%u,%u,%d\n",
		       r->wire_messages, r->credit_only, r->clock_advances,
		       r->tx_depth, o->batch, r->max_send_size, o->verify);
	} else {
		char alloc_text[32];

#ifdef BENCH_ALLOC_HOOKS
		snprintf(alloc_text, sizeof(alloc_text), "%.4f", allocs);
#else
		(void)allocs;
		snprintf(alloc_text, sizeof(alloc_text), "n/a");
#endif
		printf(" %-10u %-13" PRIu64 " %-14.1f %-12.2f %-10.3f %-12.4f "
		       "%s\n",
		       r->size, r->iterations, rate, mib, wire, credit,
		       alloc_text);
	}
	fflush(stdout);
}

/* --- Command line ----------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: smbdirect-engine-bench [options]\n"
"\n"
"Host CPU cost of the libsmbdirect [MS-SMBD] engine: an initiator and a\n"
"responder engine exchanging messages through an in-memory queue pair.\n"
"No RDMA device is used.\n"
"\n"
"  -a, --all              all sizes: 64, 1K, 8K, 64K, 1M (the default)\n"
"  -s, --size=SIZE        one upper-layer message size in bytes, 16..1M;\n"
"                         K and M suffixes mean KiB and MiB; repeatable\n"
"  -n, --iters=N          measured messages (stream) or exchanges\n"
"                         (pingpong) per size; default depends on size\n"
"  -t, --tx-depth=N       messages the sender keeps submitted\n"
"                         (default: stream 64, pingpong 1)\n"
"      --mode=MODE        stream, pingpong or both (default both)\n"
"      --batch=N          most receive completions per poll, 1..N at\n"
"                         random (default 16)\n"
"      --max-send-size=N  max_send_size and max_receive_size of both\n"
"                         sides (default 1364)\n"
"      --warmup=N         warm-up messages or exchanges before measuring\n"
"                         (default 2 * tx-depth + 64)\n"
"      --seed=N           seed of the poll batch sizes and the payload\n"
"      --no-verify        check length and order only, not the content\n"
"      --callgrind        for runs under valgrind --tool=callgrind\n"
"                         --toggle-collect=bench_measured_phase: default\n"
"                         iterations are 50 times fewer\n"
"      --csv              comma-separated output, one header line\n"
"  -h, --help             this text\n"
"  -V, --version          the library version\n");
}

static bool parse_u64(const char *text, uint64_t min, uint64_t max,
		      bool suffix, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	if (text == NULL || *text == '\0' || *text == '-') {
		return false;
	}
	errno = 0;
	v = strtoull(text, &end, 0);
	if (errno != 0 || end == text) {
		return false;
	}
	if (suffix && (*end == 'k' || *end == 'K')) {
		if (v > UINT64_MAX / 1024) {
			return false;
		}
		v *= 1024;
		end++;
	} else if (suffix && (*end == 'm' || *end == 'M')) {
		if (v > UINT64_MAX / 1048576) {
			return false;
		}
		v *= 1048576;
		end++;
	}
	if (*end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

enum {
	OPT_MODE = 256,
	OPT_BATCH,
	OPT_MAX_SEND_SIZE,
	OPT_WARMUP,
	OPT_SEED,
	OPT_NO_VERIFY,
	OPT_CALLGRIND,
	OPT_CSV,
};

static const struct option long_options[] = {
	{"all", no_argument, NULL, 'a'},
	{"size", required_argument, NULL, 's'},
	{"iters", required_argument, NULL, 'n'},
	{"tx-depth", required_argument, NULL, 't'},
	{"mode", required_argument, NULL, OPT_MODE},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"max-send-size", required_argument, NULL, OPT_MAX_SEND_SIZE},
	{"warmup", required_argument, NULL, OPT_WARMUP},
	{"seed", required_argument, NULL, OPT_SEED},
	{"no-verify", no_argument, NULL, OPT_NO_VERIFY},
	{"callgrind", no_argument, NULL, OPT_CALLGRIND},
	{"csv", no_argument, NULL, OPT_CSV},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void bad_option(const char *name, const char *value, const char *why)
{
	fprintf(stderr, "smbdirect-engine-bench: bad %s '%s': %s\n", name,
		value, why);
	exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	struct smbdirect_settings def;
	uint64_t v;
	int c;

	smbdirect_settings_default(&def);
	memset(o, 0, sizeof(*o));
	o->batch = 16;
	o->seed = 1;
	o->mode = MODE_BOTH;
	o->verify = true;

	while ((c = getopt_long(argc, argv, "as:n:t:hV", long_options, NULL)) !=
	       -1) {
		switch (c) {
		case 'a':
			o->nsizes = 0;
			break;
		case 's':
			if (!parse_u64(optarg, HDR_BYTES,
				       def.max_fragmented_size, true, &v)) {
				bad_option("size", optarg,
					   "expected 16..1048576, K or M "
					   "suffix allowed");
			}
			if (o->nsizes >= MAX_SIZES) {
				bad_option("size", optarg, "too many sizes");
			}
			o->sizes[o->nsizes++] = (uint32_t)v;
			break;
		case 'n':
			if (!parse_u64(optarg, 1, UINT64_MAX / 4, true, &v)) {
				bad_option("iterations", optarg,
					   "expected a positive number");
			}
			o->iters = v;
			break;
		case 't':
			if (!parse_u64(optarg, 1, MAX_DEPTH, false, &v)) {
				bad_option("tx-depth", optarg,
					   "expected 1..4096 (use --mode to "
					   "choose stream or pingpong)");
			}
			o->tx_depth = (uint32_t)v;
			break;
		case OPT_MODE:
			if (strcmp(optarg, "stream") == 0) {
				o->mode = MODE_STREAM;
			} else if (strcmp(optarg, "pingpong") == 0 ||
				   strcmp(optarg, "ping-pong") == 0) {
				o->mode = MODE_PINGPONG;
			} else if (strcmp(optarg, "both") == 0) {
				o->mode = MODE_BOTH;
			} else {
				bad_option("mode", optarg,
					   "expected stream, pingpong or both");
			}
			break;
		case OPT_BATCH:
			if (!parse_u64(optarg, 1, 65536, false, &v)) {
				bad_option("batch", optarg,
					   "expected 1..65536");
			}
			o->batch = (uint32_t)v;
			break;
		case OPT_MAX_SEND_SIZE:
			if (!parse_u64(optarg, SMBDIRECT_MIN_RECEIVE_SIZE,
				       1048576, true, &v)) {
				bad_option("max-send-size", optarg,
					   "expected 128..1048576");
			}
			o->max_send_size = (uint32_t)v;
			break;
		case OPT_WARMUP:
			if (!parse_u64(optarg, 1, UINT64_MAX / 4, true, &v)) {
				bad_option("warmup", optarg,
					   "expected a positive number");
			}
			o->warmup = v;
			break;
		case OPT_SEED:
			if (!parse_u64(optarg, 0, UINT64_MAX, false, &v)) {
				bad_option("seed", optarg, "expected a number");
			}
			o->seed = v;
			break;
		case OPT_NO_VERIFY:
			o->verify = false;
			break;
		case OPT_CALLGRIND:
			o->callgrind = true;
			break;
		case OPT_CSV:
			o->csv = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("smbdirect-engine-bench (libsmbdirect %s)\n",
			       smbdirect_version_string());
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc) {
		bad_option("argument", argv[optind], "no operands expected");
	}
	if (o->nsizes == 0) {
		memcpy(o->sizes, all_sizes, sizeof(all_sizes));
		o->nsizes = sizeof(all_sizes) / sizeof(all_sizes[0]);
	}
}

int main(int argc, char **argv)
{
	static const enum bench_mode modes[] = {MODE_STREAM, MODE_PINGPONG};
	struct options o;
	unsigned int m;
	unsigned int i;
	int failures = 0;

	parse_options(argc, argv, &o);
	heap_self_test();
	if (o.csv) {
		print_csv_header();
	}
	for (m = 0; m < 2; m++) {
		if ((o.mode & modes[m]) == 0) {
			continue;
		}
		print_header(&o, modes[m]);
		for (i = 0; i < o.nsizes; i++) {
			struct result r;

			if (!run_one(&o, modes[m], o.sizes[i], &r)) {
				failures += 1;
				continue;
			}
			print_row(&o, &r);
		}
		if (!o.csv) {
			printf("%s\n", RULE);
		}
	}
	return failures == 0 ? 0 : 1;
}
