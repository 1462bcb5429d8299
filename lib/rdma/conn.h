/*
 * libsmbdirect: the RDMA binding's internals: one connection's state and
 * the functions the binding's files give each other. Not installed.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The binding carries the protocol core's actions (lib/core/engine.c) out
 * on an RC queue pair, on tevent. Its files, lowest first; each uses only
 * those above it (and the core and lib/thread):
 *
 *   util.c        time, addresses, the log
 *   half_open.c   the listener's count of negotiating connections
 *   proxy.c       a forked child's rdma_cm calls, made by the listener's
 *                 process, which keeps the child's id
 *   end.c         how a connection ends: a reason, a log line, disconnect
 *   post.c        entry points (hold/release), send batching, posting
 *   timer.c       the engine's one deadline as a tevent timer
 *   verbs.c       device context, PD, CQ, QP, registered pools; release
 *   memory.c      lent buffers, exposures (an rkey per I/O)
 *   rdma_io.c     RDMA read/write against the peer's descriptors
 *   messages.c    the message API: send and receive requests
 *   transport.c   the engine's callbacks: receives, sends, deliveries, end
 *   completion.c  the CQ: events, polling, each completion to its owner
 *   cm.c          CM events of an established connection
 *   conn.c        the connection object: creation, teardown, queries
 *   listen.c      listener, connection requests
 *   fork.c        fork-per-connection
 *   accept.c      the passive side's accept
 *   connect.c     the active side
 *
 * A received message goes one way: completion.c (sd_cq_readable, poll,
 * recv_completed) -> the core (smbdirect_engine_on_recv, wire.c decode,
 * reassembly, credits) -> transport.c (cb_deliver) -> the application's
 * handler, or messages.c's queue for smbdirect_recv_send().
 */
#ifndef SMBDIRECT_RDMA_CONN_H
#define SMBDIRECT_RDMA_CONN_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <talloc.h>
#include <tevent.h>

#include "rdma_thread.h"
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
/* Messages waiting for smbdirect_recv_send() hold at most this many
 * times max_fragmented_size bytes (and at most receive_credit_max + 1
 * messages): a peer cannot make an application that does not read hold
 * more (docs/robustness.md, "Memory per connection"). */
#define SD_RECV_QUEUE_FRAGMENTED_MAX 4u

struct sd_rdma_op;
struct sd_send_req;
struct sd_recv_req;
struct sd_half_open;
struct sd_cm_proxy;
struct sd_proxied;

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
	struct sockaddr_storage local_addr;
	struct sockaddr_storage peer_addr;

	/* rdma_cm */
	struct rdma_event_channel *cm_channel;
	struct rdma_cm_id *id;
	struct sd_watch *watch;       /* CM events (and, in thread mode,
					 failed posts) of cm_channel */
	bool own_cm_channel;
	/* The RDMA thread that posts our sends / receives (thread mode and
	 * the provider rule, post.c), or NULL: posted here directly. */
	struct sd_rt *send_rt;
	struct sd_rt *recv_rt;

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
	/* ... each bound to a registration of its own range, because the
	 * device checks a window's accesses against the registration under
	 * it, not the window (rxe, memory.c). */
	bool mw_own_mr;

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
	uint64_t recv_queue_bytes;

	/* RDMA operations: waiting for SQ room, and posted (in order) */
	struct sd_rdma_op *rdma_waiting;
	struct sd_rdma_op *rdma_posted;
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
	/* Accepted: its place in the listener's half-open count until it
	 * negotiated or ended (listen.c). */
	struct sd_half_open *half_open;
	/* Accepted in a forked child: the id is the listener's process's,
	 * which makes our rdma_cm calls and forwards the id's events
	 * (proxy.c); id and cm_channel are NULL. */
	struct sd_cm_proxy *proxy;

	struct smbdirect_conn_stats stats;

	/* Served by a relay in another process (remote.c): no verbs here,
	 * every entry point goes over the relay's stream. */
	struct sd_remote *remote;
	const struct sd_remote_ops *remote_ops;
};

