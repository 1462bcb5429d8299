/*
 * Unix SMB/CIFS implementation.
 * SMB-Direct ([MS-SMBD]) for Samba's SMB client through libsmbdirect.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 *
 * See smbdirect_client.h. Every libsmbdirect call runs on the pump
 * thread; a caller's thread only queues a call and waits for it
 * (pump_run()), and reads a connection's sizes from the registry.
 */

#include "replace.h"
#include "system/network.h"
#include "system/filesys.h"
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <talloc.h>
#include <tevent.h>
#include "lib/util/debug.h"
#include "lib/util/dlinklist.h"
#include "smbdirect_rdma.h"
#include "smbdirect_client.h"

/* Bounds on what the pump holds for one connection. */
#define SDC_SEND_BYTES_MAX (32u * 1024 * 1024) /* queued towards the server */
#define SDC_SEND_COUNT_MAX 512u
#define SDC_OUT_BYTES_MAX (256u * 1024 * 1024) /* towards smbXcli */
#define SDC_POOL_MAX 16u                        /* idle lent buffers */
#define SDC_MIN_BUFFER (64u * 1024)

/* SMB2 header and the READ response / WRITE request bodies, with slack,
 * that share a message with the data of a READ or WRITE. */
#define SDC_IO_OVERHEAD 256u

struct sdc_conn;

/* A call from a caller's thread, run on the pump thread. */
struct pump_call {
	struct pump_call *next;
	void (*fn)(struct pump_call *call);
	bool done;
	int err;
	/* arguments and results */
	struct sockaddr_storage ss;
	int timeout_ms;
	int threshold;
	int fd;
	bool has_settings;
	struct smbdirect_settings settings;
	struct smbdirect_conn_stats *stats;
	struct smbdirect_client_io *io;
	void *args;
	struct tevent_req *req;
	struct tevent_timer *timer;
};

