/*
 * libsmbdirect: the listener: an rdma_cm id without a QP, whose
 * channel carries only connection requests; each request is handed to the
 * application, and rejected if freed unaccepted.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * An id accepted in this process is first moved onto an event channel of
 * its own (rdma_migrate_id, accept.c); the id of a connection handed to a
 * forked child stays on the listener's channel, in this process, and its
 * events go to the child (proxy.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "list.h"

void sd_conn_half_open_done(struct smbdirect_conn *conn)
{
	sd_half_open_release(&conn->half_open);
	if (conn->proxy != NULL) {
		sd_cm_proxy_negotiated(conn->proxy);
	}
}

static bool same_host(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family) {
		return false;
	}
	if (a->ss_family == AF_INET) {
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	}
	return true;
}

static void host_of(const struct sockaddr *sa, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (sa == NULL) {
		return;
	}
	if (sa->sa_family == AF_INET) {
		memcpy(out, sa, sizeof(struct sockaddr_in));
		((struct sockaddr_in *)out)->sin_port = 0;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(out, sa, sizeof(struct sockaddr_in6));
		((struct sockaddr_in6 *)out)->sin6_port = 0;
	} else {
		out->ss_family = sa->sa_family;
	}
}

/* Whether the listener takes one more half-open connection from `addr`;
 * if not, why. */
static const char *half_open_refusal(struct smbdirect_listener *l,
				     const struct sockaddr_storage *addr,
				     unsigned int *from_peer)
{
	struct sd_half_open *h;

	/* What forked children said since (their negotiation ended). */
	sd_proxied_poll(l);
	*from_peer = 0;
	for (h = l->half_open; h != NULL; h = h->next) {
		if (same_host(&h->addr, addr)) {
			*from_peer += 1;
		}
	}
	if (l->half_open_count >= l->max_half_open) {
		return "the listener's limit";
	}
	if (*from_peer >= l->max_half_open_per_peer) {
		return "the limit per peer address";
	}
	return NULL;
}

/* Refuse a request over a limit; say so in the log at most once a
 * second (a flood must not flood the log), with the count since. */
static void half_open_reject(struct smbdirect_listener *l,
			     const char *peer, const char *why,
			     unsigned int from_peer)
{
	uint64_t now = sd_now();

	l->rejected += 1;
	if (l->rejected_logged == 0 ||
	    now - l->rejected_log_at >= 1000000000ull) {
		sd_log(SMBDIRECT_LOG_NOTICE, NULL, peer,
		       "connection request rejected: %u half-open "
		       "connections, %u from this address (limits %u and %u "
		       "per address): %s; %llu rejected since the last such "
		       "line",
		       l->half_open_count, from_peer, l->max_half_open,
		       l->max_half_open_per_peer, why,
		       (unsigned long long)(l->rejected - l->rejected_logged));
		l->rejected_logged = l->rejected;
		l->rejected_log_at = now;
	}
}

/* Runs where sd_call() runs it. */
static int reject_fn(void *arg)
{
	struct rdma_cm_id *id = arg;

	rdma_reject(id, NULL, 0);
	return rdma_destroy_id(id);
}

static int request_destructor(struct smbdirect_conn_request *r)
{
	if (r->id != NULL) {
		/* Not accepted: refuse it and release the id. */
		sd_call(reject_fn, r->id);
	}
	sd_channel_free(r->channel);
	sd_half_open_release(&r->half_open);
	return 0;
}

