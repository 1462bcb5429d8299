/*
 * fakeverbs: an in-process RDMA fabric for host-side tests (see
 * fakeverbs.h for what it emulates and why).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "fakeverbs.h"

/* Every rdma-core function below is declared by its header; the test
 * binary links these instead of libibverbs and librdmacm. */

/* --- objects ------------------------------------------------------------ */

struct fv_event {
	struct rdma_cm_event ev;
	struct fv_event *next;
};

struct fv_channel {
	struct rdma_event_channel ch;
	int write_fd;
	struct fv_event *head, *tail;
	bool scripted;
};

struct fv_qp;

struct fv_id {
	struct rdma_cm_id id;
	struct fv_id *next_all;
	struct fv_id *peer;       /* the other end (library ids) */
	struct fv_peer *script;   /* or a scripted peer */
	bool listening;
	bool disconnected;        /* DISCONNECTED queued to this id */
	uint32_t remote_qp_num;   /* the active side's QP (passive ids) */
	uint32_t qp_num;          /* this id's QP, once connected */
	bool scripted;            /* owned by the fabric, not the library */
	bool aborted;             /* its scripted client went away first */
	/* RDMA read limits agreed with a scripted server (0: the device's) */
	uint8_t rd_atomic;
	uint8_t dest_rd_atomic;
};

struct fv_mr {
	struct ibv_mr mr;
	struct fv_mr *next;
	unsigned int access;
	bool invalidated;         /* scripted exposures only */
	bool scripted;
};

struct fv_mw {
	struct ibv_mw mw;
	struct fv_mw *next;
	struct fv_mr *mr;         /* the registration it is bound to */
	bool bound;
	uint64_t addr;
	uint64_t length;
	unsigned int access;
};

struct fv_pd {
	struct ibv_pd pd;
	struct fv_pd *next_all;
	struct fv_mr *mrs;
	struct fv_mw *mws;
	bool scripted;
};

struct fv_comp {
	struct ibv_comp_channel ch;
	int write_fd;
	struct ibv_cq *fired[64];
	unsigned int fired_first, fired_count;
};

struct fv_cq {
	struct ibv_cq cq;
	struct ibv_wc *ring;
	unsigned int capacity, first, count;
	bool armed;
	bool scripted;
};

struct fv_recv {
	uint64_t wr_id;
	struct ibv_sge sge[4];
	int num_sge;
};

/* A send work request held while its peer stalls (fv_peer_stall()): the
 * request, its scatter list, and for sends a copy of the bytes as they
 * were at post time (the library may reuse an inline send's memory). */
struct fv_held {
	struct fv_held *next;
	struct ibv_send_wr wr;
	struct ibv_sge sge[32];
	uint8_t *bytes;
	size_t length;
};

struct fv_qp {
	struct ibv_qp qp;
	struct fv_qp *next_all;
	struct fv_qp *remote;
	struct fv_peer *script;   /* a scripted peer's own QP */
	struct fv_recv *rq;
	unsigned int rq_capacity, rq_first, rq_count;
	uint32_t max_send_sge;
	uint32_t max_inline;
	bool scripted;
	struct fv_held *held_head, *held_tail;
};

struct fv_peer {
	struct fv_peer *next;
	bool taken;
	struct fv_id *id;             /* scripted id, peer of the library's */
	struct fv_id *lib_id;
	struct fv_qp *qp;             /* the scripted end's QP */
	struct fv_pd *pd;             /* its exposures */
	struct fv_msg *inbox;
	size_t inbox_count, inbox_capacity;
	bool client;      /* connected to a library listener */
	bool accepted;    /* the library accepted it (client peers) */
	bool rejected;    /* the library rejected it (client peers) */
	bool rnr;         /* posts no receives: sends to it fail RNR */
	bool stalled;     /* the library's work requests to it are held */
};

struct fv_script {
	uint16_t port;
	uint8_t responder_resources;
	uint8_t initiator_depth;
	struct fv_script *next;
};

/* --- the fabric: process-wide ------------------------------------------- */

enum fv_kind {
	FV_CHANNEL, FV_ID, FV_CONTEXT, FV_PD, FV_MR, FV_MW, FV_COMP, FV_CQ,
	FV_QP, FV_KINDS
};
static const char *const fv_kind_names[FV_KINDS] = {
	"event channels", "cm ids", "contexts", "PDs", "MRs", "MWs",
	"completion channels", "CQs", "QPs",
};

static struct {
	struct ibv_device device;
	struct ibv_context *cached;   /* librdmacm's cached context */
	struct fv_id *ids;
	struct fv_qp *qps;
	struct fv_peer *peers;
	struct fv_script *scripts;
	struct fv_pd *pds;
	uint32_t next_qp_num;
	uint32_t next_key;
	uint16_t next_port;
	bool no_mw;
	bool mw_unbounded;            /* rxe's windows (fv_set_...) */
	bool not_rxe;                 /* report another vendor */
	int live;                     /* library-side objects alive */
	int live_kind[FV_KINDS];
	struct fv_stats stats;
} fab = { .next_qp_num = 0x100, .next_key = 0x1000, .next_port = 40000 };

static void live_add(enum fv_kind kind, bool scripted, int n)
{
	if (!scripted) {
		fab.live += n;
		fab.live_kind[kind] += n;
	}
}

static uint32_t new_key(void)
{
	fab.next_key += 0x100; /* low 8 bits: the key's tag */
	return fab.next_key;
}

static int pipe_nonblock(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		return -1;
	}
	return 0;
}

static void poke(int fd)
{
	char c = 1;

	if (write(fd, &c, 1) != 1) {
		abort(); /* a pipe of ours is full: a test runs away */
	}
}

static bool unpoke(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

static uint16_t addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6) {
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	return ntohs(((const struct sockaddr_in *)sa)->sin_port);
}

static void addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET6) {
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
	} else {
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	}
}

static size_t addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
}

/* --- rdma_cm: event channels and events ----------------------------------- */

static struct rdma_event_channel *channel_new(bool scripted)
{
	struct fv_channel *c = calloc(1, sizeof(*c));
	int fds[2];

	if (c == NULL || pipe_nonblock(fds) != 0) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->ch.fd = fds[0];
	c->write_fd = fds[1];
	c->scripted = scripted;
	live_add(FV_CHANNEL, scripted, 1);
	return &c->ch;
}

struct rdma_event_channel *rdma_create_event_channel(void)
{
	return channel_new(false);
}

void rdma_destroy_event_channel(struct rdma_event_channel *channel)
{
	struct fv_channel *c = (struct fv_channel *)channel;

	if (c == NULL) {
		return;
	}
	while (c->head != NULL) {
		struct fv_event *e = c->head;

		c->head = e->next;
		free(e);
	}
	close(c->ch.fd);
	close(c->write_fd);
	live_add(FV_CHANNEL, c->scripted, -1);
	free(c);
}

static void queue_event(struct fv_id *id, enum rdma_cm_event_type type,
			int status, struct fv_id *event_id,
			const struct rdma_conn_param *param)
{
	struct fv_channel *c = (struct fv_channel *)id->id.channel;
	struct fv_event *e;

	if (c == NULL || c->scripted) {
		return;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		abort();
	}
	e->ev.id = &event_id->id;
	e->ev.listen_id = event_id != id ? &id->id : NULL;
	e->ev.event = type;
	e->ev.status = status;
	if (param != NULL) {
		e->ev.param.conn = *param;
		e->ev.param.conn.private_data = NULL;
		e->ev.param.conn.private_data_len = 0;
	}
	if (c->tail != NULL) {
		c->tail->next = e;
	} else {
		c->head = e;
	}
	c->tail = e;
	poke(c->write_fd);
}

int rdma_get_cm_event(struct rdma_event_channel *channel,
		      struct rdma_cm_event **event)
{
	struct fv_channel *c = (struct fv_channel *)channel;
	struct fv_event *e;

	if (!unpoke(c->ch.fd)) {
		errno = EAGAIN;
		return -1;
	}
	e = c->head;
	c->head = e->next;
	if (c->head == NULL) {
		c->tail = NULL;
	}
	*event = &e->ev;
	return 0;
}

int rdma_ack_cm_event(struct rdma_cm_event *event)
{
	free(event); /* the first member of struct fv_event */
	return 0;
}

