/*
 * libsmbdirect: SMB-Direct connections over RDMA (librdmacm + libibverbs),
 * driven by a tevent event loop.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or (at your
 * option) any later version.
 */

/**
 * @file smbdirect_rdma.h
 * @brief The asynchronous API: connect, listen, accept (in process or in a
 *        forked child), messages, RDMA read/write against a peer's buffer
 *        descriptors, and memory exposure for the peer.
 *
 * Objects are talloc objects: freeing one releases what it holds at the
 * kernel (QP, MRs, CQ, event channel) in the right order. Asynchronous
 * calls are tevent `_send`/`_recv` pairs. No rdma-core type appears here.
 *
 * Callbacks run on the thread that owns the tevent context. Where the
 * RDMA calls themselves run is the process's thread mode
 * (smbdirect_set_thread_mode()): on that same thread (the default), or on
 * a thread the library owns, for processes whose threads change
 * credentials (see docs/architecture.md, "The RDMA thread").
 */
#ifndef SMBDIRECT_RDMA_H
#define SMBDIRECT_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <smbdirect.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tevent_context;
struct tevent_req;

/**
 * @brief Where the library issues RDMA calls, for the whole process.
 *
 * The kernel refuses a write() on an rdma_cm or uverbs file descriptor
 * from any credentials but those that opened it (EACCES). Every rdma_cm
 * call is such a write, and so is ibv_post_send on providers whose
 * doorbell is a system call (rxe, siw). A thread that changed its
 * credentials (setresuid, setresgid, setgroups, even back to the same
 * ids) can therefore no longer drive a connection it opened.
 */
enum smbdirect_thread_mode {
	/**
	 * Every RDMA call runs on the caller's thread. The default: the
	 * cheapest, for processes that never change credentials. In a
	 * process that does, the first RDMA call after a change fails with
	 * EACCES, which ends the connection with
	 * SMBDIRECT_REASON_CREDENTIALS_CHANGED.
	 */
	SMBDIRECT_THREAD_MODE_CALLER = 0,
	/**
	 * One thread owned by the library, started by
	 * smbdirect_set_thread_mode() while the process still has the
	 * credentials it will open devices with, opens every rdma_cm event
	 * channel and verbs context, and issues every rdma_cm call and every
	 * post whose doorbell is a system call. It never changes
	 * credentials. Callbacks still run on the tevent context's thread,
	 * which may change credentials at will. For smbd.
	 */
	SMBDIRECT_THREAD_MODE_RDMA_THREAD = 1,
};

/**
 * @brief Choose the process's thread mode.
 *
 * Call it before creating any listener or connection, and, for
 * SMBDIRECT_THREAD_MODE_RDMA_THREAD, before the process first changes
 * credentials. A child created by smbdirect_listener_fork() inherits the
 * mode and gets an RDMA thread of its own before anything else.
 *
 * @param mode The mode.
 * @return 0; EBUSY if listeners or connections exist; EINVAL for an
 *         unknown mode; an errno value if the thread could not start.
 */
int smbdirect_set_thread_mode(enum smbdirect_thread_mode mode);

/**
 * @brief The process's thread mode.
 * @return The mode set last (SMBDIRECT_THREAD_MODE_CALLER by default).
 */
enum smbdirect_thread_mode smbdirect_get_thread_mode(void);

/**
 * @brief A name for a thread mode: "caller-thread" or "rdma-thread".
 * @param mode Any value.
 * @return A static string; "unknown" for values outside the enum.
 */
const char *smbdirect_thread_mode_string(enum smbdirect_thread_mode mode);

/**
 * @brief Counters of the RDMA thread (all 0 in caller-thread mode).
 */
struct smbdirect_thread_stats {
	uint64_t calls;         /**< synchronous calls run on the thread */
	uint64_t posts;         /**< ibv_post_send/recv calls it made */
	uint64_t work_requests; /**< work requests in those posts */
	uint64_t wakeups;       /**< times it woke up from epoll_wait */
};

/**
 * @brief Read the RDMA thread's counters.
 * @param stats Output.
 */
void smbdirect_get_thread_stats(struct smbdirect_thread_stats *stats);

/** One SMB-Direct connection. */
struct smbdirect_conn;

/**
 * @brief How much a log line matters, for a host that maps the library's
 *        lines onto its own levels (Samba: DBG_ERR ... DBG_DEBUG).
 */