static void listener_event(const struct sd_cm_event *event, void *priv)
{
	struct smbdirect_listener *l = priv;
	struct smbdirect_conn_request *r;
	struct sd_half_open *h;
	struct sockaddr_storage addr;
	unsigned int from_peer;
	const char *why;

	if (event->error != 0) {
		sd_log(SMBDIRECT_LOG_ERROR, NULL, NULL,
		       "listener: rdma_get_cm_event: %s%s; not listening",
		       strerror(event->error),
		       event->error == EACCES
			       ? " (this thread's credentials changed after "
				 "the listener was opened)"
			       : "");
		return;
	}
	if (event->type != RDMA_CM_EVENT_CONNECT_REQUEST) {
		/* The ids of forked children's connections stay here. */
		if (!sd_proxied_event(l, event)) {
			sd_log(SMBDIRECT_LOG_DEBUG, NULL, NULL,
			       "listener: ignoring %s",
			       rdma_event_str(event->type));
		}
		return;
	}
	host_of(rdma_get_peer_addr(event->id), &addr);
	why = half_open_refusal(l, &addr, &from_peer);
	if (why != NULL) {
		char peer[80];

		sd_format_addr(rdma_get_peer_addr(event->id), peer,
			       sizeof(peer));
		sd_call(reject_fn, event->id);
		half_open_reject(l, peer, why, from_peer);
		return;
	}
	r = talloc_zero(l, struct smbdirect_conn_request);
	h = sd_half_open_new(l, &addr);
	if (r == NULL || h == NULL) {
		talloc_free(r);
		talloc_free(h);
		sd_call(reject_fn, event->id);
		return;
	}
	r->listener = l;
	r->id = event->id;
	r->responder_resources = event->responder_resources;
	r->initiator_depth = event->initiator_depth;
	r->half_open = h;
	h->holder = &r->half_open;
	sd_format_addr(rdma_get_peer_addr(event->id), r->peer, sizeof(r->peer));
	talloc_set_destructor(r, request_destructor);
	l->on_request(l, r, l->private_data);
}

static int listener_destructor(struct smbdirect_listener *l)
{
	if (getpid() != l->pid) {
		/* Freed in a forked child (smbd frees its parent's state
		 * there): the listener is the parent's. */
		smbdirect_listener_forget(l);
	}
	TALLOC_FREE(l->watch);
	/* The forked children's connections end with their listener. */
	sd_proxied_free_all(l, false);
	while (l->half_open != NULL) {
		talloc_free(l->half_open);
	}
	sd_id_free(l->id);
	sd_channel_free(l->channel);
	return 0;
}

void smbdirect_listener_forget(struct smbdirect_listener *listener)
{
	if (listener == NULL) {
		return;
	}
	/* Forked: the id, its channel and the thread that watched it are
	 * the parent's. Destroying the id here would ask the kernel to
	 * destroy the parent's listener (refused: other credentials); our
	 * copy of the channel's fd only closes (else a dead parent's port
	 * would stay bound), and librdmacm's small record of the id stays in
	 * this process's copy of the parent's memory. */
	if (listener->watch != NULL) {
		sd_watch_forget(listener->watch);
		listener->watch = NULL;
	}
	if (listener->channel != NULL) {
		rdma_destroy_event_channel(listener->channel);
		listener->channel = NULL;
	}
	listener->id = NULL;
	/* The parent's records of its other children: our copies of their
	 * sockets close (their ids stay the parent's), and its count. */
	sd_proxied_free_all(listener, true);
	while (listener->half_open != NULL) {
		talloc_free(listener->half_open);
	}
}

/* Runs where sd_call() runs it. */
static int listen_fn(void *arg)
{
	struct smbdirect_listener *l = arg;

	if (rdma_create_id(l->channel, &l->id, l, RDMA_PS_TCP) != 0 ||
	    rdma_bind_addr(l->id, (struct sockaddr *)&l->address) != 0 ||
	    rdma_listen(l->id, l->backlog) != 0) {
		return errno != 0 ? errno : EIO;
	}
	return 0;
}

int smbdirect_listen(void *mem_ctx, struct tevent_context *ev,
		     const struct sockaddr *addr, int backlog,
		     smbdirect_request_fn on_request, void *private_data,
		     struct smbdirect_listener **listener)
{
	struct smbdirect_listener *l;
	socklen_t len;
	int ret;

	if (addr == NULL || on_request == NULL || listener == NULL) {
		return EINVAL;
	}
	len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					  : sizeof(struct sockaddr_in);
	l = talloc_zero(mem_ctx, struct smbdirect_listener);
	if (l == NULL) {
		return ENOMEM;
	}
	l->ev = ev;
	l->pid = getpid();
	l->on_request = on_request;
	l->private_data = private_data;
	l->backlog = backlog;
	l->max_half_open = SMBDIRECT_DEFAULT_MAX_HALF_OPEN;
	l->max_half_open_per_peer = SMBDIRECT_DEFAULT_MAX_HALF_OPEN_PER_PEER;
	memcpy(&l->address, addr, len);
	talloc_set_destructor(l, listener_destructor);
	l->channel = sd_channel_new(&ret);
	if (l->channel == NULL) {
		goto fail;
	}
	ret = sd_call(listen_fn, l);
	if (ret != 0) {
		goto fail;
	}
	memcpy(&l->address, rdma_get_local_addr(l->id), len);
	l->watch = sd_watch_new(l, ev, l->channel, listener_event, l);
	if (l->watch == NULL) {
		ret = ENOMEM;
		goto fail;
	}
	*listener = l;
	return 0;
fail:
	talloc_free(l);
	return ret != 0 ? ret : EIO;
}