const char *rdma_event_str(enum rdma_cm_event_type event)
{
	static const char *const names[] = {
		[RDMA_CM_EVENT_ADDR_RESOLVED] = "RDMA_CM_EVENT_ADDR_RESOLVED",
		[RDMA_CM_EVENT_ADDR_ERROR] = "RDMA_CM_EVENT_ADDR_ERROR",
		[RDMA_CM_EVENT_ROUTE_RESOLVED] = "RDMA_CM_EVENT_ROUTE_RESOLVED",
		[RDMA_CM_EVENT_ROUTE_ERROR] = "RDMA_CM_EVENT_ROUTE_ERROR",
		[RDMA_CM_EVENT_CONNECT_REQUEST] = "RDMA_CM_EVENT_CONNECT_REQUEST",
		[RDMA_CM_EVENT_CONNECT_RESPONSE] = "RDMA_CM_EVENT_CONNECT_RESPONSE",
		[RDMA_CM_EVENT_CONNECT_ERROR] = "RDMA_CM_EVENT_CONNECT_ERROR",
		[RDMA_CM_EVENT_UNREACHABLE] = "RDMA_CM_EVENT_UNREACHABLE",
		[RDMA_CM_EVENT_REJECTED] = "RDMA_CM_EVENT_REJECTED",
		[RDMA_CM_EVENT_ESTABLISHED] = "RDMA_CM_EVENT_ESTABLISHED",
		[RDMA_CM_EVENT_DISCONNECTED] = "RDMA_CM_EVENT_DISCONNECTED",
		[RDMA_CM_EVENT_DEVICE_REMOVAL] = "RDMA_CM_EVENT_DEVICE_REMOVAL",
		[RDMA_CM_EVENT_TIMEWAIT_EXIT] = "RDMA_CM_EVENT_TIMEWAIT_EXIT",
	};

	if ((unsigned int)event < sizeof(names) / sizeof(names[0]) &&
	    names[event] != NULL) {
		return names[event];
	}
	return "RDMA_CM_EVENT_UNKNOWN";
}

/* --- rdma_cm: ids ----------------------------------------------------------- */

static struct ibv_context *cached_context(void);

static struct fv_id *id_new(struct rdma_event_channel *channel, void *context,
			    bool scripted)
{
	struct fv_id *i = calloc(1, sizeof(*i));

	if (i == NULL) {
		return NULL;
	}
	i->id.channel = channel;
	i->id.context = context;
	i->id.ps = RDMA_PS_TCP;
	i->id.port_num = 1;
	i->scripted = scripted;
	i->next_all = fab.ids;
	fab.ids = i;
	live_add(FV_ID, scripted, 1);
	return i;
}

int rdma_create_id(struct rdma_event_channel *channel, struct rdma_cm_id **id,
		   void *context, enum rdma_port_space ps)
{
	struct fv_id *i = id_new(channel, context, false);

	if (i == NULL) {
		errno = ENOMEM;
		return -1;
	}
	i->id.ps = ps;
	*id = &i->id;
	return 0;
}

static void disconnect_one(struct fv_id *i)
{
	if (i->disconnected) {
		return;
	}
	i->disconnected = true;
	queue_event(i, RDMA_CM_EVENT_DISCONNECTED, 0, i, NULL);
}

static struct fv_qp *qp_by_num(uint32_t num);

/* The connection between id and its peer ends: both hear of it, and
 * their QPs no longer reach each other. */
static void disconnect_pair(struct fv_id *i)
{
	struct fv_qp *q = qp_by_num(i->qp_num);

	if (q != NULL && q->remote != NULL) {
		q->remote->remote = NULL;
		q->remote = NULL;
	}
	if (i->peer != NULL) {
		disconnect_one(i->peer);
	}
	disconnect_one(i);
}

int rdma_destroy_id(struct rdma_cm_id *id)
{
	struct fv_id *i = (struct fv_id *)id;
	struct fv_id **pp;

	if (i->peer != NULL && i->qp_num != 0) {
		/* Destroying a connected id sends the peer a disconnect. */
		disconnect_one(i->peer);
	}
	if (i->peer != NULL) {
		i->peer->peer = NULL;
	}
	if (i->script != NULL && i->script->lib_id == i) {
		i->script->lib_id = NULL;
	}
	for (pp = &fab.ids; *pp != NULL; pp = &(*pp)->next_all) {
		if (*pp == i) {
			*pp = i->next_all;
			break;
		}
	}
	live_add(FV_ID, i->scripted, -1);
	free(i);
	return 0;
}

int rdma_bind_addr(struct rdma_cm_id *id, struct sockaddr *addr)
{
	struct fv_id *i = (struct fv_id *)id;
	uint16_t port = addr_port(addr);
	struct fv_id *o;

	for (o = fab.ids; port != 0 && o != NULL; o = o->next_all) {
		if (o != i && o->listening &&
		    addr_port(&o->id.route.addr.src_addr) == port) {
			errno = EADDRINUSE;
			return -1;
		}
	}
	memcpy(&id->route.addr.src_storage, addr, addr_len(addr));
	if (port == 0) {
		addr_set_port(&id->route.addr.src_addr, fab.next_port++);
	}
	id->verbs = cached_context();
	return 0;
}

int rdma_listen(struct rdma_cm_id *id, int backlog)
{
	(void)backlog;
	((struct fv_id *)id)->listening = true;
	return 0;
}

int rdma_resolve_addr(struct rdma_cm_id *id, struct sockaddr *src_addr,
		      struct sockaddr *dst_addr, int timeout_ms)
{
	struct fv_id *i = (struct fv_id *)id;

	(void)timeout_ms;
	if (src_addr != NULL) {
		memcpy(&id->route.addr.src_storage, src_addr,
		       addr_len(src_addr));
	} else {
		memcpy(&id->route.addr.src_storage, dst_addr,
		       addr_len(dst_addr));
	}
	addr_set_port(&id->route.addr.src_addr, fab.next_port++);
	memcpy(&id->route.addr.dst_storage, dst_addr, addr_len(dst_addr));
	id->verbs = cached_context();
	queue_event(i, RDMA_CM_EVENT_ADDR_RESOLVED, 0, i, NULL);
	return 0;
}

int rdma_resolve_route(struct rdma_cm_id *id, int timeout_ms)
{
	(void)timeout_ms;
	queue_event((struct fv_id *)id, RDMA_CM_EVENT_ROUTE_RESOLVED, 0,
		    (struct fv_id *)id, NULL);
	return 0;
}

static void link_qps(uint32_t a, uint32_t b)
{
	struct fv_qp *qa = qp_by_num(a);
	struct fv_qp *qb = qp_by_num(b);

	if (qa != NULL && qb != NULL) {
		qa->remote = qb;
		qb->remote = qa;
	}
}

static struct fv_peer *peer_new(struct fv_id *lib_id);

int rdma_connect(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct fv_id *i = (struct fv_id *)id;
	uint16_t port = addr_port(&id->route.addr.dst_addr);
	struct fv_script *s;
	struct fv_id *l;

	i->qp_num = conn_param->qp_num;
	for (s = fab.scripts; s != NULL; s = s->next) {
		if (s->port == port) {
			struct rdma_conn_param p = *conn_param;
			struct fv_peer *peer = peer_new(i);

			if (peer == NULL) {
				errno = ENOMEM;
				return -1;
			}
			p.responder_resources = s->responder_resources;
			p.initiator_depth = s->initiator_depth;
			/* What rdma_cm agrees on for this side's QP. */
			i->rd_atomic = conn_param->initiator_depth <
						       s->responder_resources
					       ? conn_param->initiator_depth
					       : s->responder_resources;
			i->dest_rd_atomic = conn_param->responder_resources <
							    s->initiator_depth
						    ? conn_param->responder_resources
						    : s->initiator_depth;
			queue_event(i, RDMA_CM_EVENT_CONNECT_RESPONSE, 0, i, &p);
			return 0;
		}
	}
	for (l = fab.ids; l != NULL; l = l->next_all) {
		if (l->listening &&
		    addr_port(&l->id.route.addr.src_addr) == port) {
			struct fv_id *c = id_new(l->id.channel, NULL, false);
			struct rdma_conn_param p = *conn_param;

			if (c == NULL) {
				errno = ENOMEM;
				return -1;
			}
			c->id.verbs = cached_context();
			memcpy(&c->id.route.addr.src_storage,
			       &id->route.addr.dst_storage,
			       sizeof(c->id.route.addr.src_storage));
			memcpy(&c->id.route.addr.dst_storage,
			       &id->route.addr.src_storage,
			       sizeof(c->id.route.addr.dst_storage));
			c->peer = i;
			i->peer = c;
			c->remote_qp_num = conn_param->qp_num;
			/* Seen from the listener (the kernel swaps them). */
			p.responder_resources = conn_param->initiator_depth;
			p.initiator_depth = conn_param->responder_resources;
			queue_event(l, RDMA_CM_EVENT_CONNECT_REQUEST, 0, c, &p);
			return 0;
		}
	}
	/* Nobody listens: a reject, as rdma_cm reports a CM REJ. */
	queue_event(i, RDMA_CM_EVENT_REJECTED, 8, i, NULL);
	return 0;
}

