/*
 * libsmbdirect: the relay: a connection served for the process that owns
 * its upper layer (smbdirect_relay.h), over the local protocol of relay.h.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * The relay keeps the queue pair. It passes each upper-layer message to
 * the owner, sends what the owner asks (with Send-with-Invalidate when
 * asked: [MS-SMBD] 3.1.4.2), registers the owner's shared buffers and runs
 * the RDMA reads and writes of [MS-SMBD] 3.1.4.5 and 3.1.4.6 on them.
 * Descriptor lists are checked by the library as for a local caller.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/byteorder.h"
#include "conn.h"
#include "list.h"
#include "relay.h"
#include "smbdirect_relay.h"

#define RELAY_MAX_BUFFERS 1024
#define RELAY_MAX_MAPPED (16ull << 30)
/* Messages the owner has not read: beyond this, it is not keeping up. */
#define RELAY_MAX_PENDING (64ull << 20)

struct relay_buf {
	struct relay_buf *prev, *next;
	uint64_t id;
	void *map;
	size_t size;
	struct smbdirect_buffer *buffer; /* NULL if registering failed */
	unsigned int users;              /* RDMA operations on it */
	bool dropped;                    /* UNREG came while in use */
};

struct relay_state {
	struct tevent_context *ev;
	struct tevent_req *req;
	struct smbdirect_conn *conn;
	struct sd_relay_io *io;
	struct relay_buf *bufs;
	unsigned int buf_count;
	uint64_t mapped;
	bool conn_ended;
	bool owner_gone;
	enum smbdirect_reason reason;
	struct tevent_timer *end_timer;  /* bounds the wait for the owner */
};

struct relay_op {
	struct relay_state *state;
	uint64_t id;
	struct relay_buf *buf;
	uint8_t *payload;
};

static void relay_buf_free(struct relay_state *state, struct relay_buf *b)
{
	SD_LIST_REMOVE(state->bufs, b);
	state->buf_count -= 1;
	state->mapped -= b->size;
	TALLOC_FREE(b->buffer);
	munmap(b->map, b->size);
	talloc_free(b);
}

static int relay_state_destructor(struct relay_state *state)
{
	if (state->conn != NULL) {
		smbdirect_conn_set_handlers(state->conn, NULL, NULL);
	}
	TALLOC_FREE(state->io);
	while (state->bufs != NULL) {
		relay_buf_free(state, state->bufs);
	}
	return 0;
}

/* The owner had this long to take the END frame (it usually closes its
 * end at once, which ends the relay sooner). */
#define RELAY_END_GRACE_SECONDS 10

static void relay_end_grace(struct tevent_context *ev, struct tevent_timer *te,
			    struct timeval now, void *private_data)
{
	struct relay_state *state = private_data;

	(void)ev;
	(void)te;
	(void)now;
	state->end_timer = NULL;
	sd_log(SMBDIRECT_LOG_WARNING, state->conn, NULL,
	       "relay: the owning process did not take the end of the "
	       "connection within %d s; the relay ends",
	       RELAY_END_GRACE_SECONDS);
	state->owner_gone = true;
	TALLOC_FREE(state->io);
	tevent_req_done(state->req);
}

static void relay_maybe_done(struct relay_state *state)
{
	if (!state->conn_ended) {
		return;
	}
	if (!state->owner_gone && sd_relay_io_pending(state->io) > 0) {
		/* The END frame goes first, bounded: an owner that reads
		 * nothing cannot keep the relay. */
		if (state->end_timer == NULL) {
			state->end_timer = tevent_add_timer(
				state->ev, state,
				tevent_timeval_current_ofs(
					RELAY_END_GRACE_SECONDS, 0),
				relay_end_grace, state);
		}
		if (state->end_timer != NULL) {
			return;
		}
	}
	tevent_req_done(state->req);
}

static void relay_done_frame(struct relay_state *state, uint64_t id, int err)
{
	uint8_t b[4];
	struct iovec iov = { .iov_base = b, .iov_len = sizeof(b) };

	if (state->owner_gone) {
		return;
	}
	sd_put_le32(b, (uint32_t)err);
	if (sd_relay_io_queue(state->io, SD_RELAY_DONE, 0, id, &iov, 1, -1) !=
	    0) {
		/* The stream failed: its error callback says so. */
		return;
	}
}

