/*
 * libsmbdirect: internals of the RDMA binding (not installed).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_RDMA_PRIVATE_H
#define SMBDIRECT_RDMA_PRIVATE_H

#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"
#include "smbdirect_rdma.h"

/* Work request ids: the low 3 bits say what completed. */
#define SD_WR_RECV 1u      /* upper bits: receive slot index */
#define SD_WR_SEND 2u      /* an engine send (header+payload copy) */
#define SD_WR_RDMA 3u      /* upper bits: struct sd_rdma_op pointer */
#define SD_WR_LOCAL 4u     /* bind/invalidate of an exposure */
#define SD_WR_TAG_MASK 7u

/* Most work requests of RDMA reads/writes in the send queue at once. */
#define SD_RDMA_WR_BUDGET 64u
/* Completions taken per ibv_poll_cq call. */
#define SD_POLL_BATCH 16

struct sd_rdma_op;
struct sd_send_req;
struct sd_recv_req;

/* A received message waiting for smbdirect_recv_send(). */
struct sd_queued_msg {
	uint8_t *data;
	size_t length;
};

struct smbdirect_conn {
	struct tevent_context *ev;
	enum smbdirect_role role;
	struct smbdirect_settings settings;
	char peer[80];

	/* rdma_cm */
	struct rdma_event_channel *cm_channel;
	struct rdma_cm_id *id;
	struct sd_watch *watch;       /* CM events (and, in thread mode,
					 failed posts) of cm_channel */
	bool own_cm_channel;
	/* RDMA-thread mode: which posts go through the thread (provider
	 * rule, lib/rdma_thread.c) */
	bool post_send_via_thread;
	bool post_recv_via_thread;

	/* verbs: our own device context (never librdmacm's cached one, so
	 * a forked child and a credential-owning thread work the same) */
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	struct ibv_comp_channel *comp;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct tevent_fd *cq_fde;
	uint32_t cq_events_unacked;
	uint32_t max_sge;
	uint32_t max_inline;
	uint32_t max_rd_atomic;      /* RDMA reads we may have in flight */
	uint32_t max_msg_size;       /* per RDMA work request */
	uint8_t responder_resources;
	uint8_t initiator_depth;
	/* Exposures use type-2 memory windows (else per-I/O MRs). */
	bool use_mw;

	/* receive pool: one registered region of recv_count slots */
	uint8_t *recv_mem;
	struct ibv_mr *recv_mr;
	uint32_t recv_size;
	uint32_t recv_count;
	uint32_t *recv_free;          /* stack of free slot indexes */
	uint32_t recv_free_count;

	/* send pool: slots used and completed in order (a ring) */
	uint8_t *send_mem;
	struct ibv_mr *send_mr;
	uint32_t send_slot_size;
	uint32_t send_slots;
	uint32_t send_next;
	uint32_t sends_posted;        /* engine sends not yet completed */
	uint32_t sq_depth;
	uint32_t sq_used;             /* work requests in the send queue */

	/* protocol engine */
	struct smbdirect_engine *engine;
	uint64_t timer_at;
	struct tevent_timer *timer;

	/* upper layer */
	struct smbdirect_conn_handlers handlers;
	void *handlers_private;
	struct sd_send_req *send_reqs;     /* waiting for send_done */
	struct sd_recv_req *recv_reqs;     /* waiting for a message */
	struct sd_queued_msg *recv_queue;  /* messages for recv_send() */
	uint32_t recv_queue_capacity;
	uint32_t recv_queue_first;
	uint32_t recv_queue_count;

	/* RDMA operations: posted (in order) and waiting for SQ room */
	struct sd_rdma_op *rdma_posted;
	struct sd_rdma_op *rdma_waiting;
	uint32_t rdma_reads_in_flight;

	/* exposures alive, to mark invalidations by the peer */
	struct smbdirect_exposure *exposures;

	/* send work requests collected while busy (one chain, one doorbell) */
	struct ibv_send_wr *send_batch;
	struct ibv_sge *send_batch_sge;
	uint32_t send_batch_count;
	uint32_t send_batch_capacity;

	/* life cycle */
	uint32_t busy;         /* inside an entry point: free is deferred */
	bool free_pending;
	bool connected;        /* negotiation done */
	bool ended;            /* terminated callback ran */
	bool disconnect_sent;
	enum smbdirect_reason reason;
	char detail[192];
	/* connect/accept in progress: told once, when negotiation
	 * succeeded (conn->connected) or the connection ended first. */
	void (*setup_done)(struct smbdirect_conn *conn, void *arg);
	void *setup_arg;

	struct smbdirect_conn_stats stats;
};

/* --- where RDMA calls run (lib/rdma_thread.c) ----------------------------- */

/* The process's RDMA thread; NULL in caller-thread mode. */
struct sd_rt;
struct sd_rt *sd_rt_current(void);

/* Counters of the RDMA thread (under its lock). */
struct sd_rt_stats {
	uint64_t calls;          /* synchronous calls run */
	uint64_t posts;          /* ibv_post_send/recv calls (chains) */
	uint64_t work_requests;  /* work requests in them */
	uint64_t wakeups;        /* returns from epoll_wait */
};
void sd_rt_get_stats(struct sd_rt_stats *stats);

/* Run fn(arg) where rdma fds may be written: on the RDMA thread (the
 * caller blocks), or right here in caller-thread mode. Returns fn's result
 * with fn's errno. fn must not call sd_call(). */
int sd_call(int (*fn)(void *arg), void *arg);

/* Post a chain of work requests on conn's QP now: directly, or (thread
 * mode, per the provider rule) queued to the thread, which posts
 * consecutive chains to one QP with one doorbell. Queued posts return 0; a
 * later failure reaches conn->watch as an event with post_failed set. */
