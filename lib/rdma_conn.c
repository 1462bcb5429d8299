/*
 * libsmbdirect: one SMB-Direct connection over verbs, on tevent.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The engine (lib/engine.c) decides; this file carries its actions out on
 * a reliable-connected QP: receives from one registered pool, sends copied
 * into registered slots (inline when small), completions polled in batches
 * from one CQ whose channel is a tevent fd, and the engine's one timer as a
 * tevent timer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rdma_private.h"

uint64_t sd_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sd_format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa == NULL) {
		snprintf(buf, size, "?");
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "family-%d", sa->sa_family);
	}
}

void sd_log(const struct smbdirect_conn *conn, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "smbdirect[%d] peer %s: %s\n", (int)getpid(),
		conn != NULL ? conn->peer : "?", line);
}

/*
 * Callbacks may free the connection (a tevent callback that gives up, a
 * disconnected handler). Entry points hold it; a free inside is deferred
 * until the outermost one returns.
 */
void sd_conn_hold(struct smbdirect_conn *conn)
{
	conn->busy += 1;
}

/* Post what the entry point collected (one chain, one doorbell). */
static void send_batch_flush(struct smbdirect_conn *conn)
{
	uint32_t n = conn->send_batch_count;
	uint32_t i;
	int ret;

	if (n == 0) {
		return;
	}
	conn->send_batch_count = 0;
	for (i = 0; i < n; i++) {
		conn->send_batch[i].next = i + 1 < n ? &conn->send_batch[i + 1]
						     : NULL;
	}
	ret = sd_post_send_now(conn, conn->send_batch);
	if (ret != 0) {
		sd_post_failed(conn, "ibv_post_send", ret);
	}
}

int sd_post_send(struct smbdirect_conn *conn, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *w;
	uint32_t n = 0;

	for (w = wr; w != NULL; w = w->next) {
		if (w->num_sge > 1) {
			n = UINT32_MAX;
			break;
		}
		n += 1;
	}
	if (conn->busy == 0 || conn->ended ||
	    n > conn->send_batch_capacity - conn->send_batch_count) {
		send_batch_flush(conn);
		return sd_post_send_now(conn, wr);
	}
	for (w = wr; w != NULL; w = w->next) {
		uint32_t i = conn->send_batch_count++;

		conn->send_batch[i] = *w;
		if (w->num_sge == 1) {
			conn->send_batch_sge[i] = w->sg_list[0];
			conn->send_batch[i].sg_list = &conn->send_batch_sge[i];
		}
	}
	return 0;
}

bool sd_conn_release(struct smbdirect_conn *conn)
{
	if (conn->busy == 1 && !conn->free_pending) {
		/* Still held: a failure here runs callbacks safely. */
		send_batch_flush(conn);
	}
	conn->busy -= 1;
	if (conn->busy == 0 && conn->free_pending) {
		talloc_free(conn);
		return false;
	}
	return true;
}

/* --- engine callbacks ------------------------------------------------- */

/* Receives are posted in chains of this many work requests. */
#define SD_RECV_CHAIN 32

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
	if (conn->setup_done != NULL) {
		void (*fn)(struct smbdirect_conn *, void *) = conn->setup_done;

		conn->setup_done = NULL;
		fn(conn, conn->setup_arg);
	}
}

static void queue_message(struct smbdirect_conn *conn, const uint8_t *data,
			  size_t length);

static void cb_deliver(void *priv, const uint8_t *data, size_t length)
{
	struct smbdirect_conn *conn = priv;

	if (conn->handlers.message != NULL) {
		conn->handlers.message(conn, data, length,
				       conn->handlers_private);
		return;
	}
	queue_message(conn, data, length);
}

static void send_req_done(struct smbdirect_conn *conn,
			  struct smbdirect_engine_msg *msg, int error);

static void cb_send_done(void *priv, struct smbdirect_engine_msg *msg)
{
	send_req_done(priv, msg, 0);
}

static void fail_pending(struct smbdirect_conn *conn);

static void cb_terminated(void *priv, enum smbdirect_reason reason,
			  const char *detail)
{
	struct smbdirect_conn *conn = priv;

	conn->ended = true;
	conn->reason = reason;
	snprintf(conn->detail, sizeof(conn->detail), "%s", detail);
	if (reason != SMBDIRECT_REASON_LOCAL_CLOSE) {
		sd_log(conn, "connection ended: %s: %s",
		       smbdirect_reason_string(reason), detail);
	}
	if (conn->id != NULL && !conn->disconnect_sent) {
		conn->disconnect_sent = true;
		sd_conn_disconnect(conn);
	}
	fail_pending(conn);
	if (conn->setup_done != NULL) {
		void (*fn)(struct smbdirect_conn *, void *) = conn->setup_done;

		conn->setup_done = NULL;
		fn(conn, conn->setup_arg);
		return;
	}
	if (conn->connected && conn->handlers.disconnected != NULL) {
		conn->handlers.disconnected(conn, reason, conn->detail,
					    conn->handlers_private);
	}
}