int rdma_accept(struct rdma_cm_id *id, struct rdma_conn_param *conn_param)
{
	struct fv_id *c = (struct fv_id *)id;
	struct rdma_conn_param p = *conn_param;

	if (c->peer == NULL && c->aborted) {
		/* The client went away before our answer: rdma_cm reports
		 * the connection error later, as the REP times out. */
		c->qp_num = conn_param->qp_num;
		queue_event(c, RDMA_CM_EVENT_CONNECT_ERROR, -ETIMEDOUT, c, NULL);
		return 0;
	}
	if (c->peer == NULL) {
		errno = ENOTCONN;
		return -1;
	}
	c->qp_num = conn_param->qp_num;
	link_qps(c->qp_num, c->remote_qp_num);
	if (c->script != NULL) {
		c->script->accepted = true;
	}
	queue_event(c->peer, RDMA_CM_EVENT_CONNECT_RESPONSE, 0, c->peer, &p);
	return 0;
}

int rdma_establish(struct rdma_cm_id *id)
{
	struct fv_id *i = (struct fv_id *)id;

	if (i->peer != NULL) {
		queue_event(i->peer, RDMA_CM_EVENT_ESTABLISHED, 0, i->peer,
			    NULL);
	}
	return 0;
}

int rdma_reject(struct rdma_cm_id *id, const void *private_data,
		uint8_t private_data_len)
{
	struct fv_id *c = (struct fv_id *)id;

	(void)private_data;
	(void)private_data_len;
	if (c->script != NULL && !c->script->accepted) {
		c->script->rejected = true;
	}
	if (c->peer != NULL) {
		queue_event(c->peer, RDMA_CM_EVENT_REJECTED, 28, c->peer, NULL);
		c->peer->peer = NULL;
		c->peer = NULL;
	}
	return 0;
}

int rdma_disconnect(struct rdma_cm_id *id)
{
	disconnect_pair((struct fv_id *)id);
	return 0;
}

int rdma_migrate_id(struct rdma_cm_id *id, struct rdma_event_channel *channel)
{
	id->channel = channel;
	return 0;
}

int rdma_init_qp_attr(struct rdma_cm_id *id, struct ibv_qp_attr *qp_attr,
		      int *qp_attr_mask)
{
	switch (qp_attr->qp_state) {
	case IBV_QPS_INIT:
		qp_attr->port_num = 1;
		*qp_attr_mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				IBV_QP_PORT | IBV_QP_ACCESS_FLAGS;
		return 0;
	case IBV_QPS_RTR:
		qp_attr->max_dest_rd_atomic =
			((struct fv_id *)id)->dest_rd_atomic > 0
				? ((struct fv_id *)id)->dest_rd_atomic
				: 128;
		*qp_attr_mask = IBV_QP_STATE | IBV_QP_MAX_DEST_RD_ATOMIC;
		return 0;
	case IBV_QPS_RTS:
		qp_attr->max_rd_atomic = ((struct fv_id *)id)->rd_atomic > 0
						 ? ((struct fv_id *)id)->rd_atomic
						 : 128;
		qp_attr->retry_cnt = 6;
		qp_attr->rnr_retry = 0;
		*qp_attr_mask = IBV_QP_STATE | IBV_QP_MAX_QP_RD_ATOMIC;
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
}

/* --- verbs: device, context, PD ---------------------------------------------- */

static int op_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc);
static int op_req_notify_cq(struct ibv_cq *cq, int solicited_only);
static int op_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			struct ibv_send_wr **bad);
static int op_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			struct ibv_recv_wr **bad);
static struct ibv_mw *op_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type);
static int op_dealloc_mw(struct ibv_mw *mw);

static struct ibv_context *context_new(bool scripted)
{
	struct ibv_context *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		return NULL;
	}
	if (fab.device.name[0] == '\0') {
		strcpy(fab.device.name, "fakerdma0");
		fab.device.node_type = IBV_NODE_CA;
		fab.device.transport_type = IBV_TRANSPORT_IB;
	}
	ctx->device = &fab.device;
	ctx->cmd_fd = -1;
	ctx->async_fd = -1;
	ctx->num_comp_vectors = 1;
	ctx->ops.poll_cq = op_poll_cq;
	ctx->ops.req_notify_cq = op_req_notify_cq;
	ctx->ops.post_send = op_post_send;
	ctx->ops.post_recv = op_post_recv;
	ctx->ops.alloc_mw = op_alloc_mw;
	ctx->ops.dealloc_mw = op_dealloc_mw;
	live_add(FV_CONTEXT, scripted, 1);
	return ctx;
}

/* librdmacm opens one context per device and keeps it: so do we (it is
 * not counted as the library's). */
static struct ibv_context *cached_context(void)
{
	if (fab.cached == NULL) {
		fab.cached = context_new(true);
	}
	return fab.cached;
}

const char *ibv_get_device_name(struct ibv_device *device)
{
	return device->name;
}

struct ibv_context *ibv_open_device(struct ibv_device *device)
{
	(void)device;
	return context_new(false);
}

int ibv_close_device(struct ibv_context *context)
{
	live_add(FV_CONTEXT, false, -1);
	free(context);
	return 0;
}

int ibv_query_device(struct ibv_context *context,
		     struct ibv_device_attr *device_attr)
{
	(void)context;
	memset(device_attr, 0, sizeof(*device_attr));
	/* As rxe reports itself. */
	device_attr->vendor_id = fab.not_rxe ? 0x02c9 : 0xffffff;
	device_attr->max_qp_wr = 16384;
	device_attr->max_sge = 32;
	device_attr->max_cqe = 65536;
	device_attr->max_mr = 1 << 20;
	device_attr->max_pd = 1 << 16;
	device_attr->max_qp_rd_atom = 128;
	device_attr->max_qp_init_rd_atom = 128;
	device_attr->max_mw = fab.no_mw ? 0 : 524287;
	if (!fab.no_mw) {
		device_attr->device_cap_flags |= IBV_DEVICE_MEM_WINDOW_TYPE_2B;
	}
	return 0;
}

/* The compatibility entry the ibv_query_port() macro calls for a context
 * without extended ops: not offered, so the library keeps its default. */
int(ibv_query_port)(struct ibv_context *context, uint8_t port_num,
		    struct _compat_ibv_port_attr *port_attr)
{
	(void)context;
	(void)port_num;
	(void)port_attr;
	return ENOSYS;
}

static struct ibv_pd *pd_new(struct ibv_context *ctx, bool scripted)
{
	struct fv_pd *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		return NULL;
	}
	p->pd.context = ctx;
	p->scripted = scripted;
	p->next_all = fab.pds;
	fab.pds = p;
	live_add(FV_PD, scripted, 1);
	return &p->pd;
}

struct ibv_pd *ibv_alloc_pd(struct ibv_context *context)
{
	return pd_new(context, false);
}

int ibv_dealloc_pd(struct ibv_pd *pd)
{
	struct fv_pd *p = (struct fv_pd *)pd;

	struct fv_pd **pp;

	if (p->mrs != NULL || p->mws != NULL) {
		return EBUSY;
	}
	for (pp = &fab.pds; *pp != NULL; pp = &(*pp)->next_all) {
		if (*pp == p) {
			*pp = p->next_all;
			break;
		}
	}
	live_add(FV_PD, p->scripted, -1);
	free(p);
	return 0;
}

