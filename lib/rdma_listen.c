/*
 * libsmbdirect: the passive side: listen, accept ([MS-SMBD] 3.1.7.2) in
 * this process or in a forked child that owns the connection.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Every accepted id is first moved onto an event channel of its own
 * (rdma_migrate_id), so the listener's channel only ever carries
 * connection requests, in this process and after fork alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rdma_private.h"

struct smbdirect_listener {
	struct tevent_context *ev;
	struct rdma_event_channel *channel;
	struct rdma_cm_id *id;
	struct sd_watch *watch;
	int backlog;
	smbdirect_request_fn on_request;
	void *private_data;
	struct sockaddr_storage address;
};

struct smbdirect_conn_request {
	struct smbdirect_listener *listener; /* NULL once migrated */
	struct rdma_event_channel *channel;  /* set once migrated */
	struct rdma_cm_id *id;
	uint8_t responder_resources;
	uint8_t initiator_depth;
	char peer[80];
};

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
		sd_log(NULL, "listener: rdma_get_cm_event: %s%s; not listening",
		       strerror(event->error),
		       event->error == EACCES
			       ? " (this thread's credentials changed after "
				 "the listener was opened)"
			       : "");
		return;
	}
	if (event->type != RDMA_CM_EVENT_CONNECT_REQUEST) {
		sd_log(NULL, "listener: ignoring %s", rdma_event_str(event->type));
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
	TALLOC_FREE(l->watch);
	sd_id_free(l->id);
	sd_channel_free(l->channel);
	return 0;
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
static int request_migrate(struct smbdirect_conn_request *r)
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
			ret = request_migrate(request);
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
		 * objects through them (fork-and-credentials.md). */
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

/* --- accept ------------------------------------------------------------ */

struct accept_state {
	struct tevent_context *ev;
	struct smbdirect_settings settings;
	struct smbdirect_conn_request *request;
	struct smbdirect_conn *conn;
	enum smbdirect_reason reason;
};

static void accept_setup_done(struct smbdirect_conn *conn, void *arg)
{
	struct tevent_req *req = arg;
	struct accept_state *state = tevent_req_data(req, struct accept_state);

	if (conn->connected) {
		tevent_req_done(req);
		return;
	}
	state->reason = conn->reason;
	tevent_req_error(req, conn->reason == SMBDIRECT_REASON_NEGOTIATE_TIMEOUT
				      ? ETIMEDOUT
				      : EPROTO);
}

static void accept_error(struct tevent_req *req, int error,
			 enum smbdirect_reason reason, const char *what)
{
	struct accept_state *state = tevent_req_data(req, struct accept_state);

	sd_log(NULL, "accepting %s failed: %s: %s",
	       state->request != NULL ? state->request->peer : "?", what,
	       strerror(error));
	state->reason = reason;
	tevent_req_error(req, error);
}

/* Runs where sd_call() runs it. */
static int accept_fn(void *arg)
{
	struct smbdirect_conn *conn = arg;
	struct rdma_conn_param param;

	memset(&param, 0, sizeof(param));
	param.qp_num = conn->qp->qp_num;
	param.responder_resources = conn->responder_resources;
	param.initiator_depth = conn->initiator_depth;
	param.retry_count = 6;
	param.rnr_retry_count = 0;
	param.flow_control = 1;
	return rdma_accept(conn->id, &param);
}

struct tevent_req *smbdirect_accept_send(void *mem_ctx,
					 struct tevent_context *ev,
					 struct smbdirect_conn_request *request,
					 const struct smbdirect_settings *settings)
{
	struct tevent_req *req;
	struct accept_state *state;
	struct smbdirect_conn *conn;
	int ret;

	req = tevent_req_create(mem_ctx, &state, struct accept_state);
	if (req == NULL) {
		return NULL;
	}
	state->ev = ev;
	state->request = talloc_steal(state, request);
	if (settings != NULL) {
		state->settings = *settings;
	} else {
		smbdirect_settings_default(&state->settings);
	}
	if (!smbdirect_settings_validate(&state->settings, NULL)) {
		accept_error(req, EINVAL, SMBDIRECT_REASON_INVALID_ARGUMENT,
			     "settings");
		return tevent_req_post(req, ev);
	}
	ret = request_migrate(request);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
			     "rdma_migrate_id");
		return tevent_req_post(req, ev);
	}
	conn = sd_conn_new(state, ev, SMBDIRECT_ROLE_RESPONDER,
			   &state->settings, request->channel, request->id,
			   NULL, &ret);
	if (conn == NULL) {
		accept_error(req, ret, SMBDIRECT_REASON_LOCAL_ERROR,
			     "creating the connection");
		return tevent_req_post(req, ev);
	}
	/* The connection owns id and channel from here. */
	conn->own_cm_channel = true;
	request->id = NULL;
	request->channel = NULL;
	state->conn = conn;
	snprintf(conn->peer, sizeof(conn->peer), "%s", request->peer);

	/* 3.1.7.2: post the receive for the negotiate request before
	 * accepting, and run the negotiate timer. */
	conn->setup_done = accept_setup_done;
	conn->setup_arg = req;
	if (smbdirect_engine_start(conn->engine, sd_now()) != 0 ||
	    conn->ended) {
		accept_error(req, EIO, conn->reason, "starting negotiation");
		return tevent_req_post(req, ev);
	}
	/* The CONNECT_REQUEST event gives the peer's values from this
	 * side's point of view (the kernel's rdma_cm swaps them): its
	 * initiator_depth is the peer's responder resources, the RDMA
	 * reads we may have in flight at the peer; its responder_resources
	 * is the peer's initiator depth. cifs.ko offers initiator depth 0
	 * and responder resources 32: the server RDMA-reads the client's
	 * WRITE data ([MS-SMB2] 3.3.5.13), the client reads nothing. */
	if (request->initiator_depth < conn->initiator_depth) {
		conn->initiator_depth = request->initiator_depth;
	}
	if (request->responder_resources < conn->responder_resources) {
		conn->responder_resources = request->responder_resources;
	}
	ret = sd_conn_qp_ready(conn);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "moving the QP to RTS");
		return tevent_req_post(req, ev);
	}
	if (sd_call(accept_fn, conn) != 0) {
		accept_error(req, errno, SMBDIRECT_REASON_TRANSPORT_ERROR,
			     "rdma_accept");
		return tevent_req_post(req, ev);
	}
	ret = sd_conn_watch(conn);
	if (ret != 0) {
		accept_error(req, ret, SMBDIRECT_REASON_NO_MEMORY, "watching");
		return tevent_req_post(req, ev);
	}
	sd_conn_update_timer(conn);
	return req;
}

int smbdirect_accept_recv(struct tevent_req *req, void *mem_ctx,
			  struct smbdirect_conn **conn,
			  enum smbdirect_reason *reason)
{
	struct accept_state *state = tevent_req_data(req, struct accept_state);
	enum tevent_req_state st;
	uint64_t err;

	if (tevent_req_is_error(req, &st, &err)) {
		if (reason != NULL) {
			*reason = state->reason != SMBDIRECT_REASON_NONE
					  ? state->reason
					  : SMBDIRECT_REASON_LOCAL_ERROR;
		}
		tevent_req_received(req);
		return err != 0 ? (int)err : EIO;
	}
	state->conn->setup_done = NULL;
	*conn = talloc_steal(mem_ctx, state->conn);
	state->conn = NULL;
	if (reason != NULL) {
		*reason = SMBDIRECT_REASON_NONE;
	}
	tevent_req_received(req);
	return 0;
}
