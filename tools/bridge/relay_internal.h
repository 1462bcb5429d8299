/*
 * smbdirect-bridge: what the relay's files share (relay.c, and one file
 * per direction: forward.c and reverse.c). The relay is driven by relay.c;
 * it hands each SMB2 message to the direction's code, which rewrites it
 * and queues it back with enqueue().
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_BRIDGE_RELAY_INTERNAL_H
#define SMBDIRECT_BRIDGE_RELAY_INTERNAL_H

#include "relay.h"
#include "smb2.h"

/* Memory written by RDMA (the device, or rxe in the kernel) is invisible
 * to memcheck, which would call it uninitialised: say it is defined once
 * the transfer is known to be complete. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RDMA_PLACED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef RDMA_PLACED
#define RDMA_PLACED(p, n) ((void)(p), (void)(n))
#endif

/* --- objects ------------------------------------------------------------ */

/* Registered staging memory, cached by size class (relay.c). */
struct br_pbuf {
	struct br_pbuf *next;
	struct smbdirect_buffer *buf;
	size_t size;
};

/* One RDMA operation an item waits for (reverse.c). */
struct br_job;

/* One message on its way to one side, in that side's queue. */
struct br_item {
	struct br_item *next;
	struct br_relay *relay;
	bool to_tcp;
	uint8_t *orig;                /* the message as it arrived */
	size_t orig_len;
	struct br_piece *pieces;      /* NULL: the message goes unchanged */
	size_t npieces;
	unsigned int waiting;         /* jobs not finished */
	bool rewritten;               /* a piece no longer points into orig */
	bool ready;
	uint8_t hdr[BR_TCP_HDR];
	const uint8_t *data;          /* what goes out */
	size_t len;
	size_t sent;                  /* to TCP, including the header */
	bool invalidate;
	uint32_t rkey;
};

/* An RDMA-channel I/O the bridge remembers until its response. */
struct br_pending {
	struct br_pending *next;
	uint64_t message_id;
	uint16_t command;
	uint32_t channel;
	/* reverse READ: the client's buffers */
	struct smbdirect_buffer_descriptor *descs;
	size_t count;
	uint64_t total;
	/* reverse WRITE with RDMA_V1_INVALIDATE: the token its response
	 * invalidates */
	uint32_t invalidate_token;
	/* forward: our exposed buffer */
	struct br_pbuf *buf;
	struct smbdirect_exposure *exposure;
	uint32_t capacity;
};

/* The items towards one side, in arrival order. */
struct queue {
	struct br_item *head;
	struct br_item *tail;
	uint64_t bytes;
};

/* One relayed connection. */
struct br_relay {
	const struct br_config *cfg;
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	const struct smbdirect_params *params;
	char *name;
	int fd;
	struct tevent_fd *fde;
	bool ended;
	bool tcp_eof;
	bool sd_gone;
	char *drain_reason;
	struct tevent_timer *drain_timer;
	/* TCP input */
	uint8_t in_hdr[BR_TCP_HDR];
	size_t in_hdr_got;
	uint8_t *in_frame;
	uint32_t in_len;
	size_t in_got;
	/* queues */
	struct queue to_tcp;
	struct queue to_sd;
	unsigned int sd_in_flight;
	/* RDMA */
	struct br_pending *pending;
	size_t npending;
	struct br_pbuf *pool;
	size_t pool_free;
	uint64_t rdma_mem;
	struct br_job *deferred;      /* reverse: jobs waiting for memory */
	struct br_job *deferred_tail;
	uint16_t dialect;             /* forward: from NEGOTIATE */
	struct br_stats stats;
};

/* --- relay.c: what both directions use ---------------------------------- */

/** End the relay once, logging the reason and the counters. */
void relay_end(struct br_relay *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** Registered staging memory of at least @p n bytes, from the cache. */
struct br_pbuf *pool_get(struct br_relay *r, size_t n);
/** Give it back (cached, or freed). */
void pool_put(struct br_relay *r, struct br_pbuf *b);
/** Room for @p n more bytes under max_rdma_memory. */
bool pool_room(struct br_relay *r, size_t n);

/** The RDMA-channel I/O with this MessageId, or NULL. */
struct br_pending *pending_find(struct br_relay *r, uint64_t mid);
/** Remember one (NULL, the relay ended, if it cannot be). */
struct br_pending *pending_add(struct br_relay *r, uint64_t mid,
			       uint16_t command);
/** Forget one: revoke its exposure, give back its buffer. */
void pending_remove(struct br_relay *r, struct br_pending *p);

/** A direction's handling of PDU @p i of a message; false if the relay
 *  ended. */
typedef bool (*br_pdu_fn)(struct br_relay *r, struct br_item *it, size_t i,
			  const struct br_pdu *pdu, void *arg);
/**
 * Split an SMB2 message into the item's pieces (@p pdus, @p count) and
 * hand each PDU to @p fn with @p arg. False if the split failed or @p fn
 * returned false: the relay has ended and the item is freed.
 */
bool each_pdu(struct br_relay *r, struct br_item *it, struct br_pdu *pdus,
	      size_t *count, br_pdu_fn fn, void *arg);
/** Parse the server's READ response in piece @p i; false (the relay
 *  ended) if it is malformed. */
bool read_response(struct br_relay *r, struct br_item *it, size_t i,
		   uint64_t mid, struct br_read_rsp *rsp);
/** Queue a message its direction has handled: as it arrived unless a
 *  piece was rewritten. */
void enqueue_handled(struct br_relay *r, struct br_item *it);
/** Build what goes out; false if it cannot. */
bool item_finish(struct br_item *it);
/** One RDMA operation the item waited for has finished. */
void item_job_done(struct br_item *it);
/** Queue the item towards its side, and send what is ready. */
void enqueue(struct br_relay *r, struct br_item *it);

/* --- the directions: an SMB2 message that arrived, as an item ---------- */

/** forward.c: a request from the TCP client. */
void fwd_from_client(struct br_relay *r, struct br_item *it);
/** forward.c: a response from the SMB-Direct server. */
void fwd_from_server(struct br_relay *r, struct br_item *it);
/** reverse.c: a request from the SMB-Direct client. */
void rev_from_client(struct br_relay *r, struct br_item *it);
/** reverse.c: a response from the TCP server. */
void rev_from_server(struct br_relay *r, struct br_item *it);

#endif /* SMBDIRECT_BRIDGE_RELAY_INTERNAL_H */
