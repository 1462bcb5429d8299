/*
 * libsmbdirect: RDMA read and write against the peer's buffer
 * descriptors ([MS-SMBD] 3.1.4.5, 3.1.4.6): the descriptor list walked in
 * order, one work request per piece (split at the port's message size),
 * reads bounded by the negotiated initiator depth, everything by the send
 * queue; posted in chains.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "conn.h"

#include "list.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SD_MEM_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef SD_MEM_DEFINED
#define SD_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

struct sd_rdma_op {
	struct sd_rdma_op *prev, *next;
	struct smbdirect_conn *conn;
	struct tevent_req *req;
	bool write;
	bool posted_all;
	bool linked_waiting;
	bool linked_posted;
	struct smbdirect_buffer *local;
	size_t local_offset;
	size_t length;
	size_t done_bytes;          /* bytes handed to work requests */
	struct smbdirect_buffer_descriptor *remote;
	size_t remote_count;
	size_t remote_index;        /* descriptor of the next byte */
	size_t remote_offset;       /* offset in that descriptor */
	uint32_t wr_posted;
	uint32_t wr_completed;
	int error;
};

static void op_unlink(struct sd_rdma_op *op)
{
	struct smbdirect_conn *conn = op->conn;

	if (conn == NULL) {
		return;
	}
	if (op->linked_waiting) {
		SD_LIST_REMOVE(conn->rdma_waiting, op);
		op->linked_waiting = false;
	} else if (op->linked_posted) {
		SD_LIST_REMOVE(conn->rdma_posted, op);
		op->linked_posted = false;
	}
}

static int op_destructor(struct sd_rdma_op *op)
{
	if (op->conn == NULL) {
		return 0; /* its connection was freed first */
	}
	if (op->wr_posted != op->wr_completed && !op->conn->ended) {
		/* Work requests still reference the caller's memory: the
		 * only safe way out is to end the connection. */
		op_unlink(op);
		sd_conn_fail(op->conn, SMBDIRECT_REASON_LOCAL_CLOSE,
			     "an RDMA request was freed while in flight");
		return 0;
	}
	op_unlink(op);
	return 0;
}

static void op_finish(struct sd_rdma_op *op)
{
	op_unlink(op);
	if (op->error == 0 && !op->write) {
		/* The device wrote these bytes: tell memcheck (no-op outside
		 * valgrind). */
		SD_MEM_DEFINED(op->local->data + op->local_offset, op->length);
	}
	if (op->error != 0) {
		tevent_req_error(op->req, op->error);
	} else {
		tevent_req_done(op->req);
	}
}

/* Work requests of one RDMA operation posted as one chain (one doorbell). */
#define SD_RDMA_CHAIN 16

/* Post a chain built by op_post(); false if the connection failed. */
static bool op_post_chain(struct smbdirect_conn *conn, struct sd_rdma_op *op,
			  struct ibv_send_wr *wr, uint32_t count)
{
	int ret;

	if (count == 0) {
		return true;
	}
	ret = sd_post_send(conn, wr);
	if (ret != 0) {
		sd_post_failed(conn, op->write ? "posting an RDMA write"
					       : "posting an RDMA read",
			       ret);
		return false;
	}
	return true;
}

