/*
 * smbdirect-torture: one raw RDMA endpoint on rdma_cm and verbs (an RC QP
 * made by rdma_create_qp, retry 6 and RNR retry 0 as the Linux peers, a
 * pool of receives kept posted, sends waited for one by one), and what
 * happens to it: messages, rdma_cm events, failed work requests.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "torture.h"

/* Work request ids: receives carry their slot under TAG_RECV; sends are
 * TAG_SEND. (A failed completion has no valid opcode: the id tells.) */
#define TAG_RECV (1ull << 32)
#define TAG_SEND (1ull << 33)

uint64_t tp_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t tp_ms_since(uint64_t t0)
{
	return (tp_now() - t0) / 1000000ull;
}

unsigned long long tp_end_ms(const struct tp_ep *ep, uint64_t t0)
{
	return ep->t_end > t0 ? (ep->t_end - t0) / 1000000ull : 0;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void ended(struct tp_ep *ep, enum tp_end how, int status,
		  const char *why, const char *arg)
{
	if (ep->end != TP_UP) {
		return;
	}
	ep->end = how;
	ep->wc_status = status;
	ep->t_end = tp_now();
	snprintf(ep->why, sizeof(ep->why), "%s%s%s", why,
		 arg != NULL ? ": " : "", arg != NULL ? arg : "");
}

const char *tp_end_string(const struct tp_ep *ep)
{
	return ep->end == TP_UP ? "up" : ep->why;
}

/* Post receives into every free slot (slot i: wr_id i). */
static int post_recv_slot(struct tp_ep *ep, unsigned int slot)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(ep->rbuf + (size_t)slot * TP_RECV_SIZE),
		.length = TP_RECV_SIZE,
		.lkey = ep->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = TAG_RECV | slot, .sg_list = &sge,
				  .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int ret = ibv_post_recv(ep->id->qp, &wr, &bad);

	if (ret == 0) {
		ep->recvs_posted += 1;
	}
	return ret;
}

/* Protection domain, completion channel, CQ, QP and buffers on an id
 * whose device is known. */