static const struct smbdirect_engine_callbacks engine_callbacks = {
	.post_recv = cb_post_recv,
	.send = cb_send,
	.connected = cb_connected,
	.deliver = cb_deliver,
	.send_done = cb_send_done,
	.terminated = cb_terminated,
};

/* --- timer ------------------------------------------------------------ */

static void timer_fired(struct tevent_context *ev, struct tevent_timer *te,
			struct timeval now, void *priv)
{
	struct smbdirect_conn *conn = priv;

	(void)ev;
	(void)te;
	(void)now;
	conn->timer = NULL;
	conn->timer_at = SMBDIRECT_NO_EXPIRY;
	sd_conn_hold(conn);
	smbdirect_engine_handle_expiry(conn->engine, sd_now());
	if (sd_conn_release(conn)) {
		sd_conn_update_timer(conn);
	}
}

void sd_conn_update_timer(struct smbdirect_conn *conn)
{
	uint64_t at = smbdirect_engine_get_expiry(conn->engine);
	uint64_t now;
	uint64_t delta;

	/* Only an earlier deadline re-arms: the idle timer moves later on
	 * every message, and a timer that fires early just re-arms. So the
	 * steady state allocates no timers. */
	if (at == SMBDIRECT_NO_EXPIRY || at >= conn->timer_at) {
		return;
	}
	TALLOC_FREE(conn->timer);
	now = sd_now();
	delta = at > now ? at - now : 0;
	conn->timer = tevent_add_timer(
		conn->ev, conn,
		tevent_timeval_current_ofs((uint32_t)(delta / 1000000000ull),
					   (uint32_t)(delta % 1000000000ull /
						      1000)),
		timer_fired, conn);
	conn->timer_at = conn->timer != NULL ? at : SMBDIRECT_NO_EXPIRY;
}

/* --- completions ------------------------------------------------------ */

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

	if (conn->ended) {
		/* Everything pending was failed at the end; what the QP
		 * flushes now refers to nothing alive. */
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
static int poll_cq(struct smbdirect_conn *conn)
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
		send_batch_flush(conn);
	} while (n == SD_POLL_BATCH);
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
	return poll_cq(conn);
}

static void cq_readable(struct tevent_context *ev, struct tevent_fd *fde,
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
	poll_cq(conn);
}

/* --- CM events of an established connection ---------------------------- */

void sd_conn_cm_event(const struct sd_cm_event *event, void *priv)
{
	struct smbdirect_conn *conn = priv;

	sd_conn_hold(conn);
	if (event->post_failed) {
		sd_post_failed(conn, "posting (RDMA thread)", event->error);
	} else if (event->error != 0) {
		sd_rdma_call_failed(conn, "rdma_get_cm_event", event->error);
	} else {
		switch (event->type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			conn->disconnect_sent = true;
			/* Take what already arrived, then end. */
			poll_cq(conn);
			sd_conn_fail(conn, SMBDIRECT_REASON_PEER_DISCONNECTED,
				     "peer disconnected");
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "RDMA device removed");
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default:
			sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "CM event %s (status %d)",
				     rdma_event_str(event->type),
				     event->status);
			break;
		}
	}
	sd_conn_release(conn);
}

int sd_conn_watch(struct smbdirect_conn *conn)
{
	if (conn->cq_fde == NULL) {
		conn->cq_fde = tevent_add_fd(conn->ev, conn, conn->comp->fd,
					     TEVENT_FD_READ, cq_readable, conn);
		if (conn->cq_fde == NULL) {
			return ENOMEM;
		}
	}
	if (conn->watch != NULL) {
		sd_watch_set_handler(conn->watch, sd_conn_cm_event, conn);
	}
	return 0;
}

/* A post failed (or, in thread mode, will never happen): rxe and siw ring
 * the doorbell with write(), so after EACCES the work request may already
 * be queued and goes out at the next good doorbell; it is never retried,
 * and the connection ends. */
