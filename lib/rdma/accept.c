/*
 * libsmbdirect: the passive side: accept a connection request and
 * negotiate as the responder ([MS-SMBD] 3.1.7.2, 3.1.5.6).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"

struct accept_state {
	struct tevent_context *ev;
	struct smbdirect_settings settings;
	struct smbdirect_conn_request *request;
	struct smbdirect_conn *conn;
	enum smbdirect_reason reason;
};

static void accept_setup_done(struct smbdirect_conn *conn, void *arg)
{
	struct tevent_req *req = arg;
	struct accept_state *state = tevent_req_data(req, struct accept_state);

	sd_conn_setup_done(conn, req, &state->reason);
}

static void accept_error(struct tevent_req *req, int error,
			 enum smbdirect_reason reason, const char *what)
{
	struct accept_state *state = tevent_req_data(req, struct accept_state);

	sd_log(SMBDIRECT_LOG_WARNING, NULL,
	       state->request != NULL ? state->request->peer : NULL,
	       "accepting failed: %s: %s", what, strerror(error));
	state->reason = reason;
	tevent_req_error(req, error);
}

struct tevent_req *smbdirect_accept_send(void *mem_ctx,
					 struct tevent_context *ev,
					 struct smbdirect_conn_request *request,
					 const struct smbdirect_settings *settings)
{
	struct tevent_req *req;
	struct accept_state *state;
	struct smbdirect_conn *conn;
	int ret;

	req = tevent_req_create(mem_ctx, &state, struct accept_state);
	if (req == NULL) {
		return NULL;
	}
	state->ev = ev;
	state->request = talloc_steal(state, request);
	if (settings != NULL) {
		state->settings = *settings;
	} else {
		smbdirect_settings_default(&state->settings);
	}
	if (!smbdirect_settings_validate(&state->settings, NULL)) {
		accept_error(req, EINVAL, SMBDIRECT_REASON_INVALID_ARGUMENT,
			     "settings");
		return tevent_req_post(req, ev);
	}
	/* A forked child's request has no id here: the listener's process
	 * keeps it (proxy.c). Any other gets a channel of its own. */
	if (request->proxy == NULL) {
		ret = sd_request_migrate(request);
		if (ret != 0) {
			accept_error(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
				     "rdma_migrate_id");
			return tevent_req_post(req, ev);
		}
	}
	conn = sd_conn_new(state, ev, SMBDIRECT_ROLE_RESPONDER,
			   &state->settings, request->channel, request->id,
			   request->proxy, NULL, &ret);
	if (conn == NULL) {
		accept_error(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
			     "creating the connection");
		return tevent_req_post(req, ev);
	}
	/* The connection owns id and channel (or proxy) from here, and the
	 * request's place in the half-open count. */
	conn->own_cm_channel = request->channel != NULL;
	request->id = NULL;
	request->channel = NULL;
	if (request->proxy != NULL) {
		talloc_steal(conn, request->proxy);
		request->proxy = NULL;
	}
	sd_half_open_move(&conn->half_open, &request->half_open);
	state->conn = conn;
	snprintf(conn->peer, sizeof(conn->peer), "%s", request->peer);

	/* 3.1.7.2: post the receive for the negotiate request before
	 * accepting, and run the negotiate timer. */
	conn->setup_done = accept_setup_done;
	conn->setup_arg = req;
	if (smbdirect_engine_start(conn->engine, sd_now()) != 0 ||
	    conn->ended) {
		accept_error(req, EIO, conn->reason, "starting negotiation");
		return tevent_req_post(req, ev);
	}
	/* The CONNECT_REQUEST event gives the peer's values from this
	 * side's point of view (the kernel's rdma_cm swaps them): its
	 * initiator_depth is the peer's responder resources, the RDMA
	 * reads we may have in flight at the peer; its responder_resources
	 * is the peer's initiator depth. cifs.ko offers initiator depth 0
	 * and responder resources 32: the server RDMA-reads the client's
	 * WRITE data ([MS-SMB2] 3.3.5.13), the client reads nothing. */
	if (request->initiator_depth < conn->initiator_depth) {
		conn->initiator_depth = request->initiator_depth;
	}
	if (request->responder_resources < conn->responder_resources) {
		conn->responder_resources = request->responder_resources;
	}
	ret = sd_conn_qp_ready(conn);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "moving the QP to RTS");
		return tevent_req_post(req, ev);
	}
	ret = conn->proxy != NULL
		      ? sd_cm_proxy_accept(conn)
		      : sd_accept_id(conn->id, conn->qp->qp_num,
				     conn->responder_resources,
				     conn->initiator_depth);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     conn->proxy != NULL
				     ? "asking the listening process to accept"
				     : "rdma_accept");
		return tevent_req_post(req, ev);
	}
	ret = sd_conn_watch(conn);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_NO_MEMORY, "watching");
		return tevent_req_post(req, ev);
	}
	sd_conn_update_timer(conn);
	return req;
}

int smbdirect_accept_recv(struct tevent_req *req, void *mem_ctx,
			  struct smbdirect_conn **conn,
			  enum smbdirect_reason *reason)
{
	struct accept_state *state = tevent_req_data(req, struct accept_state);

	return sd_conn_setup_recv(req, mem_ctx, &state->conn, state->reason,
				  conn, reason);
}
