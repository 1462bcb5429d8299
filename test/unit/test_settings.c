/*
 * libsmbdirect unit tests: settings defaults and validation, and the
 * arguments smbdirect_engine_new() accepts.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * [MS-SMBD] 3.1.4.1-d and 3.1.7.2-f leave the initial connection values to
 * the implementation; include/smbdirect.h documents the defaults and the
 * range of each field, and these tests hold the code to that.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <talloc.h>

#include "smbdirect.h"
#include "unit.h"

/* [MS-SMBD] 3.1.4.1-d, 3.1.7.2-f: the documented defaults: 1364-byte sends
 * and receives, 1 MiB reassembly, 8 MiB RDMA read/write, 255 credits each
 * way and 255 outstanding sends, 5 s negotiate timeout, 120 s keepalive
 * interval (note <2>), 5 s keepalive answer timeout (note <4>). */
static void test_3_1_4_1_settings_defaults(void **state)
{
	struct smbdirect_settings s;
	const char *why = "unset";

	(void)state;
	memset(&s, 0xA5, sizeof(s));
	smbdirect_settings_default(&s);
	assert_int_equal(s.max_send_size, 1364);
	assert_int_equal(s.max_receive_size, 1364);
	assert_int_equal(s.max_fragmented_size, 1048576);
	assert_int_equal(s.max_read_write_size, 8388608);
	assert_int_equal(s.send_credit_target, 255);
	assert_int_equal(s.receive_credit_max, 255);
	assert_int_equal(s.max_outstanding_sends, 255);
	assert_int_equal(s.negotiate_timeout_ms, 5000);
	assert_int_equal(s.keepalive_interval_ms, 120000);
	assert_int_equal(s.keepalive_timeout_ms, 5000);
	assert_true(smbdirect_settings_validate(&s, &why));
	assert_null(why);
}

/* One field's bounds: `lo` and `hi` are valid, `lo - 1` (if lo > 0) and
 * `hi + 1` (if it fits the field) are refused and named by `why`. */
struct bound {
	const char *name;
	size_t offset;
	size_t size;
	uint64_t lo;
	uint64_t hi;
	bool below;  /* lo - 1 exists and must be refused */
	bool above;  /* hi + 1 fits the field and must be refused */
};

#define FIELD(f) #f, offsetof(struct smbdirect_settings, f), \
		 sizeof(((struct smbdirect_settings *)0)->f)

static void set_field(struct smbdirect_settings *s, const struct bound *b,
		      uint64_t v)
{
	uint8_t *p = (uint8_t *)s + b->offset;

	if (b->size == 2) {
		uint16_t x = (uint16_t)v;

		memcpy(p, &x, 2);
	} else {
		uint32_t x = (uint32_t)v;

		assert_int_equal(b->size, 4);
		memcpy(p, &x, 4);
	}
}

static void check_bound(const struct bound *b)
{
	struct smbdirect_settings s;
	const char *why;

	smbdirect_settings_default(&s);
	set_field(&s, b, b->lo);
	why = "unset";
	if (!smbdirect_settings_validate(&s, &why)) {
		fail_msg("%s = %llu refused (%s)", b->name,
			 (unsigned long long)b->lo, why);
	}
	assert_null(why);

	smbdirect_settings_default(&s);
	set_field(&s, b, b->hi);
	if (!smbdirect_settings_validate(&s, &why)) {
		fail_msg("%s = %llu refused (%s)", b->name,
			 (unsigned long long)b->hi, why);
	}

	if (b->below) {
		smbdirect_settings_default(&s);
		set_field(&s, b, b->lo - 1);
		assert_false(smbdirect_settings_validate(&s, &why));
		assert_non_null(why);
		assert_string_equal(why, b->name);
	}
	if (b->above) {
		smbdirect_settings_default(&s);
		set_field(&s, b, b->hi + 1);
		assert_false(smbdirect_settings_validate(&s, &why));
		assert_non_null(why);
		assert_string_equal(why, b->name);
	}
}