/* --- memory: MRs and windows ------------------------------------------------- */

static struct ibv_mr *mr_new(struct ibv_pd *pd, void *addr, size_t length,
			     unsigned int access, bool scripted)
{
	struct fv_pd *p = (struct fv_pd *)pd;
	struct fv_mr *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	m->mr.context = pd->context;
	m->mr.pd = pd;
	m->mr.addr = addr;
	m->mr.length = length;
	m->mr.lkey = new_key();
	m->mr.rkey = m->mr.lkey;
	m->access = access;
	m->scripted = scripted;
	m->next = p->mrs;
	p->mrs = m;
	live_add(FV_MR, scripted, 1);
	return &m->mr;
}

struct ibv_mr *(ibv_reg_mr)(struct ibv_pd *pd, void *addr, size_t length,
			    int access)
{
	return mr_new(pd, addr, length, (unsigned int)access, false);
}

struct ibv_mr *ibv_reg_mr_iova2(struct ibv_pd *pd, void *addr, size_t length,
				uint64_t iova, unsigned int access)
{
	(void)iova;
	return mr_new(pd, addr, length, access, false);
}

int ibv_dereg_mr(struct ibv_mr *mr)
{
	struct fv_pd *p = (struct fv_pd *)mr->pd;
	struct fv_mr **pp;
	struct fv_mw *w;

	for (w = p->mws; w != NULL; w = w->next) {
		if (w->bound && w->mr != NULL && &w->mr->mr == mr) {
			/* A window still bound to it: the verbs refuse (a
			 * window over the same memory bound to another
			 * registration does not count). */
			return EBUSY;
		}
	}
	for (pp = &p->mrs; *pp != NULL; pp = &(*pp)->next) {
		if (&(*pp)->mr == mr) {
			struct fv_mr *m = *pp;

			*pp = m->next;
			live_add(FV_MR, m->scripted, -1);
			free(m);
			return 0;
		}
	}
	return EINVAL;
}

static struct ibv_mw *op_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct fv_pd *p = (struct fv_pd *)pd;
	struct fv_mw *w;

	if (fab.no_mw || type != IBV_MW_TYPE_2) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->mw.context = pd->context;
	w->mw.pd = pd;
	w->mw.rkey = new_key();
	w->mw.type = type;
	w->next = p->mws;
	p->mws = w;
	live_add(FV_MW, false, 1);
	return &w->mw;
}

static int op_dealloc_mw(struct ibv_mw *mw)
{
	struct fv_pd *p = (struct fv_pd *)mw->pd;
	struct fv_mw **pp;

	for (pp = &p->mws; *pp != NULL; pp = &(*pp)->next) {
		if (&(*pp)->mw == mw) {
			struct fv_mw *w = *pp;

			*pp = w->next;
			live_add(FV_MW, false, -1);
			free(w);
			return 0;
		}
	}
	return EINVAL;
}

static struct fv_mr *mr_by_lkey(struct fv_pd *p, uint32_t lkey)
{
	struct fv_mr *m;

	for (m = p->mrs; m != NULL; m = m->next) {
		if (m->mr.lkey == lkey) {
			return m;
		}
	}
	return NULL;
}

/* Resolve (rkey, addr, length) at a remote PD for `access`: the memory,
 * or NULL. */
static uint8_t *remote_range(struct fv_pd *p, uint32_t rkey, uint64_t addr,
			     uint64_t length, unsigned int access)
{
	struct fv_mw *w;
	struct fv_mr *m;

	for (w = p->mws; w != NULL; w = w->next) {
		if (w->bound && w->mw.rkey == rkey) {
			uint64_t lo = w->addr;
			uint64_t len = w->length;

			if (fab.mw_unbounded) {
				/* As rxe (6.1) checks: against the range of
				 * the registration the window is bound to. */
				lo = (uint64_t)(uintptr_t)w->mr->mr.addr;
				len = w->mr->mr.length;
			}
			if ((w->access & access) != access || addr < lo ||
			    length > len || addr - lo > len - length) {
				return NULL;
			}
			return (uint8_t *)(uintptr_t)addr;
		}
	}
	for (m = p->mrs; m != NULL; m = m->next) {
		uint64_t base = (uint64_t)(uintptr_t)m->mr.addr;

		if (m->mr.rkey == rkey && !m->invalidated) {
			if ((m->access & access) != access || addr < base ||
			    length > m->mr.length ||
			    addr - base > m->mr.length - length) {
				return NULL;
			}
			return (uint8_t *)(uintptr_t)addr;
		}
	}
	return NULL;
}

/* Local scatter/gather entries must lie in an MR of the QP's PD. */
static bool local_sge_ok(struct fv_pd *p, const struct ibv_sge *sge,
			 bool write)
{
	struct fv_mr *m = mr_by_lkey(p, sge->lkey);
	uint64_t base;

	if (m == NULL) {
		return false;
	}
	base = (uint64_t)(uintptr_t)m->mr.addr;
	if (write && (m->access & IBV_ACCESS_LOCAL_WRITE) == 0) {
		return false;
	}
	return sge->addr >= base && sge->length <= m->mr.length &&
	       sge->addr - base <= m->mr.length - sge->length;
}

/* --- CQs and completion channels ----------------------------------------------- */

static struct ibv_comp_channel *comp_new(struct ibv_context *ctx,
					 bool scripted)
{
	struct fv_comp *c = calloc(1, sizeof(*c));
	int fds[2];

	if (c == NULL || pipe_nonblock(fds) != 0) {
		free(c);
		errno = ENOMEM;
		return NULL;
	}
	c->ch.context = ctx;
	c->ch.fd = fds[0];
	c->write_fd = fds[1];
	live_add(FV_COMP, scripted, 1);
	return &c->ch;
}

struct ibv_comp_channel *ibv_create_comp_channel(struct ibv_context *context)
{
	return comp_new(context, false);
}

int ibv_destroy_comp_channel(struct ibv_comp_channel *channel)
{
	struct fv_comp *c = (struct fv_comp *)channel;

	close(c->ch.fd);
	close(c->write_fd);
	live_add(FV_COMP, false, -1);
	free(c);
	return 0;
}

static struct ibv_cq *cq_new(struct ibv_context *ctx, int cqe, void *cq_context,
			     struct ibv_comp_channel *channel, bool scripted)
{
	struct fv_cq *q = calloc(1, sizeof(*q));

	if (q == NULL || cqe <= 0) {
		free(q);
		errno = EINVAL;
		return NULL;
	}
	q->ring = calloc((size_t)cqe, sizeof(*q->ring));
	if (q->ring == NULL) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	q->capacity = (unsigned int)cqe;
	q->cq.context = ctx;
	q->cq.channel = channel;
	q->cq.cq_context = cq_context;
	q->cq.cqe = cqe;
	q->scripted = scripted;
	live_add(FV_CQ, scripted, 1);
	return &q->cq;
}

struct ibv_cq *ibv_create_cq(struct ibv_context *context, int cqe,
			     void *cq_context,
			     struct ibv_comp_channel *channel, int comp_vector)
{
	(void)comp_vector;
	return cq_new(context, cqe, cq_context, channel, false);
}

int ibv_destroy_cq(struct ibv_cq *cq)
{
	struct fv_cq *q = (struct fv_cq *)cq;
	struct fv_comp *c = (struct fv_comp *)cq->channel;
	unsigned int i;

	if (c != NULL) {
		/* Events of this CQ still queued in its channel go. */
		for (i = 0; i < c->fired_count; i++) {
			unsigned int k = (c->fired_first + i) % 64;

			if (c->fired[k] == cq) {
				c->fired[k] = NULL;
			}
		}
	}
	live_add(FV_CQ, q->scripted, -1);
	free(q->ring);
	free(q);
	return 0;
}

static void cq_push(struct ibv_cq *cq, const struct ibv_wc *wc)
{
	struct fv_cq *q = (struct fv_cq *)cq;
	struct fv_comp *c = (struct fv_comp *)cq->channel;

	if (q->count == q->capacity) {
		fab.stats.cq_overflows += 1;
		return;
	}
	q->ring[(q->first + q->count) % q->capacity] = *wc;
	q->count += 1;
	if (q->armed && c != NULL) {
		q->armed = false;
		if (c->fired_count < 64) {
			c->fired[(c->fired_first + c->fired_count) % 64] = cq;
			c->fired_count += 1;
			poke(c->write_fd);
		}
	}
}

