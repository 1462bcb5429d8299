/*
 * libsmbdirect tests: an initiator and a responder engine wired together in
 * memory, with the semantics of an RC queue pair that uses RNR retry 0.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * - A send is placed at once into one of the peer's posted receives, as on
 *   a real QP; with no free posted receive, or a message larger than the
 *   receive buffer, the QP fails (both sides get a transport error). So
 *   every credit mistake shows up as a failure.
 * - Delivery to the engine happens later, in batches (a CQ poll), between
 *   smbdirect_engine_cork() and smbdirect_engine_uncork().
 * - A send completes when the peer's receive consumed it.
 * - Wire buffers are preallocated: steady state allocates nothing.
 */
#ifndef SMBDIRECT_TEST_PAIR_H
#define SMBDIRECT_TEST_PAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smbdirect.h"

struct pair;

struct pair_side {
	struct pair *pair;
	int index; /* 0 initiator, 1 responder */
	struct smbdirect_engine *engine;
	struct smbdirect_settings settings;
	uint32_t buffer_size;

	/* Receives posted at this side's "QP", free or filled. */
	uint32_t posted_free;
	/* Most receives this side's pool allows at once (random pool
	 * exhaustion when < credits); 0 means unlimited. */
	uint32_t pool_limit;
	uint32_t pool_in_use;

	/* Messages that arrived from the peer, waiting for the CQ poll. */
	uint8_t **slot;
	size_t *slot_length;
	uint32_t slot_capacity;
	uint32_t slot_first;
	uint32_t slot_count;

	/* Sends of this side consumed by the peer, to be completed. */
	uint32_t completions_due;

	bool connected;
	bool terminated;
	enum smbdirect_reason reason;
	char detail[256];

	/* Upper-layer callbacks (may be NULL). */
	void (*on_deliver)(struct pair_side *side, const uint8_t *data,
			   size_t length);
	void (*on_send_done)(struct pair_side *side,
			     struct smbdirect_engine_msg *msg);
	void (*on_connected)(struct pair_side *side);
	void *app;
};

struct pair {
	struct pair_side side[2];
	uint64_t now;
	uint64_t rng;
	/* Largest number of completions handled per poll (>= 1). */
	uint32_t max_batch;
	/* If true, pool limits vary at random between polls. */
	bool random_pool;
	/* Wire messages moved. */
	uint64_t wire_messages;
	uint64_t wire_bytes;
	/* QP failure: set when a send found no posted receive. */
	bool qp_failed;
	char qp_error[128];
};

/* Create a pair (talloc child of mem_ctx). NULL settings: defaults. */
struct pair *pair_new(void *mem_ctx,
		      const struct smbdirect_settings *initiator,
		      const struct smbdirect_settings *responder,
		      uint64_t seed);

/* Start both engines. */
void pair_start(struct pair *p);

/* One step: poll one side's CQ (a batch), or if nothing is in flight,
 * advance the clock to the next timer. Returns false when nothing at all
 * can happen any more (idle with no timers, or both terminated). */
bool pair_step(struct pair *p);

/* Run steps until `done(p)` is true or `max_steps` ran. Returns true if
 * done() became true. */
bool pair_run_until(struct pair *p, bool (*done)(struct pair *p),
		    uint64_t max_steps);

/* Process everything in flight without advancing time. */
void pair_drain(struct pair *p);

/* xorshift64* */
uint64_t pair_random(struct pair *p);

/* FNV-1a 64 over bytes, continuing from `h` (start with PAIR_FNV_INIT). */
#define PAIR_FNV_INIT 0xcbf29ce484222325ull
uint64_t pair_fnv(uint64_t h, const uint8_t *data, size_t length);

#endif
