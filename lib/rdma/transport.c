/*
 * libsmbdirect: the engine's actions carried out on the connection's
 * QP: receives posted from the registered pool, sends copied into
 * registered slots (inline when small) and posted (Send-with-Invalidate
 * when the engine says), messages delivered to the application, and the
 * end, told once.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"

/* Receives are posted in chains of this many work requests. */
#define SD_RECV_CHAIN 32

/* How much the end of a connection matters in the host's log: a local
 * failure is an error, a peer that broke the protocol a warning, an
 * ordinary end (the peer left, a timeout) a notice. */
static enum smbdirect_log_level reason_level(enum smbdirect_reason reason)
{
	switch (reason) {
	case SMBDIRECT_REASON_LOCAL_ERROR:
	case SMBDIRECT_REASON_NO_MEMORY:
	case SMBDIRECT_REASON_INVALID_ARGUMENT:
	case SMBDIRECT_REASON_CREDENTIALS_CHANGED:
		return SMBDIRECT_LOG_ERROR;
	case SMBDIRECT_REASON_PEER_DISCONNECTED:
	case SMBDIRECT_REASON_NEGOTIATE_TIMEOUT:
	case SMBDIRECT_REASON_KEEPALIVE_TIMEOUT:
	case SMBDIRECT_REASON_LOCAL_CLOSE:
		return SMBDIRECT_LOG_NOTICE;
	default:
		return SMBDIRECT_LOG_WARNING;
	}
}

static int cb_post_recv(void *priv, uint32_t count, uint32_t buffer_size)
{
	struct smbdirect_conn *conn = priv;
	struct ibv_sge sge[SD_RECV_CHAIN];
	struct ibv_recv_wr wr[SD_RECV_CHAIN];
	uint32_t posted = 0;

	if (buffer_size != conn->recv_size) {
		return -1;
	}
	while (posted < count && conn->recv_free_count > 0) {
		uint32_t n = 0;
		int ret;

		while (n < SD_RECV_CHAIN && posted + n < count &&
		       n < conn->recv_free_count) {
			uint32_t slot = conn->recv_free[conn->recv_free_count -
							1 - n];

			sge[n].addr = (uintptr_t)(conn->recv_mem +
						  (size_t)slot * conn->recv_size);
			sge[n].length = conn->recv_size;
			sge[n].lkey = conn->recv_mr->lkey;
			memset(&wr[n], 0, sizeof(wr[n]));
			wr[n].wr_id = ((uint64_t)slot << 3) | SD_WR_RECV;
			wr[n].sg_list = &sge[n];
			wr[n].num_sge = 1;
			wr[n].next = NULL;
			if (n > 0) {
				wr[n - 1].next = &wr[n];
			}
			n += 1;
		}
		ret = sd_post_recv(conn, wr);
		if (ret != 0) {
			sd_post_failed(conn, "ibv_post_recv", ret);
			return posted > 0 ? (int)posted : -1;
		}
		conn->recv_free_count -= n;
		posted += n;
	}
	return (int)posted;
}

static int cb_send(void *priv, const struct smbdirect_send_desc *desc)
{
	struct smbdirect_conn *conn = priv;
	size_t length = smbdirect_send_desc_length(desc);
	uint8_t *slot;
	struct ibv_sge sge;
	struct ibv_send_wr wr;
	int ret;

	if (conn->sq_used >= conn->sq_depth ||
	    conn->sends_posted >= conn->send_slots) {
		return ENOBUFS;
	}
	slot = conn->send_mem + (size_t)conn->send_next * conn->send_slot_size;
	if (smbdirect_send_desc_copy(desc, slot, conn->send_slot_size) !=
	    length) {
		return EMSGSIZE;
	}
	memset(&wr, 0, sizeof(wr));
	sge.addr = (uintptr_t)slot;
	sge.length = (uint32_t)length;
	sge.lkey = conn->send_mr->lkey;
	wr.wr_id = SD_WR_SEND;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (length <= conn->max_inline) {
		wr.send_flags |= IBV_SEND_INLINE;
		conn->stats.inline_sends += 1;
	}
	if (desc->invalidate) {
		/* [MS-SMBD] 3.1.4.2, 3.1.5.4: the engine says which fragment
		 * carries its message's token (the first); nothing of it is
		 * kept per connection. */
		wr.opcode = IBV_WR_SEND_WITH_INV;
		wr.invalidate_rkey = desc->invalidate_token;
	}
	ret = sd_post_send(conn, &wr);
	if (ret != 0) {
		sd_post_failed(conn, "ibv_post_send", ret);
		return ret;
	}
	conn->send_next = (conn->send_next + 1) % conn->send_slots;
	conn->sends_posted += 1;
	conn->sq_used += 1;
	return 0;
}

static void cb_connected(void *priv, const struct smbdirect_params *params)
{
	struct smbdirect_conn *conn = priv;

	(void)params;
	conn->connected = true;
	sd_conn_half_open_done(conn);
	if (conn->setup_done != NULL) {
		void (*fn)(struct smbdirect_conn *, void *) = conn->setup_done;

		conn->setup_done = NULL;
		fn(conn, conn->setup_arg);
	}
}

static void cb_deliver(void *priv, const uint8_t *data, size_t length)
{
	struct smbdirect_conn *conn = priv;

	if (conn->free_pending) {
		/* The application freed the connection from a callback:
		 * nothing more of it reaches the application. */
		return;
	}
	if (conn->handlers.message != NULL) {
		conn->handlers.message(conn, data, length,
				       conn->handlers_private);
		return;
	}
	sd_queue_message(conn, data, length);
}

static void cb_send_done(void *priv, struct smbdirect_engine_msg *msg)
{
	sd_send_req_done(priv, msg, 0);
}

static void cb_terminated(void *priv, enum smbdirect_reason reason,
			  const char *detail)
{
	struct smbdirect_conn *conn = priv;

	conn->ended = true;
	conn->reason = reason;
	sd_conn_half_open_done(conn);
	snprintf(conn->detail, sizeof(conn->detail), "%s", detail);
	if (reason != SMBDIRECT_REASON_LOCAL_CLOSE) {
		sd_log(reason_level(reason), conn, NULL,
		       "connection ended: %s: %s",
		       smbdirect_reason_string(reason), detail);
	}
	if ((conn->id != NULL || conn->proxy != NULL) &&
	    !conn->disconnect_sent) {
		conn->disconnect_sent = true;
		sd_conn_disconnect(conn);
	}
	sd_fail_requests(conn);
	sd_rdma_fail_all(conn);
	if (conn->setup_done != NULL) {
		void (*fn)(struct smbdirect_conn *, void *) = conn->setup_done;

		conn->setup_done = NULL;
		fn(conn, conn->setup_arg);
		return;
	}
	if (conn->connected && conn->handlers.disconnected != NULL &&
	    !conn->free_pending) {
		conn->handlers.disconnected(conn, reason, conn->detail,
					    conn->handlers_private);
	}
}

const struct smbdirect_engine_callbacks sd_engine_callbacks = {
	.post_recv = cb_post_recv,
	.send = cb_send,
	.connected = cb_connected,
	.deliver = cb_deliver,
	.send_done = cb_send_done,
	.terminated = cb_terminated,
};
