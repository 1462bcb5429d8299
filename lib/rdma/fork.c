/*
 * libsmbdirect: fork-per-connection (docs/architecture.md,
 * docs/fork-and-credentials.md). The parent holds only the listener; a
 * request is handed to a child the host forks (smbd forks in its own
 * accept path), or that smbdirect_listener_fork() forks for the tools:
 *
 *   parent: smbdirect_handoff_prepare()   a pipe; the RDMA thread parked
 *           fork()                        the host's
 *   child:  smbdirect_handoff_child()     its own RDMA thread, the id
 *                                         migrated onto its own channel,
 *                                         the parent's listener dropped
 *                                         here; then smbdirect_accept_send()
 *   parent: smbdirect_handoff_parent()    waits, bounded, for the child's
 *                                         word; forgets the request, or
 *                                         rejects it if the child failed
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"

/* How long the parent waits for the child's word. */
#define HANDOFF_WAIT_NS 10000000000ull
/* A child slower than this says where its time went. */
#define HANDOFF_SLOW_NS 2000000000ull

struct smbdirect_handoff {
	struct smbdirect_listener *listener;
	struct smbdirect_conn_request *request;
	int fds[2];        /* the child's word: 'M' migrated, 'F' failed */
	uint64_t t_fork;
};

struct smbdirect_handoff *
smbdirect_handoff_prepare(struct smbdirect_listener *listener,
			  struct smbdirect_conn_request *request)
{
	struct smbdirect_handoff *h = talloc_zero(request,
						  struct smbdirect_handoff);

	if (h == NULL || pipe2(h->fds, O_CLOEXEC) != 0) {
		int err = h == NULL ? ENOMEM : errno;

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

/* The child: migrate, then say so. Returns 0 or an errno value. */
static int child_migrate(struct smbdirect_handoff *h,
			 enum smbdirect_thread_mode mode)
{
	struct smbdirect_conn_request *r = h->request;
	uint64_t t_start = sd_now();
	uint64_t t_migrate = t_start;
	uint64_t t_end;
	char answer;
	int ret;

	close(h->fds[0]);
	/* Before anything else: the child's own RDMA thread (when the
	 * parent had one), in the mode asked for; the watches inherited from
	 * the parent do not count against the change. */
	ret = sd_rt_fork_child();
	if (ret == 0) {
		ret = smbdirect_set_thread_mode(mode);
	}
	if (ret != 0) {
		sd_log(SMBDIRECT_LOG_ERROR, NULL, r->peer,
		       "child: starting its RDMA thread failed: %s",
		       strerror(ret));
	} else {
		t_migrate = sd_now();
		ret = sd_request_migrate(r);
		if (ret != 0) {
			sd_log(SMBDIRECT_LOG_ERROR, NULL, r->peer,
			       "child: rdma_migrate_id failed: %s",
			       strerror(ret));
		}
	}
	/* Only now: the migration names the id's old channel, the
	 * listener's, which forgetting the listener closes here. */
	smbdirect_listener_forget(h->listener);
	answer = ret == 0 ? 'M' : 'F';
	if (write(h->fds[1], &answer, 1) != 1 && ret == 0) {
		ret = EPIPE;
	}
	if (ret == 0) {
		/* Kept until the connection negotiated or ended: closing it
		 * gives the parent its half-open place back. */
		r->handoff_fd = h->fds[1];
	} else {
		close(h->fds[1]);
	}
	t_end = sd_now();
	if (ret != 0 || t_end - h->t_fork > HANDOFF_SLOW_NS) {
		/* Where a slow or failed child spent its time: until it first
		 * ran, until its migration started, in it. */
		sd_log(ret != 0 ? SMBDIRECT_LOG_ERROR : SMBDIRECT_LOG_NOTICE,
		       NULL, r->peer,
		       "child: %s after %llu ms (first ran at %llu ms, "
		       "migration from %llu ms to %llu ms)",
		       ret == EPIPE ? "the listener had given up"
		       : ret != 0   ? "failed"
				    : "took the connection",
		       (unsigned long long)((t_end - h->t_fork) / 1000000),
		       (unsigned long long)((t_start - h->t_fork) / 1000000),
		       (unsigned long long)((t_migrate - h->t_fork) / 1000000),
		       (unsigned long long)((t_end - h->t_fork) / 1000000));
	}
	return ret;
}

struct smbdirect_conn_request *
smbdirect_handoff_child(struct smbdirect_handoff *h, void *mem_ctx,
			enum smbdirect_thread_mode mode)
{
	struct smbdirect_conn_request *r = h->request;
	int null_fd;
	int ret = child_migrate(h, mode);

	if (ret != 0) {
		/* The id stays the parent's, which rejects it. */
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
	talloc_steal(mem_ctx, r);
	talloc_free(h);
	return r;
}

/* The parent: the child's word, waited for (bounded). NULL if it took the
 * connection, else why not. */
static const char *parent_wait(struct smbdirect_handoff *h)
{
	struct pollfd pfd = { .fd = h->fds[0], .events = POLLIN };
	uint64_t deadline = sd_now() + HANDOFF_WAIT_NS;
	char answer = 0;
	ssize_t n;
	int ready;

	close(h->fds[1]);
	/* A signal (SIGCHLD from an earlier connection's process, for one)
	 * interrupts poll() and read(): that is no answer, so wait on until
	 * the deadline. */
	do {
		uint64_t now = sd_now();

		ready = now < deadline
				? poll(&pfd, 1,
				       (int)((deadline - now + 999999) / 1000000))
				: 0;
	} while (ready < 0 && errno == EINTR);
	if (ready < 0) {
		return "poll on its pipe failed";
	}
	if (ready == 0) {
		return "no word within 10 s";
	}
	do {
		n = read(h->fds[0], &answer, 1);
	} while (n < 0 && errno == EINTR);
	if (n != 1) {
		return "it exited first";
	}
	return answer == 'M' ? NULL : "it could not migrate the id";
}

int smbdirect_handoff_parent(struct smbdirect_handoff *h, pid_t pid)
{
	struct smbdirect_conn_request *r = h->request;
	const char *why = "fork failed";
	int ret = ECHILD;

	sd_rt_fork_parent();
	if (pid > 0) {
		why = parent_wait(h);
	} else {
		close(h->fds[1]);
	}
	/* parent_wait() closed our copy of the child's end. */
	if (why == NULL) {
		/* The child owns the id now. rdma_destroy_id here would fail
		 * (EINVAL) and free nothing; the parent forgets it, which
		 * leaves librdmacm's small per-id record (documented). Its
		 * half-open place stays until the child closes its end of
		 * the pipe (negotiated, ended, or exited). */
		r->id = NULL;
		sd_half_open_to_child(&r->half_open, h->fds[0]);
		ret = 0;
	} else {
		close(h->fds[0]);
		sd_log(SMBDIRECT_LOG_WARNING, NULL, r->peer,
		       "child %d did not take the connection: %s; rejected",
		       (int)pid, why);
	}
	talloc_free(r); /* and h, its child; rejects a request not taken */
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