/* Log from the pump thread (Samba's DEBUG is not made for threads). */
static void PRINTF_ATTRIBUTE(2, 3) sdc_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (debuglevel_get() < level) {
		return;
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* A connection as callers see it; guarded by pump.lock. */
struct sdc_entry {
	int fd;           /* the caller's end */
	dev_t dev;
	ino_t ino;        /* tells a reused descriptor number apart */
	uint64_t id;
	int threshold;
	struct smbdirect_params params;
	bool ended;
};

static struct {
	pthread_once_t once;
	int start_err;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int wake[2];
	struct pump_call *calls, **calls_tail;
	struct sdc_entry *entries;
	size_t num_entries;
	uint64_t next_id;
	/* the pump thread's own */
	TALLOC_CTX *mem;
	struct tevent_context *ev;
	struct sdc_conn *conns;
} pump = {
	.once = PTHREAD_ONCE_INIT,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.wake = { -1, -1 },
};

/* A lent buffer, idle in the pool or held by one I/O. */
struct sdc_buf {
	struct sdc_buf *next;
	struct smbdirect_buffer *buffer;
	size_t size;
};

/* A connection, on the pump thread. */
struct sdc_conn {
	struct sdc_conn *prev, *next;
	uint64_t id;
	struct smbdirect_conn *conn;
	char peer[INET6_ADDRSTRLEN + 8];
	int fd; /* the pump's end of the socketpair */
	TALLOC_CTX *io_mem; /* lent buffers and exposures */
	bool dying;
	struct tevent_fd *fde;
	/* from smbXcli: a 4-byte header, then the SMB2 message */
	uint8_t hdr[4];
	size_t hdr_got;
	uint8_t *msg;
	size_t msg_len, msg_got;
	size_t sends, send_bytes;
	/* towards smbXcli */
	struct sdc_out *out_head, *out_tail;
	size_t out_bytes;
	bool ended, eof_sent;
	struct sdc_buf *pool;
	size_t pool_count;
};

struct sdc_out {
	struct sdc_out *next;
	size_t len, done;
	uint8_t data[];
};

struct smbdirect_client_io {
	uint64_t conn_id;
	struct sdc_buf *buf;
	struct smbdirect_exposure *exposure; /* pump-side */
};

static void sdc_fd_handler(struct tevent_context *ev, struct tevent_fd *fde,
			   uint16_t flags, void *private_data);

static bool entry_get(int fd, struct sdc_entry *out);

bool smbdirect_samba_settings(smbdirect_samba_param_fn param,
			      struct smbdirect_settings *s, const char **why)
{
	struct smbdirect_settings d;

	smbdirect_settings_default(s);
	d = *s;
	s->receive_credit_max = param("receive credits", d.receive_credit_max);
	s->send_credit_target = param("send credits", d.send_credit_target);
	s->max_send_size = param("max send size", d.max_send_size);
	s->max_receive_size = param("max receive size", d.max_receive_size);
	s->max_fragmented_size = param("max fragmented size",
				       d.max_fragmented_size);
	s->max_read_write_size = param("max read write size",
				       d.max_read_write_size);
	s->keepalive_interval_ms = param("keepalive interval",
					 d.keepalive_interval_ms);
	s->negotiate_timeout_ms = param("negotiate timeout",
					d.negotiate_timeout_ms);
	if (!smbdirect_settings_validate(s, why)) {
		*s = d;
		return false;
	}
	return true;
}

/* --- the pump thread ------------------------------------------------ */

static void call_done(struct pump_call *call, int err)
{
	pthread_mutex_lock(&pump.lock);
	call->err = err;
	call->done = true;
	pthread_cond_broadcast(&pump.cond);
	pthread_mutex_unlock(&pump.lock);
}

static void pump_wake_handler(struct tevent_context *ev,
			      struct tevent_fd *fde, uint16_t flags,
			      void *private_data)
{
	char drain[64];
	struct pump_call *calls;

	while (read(pump.wake[0], drain, sizeof(drain)) > 0) {
	}
	pthread_mutex_lock(&pump.lock);
	calls = pump.calls;
	pump.calls = NULL;
	pump.calls_tail = &pump.calls;
	pthread_mutex_unlock(&pump.lock);
	while (calls != NULL) {
		struct pump_call *call = calls;

		calls = call->next;
		call->fn(call);
	}
}

static void *pump_main(void *arg)
{
	sigset_t all;

	(void)arg;
	/* Signals are the caller's threads' business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		tevent_loop_once(pump.ev);
	}
	return NULL;
}

static void pump_start(void)
{
	int flags;

	if (pipe(pump.wake) != 0) {
		pump.start_err = errno;
		return;
	}
	flags = fcntl(pump.wake[0], F_GETFL);
	fcntl(pump.wake[0], F_SETFL, flags | O_NONBLOCK);
	fcntl(pump.wake[0], F_SETFD, FD_CLOEXEC);
	fcntl(pump.wake[1], F_SETFD, FD_CLOEXEC);
	pump.calls_tail = &pump.calls;
	pump.mem = talloc_named_const(NULL, 0, "smbdirect_client pump");
	pump.ev = tevent_context_init(pump.mem);
	if (pump.ev == NULL ||
	    tevent_add_fd(pump.ev, pump.mem, pump.wake[0], TEVENT_FD_READ,
			  pump_wake_handler, NULL) == NULL) {
		pump.start_err = ENOMEM;
		return;
	}
	pump.start_err = pthread_create(&pump.thread, NULL, pump_main, NULL);
	if (pump.start_err == 0) {
		pthread_detach(pump.thread);
	}
}

/* Run @p call on the pump thread and wait until it completes; every call
 * completes (connection set-up has its own timer). */
static int pump_run(struct pump_call *call)
{
	ssize_t n;

	pthread_once(&pump.once, pump_start);
	if (pump.start_err != 0) {
		return pump.start_err;
	}
	pthread_mutex_lock(&pump.lock);
	call->next = NULL;
	call->done = false;
	*pump.calls_tail = call;
	pump.calls_tail = &call->next;
	pthread_mutex_unlock(&pump.lock);
	do {
		n = write(pump.wake[1], "", 1);
	} while (n == -1 && errno == EINTR);
	pthread_mutex_lock(&pump.lock);
	while (!call->done) {
		pthread_cond_wait(&pump.cond, &pump.lock);
	}
	pthread_mutex_unlock(&pump.lock);
	return call->err;
}

static struct sdc_conn *sdc_find(uint64_t id)
{
	struct sdc_conn *c;

	for (c = pump.conns; c != NULL; c = c->next) {
		if (c->id == id) {
			return c;
		}
	}
	return NULL;
}

static void entry_mark_ended(uint64_t id, bool remove)
{
	size_t i;

	pthread_mutex_lock(&pump.lock);
	for (i = 0; i < pump.num_entries; i++) {
		if (pump.entries[i].id != id) {
			continue;
		}
		pump.entries[i].ended = true;
		if (remove) {
			pump.entries[i] = pump.entries[--pump.num_entries];
		}
		break;
	}
	pthread_mutex_unlock(&pump.lock);
}

/* Towards smbXcli: after the last queued byte, its reads see the end. */
static void sdc_flush_end(struct sdc_conn *c)
{
	if (c->ended && c->out_head == NULL && !c->eof_sent) {
		shutdown(c->fd, SHUT_WR);
		c->eof_sent = true;
	}
}

static void sdc_end(struct sdc_conn *c, const char *why)
{
	if (c->ended) {
		return;
	}
	c->ended = true;
	if (why != NULL) {
		sdc_log(0, "smbdirect: peer %s: %s; ending the connection\n",
			c->peer, why);
	}
	smbdirect_disconnect(c->conn);
	entry_mark_ended(c->id, false);
	/* still read: smbXcli closing its end frees the connection */
	TEVENT_FD_READABLE(c->fde);
	sdc_flush_end(c);
}

static int sdc_conn_destructor(struct sdc_conn *c)
{
	c->dying = true;
	DLIST_REMOVE(pump.conns, c);
	entry_mark_ended(c->id, true);
	TALLOC_FREE(c->fde);
	/* exposures and lent buffers before the connection that holds
	 * their registrations; then the connection, whose pending sends
	 * fail (sdc_send_done() sees dying) */
	c->pool = NULL;
	TALLOC_FREE(c->io_mem);
	TALLOC_FREE(c->conn);
	if (c->fd != -1) {
		close(c->fd);
	}
	return 0;
}

/* Queue bytes for smbXcli after what is already queued. */
static bool sdc_out_queue(struct sdc_conn *c, const uint8_t *a, size_t alen,
			  const uint8_t *b, size_t blen)
{
	struct sdc_out *o;

	if (c->out_bytes + alen + blen > SDC_OUT_BYTES_MAX) {
		sdc_end(c, "the SMB client reads nothing (too much queued)");
		return false;
	}
	o = talloc_size(c, sizeof(*o) + alen + blen);
	if (o == NULL) {
		sdc_end(c, "out of memory");
		return false;
	}
	talloc_set_name_const(o, "struct sdc_out");
	o->next = NULL;
	o->len = alen + blen;
	o->done = 0;
	memcpy(o->data, a, alen);
	if (blen > 0) {
		memcpy(o->data + alen, b, blen);
	}
	if (c->out_tail != NULL) {
		c->out_tail->next = o;
	} else {
		c->out_head = o;
	}
	c->out_tail = o;
	c->out_bytes += o->len;
	TEVENT_FD_WRITEABLE(c->fde);
	return true;
}

/* [MS-SMBD] 3.1.5.8: one upper-layer message is one SMB2 message; it goes
 * to smbXcli with direct TCP's 4-byte header ([MS-SMB2] 2.1). */
static void sdc_message(struct smbdirect_conn *conn, const uint8_t *data,
			size_t length, void *private_data)
{
	struct sdc_conn *c = private_data;
	uint8_t hdr[4] = { 0, (uint8_t)(length >> 16), (uint8_t)(length >> 8),
			   (uint8_t)length };
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = discard_const_p(uint8_t, data),
		  .iov_len = length },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n = 0;

	(void)conn;
	if (c->ended) {
		return;
	}
	if (length > 0xFFFFFF) {
		sdc_end(c, "a message too long for the client's framing");
		return;
	}
	if (c->out_head == NULL) {
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				sdc_end(c, NULL);
				return;
			}
			n = 0;
		}
	}
	if ((size_t)n >= sizeof(hdr) + length) {
		return;
	}
	if ((size_t)n < sizeof(hdr)) {
		sdc_out_queue(c, hdr + n, sizeof(hdr) - n, data, length);
	} else {
		sdc_out_queue(c, data + (n - sizeof(hdr)),
			      length - (n - sizeof(hdr)), NULL, 0);
	}
}