/* Post as many work requests of `op` as the queues allow. */
static bool op_post(struct smbdirect_conn *conn, struct sd_rdma_op *op)
{
	struct ibv_sge sge[SD_RDMA_CHAIN];
	struct ibv_send_wr wr[SD_RDMA_CHAIN];
	uint32_t n = 0;

	while (op->done_bytes < op->length) {
		const struct smbdirect_buffer_descriptor *d =
			&op->remote[op->remote_index];
		size_t chunk = d->length - op->remote_offset;

		if (conn->sq_used >= conn->sq_depth) {
			break;
		}
		if (!op->write && conn->rdma_reads_in_flight >=
					  conn->max_rd_atomic) {
			break;
		}
		if (n == SD_RDMA_CHAIN) {
			if (!op_post_chain(conn, op, wr, n)) {
				return false;
			}
			n = 0;
		}
		if (chunk > op->length - op->done_bytes) {
			chunk = op->length - op->done_bytes;
		}
		if (chunk > conn->max_msg_size) {
			chunk = conn->max_msg_size;
		}
		memset(&wr[n], 0, sizeof(wr[n]));
		sge[n].addr = (uintptr_t)(op->local->data + op->local_offset +
					  op->done_bytes);
		sge[n].length = (uint32_t)chunk;
		sge[n].lkey = op->local->mr->lkey;
		wr[n].wr_id = (uint64_t)(uintptr_t)op | SD_WR_RDMA;
		wr[n].sg_list = &sge[n];
		wr[n].num_sge = 1;
		wr[n].opcode = op->write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
		wr[n].send_flags = IBV_SEND_SIGNALED;
		wr[n].wr.rdma.remote_addr = d->offset + op->remote_offset;
		wr[n].wr.rdma.rkey = d->token;
		if (n > 0) {
			wr[n - 1].next = &wr[n];
		}
		n += 1;
		conn->sq_used += 1;
		if (!op->write) {
			conn->rdma_reads_in_flight += 1;
			conn->stats.rdma_reads += 1;
		} else {
			conn->stats.rdma_writes += 1;
		}
		op->wr_posted += 1;
		op->done_bytes += chunk;
		op->remote_offset += chunk;
		if (op->remote_offset == d->length) {
			op->remote_index += 1;
			op->remote_offset = 0;
		}
	}
	if (!op_post_chain(conn, op, wr, n)) {
		return false;
	}
	if (op->done_bytes < op->length) {
		return false;
	}
	op->posted_all = true;
	return true;
}

void sd_rdma_kick(struct smbdirect_conn *conn)
{
	while (conn->rdma_waiting != NULL && !conn->ended) {
		struct sd_rdma_op *op = conn->rdma_waiting;
		bool all = op_post(conn, op);

		if (!all) {
			return;
		}
		op_unlink(op);
		op->linked_posted = true;
		SD_LIST_ADD_END(conn->rdma_posted, op);
	}
}

void sd_rdma_completed(struct smbdirect_conn *conn, struct sd_rdma_op *op,
		       const struct ibv_wc *wc)
{
	/* op_finish() may free op (the caller's callback frees the
	 * request): keep what the failure path below needs. */
	const char *what = op->write ? "write" : "read";

	conn->sq_used -= 1;
	if (wc->opcode == IBV_WC_RDMA_READ ||
	    (!op->write && wc->status != IBV_WC_SUCCESS)) {
		conn->rdma_reads_in_flight -= 1;
	}
	op->wr_completed += 1;
	if (wc->status != IBV_WC_SUCCESS) {
		if (op->error == 0) {
			op->error = wc->status == IBV_WC_REM_ACCESS_ERR ||
						    wc->status == IBV_WC_REM_INV_REQ_ERR
					    ? EIO
					    : ENOTCONN;
		}
		if (wc->status != IBV_WC_WR_FLUSH_ERR) {
			sd_log(SMBDIRECT_LOG_WARNING, conn, NULL, "RDMA %s failed: %s", what,
			       ibv_wc_status_str(wc->status));
		}
	} else {
		conn->stats.rdma_bytes += wc->byte_len;
	}
	if (op->posted_all && op->wr_completed == op->wr_posted) {
		op_finish(op);
	}
	if (wc->status != IBV_WC_SUCCESS) {
		/* The QP is in error now: the connection is over. */
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "RDMA %s failed: %s", what,
			     ibv_wc_status_str(wc->status));
	}
}