/* smbdirect.h: every field's documented range, at both ends: sizes
 * 128..1048576 (128 is the [MS-SMBD] 3.1.5.6-c minimum MaxReceiveSize),
 * MaxFragmentedSize 131072..16777216 (131072 is the 3.1.5.6-c minimum),
 * MaxReadWriteSize 1..1 GiB, credit target and maximum 2..65535 (one
 * credit each way would refill forever, docs/architecture.md), send depth
 * 1..65535, negotiate
 * timeout 1..600000 ms, keepalive interval 0..86400000 ms, keepalive
 * timeout 1..600000 ms. */
static void test_settings_field_bounds(void **state)
{
	const struct bound bounds[] = {
		{FIELD(max_send_size), 128, 1048576, true, true},
		{FIELD(max_receive_size), 128, 1048576, true, true},
		{FIELD(max_fragmented_size), 131072, 16777216, true, true},
		{FIELD(max_read_write_size), 1, 1073741824, true, true},
		{FIELD(send_credit_target), 2, 65535, true, false},
		{FIELD(receive_credit_max), 2, 65535, true, false},
		{FIELD(max_outstanding_sends), 1, 65535, true, false},
		{FIELD(negotiate_timeout_ms), 1, 600000, true, true},
		{FIELD(keepalive_interval_ms), 0, 86400000, false, true},
		{FIELD(keepalive_timeout_ms), 1, 600000, true, true},
	};
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bounds); i++) {
		check_bound(&bounds[i]);
	}
}

/* smbdirect.h: the receive pool (receive_credit_max buffers of
 * max_receive_size bytes) is bounded to 256 MiB: 256 x 1 MiB passes,
 * 257 x 1 MiB and 65535 x 1 MiB are refused. */
static void test_settings_receive_pool_bound(void **state)
{
	struct smbdirect_settings s;
	const char *why;

	(void)state;
	smbdirect_settings_default(&s);
	s.max_receive_size = 1048576;
	s.receive_credit_max = 256;
	assert_true(smbdirect_settings_validate(&s, &why));
	s.receive_credit_max = 257;
	assert_false(smbdirect_settings_validate(&s, &why));
	assert_string_equal(why, "receive_credit_max * max_receive_size");
	s.receive_credit_max = 65535;
	assert_false(smbdirect_settings_validate(&s, &why));
	s.max_receive_size = 4096;
	assert_true(smbdirect_settings_validate(&s, &why));
}

/* smbdirect.h: NULL settings are refused; `why` may be NULL. */
static void test_settings_validate_null(void **state)
{
	struct smbdirect_settings s;
	const char *why = NULL;

	(void)state;
	assert_false(smbdirect_settings_validate(NULL, &why));
	assert_non_null(why);
	smbdirect_settings_default(&s);
	assert_true(smbdirect_settings_validate(&s, NULL));
	s.max_send_size = 0;
	assert_false(smbdirect_settings_validate(&s, NULL));
}

/* smbdirect_engine.h: smbdirect_engine_new() accepts valid settings and
 * callbacks for both roles; a new engine is idle, has no negotiated
 * parameters yet ([MS-SMBD] 3.1.4.1-e/g: Protocol 0, MaxReadWriteSize 0)
 * and no timer. */
static void test_engine_new_valid_both_roles(void **state)
{
	struct smbdirect_settings s;
	int role;

	smbdirect_settings_default(&s);
	for (role = SMBDIRECT_ROLE_INITIATOR; role <= SMBDIRECT_ROLE_RESPONDER;
	     role++) {
		struct smbdirect_engine *e = smbdirect_engine_new(
			*state, (enum smbdirect_role)role, &s, &idle_callbacks,
			NULL);

		assert_non_null(e);
		assert_int_equal(smbdirect_engine_state(e),
				 SMBDIRECT_STATE_IDLE);
		assert_int_equal(smbdirect_engine_reason(e),
				 SMBDIRECT_REASON_NONE);
		assert_null(smbdirect_engine_params(e));
		assert_true(smbdirect_engine_get_expiry(e) ==
			    SMBDIRECT_NO_EXPIRY);
		talloc_free(e);
	}
}

