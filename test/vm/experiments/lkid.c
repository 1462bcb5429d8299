/*
 * An experiment, not part of the library or its tests (built by hand:
 * run-lkid.sh says how): fork-per-connection where the
 * parent keeps the rdma_cm id for the connection's life and the child
 * owns only its verbs objects. Checks on rxe that
 *  - the child's own QP, driven with the attributes the parent gets from
 *    rdma_init_qp_attr, carries the peer's first message and our answer;
 *  - the parent's rdma_accept with the child's qp_num connects;
 *  - the parent's rdma_destroy_id succeeds after the child ends, so
 *    librdmacm's record is freed and the parent's heap stays flat.
 * Usage: lkid ADDR PORT N
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#define die(...) do { fprintf(stderr, __VA_ARGS__); exit(1); } while (0)

struct attr_msg {
	struct ibv_qp_attr attr;
	int mask;
};

static void xwrite(int fd, const void *p, size_t n)
{
	if (write(fd, p, n) != (ssize_t)n)
		die("write: %s\n", strerror(errno));
}

static int xread(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* One completion, waited for up to 5 s: 1, or 0 if none came. */
static int poll_one(struct ibv_cq *cq, struct ibv_wc *wc)
{
	int i, n = 0;

	for (i = 0; i < 5000 && n == 0; i++) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n == 0)
			usleep(1000);
	}
	return n;
}

/* The child: verbs objects of its own; each QP state from the parent. */
static int child(struct rdma_cm_id *id, int sock)
{
	struct ibv_context *ctx = ibv_open_device(id->verbs->device);
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	struct ibv_qp_init_attr ia = {0};
	static char buf[4096];
	struct ibv_sge sge;
	struct ibv_recv_wr rwr = {0}, *bad;
	struct ibv_send_wr swr = {0}, *sbad;
	struct ibv_wc wc;
	uint32_t qpn;
	int i, n;
	char word;

	if (ctx == NULL)
		die("child: ibv_open_device\n");
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	ia.send_cq = cq;
	ia.recv_cq = cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	qp = ibv_create_qp(pd, &ia);
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
	if (pd == NULL || cq == NULL || qp == NULL || mr == NULL)
		die("child: verbs objects\n");
	qpn = qp->qp_num;
	xwrite(sock, &qpn, sizeof(qpn));
	/* INIT, RTR, RTS as the parent reads them off the id. */
	for (i = 0; i < 3; i++) {
		struct attr_msg m;

		if (xread(sock, &m, sizeof(m)) != 0)
			die("child: no attributes\n");
		if (ibv_modify_qp(qp, &m.attr, m.mask) != 0)
			die("child: modify to %d: %s\n", m.attr.qp_state,
			    strerror(errno));
		if (i == 0) {
			sge.addr = (uintptr_t)buf;
			sge.length = 2048;
			sge.lkey = mr->lkey;
			rwr.sg_list = &sge;
			rwr.num_sge = 1;
			if (ibv_post_recv(qp, &rwr, &bad) != 0)
				die("child: post_recv\n");
		}
		word = 'k';
		xwrite(sock, &word, 1);
	}
	/* The peer's first message. */
	n = poll_one(cq, &wc);
	if (n != 1 || wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV)
		die("child: no message (n %d status %s)\n", n,
		    n == 1 ? ibv_wc_status_str(wc.status) : "-");
	printf("child %d: received %u bytes on its own QP %u\n", (int)getpid(),
	       wc.byte_len, qpn);
	/* An answer (not a valid negotiate response: the peer ends). */
	sge.addr = (uintptr_t)(buf + 2048);
	sge.length = 32;
	sge.lkey = mr->lkey;
	memset(buf + 2048, 0, 32);
	swr.sg_list = &sge;
	swr.num_sge = 1;
	swr.opcode = IBV_WR_SEND;
	swr.send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(qp, &swr, &sbad) != 0)
		die("child: post_send: %s\n", strerror(errno));
	n = poll_one(cq, &wc);
	if (n != 1 || wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_SEND)
		die("child: send did not complete\n");
	printf("child %d: sent 32 bytes\n", (int)getpid());
	ibv_destroy_qp(qp);
	ibv_dereg_mr(mr);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	return 0;
}