static void relay_message(struct smbdirect_conn *conn, const uint8_t *data,
			  size_t length, void *private_data)
{
	struct relay_state *state = private_data;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = length };

	if (state->owner_gone) {
		return;
	}
	if (sd_relay_io_pending(state->io) + length > RELAY_MAX_PENDING) {
		sd_log(SMBDIRECT_LOG_ERROR, conn, NULL,
		       "relay: the owning process has not read %llu bytes of "
		       "messages; disconnecting",
		       (unsigned long long)sd_relay_io_pending(state->io));
		smbdirect_disconnect(conn);
		return;
	}
	sd_relay_io_queue(state->io, SD_RELAY_MSG, 0, 0, &iov, 1, -1);
}

static void relay_disconnected(struct smbdirect_conn *conn,
			       enum smbdirect_reason reason,
			       const char *detail, void *private_data)
{
	struct relay_state *state = private_data;
	uint8_t b[4];
	struct iovec iov[2] = {
		{ .iov_base = b, .iov_len = sizeof(b) },
		{ .iov_base = (void *)detail, .iov_len = strlen(detail) },
	};

	(void)conn;
	state->conn_ended = true;
	state->reason = reason;
	if (!state->owner_gone) {
		sd_put_le32(b, (uint32_t)reason);
		sd_relay_io_queue(state->io, SD_RELAY_END, 0, 0, iov, 2, -1);
	}
	relay_maybe_done(state);
}

/* A SEND or an RDMA operation completed: tell the owner. */
static void relay_op_done(struct tevent_req *subreq)
{
	struct relay_op *op = tevent_req_callback_data(subreq,
							struct relay_op);
	struct relay_state *state = op->state;
	struct relay_buf *b = op->buf;
	int err = b != NULL ? smbdirect_rdma_recv(subreq)
			    : smbdirect_send_recv(subreq);

	relay_done_frame(state, op->id, err);
	talloc_free(op);
	if (b == NULL) {
		return;
	}
	b->users -= 1;
	if (b->dropped && b->users == 0) {
		relay_buf_free(state, b);
	}
}

/* An operation for frame `id`, or NULL after telling the owner ENOMEM. */
static struct relay_op *relay_op_new(struct relay_state *state, uint64_t id)
{
	struct relay_op *op = talloc_zero(state, struct relay_op);

	if (op == NULL) {
		relay_done_frame(state, id, ENOMEM);
		return NULL;
	}
	op->state = state;
	op->id = id;
	return op;
}

/* The operation's request, or NULL (no memory: the owner is told). */
static void relay_op_start(struct relay_op *op, struct tevent_req *subreq)
{
	if (subreq == NULL) {
		relay_done_frame(op->state, op->id, ENOMEM);
		talloc_free(op);
		return;
	}
	tevent_req_set_callback(subreq, relay_op_done, op);
}

static struct relay_buf *relay_buf_find(struct relay_state *state,
					uint64_t id)
{
	struct relay_buf *b;

	for (b = state->bufs; b != NULL; b = b->next) {
		if (b->id == id && !b->dropped) {
			return b;
		}
	}
	return NULL;
}

static void relay_fail(struct relay_state *state, const char *what)
{
	sd_log(SMBDIRECT_LOG_ERROR, state->conn, NULL,
	       "relay: the owning process %s; disconnecting", what);
	state->owner_gone = true;
	TALLOC_FREE(state->io);
	if (!state->conn_ended) {
		smbdirect_disconnect(state->conn);
		return;
	}
	relay_maybe_done(state);
}

static void relay_frame_send(struct relay_state *state, uint16_t flags,
			     uint64_t id, uint8_t *payload, uint32_t length)
{
	struct relay_op *op;
	struct iovec iov;
	struct tevent_req *subreq;

	if (length < 4) {
		relay_fail(state, "sent a short SEND frame");
		return;
	}
	op = relay_op_new(state, id);
	if (op == NULL) {
		return;
	}
	op->payload = talloc_steal(op, payload);
	iov.iov_base = payload + 4;
	iov.iov_len = length - 4;
	if ((flags & SD_RELAY_F_INVALIDATE) != 0) {
		subreq = smbdirect_send_invalidate_send(
			op, state->ev, state->conn, &iov, 1,
			sd_get_le32(payload));
	} else {
		subreq = smbdirect_send_send(op, state->ev, state->conn, &iov,
					     1);
	}
	relay_op_start(op, subreq);
}