enum smbdirect_log_level {
	/** A local failure: resources, credentials, a broken invariant. */
	SMBDIRECT_LOG_ERROR = 0,
	/** The peer broke the protocol, or an RDMA operation failed. */
	SMBDIRECT_LOG_WARNING = 1,
	/** A connection ended for an ordinary reason (the peer disconnected,
	 *  a timeout) or a connection request was refused. */
	SMBDIRECT_LOG_NOTICE = 2,
	/** Steps of connection set-up and teardown worth a line. */
	SMBDIRECT_LOG_INFO = 3,
	/** Details for debugging. */
	SMBDIRECT_LOG_DEBUG = 4,
};

/**
 * @brief Where the library's log lines go.
 *
 * @param private_data As given to smbdirect_set_log_fn().
 * @param level        How much the line matters.
 * @param conn         The connection it is about, or NULL (a listener, a
 *                     connection request, a connection not yet made).
 * @param peer         The peer's address as "ADDR:PORT", or NULL if none
 *                     is known; set whenever @p conn is.
 * @param message      The line, without the peer and without a newline;
 *                     valid during the call only.
 */
typedef void (*smbdirect_log_fn)(void *private_data,
				 enum smbdirect_log_level level,
				 const struct smbdirect_conn *conn,
				 const char *peer, const char *message);

/**
 * @brief Send the library's log lines to @p fn, for the whole process.
 *
 * By default (and after a call with @p fn NULL) every line goes to stderr
 * as "smbdirect[PID] peer ADDR:PORT: MESSAGE". Every termination of a
 * connection that the application did not ask for is logged, with its
 * reason (smbdirect_reason_string()) and the peer's address. @p fn may be
 * called from any thread that calls the library, never from the RDMA
 * thread, and must not call the library.
 *
 * @param fn           The hook, or NULL for stderr.
 * @param private_data Passed to @p fn.
 */
void smbdirect_set_log_fn(smbdirect_log_fn fn, void *private_data);

/**
 * @brief A name for a log level: "error", "warning", "notice", "info",
 *        "debug".
 * @param level Any value.
 * @return A static string; "unknown" for values outside the enum.
 */
const char *smbdirect_log_level_string(enum smbdirect_log_level level);

/** The default SMB-Direct port over iWARP; IB/RoCE peers often use 445. */
#define SMBDIRECT_DEFAULT_PORT 5445

/** A listening endpoint. */
struct smbdirect_listener;
/** A connection request that arrived at a listener. */
struct smbdirect_conn_request;
/** Registered memory lent by the library for RDMA and sends. */
struct smbdirect_buffer;
/** Memory of ours exposed to the peer for one I/O. */
struct smbdirect_exposure;

/**
 * @brief Callbacks of a connection. All are optional.
 */
struct smbdirect_conn_handlers {
	/**
	 * An upper-layer message arrived. @p data is valid only during the
	 * call; a message that fitted in one receive points into the receive
	 * buffer (no copy). If not set, messages are queued (copied) for
	 * smbdirect_recv_send(): at most receive_credit_max + 1 of them and
	 * 4 x max_fragmented_size bytes; beyond that the connection ends
	 * (SMBDIRECT_REASON_LOCAL_ERROR), so a peer cannot make an
	 * application that does not read hold more.
	 */
	void (*message)(struct smbdirect_conn *conn, const uint8_t *data,
			size_t length, void *private_data);
	/**
	 * The connection ended (once). The connection object stays valid
	 * until freed; every pending request fails with ENOTCONN.
	 */
	void (*disconnected)(struct smbdirect_conn *conn,
			     enum smbdirect_reason reason, const char *detail,
			     void *private_data);
};

/**
 * @brief Connect to an SMB-Direct peer and negotiate ([MS-SMBD] 3.1.4.1).
 *
 * Resolves the address and route (each bounded by @p timeout_ms), opens
 * the device, creates the PD, CQ and QP (retry count 6, RNR retry 0, as the
 * Linux peers), connects, and runs the negotiation.
 *
 * @param mem_ctx    talloc parent of the request.
 * @param ev         Event context that drives the connection.
 * @param dst        Peer address with port (IPv4 or IPv6).
 * @param src        Local address to bind, or NULL.
 * @param settings   Settings; NULL for smbdirect_settings_default().
 * @param timeout_ms Bound on address and route resolution.
 * @return A tevent request, or NULL on allocation failure.
 */