static int make_resources(struct tp_ep *ep)
{
	struct ibv_qp_init_attr attr;
	unsigned int i;

	ep->pd = ibv_alloc_pd(ep->id->verbs);
	ep->cc = ep->pd != NULL ? ibv_create_comp_channel(ep->id->verbs) : NULL;
	if (ep->cc == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	nonblock(ep->cc->fd);
	ep->cq = ibv_create_cq(ep->id->verbs,
			       TP_RECV_SLOTS + TP_SEND_SLOTS + 16, ep, ep->cc,
			       0);
	if (ep->cq == NULL || ibv_req_notify_cq(ep->cq, 0) != 0) {
		return errno != 0 ? errno : ENOMEM;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_type = IBV_QPT_RC;
	attr.send_cq = ep->cq;
	attr.recv_cq = ep->cq;
	attr.cap.max_send_wr = TP_SEND_SLOTS + 8;
	attr.cap.max_recv_wr = TP_RECV_SLOTS;
	attr.cap.max_send_sge = 1;
	attr.cap.max_recv_sge = 1;
	if (rdma_create_qp(ep->id, ep->pd, &attr) != 0) {
		return errno != 0 ? errno : ENOMEM;
	}
	ep->have_qp = true;
	ep->rbuf = calloc(TP_RECV_SLOTS, TP_RECV_SIZE);
	ep->sbuf = calloc(TP_SEND_SLOTS, TP_SEND_SIZE);
	if (ep->rbuf == NULL || ep->sbuf == NULL) {
		return ENOMEM;
	}
	ep->rmr = ibv_reg_mr(ep->pd, ep->rbuf, TP_RECV_SLOTS * TP_RECV_SIZE,
			     IBV_ACCESS_LOCAL_WRITE);
	ep->smr = ibv_reg_mr(ep->pd, ep->sbuf, TP_SEND_SLOTS * TP_SEND_SIZE,
			     IBV_ACCESS_LOCAL_WRITE);
	if (ep->rmr == NULL || ep->smr == NULL) {
		return errno != 0 ? errno : ENOMEM;
	}
	for (i = 0; i < TP_RECV_SLOTS; i++) {
		if (post_recv_slot(ep, i) != 0) {
			return EIO;
		}
	}
	return 0;
}

/* Wait (bounded) for one rdma_cm event on the endpoint's channel; its
 * type goes to *type (and the connection parameters to *param if not
 * NULL). Returns 0, ETIMEDOUT, or an errno value. */
static int wait_cm(struct rdma_event_channel *ch, int timeout_ms,
		   enum rdma_cm_event_type *type, int *status,
		   struct rdma_cm_id **new_id)
{
	uint64_t t0 = tp_now();

	for (;;) {
		struct rdma_cm_event *ev;
		struct pollfd p = { .fd = ch->fd, .events = POLLIN };
		int left = timeout_ms - (int)tp_ms_since(t0);

		if (rdma_get_cm_event(ch, &ev) == 0) {
			*type = ev->event;
			if (status != NULL) {
				*status = ev->status;
			}
			if (new_id != NULL) {
				*new_id = ev->id;
			}
			rdma_ack_cm_event(ev);
			return 0;
		}
		if (errno != EAGAIN) {
			return errno;
		}
		if (left <= 0) {
			return ETIMEDOUT;
		}
		if (poll(&p, 1, left) < 0 && errno != EINTR) {
			return errno;
		}
	}
}

static struct tp_ep *ep_new(void)
{
	struct tp_ep *ep = calloc(1, sizeof(*ep));

	if (ep == NULL) {
		return NULL;
	}
	ep->ch = rdma_create_event_channel();
	if (ep->ch == NULL) {
		free(ep);
		return NULL;
	}
	nonblock(ep->ch->fd);
	return ep;
}

static void conn_param(struct rdma_conn_param *p)
{
	memset(p, 0, sizeof(*p));
	p->responder_resources = 16;
	p->initiator_depth = 16;
	p->retry_count = 6;
	p->rnr_retry_count = 0; /* as the Linux peers: RNR is an error */
	p->flow_control = 1;
}

int tp_connect(struct tp_ep **out, const struct sockaddr *dst,
	       const struct sockaddr *src, int timeout_ms, char *why,
	       size_t why_size)
{
	struct tp_ep *ep = ep_new();
	struct rdma_conn_param param;
	enum rdma_cm_event_type type;
	int status = 0;
	int ret;

	*out = NULL;
	if (ep == NULL) {
		snprintf(why, why_size, "no memory");
		return ENOMEM;
	}
	if (rdma_create_id(ep->ch, &ep->id, ep, RDMA_PS_TCP) != 0 ||
	    rdma_resolve_addr(ep->id, (struct sockaddr *)src,
			      (struct sockaddr *)dst, timeout_ms) != 0) {
		ret = errno;
		snprintf(why, why_size, "rdma_resolve_addr: %s", strerror(ret));
		goto fail;
	}
	ret = wait_cm(ep->ch, timeout_ms, &type, &status, NULL);
	if (ret != 0 || type != RDMA_CM_EVENT_ADDR_RESOLVED) {
		snprintf(why, why_size, "address: %s",
			 ret != 0 ? strerror(ret) : rdma_event_str(type));
		ret = ret != 0 ? ret : EHOSTUNREACH;
		goto fail;
	}
	if (rdma_resolve_route(ep->id, timeout_ms) != 0) {
		ret = errno;
		snprintf(why, why_size, "rdma_resolve_route: %s", strerror(ret));
		goto fail;
	}
	ret = wait_cm(ep->ch, timeout_ms, &type, &status, NULL);
	if (ret != 0 || type != RDMA_CM_EVENT_ROUTE_RESOLVED) {
		snprintf(why, why_size, "route: %s",
			 ret != 0 ? strerror(ret) : rdma_event_str(type));
		ret = ret != 0 ? ret : EHOSTUNREACH;
		goto fail;
	}
	ret = make_resources(ep);
	if (ret != 0) {
		snprintf(why, why_size, "verbs resources: %s", strerror(ret));
		goto fail;
	}
	conn_param(&param);
	if (rdma_connect(ep->id, &param) != 0) {
		ret = errno;
		snprintf(why, why_size, "rdma_connect: %s", strerror(ret));
		goto fail;
	}
	ret = wait_cm(ep->ch, timeout_ms, &type, &status, NULL);
	if (ret != 0 || type != RDMA_CM_EVENT_ESTABLISHED) {
		if (ret != 0) {
			snprintf(why, why_size, "connect: %s", strerror(ret));
		} else {
			snprintf(why, why_size, "%s (status %d)",
				 rdma_event_str(type), status);
		}
		ret = ret != 0 ? ret
			       : type == RDMA_CM_EVENT_REJECTED ? ECONNREFUSED
								: EHOSTUNREACH;
		goto fail;
	}
	ep->established = true;
	*out = ep;
	return 0;
fail:
	tp_free(ep);
	return ret;
}

int tp_listen(struct tp_listener **out, const struct sockaddr *addr,
	      uint16_t *port)
{
	struct tp_listener *l = calloc(1, sizeof(*l));
	struct sockaddr *bound;

	*out = NULL;
	if (l == NULL) {
		return ENOMEM;
	}
	l->ch = rdma_create_event_channel();
	if (l->ch == NULL || rdma_create_id(l->ch, &l->id, l, RDMA_PS_TCP) != 0 ||
	    rdma_bind_addr(l->id, (struct sockaddr *)addr) != 0 ||
	    rdma_listen(l->id, 64) != 0) {
		int ret = errno != 0 ? errno : EIO;

		tp_listener_free(l);
		return ret;
	}
	nonblock(l->ch->fd);
	bound = rdma_get_local_addr(l->id);
	if (port != NULL) {
		*port = ntohs(rdma_get_src_port(l->id));
	}
	(void)bound;
	*out = l;
	return 0;
}

int tp_accept(struct tp_listener *l, struct tp_ep **out, int timeout_ms)
{
	uint64_t t0 = tp_now();
	struct rdma_conn_param param;

	*out = NULL;
	for (;;) {
		enum rdma_cm_event_type type;
		struct rdma_cm_id *id = NULL;
		struct tp_ep *ep;
		int left = timeout_ms - (int)tp_ms_since(t0);
		int ret;

		if (left <= 0) {
			return ETIMEDOUT;
		}
		ret = wait_cm(l->ch, left, &type, NULL, &id);
		if (ret != 0) {
			return ret;
		}
		if (type != RDMA_CM_EVENT_CONNECT_REQUEST) {
			continue; /* events of ids not yet migrated */
		}
		ep = ep_new();
		if (ep == NULL) {
			rdma_reject(id, NULL, 0);
			rdma_destroy_id(id);
			return ENOMEM;
		}
		ep->id = id;
		id->context = ep;
		if (rdma_migrate_id(id, ep->ch) != 0) {
			l->last_accept_error = errno != 0 ? errno : EIO;
			rdma_reject(id, NULL, 0);
			tp_free(ep);
			l->failed_accepts += 1;
			continue;
		}
		ret = make_resources(ep);
		if (ret != 0) {
			l->last_accept_error = ret;
			rdma_reject(id, NULL, 0);
			tp_free(ep);
			l->failed_accepts += 1;
			continue;
		}
		conn_param(&param);
		if (rdma_accept(id, &param) != 0) {
			l->last_accept_error = errno != 0 ? errno : EIO;
			tp_free(ep);
			l->failed_accepts += 1;
			continue;
		}
		ep->established = true; /* ESTABLISHED follows on ep->ch */
		*out = ep;
		return 0;
	}
}

void tp_listener_free(struct tp_listener *l)
{
	if (l == NULL) {
		return;
	}
	if (l->id != NULL) {
		rdma_destroy_id(l->id);
	}
	if (l->ch != NULL) {
		rdma_destroy_event_channel(l->ch);
	}
	free(l);
}

/* Take a receive that completed: queue a copy, repost the slot. */
static void recv_done(struct tp_ep *ep, const struct ibv_wc *wc)
{
	unsigned int slot = (unsigned int)(wc->wr_id & 0xffffffffu);
	struct tp_rx *rx;

	ep->recvs_posted -= 1;
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status == IBV_WC_WR_FLUSH_ERR) {
			ended(ep, TP_FLUSHED, wc->status,
			      "our receives were flushed (QP in error)", NULL);
		} else {
			ended(ep, TP_RECV_FAILED, wc->status,
			      "a receive failed",
			      ibv_wc_status_str(wc->status));
		}
		return;
	}
	if (ep->rx_count < sizeof(ep->rx) / sizeof(ep->rx[0])) {
		rx = &ep->rx[(ep->rx_first + ep->rx_count) %
			     (sizeof(ep->rx) / sizeof(ep->rx[0]))];
		rx->length = wc->byte_len;
		rx->data = malloc(wc->byte_len > 0 ? wc->byte_len : 1);
		if (rx->data != NULL) {
			memcpy(rx->data, ep->rbuf + (size_t)slot * TP_RECV_SIZE,
			       wc->byte_len);
			rx->invalidate = (wc->wc_flags & IBV_WC_WITH_INV) != 0;
			rx->rkey = wc->invalidated_rkey;
			ep->rx_count += 1;
		}
	}
	if (ep->end == TP_UP) {
		post_recv_slot(ep, slot);
	}
}

