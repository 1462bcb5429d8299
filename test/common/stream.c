/*
 * libsmbdirect tests: checksummed message streams over an engine pair.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <talloc.h>

#include "stream.h"

/* A 64-bit hash that reads 8 bytes at a time: cheap enough for gigabytes
 * under ASan, and any changed, lost or moved byte changes it. */
static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		h = (h ^ v) * 0x9E3779B97F4A7C15ull;
		h ^= h >> 29;
		p += 8;
		n -= 8;
	}
	while (n > 0) {
		h = (h ^ *p) * 0x100000001b3ull;
		p++;
		n--;
	}
	return h;
}

static uint32_t pick_size(struct stream *s, uint32_t seq, uint32_t max)
{
	struct pair *p = s->pair;
	uint32_t bits;
	uint64_t limit;

	if (s->sizes == STREAM_SIZES_FIXED) {
		return s->fixed_size;
	}
	/* The extremes, always. */
	if (seq == 0) {
		return 1;
	}
	if (seq % 500 == 1) {
		return max;
	}
	bits = (uint32_t)(pair_random(p) % 21);
	limit = 1ull << bits;
	if (limit > max) {
		limit = max;
	}
	return 1 + (uint32_t)(pair_random(p) % limit);
}

static void submit_next(struct stream *s, struct pair_side *side, int slot)
{
	struct stream_dir *d = &s->dir[side->index];
	struct smbdirect_engine_msg *m = &d->msg[slot];
	uint32_t seq = d->submitted;
	uint32_t size = pick_size(s, seq, d->max_size);
	uint8_t *b = d->buffer[slot];
	uint32_t i;
	uint32_t cut1;
	uint32_t cut2;
	int ret;

	/* Content: a cheap generator keyed by sequence number. */
	{
		uint64_t x = ((uint64_t)seq << 1 | 1) * 0x2545F4914F6CDD1Dull;

		for (i = 0; i + 8 <= size; i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(b + i, &x, 8);
		}
		for (; i < size; i++) {
			b[i] = (uint8_t)(seq + i);
		}
	}
	if (s->verify) {
		d->expected_hash[seq] = hash_bytes(PAIR_FNV_INIT, b, size);
	}
	d->expected_length[seq] = size;

	/* 1..3 pieces, some of them possibly empty. */
	cut1 = (uint32_t)(pair_random(s->pair) % (size + 1));
	cut2 = cut1 + (uint32_t)(pair_random(s->pair) % (size - cut1 + 1));
	d->iov[slot][0].iov_base = b;
	d->iov[slot][0].iov_len = cut1;
	d->iov[slot][1].iov_base = b + cut1;
	d->iov[slot][1].iov_len = cut2 - cut1;
	d->iov[slot][2].iov_base = b + cut2;
	d->iov[slot][2].iov_len = size - cut2;
	memset(m, 0, sizeof(*m));
	m->iov = d->iov[slot];
	m->iov_count = 3;
	m->private_data = (void *)(uintptr_t)slot;
	d->submitted += 1;
	ret = smbdirect_engine_submit(side->engine, s->pair->now, m);
	if (ret != 0 && d->errors++ == 0) {
		snprintf(d->first_error, sizeof(d->first_error),
			 "submit of message %u (%u bytes) failed: %d", seq,
			 size, ret);
	}
}

static void fill_window(struct pair_side *side)
{
	struct stream *s = side->app;
	struct stream_dir *d = &s->dir[side->index];
	int slot;

	for (slot = 0; slot < STREAM_WINDOW && d->submitted < s->count;
	     slot++) {
		submit_next(s, side, slot);
	}
}

static void on_send_done(struct pair_side *side,
			 struct smbdirect_engine_msg *msg)
{
	struct stream *s = side->app;
	struct stream_dir *d = &s->dir[side->index];

	d->completed += 1;
	if (d->submitted < s->count) {
		submit_next(s, side, (int)(uintptr_t)msg->private_data);
	}
}