/* smbdirect_engine.h: settings failing smbdirect_settings_validate() and
 * NULL settings are refused by smbdirect_engine_new(). */
static void test_engine_new_refuses_invalid_settings(void **state)
{
	static const enum smbdirect_role roles[] = {
		SMBDIRECT_ROLE_INITIATOR, SMBDIRECT_ROLE_RESPONDER,
		SMBDIRECT_ROLE_RESPONDER, SMBDIRECT_ROLE_INITIATOR};
	struct smbdirect_settings bad[ARRAY_SIZE(roles)];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		smbdirect_settings_default(&bad[i]);
	}
	bad[0].max_receive_size = 127;
	bad[1].max_fragmented_size = 131071;
	bad[2].send_credit_target = 1;
	bad[3].receive_credit_max = 1;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_null(smbdirect_engine_new(*state, roles[i], &bad[i],
						 &idle_callbacks, NULL));
	}
	assert_null(smbdirect_engine_new(*state, SMBDIRECT_ROLE_INITIATOR,
					 NULL, &idle_callbacks, NULL));
}

/* smbdirect_engine.h: every callback is required: a NULL callbacks struct
 * or any single NULL member is refused. */
static void test_engine_new_refuses_missing_callbacks(void **state)
{
	struct smbdirect_settings s;
	int i;

	smbdirect_settings_default(&s);
	assert_null(smbdirect_engine_new(*state, SMBDIRECT_ROLE_INITIATOR, &s,
					 NULL, NULL));
	for (i = 0; i < 6; i++) {
		struct smbdirect_engine_callbacks cb = idle_callbacks;

		switch (i) {
		case 0:
			cb.post_recv = NULL;
			break;
		case 1:
			cb.send = NULL;
			break;
		case 2:
			cb.connected = NULL;
			break;
		case 3:
			cb.deliver = NULL;
			break;
		case 4:
			cb.send_done = NULL;
			break;
		default:
			cb.terminated = NULL;
			break;
		}
		assert_null(smbdirect_engine_new(*state,
						 SMBDIRECT_ROLE_INITIATOR, &s,
						 &cb, NULL));
		assert_null(smbdirect_engine_new(*state,
						 SMBDIRECT_ROLE_RESPONDER, &s,
						 &cb, NULL));
	}
}

/* smbdirect_engine.h: only the two roles of [MS-SMBD] 1.3 exist. */
static void test_engine_new_refuses_invalid_role(void **state)
{
	struct smbdirect_settings s;

	smbdirect_settings_default(&s);
	assert_null(smbdirect_engine_new(*state, (enum smbdirect_role)2, &s,
					 &idle_callbacks, NULL));
	assert_null(smbdirect_engine_new(*state, (enum smbdirect_role)-1, &s,
					 &idle_callbacks, NULL));
}

/* smbdirect.h: the version string is "MAJOR.MINOR.PATCH" of the macros. */
static void test_version_string(void **state)
{
	char expected[32];

	(void)state;
	snprintf(expected, sizeof(expected), "%d.%d.%d",
		 SMBDIRECT_VERSION_MAJOR, SMBDIRECT_VERSION_MINOR,
		 SMBDIRECT_VERSION_PATCH);
	assert_non_null(smbdirect_version_string());
	assert_string_equal(smbdirect_version_string(), expected);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_3_1_4_1_settings_defaults),
		T(test_settings_field_bounds),
		T(test_settings_receive_pool_bound),
		T(test_settings_validate_null),
		T(test_engine_new_valid_both_roles),
		T(test_engine_new_refuses_invalid_settings),
		T(test_engine_new_refuses_missing_callbacks),
		T(test_engine_new_refuses_invalid_role),
		T(test_version_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