/* Take every completion waiting. */
static void drain_cq(struct tp_ep *ep)
{
	struct ibv_wc wc[16];
	int n;
	int i;

	while ((n = ibv_poll_cq(ep->cq, 16, wc)) > 0) {
		for (i = 0; i < n; i++) {
			if ((wc[i].wr_id & TAG_RECV) != 0) {
				recv_done(ep, &wc[i]);
				continue;
			}
			if (wc[i].wr_id != TAG_SEND) {
				continue;
			}
			ep->sends_out -= 1;
			if (wc[i].status != IBV_WC_SUCCESS) {
				ended(ep, TP_SEND_FAILED, wc[i].status,
				      "our send failed",
				      ibv_wc_status_str(wc[i].status));
			}
		}
	}
}

/* One round of events: CM events and completions, waiting at most
 * timeout_ms for the first. */
static void pump_once(struct tp_ep *ep, int timeout_ms)
{
	struct pollfd p[2] = {
		{ .fd = ep->ch->fd, .events = POLLIN },
		{ .fd = ep->cc != NULL ? ep->cc->fd : -1, .events = POLLIN },
	};
	struct rdma_cm_event *ev;

	if (ep->cq != NULL) {
		drain_cq(ep);
	}
	if (ep->rx_count > 0 || timeout_ms <= 0) {
		timeout_ms = 0;
	}
	poll(p, 2, timeout_ms);
	while (rdma_get_cm_event(ep->ch, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;

		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
			/* What arrived before it still counts. */
			if (ep->cq != NULL) {
				drain_cq(ep);
			}
			ended(ep, TP_DISCONNECTED, 0, "disconnected", NULL);
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default:
			ended(ep, TP_CM_ERROR, 0, "rdma_cm",
			      rdma_event_str(type));
			break;
		}
	}
	if (ep->cc != NULL) {
		struct ibv_cq *cq;
		void *ctx;

		while (ibv_get_cq_event(ep->cc, &cq, &ctx) == 0) {
			ibv_ack_cq_events(cq, 1);
		}
		ibv_req_notify_cq(ep->cq, 0);
		drain_cq(ep);
	}
}