static void relay_frame_reg(struct relay_state *state, uint64_t id,
			    const uint8_t *payload, uint32_t length, int fd)
{
	struct relay_buf *b;
	uint64_t size;

	if (length != 8 || fd < 0) {
		if (fd >= 0) {
			close(fd);
		}
		relay_fail(state, "sent a bad REG frame");
		return;
	}
	size = sd_get_le64(payload);
	if (size == 0 || size > SIZE_MAX ||
	    state->buf_count >= RELAY_MAX_BUFFERS ||
	    state->mapped + size > RELAY_MAX_MAPPED ||
	    relay_buf_find(state, id) != NULL) {
		close(fd);
		relay_fail(state, "asked for a buffer beyond the relay's "
				  "bounds");
		return;
	}
	b = talloc_zero(state, struct relay_buf);
	if (b == NULL) {
		close(fd);
		relay_fail(state, "asked for a buffer (no memory)");
		return;
	}
	b->id = id;
	b->size = (size_t)size;
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      0);
	close(fd);
	if (b->map == MAP_FAILED) {
		sd_log(SMBDIRECT_LOG_ERROR, state->conn, NULL,
		       "relay: mapping a %zu-byte buffer failed: %s", b->size,
		       strerror(errno));
		talloc_free(b);
		relay_fail(state, "passed a buffer that cannot be mapped");
		return;
	}
	SD_LIST_ADD(state->bufs, b);
	state->buf_count += 1;
	state->mapped += b->size;
	/* A failure shows in the RDMA operations on it (ENOMEM). */
	b->buffer = sd_buffer_wrap(b, state->conn, b->map, b->size);
	if (b->buffer == NULL) {
		sd_log(SMBDIRECT_LOG_ERROR, state->conn, NULL,
		       "relay: registering a %zu-byte buffer failed: %s",
		       b->size, strerror(errno));
	}
}

static void relay_frame_unreg(struct relay_state *state, uint64_t id)
{
	struct relay_buf *b = relay_buf_find(state, id);

	if (b == NULL) {
		relay_fail(state, "dropped a buffer it never passed");
		return;
	}
	if (b->users > 0) {
		b->dropped = true;
		return;
	}
	relay_buf_free(state, b);
}

static void relay_frame_rdma(struct relay_state *state, uint16_t flags,
			     uint64_t id, const uint8_t *p, uint32_t length)
{
	struct smbdirect_buffer_descriptor descs[SD_RELAY_MAX_DESCRIPTORS];
	struct relay_buf *b;
	struct relay_op *op;
	struct tevent_req *subreq;
	uint64_t offset, len;
	uint32_t count, i;

	if (length < SD_RELAY_RDMA_FIXED) {
		relay_fail(state, "sent a short RDMA frame");
		return;
	}
	count = sd_get_le32(p + 24);
	if (count > SD_RELAY_MAX_DESCRIPTORS ||
	    length != SD_RELAY_RDMA_FIXED + 16 * count) {
		relay_fail(state, "sent a bad RDMA frame");
		return;
	}
	b = relay_buf_find(state, sd_get_le64(p));
	offset = sd_get_le64(p + 8);
	len = sd_get_le64(p + 16);
	if (b == NULL || offset > b->size || len > b->size - offset) {
		relay_fail(state, "asked for RDMA outside its buffers");
		return;
	}
	if (b->buffer == NULL) {
		relay_done_frame(state, id, ENOMEM);
		return;
	}
	for (i = 0; i < count; i++) {
		const uint8_t *d = p + SD_RELAY_RDMA_FIXED + 16 * i;

		descs[i].offset = sd_get_le64(d);
		descs[i].token = sd_get_le32(d + 8);
		descs[i].length = sd_get_le32(d + 12);
	}
	op = relay_op_new(state, id);
	if (op == NULL) {
		return;
	}
	op->buf = b;
	if ((flags & SD_RELAY_F_WRITE) != 0) {
		subreq = smbdirect_rdma_write_send(op, state->ev, state->conn,
						   b->buffer, (size_t)offset,
						   (size_t)len, descs, count);
	} else {
		subreq = smbdirect_rdma_read_send(op, state->ev, state->conn,
						  b->buffer, (size_t)offset,
						  (size_t)len, descs, count);
	}
	if (subreq != NULL) {
		b->users += 1;
	}
	relay_op_start(op, subreq);
}

