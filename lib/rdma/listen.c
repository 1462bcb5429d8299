/*
 * libsmbdirect: the listener: an rdma_cm id without a QP, whose
 * channel carries only connection requests; each request is handed to the
 * application, and rejected if freed unaccepted.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Every accepted id is first moved onto an event channel of its own
 * (rdma_migrate_id), in this process (accept.c) and after fork (fork.c)
 * alike.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

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
	return 0;
}

static void listener_event(const struct sd_cm_event *event, void *priv)
{
	struct smbdirect_listener *l = priv;
	struct smbdirect_conn_request *r;

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
		sd_log(SMBDIRECT_LOG_DEBUG, NULL, NULL, "listener: ignoring %s",
		       rdma_event_str(event->type));
		return;
	}
	r = talloc_zero(l, struct smbdirect_conn_request);
	if (r == NULL) {
		sd_call(reject_fn, event->id);
		return;
	}
	r->listener = l;
	r->id = event->id;
	r->responder_resources = event->responder_resources;
	r->initiator_depth = event->initiator_depth;
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