static int op_poll_cq(struct ibv_cq *cq, int n, struct ibv_wc *wc)
{
	struct fv_cq *q = (struct fv_cq *)cq;
	int i;

	for (i = 0; i < n && q->count > 0; i++) {
		wc[i] = q->ring[q->first];
		q->first = (q->first + 1) % q->capacity;
		q->count -= 1;
	}
	return i;
}

static int op_req_notify_cq(struct ibv_cq *cq, int solicited_only)
{
	(void)solicited_only;
	((struct fv_cq *)cq)->armed = true;
	return 0;
}

int ibv_get_cq_event(struct ibv_comp_channel *channel, struct ibv_cq **cq,
		     void **cq_context)
{
	struct fv_comp *c = (struct fv_comp *)channel;

	for (;;) {
		struct ibv_cq *q;

		if (c->fired_count == 0 || !unpoke(c->ch.fd)) {
			errno = EAGAIN;
			return -1;
		}
		q = c->fired[c->fired_first];
		c->fired_first = (c->fired_first + 1) % 64;
		c->fired_count -= 1;
		if (q != NULL) {
			*cq = q;
			*cq_context = q->cq_context;
			return 0;
		}
	}
}

void ibv_ack_cq_events(struct ibv_cq *cq, unsigned int nevents)
{
	(void)cq;
	(void)nevents;
}

/* --- QPs ------------------------------------------------------------------------ */

static struct fv_qp *qp_by_num(uint32_t num)
{
	struct fv_qp *q;

	for (q = fab.qps; q != NULL; q = q->next_all) {
		if (q->qp.qp_num == num) {
			return q;
		}
	}
	return NULL;
}

static struct ibv_qp *qp_new(struct ibv_pd *pd, struct ibv_qp_init_attr *attr,
			     bool scripted)
{
	struct fv_qp *q = calloc(1, sizeof(*q));

	if (q == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	if (attr->qp_type != IBV_QPT_RC || attr->cap.max_recv_sge > 4 ||
	    attr->cap.max_send_sge > 32 || attr->cap.max_inline_data > 512) {
		free(q);
		errno = EINVAL;
		return NULL;
	}
	q->rq_capacity = attr->cap.max_recv_wr > 0 ? attr->cap.max_recv_wr : 1;
	q->rq = calloc(q->rq_capacity, sizeof(*q->rq));
	if (q->rq == NULL) {
		free(q);
		errno = ENOMEM;
		return NULL;
	}
	q->qp.context = pd->context;
	q->qp.pd = pd;
	q->qp.send_cq = attr->send_cq;
	q->qp.recv_cq = attr->recv_cq;
	q->qp.qp_num = fab.next_qp_num++;
	q->qp.state = IBV_QPS_RESET;
	q->qp.qp_type = IBV_QPT_RC;
	q->max_send_sge = attr->cap.max_send_sge;
	q->max_inline = attr->cap.max_inline_data;
	q->scripted = scripted;
	q->next_all = fab.qps;
	fab.qps = q;
	live_add(FV_QP, scripted, 1);
	return &q->qp;
}

struct ibv_qp *ibv_create_qp(struct ibv_pd *pd,
			     struct ibv_qp_init_attr *qp_init_attr)
{
	return qp_new(pd, qp_init_attr, false);
}

/* Receives still posted on a QP in error complete as flushed. */
static void flush_rq(struct fv_qp *q)
{
	struct ibv_wc wc;

	while (q->rq_count > 0) {
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = q->rq[q->rq_first].wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.opcode = IBV_WC_RECV;
		wc.qp_num = q->qp.qp_num;
		q->rq_first = (q->rq_first + 1) % q->rq_capacity;
		q->rq_count -= 1;
		cq_push(q->qp.recv_cq, &wc);
	}
}

static void held_free(struct fv_held *h)
{
	free(h->bytes);
	free(h);
}

/* Held send work requests of a QP in error complete as flushed. */
static void flush_held(struct fv_qp *q)
{
	while (q->held_head != NULL) {
		struct fv_held *h = q->held_head;
		struct ibv_wc wc;

		q->held_head = h->next;
		if (q->held_head == NULL) {
			q->held_tail = NULL;
		}
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = h->wr.wr_id;
		wc.status = IBV_WC_WR_FLUSH_ERR;
		wc.qp_num = q->qp.qp_num;
		cq_push(q->qp.send_cq, &wc);
		held_free(h);
	}
}

/* The QP fails: whatever it still holds completes as flushed. */
static void qp_error(struct fv_qp *q)
{
	q->qp.state = IBV_QPS_ERR;
	flush_rq(q);
	flush_held(q);
}

int ibv_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask)
{
	if ((attr_mask & IBV_QP_STATE) != 0) {
		if (attr->qp_state == IBV_QPS_ERR) {
			qp_error((struct fv_qp *)qp);
		} else {
			qp->state = attr->qp_state;
		}
	}
	return 0;
}

int ibv_destroy_qp(struct ibv_qp *qp)
{
	struct fv_qp *q = (struct fv_qp *)qp;
	struct fv_qp **pp;

	if (q->remote != NULL) {
		q->remote->remote = NULL;
	}
	for (pp = &fab.qps; *pp != NULL; pp = &(*pp)->next_all) {
		if (*pp == q) {
			*pp = q->next_all;
			break;
		}
	}
	live_add(FV_QP, q->scripted, -1);
	while (q->held_head != NULL) {
		struct fv_held *h = q->held_head;

		q->held_head = h->next;
		held_free(h);
	}
	free(q->rq);
	free(q);
	return 0;
}

static int op_post_recv(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			struct ibv_recv_wr **bad)
{
	struct fv_qp *q = (struct fv_qp *)qp;

	for (; wr != NULL; wr = wr->next) {
		struct fv_recv *r;

		if (qp->state == IBV_QPS_RESET || wr->num_sge > 4 ||
		    q->rq_count == q->rq_capacity) {
			*bad = wr;
			return qp->state == IBV_QPS_RESET ? EINVAL : ENOMEM;
		}
		r = &q->rq[(q->rq_first + q->rq_count) % q->rq_capacity];
		r->wr_id = wr->wr_id;
		r->num_sge = wr->num_sge;
		memcpy(r->sge, wr->sg_list, sizeof(*wr->sg_list) * (size_t)wr->num_sge);
		q->rq_count += 1;
		if (qp->state == IBV_QPS_ERR) {
			flush_rq(q); /* flushed at once */
		}
	}
	return 0;
}

/* --- executing work requests ------------------------------------------------- */

static void peer_record(struct fv_peer *p, const uint8_t *data, size_t len,
			bool invalidate, uint32_t rkey);

/* Invalidate `rkey` at the receiving QP's PD: true if it named a bound
 * window (or a scripted exposure). */
static bool invalidate_at(struct fv_qp *to, uint32_t rkey)
{
	struct fv_pd *p = (struct fv_pd *)to->qp.pd;
	struct fv_mw *w;
	struct fv_mr *m;

	for (w = p->mws; w != NULL; w = w->next) {
		if (w->bound && w->mw.rkey == rkey) {
			w->bound = false;
			return true;
		}
	}
	for (m = p->mrs; m != NULL; m = m->next) {
		if (m->scripted && m->mr.rkey == rkey) {
			m->invalidated = true;
			return true;
		}
	}
	return false;
}

