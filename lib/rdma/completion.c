/*
 * libsmbdirect: the completion queue: on a completion-channel event,
 * acknowledge, re-arm, then poll in batches until empty, each batch between
 * engine cork/uncork (one message carries the credits of a batch), and
 * each work completion to its owner: receives to the engine, sends to the
 * engine, RDMA work requests to rdma_io.c, window binds here.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>

#include "conn.h"

static void recv_completed(struct smbdirect_conn *conn, const struct ibv_wc *wc,
			   uint64_t now)
{
	uint32_t slot = (uint32_t)(wc->wr_id >> 3);
	uint8_t *buf = conn->recv_mem + (size_t)slot * conn->recv_size;

	if (wc->status == IBV_WC_SUCCESS &&
	    (wc->wc_flags & IBV_WC_WITH_IMM) == 0 &&
	    (wc->wc_flags & (IBV_WC_WITH_INV | IBV_WC_IP_CSUM_OK)) != 0) {
		/* Send-with-invalidate: rxe reports the rkey correctly but
		 * flags it with bit 0x4 instead of IBV_WC_WITH_INV. */
		sd_exposure_invalidated(conn, wc->invalidated_rkey);
	}
	/* Delivery is synchronous (the handler or a copy for recv_send),
	 * so the slot is free again once the engine returns. */
	smbdirect_engine_on_recv(conn->engine, now, buf, wc->byte_len);
	conn->recv_free[conn->recv_free_count++] = slot;
}

static void handle_wc(struct smbdirect_conn *conn, const struct ibv_wc *wc,
		      uint64_t now)
{
	unsigned int tag = (unsigned int)(wc->wr_id & SD_WR_TAG_MASK);

	if (conn->ended || conn->free_pending) {
		/* Everything pending was failed at the end; what the QP
		 * flushes now refers to nothing alive. Freed from a
		 * callback (by the application): the rest of the batch is
		 * for a connection it no longer has. */
		return;
	}
	if (tag == SD_WR_RECV) {
		if (wc->status != IBV_WC_SUCCESS) {
			uint32_t slot = (uint32_t)(wc->wr_id >> 3);

			conn->recv_free[conn->recv_free_count++] = slot;
			if (wc->status != IBV_WC_WR_FLUSH_ERR) {
				sd_conn_fail(conn,
					     SMBDIRECT_REASON_TRANSPORT_ERROR,
					     "receive failed: %s",
					     ibv_wc_status_str(wc->status));
			} else {
				sd_conn_fail(conn,
					     SMBDIRECT_REASON_PEER_DISCONNECTED,
					     "receive queue flushed");
			}
			return;
		}
		recv_completed(conn, wc, now);
		return;
	}
	/* Send queue: one work request frees one SQ entry, except RDMA
	 * chains, which free theirs on their signalled completion. */
	if (tag == SD_WR_SEND) {
		conn->sq_used -= 1;
		conn->sends_posted -= 1;
		if (wc->status != IBV_WC_SUCCESS) {
			sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "send failed: %s",
				     ibv_wc_status_str(wc->status));
			return;
		}
		smbdirect_engine_on_send_complete(conn->engine, now, 1);
		return;
	}
	if (tag == SD_WR_RDMA) {
		sd_rdma_completed(conn,
				  (struct sd_rdma_op *)(uintptr_t)(wc->wr_id &
								   ~(uint64_t)SD_WR_TAG_MASK),
				  wc);
		return;
	}
	if (tag == SD_WR_LOCAL) {
		conn->sq_used -= 1;
		return;
	}
	sd_conn_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
		     "completion with unknown id 0x%llx",
		     (unsigned long long)wc->wr_id);
}

/* Poll until the CQ is empty; completions are handled in batches between
 * engine cork/uncork so one message answers a batch. */
int sd_conn_poll_cq(struct smbdirect_conn *conn)
{
	struct ibv_wc wc[SD_POLL_BATCH];
	int total = 0;
	int n;
	int i;

	sd_conn_hold(conn);
	do {
		uint64_t now;

		n = ibv_poll_cq(conn->cq, SD_POLL_BATCH, wc);
		conn->stats.cq_polls += 1;
		if (n <= 0) {
			break;
		}
		total += n;
		now = sd_now();
		smbdirect_engine_cork(conn->engine);
		for (i = 0; i < n; i++) {
			handle_wc(conn, &wc[i], now);
		}
		smbdirect_engine_uncork(conn->engine, now);
		/* What this batch of completions made us send goes down
		 * now, as one chain. */
		sd_send_batch_flush(conn);
	} while (n == SD_POLL_BATCH && !conn->free_pending);
	if (n < 0) {
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "ibv_poll_cq failed");
	}
	if (!sd_conn_release(conn)) {
		return -1;
	}
	sd_rdma_kick(conn);
	sd_conn_update_timer(conn);
	return total;
}

int smbdirect_conn_poll(struct smbdirect_conn *conn)
{
	if (conn->ended || conn->cq == NULL) {
		return -1;
	}
	return sd_conn_poll_cq(conn);
}

void sd_cq_readable(struct tevent_context *ev, struct tevent_fd *fde,
		    uint16_t flags, void *priv)
{
	struct smbdirect_conn *conn = priv;
	struct ibv_cq *cq = NULL;
	void *ctx = NULL;

	(void)ev;
	(void)fde;
	(void)flags;
	if (ibv_get_cq_event(conn->comp, &cq, &ctx) != 0) {
		return;
	}
	conn->stats.cq_events += 1;
	conn->cq_events_unacked += 1;
	if (conn->cq_events_unacked >= 64) {
		ibv_ack_cq_events(conn->cq, conn->cq_events_unacked);
		conn->cq_events_unacked = 0;
	}
	/* Re-arm before polling: a completion that lands after the last
	 * poll then raises a new event, so no wakeup is lost. */
	if (ibv_req_notify_cq(conn->cq, 0) != 0) {
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "ibv_req_notify_cq failed");
		return;
	}
	sd_conn_poll_cq(conn);
}
