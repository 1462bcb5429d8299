/*
 * libsmbdirect: a connection a relay serves, seen from the owning process
 * (smbdirect_relay_attach()): the library's entry points, over the local
 * protocol of relay.h instead of verbs.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/byteorder.h"
#include "conn.h"
#include "list.h"
#include "relay.h"
#include "smbdirect_relay.h"

struct sd_remote_op {
	struct sd_remote_op *prev, *next;
	struct smbdirect_conn *conn;  /* NULL once orphaned */
	struct tevent_req *req;
	uint64_t id;
	bool rdma;
	bool write;
	size_t length;
};

struct sd_remote {
	struct sd_relay_io *io;
	struct smbdirect_params params;
	struct sd_remote_op *ops;
	struct smbdirect_buffer *buffers;
	uint64_t next_id;
};

static void remote_end(struct smbdirect_conn *conn,
		       enum smbdirect_reason reason, const char *detail)
{
	struct sd_remote_op *op;

	if (conn->ended) {
		return;
	}
	conn->ended = true;
	conn->reason = reason;
	snprintf(conn->detail, sizeof(conn->detail), "%s", detail);
	if (reason != SMBDIRECT_REASON_LOCAL_CLOSE) {
		/* A peer's end is routine; anything else is worth a
		 * notice in the owner's log. */
		sd_log(reason == SMBDIRECT_REASON_PEER_DISCONNECTED
			       ? SMBDIRECT_LOG_INFO
			       : SMBDIRECT_LOG_NOTICE,
		       conn, NULL,
		       "relayed connection ended: %s: %s",
		       smbdirect_reason_string(reason), detail);
	}
	sd_conn_hold(conn);
	sd_fail_requests(conn);
	while ((op = conn->remote->ops) != NULL) {
		SD_LIST_REMOVE(conn->remote->ops, op);
		op->conn = NULL;
		tevent_req_error(op->req, ENOTCONN);
	}
	if (conn->handlers.disconnected != NULL && !conn->free_pending) {
		conn->handlers.disconnected(conn, reason, conn->detail,
					    conn->handlers_private);
	}
	sd_conn_release(conn);
}

static void remote_fail(struct smbdirect_conn *conn,
			enum smbdirect_reason reason, const char *detail)
{
	remote_end(conn, reason, detail);
	if (conn->remote->io != NULL) {
		/* The relay hears of it as the end of the stream. */
		TALLOC_FREE(conn->remote->io);
	}
}

static void remote_done(struct smbdirect_conn *conn, uint64_t id, int err)
{
	struct sd_remote_op *op;

	for (op = conn->remote->ops; op != NULL; op = op->next) {
		if (op->id == id) {
			break;
		}
	}
	if (op == NULL) {
		/* The application freed the request meanwhile. */
		return;
	}
	SD_LIST_REMOVE(conn->remote->ops, op);
	op->conn = NULL;
	if (err != 0) {
		tevent_req_error(op->req, err);
		return;
	}
	if (op->rdma) {
		if (op->write) {
			conn->stats.rdma_writes += 1;
		} else {
			conn->stats.rdma_reads += 1;
		}
		conn->stats.rdma_bytes += op->length;
	} else {
		conn->stats.engine.messages_sent += 1;
	}
	tevent_req_done(op->req);
}

static void remote_frame(void *private_data, uint16_t type, uint16_t flags,
			 uint64_t id, uint8_t *payload, uint32_t length, int fd)
{
	struct smbdirect_conn *conn = private_data;

	(void)flags;
	if (fd >= 0) {
		close(fd);
		remote_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
			       "the relay passed a descriptor");
		return;
	}
	sd_conn_hold(conn);
	switch (type) {
	case SD_RELAY_MSG:
		conn->stats.engine.messages_received += 1;
		conn->stats.engine.messages_delivered += 1;
		conn->stats.engine.bytes_delivered += length;
		if (conn->handlers.message != NULL) {
			conn->handlers.message(conn, payload, length,
					       conn->handlers_private);
		} else {
			sd_queue_message(conn, payload, length);
		}
		break;
	case SD_RELAY_DONE:
		if (length != 4) {
			remote_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
				       "the relay sent a bad DONE frame");
			break;
		}
		remote_done(conn, id, (int)sd_get_le32(payload));
		break;
	case SD_RELAY_END: {
		char detail[192];
		uint32_t reason;
		size_t n;

		if (length < 4) {
			remote_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
				       "the relay sent a bad END frame");
			break;
		}
		reason = sd_get_le32(payload);
		n = length - 4 < sizeof(detail) - 1 ? length - 4
						    : sizeof(detail) - 1;
		memcpy(detail, payload + 4, n);
		detail[n] = '\0';
		if (reason == SMBDIRECT_REASON_NONE ||
		    reason >= SMBDIRECT_REASON_COUNT) {
			reason = SMBDIRECT_REASON_TRANSPORT_ERROR;
		}
		remote_end(conn, (enum smbdirect_reason)reason, detail);
		break;
	}
	default:
		remote_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
			       "the relay sent a frame of an unknown type");
		break;
	}
	sd_conn_release(conn);
}

