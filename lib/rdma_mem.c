/*
 * libsmbdirect: registered buffers, memory exposed to the peer, and RDMA
 * read/write against the peer's buffer descriptors ([MS-SMBD] 3.1.4.3 to
 * 3.1.4.6).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rdma_private.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SD_MEM_DEFINED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef SD_MEM_DEFINED
#define SD_MEM_DEFINED(p, n) ((void)(p), (void)(n))
#endif

/* --- lent buffers ------------------------------------------------------ */

struct smbdirect_buffer {
	struct smbdirect_conn *conn;
	uint8_t *data;
	size_t size;
	struct ibv_mr *mr;
};

/* Verbs calls of this file, where sd_call() runs them. */
struct mem_call {
	struct ibv_pd *pd;
	void *addr;
	size_t length;
	int access;
	struct ibv_mr *mr;
	struct ibv_mw *mw;
};

static int reg_mr_fn(void *arg)
{
	struct mem_call *c = arg;

	c->mr = ibv_reg_mr(c->pd, c->addr, c->length, c->access);
	return c->mr == NULL ? (errno != 0 ? errno : ENOMEM) : 0;
}

static int dereg_mr_fn(void *arg)
{
	return ibv_dereg_mr(arg);
}

static int alloc_mw_fn(void *arg)
{
	struct mem_call *c = arg;

	c->mw = ibv_alloc_mw(c->pd, IBV_MW_TYPE_2);
	return c->mw == NULL ? (errno != 0 ? errno : ENOMEM) : 0;
}

static int dealloc_mw_fn(void *arg)
{
	return ibv_dealloc_mw(arg);
}

static struct ibv_mr *reg_mr(struct ibv_pd *pd, void *addr, size_t length,
			     int access)
{
	struct mem_call c = {
		.pd = pd, .addr = addr, .length = length, .access = access
	};
	int ret = sd_call(reg_mr_fn, &c);

	if (ret != 0) {
		errno = ret;
		return NULL;
	}
	return c.mr;
}

static int buffer_destructor(struct smbdirect_buffer *b)
{
	if (b->mr != NULL) {
		sd_call(dereg_mr_fn, b->mr);
	}
	free(b->data);
	return 0;
}

