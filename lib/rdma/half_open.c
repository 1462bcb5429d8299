/*
 * libsmbdirect: the listener's half-open count: one place per connection
 * between its request and the end of its negotiation, held by one pointer
 * at a time (a request's, its connection's, or the listener's record of a
 * forked child's connection).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "conn.h"
#include "list.h"

static int half_open_destructor(struct sd_half_open *h)
{
	struct smbdirect_listener *l = h->listener;

	SD_LIST_REMOVE(l->half_open, h);
	l->half_open_count -= 1;
	if (h->holder != NULL) {
		*h->holder = NULL;
	}
	return 0;
}

struct sd_half_open *sd_half_open_new(struct smbdirect_listener *l,
				      const struct sockaddr_storage *addr)
{
	struct sd_half_open *h = talloc_zero(l, struct sd_half_open);

	if (h == NULL) {
		return NULL;
	}
	h->listener = l;
	h->addr = *addr;
	SD_LIST_ADD_END(l->half_open, h);
	l->half_open_count += 1;
	talloc_set_destructor(h, half_open_destructor);
	return h;
}

void sd_half_open_release(struct sd_half_open **place)
{
	if (place != NULL && *place != NULL) {
		struct sd_half_open *h = *place;

		h->holder = NULL;
		*place = NULL;
		talloc_free(h);
	}
}

void sd_half_open_move(struct sd_half_open **to, struct sd_half_open **from)
{
	*to = *from;
	*from = NULL;
	if (*to != NULL) {
		(*to)->holder = to;
	}
}