/* Registered memory lent to the application (memory.c). */
struct smbdirect_buffer {
	struct smbdirect_buffer *prev, *next; /* a relayed conn's list */
	struct smbdirect_conn *conn;
	uint8_t *data;
	size_t size;
	struct ibv_mr *mr;
	bool foreign;        /* data is the caller's (sd_buffer_wrap) */
	uint64_t remote_id;  /* a relayed connection's shared buffer */
};

/* Register memory the caller owns and keeps mapped while the buffer lives
 * (the relay's view of a buffer shared with the owning process). */
struct smbdirect_buffer *sd_buffer_wrap(TALLOC_CTX *mem_ctx,
					struct smbdirect_conn *conn,
					void *data, size_t size);

/* --- remote.c: a relayed connection's entry points ---------------------- */

/* remote.c fills this table for a connection a relay serves; the files
 * below call through it, so none of them depends on remote.c. */
struct sd_remote_ops {
	void (*fail)(struct smbdirect_conn *conn, enum smbdirect_reason reason,
		     const char *detail);
	const struct smbdirect_params *(*params)(
		const struct smbdirect_conn *conn);
	void (*disconnect)(struct smbdirect_conn *conn);
	struct tevent_req *(*send)(void *mem_ctx, struct tevent_context *ev,
				   struct smbdirect_conn *conn,
				   const struct iovec *iov, int iovcnt,
				   bool invalidate, uint32_t remote_rkey);
	struct tevent_req *(*rdma)(
		void *mem_ctx, struct tevent_context *ev,
		struct smbdirect_conn *conn, bool write,
		struct smbdirect_buffer *local, size_t offset, size_t length,
		const struct smbdirect_buffer_descriptor *remote,
		size_t count);
	struct smbdirect_buffer *(*buffer_new)(void *mem_ctx,
					       struct smbdirect_conn *conn,
					       size_t size);
};

/* --- util.c ------------------------------------------------------------- */

/* Monotonic nanoseconds. */
static inline uint64_t sd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of a sockaddr. */
void sd_format_addr(const struct sockaddr *sa, char *buf, size_t size);

/* Whether an AF_INET/AF_INET6 address is a loopback or the wildcard
 * address (an IPv4-mapped IPv6 one included). */
bool sd_addr_is_loopback_or_any(const struct sockaddr *sa);

/* Log a line about `conn` (or, without one, about `peer`, "ADDR:PORT" or
 * NULL) through the host's hook (smbdirect_set_log_fn), stderr by
 * default. */
