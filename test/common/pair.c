/*
 * libsmbdirect tests: two engines wired together in memory.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <talloc.h>

#include "pair.h"

uint64_t pair_random(struct pair *p)
{
	uint64_t x = p->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

uint64_t pair_fnv(uint64_t h, const uint8_t *data, size_t length)
{
	size_t i;

	for (i = 0; i < length; i++) {
		h ^= data[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void qp_fail(struct pair *p, const char *why)
{
	int i;

	if (p->qp_failed) {
		return;
	}
	p->qp_failed = true;
	snprintf(p->qp_error, sizeof(p->qp_error), "%s", why);
	for (i = 0; i < 2; i++) {
		smbdirect_engine_fail(p->side[i].engine,
				      SMBDIRECT_REASON_TRANSPORT_ERROR, why);
	}
}

static int side_post_recv(void *priv, uint32_t count, uint32_t buffer_size)
{
	struct pair_side *s = priv;
	uint32_t n = count;

	if (buffer_size != s->buffer_size) {
		return -1;
	}
	if (s->pool_limit != 0) {
		uint32_t room = s->pool_limit > s->pool_in_use
					? s->pool_limit - s->pool_in_use
					: 0;
		if (n > room) {
			n = room;
		}
	}
	s->pool_in_use += n;
	s->posted_free += n;
	return (int)n;
}

static int side_send(void *priv, const struct smbdirect_send_desc *desc)
{
	struct pair_side *s = priv;
	struct pair *p = s->pair;
	struct pair_side *peer = &p->side[1 - s->index];
	size_t length = smbdirect_send_desc_length(desc);
	uint32_t slot;

	if (p->qp_failed) {
		return 0; /* flushed in error, like a dead QP */
	}
	/* RNR retry 0: no posted receive at the peer kills the QP. */
	if (peer->posted_free == 0) {
		qp_fail(p, "receiver not ready: no posted receive");
		return 0;
	}
	if (length > peer->buffer_size) {
		qp_fail(p, "message longer than the receive buffer");
		return 0;
	}
	if (peer->slot_count >= peer->slot_capacity) {
		qp_fail(p, "harness: in-flight ring full");
		return 0;
	}
	peer->posted_free -= 1;
	slot = (peer->slot_first + peer->slot_count) % peer->slot_capacity;
	if (smbdirect_send_desc_copy(desc, peer->slot[slot],
				     peer->buffer_size) != length) {
		qp_fail(p, "harness: bad send descriptor");
		return 0;
	}
	peer->slot_length[slot] = length;
	peer->slot_count += 1;
	p->wire_messages += 1;
	p->wire_bytes += length;
	return 0;
}

static void side_connected(void *priv, const struct smbdirect_params *params)
{
	struct pair_side *s = priv;

	(void)params;
	s->connected = true;
	if (s->on_connected != NULL) {
		s->on_connected(s);
	}
}

static void side_deliver(void *priv, const uint8_t *data, size_t length)
{
	struct pair_side *s = priv;

	if (s->on_deliver != NULL) {
		s->on_deliver(s, data, length);
	}
}

static void side_send_done(void *priv, struct smbdirect_engine_msg *msg)
{
	struct pair_side *s = priv;

	if (s->on_send_done != NULL) {
		s->on_send_done(s, msg);
	}
}

static void side_terminated(void *priv, enum smbdirect_reason reason,
			    const char *detail)
{
	struct pair_side *s = priv;

	s->terminated = true;
	s->reason = reason;
	snprintf(s->detail, sizeof(s->detail), "%s", detail);
}

static const struct smbdirect_engine_callbacks side_callbacks = {
	.post_recv = side_post_recv,
	.send = side_send,
	.connected = side_connected,
	.deliver = side_deliver,
	.send_done = side_send_done,
	.terminated = side_terminated,
};

struct pair *pair_new(void *mem_ctx,
		      const struct smbdirect_settings *initiator,
		      const struct smbdirect_settings *responder,
		      uint64_t seed)
{
	struct pair *p = talloc_zero(mem_ctx, struct pair);
	int i;

	if (p == NULL) {
		abort();
	}
	p->now = 1000000000ull;
	p->rng = seed != 0 ? seed : 0x9e3779b97f4a7c15ull;
	p->max_batch = 16;
	for (i = 0; i < 2; i++) {
		struct pair_side *s = &p->side[i];
		const struct smbdirect_settings *set =
			i == 0 ? initiator : responder;
		uint32_t j;

		s->pair = p;
		s->index = i;
		if (set != NULL) {
			s->settings = *set;
		} else {
			smbdirect_settings_default(&s->settings);
		}
		s->engine = smbdirect_engine_new(
			p,
			i == 0 ? SMBDIRECT_ROLE_INITIATOR
			       : SMBDIRECT_ROLE_RESPONDER,
			&s->settings, &side_callbacks, s);
		if (s->engine == NULL) {
			abort();
		}
		s->buffer_size =
			smbdirect_engine_receive_buffer_size(s->engine);
		/* A receive posted is a slot; at most receive_credit_max
		 * (plus the negotiate receive) can be filled at once. */
		s->slot_capacity = (uint32_t)s->settings.receive_credit_max + 2;
		s->slot = talloc_array(p, uint8_t *, s->slot_capacity);
		s->slot_length = talloc_array(p, size_t, s->slot_capacity);
		for (j = 0; j < s->slot_capacity; j++) {
			s->slot[j] = talloc_size(p, s->buffer_size);
		}
	}
	return p;
}