static void sdc_disconnected(struct smbdirect_conn *conn,
			     enum smbdirect_reason reason, const char *detail,
			     void *private_data)
{
	struct sdc_conn *c = private_data;

	(void)conn;
	if (!c->ended) {
		sdc_log(1, "smbdirect: peer %s: the connection ended: %s%s%s\n",
			   c->peer, smbdirect_reason_string(reason),
			   detail != NULL ? ": " : "",
			   detail != NULL ? detail : "");
	}
	sdc_end(c, NULL);
}

struct sdc_send {
	struct sdc_conn *c;
	size_t len;
};

static void sdc_send_done(struct tevent_req *req)
{
	struct sdc_send *s = tevent_req_callback_data_void(req);
	struct sdc_conn *c = s->c;
	int err = smbdirect_send_recv(req);

	c->sends -= 1;
	c->send_bytes -= s->len;
	/* frees the message with the request */
	talloc_free(talloc_parent(req));
	if (c->dying) {
		return;
	}
	if (err != 0) {
		sdc_end(c, err == EMSGSIZE ?
			"an SMB2 message larger than the server's "
			"MaxFragmentedSize" : NULL);
		return;
	}
	if (!c->ended) {
		TEVENT_FD_READABLE(c->fde);
	}
}

/* A whole SMB2 message from smbXcli: send it ([MS-SMBD] 3.1.4.2). */
static void sdc_submit(struct sdc_conn *c)
{
	struct iovec iov = { .iov_base = c->msg, .iov_len = c->msg_len };
	struct sdc_send *s;
	struct tevent_req *req;

	s = talloc(c->msg, struct sdc_send);
	if (s == NULL) {
		sdc_end(c, "out of memory");
		return;
	}
	s->c = c;
	s->len = c->msg_len;
	req = smbdirect_send_send(c->msg, pump.ev, c->conn, &iov, 1);
	if (req == NULL) {
		sdc_end(c, "out of memory");
		return;
	}
	tevent_req_set_callback(req, sdc_send_done, s);
	c->msg = NULL; /* owned by its send now */
	c->sends += 1;
	c->send_bytes += s->len;
	if (c->sends >= SDC_SEND_COUNT_MAX ||
	    c->send_bytes >= SDC_SEND_BYTES_MAX) {
		TEVENT_FD_NOT_READABLE(c->fde);
	}
}

