/*
 * libsmbdirect: how a connection ends: a reason for the engine, a
 * log line that names the peer, and the rdma_cm disconnect.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Failures found by the binding (a failed post, a failed RDMA call, a
 * completion in error) end the connection through the engine
 * (smbdirect_engine_fail), so the application hears of it once, with the
 * reason, through the terminated callback (transport.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conn.h"

void sd_conn_fail(struct smbdirect_conn *conn, enum smbdirect_reason reason,
		  const char *fmt, ...)
{
	char detail[192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (conn->remote != NULL) {
		conn->remote_ops->fail(conn, reason, detail);
		return;
	}
	smbdirect_engine_fail(conn->engine, reason, detail);
}

/* A post failed (or, in thread mode, will never happen): rxe and siw ring
 * the doorbell with write(), so after EACCES the work request may already
 * be queued and goes out at the next good doorbell; it is never retried,
 * and the connection ends. */
void sd_post_failed(struct smbdirect_conn *conn, const char *what, int error)
{
	if (error == EACCES) {
		sd_rdma_call_failed(conn, what, error);
		return;
	}
	sd_log(SMBDIRECT_LOG_ERROR, conn, NULL, "%s failed: %s", what,
	       strerror(error));
	sd_conn_fail(conn, SMBDIRECT_REASON_LOCAL_ERROR, "%s failed: %s", what,
		     strerror(error));
}

/* An RDMA call failed; EACCES means this thread's credentials are no
 * longer those that opened the RDMA fds (the kernel logs that only once
 * per boot, so we say it every time). */
void sd_rdma_call_failed(struct smbdirect_conn *conn, const char *what,
			 int error)
{
	if (error != EACCES) {
		sd_conn_fail(conn, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "%s failed: %s", what, strerror(error));
		return;
	}
	sd_log(SMBDIRECT_LOG_ERROR, conn, NULL,
	       "%s: EACCES: this thread's credentials changed after the "
		     "RDMA device was opened (thread mode %s; a process that "
		     "switches identity needs the rdma-thread mode); the "
		     "connection ends, nothing is retried",
	       what, smbdirect_thread_mode_string(smbdirect_get_thread_mode()));
	if (!conn->ended) {
		/* The peer may never hear of it (rdma_disconnect fails the
		 * same way): at least stop the QP here. */
		struct ibv_qp_attr attr = { .qp_state = IBV_QPS_ERR };

		conn->disconnect_sent = true;
		ibv_modify_qp(conn->qp, &attr, IBV_QP_STATE);
	}
	sd_conn_fail(conn, SMBDIRECT_REASON_CREDENTIALS_CHANGED,
		     "%s: EACCES (credentials changed)", what);
}

/* rdma_disconnect, where the thread mode says. */
void sd_conn_disconnect(struct smbdirect_conn *conn)
{
	int ret;

	if (conn->proxy != NULL) {
		/* The id is the listening process's (proxy.c). */
		sd_cm_proxy_disconnect(conn->proxy);
		return;
	}
	ret = sd_disconnect_id(conn->id);

	if (ret == EACCES) {
		sd_log(SMBDIRECT_LOG_ERROR, conn, NULL, "rdma_disconnect: EACCES: this thread's "
			     "credentials changed after the RDMA device was "
			     "opened; the peer is not told");
	}
}
