/*
 * libsmbdirect: fork-per-connection (docs/architecture.md): the parent
 * holds only the listener; on a request it forks, the child migrates the id
 * onto its own channel and later builds its own device context, PD, CQ and
 * QP (accept.c), and the parent waits, bounded, for the child's word.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conn.h"

pid_t smbdirect_listener_fork(struct smbdirect_listener *listener,
			      struct smbdirect_conn_request *request,
			      struct tevent_context **child_ev,
			      struct smbdirect_conn_request **child_request)
{
	int fds[2];
	pid_t pid;
	char answer = 0;
	ssize_t n;
	struct pollfd pfd;
	const char *why;
	uint64_t t_fork;
	uint64_t deadline;
	int ready;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		talloc_free(request);
		return -1;
	}
	/* In thread mode the parent's RDMA thread is parked across fork(),
	 * holding no lock the child could inherit. */
	sd_rt_fork_prepare();
	t_fork = sd_now();
	pid = fork();
	if (pid < 0) {
		int err = errno;

		sd_rt_fork_parent();
		close(fds[0]);
		close(fds[1]);
		talloc_free(request);
		errno = err;
		return -1;
	}
	if (pid == 0) {
		/* Child: an RDMA thread of its own (thread mode) before
		 * anything else, then migrate, then tell the parent. */
		int ret;
		struct rdma_context_fds {
			int cmd_fd;
			int async_fd;
		} stale;
		int null_fd;
		uint64_t t_start = sd_now();
		uint64_t t_migrate = t_start;
		uint64_t t_end;

		close(fds[0]);
		ret = sd_rt_fork_child();
		if (ret != 0) {
			sd_log(NULL, "child for %s: starting its RDMA thread "
				     "failed: %s",
			       request->peer, strerror(ret));
		} else {
			t_migrate = sd_now();
			ret = sd_request_migrate(request);
			if (ret != 0) {
				sd_log(NULL, "child for %s: rdma_migrate_id "
					     "failed: %s",
				       request->peer, strerror(ret));
			}
		}
		answer = ret == 0 ? 'M' : 'F';
		if (write(fds[1], &answer, 1) != 1) {
			ret = EPIPE;
		}
		close(fds[1]);
		t_end = sd_now();
		if (ret != 0 || t_end - t_fork > 2000000000ull) {
			/* Where a slow or failed child spent its time: until
			 * it first ran, until its migration started, in it. */
			sd_log(NULL, "child for %s: %s after %llu ms (first "
				     "ran at %llu ms, migration from %llu ms "
				     "to %llu ms)",
			       request->peer,
			       ret == EPIPE ? "the listener had given up"
			       : ret != 0   ? "failed"
					    : "took the connection",
			       (unsigned long long)((t_end - t_fork) / 1000000),
			       (unsigned long long)((t_start - t_fork) / 1000000),
			       (unsigned long long)((t_migrate - t_fork) / 1000000),
			       (unsigned long long)((t_end - t_fork) / 1000000));
		}
		if (ret != 0) {
			_exit(1);
		}
		/* The listener's channel stays the parent's; if it stayed
		 * open here, a dead parent's port would stay bound. */
		if (listener->watch != NULL) {
			sd_watch_forget(listener->watch);
			listener->watch = NULL;
		}
		close(listener->channel->fd);
		/* librdmacm's cached device context is the parent's: make
		 * its fds harmless so nothing here can reach the parent's
		 * objects through them (docs/fork-and-credentials.md). */
		stale.cmd_fd = request->id->verbs->cmd_fd;
		stale.async_fd = request->id->verbs->async_fd;
		null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null_fd >= 0) {
			dup2(null_fd, stale.cmd_fd);
			dup2(null_fd, stale.async_fd);
			close(null_fd);
		}
		/* The parent's tevent context must not be used here. */
		*child_ev = tevent_context_init(NULL);
		if (*child_ev == NULL) {
			_exit(1);
		}
		talloc_steal(*child_ev, request);
		*child_request = request;
		return 0;
	}

	/* Parent: wait (bounded) for the child's word. */
	sd_rt_fork_parent();
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	why = "no word within 10 s";
	/* A signal (SIGCHLD from an earlier connection's process, for one)
	 * interrupts poll() and read(): that is no answer, so wait on until
	 * the deadline. */
	deadline = sd_now() + 10000000000ull;
	do {
		uint64_t now = sd_now();

		ready = now < deadline
				? poll(&pfd, 1,
				       (int)((deadline - now + 999999) / 1000000))
				: 0;
	} while (ready < 0 && errno == EINTR);
	if (ready < 0) {
		why = "poll on its pipe failed";
	} else if (ready == 1) {
		do {
			n = read(fds[0], &answer, 1);
		} while (n < 0 && errno == EINTR);
		if (n != 1) {
			answer = 0;
			why = "it exited first";
		} else if (answer != 'M') {
			why = "it could not migrate the id";
		}
	}
	close(fds[0]);
	if (answer == 'M') {
		/* The child owns the id now. rdma_destroy_id here would fail
		 * (EINVAL) and free nothing; the parent forgets it, which
		 * leaves librdmacm's small per-id record (documented). */
		request->id = NULL;
	} else {
		sd_log(NULL, "child %d for %s did not take the connection: "
			     "%s; rejected",
		       (int)pid, request->peer, why);
	}
	talloc_free(request);
	return pid;
}