static void sdc_read(struct sdc_conn *c)
{
	ssize_t n;

	if (c->ended) {
		uint8_t discard[4096];

		n = read(c->fd, discard, sizeof(discard));
		if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR)) {
			talloc_free(c);
		}
		return;
	}
	if (c->hdr_got < sizeof(c->hdr)) {
		n = read(c->fd, c->hdr + c->hdr_got,
			 sizeof(c->hdr) - c->hdr_got);
	} else {
		n = read(c->fd, c->msg + c->msg_got, c->msg_len - c->msg_got);
	}
	if (n == 0) {
		/* smbXcli closed its end: the connection is over */
		talloc_free(c);
		return;
	}
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			talloc_free(c);
		}
		return;
	}
	if (c->hdr_got < sizeof(c->hdr)) {
		c->hdr_got += n;
		if (c->hdr_got < sizeof(c->hdr)) {
			return;
		}
		if (c->hdr[0] != 0) {
			sdc_end(c, "the SMB client sent a non-SMB2 frame");
			return;
		}
		c->msg_len = ((size_t)c->hdr[1] << 16) |
			     ((size_t)c->hdr[2] << 8) | c->hdr[3];
		c->msg_got = 0;
		if (c->msg_len == 0) {
			c->hdr_got = 0;
			return;
		}
		c->msg = talloc_size(c, c->msg_len);
		if (c->msg == NULL) {
			sdc_end(c, "out of memory");
		}
		return;
	}
	c->msg_got += n;
	if (c->msg_got == c->msg_len) {
		c->hdr_got = 0;
		sdc_submit(c);
	}
}