void sd_post_failed(struct smbdirect_conn *conn, const char *what, int error)
{
	if (error == EACCES) {
		sd_rdma_call_failed(conn, what, error);
		return;
	}
	sd_log(conn, "%s failed: %s", what, strerror(error));
	sd_conn_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR, "%s failed: %s", what,
		     strerror(error));
}

/* An RDMA call failed; EACCES means this thread's credentials are no
 * longer those that opened the RDMA fds (the kernel logs that only once
 * per boot, so we say it every time). */
void sd_rdma_call_failed(struct smbdirect_conn *conn, const char *what,
			 int error)
{
	if (error != EACCES) {
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "%s failed: %s", what, strerror(error));
		return;
	}
	sd_log(conn, "%s: EACCES: this thread's credentials changed after the "
		     "RDMA device was opened (thread mode %s; a process that "
		     "switches identity needs the rdma-thread mode); the "
		     "connection ends, nothing is retried",
	       what, smbdirect_thread_mode_string(smbdirect_get_thread_mode()));
	if (!conn->ended) {
		/* The peer may never hear of it (rdma_disconnect fails the
		 * same way): at least stop the QP here. */
		struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };

		conn->disconnect_sent = true;
		ibv_modify_qp(conn->qp, &attr, IBV_QP_STATE);
	}
	sd_conn_fail(conn, SMBDIRECT_REASON_CREDENTIALS_CHANGED,
		     "%s: EACCES (credentials changed)", what);
}

/* rdma_disconnect, where the thread mode says. */
void sd_conn_disconnect(struct smbdirect_conn *conn)
{
	int ret = sd_disconnect_id(conn->id);

	if (ret == EACCES) {
		sd_log(conn, "rdma_disconnect: EACCES: this thread's "
			     "credentials changed after the RDMA device was "
			     "opened; the peer is not told");
	}
}