void sd_rdma_fail_all(struct smbdirect_conn *conn)
{
	/* Waiting ones never reached the QP: fail them now. Posted ones
	 * complete (flushed) through the CQ, or die with the QP. */
	while (conn->rdma_waiting != NULL) {
		struct sd_rdma_op *op = conn->rdma_waiting;

		op->error = ENOTCONN;
		if (op->wr_posted == op->wr_completed) {
			op_finish(op);
		} else {
			op_unlink(op);
			op->posted_all = true;
			op->linked_posted = true;
			SD_LIST_ADD_END(conn->rdma_posted, op);
		}
	}
	while (conn->rdma_posted != NULL) {
		struct sd_rdma_op *op = conn->rdma_posted;

		/* After the end no completion will be processed: the QP is
		 * destroyed with the connection. */
		op->error = ENOTCONN;
		op->wr_completed = op->wr_posted;
		op_finish(op);
	}
}

void sd_rdma_orphan_all(struct smbdirect_conn *conn)
{
	while (conn->rdma_waiting != NULL) {
		struct sd_rdma_op *op = conn->rdma_waiting;

		op_unlink(op);
		op->conn = NULL;
	}
	while (conn->rdma_posted != NULL) {
		struct sd_rdma_op *op = conn->rdma_posted;

		op_unlink(op);
		op->conn = NULL;
	}
}

static struct tevent_req *rdma_common(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	bool write, struct smbdirect_buffer *local, size_t offset,
	size_t length, const struct smbdirect_buffer_descriptor *remote,
	size_t count)
{
	struct tevent_req *req;
	struct sd_rdma_op *op;
	const struct smbdirect_params *params;
	uint64_t total = 0;
	size_t i;

	if (conn->remote != NULL) {
		return conn->remote_ops->rdma(mem_ctx, ev, conn, write, local, offset,
				      length, remote, count);
	}
	req = tevent_req_create(mem_ctx, &op, struct sd_rdma_op);
	if (req == NULL) {
		return NULL;
	}
	op->conn = conn;
	op->req = req;
	op->write = write;
	if (conn->ended || !conn->connected) {
		tevent_req_error(req, ENOTCONN);
		return tevent_req_post(req, ev);
	}
	params = smbdirect_engine_params(conn->engine);
	if (local == NULL || remote == NULL || count == 0 || length == 0 ||
	    offset > local->size || length > local->size - offset ||
	    length > params->max_read_write_size) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	for (i = 0; i < count; i++) {
		/* [MS-SMBD] 2.2.3.1: no empty descriptor, none whose range
		 * runs past 2^64 (its work requests would wrap around). */
		if (remote[i].length == 0 ||
		    remote[i].offset > UINT64_MAX - remote[i].length + 1) {
			tevent_req_error(req, EINVAL);
			return tevent_req_post(req, ev);
		}
		total += remote[i].length;
	}
	if (total < length) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	op->local = local;
	op->local_offset = offset;
	op->length = length;
	op->remote = talloc_memdup(op, remote, sizeof(*remote) * count);
	if (tevent_req_nomem(op->remote, req)) {
		return tevent_req_post(req, ev);
	}
	op->remote_count = count;
	talloc_set_destructor(op, op_destructor);
	/* Operations are posted in submission order. */
	op->linked_waiting = true;
	SD_LIST_ADD_END(conn->rdma_waiting, op);
	sd_conn_hold(conn);
	sd_rdma_kick(conn);
	if (!sd_conn_release(conn) || !tevent_req_is_in_progress(req)) {
		return tevent_req_post(req, ev);
	}
	return req;
}

struct tevent_req *smbdirect_rdma_write_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	struct smbdirect_buffer *local, size_t offset, size_t length,
	const struct smbdirect_buffer_descriptor *remote, size_t count)
{
	return rdma_common(mem_ctx, ev, conn, true, local, offset, length,
			   remote, count);
}

struct tevent_req *smbdirect_rdma_read_send(
	void *mem_ctx, struct tevent_context *ev, struct smbdirect_conn *conn,
	struct smbdirect_buffer *local, size_t offset, size_t length,
	const struct smbdirect_buffer_descriptor *remote, size_t count)
{
	return rdma_common(mem_ctx, ev, conn, false, local, offset, length,
			   remote, count);
}

int smbdirect_rdma_recv(struct tevent_req *req)
{
	return sd_req_simple_recv(req);
}
