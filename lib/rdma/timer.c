/*
 * libsmbdirect: the engine's one deadline (negotiation, keepalive,
 * idle) as one tevent timer.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */

#include "conn.h"

static void timer_fired(struct tevent_context *ev, struct tevent_timer *te,
			struct timeval now, void *priv)
{
	struct smbdirect_conn *conn = priv;

	(void)ev;
	(void)te;
	(void)now;
	conn->timer = NULL;
	conn->timer_at = SMBDIRECT_NO_EXPIRY;
	sd_conn_hold(conn);
	smbdirect_engine_handle_expiry(conn->engine, sd_now());
	if (sd_conn_release(conn)) {
		sd_conn_update_timer(conn);
	}
}

void sd_conn_update_timer(struct smbdirect_conn *conn)
{
	uint64_t at = smbdirect_engine_get_expiry(conn->engine);
	uint64_t now;
	uint64_t delta;

	/* Only an earlier deadline re-arms: the idle timer moves later on
	 * every message, and a timer that fires early just re-arms. So the
	 * steady state allocates no timers. */
	if (at == SMBDIRECT_NO_EXPIRY || at >= conn->timer_at) {
		return;
	}
	TALLOC_FREE(conn->timer);
	now = sd_now();
	delta = at > now ? at - now : 0;
	conn->timer = tevent_add_timer(
		conn->ev, conn,
		tevent_timeval_current_ofs((uint32_t)(delta / 1000000000ull),
					   (uint32_t)(delta % 1000000000ull /
						      1000)),
		timer_fired, conn);
	conn->timer_at = conn->timer != NULL ? at : SMBDIRECT_NO_EXPIRY;
}
