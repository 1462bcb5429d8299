/*
 * libsmbdirect: a forked child's rdma_cm calls, made for it by the
 * listener's process (docs/fork-and-credentials.md, "The listener's
 * record").
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * librdmacm allocates its record of a connection's id in the process that
 * took the CONNECT_REQUEST: the listener's. Once another process owns the
 * id, nothing in the API frees that record, so a listener that let its
 * children own the ids grew by one record per connection ever served. So
 * the id stays with the listener's process, which destroys it (and frees
 * the record) when the child is done; the child owns only its verbs
 * objects. Between the two, one socket per connection (SOCK_SEQPACKET,
 * made before fork()):
 *
 *   child -> listener   'A' accept with this QP number and these depths
 *                       'N' negotiation ended (the half-open place goes)
 *                       'D' disconnect
 *                       end of file: destroy the id (reject it first if
 *                       it was never accepted)
 *   listener -> child   'E' an rdma_cm event of the id
 *                       'F' rdma_accept failed (errno)
 *                       end of file: the listener's process dropped the
 *                       id (it ended, or freed its listener)
 *
 * The QP attributes for INIT, RTR and RTS come from rdma_init_qp_attr in
 * the listener's process before fork(); the child moves its own QP through
 * them. The price: a listener's process that ends takes its children's
 * connections with it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "list.h"

#define PROXY_ACCEPT 'A'
#define PROXY_NEGOTIATED 'N'
#define PROXY_DISCONNECT 'D'
#define PROXY_EVENT 'E'
#define PROXY_ACCEPT_FAILED 'F'

/* Messages the listener's process takes from one child per wake-up: a
 * child says at most three things. */
#define PROXY_READ_BATCH 4

struct proxy_msg {
	uint8_t kind;
	uint8_t responder_resources;
	uint8_t initiator_depth;
	uint8_t unused;
	uint32_t qp_num;
	int32_t type;   /* 'E': the rdma_cm event */
	int32_t status; /* 'E': its status; 'F': an errno value */
};

/* The listener's record of one child's connection. */
struct sd_proxied {
	struct sd_proxied *prev, *next;
	struct smbdirect_listener *listener;
	struct rdma_cm_id *id;
	int fd;
	struct tevent_fd *fde;
	struct sd_half_open *half_open;
	bool accepted;
	bool disconnected;
	char peer[80];
};

static int send_msg(int fd, const struct proxy_msg *m)
{
	ssize_t n;

	do {
		n = send(fd, m, sizeof(*m), MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*m)) {
		return 0;
	}
	return n < 0 ? errno : EIO;
}

/* One message: 1, 0 at end of file, -1 with errno (EAGAIN: none). A
 * message of another size (never sent by the library) is an error. */
static int recv_msg(int fd, struct proxy_msg *m)
{
	ssize_t n;

	do {
		n = recv(fd, m, sizeof(*m), MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(*m)) {
		return 1;
	}
	if (n > 0) {
		errno = EPROTO;
		return -1;
	}
	return n == 0 ? 0 : -1;
}

/* --- the listener's process --------------------------------------------- */

struct qp_attr_args {
	struct rdma_cm_id *id;
	struct sd_cm_proxy *p;
};

/* Runs where sd_call() runs it. */
static int qp_attr_fn(void *arg)
{
	static const enum ibv_qp_state states[3] = { IBV_QPS_INIT,
						     IBV_QPS_RTR,
						     IBV_QPS_RTS };
	struct qp_attr_args *a = arg;
	int i;

	for (i = 0; i < 3; i++) {
		memset(&a->p->qp_attr[i], 0, sizeof(a->p->qp_attr[i]));
		a->p->qp_attr[i].qp_state = states[i];
		a->p->qp_mask[i] = 0;
		if (rdma_init_qp_attr(a->id, &a->p->qp_attr[i],
				      &a->p->qp_mask[i]) != 0) {
			return errno != 0 ? errno : EIO;
		}
	}
	return 0;
}

static int proxy_destructor(struct sd_cm_proxy *p)
{
	TALLOC_FREE(p->fde);
	if (p->fd >= 0) {
		close(p->fd);
	}
	return 0;
}

struct sd_cm_proxy *sd_cm_proxy_prepare(TALLOC_CTX *mem_ctx,
					struct rdma_cm_id *id, int *parent_fd,
					int *error)
{
	struct sd_cm_proxy *p = talloc_zero(mem_ctx, struct sd_cm_proxy);
	struct qp_attr_args a = { .id = id, .p = p };
	int fds[2];
	int ret;

	if (p == NULL) {
		*error = ENOMEM;
		return NULL;
	}
	p->fd = -1;
	talloc_set_destructor(p, proxy_destructor);
	if (id->verbs == NULL) {
		ret = ENODEV;
		goto fail;
	}
	/* Before the QP exists, at CONNECT_REQUEST: the request carries all
	 * RTR and RTS need (measured on rxe, test/vm/experiments/lkid.c). */
	ret = sd_call(qp_attr_fn, &a);
	if (ret != 0) {
		goto fail;
	}
	p->device = id->verbs->device;
	p->port_num = id->port_num;
	memcpy(&p->local_addr, rdma_get_local_addr(id), sizeof(p->local_addr));
	memcpy(&p->peer_addr, rdma_get_peer_addr(id), sizeof(p->peer_addr));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
		ret = errno;
		goto fail;
	}
	p->fd = fds[1];
	*parent_fd = fds[0];
	return p;
fail:
	talloc_free(p);
	*error = ret;
	return NULL;
}