void sd_conn_fail(struct smbdirect_conn *conn, enum smbdirect_reason reason,
		  const char *fmt, ...)
{
	char detail[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	smbdirect_engine_fail(conn->engine, reason, detail);
}

/* --- set-up and teardown ---------------------------------------------- */

static int release_rdma(void *arg);

static int conn_destructor(struct smbdirect_conn *conn)
{
	if (conn->busy > 0) {
		/* Freed from inside one of its own callbacks: talloc keeps the
		 * object (orphaned) and poll_cq() frees it when it unwinds. */
		conn->free_pending = true;
		return -1;
	}
	TALLOC_FREE(conn->timer);
	TALLOC_FREE(conn->cq_fde);
	/* Synchronous with the RDMA thread: no event or failed post of ours
	 * is delivered after this, and every post we queued went down. */
	TALLOC_FREE(conn->watch);
	sd_call(release_rdma, conn);
	return 0;
}

/* Runs where sd_call() runs it: reverse order of creation; every step
 * tolerates a partial set-up. */
static int release_rdma(void *arg)
{
	struct smbdirect_conn *conn = arg;

	if (conn->id != NULL && conn->connected && !conn->disconnect_sent) {
		rdma_disconnect(conn->id);
	}
	if (conn->qp != NULL) {
		ibv_destroy_qp(conn->qp);
	}
	if (conn->cq != NULL) {
		if (conn->cq_events_unacked > 0) {
			ibv_ack_cq_events(conn->cq, conn->cq_events_unacked);
		}
		ibv_destroy_cq(conn->cq);
	}
	if (conn->comp != NULL) {
		ibv_destroy_comp_channel(conn->comp);
	}
	if (conn->recv_mr != NULL) {
		ibv_dereg_mr(conn->recv_mr);
	}
	if (conn->send_mr != NULL) {
		ibv_dereg_mr(conn->send_mr);
	}
	/* Exposures and lent buffers are talloc children of the caller;
	 * their MRs belong to our PD, which must outlive them: the caller
	 * frees them before the connection. */
	if (conn->pd != NULL) {
		ibv_dealloc_pd(conn->pd);
	}
	if (conn->verbs != NULL) {
		ibv_close_device(conn->verbs);
	}
	if (conn->id != NULL) {
		rdma_destroy_id(conn->id);
	}
	if (conn->cm_channel != NULL && conn->own_cm_channel) {
		rdma_destroy_event_channel(conn->cm_channel);
	}
	return 0;
}

static int register_pools(void *arg);

static int create_pools(struct smbdirect_conn *conn)
{
	size_t recv_bytes;
	size_t send_bytes;
	uint32_t i;

	conn->recv_size = smbdirect_engine_receive_buffer_size(conn->engine);
	/* [MS-SMBD] 3.1.5.9: at most receive_credit_max + 1 posted. */
	conn->recv_count = (uint32_t)conn->settings.receive_credit_max + 1;
	recv_bytes = (size_t)conn->recv_count * conn->recv_size;
	conn->recv_mem = talloc_zero_size(conn, recv_bytes);
	conn->recv_free = talloc_array(conn, uint32_t, conn->recv_count);
	if (conn->recv_mem == NULL || conn->recv_free == NULL) {
		return ENOMEM;
	}
	for (i = 0; i < conn->recv_count; i++) {
		conn->recv_free[i] = conn->recv_count - 1 - i;
	}
	conn->recv_free_count = conn->recv_count;

	/* A send slot holds the largest message we may send: the
	 * negotiate response (32) or max_send_size. */
	conn->send_slot_size = conn->settings.max_send_size;
	if (conn->send_slot_size < SMBDIRECT_NEGOTIATE_RESPONSE_SIZE) {
		conn->send_slot_size = SMBDIRECT_NEGOTIATE_RESPONSE_SIZE;
	}
	conn->send_slots = conn->settings.max_outstanding_sends;
	send_bytes = (size_t)conn->send_slots * conn->send_slot_size;
	conn->send_mem = talloc_zero_size(conn, send_bytes);
	if (conn->send_mem == NULL) {
		return ENOMEM;
	}
	return sd_call(register_pools, conn);
}

/* Runs where sd_call() runs it. */
static int register_pools(void *arg)
{
	struct smbdirect_conn *conn = arg;

	conn->recv_mr = ibv_reg_mr(conn->pd, conn->recv_mem,
				   (size_t)conn->recv_count * conn->recv_size,
				   IBV_ACCESS_LOCAL_WRITE);
	if (conn->recv_mr == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	conn->send_mr = ibv_reg_mr(conn->pd, conn->send_mem,
				   (size_t)conn->send_slots *
					   conn->send_slot_size,
				   IBV_ACCESS_LOCAL_WRITE);
	if (conn->send_mr == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	return 0;
}

/* Runs where sd_call() runs it (the RDMA thread opens the device in thread
 * mode, so that its fds carry the thread's credentials). */
static int create_verbs(void *arg)
{
	struct smbdirect_conn *conn = arg;
	struct ibv_device_attr attr;
	struct ibv_qp_init_attr qp_attr;
	struct ibv_qp_attr mod;
	int mask = 0;
	int cqe;
	int ret;

	if (conn->id->verbs == NULL) {
		return ENODEV;
	}
	/* Our own context on the id's device (fork-and-credentials.md). */
	conn->verbs = ibv_open_device(conn->id->verbs->device);
	if (conn->verbs == NULL) {
		return errno != 0 ? errno : ENODEV;
	}
	ret = ibv_query_device(conn->verbs, &attr);
	if (ret != 0) {
		return ret;
	}
	conn->max_sge = attr.max_sge < 16 ? (uint32_t)attr.max_sge : 16;
	conn->max_rd_atomic = (uint32_t)attr.max_qp_init_rd_atom;
	conn->responder_resources =
		(uint8_t)(attr.max_qp_rd_atom < 255 ? attr.max_qp_rd_atom : 255);
	conn->initiator_depth = (uint8_t)(
		attr.max_qp_init_rd_atom < 255 ? attr.max_qp_init_rd_atom : 255);
	/* Per-I/O rkeys ([MS-SMBD] 3.1.4.3): type-2 memory windows when the
	 * device has them (rxe does: 2B), else an MR per exposure. The
	 * environment variable SMBDIRECT_NO_MW forces MRs (for tests). */
	conn->use_mw = attr.max_mw > 0 &&
		       (attr.device_cap_flags &
			(IBV_DEVICE_MEM_WINDOW_TYPE_2A |
			 IBV_DEVICE_MEM_WINDOW_TYPE_2B)) != 0 &&
		       getenv("SMBDIRECT_NO_MW") == NULL;
	conn->max_msg_size = 1u << 30;
	{
		struct ibv_port_attr port;

		if (ibv_query_port(conn->verbs, conn->id->port_num, &port) ==
			    0 &&
		    port.max_msg_sz != 0 && port.max_msg_sz < conn->max_msg_size) {
			conn->max_msg_size = port.max_msg_sz;
		}
	}

	conn->pd = ibv_alloc_pd(conn->verbs);
	if (conn->pd == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	conn->comp = ibv_create_comp_channel(conn->verbs);
	if (conn->comp == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	if (fcntl(conn->comp->fd, F_SETFL,
		  fcntl(conn->comp->fd, F_GETFL) | O_NONBLOCK) != 0) {
		return errno;
	}
	/* QP sizing: the engine's sends plus RDMA chains (and exposure
	 * binds/invalidations) in the send queue; every receive the engine
	 * may post in the receive queue. */
	conn->sq_depth =
		(uint32_t)conn->settings.max_outstanding_sends + SD_RDMA_WR_BUDGET;
	if (conn->sq_depth > (uint32_t)attr.max_qp_wr) {
		conn->sq_depth = (uint32_t)attr.max_qp_wr;
	}
	cqe = (int)(conn->sq_depth + conn->recv_count);
	if (cqe > attr.max_cqe) {
		cqe = attr.max_cqe;
	}
	conn->cq = ibv_create_cq(conn->verbs, cqe, conn, conn->comp, 0);
	if (conn->cq == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	if (ibv_req_notify_cq(conn->cq, 0) != 0) {
		return EIO;
	}

	memset(&qp_attr, 0, sizeof(qp_attr));
	qp_attr.qp_type = IBV_QPT_RC;
	qp_attr.send_cq = conn->cq;
	qp_attr.recv_cq = conn->cq;
	qp_attr.cap.max_send_wr = conn->sq_depth;
	qp_attr.cap.max_recv_wr = conn->recv_count;
	qp_attr.cap.max_send_sge = conn->max_sge;
	qp_attr.cap.max_recv_sge = 1;
	qp_attr.cap.max_inline_data = 256;
	conn->qp = ibv_create_qp(conn->pd, &qp_attr);
	if (conn->qp == NULL) {
		/* Some devices refuse inline data: retry without. */
		qp_attr.cap.max_inline_data = 0;
		conn->qp = ibv_create_qp(conn->pd, &qp_attr);
	}
	if (conn->qp == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	conn->max_inline = qp_attr.cap.max_inline_data;
	sd_post_rule(conn->verbs, &conn->post_send_via_thread,
		     &conn->post_recv_via_thread);

	/* INIT now, so receives can be posted before the connection is
	 * accepted or established. */
	memset(&mod, 0, sizeof(mod));
	mod.qp_state = IBV_QPS_INIT;
	if (rdma_init_qp_attr(conn->id, &mod, &mask) != 0) {
		return errno;
	}
	/* The peer RDMA-reads and -writes the memory we expose for SMB2
	 * READ/WRITE ([MS-SMBD] 3.1.4.3); each exposure's own rkey decides
	 * what it may touch. rdma_cm leaves these off for a QP it did not
	 * create. */
	mod.qp_access_flags |= IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			       IBV_ACCESS_REMOTE_WRITE;
	mask |= IBV_QP_ACCESS_FLAGS;
	ret = ibv_modify_qp(conn->qp, &mod, mask);
	return ret;
}

static int qp_ready(void *arg);

int sd_conn_qp_ready(struct smbdirect_conn *conn)
{
	return sd_call(qp_ready, conn);
}

/* Runs where sd_call() runs it: rdma_init_qp_attr is an rdma_cm call. */
static int qp_ready(void *arg)
{
	struct smbdirect_conn *conn = arg;
	struct ibv_qp_attr mod;
	int mask = 0;
	int ret;

	memset(&mod, 0, sizeof(mod));
	mod.qp_state = IBV_QPS_RTR;
	if (rdma_init_qp_attr(conn->id, &mod, &mask) != 0) {
		return errno;
	}
	if (mod.max_dest_rd_atomic > conn->responder_resources) {
		mod.max_dest_rd_atomic = conn->responder_resources;
	}
	ret = ibv_modify_qp(conn->qp, &mod, mask);
	if (ret != 0) {
		return ret;
	}
	memset(&mod, 0, sizeof(mod));
	mask = 0;
	mod.qp_state = IBV_QPS_RTS;
	if (rdma_init_qp_attr(conn->id, &mod, &mask) != 0) {
		return errno;
	}
	if (mod.max_rd_atomic > conn->initiator_depth) {
		mod.max_rd_atomic = conn->initiator_depth;
	}
	conn->max_rd_atomic = mod.max_rd_atomic > 0 ? mod.max_rd_atomic : 1;
	return ibv_modify_qp(conn->qp, &mod, mask);
}

struct smbdirect_conn *sd_conn_new(TALLOC_CTX *mem_ctx,
				   struct tevent_context *ev,
				   enum smbdirect_role role,
				   const struct smbdirect_settings *settings,
				   struct rdma_event_channel *channel,
				   struct rdma_cm_id *id, struct sd_watch *watch,
				   int *error)
{
	struct smbdirect_conn *conn = talloc_zero(mem_ctx, struct smbdirect_conn);
	int ret;

	if (conn == NULL) {
		*error = ENOMEM;
		return NULL;
	}
	talloc_set_name_const(conn, "struct smbdirect_conn");
	conn->ev = ev;
	conn->role = role;
	conn->settings = *settings;
	conn->cm_channel = channel;
	conn->id = id;
	conn->timer_at = SMBDIRECT_NO_EXPIRY;
	sd_format_addr(rdma_get_peer_addr(id), conn->peer, sizeof(conn->peer));
	talloc_set_destructor(conn, conn_destructor);

	conn->engine = smbdirect_engine_new(conn, role, settings,
					    &engine_callbacks, conn);
	if (conn->engine == NULL) {
		ret = EINVAL;
		goto fail;
	}
	conn->recv_count = (uint32_t)settings->receive_credit_max + 1;
	ret = sd_call(create_verbs, conn);
	if (ret != 0) {
		sd_log(conn, "creating verbs resources failed: %s",
		       strerror(ret));
		goto fail;
	}
	ret = create_pools(conn);
	if (ret != 0) {
		sd_log(conn, "registering buffers failed: %s", strerror(ret));
		goto fail;
	}
	conn->recv_queue_capacity = conn->recv_count;
	conn->recv_queue = talloc_zero_array(conn, struct sd_queued_msg,
					     conn->recv_queue_capacity);
	/* Never more send work requests pending than the send queue holds. */
	conn->send_batch_capacity = conn->sq_depth;
	conn->send_batch = talloc_zero_array(conn, struct ibv_send_wr,
					     conn->send_batch_capacity);
	conn->send_batch_sge = talloc_zero_array(conn, struct ibv_sge,
						 conn->send_batch_capacity);
	if (conn->recv_queue == NULL || conn->send_batch == NULL ||
	    conn->send_batch_sge == NULL) {
		ret = ENOMEM;
		goto fail;
	}
	if (watch != NULL) {
		/* The caller's watch (its handler stays until
		 * sd_conn_watch()) moves to the connection. */
		conn->watch = talloc_steal(conn, watch);
	} else {
		conn->watch = sd_watch_new(conn, ev, channel, sd_conn_cm_event,
					   conn);
		if (conn->watch == NULL) {
			ret = ENOMEM;
			goto fail;
		}
	}
	*error = 0;
	return conn;
fail:
	/* The caller keeps the id and channel on failure. */
	conn->id = NULL;
	conn->cm_channel = NULL;
	talloc_free(conn);
	*error = ret;
	return NULL;
}

/* --- upper-layer messages --------------------------------------------- */

struct sd_send_req {
	struct sd_send_req *prev, *next;
	struct smbdirect_conn *conn;
	struct tevent_req *req;
	struct smbdirect_engine_msg msg;
	struct iovec *iov;
	bool queued;
};

struct sd_recv_req {
	struct sd_recv_req *prev, *next;
	struct smbdirect_conn *conn;
	struct tevent_req *req;
	uint8_t *data;
	size_t length;
	bool linked;
};

static void list_add(void **head, void *item, size_t prev_off,
		     size_t next_off)
{
	char *it = item;

	*(void **)(it + prev_off) = NULL;
	*(void **)(it + next_off) = *head;
	if (*head != NULL) {
		*(void **)((char *)*head + prev_off) = item;
	}
	*head = item;
}

static void list_remove(void **head, void *item, size_t prev_off,
			size_t next_off)
{
	char *it = item;
	void *prev = *(void **)(it + prev_off);
	void *next = *(void **)(it + next_off);

	if (prev != NULL) {
		*(void **)((char *)prev + next_off) = next;
	} else {
		*head = next;
	}
	if (next != NULL) {
		*(void **)((char *)next + prev_off) = prev;
	}
	*(void **)(it + prev_off) = NULL;
	*(void **)(it + next_off) = NULL;
}

#define LIST_ADD(head, item, type)                                          \
	list_add((void **)(head), (item), offsetof(type, prev),             \
		 offsetof(type, next))
#define LIST_REMOVE(head, item, type)                                       \
	list_remove((void **)(head), (item), offsetof(type, prev),          \
		    offsetof(type, next))

static void send_req_done(struct smbdirect_conn *conn,
			  struct smbdirect_engine_msg *msg, int error)
{
	struct sd_send_req *s = msg->private_data;

	if (s->queued) {
		LIST_REMOVE(&conn->send_reqs, s, struct sd_send_req);
		s->queued = false;
	}
	if (error != 0) {
		tevent_req_error(s->req, error);
	} else {
		tevent_req_done(s->req);
	}
}

static int send_req_destructor(struct sd_send_req *s)
{
	/* The engine still links the message: the request may not go away
	 * before it completes or the connection ends, so end the
	 * connection (the caller gave up on an unsent message). */
	if (s->queued) {
		LIST_REMOVE(&s->conn->send_reqs, s, struct sd_send_req);
		s->queued = false;
		if (!s->conn->ended) {
			sd_conn_fail(s->conn, SMBDIRECT_REASON_LOCAL_CLOSE,
				     "a send request was freed while queued");
		}
	}
	return 0;
}

static void fail_pending(struct smbdirect_conn *conn)
{
	while (conn->send_reqs != NULL) {
		struct sd_send_req *s = conn->send_reqs;

		LIST_REMOVE(&conn->send_reqs, s, struct sd_send_req);
		s->queued = false;
		tevent_req_error(s->req, ENOTCONN);
	}
	while (conn->recv_reqs != NULL) {
		struct sd_recv_req *r = conn->recv_reqs;

		LIST_REMOVE(&conn->recv_reqs, r, struct sd_recv_req);
		r->linked = false;
		tevent_req_error(r->req, ENOTCONN);
	}
	sd_rdma_fail_all(conn);
}

static struct tevent_req *send_common(void *mem_ctx, struct tevent_context *ev,
				      struct smbdirect_conn *conn,
				      const struct iovec *iov, int iovcnt,
				      bool invalidate, uint32_t remote_rkey)
{
	struct tevent_req *req;
	struct sd_send_req *s;
	int ret;

	req = tevent_req_create(mem_ctx, &s, struct sd_send_req);
	if (req == NULL) {
		return NULL;
	}
	s->conn = conn;
	s->req = req;
	if (conn->ended || !conn->connected) {
		tevent_req_error(req, ENOTCONN);
		return tevent_req_post(req, ev);
	}
	if (iovcnt < 0) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	s->iov = talloc_memdup(s, iov, sizeof(*iov) * (size_t)(iovcnt > 0 ? iovcnt : 1));
	if (tevent_req_nomem(s->iov, req)) {
		return tevent_req_post(req, ev);
	}
	s->msg.iov = s->iov;
	s->msg.iov_count = (unsigned int)iovcnt;
	s->msg.private_data = s;
	/* [MS-SMBD] 3.1.4.2: the token travels with this message. */
	s->msg.invalidate = invalidate;
	s->msg.invalidate_token = remote_rkey;
	LIST_ADD(&conn->send_reqs, s, struct sd_send_req);
	s->queued = true;
	talloc_set_destructor(s, send_req_destructor);
	sd_conn_hold(conn);
	ret = smbdirect_engine_submit(conn->engine, sd_now(), &s->msg);
	if (ret != 0) {
		LIST_REMOVE(&conn->send_reqs, s, struct sd_send_req);
		s->queued = false;
		tevent_req_error(req, ret);
		sd_conn_release(conn);
		return tevent_req_post(req, ev);
	}
	if (!sd_conn_release(conn) || !tevent_req_is_in_progress(req)) {
		/* The connection ended (or was freed) inside submit. */
		return tevent_req_post(req, ev);
	}
	sd_conn_update_timer(conn);
	return req;
}

struct tevent_req *smbdirect_send_send(void *mem_ctx,
				       struct tevent_context *ev,
				       struct smbdirect_conn *conn,
				       const struct iovec *iov, int iovcnt)
{
	return send_common(mem_ctx, ev, conn, iov, iovcnt, false, 0);
}

struct tevent_req *smbdirect_send_invalidate_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	const struct iovec *iov, int iovcnt, uint32_t remote_rkey)
{
	return send_common(mem_ctx, ev, conn, iov, iovcnt, true, remote_rkey);
}

int smbdirect_send_recv(struct tevent_req *req)
{
	enum tevent_req_state state;
	uint64_t err;

	if (tevent_req_is_error(req, &state, &err)) {
		tevent_req_received(req);
		return err != 0 ? (int)err : EIO;
	}
	tevent_req_received(req);
	return 0;
}

/* A message for smbdirect_recv_send(): copied, so the receive buffer goes
 * back to the pool at once (the zero-copy path is the message handler). */
static void queue_message(struct smbdirect_conn *conn, const uint8_t *data,
			  size_t length)
{
	struct sd_recv_req *r = conn->recv_reqs;
	struct sd_queued_msg *q;
	uint32_t slot;

	if (r != NULL) {
		/* The oldest waiting request is the list's tail. */
		while (r->next != NULL) {
			r = r->next;
		}
		r->data = talloc_memdup(r, data, length > 0 ? length : 1);
		if (tevent_req_nomem(r->data, r->req)) {
			return;
		}
		r->length = length;
		LIST_REMOVE(&conn->recv_reqs, r, struct sd_recv_req);
		r->linked = false;
		tevent_req_done(r->req);
		return;
	}
	if (conn->recv_queue_count >= conn->recv_queue_capacity) {
		/* Bounded: the peer can have at most recv_count messages
		 * in flight, and each is consumed here before reposting. */
		sd_conn_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
			     "%u messages waiting for the application",
			     conn->recv_queue_count);
		return;
	}
	slot = (conn->recv_queue_first + conn->recv_queue_count) %
	       conn->recv_queue_capacity;
	q = &conn->recv_queue[slot];
	q->data = talloc_memdup(conn->recv_queue, data, length > 0 ? length : 1);
	if (q->data == NULL) {
		sd_conn_fail(conn, SMBDIRECT_REASON_NO_MEMORY,
			     "no memory for a received message");
		return;
	}
	q->length = length;
	conn->recv_queue_count += 1;
}

static int recv_req_destructor(struct sd_recv_req *r)
{
	if (r->linked) {
		LIST_REMOVE(&r->conn->recv_reqs, r, struct sd_recv_req);
		r->linked = false;
	}
	return 0;
}

struct tevent_req *smbdirect_recv_send(void *mem_ctx,
				       struct tevent_context *ev,
				       struct smbdirect_conn *conn)
{
	struct tevent_req *req;
	struct sd_recv_req *r;

	req = tevent_req_create(mem_ctx, &r, struct sd_recv_req);
	if (req == NULL) {
		return NULL;
	}
	r->conn = conn;
	r->req = req;
	if (conn->recv_queue_count > 0) {
		struct sd_queued_msg *q =
			&conn->recv_queue[conn->recv_queue_first];

		r->data = talloc_steal(r, q->data);
		r->length = q->length;
		q->data = NULL;
		conn->recv_queue_first =
			(conn->recv_queue_first + 1) % conn->recv_queue_capacity;
		conn->recv_queue_count -= 1;
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	if (conn->ended) {
		tevent_req_error(req, ENOTCONN);
		return tevent_req_post(req, ev);
	}
	LIST_ADD(&conn->recv_reqs, r, struct sd_recv_req);
	r->linked = true;
	talloc_set_destructor(r, recv_req_destructor);
	return req;
}

int smbdirect_recv_recv(struct tevent_req *req, void *mem_ctx, uint8_t **data,
			size_t *length)
{
	struct sd_recv_req *r = tevent_req_data(req, struct sd_recv_req);
	enum tevent_req_state state;
	uint64_t err;

	if (tevent_req_is_error(req, &state, &err)) {
		tevent_req_received(req);
		return err != 0 ? (int)err : EIO;
	}
	*data = talloc_steal(mem_ctx, r->data);
	*length = r->length;
	tevent_req_received(req);
	return 0;
}

/* --- queries ---------------------------------------------------------- */

void smbdirect_conn_set_handlers(struct smbdirect_conn *conn,
				 const struct smbdirect_conn_handlers *handlers,
				 void *private_data)
{
	if (handlers != NULL) {
		conn->handlers = *handlers;
	} else {
		memset(&conn->handlers, 0, sizeof(conn->handlers));
	}
	conn->handlers_private = private_data;
}

const struct smbdirect_params *
smbdirect_conn_params(const struct smbdirect_conn *conn)
{
	return smbdirect_engine_params(conn->engine);
}

const char *smbdirect_conn_peer(const struct smbdirect_conn *conn)
{
	return conn->peer;
}

void smbdirect_disconnect(struct smbdirect_conn *conn)
{
	smbdirect_engine_close(conn->engine);
}

void smbdirect_conn_get_stats(const struct smbdirect_conn *conn,
			      struct smbdirect_conn_stats *stats)
{
	*stats = conn->stats;
	smbdirect_engine_get_stats(conn->engine, &stats->engine);
}