void pair_start(struct pair *p)
{
	/* The responder listens first, as on a real connection. */
	smbdirect_engine_start(p->side[1].engine, p->now);
	smbdirect_engine_start(p->side[0].engine, p->now);
}

/* Poll one side's CQ: up to max_batch receives, then the matching send
 * completions on the peer. */
static void poll_side(struct pair *p, struct pair_side *s)
{
	struct pair_side *peer = &p->side[1 - s->index];
	uint32_t batch = 1;
	uint32_t done = 0;

	if (p->max_batch > 1) {
		batch = 1 + (uint32_t)(pair_random(p) % p->max_batch);
	}
	if (p->random_pool) {
		/* The receive pool shrinks and grows at random, as when the
		 * application holds buffers: the engine may only grant what
		 * it really posted. */
		s->pool_limit = 1 + (uint32_t)(pair_random(p) %
					       s->settings.receive_credit_max);
		smbdirect_engine_recv_buffers_available(s->engine, p->now);
	}
	smbdirect_engine_cork(s->engine);
	while (done < batch && s->slot_count > 0 && !s->terminated) {
		uint32_t slot = s->slot_first;

		s->slot_first = (s->slot_first + 1) % s->slot_capacity;
		s->slot_count -= 1;
		s->pool_in_use -= 1;
		done += 1;
		smbdirect_engine_on_recv(s->engine, p->now, s->slot[slot],
					 s->slot_length[slot]);
	}
	smbdirect_engine_uncork(s->engine, p->now);
	peer->completions_due += done;
	if (peer->completions_due > 0 && !peer->terminated) {
		uint32_t n = peer->completions_due;

		peer->completions_due = 0;
		smbdirect_engine_on_send_complete(peer->engine, p->now, n);
	}
}

bool pair_step(struct pair *p)
{
	int first = (int)(pair_random(p) & 1);
	int k;
	uint64_t t0;
	uint64_t t1;
	uint64_t t;

	for (k = 0; k < 2; k++) {
		struct pair_side *s = &p->side[(first + k) & 1];

		if (s->slot_count > 0 && !s->terminated) {
			poll_side(p, s);
			return true;
		}
	}
	/* Nothing in flight. An application holding receive buffers lets
	 * them go sooner or later: give the whole pool back first. */
	if (p->random_pool) {
		bool posted = false;

		for (k = 0; k < 2; k++) {
			struct pair_side *s = &p->side[k];

			if (s->pool_limit != 0 && !s->terminated) {
				s->pool_limit = 0;
				smbdirect_engine_recv_buffers_available(
					s->engine, p->now);
				posted = true;
			}
		}
		if (posted) {
			return true;
		}
	}
	/* Then let time pass to the next timer. */
	t0 = smbdirect_engine_get_expiry(p->side[0].engine);
	t1 = smbdirect_engine_get_expiry(p->side[1].engine);
	t = t0 < t1 ? t0 : t1;
	if (t == SMBDIRECT_NO_EXPIRY) {
		return false;
	}
	if (t > p->now) {
		p->now = t;
	}
	for (k = 0; k < 2; k++) {
		if (smbdirect_engine_get_expiry(p->side[k].engine) <= p->now) {
			smbdirect_engine_handle_expiry(p->side[k].engine,
						       p->now);
		}
	}
	return true;
}

void pair_drain(struct pair *p)
{
	bool busy = true;

	while (busy) {
		int k;

		busy = false;
		for (k = 0; k < 2; k++) {
			struct pair_side *s = &p->side[k];

			if (s->slot_count > 0 && !s->terminated) {
				poll_side(p, s);
				busy = true;
			}
		}
	}
}

bool pair_run_until(struct pair *p, bool (*done)(struct pair *p),
		    uint64_t max_steps)
{
	uint64_t i;

	for (i = 0; i < max_steps; i++) {
		if (done(p)) {
			return true;
		}
		if (!pair_step(p)) {
			break;
		}
	}
	return done(p);
}
