/*
 * libsmbdirect: the rdma_cm events of an established connection
 * (disconnect, device removal, errors), and the start of watching its CM
 * channel and completion channel.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "conn.h"

void sd_conn_cm_event(const struct sd_cm_event *event, void *priv)
{
	struct smbdirect_conn *conn = priv;

	sd_conn_hold(conn);
	if (event->post_failed) {
		sd_post_failed(conn, "posting (RDMA thread)", event->error);
	} else if (event->error != 0) {
		sd_rdma_call_failed(conn, "rdma_get_cm_event", event->error);
	} else {
		switch (event->type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			conn->disconnect_sent = true;
			/* Take what already arrived, then end. */
			sd_conn_poll_cq(conn);
			sd_conn_fail(conn, SMBDIRECT_REASON_PEER_DISCONNECTED,
				     "peer disconnected");
			break;
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "RDMA device removed");
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default:
			sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
				     "CM event %s (status %d)",
				     rdma_event_str(event->type),
				     event->status);
			break;
		}
	}
	sd_conn_release(conn);
}

/* A forked child's connection: what the listener's process said of its
 * id. One message per wake-up: the handler may free the connection. */
static void proxy_readable(struct tevent_context *ev, struct tevent_fd *fde,
			   uint16_t flags, void *priv)
{
	struct smbdirect_conn *conn = priv;
	struct sd_cm_event event;
	int error = 0;
	int n;

	(void)ev;
	(void)fde;
	(void)flags;
	n = sd_cm_proxy_read(conn->proxy, &event, &error);
	if (n < 0) {
		return;
	}
	if (n == 1) {
		sd_conn_cm_event(&event, conn);
		return;
	}
	sd_conn_hold(conn);
	if (n == 2) {
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "rdma_accept (by the listening process) failed: "
			     "%s",
			     strerror(error));
	} else {
		/* The id went with it: the peer was told (or its keepalive
		 * will tell it); nothing to disconnect here. */
		TALLOC_FREE(conn->proxy->fde);
		conn->disconnect_sent = true;
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "the listening process dropped the connection "
			     "(%s)",
			     error == 0 ? "it ended" : strerror(error));
	}
	sd_conn_release(conn);
}

int sd_conn_watch(struct smbdirect_conn *conn)
{
	if (conn->cq_fde == NULL) {
		conn->cq_fde = tevent_add_fd(conn->ev, conn, conn->comp->fd,
					     TEVENT_FD_READ, sd_cq_readable, conn);
		if (conn->cq_fde == NULL) {
			return ENOMEM;
		}
	}
	if (conn->watch != NULL) {
		sd_watch_set_handler(conn->watch, sd_conn_cm_event, conn);
	}
	if (conn->proxy != NULL && conn->proxy->fde == NULL) {
		/* A forked child's id: its events come from the listener's
		 * process (proxy.c). */
		conn->proxy->fde = tevent_add_fd(conn->ev, conn->proxy,
						 conn->proxy->fd,
						 TEVENT_FD_READ,
						 proxy_readable, conn);
		if (conn->proxy->fde == NULL) {
			return ENOMEM;
		}
	}
	return 0;
}