struct tevent_req *smbdirect_connect_send(
	void *mem_ctx, struct tevent_context *ev, const struct sockaddr *dst,
	const struct sockaddr *src, const struct smbdirect_settings *settings,
	uint32_t timeout_ms);

/**
 * @brief Result of smbdirect_connect_send().
 *
 * @param req     The request.
 * @param mem_ctx talloc parent for the connection.
 * @param conn    Output: the negotiated connection.
 * @param reason  Output (may be NULL): why it failed.
 * @return 0, or an errno value (ETIMEDOUT, ECONNREFUSED, EPROTO for a
 *         failed negotiation, ENODEV, ...).
 */
int smbdirect_connect_recv(struct tevent_req *req, void *mem_ctx,
			   struct smbdirect_conn **conn,
			   enum smbdirect_reason *reason);

/**
 * @brief Called for each connection request at a listener.
 *
 * The callee must, before returning or later, either accept the request
 * (smbdirect_accept_send()), hand it to a child (smbdirect_listener_fork()),
 * or free it (which rejects it).
 */
typedef void (*smbdirect_request_fn)(struct smbdirect_listener *listener,
				     struct smbdirect_conn_request *request,
				     void *private_data);

/**
 * @brief Listen for SMB-Direct connections.
 *
 * @param mem_ctx      talloc parent of the listener.
 * @param ev           Event context.
 * @param addr         Address and port to bind (INADDR_ANY, in6addr_any
 *                     or a specific address).
 * @param backlog      rdma_listen() backlog.
 * @param on_request   Called for each incoming request.
 * @param private_data Passed to @p on_request.
 * @param listener     Output.
 * @return 0 or an errno value (EADDRINUSE, ENODEV, ...).
 */
int smbdirect_listen(void *mem_ctx, struct tevent_context *ev,
		     const struct sockaddr *addr, int backlog,
		     smbdirect_request_fn on_request, void *private_data,
		     struct smbdirect_listener **listener);

/** Default of the listener's bound on half-open connections. */
#define SMBDIRECT_DEFAULT_MAX_HALF_OPEN 128
/** Default of the listener's bound on half-open connections per peer
 *  address. */
#define SMBDIRECT_DEFAULT_MAX_HALF_OPEN_PER_PEER 16

/**
 * @brief Bound the listener's half-open connections.
 *
 * A connection is half open from its connection request until it
 * negotiated or ended: while the application holds the request, while
 * smbdirect_accept_send() negotiates in this process, and while a child
 * that took it (smbdirect_listener_fork(), smbdirect_handoff_child())
 * negotiates (the child's end of the handoff pipe tells). A request that
 * would pass either bound is rejected at once, before the application
 * sees it, and logged (at most one line a second, with the count). So
 * peers that connect and never negotiate hold at most these many slots,
 * for at most the negotiate timeout each, and the per-address bound
 * keeps one peer from taking them all. Defaults:
 * SMBDIRECT_DEFAULT_MAX_HALF_OPEN and
 * SMBDIRECT_DEFAULT_MAX_HALF_OPEN_PER_PEER.
 *
 * @param listener               The listener.
 * @param max_half_open          At most this many in all (>= 1).
 * @param max_half_open_per_peer At most this many from one peer address
 *                               (>= 1; the port does not count).
 * @return 0, or EINVAL.
 */
int smbdirect_listener_set_limits(struct smbdirect_listener *listener,
				  unsigned int max_half_open,
				  unsigned int max_half_open_per_peer);

/**
 * @brief How many of the listener's connections are half open now (see
 *        smbdirect_listener_set_limits()).
 * @param listener The listener.
 * @return The count.
 */
unsigned int smbdirect_listener_half_open(struct smbdirect_listener *listener);

/**
 * @brief How many connection requests the listener rejected over its
 *        half-open bounds since it was made.
 * @param listener The listener.
 * @return The count.
 */
uint64_t smbdirect_listener_rejected(const struct smbdirect_listener *listener);

/**
 * @brief The address the listener is bound to (useful with port 0).
 * @param listener The listener.
 * @return A pointer into the listener.
 */
const struct sockaddr *
smbdirect_listener_address(const struct smbdirect_listener *listener);

