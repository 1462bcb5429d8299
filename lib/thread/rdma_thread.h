/*
 * libsmbdirect: where RDMA calls run (lib/thread/rdma_thread.c), as the
 * RDMA binding (lib/rdma/) sees it. Not installed.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The kernel refuses a write() on an rdma_cm or uverbs fd from any
 * credential object but the one that opened it (docs/fork-and-credentials.md).
 * In caller-thread mode every call below runs here and now; in RDMA-thread
 * mode (smbdirect_set_thread_mode()) it runs on the one thread the library
 * owns, which opened every rdma fd and never changes credentials. This
 * layer knows verbs and rdma_cm objects, never a connection.
 */
#ifndef SMBDIRECT_RDMA_THREAD_H
#define SMBDIRECT_RDMA_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <talloc.h>
#include <tevent.h>

#include "smbdirect_rdma.h"

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

struct sd_watch;

/* Queue a chain of work requests to `rt`, which posts consecutive chains
 * to one QP with one doorbell. The work requests are copied (their
 * scatter/gather entries too; the memory they point at is not). Returns 0,
 * or ENOMEM / EINVAL (more SGEs than a queued post carries); a failure
 * of the post itself reaches `watch` later as an event with post_failed
 * set. */
int sd_rt_post_send(struct sd_rt *rt, struct ibv_qp *qp,
		    struct sd_watch *watch, struct ibv_send_wr *wr);
int sd_rt_post_recv(struct sd_rt *rt, struct ibv_qp *qp,
		    struct sd_watch *watch, struct ibv_recv_wr *wr);

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
 * delivery at once (synchronously with the thread). With channel NULL
 * (a forked child's connection, whose id is elsewhere) it delivers only
 * failed posts. */
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

#endif