static void remote_io_error(void *private_data, int error, const char *what)
{
	struct smbdirect_conn *conn = private_data;
	char detail[160];

	snprintf(detail, sizeof(detail), "the relay process %s%s",
		 error == 0 ? "went away" : "stream failed: ",
		 error == 0 ? "" : what);
	sd_conn_hold(conn);
	remote_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR, detail);
	sd_conn_release(conn);
}

static void remote_destroy(struct smbdirect_conn *conn)
{
	struct sd_remote *r = conn->remote;
	struct sd_remote_op *op;
	struct smbdirect_buffer *b;

	while ((op = r->ops) != NULL) {
		/* Never completes: the application freed the connection. */
		SD_LIST_REMOVE(r->ops, op);
		op->conn = NULL;
	}
	while ((b = r->buffers) != NULL) {
		SD_LIST_REMOVE(r->buffers, b);
		b->conn = NULL;
	}
	TALLOC_FREE(r->io);
}

/* Read exactly n bytes from a blocking-or-not fd by `deadline` (ms of
 * CLOCK_MONOTONIC). */
static int read_full(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = sd_now() / 1000000u;
		ssize_t got;
		int ret;

		if (now >= deadline) {
			return ETIMEDOUT;
		}
		ret = poll(&pfd, 1, (int)(deadline - now));
		if (ret < 0 && errno == EINTR) {
			continue;
		}
		if (ret < 0) {
			return errno;
		}
		if (ret == 0) {
			return ETIMEDOUT;
		}
		got = recv(fd, p, n, MSG_DONTWAIT);
		if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
			continue;
		}
		if (got < 0) {
			return errno;
		}
		if (got == 0) {
			return ENOTCONN;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

/* The entry points of a relayed connection (defined at the end). */
static const struct sd_remote_ops remote_ops;

static int remote_conn_destructor(struct smbdirect_conn *conn)
{
	if (conn->busy > 0) {
		conn->free_pending = true;
		return -1;
	}
	remote_destroy(conn);
	return 0;
}

int smbdirect_relay_attach(void *mem_ctx, struct tevent_context *ev, int fd,
			   uint32_t timeout_ms, struct smbdirect_conn **out)
{
	uint8_t header[SD_RELAY_HEADER];
	uint8_t hello[SD_RELAY_HELLO_SIZE];
	uint64_t deadline = sd_now() / 1000000u + timeout_ms;
	struct smbdirect_conn *conn;
	uint16_t type, flags;
	uint32_t length;
	uint64_t id;
	int ret;

	ret = read_full(fd, header, sizeof(header), deadline);
	if (ret != 0) {
		return ret;
	}
	sd_relay_header_decode(header, &type, &flags, &length, &id);
	if (type != SD_RELAY_HELLO || flags != 0 ||
	    length != SD_RELAY_HELLO_SIZE) {
		return EPROTO;
	}
	ret = read_full(fd, hello, sizeof(hello), deadline);
	if (ret != 0) {
		return ret;
	}
	conn = talloc_zero(mem_ctx, struct smbdirect_conn);
	if (conn == NULL) {
		return ENOMEM;
	}
	talloc_set_name_const(conn, "struct smbdirect_conn (relayed)");
	conn->remote = talloc_zero(conn, struct sd_remote);
	if (conn->remote == NULL) {
		talloc_free(conn);
		return ENOMEM;
	}
	if (!sd_relay_hello_decode(hello, sizeof(hello), &conn->remote->params,
				   &conn->local_addr, &conn->peer_addr,
				   conn->peer, sizeof(conn->peer))) {
		talloc_free(conn);
		return EPROTO;
	}
	conn->ev = ev;
	conn->role = SMBDIRECT_ROLE_RESPONDER;
	conn->connected = true;
	conn->timer_at = SMBDIRECT_NO_EXPIRY;
	smbdirect_settings_default(&conn->settings);
	conn->settings.max_fragmented_size =
		conn->remote->params.max_fragmented_receive_size;
	/* Messages for smbdirect_recv_send(), bounded as for a local
	 * connection: by the receives the relay keeps posted. */
	conn->recv_queue_capacity =
		(uint32_t)conn->remote->params.receive_credit_target + 1;
	conn->recv_queue = talloc_zero_array(conn, struct sd_queued_msg,
					     conn->recv_queue_capacity);
	if (conn->recv_queue == NULL) {
		talloc_free(conn);
		return ENOMEM;
	}
	talloc_set_destructor(conn, remote_conn_destructor);
	conn->remote_ops = &remote_ops;
	conn->remote->io = sd_relay_io_new(conn->remote, ev, fd, remote_frame,
					   remote_io_error, conn);
	if (conn->remote->io == NULL) {
		talloc_set_destructor(conn, NULL);
		talloc_free(conn);
		return ENOMEM;
	}
	*out = conn;
	return 0;
}

bool smbdirect_conn_is_relayed(const struct smbdirect_conn *conn)
{
	return conn->remote != NULL;
}

static const struct smbdirect_params *
remote_params(const struct smbdirect_conn *conn)
{
	return &conn->remote->params;
}

static void remote_disconnect(struct smbdirect_conn *conn)
{
	if (conn->ended || conn->disconnect_sent || conn->remote->io == NULL) {
		return;
	}
	conn->disconnect_sent = true;
	if (sd_relay_io_queue(conn->remote->io, SD_RELAY_DISCONNECT, 0, 0,
			      NULL, 0, -1) != 0) {
		remote_fail(conn, SMBDIRECT_REASON_LOCAL_CLOSE,
			       "closed locally");
	}
}

static int remote_op_destructor(struct sd_remote_op *op)
{
	if (op->conn != NULL) {
		SD_LIST_REMOVE(op->conn->remote->ops, op);
		op->conn = NULL;
	}
	return 0;
}

/* A request whose result comes in a DONE frame. */
static struct tevent_req *remote_op_new(void *mem_ctx,
					struct tevent_context *ev,
					struct smbdirect_conn *conn,
					struct sd_remote_op **out)
{
	struct sd_remote_op *op;
	struct tevent_req *req;

	req = tevent_req_create(mem_ctx, &op, struct sd_remote_op);
	if (req == NULL) {
		return NULL;
	}
	op->req = req;
	if (conn->ended || conn->remote->io == NULL) {
		tevent_req_error(req, ENOTCONN);
		return tevent_req_post(req, ev);
	}
	op->conn = conn;
	op->id = ++conn->remote->next_id;
	SD_LIST_ADD_END(conn->remote->ops, op);
	talloc_set_destructor(op, remote_op_destructor);
	*out = op;
	return req;
}

static struct tevent_req *remote_queue_failed(struct tevent_req *req,
					      struct tevent_context *ev,
					      struct smbdirect_conn *conn,
					      int err)
{
	struct sd_remote_op *op = tevent_req_data(req, struct sd_remote_op);

	remote_op_destructor(op);
	tevent_req_error(req, err == EPIPE ? ENOTCONN : err);
	(void)conn;
	return tevent_req_post(req, ev);
}

static struct tevent_req *remote_send(void *mem_ctx,
				      struct tevent_context *ev,
				      struct smbdirect_conn *conn,
				      const struct iovec *iov, int iovcnt,
				      bool invalidate, uint32_t remote_rkey)
{
	struct sd_remote_op *op = NULL;
	struct tevent_req *req = remote_op_new(mem_ctx, ev, conn, &op);
	struct iovec v[17];
	uint8_t rkey[4];
	size_t length = 0;
	int i, ret;

	if (req == NULL || op == NULL) {
		return req;
	}
	if (iovcnt < 0 || iovcnt > 16) {
		return remote_queue_failed(req, ev, conn, EINVAL);
	}
	sd_put_le32(rkey, remote_rkey);
	v[0].iov_base = rkey;
	v[0].iov_len = sizeof(rkey);
	for (i = 0; i < iovcnt; i++) {
		v[i + 1] = iov[i];
		length += iov[i].iov_len;
	}
	if (length > conn->remote->params.max_fragmented_send_size) {
		return remote_queue_failed(req, ev, conn, EMSGSIZE);
	}
	ret = sd_relay_io_queue(conn->remote->io, SD_RELAY_SEND,
				invalidate ? SD_RELAY_F_INVALIDATE : 0, op->id,
				v, iovcnt + 1, -1);
	if (ret != 0) {
		return remote_queue_failed(req, ev, conn, ret);
	}
	return req;
}

static struct tevent_req *
remote_rdma(void *mem_ctx, struct tevent_context *ev,
	    struct smbdirect_conn *conn, bool write,
	    struct smbdirect_buffer *local, size_t offset, size_t length,
	    const struct smbdirect_buffer_descriptor *remote, size_t count)
{
	struct sd_remote_op *op = NULL;
	struct tevent_req *req = remote_op_new(mem_ctx, ev, conn, &op);
	uint8_t fixed[SD_RELAY_RDMA_FIXED];
	uint8_t descs[16 * SD_RELAY_MAX_DESCRIPTORS];
	struct iovec v[2];
	size_t i;
	int ret;

	if (req == NULL || op == NULL) {
		return req;
	}
	if (local == NULL || local->conn != conn || local->remote_id == 0 ||
	    length == 0 || offset > local->size || length > local->size - offset ||
	    length > conn->remote->params.max_read_write_size ||
	    count == 0 || count > SD_RELAY_MAX_DESCRIPTORS ||
	    remote == NULL) {
		return remote_queue_failed(req, ev, conn, EINVAL);
	}
	op->rdma = true;
	op->write = write;
	op->length = length;
	sd_put_le64(fixed, local->remote_id);
	sd_put_le64(fixed + 8, offset);
	sd_put_le64(fixed + 16, length);
	sd_put_le32(fixed + 24, (uint32_t)count);
	for (i = 0; i < count; i++) {
		sd_put_le64(descs + 16 * i, remote[i].offset);
		sd_put_le32(descs + 16 * i + 8, remote[i].token);
		sd_put_le32(descs + 16 * i + 12, remote[i].length);
	}
	v[0].iov_base = fixed;
	v[0].iov_len = sizeof(fixed);
	v[1].iov_base = descs;
	v[1].iov_len = 16 * count;
	ret = sd_relay_io_queue(conn->remote->io, SD_RELAY_RDMA,
				write ? SD_RELAY_F_WRITE : 0, op->id, v, 2,
				-1);
	if (ret != 0) {
		return remote_queue_failed(req, ev, conn, ret);
	}
	return req;
}

static int remote_buffer_destructor(struct smbdirect_buffer *b)
{
	struct smbdirect_conn *conn = b->conn;

	if (conn != NULL) {
		SD_LIST_REMOVE(conn->remote->buffers, b);
		if (conn->remote->io != NULL) {
			/* Best effort: if it cannot be said, the relay
			 * goes with the stream anyway. */
			sd_relay_io_queue(conn->remote->io, SD_RELAY_UNREG, 0,
					  b->remote_id, NULL, 0, -1);
		}
	}
	munmap(b->data, b->size);
	return 0;
}

static struct smbdirect_buffer *remote_buffer_new(void *mem_ctx,
					      struct smbdirect_conn *conn,
					      size_t size)
{
	struct smbdirect_buffer *b;
	uint8_t sz[8];
	struct iovec v = { .iov_base = sz, .iov_len = sizeof(sz) };
	int fd, ret;

	if (conn->ended || conn->remote->io == NULL) {
		errno = ENOTCONN;
		return NULL;
	}
	b = talloc_zero(mem_ctx, struct smbdirect_buffer);
	if (b == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	fd = memfd_create("smbdirect-relay", MFD_CLOEXEC);
	if (fd < 0) {
		ret = errno;
		talloc_free(b);
		errno = ret;
		return NULL;
	}
	if (ftruncate(fd, (off_t)size) != 0) {
		ret = errno;
		close(fd);
		talloc_free(b);
		errno = ret;
		return NULL;
	}
	b->data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (b->data == MAP_FAILED) {
		ret = errno;
		close(fd);
		talloc_free(b);
		errno = ret;
		return NULL;
	}
	b->size = size;
	b->conn = conn;
	b->remote_id = ++conn->remote->next_id;
	SD_LIST_ADD(conn->remote->buffers, b);
	talloc_set_destructor(b, remote_buffer_destructor);
	sd_put_le64(sz, size);
	/* The relay maps and registers it before any RDMA frame that names
	 * it (frames are taken in order). */
	ret = sd_relay_io_queue(conn->remote->io, SD_RELAY_REG, 0,
				b->remote_id, &v, 1, fd);
	if (ret != 0) {
		talloc_free(b);
		errno = ret;
		return NULL;
	}
	return b;
}

static const struct sd_remote_ops remote_ops = {
	.fail = remote_fail,
	.params = remote_params,
	.disconnect = remote_disconnect,
	.send = remote_send,
	.rdma = remote_rdma,
	.buffer_new = remote_buffer_new,
};
