/*
 * smbdirect-bridge: one relayed connection, TCP (Direct TCP framing) on
 * one side and SMB-Direct on the other (docs/tools/smbdirect-bridge.md).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_BRIDGE_RELAY_H
#define SMBDIRECT_BRIDGE_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"
#include "smbdirect_rdma.h"

enum br_mode {
	/** TCP clients in front, an SMB-Direct server behind. */
	BR_FORWARD,
	/** SMB-Direct clients in front, a TCP server behind. */
	BR_REVERSE,
};

/** Limits and behaviour of every relay of a bridge. */
struct br_config {
	enum br_mode mode;
	struct smbdirect_settings settings;
	/** Largest Direct TCP frame read before it is processed. */
	uint32_t max_frame;
	/** Bytes queued towards one side before the other is paused
	 *  (TCP) or the connection ends (SMB-Direct: no flow control). */
	uint64_t max_queue;
	/** Registered staging memory for RDMA per connection. */
	uint64_t max_rdma_memory;
	/** Reverse: buffer descriptors accepted in one request. */
	size_t max_descs;
	/** Reverse: RDMA READs awaiting the server's response;
	 *  forward: READ/WRITEs the bridge turned into RDMA ones. */
	size_t max_pending;
	/** Forward: turn unsigned READ/WRITEs of at least this many bytes
	 *  into RDMA-channel ones (0: only those that would not fit). */
	uint32_t rdma_threshold;
	/** Forward: leave NEGOTIATE responses alone. */
	bool no_clamp;
	/** Reverse: pass encrypted and compressed messages, which the
	 *  bridge cannot inspect for an RDMA channel. */
	bool allow_opaque;
	/** Test knob (SMBDIRECT_BRIDGE_CORRUPT): flip one data byte of every
	 *  READ response (forward) or RDMA-read WRITE payload (reverse). */
	bool corrupt;
	/** Print what happens to each message (-v -v). */
	int verbose;
};

/** What a relay did; printed at its end and on SIGUSR1. */
struct br_stats {
	uint64_t tcp_frames_in;
	uint64_t tcp_bytes_in;
	uint64_t tcp_frames_out;
	uint64_t tcp_bytes_out;
	uint64_t sd_msgs_in;
	uint64_t sd_bytes_in;
	uint64_t sd_msgs_out;
	uint64_t sd_bytes_out;
	uint64_t compounds;
	uint64_t opaque;             /* encrypted/compressed/SMB1 passed */
	uint64_t rdma_read_ops;      /* reverse WRITE offloads */
	uint64_t rdma_read_bytes;
	uint64_t rdma_write_ops;     /* reverse READ offloads */
	uint64_t rdma_write_bytes;
	uint64_t send_invalidate;
	uint64_t fwd_write_rdma;     /* forward WRITEs sent as RDMA */
	uint64_t fwd_read_rdma;      /* forward READs sent as RDMA */
	uint64_t fwd_rdma_bytes;
	uint64_t negotiate_clamped;
	uint64_t refused;
};

struct br_relay;

/**
 * Start relaying between a connected TCP socket and an SMB-Direct
 * connection. The fd is taken over (closed with the relay); the
 * connection stays the caller's, to be freed after the relay.
 * @param name For logs: "TCP-PEER <-> SMBDIRECT-PEER".
 */
struct br_relay *br_relay_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				const struct br_config *cfg, int fd,
				struct smbdirect_conn *conn, const char *name);

/** Whether the relay has ended (then its end was logged). */
bool br_relay_ended(const struct br_relay *relay);

/** End the relay now, logging @p reason. */
void br_relay_stop(struct br_relay *relay, const char *reason);

/** Log the counters (at the end and on SIGUSR1). */
void br_relay_log_stats(const struct br_relay *relay, const char *when);

/** The counters. */
const struct br_stats *br_relay_stats(const struct br_relay *relay);

/** printf-style log line to stderr: "smbdirect-bridge[pid]: ...". */
void br_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* SMBDIRECT_BRIDGE_RELAY_H */