/**
 * @brief The peer's address as "ADDR:PORT" ("[ADDR]:PORT" for IPv6).
 * @param request A connection request.
 * @return A string owned by the request.
 */
const char *
smbdirect_conn_request_peer(const struct smbdirect_conn_request *request);

/** A connection request on its way to a child process the host forks. */
struct smbdirect_handoff;

/**
 * @brief Hand a connection request to a child that the host forks itself
 *        (smbd forks in its own accept path): step 1 of 3, in the parent,
 *        right before fork().
 *
 * The sequence (docs/fork-and-credentials.md):
 * 1. parent: h = smbdirect_handoff_prepare(listener, request);
 * 2. fork();
 * 3. child: request = smbdirect_handoff_child(h, mem_ctx, mode), then
 *    smbdirect_accept_send(); parent: smbdirect_handoff_parent(h, pid)
 *    (with pid -1 if fork() failed).
 *
 * Between this call and fork() the host must call nothing of the library
 * (in RDMA-thread mode the thread is parked and a library lock held until
 * the parent or child step). The child must call smbdirect_handoff_child()
 * before anything else of the library.
 *
 * The parent keeps the connection's rdma_cm id for the child's whole
 * connection and makes the child's rdma_cm calls (accept, disconnect) on
 * the listener's tevent context, over a socket per connection; the child
 * owns every verbs object (its own device context, PD, CQ and QP). So the
 * parent must go on running that tevent context while its children serve,
 * and the parent's end (or freeing the listener) ends its children's
 * connections. The id is destroyed when the child is done with it, so the
 * parent's memory is bounded by the connections alive
 * (docs/fork-and-credentials.md, "The listener's record").
 *
 * Here, before fork(), the parent reads the QP attributes the child will
 * need (rdma_init_qp_attr for INIT, RTR and RTS).
 *
 * @param listener The listener the request came from.
 * @param request  The request (owned by the handoff from here).
 * @return The handoff, or NULL with errno set; the request is then
 *         rejected (and freed).
 */
struct smbdirect_handoff *
smbdirect_handoff_prepare(struct smbdirect_listener *listener,
			  struct smbdirect_conn_request *request);

/**
 * @brief In the child after fork(): take the request (step 3, child side).
 *
 * Gives the child an RDMA thread of its own (when the parent has one, or
 * when @p mode asks for one) and drops the parent's listener here
 * (smbdirect_listener_forget(), which also closes this process's copies of
 * the sockets to the parent's other children); the child builds its own
 * device context, PD, CQ and QP when it accepts, and asks the parent to
 * accept with its QP. The host's other listeners, inherited from the
 * parent, must be forgotten too (smbdirect_listener_forget()) before its
 * event loop runs again.
 *
 * @param handoff The handoff (freed).
 * @param mem_ctx talloc parent of the returned request.
 * @param mode    The child's thread mode: SMBDIRECT_THREAD_MODE_RDMA_THREAD
 *                for a process that will switch identity (smbd), chosen
 *                here because it must be set before the child's first
 *                RDMA call.
 * @return The request, to pass to smbdirect_accept_send() with the child's
 *         tevent context; or NULL with errno set (the parent then rejects
 *         it): the child should exit.
 */
struct smbdirect_conn_request *
smbdirect_handoff_child(struct smbdirect_handoff *handoff, void *mem_ctx,
			enum smbdirect_thread_mode mode);

/**
 * @brief In the parent after fork(): let the request go (step 3, parent
 *        side).
 *
 * Keeps the request's id for the child, on the listener's tevent context,
 * and returns at once (nothing waits for the child): the child's accept
 * arrives there, and the id is destroyed when the child closes its end
 * (its connection ended, or it exited). A child that ends before
 * accepting has the request rejected, logged with the peer. If @p pid is
 * -1 (fork failed), the request is rejected and that is logged.
 *
 * @param handoff The handoff (freed, with its request).
 * @param pid     What fork() returned in the parent.
 * @return 0 if the id is kept for the child; ECHILD if fork failed, or
 *         another errno value (the request is then rejected).
 */
int smbdirect_handoff_parent(struct smbdirect_handoff *handoff, pid_t pid);

