/*
 * libsmbdirect unit tests: helpers shared by the test_*.c files.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Every unit test executable is built from its test_*.c and unit.c. The
 * macros below expand to cmocka calls, so a test file includes cmocka.h
 * (with the headers cmocka wants before it) as well as this header; the
 * assertion helpers fail the running cmocka test.
 *
 * Most helpers work on a mock transport (test/common/mock.h) and take the
 * talloc context to allocate from as `mem`, usually the test's *state.
 */
#ifndef SMBDIRECT_TEST_UNIT_H
#define SMBDIRECT_TEST_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mock.h"

/* Nanoseconds per millisecond: engine times are in ns, settings in ms. */
#define NS_PER_MS 1000000ull

/* Number of elements of an array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* --- running tests --------------------------------------------------- */

/* cmocka setup: *state becomes a fresh talloc context for the test. */
int unit_setup(void **state);

/* cmocka teardown: frees the context of unit_setup() and all it holds. */
int unit_teardown(void **state);

/* A cmocka test `f` with its own talloc context in *state. */
#define T(f) cmocka_unit_test_setup_teardown(f, unit_setup, unit_teardown)

/* The two tests ROLE_TESTS(f) made: f_initiator and f_responder. */
#define BOTH(f) T(f##_initiator), T(f##_responder)

/* Define f_initiator and f_responder, which run
 * `f(void **state, enum smbdirect_role role)` for one role each. */
#define ROLE_TESTS(f)                                                     \
	static void f##_initiator(void **state)                           \
	{                                                                 \
		f(state, SMBDIRECT_ROLE_INITIATOR);                       \
	}                                                                 \
	static void f##_responder(void **state)                           \
	{                                                                 \
		f(state, SMBDIRECT_ROLE_RESPONDER);                       \
	}

/* --- the state of an engine ------------------------------------------ */

/* The engine has not terminated: no terminated callback (else the test
 * fails naming the reason and detail) and not in SMBDIRECT_STATE_TERMINATED. */
void assert_running(const struct mock *m);

/* Exactly one terminated callback, with `reason` and a non-empty detail;
 * the engine is in SMBDIRECT_STATE_TERMINATED with that reason and has no
 * timer armed (SMBDIRECT_NO_EXPIRY). */
void assert_terminated(const struct mock *m, enum smbdirect_reason reason);

/* The engine's counters (smbdirect_engine_get_stats()). */
struct smbdirect_engine_stats stats(const struct mock *m);

/* Forget what the mock logged: sent messages, deliveries, send_done. */
void clear_logs(struct mock *m);

/* --- bringing an engine up ------------------------------------------- */

/* A mock engine of `role` with settings `s` (NULL: defaults), started
 * successfully and still running. */
struct mock *started(void *mem, enum smbdirect_role role,
		     const struct smbdirect_settings *s);

/* The peer's side of the negotiation, as ready_peer() plays it. */
struct peer_cfg {
	uint16_t requests;            /* CreditsRequested */
	uint16_t grants;              /* credits granted: initiator: in the
				       * response; responder: in the peer's
				       * first data message (0: none sent) */
	uint16_t flags;               /* Flags of that first data message */
	uint32_t max_receive_size;    /* peer's MaxReceiveSize */
	uint32_t preferred_send_size; /* peer's PreferredSendSize */
	uint32_t max_fragmented_size; /* peer's MaxFragmentedSize */
};

/* The mock's default peer, with the values of mock_default_response()
 * (mock_default_request() has the same): 255 credits asked and granted,
 * 1364-byte sizes, 1 MiB reassembly; the first data message has no
 * flags. */
struct peer_cfg peer_default(void);

/* A connected engine of `role` with settings `s` (NULL: defaults), whose
 * peer negotiated as `pc` says; the responder's send credits come from the
 * peer's first data message, as in [MS-SMBD] 4.1. All sends completed, logs
 * cleared. */
struct mock *ready_peer(void *mem, enum smbdirect_role role,
			const struct smbdirect_settings *s,
			const struct peer_cfg *pc);

/* ready_peer() with the default peer asking for `requests` credits and
 * granting `grants`: initiator: in the response, and the engine spends one
 * at once on its first credit grant; responder: in the peer's first data
 * message (none if 0), which asks for a response, so that the engine
 * spends one at once to give back the credit that message used. Either
 * way the engine then holds `grants - 1` send credits and the peer holds
 * its full target of our credits. */
struct mock *ready_credits(void *mem, enum smbdirect_role role,
			   const struct smbdirect_settings *s,
			   uint16_t requests, uint16_t grants);

/* Feed the negotiate message the mock's default peer sends to an engine
 * of `role`: a response to an initiator, a request to a responder. */
void recv_default_negotiate(struct mock *m, enum smbdirect_role role);

/* --- what the engine sent -------------------------------------------- */

/* The data transfer header of sent message `i`, which must exist and
 * decode. */
struct smbdirect_data_header sent_hdr(const struct mock *m, size_t i);

/* Sent message `i` exists and is exactly the `len` bytes at `bytes`. */
void assert_sent_bytes(const struct mock *m, size_t i, const void *bytes,
		       size_t len);

/* --- building messages ----------------------------------------------- */

/* An upper-layer message for smbdirect_engine_submit(): `data` in iov[0];
 * the other iovecs are free for a test to split the data with. */
struct tmsg {
	struct smbdirect_engine_msg msg;
	struct iovec iov[8];
	uint8_t *data;
};

/* A message (talloc child of `mem`) of `len` bytes, each `fill`, in one
 * iovec. */
struct tmsg *tmsg_new(void *mem, size_t len, uint8_t fill);

/* Write a 20-byte data transfer header with these fields at `b`, by hand
 * ([MS-SMBD] 2.2.3, little-endian), bypassing the encoder, so that any
 * value (odd offsets included) can be fed to a decoder or an engine. */
void put_data_header(uint8_t *b, uint16_t credits_requested,
		     uint16_t credits_granted, uint16_t flags,
		     uint16_t reserved, uint32_t remaining, uint32_t offset,
		     uint32_t length);

/* --- callbacks for engines without a mock ---------------------------- */

/* A deliver callback that ignores the data. */
void idle_deliver(void *p, const uint8_t *data, size_t length);

/* A send_done callback that ignores the message. */
void idle_send_done(void *p, struct smbdirect_engine_msg *msg);

/* Every callback set, none doing anything: post_recv posts all asked,
 * send succeeds. */
extern const struct smbdirect_engine_callbacks idle_callbacks;

#endif