struct accept_args {
	struct rdma_cm_id *id;
	struct rdma_conn_param param;
};

/* Runs where sd_call() runs it. */
static int accept_fn(void *arg)
{
	struct accept_args *a = arg;

	return rdma_accept(a->id, &a->param) != 0 ? (errno != 0 ? errno : EIO)
						  : 0;
}

int sd_accept_id(struct rdma_cm_id *id, uint32_t qp_num,
		 uint8_t responder_resources, uint8_t initiator_depth)
{
	struct accept_args a = { .id = id };

	/* A QP the caller moved to RTS itself: rdma_cm touches no QP it did
	 * not create. */
	a.param.qp_num = qp_num;
	a.param.responder_resources = responder_resources;
	a.param.initiator_depth = initiator_depth;
	a.param.retry_count = 6;
	a.param.rnr_retry_count = 0;
	a.param.flow_control = 1;
	return sd_call(accept_fn, &a);
}

/* Runs where sd_call() runs it: the end of a child's connection. */
static int proxied_end_fn(void *arg)
{
	struct sd_proxied *p = arg;

	if (!p->accepted) {
		rdma_reject(p->id, NULL, 0);
	} else if (!p->disconnected) {
		rdma_disconnect(p->id);
	}
	return rdma_destroy_id(p->id) != 0 ? (errno != 0 ? errno : EIO) : 0;
}

static int proxied_destructor(struct sd_proxied *p)
{
	struct smbdirect_listener *l = p->listener;

	TALLOC_FREE(p->fde);
	if (p->id != NULL) {
		int ret = sd_call(proxied_end_fn, p);

		if (ret != 0) {
			sd_log(SMBDIRECT_LOG_WARNING, NULL, p->peer,
			       "rdma_destroy_id of a child's connection "
			       "failed: %s",
			       strerror(ret));
		}
	}
	close(p->fd);
	sd_half_open_release(&p->half_open);
	SD_LIST_REMOVE(l->proxied, p);
	l->proxied_count -= 1;
	return 0;
}

/* One message from the child, or its end. Returns false when the record
 * is gone or nothing more is waiting. */
static bool proxied_take(struct sd_proxied *p)
{
	struct proxy_msg m;
	int n = recv_msg(p->fd, &m);
	int ret;

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		return false;
	}
	if (n <= 0) {
		if (!p->accepted) {
			sd_log(SMBDIRECT_LOG_NOTICE, NULL, p->peer,
			       "the child ended before accepting; the request "
			       "is rejected");
		}
		talloc_free(p); /* destroys the id */
		return false;
	}
	switch (m.kind) {
	case PROXY_ACCEPT:
		if (!p->accepted) {
			ret = sd_accept_id(p->id, m.qp_num,
					   m.responder_resources,
					   m.initiator_depth);
			if (ret == 0) {
				p->accepted = true;
				break;
			}
			sd_log(SMBDIRECT_LOG_WARNING, NULL, p->peer,
			       "rdma_accept for a child failed: %s",
			       strerror(ret));
			memset(&m, 0, sizeof(m));
			m.kind = PROXY_ACCEPT_FAILED;
			m.status = ret;
			send_msg(p->fd, &m);
		}
		break;
	case PROXY_NEGOTIATED:
		sd_half_open_release(&p->half_open);
		break;
	case PROXY_DISCONNECT:
		if (p->accepted && !p->disconnected) {
			p->disconnected = true;
			sd_disconnect_id(p->id);
		}
		break;
	default:
		sd_log(SMBDIRECT_LOG_WARNING, NULL, p->peer,
		       "a child sent an unknown word (%u); ignored",
		       (unsigned int)m.kind);
		break;
	}
	return true;
}

/* A few of the child's words (the record may go with the last). */
static void proxied_take_some(struct sd_proxied *p)
{
	int i;

	for (i = 0; i < PROXY_READ_BATCH && proxied_take(p); i++) {
	}
}