/**
 * @brief In a process forked from the one that created @p listener: drop it
 *        here, touching nothing of the parent's (its listening id and
 *        the ids it keeps for its children stay the parent's; this
 *        process's copies of the channel and of the sockets to the
 *        children are closed).
 *
 * The listener object stays valid until freed, and listens no more here.
 * A process the parent forks for anything else should forget its
 * listeners too, or its copies of those sockets keep the parent's
 * children from learning that the parent ended.
 *
 * @param listener The listener, or NULL.
 */
void smbdirect_listener_forget(struct smbdirect_listener *listener);

/**
 * @brief Fork a child that owns this connection (no broker).
 *
 * smbdirect_handoff_prepare(), fork(), and smbdirect_handoff_child() or
 * smbdirect_handoff_parent(), for hosts that let the library fork; the
 * child keeps the parent's thread mode. It follows docs/architecture.md
 * "Fork-per-connection": the parent keeps the listener and the
 * connection's rdma_cm id, and makes the child's rdma_cm calls on the
 * listener's tevent context, which it must go on running; the child builds
 * its own device context, PD, CQ and QP when it accepts (see
 * smbdirect_handoff_prepare()).
 *
 * @param listener The listener (parent side).
 * @param request  The request, freed in the parent on return.
 * @param child_ev In the child: receives a new tevent context to use
 *                 (the parent's must not be used there). Unused in the
 *                 parent.
 * @param child_request In the child: the request, to pass to
 *                 smbdirect_accept_send(). Unused in the parent.
 * @return In the parent, the child's pid (> 0); in the child, 0; -1 with
 *         errno on failure (the request is rejected).
 */
pid_t smbdirect_listener_fork(struct smbdirect_listener *listener,
			      struct smbdirect_conn_request *request,
			      struct tevent_context **child_ev,
			      struct smbdirect_conn_request **child_request);

/**
 * @brief Accept a connection request and negotiate as the responder
 *        ([MS-SMBD] 3.1.7.2, 3.1.5.6).
 *
 * @param mem_ctx  talloc parent of the request.
 * @param ev       Event context (in a forked child, the one
 *                 smbdirect_listener_fork() returned).
 * @param request  The connection request; the tevent request takes it over.
 * @param settings Settings; NULL for defaults.
 * @return A tevent request, or NULL on allocation failure.
 */
struct tevent_req *smbdirect_accept_send(void *mem_ctx,
					 struct tevent_context *ev,
					 struct smbdirect_conn_request *request,
					 const struct smbdirect_settings *settings);

/**
 * @brief Result of smbdirect_accept_send().
 *
 * @param req     The request.
 * @param mem_ctx talloc parent for the connection.
 * @param conn    Output: the negotiated connection.
 * @param reason  Output (may be NULL): why it failed.
 * @return 0 or an errno value.
 */
int smbdirect_accept_recv(struct tevent_req *req, void *mem_ctx,
			  struct smbdirect_conn **conn,
			  enum smbdirect_reason *reason);

/**
 * @brief Set the connection's callbacks.
 * @param conn         The connection.
 * @param handlers     Copied; NULL clears them.
 * @param private_data Passed to every callback.
 */
void smbdirect_conn_set_handlers(struct smbdirect_conn *conn,
				 const struct smbdirect_conn_handlers *handlers,
				 void *private_data);

/**
 * @brief The negotiated parameters.
 * @param conn The connection.
 * @return A pointer into the connection.
 */
const struct smbdirect_params *
smbdirect_conn_params(const struct smbdirect_conn *conn);

/**
 * @brief The peer's address as "ADDR:PORT", for logs.
 * @param conn The connection.
 * @return A string owned by the connection.
 */
const char *smbdirect_conn_peer(const struct smbdirect_conn *conn);

/**
 * @brief The connection's local address (IP and port), for a host that
 *        checks it against its configuration and logs it.
 * @param conn The connection.
 * @return A pointer into the connection (AF_INET or AF_INET6).
 */
const struct sockaddr *
smbdirect_conn_local_address(const struct smbdirect_conn *conn);

/**
 * @brief The peer's address (IP and port): for access checks such as
 *        Samba's "hosts allow".
 * @param conn The connection.
 * @return A pointer into the connection (AF_INET or AF_INET6).
 */
const struct sockaddr *
smbdirect_conn_peer_address(const struct smbdirect_conn *conn);

