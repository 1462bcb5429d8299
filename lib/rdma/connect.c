/*
 * libsmbdirect: the active side, [MS-SMBD] 3.1.4.1 over rdma_cm.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * resolve address -> resolve route -> own context, PD, CQ, QP (INIT) ->
 * rdma_connect (our QP number, retry 6, RNR retry 0) -> CONNECT_RESPONSE ->
 * RTR, RTS, rdma_establish -> engine start (negotiate request) ->
 * negotiate response -> done.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "conn.h"

static size_t sockaddr_length(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

struct connect_state {
	struct tevent_context *ev;
	struct smbdirect_settings settings;
	uint32_t timeout_ms;
	struct rdma_event_channel *channel;
	struct rdma_cm_id *id;
	struct sd_watch *watch;        /* until the connection takes it */
	struct smbdirect_conn *conn;
	struct sockaddr_storage src;
	struct sockaddr_storage dst;
	bool have_src;
	enum smbdirect_reason reason;
	char peer[80];
};

static void connect_fail(struct tevent_req *req, int error,
			 enum smbdirect_reason reason, const char *what)
{
	struct connect_state *state = tevent_req_data(req, struct connect_state);

	sd_log(SMBDIRECT_LOG_NOTICE, NULL, state->peer, "connect failed: %s: %s",
	       what, strerror(error));
	state->reason = reason;
	TALLOC_FREE(state->watch);
	tevent_req_error(req, error);
}

static int connect_state_destructor(struct connect_state *state)
{
	TALLOC_FREE(state->watch);
	if (state->conn != NULL) {
		/* Not handed out: the connection owns id and channel. */
		TALLOC_FREE(state->conn);
		return 0;
	}
	sd_id_free(state->id);
	sd_channel_free(state->channel);
	return 0;
}

/* The rdma_cm calls of the active side, where sd_call() runs them. */
static int create_id_fn(void *arg)
{
	struct connect_state *state = arg;

	return rdma_create_id(state->channel, &state->id, NULL, RDMA_PS_TCP);
}

static int resolve_addr_fn(void *arg)
{
	struct connect_state *state = arg;

	return rdma_resolve_addr(
		state->id, state->have_src ? (struct sockaddr *)&state->src : NULL,
		(struct sockaddr *)&state->dst, (int)state->timeout_ms);
}

static int resolve_route_fn(void *arg)
{
	struct connect_state *state = arg;

	return rdma_resolve_route(state->id, (int)state->timeout_ms);
}

static int connect_fn(void *arg)
{
	struct connect_state *state = arg;
	struct rdma_conn_param param;

	memset(&param, 0, sizeof(param));
	param.qp_num = state->conn->qp->qp_num;
	param.responder_resources = state->conn->responder_resources;
	param.initiator_depth = state->conn->initiator_depth;
	/* As the Linux peers: retry 6, RNR retry 0, so a send that finds no
	 * posted receive fails at once (credit errors show). */
	param.retry_count = 6;
	param.rnr_retry_count = 0;
	param.flow_control = 1;
	return rdma_connect(state->id, &param);
}

static int establish_fn(void *arg)
{
	struct connect_state *state = arg;

	return rdma_establish(state->id);
}

static void connect_setup_done(struct smbdirect_conn *conn, void *arg)
{
	struct tevent_req *req = arg;
	struct connect_state *state = tevent_req_data(req, struct connect_state);

	sd_conn_setup_done(conn, req, &state->reason);
}

static void connect_established(struct tevent_req *req)
{
	struct connect_state *state = tevent_req_data(req, struct connect_state);
	struct smbdirect_conn *conn = state->conn;
	int ret;

	ret = sd_conn_qp_ready(conn);
	if (ret != 0) {
		connect_fail(req, ret, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "moving the QP to RTS");
		return;
	}
	if (sd_call(establish_fn, state) != 0) {
		connect_fail(req, errno, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "rdma_establish");
		return;
	}
	/* From here the connection handles its CM events itself. */
	ret = sd_conn_watch(conn);
	if (ret != 0) {
		connect_fail(req, ret, SMBDIRECT_REASON_NO_MEMORY, "watching");
		return;
	}
	conn->setup_done = connect_setup_done;
	conn->setup_arg = req;
	/* 3.1.4.1: post a receive, send the negotiate request (3.1.5.2). */
	smbdirect_engine_start(conn->engine, sd_now());
	sd_conn_update_timer(conn);
}