void tp_pump(struct tp_ep *ep, int timeout_ms)
{
	uint64_t t0 = tp_now();

	do {
		pump_once(ep, timeout_ms - (int)tp_ms_since(t0));
	} while ((int)tp_ms_since(t0) < timeout_ms);
}

int tp_send_nowait(struct tp_ep *ep, const void *buf, size_t len)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr;
	struct ibv_send_wr *bad;
	uint8_t *slot;

	if (ep->end != TP_UP) {
		return -2;
	}
	if (len > TP_SEND_SIZE || ep->sends_out >= TP_SEND_SLOTS) {
		return -1;
	}
	slot = ep->sbuf + (size_t)ep->snext * TP_SEND_SIZE;
	ep->snext = (ep->snext + 1) % TP_SEND_SLOTS;
	memcpy(slot, buf, len);
	sge.addr = (uintptr_t)slot;
	sge.length = (uint32_t)len;
	sge.lkey = ep->smr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = TAG_SEND;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_SEND;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(ep->id->qp, &wr, &bad) != 0) {
		ended(ep, TP_LOCAL, 0, "posting a send failed", NULL);
		return -2;
	}
	ep->sends_out += 1;
	return 0;
}

int tp_send(struct tp_ep *ep, const void *buf, size_t len, bool inv,
	    uint32_t rkey, int timeout_ms)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr;
	struct ibv_send_wr *bad;
	uint64_t t0 = tp_now();
	uint8_t *slot;

	if (ep->end != TP_UP) {
		return -2;
	}
	if (len > TP_SEND_SIZE) {
		return -1;
	}
	while (ep->sends_out > 0 && ep->end == TP_UP &&
	       (int)tp_ms_since(t0) < timeout_ms) {
		pump_once(ep, 10);
	}
	if (ep->end != TP_UP) {
		return -2;
	}
	slot = ep->sbuf + (size_t)ep->snext * TP_SEND_SIZE;
	ep->snext = (ep->snext + 1) % TP_SEND_SLOTS;
	memcpy(slot, buf, len);
	sge.addr = (uintptr_t)slot;
	sge.length = (uint32_t)len;
	sge.lkey = ep->smr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = TAG_SEND;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = inv ? IBV_WR_SEND_WITH_INV : IBV_WR_SEND;
	wr.invalidate_rkey = rkey;
	wr.send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(ep->id->qp, &wr, &bad) != 0) {
		ended(ep, TP_LOCAL, 0, "posting a send failed", NULL);
		return -2;
	}
	ep->sends_out += 1;
	while (ep->sends_out > 0 && ep->end == TP_UP &&
	       (int)tp_ms_since(t0) < timeout_ms) {
		pump_once(ep, 10);
	}
	if (ep->end == TP_SEND_FAILED) {
		return ep->wc_status;
	}
	if (ep->sends_out > 0) {
		return ep->end != TP_UP ? -2 : -1;
	}
	return IBV_WC_SUCCESS;
}

