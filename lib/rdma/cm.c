/*
 * libsmbdirect: the rdma_cm events of an established connection
 * (disconnect, device removal, errors), and the start of watching its CM
 * channel and completion channel.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

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
	return 0;
}