/* Deliver a SEND: the sender's completion status. */
static enum ibv_wc_status deliver(struct fv_qp *to, const uint8_t *data,
				  size_t len, bool invalidate, uint32_t rkey)
{
	struct ibv_wc wc;
	struct fv_recv r;
	size_t room = 0;
	size_t off = 0;
	int i;

	fab.stats.sends += 1;
	if (to == NULL || to->qp.state == IBV_QPS_ERR ||
	    to->qp.state == IBV_QPS_RESET) {
		return IBV_WC_RETRY_EXC_ERR;
	}
	if (to->script != NULL) {
		if (to->script->rnr) {
			/* The peer posted no receive: RNR retry 0. */
			fab.stats.rnr_errors += 1;
			return IBV_WC_RNR_RETRY_EXC_ERR;
		}
		if (invalidate) {
			invalidate_at(to, rkey);
		}
		peer_record(to->script, data, len, invalidate, rkey);
		return IBV_WC_SUCCESS;
	}
	if (to->rq_count == 0) {
		fab.stats.rnr_errors += 1;
		return IBV_WC_RNR_RETRY_EXC_ERR;
	}
	r = to->rq[to->rq_first];
	to->rq_first = (to->rq_first + 1) % to->rq_capacity;
	to->rq_count -= 1;
	memset(&wc, 0, sizeof(wc));
	wc.wr_id = r.wr_id;
	wc.opcode = IBV_WC_RECV;
	wc.qp_num = to->qp.qp_num;
	for (i = 0; i < r.num_sge; i++) {
		room += r.sge[i].length;
	}
	if (room < len) {
		wc.status = IBV_WC_LOC_LEN_ERR;
		cq_push(to->qp.recv_cq, &wc);
		qp_error(to);
		return IBV_WC_REM_INV_REQ_ERR;
	}
	if (invalidate && !invalidate_at(to, rkey)) {
		fab.stats.access_errors += 1;
		wc.status = IBV_WC_REM_INV_REQ_ERR;
		cq_push(to->qp.recv_cq, &wc);
		qp_error(to);
		return IBV_WC_REM_INV_REQ_ERR;
	}
	for (i = 0; i < r.num_sge && off < len; i++) {
		size_t n = r.sge[i].length < len - off ? r.sge[i].length
						       : len - off;

		memcpy((void *)(uintptr_t)r.sge[i].addr, data + off, n);
		off += n;
	}
	wc.status = IBV_WC_SUCCESS;
	wc.byte_len = (uint32_t)len;
	if (invalidate) {
		wc.wc_flags = IBV_WC_WITH_INV;
		wc.invalidated_rkey = rkey;
	}
	cq_push(to->qp.recv_cq, &wc);
	return IBV_WC_SUCCESS;
}

