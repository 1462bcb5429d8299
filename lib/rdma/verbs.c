/*
 * libsmbdirect: one connection's verbs objects: our own device context,
 * PD, completion channel, CQ, RC QP (INIT, then RTR and RTS by hand) and
 * the registered receive and send pools; released in reverse order.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Every verbs and rdma_cm call here runs where sd_call() runs it (the RDMA
 * thread in thread mode, so that its fds carry the thread's credentials).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

static int register_pools(void *arg);
static int qp_ready(void *arg);

/* The attributes that move our QP to `state`: from rdma_cm, or, in a
 * forked child, those the listener's process read for us before fork()
 * (proxy.c). Returns 0 or an errno value. */
static int qp_attr_for(struct smbdirect_conn *conn, enum ibv_qp_state state,
		       struct ibv_qp_attr *mod, int *mask)
{
	memset(mod, 0, sizeof(*mod));
	*mask = 0;
	if (conn->proxy != NULL) {
		int i = state == IBV_QPS_INIT ? 0 : state == IBV_QPS_RTR ? 1 : 2;

		*mod = conn->proxy->qp_attr[i];
		*mask = conn->proxy->qp_mask[i];
		return 0;
	}
	mod->qp_state = state;
	if (rdma_init_qp_attr(conn->id, mod, mask) != 0) {
		return errno != 0 ? errno : EIO;
	}
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

static int create_pools(struct smbdirect_conn *conn)
{
	size_t recv_bytes;
	size_t send_bytes;
	uint32_t i;

	conn->recv_size = smbdirect_engine_receive_buffer_size(conn->engine);
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
	struct ibv_device *device =
		conn->proxy != NULL    ? conn->proxy->device
		: conn->id->verbs != NULL ? conn->id->verbs->device
					  : NULL;
	uint8_t port_num = conn->proxy != NULL ? conn->proxy->port_num
					       : conn->id->port_num;

	if (device == NULL) {
		return ENODEV;
	}
	/* Our own context on the id's device (docs/fork-and-credentials.md). */
	conn->verbs = ibv_open_device(device);
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
	/* rxe (Linux 6.1) checks an access through a type-2 window against
	 * the registration the window is bound to, not against the window
	 * (measured: a window over 4 KiB of a 64 KiB lent buffer let the
	 * peer write all 64 KiB; docs/robustness.md). There every window
	 * gets a registration of exactly its range (memory.c). rxe reports
	 * vendor id 0xffffff (post.c). */
	conn->mw_own_mr = conn->use_mw && attr.vendor_id == 0xffffff;
	conn->max_msg_size = 1u << 30;
	{
		struct ibv_port_attr port;

		if (ibv_query_port(conn->verbs, port_num, &port) ==
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
	{
		/* Fixed for the connection's life: the thread mode cannot
		 * change while a connection exists. */
		struct sd_rt *rt = sd_rt_current();
		bool send_via_thread;
		bool recv_via_thread;

		sd_post_rule(conn->verbs, &send_via_thread, &recv_via_thread);
		conn->send_rt = send_via_thread ? rt : NULL;
		conn->recv_rt = recv_via_thread ? rt : NULL;
	}

	/* INIT now, so receives can be posted before the connection is
	 * accepted or established. */
	ret = qp_attr_for(conn, IBV_QPS_INIT, &mod, &mask);
	if (ret != 0) {
		return ret;
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

/* Runs where sd_call() runs it: rdma_init_qp_attr is an rdma_cm call. */
static int qp_ready(void *arg)
{
	struct smbdirect_conn *conn = arg;
	struct ibv_qp_attr mod;
	int mask = 0;
	int ret;

	ret = qp_attr_for(conn, IBV_QPS_RTR, &mod, &mask);
	if (ret != 0) {
		return ret;
	}
	if (mod.max_dest_rd_atomic > conn->responder_resources) {
		mod.max_dest_rd_atomic = conn->responder_resources;
	}
	ret = ibv_modify_qp(conn->qp, &mod, mask);
	if (ret != 0) {
		return ret;
	}
	ret = qp_attr_for(conn, IBV_QPS_RTS, &mod, &mask);
	if (ret != 0) {
		return ret;
	}
	if (mod.max_rd_atomic > conn->initiator_depth) {
		mod.max_rd_atomic = conn->initiator_depth;
	}
	conn->max_rd_atomic = mod.max_rd_atomic > 0 ? mod.max_rd_atomic : 1;
	return ibv_modify_qp(conn->qp, &mod, mask);
}

int sd_verbs_create(struct smbdirect_conn *conn)
{
	int ret;

	/* [MS-SMBD] 3.1.5.9: the most receives ever posted sizes the
	 * receive queue and pool. */
	conn->recv_count = smbdirect_engine_receive_buffer_count(conn->engine);
	ret = sd_call(create_verbs, conn);
	if (ret != 0) {
		sd_log(SMBDIRECT_LOG_ERROR, conn, NULL,
		       "creating verbs resources failed: %s",
		       strerror(ret));
		return ret;
	}
	ret = create_pools(conn);
	if (ret != 0) {
		sd_log(SMBDIRECT_LOG_ERROR, conn, NULL,
		       "registering buffers failed: %s", strerror(ret));
	}
	return ret;
}

int sd_conn_qp_ready(struct smbdirect_conn *conn)
{
	return sd_call(qp_ready, conn);
}

void sd_verbs_release(struct smbdirect_conn *conn)
{
	sd_call(release_rdma, conn);
}