/**
 * @brief Whether a local IP address is on an RDMA device, that is,
 *        whether SMB-Direct connections can reach it (for
 *        FSCTL_QUERY_NETWORK_INTERFACE_INFO's RDMA-capable flag).
 *
 * Binds a transient rdma_cm id to the address (port 0): no device, no
 * bind.
 *
 * @param addr An AF_INET or AF_INET6 address (the port is ignored).
 * @return true if an RDMA device serves it.
 */
bool smbdirect_address_is_rdma(const struct sockaddr *addr);

/**
 * @brief Send one upper-layer message ([MS-SMBD] 3.1.4.2).
 *
 * The payload is copied into registered send buffers as it is sent, so the
 * iovecs need only stay valid until the request completes. Messages go out
 * in the order of the calls.
 *
 * @param mem_ctx talloc parent of the request.
 * @param ev      Event context.
 * @param conn    The connection.
 * @param iov     The payload.
 * @param iovcnt  Number of entries.
 * @return A tevent request, or NULL on allocation failure.
 */
struct tevent_req *smbdirect_send_send(void *mem_ctx,
				       struct tevent_context *ev,
				       struct smbdirect_conn *conn,
				       const struct iovec *iov, int iovcnt);

/**
 * @brief Send one upper-layer message with Send-with-Invalidate: the
 *        peer's rkey @p remote_rkey dies when the message arrives
 *        ([MS-SMBD] 3.1.4.2, 3.1.5.4; SMB2_CHANNEL_RDMA_V1_INVALIDATE).
 *
 * Parameters and result as smbdirect_send_send(), plus:
 * @param remote_rkey The Token of the peer's buffer descriptor.
 */
struct tevent_req *smbdirect_send_invalidate_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	const struct iovec *iov, int iovcnt, uint32_t remote_rkey);

/**
 * @brief Result of smbdirect_send_send().
 * @param req The request.
 * @return 0 once every fragment completed; ENOTCONN if the connection
 *         ended first; EMSGSIZE if too long for the peer.
 */
int smbdirect_send_recv(struct tevent_req *req);

/**
 * @brief Receive the next upper-layer message (when no message handler is
 *        set).
 *
 * @param mem_ctx talloc parent of the request.
 * @param ev      Event context.
 * @param conn    The connection.
 * @return A tevent request, or NULL on allocation failure.
 */
struct tevent_req *smbdirect_recv_send(void *mem_ctx,
				       struct tevent_context *ev,
				       struct smbdirect_conn *conn);

/**
 * @brief Result of smbdirect_recv_send().
 *
 * @param req     The request.
 * @param mem_ctx talloc parent of the returned data.
 * @param data    Output: the message (talloc'd).
 * @param length  Output: its length.
 * @return 0, or ENOTCONN once the connection ended.
 */
int smbdirect_recv_recv(struct tevent_req *req, void *mem_ctx,
			uint8_t **data, size_t *length);

/**
 * @brief Allocate registered memory for RDMA reads and writes (and for
 *        exposing to the peer).
 *
 * @param mem_ctx talloc parent.
 * @param conn    The connection whose protection domain it belongs to.
 * @param size    Bytes.
 * @return The buffer, or NULL (errno set).
 */
struct smbdirect_buffer *smbdirect_buffer_new(void *mem_ctx,
					      struct smbdirect_conn *conn,
					      size_t size);

/**
 * @brief The memory of a buffer.
 * @param buffer The buffer.
 * @return Its first byte.
 */
void *smbdirect_buffer_data(struct smbdirect_buffer *buffer);

/**
 * @brief Its size.
 * @param buffer The buffer.
 * @return Bytes.
 */
size_t smbdirect_buffer_size(const struct smbdirect_buffer *buffer);

/**
 * @brief RDMA-write local bytes into the peer's buffers ([MS-SMBD] 3.1.4.5).
 *
 * The descriptor list is walked in order; the transfer is split into work
 * requests within the device's limits and posted as one chain.
 *
 * @param mem_ctx talloc parent of the request.
 * @param ev      Event context.
 * @param conn    The connection.
 * @param local   Registered source.
 * @param offset  Offset in @p local.
 * @param length  Bytes to write; at most the sum of the descriptors and
 *                at most max_read_write_size.
 * @param remote  The peer's descriptors.
 * @param count   Number of descriptors.
 * @return A tevent request, or NULL on allocation failure.
 */
struct tevent_req *smbdirect_rdma_write_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	struct smbdirect_buffer *local, size_t offset, size_t length,
	const struct smbdirect_buffer_descriptor *remote, size_t count);

