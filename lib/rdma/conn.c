/*
 * libsmbdirect: the connection object: created around an rdma_cm id
 * with its own event channel (verbs objects, pools, engine, CM watch),
 * freed in reverse order by its talloc destructor (deferred while one of
 * its entry points runs), and its queries.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "conn.h"

static int conn_destructor(struct smbdirect_conn *conn)
{
	if (conn->busy > 0) {
		/* Freed from inside one of its own callbacks: talloc keeps the
		 * object (orphaned) and the entry point frees it when it unwinds
		 * (sd_conn_release). */
		conn->free_pending = true;
		return -1;
	}
	/* Requests and exposures the application still holds no longer
	 * point here (their destructors would touch freed memory); they
	 * never complete: the application freed their connection. */
	sd_orphan_requests(conn);
	sd_rdma_orphan_all(conn);
	sd_exposures_orphan(conn);
	sd_conn_half_open_done(conn);
	TALLOC_FREE(conn->timer);
	TALLOC_FREE(conn->cq_fde);
	/* Synchronous with the RDMA thread: no event or failed post of ours
	 * is delivered after this, and every post we queued went down. */
	TALLOC_FREE(conn->watch);
	sd_verbs_release(conn);
	return 0;
}

struct smbdirect_conn *sd_conn_new(TALLOC_CTX *mem_ctx,
				   struct tevent_context *ev,
				   enum smbdirect_role role,
				   const struct smbdirect_settings *settings,
				   struct rdma_event_channel *channel,
				   struct rdma_cm_id *id,
				   struct sd_cm_proxy *proxy,
				   struct sd_watch *watch, int *error)
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
	conn->proxy = proxy;
	conn->timer_at = SMBDIRECT_NO_EXPIRY;
	if (proxy != NULL) {
		conn->local_addr = proxy->local_addr;
		conn->peer_addr = proxy->peer_addr;
	} else {
		memcpy(&conn->local_addr, rdma_get_local_addr(id),
		       sizeof(conn->local_addr));
		memcpy(&conn->peer_addr, rdma_get_peer_addr(id),
		       sizeof(conn->peer_addr));
	}
	sd_format_addr((struct sockaddr *)&conn->peer_addr, conn->peer,
		       sizeof(conn->peer));
	talloc_set_destructor(conn, conn_destructor);

	conn->engine = smbdirect_engine_new(conn, role, settings,
					    &sd_engine_callbacks, conn);
	if (conn->engine == NULL) {
		ret = EINVAL;
		goto fail;
	}
	ret = sd_verbs_create(conn);
	if (ret != 0) {
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
	/* The caller keeps the id, channel and proxy on failure. */
	conn->id = NULL;
	conn->cm_channel = NULL;
	conn->proxy = NULL;
	talloc_free(conn);
	*error = ret;
	return NULL;
}

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
	if (conn->remote != NULL) {
		return conn->remote_ops->params(conn);
	}
	return smbdirect_engine_params(conn->engine);
}

const struct sockaddr *
smbdirect_conn_local_address(const struct smbdirect_conn *conn)
{
	return (const struct sockaddr *)&conn->local_addr;
}

const struct sockaddr *
smbdirect_conn_peer_address(const struct smbdirect_conn *conn)
{
	return (const struct sockaddr *)&conn->peer_addr;
}

const char *smbdirect_conn_peer(const struct smbdirect_conn *conn)
{
	return conn->peer;
}

void smbdirect_disconnect(struct smbdirect_conn *conn)
{
	if (conn->remote != NULL) {
		conn->remote_ops->disconnect(conn);
		return;
	}
	smbdirect_engine_close(conn->engine);
}

void smbdirect_conn_get_stats(const struct smbdirect_conn *conn,
			      struct smbdirect_conn_stats *stats)
{
	*stats = conn->stats;
	if (conn->engine != NULL) {
		smbdirect_engine_get_stats(conn->engine, &stats->engine);
	}
}

int sd_conn_setup_recv(struct tevent_req *req, void *mem_ctx,
		       struct smbdirect_conn **state_conn,
		       enum smbdirect_reason state_reason,
		       struct smbdirect_conn **conn,
		       enum smbdirect_reason *reason)
{
	int err;

	if (sd_req_is_error(req, &err)) {
		if (reason != NULL) {
			*reason = state_reason != SMBDIRECT_REASON_NONE
					  ? state_reason
					  : SMBDIRECT_REASON_LOCAL_ERROR;
		}
		tevent_req_received(req);
		return err;
	}
	(*state_conn)->setup_done = NULL;
	*conn = talloc_steal(mem_ctx, *state_conn);
	*state_conn = NULL;
	if (reason != NULL) {
		*reason = SMBDIRECT_REASON_NONE;
	}
	tevent_req_received(req);
	return 0;
}

void sd_conn_setup_done(struct smbdirect_conn *conn, struct tevent_req *req,
			enum smbdirect_reason *state_reason)
{
	if (conn->connected) {
		tevent_req_done(req);
		return;
	}
	*state_reason = conn->reason;
	tevent_req_error(req, conn->reason == SMBDIRECT_REASON_NEGOTIATE_TIMEOUT
				      ? ETIMEDOUT
				      : EPROTO);
}