static void sdc_write(struct sdc_conn *c)
{
	while (c->out_head != NULL) {
		struct sdc_out *o = c->out_head;
		ssize_t n = send(c->fd, o->data + o->done, o->len - o->done,
				 MSG_NOSIGNAL);

		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR) {
				return;
			}
			sdc_end(c, NULL);
			/* smbXcli is gone: drop what was queued */
			while (c->out_head != NULL) {
				o = c->out_head;
				c->out_head = o->next;
				talloc_free(o);
			}
			c->out_tail = NULL;
			c->out_bytes = 0;
			break;
		}
		o->done += n;
		c->out_bytes -= n;
		if (o->done < o->len) {
			return;
		}
		c->out_head = o->next;
		if (c->out_head == NULL) {
			c->out_tail = NULL;
		}
		talloc_free(o);
	}
	TEVENT_FD_NOT_WRITEABLE(c->fde);
	sdc_flush_end(c);
}

static void sdc_fd_handler(struct tevent_context *ev, struct tevent_fd *fde,
			   uint16_t flags, void *private_data)
{
	struct sdc_conn *c = private_data;

	(void)ev;
	(void)fde;
	if (flags & TEVENT_FD_WRITE) {
		sdc_write(c);
	}
	if (flags & TEVENT_FD_READ) {
		/* may free c */
		sdc_read(c);
	}
}

static void connect_timeout(struct tevent_context *ev,
			    struct tevent_timer *te, struct timeval now,
			    void *private_data)
{
	struct pump_call *call = private_data;

	(void)ev;
	(void)te;
	(void)now;
	TALLOC_FREE(call->req);
	call_done(call, ETIMEDOUT);
}

static void connect_done(struct tevent_req *req)
{
	struct pump_call *call = tevent_req_callback_data_void(req);
	struct smbdirect_conn *conn = NULL;
	struct sdc_conn *c;
	struct sdc_entry *entries;
	struct smbdirect_conn_handlers handlers = {
		.message = sdc_message,
		.disconnected = sdc_disconnected,
	};
	struct stat st;
	int err, sv[2];

	err = smbdirect_connect_recv(req, pump.mem, &conn, NULL);
	call->req = NULL;
	TALLOC_FREE(req);
	TALLOC_FREE(call->timer);
	if (err != 0) {
		call_done(call, err);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		err = errno;
		talloc_free(conn);
		call_done(call, err);
		return;
	}
	c = talloc_zero(pump.mem, struct sdc_conn);
	if (c != NULL) {
		c->io_mem = talloc_new(c);
	}
	if (c == NULL || c->io_mem == NULL || fstat(sv[0], &st) != 0) {
		talloc_free(c);
		talloc_free(conn);
		close(sv[0]);
		close(sv[1]);
		call_done(call, ENOMEM);
		return;
	}
	c->fd = sv[1];
	talloc_steal(c, conn);
	c->conn = conn;
	c->id = ++pump.next_id;
	snprintf(c->peer, sizeof(c->peer), "%s", smbdirect_conn_peer(conn));
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	DLIST_ADD(pump.conns, c);
	talloc_set_destructor(c, sdc_conn_destructor);
	c->fde = tevent_add_fd(pump.ev, c, c->fd, TEVENT_FD_READ,
			       sdc_fd_handler, c);

	pthread_mutex_lock(&pump.lock);
	entries = talloc_realloc(pump.mem, pump.entries, struct sdc_entry,
				 pump.num_entries + 1);
	if (entries != NULL) {
		pump.entries = entries;
		entries[pump.num_entries++] = (struct sdc_entry) {
			.fd = sv[0],
			.dev = st.st_dev,
			.ino = st.st_ino,
			.id = c->id,
			.threshold = call->threshold,
			.params = *smbdirect_conn_params(conn),
		};
	}
	pthread_mutex_unlock(&pump.lock);
	if (c->fde == NULL || entries == NULL) {
		talloc_free(c);
		close(sv[0]);
		call_done(call, ENOMEM);
		return;
	}
	smbdirect_conn_set_handlers(conn, &handlers, c);
	sdc_log(2, "smbdirect: connected to %s (MaxReadWriteSize %u, "
		   "MaxFragmentedSize %u)\n", c->peer,
		   smbdirect_conn_params(conn)->max_read_write_size,
		   smbdirect_conn_params(conn)->max_fragmented_send_size);
	call->fd = sv[0];
	call_done(call, 0);
}

