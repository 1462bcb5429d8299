/*
 * libsmbdirect: fork-per-connection (docs/architecture.md,
 * docs/fork-and-credentials.md). The parent holds the listener and, for
 * each connection a child serves, its rdma_cm id (proxy.c); the child owns
 * every verbs object. A request is handed to a child the host forks (smbd
 * forks in its own accept path), or that smbdirect_listener_fork() forks
 * for the tools:
 *
 *   parent: smbdirect_handoff_prepare()   the id's QP attributes and a
 *                                         socket; the RDMA thread parked
 *           fork()                        the host's
 *   child:  smbdirect_handoff_child()     its own RDMA thread, the
 *                                         parent's listener dropped here;
 *                                         then smbdirect_accept_send()
 *   parent: smbdirect_handoff_parent()    keeps the id for the child, on
 *                                         the listener's tevent context,
 *                                         until the child is done with it
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

/* A child slower than this says where its time went. */
#define HANDOFF_SLOW_NS 2000000000ull

struct smbdirect_handoff {
	struct smbdirect_listener *listener;
	struct smbdirect_conn_request *request;
	struct sd_cm_proxy *proxy; /* the child's side */
	int parent_fd;             /* the parent's end of the socket */
	uint64_t t_fork;
};

struct smbdirect_handoff *
smbdirect_handoff_prepare(struct smbdirect_listener *listener,
			  struct smbdirect_conn_request *request)
{
	struct smbdirect_handoff *h = talloc_zero(request,
						  struct smbdirect_handoff);
	int err = ENOMEM;

	if (h != NULL) {
		h->parent_fd = -1;
		h->proxy = sd_cm_proxy_prepare(h, request->id, &h->parent_fd,
					       &err);
	}
	if (h == NULL || h->proxy == NULL) {
		sd_log(SMBDIRECT_LOG_WARNING, NULL, request->peer,
		       "handing the connection to a child failed: %s; "
		       "rejected",
		       strerror(err));
		talloc_free(request); /* rejects it */
		errno = err;
		return NULL;
	}
	h->listener = listener;
	h->request = request;
	/* In thread mode the parent's RDMA thread is parked across fork(),
	 * holding no lock the child could inherit. */
	sd_rt_fork_prepare();
	h->t_fork = sd_now();
	return h;
}

struct smbdirect_conn_request *
smbdirect_handoff_child(struct smbdirect_handoff *h, void *mem_ctx,
			enum smbdirect_thread_mode mode)
{
	struct smbdirect_conn_request *r = h->request;
	uint64_t t_start = sd_now();
	uint64_t t_end;
	int null_fd;
	int ret;

	close(h->parent_fd);
	/* Before anything else: the child's own RDMA thread (when the
	 * parent had one), in the mode asked for; the watches inherited from
	 * the parent do not count against the change. */
	ret = sd_rt_fork_child();
	if (ret == 0) {
		ret = smbdirect_set_thread_mode(mode);
	}
	/* The listener, the other children's sockets and the ids are the
	 * parent's. */
	smbdirect_listener_forget(h->listener);
	if (ret != 0) {
		sd_log(SMBDIRECT_LOG_ERROR, NULL, r->peer,
		       "child: starting its RDMA thread failed: %s",
		       strerror(ret));
		/* Our end of the socket closes with the request: the parent
		 * rejects it. */
		r->id = NULL;
		talloc_free(r);
		errno = ret;
		return NULL;
	}
	/* librdmacm's cached device context is the parent's: make its fds
	 * harmless so nothing here can reach the parent's objects through
	 * them (docs/fork-and-credentials.md). */
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd >= 0) {
		dup2(null_fd, r->id->verbs->cmd_fd);
		dup2(null_fd, r->id->verbs->async_fd);
		close(null_fd);
	}
	r->id = NULL;
	r->listener = NULL;
	r->proxy = talloc_steal(r, h->proxy);
	t_end = sd_now();
	if (t_end - h->t_fork > HANDOFF_SLOW_NS) {
		sd_log(SMBDIRECT_LOG_NOTICE, NULL, r->peer,
		       "child: took the connection after %llu ms (first ran "
		       "at %llu ms)",
		       (unsigned long long)((t_end - h->t_fork) / 1000000),
		       (unsigned long long)((t_start - h->t_fork) / 1000000));
	}
	talloc_steal(mem_ctx, r);
	talloc_free(h);
	return r;
}

int smbdirect_handoff_parent(struct smbdirect_handoff *h, pid_t pid)
{
	struct smbdirect_conn_request *r = h->request;
	int ret = ECHILD;

	sd_rt_fork_parent();
	/* Our copy of the child's end. */
	TALLOC_FREE(h->proxy);
	if (pid > 0) {
		ret = sd_proxied_new(h->listener, r, h->parent_fd);
		if (ret != 0) {
			sd_log(SMBDIRECT_LOG_WARNING, NULL, r->peer,
			       "keeping the id for child %d failed: %s; "
			       "rejected",
			       (int)pid, strerror(ret));
		}
	} else {
		sd_log(SMBDIRECT_LOG_WARNING, NULL, r->peer,
		       "fork failed; rejected");
	}
	if (ret != 0) {
		close(h->parent_fd);
	}
	talloc_free(r); /* and h, its child; rejects a request not kept */
	return ret;
}

pid_t smbdirect_listener_fork(struct smbdirect_listener *listener,
			      struct smbdirect_conn_request *request,
			      struct tevent_context **child_ev,
			      struct smbdirect_conn_request **child_request)
{
	enum smbdirect_thread_mode mode = smbdirect_get_thread_mode();
	struct smbdirect_handoff *h;
	pid_t pid;
	int err;

	h = smbdirect_handoff_prepare(listener, request);
	if (h == NULL) {
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		/* The parent's tevent context must not be used here. */
		*child_ev = tevent_context_init(NULL);
		if (*child_ev == NULL) {
			_exit(1);
		}
		*child_request = smbdirect_handoff_child(h, *child_ev, mode);
		if (*child_request == NULL) {
			_exit(1);
		}
		return 0;
	}
	err = errno;
	smbdirect_handoff_parent(h, pid);
	if (pid < 0) {
		errno = err;
	}
	return pid;
}