/* One send-queue work request; returns its completion status. */
static enum ibv_wc_status execute(struct fv_qp *q, const struct ibv_send_wr *wr,
				  uint32_t *byte_len)
{
	struct fv_pd *pd = (struct fv_pd *)q->qp.pd;
	struct fv_pd *rpd;
	size_t len = 0;
	uint8_t *buf;
	uint8_t *remote;
	enum ibv_wc_status st;
	int i;

	for (i = 0; i < wr->num_sge; i++) {
		len += wr->sg_list[i].length;
	}
	*byte_len = (uint32_t)len;
	switch (wr->opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_INV:
		if ((wr->send_flags & IBV_SEND_INLINE) != 0 && len > q->max_inline) {
			return IBV_WC_LOC_LEN_ERR;
		}
		buf = malloc(len > 0 ? len : 1);
		if (buf == NULL) {
			abort();
		}
		len = 0;
		for (i = 0; i < wr->num_sge; i++) {
			if ((wr->send_flags & IBV_SEND_INLINE) == 0 &&
			    !local_sge_ok(pd, &wr->sg_list[i], false)) {
				free(buf);
				return IBV_WC_LOC_PROT_ERR;
			}
			memcpy(buf + len, (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			len += wr->sg_list[i].length;
		}
		st = deliver(q->remote, buf, len,
			     wr->opcode == IBV_WR_SEND_WITH_INV,
			     wr->invalidate_rkey);
		free(buf);
		return st;
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_READ:
		if (q->remote == NULL || q->remote->qp.state == IBV_QPS_ERR) {
			return IBV_WC_RETRY_EXC_ERR;
		}
		rpd = (struct fv_pd *)q->remote->qp.pd;
		remote = remote_range(rpd, wr->wr.rdma.rkey,
				      wr->wr.rdma.remote_addr, len,
				      wr->opcode == IBV_WR_RDMA_WRITE
					      ? IBV_ACCESS_REMOTE_WRITE
					      : IBV_ACCESS_REMOTE_READ);
		if (remote == NULL) {
			fab.stats.access_errors += 1;
			return IBV_WC_REM_ACCESS_ERR;
		}
		for (i = 0; i < wr->num_sge; i++) {
			if (!local_sge_ok(pd, &wr->sg_list[i],
					  wr->opcode == IBV_WR_RDMA_READ)) {
				return IBV_WC_LOC_PROT_ERR;
			}
		}
		for (i = 0; i < wr->num_sge; i++) {
			void *local = (void *)(uintptr_t)wr->sg_list[i].addr;

			if (wr->opcode == IBV_WR_RDMA_WRITE) {
				memcpy(remote, local, wr->sg_list[i].length);
			} else {
				memcpy(local, remote, wr->sg_list[i].length);
			}
			remote += wr->sg_list[i].length;
		}
		if (wr->opcode == IBV_WR_RDMA_WRITE) {
			fab.stats.rdma_writes += 1;
		} else {
			fab.stats.rdma_reads += 1;
		}
		return IBV_WC_SUCCESS;
	case IBV_WR_BIND_MW: {
		struct fv_mw *w = (struct fv_mw *)wr->bind_mw.mw;
		const struct ibv_mw_bind_info *b = &wr->bind_mw.bind_info;
		struct fv_mr *m = (struct fv_mr *)b->mr;
		uint64_t base = (uint64_t)(uintptr_t)m->mr.addr;

		if ((m->access & IBV_ACCESS_MW_BIND) == 0 || b->addr < base ||
		    b->length > m->mr.length ||
		    b->addr - base > m->mr.length - b->length || w->bound) {
			return IBV_WC_MW_BIND_ERR;
		}
		w->bound = true;
		w->mr = m;
		w->mw.rkey = wr->bind_mw.rkey;
		w->addr = b->addr;
		w->length = b->length;
		w->access = b->mw_access_flags;
		*byte_len = 0;
		return IBV_WC_SUCCESS;
	}
	default:
		return IBV_WC_LOC_QP_OP_ERR;
	}
}

static enum ibv_wc_opcode wc_opcode(enum ibv_wr_opcode op)
{
	switch (op) {
	case IBV_WR_RDMA_WRITE:
		return IBV_WC_RDMA_WRITE;
	case IBV_WR_RDMA_READ:
		return IBV_WC_RDMA_READ;
	case IBV_WR_BIND_MW:
		return IBV_WC_BIND_MW;
	default:
		return IBV_WC_SEND;
	}
}

/* Execute one send work request and complete it. */
static void run_send_wr(struct fv_qp *q, const struct ibv_send_wr *wr)
{
	struct ibv_wc wc;
	uint32_t byte_len = 0;

	memset(&wc, 0, sizeof(wc));
	wc.wr_id = wr->wr_id;
	wc.opcode = wc_opcode(wr->opcode);
	wc.qp_num = q->qp.qp_num;
	if (q->qp.state == IBV_QPS_ERR) {
		wc.status = IBV_WC_WR_FLUSH_ERR;
	} else {
		wc.status = execute(q, wr, &byte_len);
	}
	wc.byte_len = byte_len;
	if (wc.status != IBV_WC_SUCCESS ||
	    (wr->send_flags & IBV_SEND_SIGNALED) != 0) {
		cq_push(q->qp.send_cq, &wc);
	}
	if (wc.status != IBV_WC_SUCCESS) {
		qp_error(q);
	}
}

/* Whether this QP's work requests wait: its scripted peer stalls, or
 * earlier ones still wait (the send queue runs in order). */
static bool send_queue_stalled(const struct fv_qp *q)
{
	return q->held_head != NULL ||
	       (q->remote != NULL && q->remote->script != NULL &&
		q->remote->script->stalled);
}

/* Keep a copy of a work request for later (fv_peer_stall()). */
static void hold_send_wr(struct fv_qp *q, const struct ibv_send_wr *wr)
{
	struct fv_held *h = calloc(1, sizeof(*h));
	int i;

	if (h == NULL) {
		abort();
	}
	h->wr = *wr;
	h->wr.next = NULL;
	memcpy(h->sge, wr->sg_list, sizeof(*wr->sg_list) * (size_t)wr->num_sge);
	h->wr.sg_list = h->sge;
	if (wr->opcode == IBV_WR_SEND || wr->opcode == IBV_WR_SEND_WITH_INV) {
		/* A send's bytes as they are now: gathered into one entry. */
		for (i = 0; i < wr->num_sge; i++) {
			h->length += wr->sg_list[i].length;
		}
		h->bytes = malloc(h->length > 0 ? h->length : 1);
		if (h->bytes == NULL) {
			abort();
		}
		h->length = 0;
		for (i = 0; i < wr->num_sge; i++) {
			memcpy(h->bytes + h->length,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			h->length += wr->sg_list[i].length;
		}
	}
	if (q->held_tail != NULL) {
		q->held_tail->next = h;
	} else {
		q->held_head = h;
	}
	q->held_tail = h;
}

static int op_post_send(struct ibv_qp *qp, struct ibv_send_wr *wr,
			struct ibv_send_wr **bad)
{
	struct fv_qp *q = (struct fv_qp *)qp;

	for (; wr != NULL; wr = wr->next) {
		if (qp->state != IBV_QPS_RTS && qp->state != IBV_QPS_ERR) {
			*bad = wr;
			return EINVAL;
		}
		if ((uint32_t)wr->num_sge > q->max_send_sge) {
			*bad = wr;
			return EINVAL;
		}
		if (qp->state == IBV_QPS_RTS && send_queue_stalled(q)) {
			hold_send_wr(q, wr);
			continue;
		}
		run_send_wr(q, wr);
	}
	return 0;
}

const char *ibv_wc_status_str(enum ibv_wc_status status)
{
	switch (status) {
	case IBV_WC_SUCCESS:
		return "success";
	case IBV_WC_LOC_LEN_ERR:
		return "local length error";
	case IBV_WC_LOC_QP_OP_ERR:
		return "local QP operation error";
	case IBV_WC_LOC_PROT_ERR:
		return "local protection error";
	case IBV_WC_WR_FLUSH_ERR:
		return "Work Request Flushed Error";
	case IBV_WC_MW_BIND_ERR:
		return "memory management operation error";
	case IBV_WC_REM_INV_REQ_ERR:
		return "remote invalid request error";
	case IBV_WC_REM_ACCESS_ERR:
		return "remote access error";
	case IBV_WC_RETRY_EXC_ERR:
		return "transport retry counter exceeded";
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return "RNR retry counter exceeded";
	default:
		return "other error";
	}
}

/* --- scripted peers ---------------------------------------------------------- */

static struct fv_peer *peer_new(struct fv_id *lib_id)
{
	struct fv_peer *p = calloc(1, sizeof(*p));
	struct ibv_qp_init_attr attr;
	struct ibv_context *ctx = cached_context();
	struct ibv_cq *cq;
	struct fv_qp *lib_qp = qp_by_num(lib_id->qp_num);

	if (p == NULL) {
		return NULL;
	}
	p->pd = (struct fv_pd *)pd_new(ctx, true);
	cq = cq_new(ctx, 1, NULL, NULL, true);
	memset(&attr, 0, sizeof(attr));
	attr.qp_type = IBV_QPT_RC;
	attr.send_cq = cq;
	attr.recv_cq = cq;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_wr = 1;
	p->qp = (struct fv_qp *)qp_new(&p->pd->pd, &attr, true);
	p->qp->qp.state = IBV_QPS_RTS;
	p->qp->script = p;
	p->id = id_new(NULL, NULL, true);
	p->id->script = p;
	p->id->peer = lib_id;
	p->id->qp_num = p->qp->qp.qp_num;
	lib_id->peer = p->id;
	lib_id->script = p;
	p->lib_id = lib_id;
	if (lib_qp != NULL) {
		lib_qp->remote = p->qp;
		p->qp->remote = lib_qp;
	}
	{
		struct fv_peer **tail = &fab.peers;

		while (*tail != NULL) {
			tail = &(*tail)->next;
		}
		*tail = p;
	}
	return p;
}

static void peer_record(struct fv_peer *p, const uint8_t *data, size_t len,
			bool invalidate, uint32_t rkey)
{
	struct fv_msg *m;

	if (p->inbox_count == p->inbox_capacity) {
		size_t cap = p->inbox_capacity > 0 ? p->inbox_capacity * 2 : 64;
		struct fv_msg *n = realloc(p->inbox, cap * sizeof(*n));

		if (n == NULL) {
			abort();
		}
		p->inbox = n;
		p->inbox_capacity = cap;
	}
	m = &p->inbox[p->inbox_count++];
	m->data = malloc(len > 0 ? len : 1);
	if (m->data == NULL) {
		abort();
	}
	memcpy(m->data, data, len);
	m->length = len;
	m->opcode = invalidate ? IBV_WR_SEND_WITH_INV : IBV_WR_SEND;
	m->invalidate_rkey = invalidate ? rkey : 0;
}

void fv_script_listen(uint16_t port, uint8_t responder_resources,
		      uint8_t initiator_depth)
{
	struct fv_script *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		abort();
	}
	s->port = port;
	s->responder_resources = responder_resources;
	s->initiator_depth = initiator_depth;
	s->next = fab.scripts;
	fab.scripts = s;
}

struct fv_peer *fv_peer_next(void)
{
	struct fv_peer *p;

	for (p = fab.peers; p != NULL; p = p->next) {
		if (!p->taken) {
			p->taken = true;
			return p;
		}
	}
	return NULL;
}

size_t fv_peer_inbox_count(const struct fv_peer *peer)
{
	return peer->inbox_count;
}

const struct fv_msg *fv_peer_msg(const struct fv_peer *peer, size_t index)
{
	return index < peer->inbox_count ? &peer->inbox[index] : NULL;
}

enum ibv_wc_status fv_peer_send(struct fv_peer *peer, const void *data,
				size_t length, bool invalidate, uint32_t rkey)
{
	return deliver(peer->qp->remote, data, length, invalidate, rkey);
}

uint32_t fv_peer_lib_recvs_posted(const struct fv_peer *peer)
{
	return peer->qp->remote != NULL ? peer->qp->remote->rq_count : 0;
}

uint32_t fv_peer_expose(struct fv_peer *peer, void *addr, size_t length,
			bool remote_write)
{
	struct ibv_mr *mr = mr_new(&peer->pd->pd, addr, length,
				   remote_write ? IBV_ACCESS_REMOTE_WRITE |
							  IBV_ACCESS_LOCAL_WRITE
						: IBV_ACCESS_REMOTE_READ,
				   true);

	if (mr == NULL) {
		abort();
	}
	return mr->rkey;
}

bool fv_peer_invalidated(const struct fv_peer *peer, uint32_t rkey)
{
	struct fv_mr *m;

	for (m = peer->pd->mrs; m != NULL; m = m->next) {
		if (m->mr.rkey == rkey) {
			return m->invalidated;
		}
	}
	return false;
}

void fv_peer_disconnect(struct fv_peer *peer)
{
	if (peer->qp->remote != NULL) {
		peer->qp->remote->remote = NULL;
		peer->qp->remote = NULL;
	}
	if (peer->lib_id != NULL) {
		disconnect_one(peer->lib_id);
	}
	peer->id->disconnected = true;
}

bool fv_peer_disconnected(const struct fv_peer *peer)
{
	return peer->id->disconnected || peer->lib_id == NULL;
}

static struct fv_id *listener_at(uint16_t port)
{
	struct fv_id *l;

	for (l = fab.ids; l != NULL; l = l->next_all) {
		if (l->listening && addr_port(&l->id.route.addr.src_addr) == port) {
			return l;
		}
	}
	return NULL;
}

struct fv_peer *fv_script_connect(uint16_t port, const char *src_ip,
				  uint8_t responder_resources,
				  uint8_t initiator_depth)
{
	struct fv_id *l = listener_at(port);
	struct fv_id *c;
	struct fv_peer *p;
	struct rdma_conn_param param;
	struct sockaddr_in src;

	if (l == NULL) {
		return NULL;
	}
	c = id_new(l->id.channel, NULL, false);
	if (c == NULL) {
		abort();
	}
	c->id.verbs = cached_context();
	memcpy(&c->id.route.addr.src_storage, &l->id.route.addr.src_storage,
	       sizeof(c->id.route.addr.src_storage));
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_port = htons(fab.next_port++);
	if (inet_pton(AF_INET, src_ip != NULL ? src_ip : "10.9.0.1",
		      &src.sin_addr) != 1) {
		abort();
	}
	memcpy(&c->id.route.addr.dst_storage, &src, sizeof(src));
	p = peer_new(c);
	if (p == NULL) {
		abort();
	}
	p->taken = true;
	p->client = true;
	c->remote_qp_num = p->qp->qp.qp_num;
	memset(&param, 0, sizeof(param));
	/* Seen from the listener, as the kernel reports them. */
	param.responder_resources = initiator_depth;
	param.initiator_depth = responder_resources;
	param.qp_num = p->qp->qp.qp_num;
	queue_event(l, RDMA_CM_EVENT_CONNECT_REQUEST, 0, c, &param);
	return p;
}

bool fv_peer_accepted(const struct fv_peer *peer)
{
	return peer->accepted;
}

bool fv_peer_rejected(const struct fv_peer *peer)
{
	return peer->rejected;
}

void fv_peer_abort(struct fv_peer *peer)
{
	struct fv_id *c = peer->lib_id;

	if (c == NULL) {
		return;
	}
	if (!peer->accepted) {
		/* Gone before the library answered. */
		c->peer = NULL;
		c->aborted = true;
		peer->id->peer = NULL;
		peer->id->disconnected = true;
		return;
	}
	fv_peer_disconnect(peer);
}

void fv_peer_set_rnr(struct fv_peer *peer, bool on)
{
	peer->rnr = on;
}

/* Run the library's held work requests towards `peer`, in order. */
static void replay_held(struct fv_qp *q)
{
	while (q->held_head != NULL) {
		struct fv_held *h = q->held_head;
		struct ibv_wc wc;

		q->held_head = h->next;
		if (q->held_head == NULL) {
			q->held_tail = NULL;
		}
		if (h->bytes == NULL || q->qp.state == IBV_QPS_ERR) {
			run_send_wr(q, &h->wr);
			held_free(h);
			continue;
		}
		memset(&wc, 0, sizeof(wc));
		wc.wr_id = h->wr.wr_id;
		wc.opcode = IBV_WC_SEND;
		wc.qp_num = q->qp.qp_num;
		wc.byte_len = (uint32_t)h->length;
		wc.status = deliver(q->remote, h->bytes, h->length,
				    h->wr.opcode == IBV_WR_SEND_WITH_INV,
				    h->wr.invalidate_rkey);
		if (wc.status != IBV_WC_SUCCESS ||
		    (h->wr.send_flags & IBV_SEND_SIGNALED) != 0) {
			cq_push(q->qp.send_cq, &wc);
		}
		held_free(h);
		if (wc.status != IBV_WC_SUCCESS) {
			qp_error(q);
		}
	}
}

void fv_peer_stall(struct fv_peer *peer, bool on)
{
	struct fv_qp *lib = peer->qp->remote;

	peer->stalled = on;
	if (!on && lib != NULL) {
		replay_held(lib);
	}
}

size_t fv_peer_lib_held_reads(const struct fv_peer *peer)
{
	const struct fv_qp *lib = peer->qp->remote;
	const struct fv_held *h;
	size_t n = 0;

	for (h = lib != NULL ? lib->held_head : NULL; h != NULL; h = h->next) {
		n += h->wr.opcode == IBV_WR_RDMA_READ;
	}
	return n;
}

size_t fv_peer_lib_held(const struct fv_peer *peer)
{
	const struct fv_qp *lib = peer->qp->remote;
	const struct fv_held *h;
	size_t n = 0;

	for (h = lib != NULL ? lib->held_head : NULL; h != NULL; h = h->next) {
		n += 1;
	}
	return n;
}

void fv_peer_vanish(struct fv_peer *peer)
{
	if (peer->qp->remote != NULL) {
		/* Held work requests now go nowhere: they fail like any
		 * other (the transport's retries run out). */
		struct fv_qp *lib = peer->qp->remote;

		peer->stalled = false;
		lib->remote = NULL;
		peer->qp->remote = NULL;
		replay_held(lib);
	}
	peer->id->disconnected = true;
}

void fv_peer_qp_error(struct fv_peer *peer)
{
	if (peer->qp->remote != NULL) {
		qp_error(peer->qp->remote);
	}
}

enum ibv_wc_status fv_peer_rdma(struct fv_peer *peer, bool write,
				uint32_t rkey, uint64_t addr, void *buf,
				size_t length)
{
	struct fv_qp *lib = peer->qp->remote;
	uint8_t *mem;

	if (lib == NULL || lib->qp.state != IBV_QPS_RTS) {
		return IBV_WC_RETRY_EXC_ERR;
	}
	mem = remote_range((struct fv_pd *)lib->qp.pd, rkey, addr, length,
			   write ? IBV_ACCESS_REMOTE_WRITE
				 : IBV_ACCESS_REMOTE_READ);
	if (mem == NULL) {
		/* The responder (the library's QP) answers with a NAK and
		 * goes to error, as rxe does for an rkey violation. */
		fab.stats.access_errors += 1;
		qp_error(lib);
		return IBV_WC_REM_ACCESS_ERR;
	}
	if (write) {
		memcpy(mem, buf, length);
	} else {
		memcpy(buf, mem, length);
	}
	return IBV_WC_SUCCESS;
}

size_t fv_remote_regions(struct fv_region *out, size_t max)
{
	const struct fv_pd *p;
	size_t n = 0;

	for (p = fab.pds; p != NULL; p = p->next_all) {
		const struct fv_mr *m;
		const struct fv_mw *w;

		if (p->scripted) {
			continue;
		}
		for (m = p->mrs; m != NULL; m = m->next) {
			if ((m->access & (IBV_ACCESS_REMOTE_READ |
					  IBV_ACCESS_REMOTE_WRITE |
					  IBV_ACCESS_REMOTE_ATOMIC)) == 0) {
				continue;
			}
			if (n < max) {
				out[n].addr = (uint64_t)(uintptr_t)m->mr.addr;
				out[n].length = m->mr.length;
				out[n].rkey = m->mr.rkey;
				out[n].access = m->access;
				out[n].window = false;
			}
			n += 1;
		}
		for (w = p->mws; w != NULL; w = w->next) {
			if (!w->bound) {
				continue;
			}
			if (n < max) {
				out[n].addr = w->addr;
				out[n].length = w->length;
				out[n].rkey = w->mw.rkey;
				out[n].access = w->access;
				out[n].window = true;
			}
			n += 1;
		}
	}
	return n;
}

/* --- the fabric as a whole --------------------------------------------------- */

static void peer_free(struct fv_peer *p)
{
	size_t i;
	struct ibv_cq *cq = p->qp->qp.send_cq;

	for (i = 0; i < p->inbox_count; i++) {
		free(p->inbox[i].data);
	}
	free(p->inbox);
	if (p->lib_id != NULL) {
		p->lib_id->script = NULL;
		p->lib_id->peer = NULL;
	}
	p->id->peer = NULL;
	rdma_destroy_id(&p->id->id);
	ibv_destroy_qp(&p->qp->qp);
	ibv_destroy_cq(cq);
	while (p->pd->mrs != NULL) {
		ibv_dereg_mr(&p->pd->mrs->mr);
	}
	ibv_dealloc_pd(&p->pd->pd);
	free(p);
}

int fv_reset(void)
{
	while (fab.peers != NULL) {
		struct fv_peer *p = fab.peers;

		fab.peers = p->next;
		peer_free(p);
	}
	while (fab.scripts != NULL) {
		struct fv_script *s = fab.scripts;

		fab.scripts = s->next;
		free(s);
	}
	memset(&fab.stats, 0, sizeof(fab.stats));
	fab.no_mw = false;
	fab.mw_unbounded = false;
	fab.not_rxe = false;
	if (fab.live != 0) {
		int k;

		fprintf(stderr, "fakeverbs: the library still holds:");
		for (k = 0; k < FV_KINDS; k++) {
			if (fab.live_kind[k] != 0) {
				fprintf(stderr, " %d %s", fab.live_kind[k],
					fv_kind_names[k]);
			}
		}
		fprintf(stderr, "\n");
	}
	return fab.live;
}

void fv_get_stats(struct fv_stats *stats)
{
	*stats = fab.stats;
}

void fv_set_memory_windows(bool on)
{
	fab.no_mw = !on;
}

void fv_set_windows_unbounded(bool on)
{
	fab.mw_unbounded = on;
}

void fv_set_rxe(bool on)
{
	fab.not_rxe = !on;
}