static void connect_start(struct pump_call *call)
{
	call->req = smbdirect_connect_send(pump.mem, pump.ev,
					   (const struct sockaddr *)&call->ss,
					   NULL,
					   call->has_settings ? &call->settings
							      : NULL,
					   call->timeout_ms);
	call->timer = tevent_add_timer(
		pump.ev, pump.mem,
		tevent_timeval_current_ofs(call->timeout_ms / 1000 + 5,
					   (call->timeout_ms % 1000) * 1000),
		connect_timeout, call);
	if (call->req == NULL || call->timer == NULL) {
		TALLOC_FREE(call->req);
		TALLOC_FREE(call->timer);
		call_done(call, ENOMEM);
		return;
	}
	tevent_req_set_callback(call->req, connect_done, call);
}

static int connect_port(const struct sockaddr_storage *ss, uint16_t port,
			int timeout_ms,
			const struct smbdirect_settings *settings,
			int threshold, int *pfd)
{
	struct pump_call call = {
		.fn = connect_start,
		.ss = *ss,
		.timeout_ms = timeout_ms,
		.threshold = threshold,
		.fd = -1,
	};
	int err;

	if (settings != NULL) {
		call.settings = *settings;
		call.has_settings = true;
	}

	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)&call.ss)->sin_port = htons(port);
	} else if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&call.ss)->sin6_port = htons(port);
	} else {
		return EAFNOSUPPORT;
	}
	err = pump_run(&call);
	if (err == 0) {
		*pfd = call.fd;
	}
	return err;
}

int smbdirect_client_connect(const struct sockaddr_storage *ss,
			     uint16_t port, int timeout_ms,
			     smbdirect_samba_param_fn param,
			     int rdma_threshold, int *pfd)
{
	struct smbdirect_settings storage, *settings = NULL;
	const char *why = NULL;
	int err;

	if (param != NULL) {
		if (!smbdirect_samba_settings(param, &storage, &why)) {
			fprintf(stderr, "smbdirect: %s; using the defaults\n",
				why);
		}
		settings = &storage;
	}

	if (timeout_ms <= 0) {
		timeout_ms = 20000;
	}
	if (port != 0) {
		return connect_port(ss, port, timeout_ms, settings,
				    rdma_threshold, pfd);
	}
	err = connect_port(ss, 445, timeout_ms, settings, rdma_threshold, pfd);
	if (err == ECONNREFUSED) {
		err = connect_port(ss, SMBDIRECT_DEFAULT_PORT, timeout_ms,
				   settings, rdma_threshold, pfd);
	}
	return err;
}

