/*
 * libsmbdirect tests: checksummed message streams over an engine pair.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Each side sends `count` upper-layer messages to the other, of sizes
 * chosen by the caller's size policy, split into 1..3 iovecs. The receiver
 * checks every message against the length and checksum the sender recorded
 * for the same sequence number, so a lost, reordered, duplicated or
 * corrupted message is detected at once.
 */
#ifndef SMBDIRECT_TEST_STREAM_H
#define SMBDIRECT_TEST_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "pair.h"

#define STREAM_WINDOW 4

enum stream_sizes {
	STREAM_SIZES_LOG_UNIFORM, /* 1..max, log-uniform, max itself included */
	STREAM_SIZES_FIXED,       /* always `fixed_size` */
};

struct stream_dir {
	uint32_t submitted;
	uint32_t completed;
	uint32_t received;
	uint32_t max_size;
	uint64_t *expected_hash;
	uint32_t *expected_length;
	struct smbdirect_engine_msg msg[STREAM_WINDOW];
	struct iovec iov[STREAM_WINDOW][3];
	uint8_t *buffer[STREAM_WINDOW];
	uint32_t errors;
	char first_error[160];
	uint64_t bytes;
};

struct stream {
	struct pair *pair;
	uint32_t count;
	enum stream_sizes sizes;
	uint32_t fixed_size;
	/* Verify checksums (off for pure speed runs). */
	bool verify;
	struct stream_dir dir[2]; /* indexed by sending side */
};

/* Attach a stream to `pair`; both directions send `count` messages. */
struct stream *stream_new(struct pair *pair, uint32_t count,
			  enum stream_sizes sizes, uint32_t fixed_size);

/* Run until both directions delivered `count` messages, or nothing can
 * progress (max_steps). Returns true on full success. */
bool stream_run(struct stream *s, uint64_t max_steps);

#endif
