/*
 * libsmbdirect: a connection served for another process (the relay).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * An SMB-Direct connection lives in the process that accepted it: its
 * queue pair cannot move. A server that keeps one process per client
 * (Samba's smbd, where a second channel of a session must reach the
 * process that owns the session: [MS-SMB2] 3.3.5.5.2, multichannel) can
 * leave the connection where it is and drive it from the owning process:
 *
 *  - the accepting process (the relay) calls smbdirect_relay_send() with
 *    the connection and one end of a local stream socket (a socketpair);
 *  - the owning process calls smbdirect_relay_attach() with the other end
 *    and gets a struct smbdirect_conn it uses like any other: messages
 *    arrive through its handlers, smbdirect_send_send() and
 *    smbdirect_send_invalidate_send() send, smbdirect_buffer_new() lends
 *    memory, smbdirect_rdma_read_send() and smbdirect_rdma_write_send()
 *    move data to and from the peer's buffers, smbdirect_disconnect()
 *    ends it.
 *
 * Bulk data does not cross the socket: a buffer the owner allocates is a
 * memfd both processes map; the relay registers it with its protection
 * domain and runs the RDMA on it. Upper-layer messages (SMB2 PDUs, at most
 * MaxFragmentedSize) and the completions do cross it.
 *
 * Not available on a relayed connection: smbdirect_expose() (ENOTSUP)
 * and smbdirect_conn_poll() (-1). smbdirect_conn_get_stats() gives what
 * the owner saw: messages and RDMA operations, not the relay's verbs
 * counters.
 *
 * Either side's end is the other's: if the owner closes its end (or dies),
 * the relay disconnects the peer; if the peer or the relay goes, the owner's
 * disconnected handler runs (SMBDIRECT_REASON_TRANSPORT_ERROR when the
 * relay went away without a word).
 */
#ifndef SMBDIRECT_RELAY_H
#define SMBDIRECT_RELAY_H

#include <stdint.h>

#include <smbdirect_rdma.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * @brief Serve a negotiated connection for another process.
 *
 * Takes the connection's handlers. Completes when the connection has
 * ended and the owner has been told (or is gone). Bounds what the owner
 * can make the relay hold: 1024 buffers, 16 GiB of them mapped, and 64 MiB
 * of messages the owner has not read yet (beyond that the peer is
 * disconnected, logged).
 *
 * @param mem_ctx talloc parent of the request.
 * @param ev      Event context that drives @p conn.
 * @param conn    A negotiated connection (accepted or connected).
 * @param fd      This side of a local stream socket (AF_UNIX); the request
 *                owns it and closes it.
 * @return A tevent request, or NULL on allocation failure (@p fd is then
 *         closed).
 */
struct tevent_req *smbdirect_relay_send(void *mem_ctx,
					struct tevent_context *ev,
					struct smbdirect_conn *conn, int fd);

/**
 * @brief Result of smbdirect_relay_send().
 *
 * @param req    The request.
 * @param reason Output (may be NULL): why the connection ended.
 * @return 0 once the connection ended; an errno value if the relay could
 *         not start (ENOMEM).
 */
int smbdirect_relay_recv(struct tevent_req *req,
			 enum smbdirect_reason *reason);

/**
 * @brief In the owning process: the connection a relay serves.
 *
 * Reads the relay's greeting (the negotiated parameters and both
 * addresses) from @p fd, waiting at most @p timeout_ms, then returns a
 * connection driven by @p ev. The connection needs a message handler
 * (smbdirect_conn_set_handlers()) or smbdirect_recv_send(), as any other.
 *
 * @param mem_ctx    talloc parent of the connection.
 * @param ev         Event context.
 * @param fd         The owner's end of the relay's socket; taken over on
 *                   success (freeing the connection closes it), left open
 *                   on failure.
 * @param timeout_ms Bound on waiting for the greeting.
 * @param conn       Output: the connection.
 * @return 0; ETIMEDOUT; EPROTO if what came is not a relay's greeting;
 *         ENOTCONN if the relay closed; ENOMEM.
 */
int smbdirect_relay_attach(void *mem_ctx, struct tevent_context *ev, int fd,
			   uint32_t timeout_ms, struct smbdirect_conn **conn);

/**
 * @brief Whether a connection is served by a relay in another process.
 * @param conn The connection.
 * @return true for a connection from smbdirect_relay_attach().
 */
bool smbdirect_conn_is_relayed(const struct smbdirect_conn *conn);

#ifdef __cplusplus
}
#endif

#endif /* SMBDIRECT_RELAY_H */