struct smbdirect_buffer *smbdirect_buffer_new(void *mem_ctx,
					      struct smbdirect_conn *conn,
					      size_t size)
{
	struct smbdirect_buffer *b;
	long page = sysconf(_SC_PAGESIZE);

	if (conn == NULL || size == 0) {
		errno = EINVAL;
		return NULL;
	}
	b = talloc_zero(mem_ctx, struct smbdirect_buffer);
	if (b == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	b->conn = conn;
	b->size = size;
	talloc_set_destructor(b, buffer_destructor);
	if (posix_memalign((void **)&b->data, page > 0 ? (size_t)page : 4096,
			   size) != 0) {
		talloc_free(b);
		errno = ENOMEM;
		return NULL;
	}
	/* No remote access: the peer reaches it only through exposures, each
	 * with an rkey of its own (a memory window bound to this MR, or an
	 * MR of its own). */
	b->mr = reg_mr(conn->pd, b->data, size,
		       IBV_ACCESS_LOCAL_WRITE |
			       (conn->use_mw ? IBV_ACCESS_MW_BIND : 0));
	if (b->mr == NULL) {
		int err = errno != 0 ? errno : ENOMEM;

		talloc_free(b);
		errno = err;
		return NULL;
	}
	return b;
}

void *smbdirect_buffer_data(struct smbdirect_buffer *buffer)
{
	return buffer->data;
}

size_t smbdirect_buffer_size(const struct smbdirect_buffer *buffer)
{
	return buffer->size;
}

/* --- exposures: an rkey per I/O -------------------------------------------- */

struct smbdirect_exposure {
	struct smbdirect_exposure *prev, *next;
	struct smbdirect_conn *conn;
	struct ibv_mr *mr;  /* per-I/O registration, or */
	struct ibv_mw *mw;  /* a type-2 window bound to the buffer's MR */
	uint32_t rkey;
	bool invalidated;
};

static int exposure_destructor(struct smbdirect_exposure *x)
{
	struct smbdirect_conn *conn = x->conn;

	if (x->prev != NULL) {
		x->prev->next = x->next;
	} else if (conn->exposures == x) {
		conn->exposures = x->next;
	}
	if (x->next != NULL) {
		x->next->prev = x->prev;
	}
	/* [MS-SMBD] 3.1.4.4: when this returns the peer can no longer reach
	 * the memory. Deallocating a window (bound or not) and deregistering
	 * an MR both revoke the rkey synchronously. */
	if (x->mw != NULL) {
		sd_call(dealloc_mw_fn, x->mw);
	}
	if (x->mr != NULL) {
		sd_call(dereg_mr_fn, x->mr);
	}
	return 0;
}

/* Bind a type-2 window over the range: the bind goes through the send
 * queue ahead of whatever message carries the descriptor, so the window is
 * valid before the peer can learn of it. */
static int expose_mw(struct smbdirect_exposure *x,
		     struct smbdirect_buffer *buffer, size_t offset,
		     size_t length, int access)
{
	struct smbdirect_conn *conn = x->conn;
	struct mem_call c = { .pd = conn->pd };
	struct ibv_send_wr wr;
	int ret;

	if (conn->sq_used >= conn->sq_depth) {
		return EBUSY;
	}
	ret = sd_call(alloc_mw_fn, &c);
	if (ret != 0) {
		return ret;
	}
	x->mw = c.mw;
	x->rkey = ibv_inc_rkey(x->mw->rkey);
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = SD_WR_LOCAL;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.bind_mw.mw = x->mw;
	wr.bind_mw.rkey = x->rkey;
	wr.bind_mw.bind_info.mr = buffer->mr;
	wr.bind_mw.bind_info.addr = (uint64_t)(uintptr_t)(buffer->data + offset);
	wr.bind_mw.bind_info.length = length;
	wr.bind_mw.bind_info.mw_access_flags = (unsigned int)access;
	ret = sd_post_send(conn, &wr);
	if (ret != 0) {
		sd_post_failed(conn, "binding a memory window", ret);
		return ret;
	}
	conn->sq_used += 1;
	return 0;
}

struct smbdirect_exposure *smbdirect_expose(
	void *mem_ctx, struct smbdirect_conn *conn,
	struct smbdirect_buffer *buffer, size_t offset, size_t length,
	bool remote_write, struct smbdirect_buffer_descriptor *descs,
	size_t max_count, size_t *count)
{
	struct smbdirect_exposure *x;
	int access;
	int ret;

	if (conn == NULL || buffer == NULL || descs == NULL || count == NULL ||
	    max_count == 0 || length == 0 || offset > buffer->size ||
	    length > buffer->size - offset || length > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if (conn->ended || !conn->connected) {
		errno = ENOTCONN;
		return NULL;
	}
	x = talloc_zero(mem_ctx, struct smbdirect_exposure);
	if (x == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	x->conn = conn;
	talloc_set_destructor(x, exposure_destructor);
	/* 3.1.4.3: only the access this I/O needs. */
	access = remote_write ? IBV_ACCESS_REMOTE_WRITE : IBV_ACCESS_REMOTE_READ;
	if (conn->use_mw) {
		/* The bind goes down with whatever the caller sends next
		 * only if that happens in the same entry point; here it is
		 * posted before we return. */
		ret = expose_mw(x, buffer, offset, length, access);
	} else {
		x->mr = reg_mr(conn->pd, buffer->data + offset, length,
			       IBV_ACCESS_LOCAL_WRITE | access);
		ret = x->mr == NULL ? (errno != 0 ? errno : ENOMEM) : 0;
		if (ret == 0) {
			x->rkey = x->mr->rkey;
		}
	}
	if (ret != 0) {
		talloc_free(x);
		errno = ret;
		return NULL;
	}
	x->next = conn->exposures;
	if (x->next != NULL) {
		x->next->prev = x;
	}
	conn->exposures = x;
	/* With both mechanisms the window or region starts at the buffer's
	 * virtual address (zero-based addressing is not used). */
	descs[0].offset = (uint64_t)(uintptr_t)(buffer->data + offset);
	descs[0].token = x->rkey;
	descs[0].length = (uint32_t)length;
	*count = 1;
	return x;
}

bool smbdirect_exposure_invalidated(const struct smbdirect_exposure *exposure)
{
	return exposure->invalidated;
}

bool smbdirect_conn_uses_memory_windows(const struct smbdirect_conn *conn)
{
	return conn->use_mw;
}

void sd_exposure_invalidated(struct smbdirect_conn *conn, uint32_t rkey)
{
	struct smbdirect_exposure *x;

	for (x = conn->exposures; x != NULL; x = x->next) {
		if (x->rkey == rkey) {
			x->invalidated = true;
			return;
		}
	}
}

/* --- RDMA read and write ------------------------------------------------ */

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
	struct sd_rdma_op **head = NULL;

	if (op->linked_waiting) {
		head = &conn->rdma_waiting;
		op->linked_waiting = false;
	} else if (op->linked_posted) {
		head = &conn->rdma_posted;
		op->linked_posted = false;
	} else {
		return;
	}
	if (op->prev != NULL) {
		op->prev->next = op->next;
	} else {
		*head = op->next;
	}
	if (op->next != NULL) {
		op->next->prev = op->prev;
	}
	op->prev = op->next = NULL;
}

static void op_link(struct sd_rdma_op *op, struct sd_rdma_op **head)
{
	/* Append: operations are posted in submission order. */
	struct sd_rdma_op *tail = *head;

	op->next = NULL;
	if (tail == NULL) {
		op->prev = NULL;
		*head = op;
		return;
	}
	while (tail->next != NULL) {
		tail = tail->next;
	}
	tail->next = op;
	op->prev = tail;
}

static int op_destructor(struct sd_rdma_op *op)
{
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
		op_link(op, &conn->rdma_posted);
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
			sd_log(conn, "RDMA %s failed: %s", what,
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
			op_link(op, &conn->rdma_posted);
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
	params = smbdirect_conn_params(conn);
	if (local == NULL || remote == NULL || count == 0 || length == 0 ||
	    offset > local->size || length > local->size - offset ||
	    length > params->max_read_write_size) {
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	for (i = 0; i < count; i++) {
		if (remote[i].length == 0) {
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
	op->linked_waiting = true;
	op_link(op, &conn->rdma_waiting);
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
	enum tevent_req_state state;
	uint64_t err;

	if (tevent_req_is_error(req, &state, &err)) {
		tevent_req_received(req);
		return err != 0 ? (int)err : EIO;
	}
	tevent_req_received(req);
	return 0;
}