static void on_deliver(struct pair_side *side, const uint8_t *data,
		       size_t length)
{
	struct stream *s = side->app;
	/* Messages arriving here were sent by the other side. */
	struct stream_dir *d = &s->dir[1 - side->index];
	uint32_t seq = d->received;

	d->received += 1;
	d->bytes += length;
	if (seq >= d->submitted) {
		if (d->errors++ == 0) {
			snprintf(d->first_error, sizeof(d->first_error),
				 "message %u delivered but only %u sent", seq,
				 d->submitted);
		}
		return;
	}
	if (length != d->expected_length[seq]) {
		if (d->errors++ == 0) {
			snprintf(d->first_error, sizeof(d->first_error),
				 "message %u: %zu bytes, expected %u", seq,
				 length, d->expected_length[seq]);
		}
		return;
	}
	if (s->verify &&
	    hash_bytes(PAIR_FNV_INIT, data, length) != d->expected_hash[seq]) {
		if (d->errors++ == 0) {
			snprintf(d->first_error, sizeof(d->first_error),
				 "message %u: checksum mismatch", seq);
		}
	}
}

struct stream *stream_new(struct pair *pair, uint32_t count,
			  enum stream_sizes sizes, uint32_t fixed_size)
{
	struct stream *s = talloc_zero(pair, struct stream);
	int i;

	if (s == NULL) {
		abort();
	}
	s->pair = pair;
	s->count = count;
	s->sizes = sizes;
	s->fixed_size = fixed_size;
	s->verify = true;
	for (i = 0; i < 2; i++) {
		struct stream_dir *d = &s->dir[i];
		struct pair_side *side = &pair->side[i];
		int w;

		/* A side sends at most what the peer reassembles. */
		d->max_size = pair->side[1 - i].settings.max_fragmented_size;
		if (sizes == STREAM_SIZES_FIXED) {
			d->max_size = fixed_size;
		}
		d->expected_hash = talloc_zero_array(s, uint64_t, count);
		d->expected_length = talloc_zero_array(s, uint32_t, count);
		for (w = 0; w < STREAM_WINDOW; w++) {
			d->buffer[w] = talloc_size(s, d->max_size);
		}
		side->app = s;
		side->on_connected = fill_window;
		side->on_send_done = on_send_done;
		side->on_deliver = on_deliver;
	}
	return s;
}

static bool stream_done(struct pair *p)
{
	struct stream *s = p->side[0].app;

	if (p->side[0].terminated || p->side[1].terminated) {
		return true;
	}
	if (s->dir[0].errors != 0 || s->dir[1].errors != 0) {
		return true;
	}
	return s->dir[0].received == s->count && s->dir[1].received == s->count &&
	       s->dir[0].completed == s->count &&
	       s->dir[1].completed == s->count;
}

bool stream_run(struct stream *s, uint64_t max_steps)
{
	struct pair *p = s->pair;
	bool ok;

	pair_start(p);
	ok = pair_run_until(p, stream_done, max_steps);
	if (!ok || p->side[0].terminated || p->side[1].terminated ||
	    s->dir[0].errors != 0 || s->dir[1].errors != 0) {
		int i;

		for (i = 0; i < 2; i++) {
			struct smbdirect_engine_stats st;

			smbdirect_engine_get_stats(p->side[i].engine, &st);
			fprintf(stderr,
				"side %d: terminated=%d reason=%s (%s) "
				"sent=%u/%u done=%u recv=%u errors=%u %s; "
				"credits send=%u recv=%u posted=%u "
				"outstanding=%u queued=%u\n",
				i, p->side[i].terminated,
				smbdirect_reason_string(p->side[i].reason),
				p->side[i].detail, s->dir[i].submitted,
				s->count, s->dir[i].completed,
				s->dir[1 - i].received, s->dir[i].errors,
				s->dir[i].first_error, st.send_credits,
				st.receive_credits, st.receives_posted,
				st.sends_outstanding, st.queued_messages);
		}
		return false;
	}
	return true;
}
