/*
 * libsmbdirect: the upper-layer message API ([MS-SMBD] 3.1.4.2): send
 * requests linked into the engine (not copied) until their last fragment
 * completed, receive requests, and the bounded queue of messages for
 * smbdirect_recv_send() when no message handler is set.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "conn.h"

#include "list.h"

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

void sd_send_req_done(struct smbdirect_conn *conn,
		      struct smbdirect_engine_msg *msg, int error)
{
	struct sd_send_req *s = msg->private_data;

	if (s->queued) {
		SD_LIST_REMOVE(conn->send_reqs, s);
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
		SD_LIST_REMOVE(s->conn->send_reqs, s);
		s->queued = false;
		if (!s->conn->ended) {
			sd_conn_fail(s->conn, SMBDIRECT_REASON_LOCAL_CLOSE,
				     "a send request was freed while queued");
		}
	}
	return 0;
}

void sd_fail_requests(struct smbdirect_conn *conn)
{
	while (conn->send_reqs != NULL) {
		struct sd_send_req *s = conn->send_reqs;

		SD_LIST_REMOVE(conn->send_reqs, s);
		s->queued = false;
		tevent_req_error(s->req, ENOTCONN);
	}
	while (conn->recv_reqs != NULL) {
		struct sd_recv_req *r = conn->recv_reqs;

		SD_LIST_REMOVE(conn->recv_reqs, r);
		r->linked = false;
		tevent_req_error(r->req, ENOTCONN);
	}
}

void sd_orphan_requests(struct smbdirect_conn *conn)
{
	while (conn->send_reqs != NULL) {
		struct sd_send_req *s = conn->send_reqs;

		SD_LIST_REMOVE(conn->send_reqs, s);
		s->queued = false;
	}
	while (conn->recv_reqs != NULL) {
		struct sd_recv_req *r = conn->recv_reqs;

		SD_LIST_REMOVE(conn->recv_reqs, r);
		r->linked = false;
	}
}

static struct tevent_req *send_common(void *mem_ctx, struct tevent_context *ev,
				      struct smbdirect_conn *conn,
				      const struct iovec *iov, int iovcnt,
				      bool invalidate, uint32_t remote_rkey)
{
	struct tevent_req *req;
	struct sd_send_req *s;
	int ret;

	if (conn->remote != NULL) {
		return conn->remote_ops->send(mem_ctx, ev, conn, iov, iovcnt,
				      invalidate, remote_rkey);
	}
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
	SD_LIST_ADD(conn->send_reqs, s);
	s->queued = true;
	talloc_set_destructor(s, send_req_destructor);
	sd_conn_hold(conn);
	ret = smbdirect_engine_submit(conn->engine, sd_now(), &s->msg);
	if (ret != 0) {
		SD_LIST_REMOVE(conn->send_reqs, s);
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
	return sd_req_simple_recv(req);
}

/* A message for smbdirect_recv_send(): copied, so the receive buffer goes
 * back to the pool at once (the zero-copy path is the message handler). */
void sd_queue_message(struct smbdirect_conn *conn, const uint8_t *data,
		      size_t length)
{
	struct sd_recv_req *r = conn->recv_reqs;
	struct sd_queued_msg *q;
	uint32_t slot;

	if (r != NULL) {
		/* The oldest waiting request. */
		r->data = talloc_memdup(r, data, length > 0 ? length : 1);
		if (tevent_req_nomem(r->data, r->req)) {
			return;
		}
		r->length = length;
		SD_LIST_REMOVE(conn->recv_reqs, r);
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
	if (conn->recv_queue_bytes + length >
	    (uint64_t)SD_RECV_QUEUE_FRAGMENTED_MAX *
		    conn->settings.max_fragmented_size) {
		/* Bounded in bytes too: each message may be a reassembled
		 * one of max_fragmented_size, and the receives it came in
		 * are reposted (and granted) at once. */
		sd_conn_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR,
			     "%llu bytes in %u messages waiting for the "
			     "application, the next of %zu would pass %u x "
			     "MaxFragmentedSize",
			     (unsigned long long)conn->recv_queue_bytes,
			     conn->recv_queue_count, length,
			     SD_RECV_QUEUE_FRAGMENTED_MAX);
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
	conn->recv_queue_bytes += length;
}

static int recv_req_destructor(struct sd_recv_req *r)
{
	if (r->linked) {
		SD_LIST_REMOVE(r->conn->recv_reqs, r);
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
		conn->recv_queue_bytes -= q->length;
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
	/* Oldest first: messages go to requests in order. */
	SD_LIST_ADD_END(conn->recv_reqs, r);
	r->linked = true;
	talloc_set_destructor(r, recv_req_destructor);
	return req;
}

int smbdirect_recv_recv(struct tevent_req *req, void *mem_ctx, uint8_t **data,
			size_t *length)
{
	struct sd_recv_req *r = tevent_req_data(req, struct sd_recv_req);
	int err;

	if (sd_req_is_error(req, &err)) {
		tevent_req_received(req);
		return err;
	}
	*data = talloc_steal(mem_ctx, r->data);
	*length = r->length;
	tevent_req_received(req);
	return 0;
}