static struct rdma_cm_event *next_event(struct rdma_event_channel *ch)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(ch, &ev) != 0)
		die("rdma_get_cm_event: %s\n", strerror(errno));
	return ev;
}

int main(int argc, char **argv)
{
	struct rdma_event_channel *ch = rdma_create_event_channel();
	struct rdma_cm_id *lid;
	struct sockaddr_in sin = {0};
	int n, k;
	size_t heap_first = 0;

	if (argc != 4)
		die("usage: lkid ADDR PORT N\n");
	n = atoi(argv[3]);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sin.sin_addr);
	if (ch == NULL || rdma_create_id(ch, &lid, NULL, RDMA_PS_TCP) != 0 ||
	    rdma_bind_addr(lid, (struct sockaddr *)&sin) != 0 ||
	    rdma_listen(lid, 16) != 0)
		die("listen: %s\n", strerror(errno));
	printf("lkid: listening\n");
	fflush(stdout);
	for (k = 0; k < n; k++) {
		struct rdma_cm_event *ev = next_event(ch);
		struct rdma_cm_id *id = ev->id;
		struct rdma_conn_param param = {0};
		uint8_t rr = ev->param.conn.responder_resources;
		uint8_t id_depth = ev->param.conn.initiator_depth;
		int sv[2], status, i, ret;
		uint32_t qpn;
		char word;
		pid_t pid;

		if (ev->event != RDMA_CM_EVENT_CONNECT_REQUEST)
			die("event %s\n", rdma_event_str(ev->event));
		rdma_ack_cm_event(ev);
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			die("socketpair\n");
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			close(sv[0]);
			exit(child(id, sv[1]));
		}
		close(sv[1]);
		if (xread(sv[0], &qpn, sizeof(qpn)) != 0)
			die("parent: no qp number\n");
		for (i = 0; i < 3; i++) {
			struct attr_msg m;

			memset(&m, 0, sizeof(m));
			m.attr.qp_state = i == 0 ? IBV_QPS_INIT
					: i == 1 ? IBV_QPS_RTR : IBV_QPS_RTS;
			if (rdma_init_qp_attr(id, &m.attr, &m.mask) != 0)
				die("rdma_init_qp_attr %d: %s\n", i,
				    strerror(errno));
			if (i == 1)
				m.attr.max_dest_rd_atomic = rr;
			if (i == 2)
				m.attr.max_rd_atomic = id_depth;
			xwrite(sv[0], &m, sizeof(m));
			if (xread(sv[0], &word, 1) != 0)
				die("parent: child failed at state %d\n", i);
		}
		param.responder_resources = rr;
		param.initiator_depth = id_depth;
		param.rnr_retry_count = 7;
		param.qp_num = qpn;
		if (rdma_accept(id, &param) != 0)
			die("rdma_accept: %s\n", strerror(errno));
		ev = next_event(ch);
		printf("parent: %s for the child's QP %u\n",
		       rdma_event_str(ev->event), qpn);
		rdma_ack_cm_event(ev);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			die("child failed\n");
		close(sv[0]);
		/* The child is gone: the parent's id is still its own. */
		ret = rdma_destroy_id(id);
		if (ret != 0)
			die("rdma_destroy_id: %s\n", strerror(errno));
		{
			struct mallinfo2 mi = mallinfo2();

			if (k == 0)
				heap_first = mi.uordblks;
			printf("parent: connection %d: id destroyed (0); heap in use %zu bytes (first %zu)\n",
			       k + 1, mi.uordblks, heap_first);
		}
		fflush(stdout);
	}
	rdma_destroy_id(lid);
	rdma_destroy_event_channel(ch);
	return 0;
}