const struct sockaddr *
smbdirect_listener_address(const struct smbdirect_listener *listener)
{
	return (const struct sockaddr *)&listener->address;
}

int smbdirect_listener_set_limits(struct smbdirect_listener *listener,
				  unsigned int max_half_open,
				  unsigned int max_half_open_per_peer)
{
	if (listener == NULL || max_half_open == 0 ||
	    max_half_open_per_peer == 0) {
		return EINVAL;
	}
	listener->max_half_open = max_half_open;
	listener->max_half_open_per_peer = max_half_open_per_peer;
	return 0;
}

unsigned int smbdirect_listener_half_open(struct smbdirect_listener *listener)
{
	sd_proxied_poll(listener);
	return listener->half_open_count;
}

uint64_t smbdirect_listener_rejected(const struct smbdirect_listener *listener)
{
	return listener->rejected;
}

const char *
smbdirect_conn_request_peer(const struct smbdirect_conn_request *request)
{
	return request->peer;
}

struct migrate_args {
	struct rdma_cm_id *id;
	struct rdma_event_channel *channel;
};

/* Runs where sd_call() runs it. */
static int migrate_fn(void *arg)
{
	struct migrate_args *m = arg;

	return rdma_migrate_id(m->id, m->channel) != 0 ? (errno != 0 ? errno : EIO)
						      : 0;
}

/* Give the id an event channel of its own. */
int sd_request_migrate(struct smbdirect_conn_request *r)
{
	struct migrate_args m = { .id = r->id };
	int ret;

	if (r->channel != NULL) {
		return 0;
	}
	m.channel = sd_channel_new(&ret);
	if (m.channel == NULL) {
		return ret;
	}
	ret = sd_call(migrate_fn, &m);
	if (ret != 0) {
		sd_channel_free(m.channel);
		return ret;
	}
	r->channel = m.channel;
	r->listener = NULL;
	return 0;
}

struct probe {
	struct sockaddr_storage addr;
	bool rdma;
};

/* Runs where sd_call() runs it. */
static int probe_fn(void *arg)
{
	struct probe *p = arg;
	struct rdma_event_channel *channel = rdma_create_event_channel();
	struct rdma_cm_id *id = NULL;

	if (channel == NULL) {
		return errno != 0 ? errno : EIO;
	}
	if (rdma_create_id(channel, &id, NULL, RDMA_PS_TCP) == 0) {
		p->rdma = rdma_bind_addr(id, (struct sockaddr *)&p->addr) == 0 &&
			  id->verbs != NULL;
		rdma_destroy_id(id);
	}
	rdma_destroy_event_channel(channel);
	return 0;
}

bool smbdirect_address_is_rdma(const struct sockaddr *addr)
{
	struct probe p = { .rdma = false };

	if (addr == NULL ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
		return false;
	}
	/* rdma_cm binds a loopback address to whichever device comes first
	 * (and takes the port on every device), and the wildcard to none:
	 * neither is an address a peer reaches by RDMA. Measured in the
	 * guest: smbd listening on 127.0.0.1:5445 first made 10.9.0.1:5445
	 * fail with EADDRNOTAVAIL. */
	if (sd_addr_is_loopback_or_any(addr)) {
		return false;
	}
	memcpy(&p.addr, addr, addr->sa_family == AF_INET6
				      ? sizeof(struct sockaddr_in6)
				      : sizeof(struct sockaddr_in));
	/* Any free port will do: the bind only finds the device. */
	if (addr->sa_family == AF_INET6) {
		((struct sockaddr_in6 *)&p.addr)->sin6_port = 0;
	} else {
		((struct sockaddr_in *)&p.addr)->sin_port = 0;
	}
	return sd_call(probe_fn, &p) == 0 && p.rdma;
}