void sd_log(enum smbdirect_log_level level, const struct smbdirect_conn *conn,
	    const char *peer, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Whether a request failed, and with which errno value: its own, or
 * ETIMEDOUT / ENOMEM / EIO for tevent's other ways of failing. */
static inline bool sd_req_is_error(struct tevent_req *req, int *err)
{
	enum tevent_req_state state;
	uint64_t error;

	if (!tevent_req_is_error(req, &state, &error)) {
		return false;
	}
	switch (state) {
	case TEVENT_REQ_USER_ERROR:
		*err = error != 0 ? (int)error : EIO;
		break;
	case TEVENT_REQ_TIMED_OUT:
		*err = ETIMEDOUT;
		break;
	case TEVENT_REQ_NO_MEMORY:
		*err = ENOMEM;
		break;
	default:
		*err = EIO;
		break;
	}
	return true;
}

/* The result of a request with no output (send, RDMA read/write): 0 or
 * the errno value it failed with. */
static inline int sd_req_simple_recv(struct tevent_req *req)
{
	int err = 0;

	if (!sd_req_is_error(req, &err)) {
		err = 0;
	}
	tevent_req_received(req);
	return err;
}

/* --- end.c -------------------------------------------------------------- */

/* End the connection with a reason (transport side). */
void sd_conn_fail(struct smbdirect_conn *conn, enum smbdirect_reason reason,
		  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A post failed with `error`; an RDMA call failed with `error` (EACCES:
 * credentials changed). Both log and end the connection. */
void sd_post_failed(struct smbdirect_conn *conn, const char *what, int error);
void sd_rdma_call_failed(struct smbdirect_conn *conn, const char *what,
			 int error);

/* rdma_disconnect of the connection's id (logs EACCES). */
void sd_conn_disconnect(struct smbdirect_conn *conn);

/* --- post.c ------------------------------------------------------------- */

/* Post what was collected now (after a batch of completions). */
void sd_send_batch_flush(struct smbdirect_conn *conn);

/* Keep the connection alive across callbacks; release returns false if
 * it was freed meanwhile (and is gone now). Callbacks may free the
 * connection (a tevent callback that gives up, a disconnected handler):
 * entry points hold it, and a free inside is deferred until the outermost
 * one returns. The outermost release posts what the entry point collected
 * (sd_post_send). Inline: they frame every entry point. */
static inline void sd_conn_hold(struct smbdirect_conn *conn)
{
	conn->busy += 1;
}

static inline bool sd_conn_release(struct smbdirect_conn *conn)
{
	if (conn->busy == 1 && !conn->free_pending &&
	    conn->send_batch_count > 0) {
		/* Still held: a failure here runs callbacks safely. */
		sd_send_batch_flush(conn);
	}
	conn->busy -= 1;
	if (conn->busy == 0 && conn->free_pending) {
		talloc_free(conn);
		return false;
	}
	return true;
}

/* Post send work requests: while the connection is held (inside one of
 * its entry points) they are collected and go down as one chain when the
 * outermost entry point returns; otherwise now. Receives are never
 * deferred, so a receive is always posted before the send that grants
 * its credit. */
int sd_post_send(struct smbdirect_conn *conn, struct ibv_send_wr *wr);
int sd_post_recv(struct smbdirect_conn *conn, struct ibv_recv_wr *wr);

/* The provider rule: must sends / receives on this device go through the
 * RDMA thread (in thread mode)? */
void sd_post_rule(struct ibv_context *verbs, bool *send_via_thread,
		  bool *recv_via_thread);

/* --- timer.c ------------------------------------------------------------ */

/* Re-arm the engine timer if its deadline moved earlier. */
void sd_conn_update_timer(struct smbdirect_conn *conn);

/* --- verbs.c ------------------------------------------------------------ */

/* Open our own device context on the id's device, query its limits and
 * create the PD, completion channel, CQ, the QP (INIT) and the registered
 * receive and send pools. Runs the verbs calls where sd_call() runs them.
 * Returns 0 or an errno value; what was made is released by
 * sd_verbs_release(). */
int sd_verbs_create(struct smbdirect_conn *conn);

/* Move the QP to RTR and RTS (after the CM exchange gave the
 * parameters). */
int sd_conn_qp_ready(struct smbdirect_conn *conn);

/* Release every verbs and rdma_cm object of the connection, in reverse
 * order of creation (tolerates a partial set-up). */
void sd_verbs_release(struct smbdirect_conn *conn);

/* --- memory.c ----------------------------------------------------------- */

/* The peer invalidated `rkey` (send-with-invalidate). */
void sd_exposure_invalidated(struct smbdirect_conn *conn, uint32_t rkey);
/* The connection is being freed: its exposures forget it. */
void sd_exposures_orphan(struct smbdirect_conn *conn);

/* --- rdma_io.c ---------------------------------------------------------- */

/* Try to post waiting RDMA operations (SQ room freed). */
void sd_rdma_kick(struct smbdirect_conn *conn);
/* A completion for an RDMA operation (success or failure). */
void sd_rdma_completed(struct smbdirect_conn *conn, struct sd_rdma_op *op,
		       const struct ibv_wc *wc);
/* Fail every RDMA operation (connection ended). */
void sd_rdma_fail_all(struct smbdirect_conn *conn);
/* The connection is being freed: its RDMA operations forget it. */
void sd_rdma_orphan_all(struct smbdirect_conn *conn);

/* --- messages.c --------------------------------------------------------- */

/* An engine message (a send request's) completed, or failed with
 * `error`. */
void sd_send_req_done(struct smbdirect_conn *conn,
		      struct smbdirect_engine_msg *msg, int error);
/* A delivered message when no message handler is set: to the oldest
 * waiting smbdirect_recv_send() request, or queued (bounded). */
void sd_queue_message(struct smbdirect_conn *conn, const uint8_t *data,
		      size_t length);
/* Fail every waiting send and receive request (the connection ended). */
void sd_fail_requests(struct smbdirect_conn *conn);
/* The connection is being freed: its requests forget it. */
void sd_orphan_requests(struct smbdirect_conn *conn);

/* --- transport.c -------------------------------------------------------- */

/* The engine's callbacks, carried out on the connection's QP. */
extern const struct smbdirect_engine_callbacks sd_engine_callbacks;

/* --- completion.c ------------------------------------------------------- */

/* Poll until the CQ is empty. Returns the number of completions, or -1 if
 * the connection was freed from a callback. */
int sd_conn_poll_cq(struct smbdirect_conn *conn);
/* The completion channel's tevent handler. */
void sd_cq_readable(struct tevent_context *ev, struct tevent_fd *fde,
		    uint16_t flags, void *priv);

/* --- cm.c --------------------------------------------------------------- */

/* The connection's CM event handler (a sd_watch_fn). */
void sd_conn_cm_event(const struct sd_cm_event *event, void *priv);

/* Start watching the CM channel and the CQ. */
int sd_conn_watch(struct smbdirect_conn *conn);

/* --- conn.c ------------------------------------------------------------- */

/* Create the connection object around an id (with its own event channel
 * already), or, in a forked child, around a proxy (taken over; id and
 * channel NULL), for `role`. Opens our own device context, PD, CQ, QP (INIT) and
 * the pools, and the engine. `watch` (may be NULL: one is made) watches
 * the channel and becomes the connection's on success. */
struct smbdirect_conn *sd_conn_new(
	TALLOC_CTX *mem_ctx, struct tevent_context *ev, enum smbdirect_role role,
	const struct smbdirect_settings *settings,
	struct rdma_event_channel *channel, struct rdma_cm_id *id,
	struct sd_cm_proxy *proxy, struct sd_watch *watch, int *error);

/* A set-up request (connect or accept) is told its connection negotiated
 * (done) or ended first (error: ETIMEDOUT for a negotiation timeout, else
 * EPROTO; the reason goes to *state_reason). */
void sd_conn_setup_done(struct smbdirect_conn *conn, struct tevent_req *req,
			enum smbdirect_reason *state_reason);

/* The result of a set-up request (connect or accept) whose state keeps
 * the connection in *conn and the reason of a failure in *state_reason:
 * 0 and the connection (talloc-stolen to mem_ctx), or an errno value. */
int sd_conn_setup_recv(struct tevent_req *req, void *mem_ctx,
		       struct smbdirect_conn **state_conn,
		       enum smbdirect_reason state_reason,
		       struct smbdirect_conn **conn,
		       enum smbdirect_reason *reason);


/* --- listen.c ----------------------------------------------------------- */

/* A listening endpoint: an rdma_cm id without a QP. */
struct smbdirect_listener {
	struct tevent_context *ev;
	struct rdma_event_channel *channel;
	struct rdma_cm_id *id;
	struct sd_watch *watch;
	int backlog;
	smbdirect_request_fn on_request;
	void *private_data;
	struct sockaddr_storage address;
	pid_t pid;        /* the process that listens */
	/* Connections between their request and the end of negotiation
	 * (smbdirect_listener_set_limits()). */
	struct sd_half_open *half_open;
	unsigned int half_open_count;
	unsigned int max_half_open;
	unsigned int max_half_open_per_peer;
	uint64_t rejected;          /* requests refused over a limit */
	uint64_t rejected_logged;   /* ... of which told in the log */
	uint64_t rejected_log_at;   /* when the log last told (ns) */
	/* Connections handed to forked children: their ids stay here
	 * (proxy.c), one record each until the child is done with it. */
	struct sd_proxied *proxied;
	unsigned int proxied_count;
};

/* A connection request that arrived at a listener. */
struct smbdirect_conn_request {
	struct smbdirect_listener *listener; /* NULL once migrated */
	struct rdma_event_channel *channel;  /* set once migrated */
	struct rdma_cm_id *id;
	uint8_t responder_resources;
	uint8_t initiator_depth;
	char peer[80];
	/* Its place in the listener's half-open count, or NULL. */
	struct sd_half_open *half_open;
	/* In a forked child: the way to the id, which stays in the
	 * listener's process (proxy.c); id is NULL. */
	struct sd_cm_proxy *proxy;
};

/* Give the request's id an event channel of its own (rdma_migrate_id). */
int sd_request_migrate(struct smbdirect_conn_request *r);

/* --- half_open.c ------------------------------------------------------- */

/* One connection between its request and the end of its negotiation:
 * what the listener's limits count. */
struct sd_half_open {
	struct sd_half_open *prev, *next;
	struct smbdirect_listener *listener;
	/* The pointer that holds it (a request's, a connection's or a
	 * forked child's record), set to NULL if the listener goes first. */
	struct sd_half_open **holder;
	struct sockaddr_storage addr; /* the peer's, port 0 */
};

/* A new place in l's count for a peer (its address, port 0); the caller
 * sets its holder. NULL without memory. */
struct sd_half_open *sd_half_open_new(struct smbdirect_listener *l,
				      const struct sockaddr_storage *addr);
/* A place is held by one pointer (a request's, then its connection's, or
 * in the listener's process the record of a forked child's connection):
 * move it there, or give it back (NULL is fine). */
void sd_half_open_move(struct sd_half_open **to, struct sd_half_open **from);
void sd_half_open_release(struct sd_half_open **place);
/* A connection negotiated or ended: its place is given back (a forked
 * child's, by telling the listener's process; listen.c). */
void sd_conn_half_open_done(struct smbdirect_conn *conn);

/* --- proxy.c ------------------------------------------------------------ */

/* What a forked child knows of its connection's id, read by the
 * listener's process before fork(), and the child's end of the socket
 * to that process. */
struct sd_cm_proxy {
	int fd;
	struct ibv_device *device;
	uint8_t port_num;
	/* rdma_init_qp_attr for INIT, RTR and RTS */
	struct ibv_qp_attr qp_attr[3];
	int qp_mask[3];
	struct sockaddr_storage local_addr;
	struct sockaddr_storage peer_addr;
	struct tevent_fd *fde;        /* watched by its connection (cm.c) */
	bool negotiated_told;
	bool disconnect_told;
};

/* rdma_accept of a passive id with a QP already in RTS (ours, or a
 * forked child's), where sd_call() runs it. 0 or an errno value. */
int sd_accept_id(struct rdma_cm_id *id, uint32_t qp_num,
		 uint8_t responder_resources, uint8_t initiator_depth);
/* Parent, before fork(): read the id's QP attributes and addresses, and
 * make the socket. Returns NULL with *error set. */
struct sd_cm_proxy *sd_cm_proxy_prepare(TALLOC_CTX *mem_ctx,
					struct rdma_cm_id *id, int *parent_fd,
					int *error);
/* Parent, after fork(): keep the request's id (and its half-open place)
 * for the child on the other end of parent_fd. 0 or an errno value (the
 * caller then rejects the request). */
int sd_proxied_new(struct smbdirect_listener *l,
		   struct smbdirect_conn_request *r, int parent_fd);
/* Parent: an event of the listener's channel for a proxied id; false if
 * the id is none of them. */
bool sd_proxied_event(struct smbdirect_listener *l,
		      const struct sd_cm_event *event);
/* Parent: take what children said (their negotiation ended); before
 * counting half-open places. */
void sd_proxied_poll(struct smbdirect_listener *l);
/* Parent: end every child's connection (the listener goes), or, in a
 * forked process, drop the records without touching the ids. */
void sd_proxied_free_all(struct smbdirect_listener *l, bool forked);

/* Child: accept with our QP (the listener's process calls rdma_accept). */
int sd_cm_proxy_accept(struct smbdirect_conn *conn);
/* Child: what the listener's process said: 1 with the event (type and
 * status), 2 if its rdma_accept failed (*error), 0 if it dropped the id
 * (end of file, or *error), -1 if nothing is waiting. */
int sd_cm_proxy_read(struct sd_cm_proxy *proxy,
		     struct sd_cm_event *event, int *error);
/* Child: negotiation ended; the half-open place goes. */
void sd_cm_proxy_negotiated(struct sd_cm_proxy *proxy);
/* Child: rdma_disconnect, by the listener's process. */
void sd_cm_proxy_disconnect(struct sd_cm_proxy *proxy);

#endif