static void proxied_readable(struct tevent_context *ev, struct tevent_fd *fde,
			     uint16_t flags, void *priv)
{
	(void)ev;
	(void)fde;
	(void)flags;
	proxied_take_some(priv);
}

int sd_proxied_new(struct smbdirect_listener *l,
		   struct smbdirect_conn_request *r, int parent_fd)
{
	struct sd_proxied *p = talloc_zero(l, struct sd_proxied);

	if (p == NULL) {
		return ENOMEM;
	}
	p->fd = parent_fd;
	p->fde = tevent_add_fd(l->ev, p, parent_fd, TEVENT_FD_READ,
			       proxied_readable, p);
	if (p->fde == NULL) {
		talloc_free(p);
		return ENOMEM;
	}
	p->listener = l;
	p->id = r->id;
	r->id = NULL;
	snprintf(p->peer, sizeof(p->peer), "%s", r->peer);
	sd_half_open_move(&p->half_open, &r->half_open);
	SD_LIST_ADD_END(l->proxied, p);
	l->proxied_count += 1;
	talloc_set_destructor(p, proxied_destructor);
	return 0;
}

bool sd_proxied_event(struct smbdirect_listener *l,
		      const struct sd_cm_event *event)
{
	struct sd_proxied *p;
	struct proxy_msg m;

	/* By address only: an event read before its id was destroyed may
	 * come after (thread mode); its id is then in no record, or in one
	 * made from a later CONNECT_REQUEST, which comes later still. */
	for (p = l->proxied; p != NULL; p = p->next) {
		if (p->id == event->id) {
			break;
		}
	}
	if (p == NULL) {
		return false;
	}
	if (event->type == RDMA_CM_EVENT_DISCONNECTED) {
		p->disconnected = true;
	}
	memset(&m, 0, sizeof(m));
	m.kind = PROXY_EVENT;
	m.type = (int32_t)event->type;
	m.status = event->status;
	if (send_msg(p->fd, &m) != 0) {
		/* Its child is gone or stuck: its end of file (or its
		 * connection's timers) ends it. */
		sd_log(SMBDIRECT_LOG_DEBUG, NULL, p->peer,
		       "%s not passed to the child: %s",
		       rdma_event_str(event->type), strerror(errno));
	}
	return true;
}

void sd_proxied_poll(struct smbdirect_listener *l)
{
	struct sd_proxied *p = l->proxied;

	while (p != NULL) {
		struct sd_proxied *next = p->next;

		if (p->half_open != NULL) {
			proxied_take_some(p);
		}
		p = next;
	}
}

void sd_proxied_free_all(struct smbdirect_listener *l, bool forked)
{
	while (l->proxied != NULL) {
		if (forked) {
			/* The id is our parent's: only our copy of the
			 * socket closes. */
			l->proxied->id = NULL;
		}
		talloc_free(l->proxied);
	}
}

/* --- the child ------------------------------------------------------------ */

int sd_cm_proxy_accept(struct smbdirect_conn *conn)
{
	struct proxy_msg m;

	memset(&m, 0, sizeof(m));
	m.kind = PROXY_ACCEPT;
	m.qp_num = conn->qp->qp_num;
	m.responder_resources = conn->responder_resources;
	m.initiator_depth = conn->initiator_depth;
	return send_msg(conn->proxy->fd, &m);
}

int sd_cm_proxy_read(struct sd_cm_proxy *p, struct sd_cm_event *event,
		     int *error)
{
	struct proxy_msg m;
	int n = recv_msg(p->fd, &m);

	*error = 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		return -1;
	}
	if (n <= 0) {
		*error = n < 0 ? errno : 0;
		p->disconnect_told = true;
		return 0;
	}
	if (m.kind == PROXY_ACCEPT_FAILED) {
		*error = m.status;
		return 2;
	}
	if (m.kind != PROXY_EVENT) {
		return -1;
	}
	memset(event, 0, sizeof(*event));
	event->type = (enum rdma_cm_event_type)m.type;
	event->status = m.status;
	return 1;
}

/* A word said at most once. A failed send is not retried: the listener's
 * process is gone (its end tells us) or its socket is full, and the end of
 * ours, when the connection is freed, says both at the latest. */
static void tell_once(struct sd_cm_proxy *p, bool *told, uint8_t kind)
{
	struct proxy_msg m;

	if (*told) {
		return;
	}
	*told = true;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	send_msg(p->fd, &m);
}

void sd_cm_proxy_negotiated(struct sd_cm_proxy *p)
{
	tell_once(p, &p->negotiated_told, PROXY_NEGOTIATED);
}

void sd_cm_proxy_disconnect(struct sd_cm_proxy *p)
{
	tell_once(p, &p->disconnect_told, PROXY_DISCONNECT);
}
