/*
 * libsmbdirect: memory lent to the application and exposed to the
 * peer ([MS-SMBD] 3.1.4.3, 3.1.4.4): registered buffers without remote
 * access, and exposures, each with an rkey of its own for one I/O (a
 * type-2 memory window bound to the buffer's registration, or an MR of its
 * own), revoked when freed or invalidated by the peer.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

#include "list.h"

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
	if (!b->foreign) {
		free(b->data);
	}
	return 0;
}

/* Register b->data (b->size bytes) with the connection's PD; on failure
 * b is freed and NULL returned (errno set). No remote access: the peer
 * reaches the memory only through exposures, each with an rkey of its own
 * (a memory window bound to this MR, or an MR of its own). */
static struct smbdirect_buffer *buffer_register(struct smbdirect_buffer *b)
{
	b->mr = reg_mr(b->conn->pd, b->data, b->size,
		       IBV_ACCESS_LOCAL_WRITE |
			       (b->conn->use_mw ? IBV_ACCESS_MW_BIND : 0));
	if (b->mr == NULL) {
		int err = errno != 0 ? errno : ENOMEM;

		talloc_free(b);
		errno = err;
		return NULL;
	}
	return b;
}

struct smbdirect_buffer *sd_buffer_wrap(TALLOC_CTX *mem_ctx,
					struct smbdirect_conn *conn,
					void *data, size_t size)
{
	struct smbdirect_buffer *b = talloc_zero(mem_ctx,
						 struct smbdirect_buffer);

	if (b == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	b->conn = conn;
	b->data = data;
	b->size = size;
	b->foreign = true;
	talloc_set_destructor(b, buffer_destructor);
	return buffer_register(b);
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
	if (conn->remote != NULL) {
		/* Shared memory the relay registers (remote.c). */
		return conn->remote_ops->buffer_new(mem_ctx, conn, size);
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
	return buffer_register(b);
}

void *smbdirect_buffer_data(struct smbdirect_buffer *buffer)
{
	return buffer->data;
}

size_t smbdirect_buffer_size(const struct smbdirect_buffer *buffer)
{
	return buffer->size;
}

struct smbdirect_exposure {
	struct smbdirect_exposure *prev, *next;
	struct smbdirect_conn *conn;
	struct ibv_mr *mr;  /* per-I/O registration, or */
	struct ibv_mw *mw;  /* a type-2 window bound to the buffer's MR */
	uint32_t rkey;
	bool invalidated;
	bool linked;        /* on conn->exposures */
};

static int exposure_destructor(struct smbdirect_exposure *x)
{
	if (x->linked) {
		SD_LIST_REMOVE(x->conn->exposures, x);
		x->linked = false;
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
 * valid before the peer can learn of it. It is bound to the buffer's
 * registration, or, on a device that bounds window accesses by the
 * registration only (rxe), to one of the exposed range's own. */
static int expose_mw(struct smbdirect_exposure *x,
		     struct smbdirect_buffer *buffer, size_t offset,
		     size_t length, int access)
{
	struct smbdirect_conn *conn = x->conn;
	struct mem_call c = { .pd = conn->pd };
	struct ibv_send_wr wr;
	int ret;

	struct ibv_mr *under = buffer->mr;

	if (conn->sq_used >= conn->sq_depth) {
		return EBUSY;
	}
	if (conn->mw_own_mr) {
		/* The device bounds a window's accesses by the registration
		 * under it only (verbs.c): that registration is the exposed
		 * range and nothing more. Local access only; the window
		 * gives the remote access, and Send-with-Invalidate still
		 * kills the window's rkey. */
		x->mr = reg_mr(conn->pd, buffer->data + offset, length,
			       IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
		if (x->mr == NULL) {
			return errno != 0 ? errno : ENOMEM;
		}
		under = x->mr;
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
	wr.bind_mw.bind_info.mr = under;
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
	if (conn->remote != NULL) {
		/* The relay's registrations are not ours to expose. */
		errno = ENOTSUP;
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
	SD_LIST_ADD(conn->exposures, x);
	x->linked = true;
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

void sd_exposures_orphan(struct smbdirect_conn *conn)
{
	while (conn->exposures != NULL) {
		struct smbdirect_exposure *x = conn->exposures;

		SD_LIST_REMOVE(conn->exposures, x);
		x->linked = false;
	}
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