/**
 * @brief RDMA-read the peer's buffers into local memory ([MS-SMBD] 3.1.4.6).
 *
 * Parameters as for smbdirect_rdma_write_send(), with @p local the
 * destination.
 */
struct tevent_req *smbdirect_rdma_read_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	struct smbdirect_buffer *local, size_t offset, size_t length,
	const struct smbdirect_buffer_descriptor *remote, size_t count);

/**
 * @brief Result of an RDMA read or write.
 * @param req The request.
 * @return 0; EINVAL for a bad descriptor list; EIO if the peer refused
 *         the access (for example an rkey already invalidated); ENOTCONN.
 */
int smbdirect_rdma_recv(struct tevent_req *req);

/**
 * @brief Expose part of a buffer to the peer for one I/O
 *        ([MS-SMBD] 3.1.4.3).
 *
 * Each exposure has its own rkey, which dies when the exposure is freed
 * ([MS-SMBD] 3.1.4.4) or when the peer invalidates it with
 * send-with-invalidate (SMB2_CHANNEL_RDMA_V1_INVALIDATE).
 *
 * @param mem_ctx      talloc parent; freeing the exposure revokes it.
 * @param conn         The connection.
 * @param buffer       The memory.
 * @param offset       Start in @p buffer.
 * @param length       Bytes.
 * @param remote_write true if the peer will write (an SMB2 READ), false if
 *                     it will read (an SMB2 WRITE).
 * @param descs        Output descriptors.
 * @param max_count    Capacity of @p descs.
 * @param count        Output: descriptors written.
 * @return The exposure, or NULL (errno set).
 */
struct smbdirect_exposure *smbdirect_expose(
	void *mem_ctx, struct smbdirect_conn *conn,
	struct smbdirect_buffer *buffer, size_t offset, size_t length,
	bool remote_write, struct smbdirect_buffer_descriptor *descs,
	size_t max_count, size_t *count);

/**
 * @brief Whether the peer invalidated this exposure's rkey.
 * @param exposure The exposure.
 * @return true once a send-with-invalidate named its rkey.
 */
bool smbdirect_exposure_invalidated(const struct smbdirect_exposure *exposure);

/**
 * @brief How exposures get their per-I/O rkey on this connection.
 * @param conn The connection.
 * @return true for type-2 memory windows bound to the lent buffer's
 *         registration (the device supports them, e.g. rxe), false for a
 *         memory registration per exposure. Setting the environment
 *         variable SMBDIRECT_NO_MW before connecting forces the latter.
 */
bool smbdirect_conn_uses_memory_windows(const struct smbdirect_conn *conn);

/**
 * @brief End the connection ([MS-SMBD] 3.1.7.1); pending requests fail.
 * @param conn The connection.
 */
void smbdirect_disconnect(struct smbdirect_conn *conn);

/**
 * @brief Take the completions waiting on the connection's queue now,
 *        without waiting for its completion channel.
 *
 * For applications that busy-poll, as perftest does by default: calling it
 * from a loop that never sleeps saves the wake-up and the system calls of
 * the completion channel. An application that sleeps in tevent never needs
 * it. Callbacks (messages, completions, the end) run from inside; the
 * connection may be freed from them, so do not use @p conn after a
 * callback freed it.
 *
 * @param conn The connection.
 * @return The number of completions taken (0 if none was waiting), or -1
 *         if the connection has ended (or was freed from a callback).
 */
int smbdirect_conn_poll(struct smbdirect_conn *conn);

/**
 * @brief Counters of a connection.
 */
struct smbdirect_conn_stats {
	struct smbdirect_engine_stats engine; /**< protocol counters */
	uint64_t rdma_reads;       /**< RDMA read work requests */
	uint64_t rdma_writes;      /**< RDMA write work requests */
	uint64_t rdma_bytes;       /**< bytes moved by RDMA */
	uint64_t cq_polls;         /**< ibv_poll_cq calls */
	uint64_t cq_events;        /**< completion channel wake-ups */
	uint64_t inline_sends;     /**< sends posted inline */
};

/**
 * @brief Read a connection's counters.
 * @param conn  The connection.
 * @param stats Output.
 */
void smbdirect_conn_get_stats(const struct smbdirect_conn *conn,
			      struct smbdirect_conn_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* SMBDIRECT_RDMA_H */