int tp_recv(struct tp_ep *ep, struct tp_rx *rx, int timeout_ms)
{
	uint64_t t0 = tp_now();

	for (;;) {
		if (ep->rx_count > 0) {
			*rx = ep->rx[ep->rx_first];
			ep->rx_first = (ep->rx_first + 1) %
				       (sizeof(ep->rx) / sizeof(ep->rx[0]));
			ep->rx_count -= 1;
			return 1;
		}
		if (ep->end != TP_UP) {
			return -1;
		}
		if ((int)tp_ms_since(t0) >= timeout_ms) {
			return 0;
		}
		pump_once(ep, timeout_ms - (int)tp_ms_since(t0));
	}
}

struct ibv_mr *tp_reg(struct tp_ep *ep, void *buf, size_t len)
{
	return ibv_reg_mr(ep->pd, buf, len,
			  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
				  IBV_ACCESS_REMOTE_WRITE);
}

void tp_free(struct tp_ep *ep)
{
	if (ep == NULL) {
		return;
	}
	if (ep->established && ep->end == TP_UP && ep->id != NULL) {
		rdma_disconnect(ep->id);
	}
	if (ep->have_qp) {
		rdma_destroy_qp(ep->id);
	}
	if (ep->rmr != NULL) {
		ibv_dereg_mr(ep->rmr);
	}
	if (ep->smr != NULL) {
		ibv_dereg_mr(ep->smr);
	}
	if (ep->cq != NULL) {
		ibv_destroy_cq(ep->cq);
	}
	if (ep->cc != NULL) {
		ibv_destroy_comp_channel(ep->cc);
	}
	if (ep->pd != NULL) {
		ibv_dealloc_pd(ep->pd);
	}
	if (ep->id != NULL) {
		rdma_destroy_id(ep->id);
	}
	if (ep->ch != NULL) {
		rdma_destroy_event_channel(ep->ch);
	}
	while (ep->rx_count > 0) {
		free(ep->rx[ep->rx_first].data);
		ep->rx_first = (ep->rx_first + 1) %
			       (sizeof(ep->rx) / sizeof(ep->rx[0]));
		ep->rx_count -= 1;
	}
	free(ep->rbuf);
	free(ep->sbuf);
	free(ep);
}
