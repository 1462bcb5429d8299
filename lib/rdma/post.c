/*
 * libsmbdirect: posting work requests: entry points hold the
 * connection, sends collected while it is held go down as one chain (one
 * doorbell), and the provider rule says which posts go through the RDMA
 * thread.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

/* Post a chain now: directly, or (thread mode, per the provider rule) to
 * the RDMA thread, which posts consecutive chains to one QP with one
 * doorbell; a later failure there reaches conn->watch as an event. */
static int post_send_now(struct smbdirect_conn *conn, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *bad = NULL;

	if (conn->send_rt == NULL) {
		return ibv_post_send(conn->qp, wr, &bad);
	}
	return sd_rt_post_send(conn->send_rt, conn->qp, conn->watch, wr);
}

int sd_post_recv(struct smbdirect_conn *conn, struct ibv_recv_wr *wr)
{
	struct ibv_recv_wr *bad = NULL;

	if (conn->recv_rt == NULL) {
		return ibv_post_recv(conn->qp, wr, &bad);
	}
	return sd_rt_post_recv(conn->recv_rt, conn->qp, conn->watch, wr);
}

/* Post what the entry point collected (one chain, one doorbell). */
void sd_send_batch_flush(struct smbdirect_conn *conn)
{
	uint32_t n = conn->send_batch_count;
	uint32_t i;
	int ret;

	if (n == 0) {
		return;
	}
	conn->send_batch_count = 0;
	for (i = 0; i < n; i++) {
		conn->send_batch[i].next = i + 1 < n ? &conn->send_batch[i + 1]
						     : NULL;
	}
	ret = post_send_now(conn, conn->send_batch);
	if (ret != 0) {
		sd_post_failed(conn, "ibv_post_send", ret);
	}
}

int sd_post_send(struct smbdirect_conn *conn, struct ibv_send_wr *wr)
{
	struct ibv_send_wr *w;
	uint32_t n = 0;

	for (w = wr; w != NULL; w = w->next) {
		if (w->num_sge > 1) {
			n = UINT32_MAX;
			break;
		}
		n += 1;
	}
	if (conn->busy == 0 || conn->ended ||
	    n > conn->send_batch_capacity - conn->send_batch_count) {
		sd_send_batch_flush(conn);
		return post_send_now(conn, wr);
	}
	for (w = wr; w != NULL; w = w->next) {
		uint32_t i = conn->send_batch_count++;

		conn->send_batch[i] = *w;
		if (w->num_sge == 1) {
			conn->send_batch_sge[i] = w->sg_list[0];
			conn->send_batch[i].sg_list = &conn->send_batch_sge[i];
		}
	}
	return 0;
}

/* rxe names no driver in sysfs; its devices have a "parent" netdev and
 * report the vendor id 0xffffff. */
static bool device_is_rxe(struct ibv_context *verbs)
{
	struct ibv_device_attr attr;

	if (ibv_query_device(verbs, &attr) != 0) {
		return false;
	}
	return attr.vendor_id == 0xffffff;
}

/*
 * Which posts must go through the thread, per provider. The kernel checks
 * credentials on write() only. Measured on rxe (docs/fork-and-credentials.md):
 * ibv_post_send rings its doorbell with a write() on the context's command
 * fd, so it fails with EACCES from a switched thread; ibv_post_recv,
 * ibv_poll_cq, ibv_req_notify_cq and ibv_get_cq_event do not write. siw
 * rings the send doorbell the same way. Providers whose doorbells are MMIO
 * writes from userspace (mlx5, mlx4) issue no syscall to post at all.
 *
 * Rule: posts go direct only on a device whose kernel driver is known to
 * use userspace doorbells; receives also go direct on rxe (measured). Every
 * other device, siw and unknown ones included, posts through the thread.
 */
void sd_post_rule(struct ibv_context *verbs, bool *send_via_thread,
		  bool *recv_via_thread)
{
	static const char *const mmio_drivers[] = { "mlx5_core", "mlx4_core" };
	char path[PATH_MAX];
	char target[PATH_MAX];
	const char *name = ibv_get_device_name(verbs->device);
	const char *driver = "";
	ssize_t n;
	size_t i;

	*send_via_thread = true;
	*recv_via_thread = true;
	snprintf(path, sizeof(path), "/sys/class/infiniband/%s/device/driver",
		 name != NULL ? name : "?");
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		const char *slash;

		target[n] = '\0';
		slash = strrchr(target, '/');
		driver = slash != NULL ? slash + 1 : target;
	}
	for (i = 0; i < sizeof(mmio_drivers) / sizeof(mmio_drivers[0]); i++) {
		if (strcmp(driver, mmio_drivers[i]) == 0) {
			*send_via_thread = false;
			*recv_via_thread = false;
			return;
		}
	}
	if (device_is_rxe(verbs)) {
		*recv_via_thread = false;
	}
}