static void relay_frame(void *private_data, uint16_t type, uint16_t flags,
			uint64_t id, uint8_t *payload, uint32_t length, int fd)
{
	struct relay_state *state = private_data;

	if (type != SD_RELAY_REG && fd >= 0) {
		close(fd);
		relay_fail(state, "passed a descriptor with a frame that "
				  "takes none");
		return;
	}
	switch (type) {
	case SD_RELAY_SEND:
		relay_frame_send(state, flags, id, payload, length);
		break;
	case SD_RELAY_REG:
		relay_frame_reg(state, id, payload, length, fd);
		break;
	case SD_RELAY_UNREG:
		relay_frame_unreg(state, id);
		break;
	case SD_RELAY_RDMA:
		relay_frame_rdma(state, flags, id, payload, length);
		break;
	case SD_RELAY_DISCONNECT:
		if (!state->conn_ended) {
			smbdirect_disconnect(state->conn);
		}
		break;
	default:
		relay_fail(state, "sent a frame of an unknown type");
		break;
	}
}

static void relay_io_error(void *private_data, int error, const char *what)
{
	struct relay_state *state = private_data;

	if (error == 0 || error == ECONNRESET || error == EPIPE) {
		/* The owner closed its end, or died: the usual way to end a
		 * relayed connection from that side. */
		state->owner_gone = true;
		TALLOC_FREE(state->io);
		if (!state->conn_ended) {
			sd_log(SMBDIRECT_LOG_NOTICE, state->conn, NULL,
			       "relay: the owning process closed; "
			       "disconnecting");
			smbdirect_disconnect(state->conn);
			return;
		}
		relay_maybe_done(state);
		return;
	}
	relay_fail(state, what);
}

struct tevent_req *smbdirect_relay_send(void *mem_ctx,
					struct tevent_context *ev,
					struct smbdirect_conn *conn, int fd)
{
	const struct smbdirect_conn_handlers handlers = {
		.message = relay_message,
		.disconnected = relay_disconnected,
	};
	struct relay_state *state;
	struct tevent_req *req;
	uint8_t hello[SD_RELAY_HELLO_SIZE];
	struct iovec iov = { .iov_base = hello, .iov_len = sizeof(hello) };

	req = tevent_req_create(mem_ctx, &state, struct relay_state);
	if (req == NULL) {
		close(fd);
		return NULL;
	}
	state->ev = ev;
	state->req = req;
	talloc_set_destructor(state, relay_state_destructor);
	if (conn == NULL || conn->remote != NULL) {
		close(fd);
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	state->io = sd_relay_io_new(state, ev, fd, relay_frame,
				    relay_io_error, state);
	if (state->io == NULL) {
		close(fd);
		tevent_req_error(req, ENOMEM);
		return tevent_req_post(req, ev);
	}
	state->conn = conn;
	sd_relay_hello_encode(hello, smbdirect_conn_params(conn),
			      &conn->local_addr, &conn->peer_addr,
			      conn->peer);
	if (sd_relay_io_queue(state->io, SD_RELAY_HELLO, 0, 0, &iov, 1, -1) !=
	    0) {
		tevent_req_error(req, ENOMEM);
		return tevent_req_post(req, ev);
	}
	smbdirect_conn_set_handlers(conn, &handlers, state);
	if (conn->ended) {
		/* It ended before we were here: say so at once. */
		relay_disconnected(conn, conn->reason, conn->detail, state);
		if (!tevent_req_is_in_progress(req)) {
			return tevent_req_post(req, ev);
		}
	}
	return req;
}

int smbdirect_relay_recv(struct tevent_req *req,
			 enum smbdirect_reason *reason)
{
	struct relay_state *state = tevent_req_data(req, struct relay_state);
	int err;

	if (sd_req_is_error(req, &err)) {
		tevent_req_received(req);
		return err;
	}
	if (reason != NULL) {
		*reason = state->reason;
	}
	tevent_req_received(req);
	return 0;
}