static void stats_get(struct pump_call *call)
{
	struct sdc_conn *c = sdc_find(*(uint64_t *)call->args);

	if (c == NULL) {
		call_done(call, ENOTCONN);
		return;
	}
	smbdirect_conn_get_stats(c->conn, call->stats);
	call_done(call, 0);
}

int smbdirect_client_get_stats(int fd, struct smbdirect_conn_stats *stats)
{
	struct sdc_entry e;
	struct pump_call call = { .fn = stats_get, .stats = stats };

	if (!entry_get(fd, &e)) {
		return ENOTCONN;
	}
	call.args = &e.id;
	return pump_run(&call);
}

bool smbdirect_client_get_params(int fd, struct smbdirect_params *params)
{
	struct sdc_entry e;

	if (!entry_get(fd, &e)) {
		return false;
	}
	*params = e.params;
	return true;
}

/* --- lookups from a caller's thread ----------------------------------- */

/* Copy of the entry of @p fd, if it is a live SMB-Direct connection. */
static bool entry_get(int fd, struct sdc_entry *out)
{
	struct stat st;
	bool found = false;
	size_t i;

	if (fd < 0 || pump.num_entries == 0 || fstat(fd, &st) != 0) {
		return false;
	}
	pthread_mutex_lock(&pump.lock);
	for (i = 0; i < pump.num_entries; i++) {
		struct sdc_entry *e = &pump.entries[i];

		if (e->fd == fd && e->dev == st.st_dev && e->ino == st.st_ino) {
			*out = *e;
			found = true;
			break;
		}
	}
	pthread_mutex_unlock(&pump.lock);
	return found;
}

bool smbdirect_client_fd_is_smbdirect(int fd)
{
	struct sdc_entry e;

	return entry_get(fd, &e);
}

/* The largest READ or WRITE whose data travels in the SMB2 message. */
static uint32_t inline_io_max(const struct sdc_entry *e)
{
	uint32_t m = MIN(e->params.max_fragmented_send_size,
			 e->params.max_fragmented_receive_size);

	return m > SDC_IO_OVERHEAD ? m - SDC_IO_OVERHEAD : 0;
}

void smbdirect_client_cap_sizes(int fd, uint32_t *max_trans,
				uint32_t *max_read, uint32_t *max_write)
{
	struct sdc_entry e;
	uint32_t inline_max, io_max;

	if (!entry_get(fd, &e)) {
		return;
	}
	inline_max = inline_io_max(&e);
	io_max = e.threshold < 0 ? inline_max :
		 MAX(inline_max, e.params.max_read_write_size);
	*max_trans = MIN(*max_trans, inline_max);
	*max_read = MIN(*max_read, io_max);
	*max_write = MIN(*max_write, io_max);
}

bool smbdirect_client_want_rdma(int fd, uint32_t length)
{
	struct sdc_entry e;

	if (!entry_get(fd, &e) || e.ended) {
		return false;
	}
	if (length > inline_io_max(&e)) {
		return true; /* [MS-SMBD] 3.1.1.1: it cannot go in a message */
	}
	return e.threshold >= 0 && length >= (uint32_t)e.threshold;
}

/* --- exposures --------------------------------------------------------- */

struct io_args {
	struct smbdirect_client_io *io;
	uint32_t length;
	bool server_writes;
	const uint8_t *data;
	uint8_t *info;
	size_t info_size;
	size_t info_len;
};

static size_t buf_size_for(size_t length)
{
	size_t s = SDC_MIN_BUFFER;

	while (s < length) {
		s *= 2;
	}
	return s;
}