int sd_post_send_now(struct smbdirect_conn *conn, struct ibv_send_wr *wr);
int sd_post_recv(struct smbdirect_conn *conn, struct ibv_recv_wr *wr);

/* Post send work requests: while the connection is held (inside one of
 * its entry points) they are collected and go down as one chain when the
 * outermost entry point returns (sd_conn_release); otherwise now.
 * Receives are never deferred, so a receive is always posted before the
 * send that grants its credit. */
int sd_post_send(struct smbdirect_conn *conn, struct ibv_send_wr *wr);

/* The provider rule: must sends / receives on this device go through the
 * RDMA thread (in thread mode)? */
void sd_post_rule(struct ibv_context *verbs, bool *send_via_thread,
		  bool *recv_via_thread);
bool sd_device_is_rxe(struct ibv_context *verbs);

/* Around fork(): park the thread (prepare), let it go on (parent), give
 * the child a thread of its own before anything else (child; returns 0 or
 * an errno value). */
void sd_rt_fork_prepare(void);
void sd_rt_fork_parent(void);
int sd_rt_fork_child(void);

/* An rdma_cm event, copied out of librdmacm's (which is acked at once). */
struct sd_cm_event {
	enum rdma_cm_event_type type;
	int status;
	struct rdma_cm_id *id;
	struct rdma_cm_id *listen_id;
	uint8_t responder_resources;
	uint8_t initiator_depth;
	/* Not an rdma_cm event: reading the channel failed with this errno
	 * (EACCES: credentials changed), or with post_failed, a queued post
	 * failed with it. */
	int error;
	bool post_failed;
};

/* A watch delivers the events of one rdma_cm event channel to a handler
 * on a tevent context: read there (caller-thread mode) or read by the
 * RDMA thread and handed over through an eventfd. Freeing it stops
 * delivery at once (synchronously with the thread). */
struct sd_watch;
typedef void (*sd_watch_fn)(const struct sd_cm_event *event, void *priv);
struct sd_watch *sd_watch_new(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
			      struct rdma_event_channel *channel,
			      sd_watch_fn fn, void *priv);
void sd_watch_set_handler(struct sd_watch *watch, sd_watch_fn fn, void *priv);
/* In a forked child: drop a watch inherited from the parent without
 * touching the parent's channel or thread. */
void sd_watch_forget(struct sd_watch *watch);

/* rdma_cm helpers that run where sd_call() runs them. */
struct rdma_event_channel *sd_channel_new(int *error); /* O_NONBLOCK */
void sd_channel_free(struct rdma_event_channel *channel);
void sd_id_free(struct rdma_cm_id *id);
int sd_disconnect_id(struct rdma_cm_id *id); /* 0 or an errno value */

/* Keep the connection alive across callbacks; release returns false if
 * it was freed meanwhile (and is gone now). */
void sd_conn_hold(struct smbdirect_conn *conn);
bool sd_conn_release(struct smbdirect_conn *conn);

/* Monotonic nanoseconds. */
uint64_t sd_now(void);

/* "ADDR:PORT" of a sockaddr. */
void sd_format_addr(const struct sockaddr *sa, char *buf, size_t size);

/* Log a line naming the peer (stderr; DBG-style levels come later). */
void sd_log(const struct smbdirect_conn *conn, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Create the connection object around an id (with its own event channel
 * already) for `role`. Opens our own device context, PD, CQ, QP (INIT) and
 * the pools, and the engine. `watch` (may be NULL: one is made) watches
 * the channel and becomes the connection's on success. */
struct smbdirect_conn *sd_conn_new(TALLOC_CTX *mem_ctx,
				   struct tevent_context *ev,
				   enum smbdirect_role role,
				   const struct smbdirect_settings *settings,
				   struct rdma_event_channel *channel,
				   struct rdma_cm_id *id, struct sd_watch *watch,
				   int *error);

/* The connection's CM event handler (a sd_watch_fn). */
void sd_conn_cm_event(const struct sd_cm_event *event, void *priv);

/* A post failed with `error`; an RDMA call failed with `error` (EACCES:
 * credentials changed). Both log and end the connection. */
void sd_post_failed(struct smbdirect_conn *conn, const char *what, int error);
void sd_rdma_call_failed(struct smbdirect_conn *conn, const char *what,
			 int error);

/* rdma_disconnect of the connection's id (logs EACCES). */
void sd_conn_disconnect(struct smbdirect_conn *conn);

/* Move the QP to RTR and RTS (after the CM exchange gave the
 * parameters). */
int sd_conn_qp_ready(struct smbdirect_conn *conn);

/* Start watching the CM channel and the CQ. */
int sd_conn_watch(struct smbdirect_conn *conn);

/* Re-arm the engine timer if needed. */
void sd_conn_update_timer(struct smbdirect_conn *conn);

/* End the connection with a reason (transport side). */
void sd_conn_fail(struct smbdirect_conn *conn, enum smbdirect_reason reason,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Called by the engine's connected/terminated callbacks. */
void sd_conn_negotiated(struct smbdirect_conn *conn);

/* Try to post waiting RDMA operations (SQ room freed). */
void sd_rdma_kick(struct smbdirect_conn *conn);
/* A completion for an RDMA operation (success or failure). */
void sd_rdma_completed(struct smbdirect_conn *conn, struct sd_rdma_op *op,
		       const struct ibv_wc *wc);
/* Fail every RDMA operation (connection ended). */
void sd_rdma_fail_all(struct smbdirect_conn *conn);
/* The peer invalidated `rkey` (send-with-invalidate). */
void sd_exposure_invalidated(struct smbdirect_conn *conn, uint32_t rkey);

#endif
