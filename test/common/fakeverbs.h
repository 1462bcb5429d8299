/*
 * fakeverbs: an in-process RDMA fabric for host-side tests of the RDMA
 * binding (lib/rdma/, lib/thread/), linked instead of libibverbs and librdmacm.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * It defines the rdma-core functions the library calls (rdma_cm ids and
 * event channels, device contexts, PDs, CQs with completion channels, RC
 * QPs, MRs and type-2 memory windows) and carries work requests out at
 * once, in the calling thread, with the semantics the library depends on:
 *
 *  - a SEND lands in the remote QP's oldest posted receive; with none
 *    posted the sender gets IBV_WC_RNR_RETRY_EXC_ERR and its QP goes to
 *    error (RNR retry 0, as the Linux peers and the library set it), so a
 *    credit mistake fails the test as it would on a wire;
 *  - SEND_WITH_INV invalidates the named memory window at the receiver,
 *    whose completion carries IBV_WC_WITH_INV and the rkey; an rkey that
 *    names no window there fails both QPs;
 *  - RDMA READ and WRITE check the remote rkey, its access and bounds;
 *  - completions go to the CQ, and an armed CQ makes its completion
 *    channel's fd readable; rdma_cm events make the event channel's fd
 *    readable. So tevent drives the library exactly as with real verbs.
 *
 * Two kinds of peer: another library connection in the same process (a
 * listener at a port, as with real rdma_cm), or a scripted peer that the
 * test plays by hand (fv_script_listen()): it records every message the
 * library sends it and sends whatever the test gives it.
 *
 * Single-threaded: the library's caller-thread mode only.
 */
#ifndef SMBDIRECT_TEST_FAKEVERBS_H
#define SMBDIRECT_TEST_FAKEVERBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

/** A scripted peer: the far end of one connection, played by the test. */
struct fv_peer;

/** One message the library sent to a scripted peer. */
struct fv_msg {
	uint8_t *data;
	size_t length;
	/** IBV_WR_SEND or IBV_WR_SEND_WITH_INV. */
	enum ibv_wr_opcode opcode;
	/** The rkey it invalidates (SEND_WITH_INV only). */
	uint32_t invalidate_rkey;
};

/** Counters of the fabric since the last fv_reset(). */
struct fv_stats {
	uint64_t sends;         /**< SEND and SEND_WITH_INV executed */
	uint64_t rnr_errors;    /**< sends that found no posted receive */
	uint64_t rdma_reads;    /**< RDMA READ work requests executed */
	uint64_t rdma_writes;   /**< RDMA WRITE work requests executed */
	uint64_t access_errors; /**< RDMA or invalidation refused */
	uint64_t cq_overflows;  /**< completions dropped on a full CQ */
};

/**
 * Free everything scripted peers hold and clear the fabric's tables and
 * counters. Objects the library still holds stay valid.
 * @return The number of library-side objects still alive (ids, event
 *         channels, contexts, PDs, CQs, completion channels, QPs, MRs,
 *         MWs): 0 when the library released everything it created.
 */
int fv_reset(void);

/** Read the fabric's counters. */
void fv_get_stats(struct fv_stats *stats);

/**
 * Whether the device offers type-2 memory windows (default true, like
 * rxe); false makes the library register an MR per exposure.
 */
void fv_set_memory_windows(bool on);

/**
 * Windows as rxe (Linux 6.1) bounds them (@p on): an access through a
 * bound window's rkey is checked against the registration the window is
 * bound to, not the window's own range (measured in the soft-RoCE guest:
 * a window over 4 KiB of a 64 KiB registration let the peer write all 64
 * KiB). The device still reports itself as rxe (vendor 0xffffff). Reset
 * by fv_reset().
 */
void fv_set_windows_unbounded(bool on);

/**
 * Whether the device reports itself as rxe (vendor id 0xffffff, the
 * default) or as another vendor's (@p on false). Reset by fv_reset().
 */
void fv_set_rxe(bool on);

/**
 * A scripted listener at @p port: each rdma_connect() to it is accepted at
 * once with the given RDMA read limits, and becomes a peer for
 * fv_peer_next().
 */
void fv_script_listen(uint16_t port, uint8_t responder_resources,
		      uint8_t initiator_depth);

/** The oldest scripted connection not yet taken, or NULL. */
struct fv_peer *fv_peer_next(void);

/** How many messages the library sent to @p peer. */
size_t fv_peer_inbox_count(const struct fv_peer *peer);

/** Message @p index (0 = first) the library sent to @p peer. */
const struct fv_msg *fv_peer_msg(const struct fv_peer *peer, size_t index);