static void io_start(struct pump_call *call)
{
	struct io_args *a = call->args;
	struct smbdirect_client_io *io = a->io;
	struct sdc_conn *c = sdc_find(io->conn_id);
	struct smbdirect_buffer_descriptor descs[SMBDIRECT_CLIENT_MAX_DESCRIPTORS];
	struct sdc_buf **pb, *b = NULL;
	size_t size = buf_size_for(a->length), count = 0;

	if (c == NULL || c->ended) {
		call_done(call, ENOTCONN);
		return;
	}
	for (pb = &c->pool; *pb != NULL; pb = &(*pb)->next) {
		if ((*pb)->size == size) {
			b = *pb;
			*pb = b->next;
			c->pool_count -= 1;
			break;
		}
	}
	if (b == NULL) {
		b = talloc_zero(c->io_mem, struct sdc_buf);
		if (b == NULL) {
			call_done(call, ENOMEM);
			return;
		}
		b->size = size;
		b->buffer = smbdirect_buffer_new(b, c->conn, size);
		if (b->buffer == NULL) {
			int err = errno;

			talloc_free(b);
			call_done(call, err);
			return;
		}
	}
	b->next = NULL;
	io->buf = b;
	if (!a->server_writes) {
		memcpy(smbdirect_buffer_data(b->buffer), a->data, a->length);
	}
	/* [MS-SMBD] 3.1.4.3: exposed for this I/O only; the rkey dies when
	 * the exposure is freed, or at the server's Send-with-Invalidate. */
	io->exposure = smbdirect_expose(c->io_mem, c->conn, b->buffer, 0, a->length,
					a->server_writes, descs,
					ARRAY_SIZE(descs), &count);
	if (io->exposure == NULL) {
		call_done(call, errno != 0 ? errno : EINVAL);
		return;
	}
	a->info_len = smbdirect_buffer_descriptors_encode(descs, count,
							  a->info,
							  a->info_size);
	call_done(call, a->info_len == 0 ? EINVAL : 0);
}

static void io_end(struct pump_call *call)
{
	struct smbdirect_client_io *io = call->io;
	struct sdc_conn *c = sdc_find(io->conn_id);
	struct sdc_buf *b = io->buf;

	if (c == NULL) {
		/* the connection, and so its buffers, went already */
		call_done(call, 0);
		return;
	}
	TALLOC_FREE(io->exposure);
	if (b != NULL) {
		if (c->pool_count < SDC_POOL_MAX && !c->ended) {
			b->next = c->pool;
			c->pool = b;
			c->pool_count += 1;
		} else {
			talloc_free(b);
		}
	}
	call_done(call, 0);
}

static int io_destructor(struct smbdirect_client_io *io)
{
	struct pump_call call = { .fn = io_end, .io = io };

	if (io->buf != NULL || io->exposure != NULL) {
		pump_run(&call);
	}
	return 0;
}

struct smbdirect_client_io *smbdirect_client_io_new(
	void *mem_ctx, int fd, uint32_t length, bool server_writes,
	const uint8_t *data, uint8_t *channel_info, size_t info_size,
	size_t *info_len)
{
	struct sdc_entry e;
	struct smbdirect_client_io *io;
	struct io_args a = {
		.length = length,
		.server_writes = server_writes,
		.data = data,
		.info = channel_info,
		.info_size = info_size,
	};
	struct pump_call call = { .fn = io_start, .args = &a };
	int err;

	if (!entry_get(fd, &e) || e.ended) {
		errno = ENOTCONN;
		return NULL;
	}
	if (length == 0 || length > e.params.max_read_write_size ||
	    (!server_writes && data == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	io = talloc_zero(mem_ctx, struct smbdirect_client_io);
	if (io == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	io->conn_id = e.id;
	talloc_set_destructor(io, io_destructor);
	a.io = io;
	err = pump_run(&call);
	if (err != 0) {
		talloc_free(io);
		errno = err;
		return NULL;
	}
	*info_len = a.info_len;
	return io;
}

const uint8_t *smbdirect_client_io_data(struct smbdirect_client_io *io)
{
	return smbdirect_buffer_data(io->buf->buffer);
}

bool smbdirect_client_io_invalidated(struct smbdirect_client_io *io)
{
	/* set on the pump thread before the response reached the socket
	 * the caller read it from */
	return io->exposure != NULL &&
	       smbdirect_exposure_invalidated(io->exposure);
}
