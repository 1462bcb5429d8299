/*
 * libsmbdirect unit tests: an initiator and a responder engine streaming
 * checksummed messages to each other in memory.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.4.2, 3.1.5.1, 3.1.5.4, 3.1.5.8, 3.1.5.9: fragmentation,
 * reassembly and credits together. The harness kills the "QP" on any send
 * that finds no posted receive (RNR retry 0), so a credit error fails the
 * run; every message is checked for length and checksum in order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include <talloc.h>

#include "stream.h"

/* 10,000 messages each way; SMBDIRECT_TEST_QUICK (set by the valgrind
 * stage of buildtools/test.sh, where everything runs ~50x slower) uses
 * 1,000 and fewer random configurations. The full count runs in the
 * release and ASan+UBSan stages. */
static uint32_t messages = 10000;
static uint64_t random_configs = 24;
#define MESSAGES messages

static void run_stream(const struct smbdirect_settings *a,
		       const struct smbdirect_settings *b, uint64_t seed,
		       bool random_pool, uint32_t max_batch)
{
	TALLOC_CTX *mem = talloc_new(NULL);
	struct pair *p = pair_new(mem, a, b, seed);
	struct stream *s = stream_new(p, MESSAGES, STREAM_SIZES_LOG_UNIFORM, 0);
	bool ok;

	uint64_t start = p->now;

	p->random_pool = random_pool;
	p->max_batch = max_batch;
	ok = stream_run(s, 200000000ull);
	/* No stall was resolved by a timer: the stream never went idle. */
	assert_true(p->now == start);
	assert_true(ok);
	assert_int_equal(s->dir[0].received, MESSAGES);
	assert_int_equal(s->dir[1].received, MESSAGES);
	assert_int_equal(s->dir[0].errors, 0);
	assert_int_equal(s->dir[1].errors, 0);
	assert_false(p->qp_failed);
	assert_false(p->side[0].terminated);
	assert_false(p->side[1].terminated);

	/* Once the upper layers are done the wire goes quiet: no endless
	 * exchange of credit-only messages. */
	{
		unsigned int i;

		for (i = 0; i < 10000 && (p->side[0].slot_count > 0 ||
					  p->side[1].slot_count > 0);
		     i++) {
			pair_step(p);
		}
		assert_int_equal(p->side[0].slot_count, 0);
		assert_int_equal(p->side[1].slot_count, 0);
		assert_true(p->now == start);
	}
	talloc_free(mem);
}

/* Default settings but for the smallest legal sizes: 128-byte sends and
 * receives, MaxFragmentedSize 131072. */
static struct smbdirect_settings smallest_sizes(void)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	s.max_send_size = 128;
	s.max_receive_size = 128;
	s.max_fragmented_size = 131072;
	return s;
}

/* Defaults on both sides (1364-byte sends, 1 MiB reassembly, 255 credits). */
static void test_stream_defaults(void **state)
{
	(void)state;
	run_stream(NULL, NULL, 1, false, 16);
}

/* [MS-SMBD] 3.1.5.6: the smallest legal sizes, MaxReceiveSize 128 and
 * MaxFragmentedSize 131072, on both sides: 104 payload bytes a fragment. */
static void test_stream_smallest_sizes(void **state)
{
	struct smbdirect_settings s = smallest_sizes();

	(void)state;
	run_stream(&s, &s, 2, false, 16);
}

/* Random credit targets and maxima on each side, a receive pool that
 * shrinks and grows at random (fewer receives posted than asked), and
 * random poll batch sizes. */
static void test_stream_random_credits(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 100; seed < 100 + random_configs; seed++) {
		struct smbdirect_settings a;
		struct smbdirect_settings b;
		uint64_t x = seed * 0x9E3779B97F4A7C15ull;

		smbdirect_settings_default(&a);
		smbdirect_settings_default(&b);
		a.send_credit_target = (uint16_t)(2 + (x >> 8) % 254);
		a.receive_credit_max = (uint16_t)(2 + (x >> 16) % 254);
		b.send_credit_target = (uint16_t)(2 + (x >> 24) % 254);
		b.receive_credit_max = (uint16_t)(2 + (x >> 32) % 254);
		a.max_send_size = b.max_receive_size =
			(uint32_t)(128 + (x >> 40) % 2000);
		b.max_send_size = a.max_receive_size =
			(uint32_t)(128 + (x >> 48) % 2000);
		a.max_fragmented_size = b.max_fragmented_size = 131072;
		print_message("seed %llu: A target %u max %u, B target %u "
			      "max %u, sizes %u/%u\n",
			      (unsigned long long)seed, a.send_credit_target,
			      a.receive_credit_max, b.send_credit_target,
			      b.receive_credit_max, a.max_send_size,
			      b.max_send_size);
		run_stream(&a, &b, seed, true, 1 + (uint32_t)(seed % 8));
	}
}

/* The smallest credit numbers allowed: each side asks for and grants 2,
 * with the smallest legal sizes, one completion per poll. */
static void test_stream_two_credits(void **state)
{
	struct smbdirect_settings s = smallest_sizes();

	(void)state;
	s.send_credit_target = 2;
	s.receive_credit_max = 2;
	run_stream(&s, &s, 3, false, 1);
}

/* Two credits one way, many the other. */
static void test_stream_asymmetric_credits(void **state)
{
	struct smbdirect_settings a;
	struct smbdirect_settings b;

	(void)state;
	smbdirect_settings_default(&a);
	smbdirect_settings_default(&b);
	a.send_credit_target = 2;
	a.receive_credit_max = 255;
	b.send_credit_target = 255;
	b.receive_credit_max = 2;
	run_stream(&a, &b, 4, true, 3);
	run_stream(&b, &a, 5, true, 3);
}

int main(void)
{
	if (getenv("SMBDIRECT_TEST_QUICK") != NULL) {
		messages = 1000;
		random_configs = 4;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_defaults),
		cmocka_unit_test(test_stream_smallest_sizes),
		cmocka_unit_test(test_stream_random_credits),
		cmocka_unit_test(test_stream_two_credits),
		cmocka_unit_test(test_stream_asymmetric_credits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