/**
 * Send @p length bytes from the peer to the library, with
 * Send-with-Invalidate of @p rkey if @p invalidate.
 * @return The peer's completion status: IBV_WC_SUCCESS, or
 *         IBV_WC_RNR_RETRY_EXC_ERR when the library had no receive posted
 *         (its QP is then in error, as on a wire with RNR retry 0), or
 *         IBV_WC_REM_INV_REQ_ERR for a message longer than the receive or
 *         an rkey the library does not own, or IBV_WC_RETRY_EXC_ERR when
 *         the library's QP is gone or in error.
 */
enum ibv_wc_status fv_peer_send(struct fv_peer *peer, const void *data,
				size_t length, bool invalidate, uint32_t rkey);

/** Receives the library has posted and not yet consumed. */
uint32_t fv_peer_lib_recvs_posted(const struct fv_peer *peer);

/**
 * Expose @p length bytes at @p addr of the peer's memory to the library's
 * RDMA reads (@p remote_write false) or writes (true).
 * @return The rkey.
 */
uint32_t fv_peer_expose(struct fv_peer *peer, void *addr, size_t length,
			bool remote_write);

/** Whether the library invalidated the peer's @p rkey (SEND_WITH_INV). */
bool fv_peer_invalidated(const struct fv_peer *peer, uint32_t rkey);

/** The peer disconnects: the library gets RDMA_CM_EVENT_DISCONNECTED. */
void fv_peer_disconnect(struct fv_peer *peer);

/** Whether the library disconnected (or destroyed its id). */
bool fv_peer_disconnected(const struct fv_peer *peer);

/**
 * A scripted client: connect to the library's listener at @p port from
 * @p src_ip (dotted IPv4; NULL: 10.9.0.1), offering the given RDMA read
 * limits. The listener gets RDMA_CM_EVENT_CONNECT_REQUEST; the returned
 * peer is connected once the library accepts (fv_peer_accepted()). The
 * library's messages land in the peer's inbox; it sends with
 * fv_peer_send().
 * @return The peer, or NULL if nobody listens at @p port.
 */
struct fv_peer *fv_script_connect(uint16_t port, const char *src_ip,
				  uint8_t responder_resources,
				  uint8_t initiator_depth);

/** Whether the library accepted this scripted client. */
bool fv_peer_accepted(const struct fv_peer *peer);

/** Whether the library rejected this scripted client (rdma_reject). */
bool fv_peer_rejected(const struct fv_peer *peer);

/**
 * The scripted client goes away: before the library accepted, its
 * rdma_accept() then ends in RDMA_CM_EVENT_CONNECT_ERROR (the answer
 * times out); after, as fv_peer_disconnect().
 */
void fv_peer_abort(struct fv_peer *peer);

/**
 * The peer posts no receives (@p on): every send of the library's to it
 * fails with IBV_WC_RNR_RETRY_EXC_ERR, as on a wire with RNR retry 0.
 */
void fv_peer_set_rnr(struct fv_peer *peer, bool on);

/**
 * The peer stops acknowledging (@p on): the library's send work requests
 * to it (sends, RDMA, window binds behind them) are held, uncompleted,
 * in order; off runs them. A QP in error flushes them.
 */
void fv_peer_stall(struct fv_peer *peer, bool on);

/** How many of the library's work requests to @p peer are held. */
size_t fv_peer_lib_held(const struct fv_peer *peer);

/** How many of those are RDMA reads. */
size_t fv_peer_lib_held_reads(const struct fv_peer *peer);

/**
 * The peer vanishes without a disconnect: no rdma_cm event reaches the
 * library; its QP no longer reaches anything (sends and RDMA fail with
 * IBV_WC_RETRY_EXC_ERR, held ones too).
 */
void fv_peer_vanish(struct fv_peer *peer);

/** The library's QP of this connection goes to error (receives flush). */
void fv_peer_qp_error(struct fv_peer *peer);

/**
 * The peer RDMA-writes @p length bytes of @p buf into (or reads them
 * from) the library's memory at @p addr through @p rkey.
 * @return IBV_WC_SUCCESS, or IBV_WC_REM_ACCESS_ERR when the rkey does not
 *         give that access to that whole range (the library's QP then
 *         goes to error, as rxe's responder does), or
 *         IBV_WC_RETRY_EXC_ERR when the connection is gone.
 */
enum ibv_wc_status fv_peer_rdma(struct fv_peer *peer, bool write,
				uint32_t rkey, uint64_t addr, void *buf,
				size_t length);

/** One region of the library's memory a peer can reach. */
struct fv_region {
	uint64_t addr;
	uint64_t length;
	uint32_t rkey;
	unsigned int access;  /**< IBV_ACCESS_* */
	bool window;          /**< a bound memory window (else an MR) */
};

/**
 * Every region of the library's memory that allows remote access now:
 * MRs registered with a REMOTE_* flag, and bound memory windows.
 * @return How many there are (only the first @p max are written).
 */
size_t fv_remote_regions(struct fv_region *out, size_t max);

#endif