static void connect_cm_event(const struct sd_cm_event *event, void *priv)
{
	struct tevent_req *req = priv;
	struct connect_state *state = tevent_req_data(req, struct connect_state);
	enum rdma_cm_event_type type = event->type;
	int status = event->status;
	int ret;

	if (!tevent_req_is_in_progress(req)) {
		/* Failed already; the caller has yet to free it. */
		return;
	}
	if (event->error != 0) {
		connect_fail(req, event->error,
			     event->error == EACCES
				     ? SMBDIRECT_REASON_CREDENTIALS_CHANGED
				     : SMBDIRECT_REASON_LOCAL_ERROR,
			     event->post_failed ? "posting" : "rdma_get_cm_event");
		return;
	}
	switch (type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (sd_call(resolve_route_fn, state) != 0) {
			connect_fail(req, errno,
				     SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "rdma_resolve_route");
		}
		return;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		state->conn = sd_conn_new(state, state->ev,
					  SMBDIRECT_ROLE_INITIATOR,
					  &state->settings, state->channel,
					  state->id, NULL, state->watch, &ret);
		if (state->conn == NULL) {
			connect_fail(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
				     "creating the connection");
			return;
		}
		/* The connection owns the watch now (it is freed with it). */
		state->watch = NULL;
		state->conn->own_cm_channel = true;
		if (sd_call(connect_fn, state) != 0) {
			connect_fail(req, errno,
				     SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "rdma_connect");
		}
		return;
	case RDMA_CM_EVENT_CONNECT_RESPONSE:
		connect_established(req);
		return;
	case RDMA_CM_EVENT_ESTABLISHED:
		return;
	case RDMA_CM_EVENT_REJECTED:
		connect_fail(req, ECONNREFUSED,
			     SMBDIRECT_REASON_PEER_DISCONNECTED,
			     "rejected by the peer");
		return;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
		connect_fail(req, status == -ETIMEDOUT ? ETIMEDOUT : EHOSTUNREACH,
			     SMBDIRECT_REASON_TRANSPORT_ERROR,
			     rdma_event_str(type));
		return;
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		connect_fail(req, status == -ETIMEDOUT ? ETIMEDOUT : EHOSTUNREACH,
			     SMBDIRECT_REASON_TRANSPORT_ERROR,
			     rdma_event_str(type));
		return;
	default:
		connect_fail(req, EIO, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     rdma_event_str(type));
		return;
	}
}

struct tevent_req *smbdirect_connect_send(
	void *mem_ctx, struct tevent_context *ev, const struct sockaddr *dst,
	const struct sockaddr *src, const struct smbdirect_settings *settings,
	uint32_t timeout_ms)
{
	struct tevent_req *req;
	struct connect_state *state;
	const char *why = NULL;
	int ret;

	req = tevent_req_create(mem_ctx, &state, struct connect_state);
	if (req == NULL) {
		return NULL;
	}
	state->ev = ev;
	state->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
	if (settings != NULL) {
		state->settings = *settings;
	} else {
		smbdirect_settings_default(&state->settings);
	}
	sd_format_addr(dst, state->peer, sizeof(state->peer));
	talloc_set_destructor(state, connect_state_destructor);
	if (dst == NULL || sockaddr_length(dst) == 0 ||
	    (src != NULL && sockaddr_length(src) == 0) ||
	    !smbdirect_settings_validate(&state->settings, &why)) {
		state->reason = SMBDIRECT_REASON_INVALID_ARGUMENT;
		tevent_req_error(req, EINVAL);
		return tevent_req_post(req, ev);
	}
	if (src != NULL) {
		memcpy(&state->src, src, sockaddr_length(src));
		state->have_src = true;
	}
	memcpy(&state->dst, dst, sockaddr_length(dst));
	state->channel = sd_channel_new(&ret);
	if (state->channel == NULL) {
		connect_fail(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
			     "rdma_create_event_channel");
		return tevent_req_post(req, ev);
	}
	if (sd_call(create_id_fn, state) != 0) {
		connect_fail(req, errno, SMBDIRECT_REASON_LOCAL_ERROR,
			     "rdma_create_id");
		return tevent_req_post(req, ev);
	}
	state->watch = sd_watch_new(state, ev, state->channel,
				    connect_cm_event, req);
	if (tevent_req_nomem(state->watch, req)) {
		return tevent_req_post(req, ev);
	}
	if (sd_call(resolve_addr_fn, state) != 0) {
		connect_fail(req, errno, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "rdma_resolve_addr");
		return tevent_req_post(req, ev);
	}
	return req;
}

int smbdirect_connect_recv(struct tevent_req *req, void *mem_ctx,
			   struct smbdirect_conn **conn,
			   enum smbdirect_reason *reason)
{
	struct connect_state *state = tevent_req_data(req, struct connect_state);

	if (state->conn != NULL) {
		/* The connection owns the id and channel (and frees them if
		 * it is freed with the state, on failure): the state's
		 * destructor, which runs inside, must not. */
		state->id = NULL;
		state->channel = NULL;
	}
	return sd_conn_setup_recv(req, mem_ctx, &state->conn, state->reason,
				  conn, reason);
}
