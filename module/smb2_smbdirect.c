/*
 * Unix SMB/CIFS implementation.
 * SMB-Direct ([MS-SMBD]) for smbd through libsmbdirect: the glue.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This program is free software; you can redistribute it and/or modify
 * it under the terms of the GNU General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or
 * (at your option) any later version.
 *
 * See smb2_smbdirect.h. No protocol logic lives here: [MS-SMBD] is the
 * library's, [MS-SMB2] smbd's; this file connects the two.
 */

#include "includes.h"
#include "smbd/smbd.h"
#include "smbd/globals.h"
#include "system/network.h"
#include "lib/util/tevent_ntstatus.h"
#include "libcli/smb/smb_common.h"
#include "smbdirect_rdma.h"
#include "smbdirect_relay.h"
#include "smb2_smbdirect.h"
#include "libcli/smb/smbdirect_client.h"

#undef DBGC_CLASS
#define DBGC_CLASS DBGC_SMB2

/* The most buffer descriptors one READ or WRITE may carry: Windows sends
 * 17 to 31 per WRITE. */
#define SMBD_SMBDIRECT_MAX_DESCRIPTORS 64

/* Lent buffers kept for reuse per connection, in bytes: beyond this a
 * buffer is registered for one I/O and freed after it. */
#define SMBD_SMBDIRECT_POOL_BYTES (64u * 1024 * 1024)

/* A registered buffer lent to one READ or WRITE. */
struct smbd_smbdirect_buf {
	struct smbd_smbdirect_buf *prev, *next;
	struct smbdirect_buffer *buffer;
	size_t size;
};

struct smbd_smbdirect_io;

/* One SMB-Direct connection of this smbd. */
struct smbd_smbdirect_conn {
	struct smbdirect_conn *conn;
	struct smbXsrv_connection *xconn;
	struct tevent_context *ev;
	bool negotiated;                 /* the SMB2 NEGOTIATE came */
	struct smbd_smbdirect_buf *pool; /* free lent buffers */
	size_t pool_bytes;
	struct smbd_smbdirect_io *ios;   /* READs and WRITEs holding one */
	/* Multichannel: this process will relay the connection for the
	 * smbd that owns the client (smbd_smbdirect_relay_prepare()): its
	 * end of the socket, and the end passed to the owner. */
	int relay_fd;
	int relay_peer_fd;
};

/* The RDMA channel of one READ or WRITE ([MS-SMB2] 3.3.5.12, 3.3.5.13). */
struct smbd_smbdirect_io {
	struct smbd_smbdirect_io *prev, *next;
	struct smbd_smbdirect_conn *sc;  /* NULL once the connection went */
	struct smbd_smbdirect_buf *buf;
	bool client_reads;               /* READ: we RDMA-write */
	struct smbdirect_buffer_descriptor descs[SMBD_SMBDIRECT_MAX_DESCRIPTORS];
	size_t count;
};

/* The connection accepted by smbd_smbdirect_child_accept(), waiting for
 * smbd_process() -> smbd_add_connection(). */
static struct smbd_smbdirect_conn *smbd_smbdirect_pending;

/* --- the library's log in smbd's log ------------------------------------ */

static void smbd_smbdirect_log(void *private_data,
			       enum smbdirect_log_level level,
			       const struct smbdirect_conn *conn,
			       const char *peer, const char *message)
{
	int lvl;

	switch (level) {
	case SMBDIRECT_LOG_ERROR:
		lvl = DBGLVL_ERR;
		break;
	case SMBDIRECT_LOG_WARNING:
		lvl = DBGLVL_WARNING;
		break;
	case SMBDIRECT_LOG_NOTICE:
		lvl = DBGLVL_NOTICE;
		break;
	case SMBDIRECT_LOG_INFO:
		lvl = DBGLVL_INFO;
		break;
	default:
		lvl = DBGLVL_DEBUG;
		break;
	}
	DEBUG(lvl, ("smbdirect: peer %s: %s\n", peer != NULL ? peer : "?",
		    message));
}

/* --- settings: "smbdirect:" parametric options -------------------------- */

static int smbd_smbdirect_param(const char *name, int def)
{
	return lp_parm_int(-1, "smbdirect", name, def);
}

static void smbd_smbdirect_settings(struct smbdirect_settings *s)
{
	const char *why = NULL;

	if (!smbdirect_samba_settings(smbd_smbdirect_param, s, &why)) {
		DBG_ERR("smbdirect: %s; using the defaults\n", why);
	}
}

/* --- the parent: listeners ------------------------------------------------- */

struct smbd_smbdirect_listeners {
	struct smbdirect_listener **l;
	size_t count;
	smbd_smbdirect_request_fn fn;
	void *private_data;
};

/* The parent's listeners; a forked child forgets them. */
static struct smbd_smbdirect_listeners *smbd_smbdirect_listeners;

static void smbd_smbdirect_request(struct smbdirect_listener *listener,
				   struct smbdirect_conn_request *request,
				   void *private_data)
{
	struct smbd_smbdirect_listeners *ls = private_data;

	DBG_INFO("smbdirect: connection request from %s\n",
		 smbdirect_conn_request_peer(request));
	ls->fn(listener, request, ls->private_data);
}

static void smbd_smbdirect_listen_one(struct smbd_smbdirect_listeners *ls,
				      struct tevent_context *ev,
				      const struct sockaddr_storage *ss,
				      uint16_t port)
{
	struct sockaddr_storage addr = *ss;
	struct smbdirect_listener **l;
	char text[INET6_ADDRSTRLEN] = "?";
	int ret;

	set_sockaddr_port((struct sockaddr *)&addr, port);
	print_sockaddr(text, sizeof(text), &addr);
	l = talloc_realloc(ls, ls->l, struct smbdirect_listener *,
			   ls->count + 1);
	if (l == NULL) {
		return;
	}
	ls->l = l;
	ret = smbdirect_listen(ls, ev, (struct sockaddr *)&addr,
			       lp_parm_int(-1, "smbdirect", "backlog", 64),
			       smbd_smbdirect_request, ls, &l[ls->count]);
	if (ret != 0) {
		/* No RDMA device for this address, or the port is taken
		 * (iWARP shares TCP's ports: 445 is smbd's own). */
		DBG_NOTICE("smbdirect: not listening on %s port %u: %s\n",
			   text, port, strerror(ret));
		return;
	}
	DBG_NOTICE("smbdirect: listening on %s port %u\n", text, port);
	ls->count += 1;
}

/* smbdirect:thread = rdma (the default) or caller. */
static enum smbdirect_thread_mode smbd_smbdirect_thread_mode(void)
{
	const char *name = lp_parm_const_string(-1, "smbdirect", "thread",
						"rdma");

	return strequal(name, "caller") ? SMBDIRECT_THREAD_MODE_CALLER
					: SMBDIRECT_THREAD_MODE_RDMA_THREAD;
}

int smbd_smbdirect_open_listeners(TALLOC_CTX *mem_ctx,
				  struct tevent_context *ev,
				  smbd_smbdirect_request_fn fn,
				  void *private_data)
{
	struct smbd_smbdirect_listeners *ls;
	const char *ports = lp_parm_const_string(-1, "smbdirect", "ports",
						 "5445 445");
	char *list;
	char *tok;
	char *save = NULL;
	int ret;

	smbdirect_set_log_fn(smbd_smbdirect_log, NULL);
	/* The parent changes its credentials too (exit_server's
	 * change_to_root_user(), become_root() in housekeeping), and the
	 * kernel refuses rdma_cm and verbs commands from a process whose
	 * credentials changed since it opened the fd: the listeners' events
	 * are read on the library's thread, started here as root
	 * (docs/fork-and-credentials.md). Measured: in caller mode the
	 * parent's exit logged "ucma_write: process ... changed security
	 * contexts". */
	ret = smbdirect_set_thread_mode(smbd_smbdirect_thread_mode());
	if (ret != 0) {
		DBG_ERR("smbdirect: starting the RDMA thread failed: %s; "
			"serving TCP only\n", strerror(ret));
		return 0;
	}
	ls = talloc_zero(mem_ctx, struct smbd_smbdirect_listeners);
	list = talloc_strdup(ls, ports);
	if (ls == NULL || list == NULL) {
		TALLOC_FREE(ls);
		return 0;
	}
	ls->fn = fn;
	ls->private_data = private_data;
	for (tok = strtok_r(list, " ,", &save); tok != NULL;
	     tok = strtok_r(NULL, " ,", &save)) {
		int port = atoi(tok);

		if (port <= 0 || port > 65535) {
			DBG_ERR("smbdirect:ports: '%s' is no port\n", tok);
			continue;
		}
		if (lp_interfaces() && lp_bind_interfaces_only()) {
			int i;

			for (i = 0; i < iface_count(); i++) {
				const struct sockaddr_storage *ss =
					iface_n_sockaddr_storage(i);

				/* Not loopback (rdma_cm would bind it to
				 * any device and take the port from the
				 * real address), nor an interface without
				 * an RDMA device. */
				if (!smbdirect_address_is_rdma(
					    (const struct sockaddr *)ss)) {
					char text[INET6_ADDRSTRLEN] = "?";

					print_sockaddr(text, sizeof(text), ss);
					DBG_INFO("smbdirect: %s has no RDMA "
						 "device; not listening there\n",
						 text);
					continue;
				}
				smbd_smbdirect_listen_one(ls, ev, ss,
							  (uint16_t)port);
			}
		} else {
			struct sockaddr_storage any;

			interpret_string_addr(&any, "0.0.0.0",
					      AI_NUMERICHOST | AI_PASSIVE);
			smbd_smbdirect_listen_one(ls, ev, &any, (uint16_t)port);
		}
	}
	if (ls->count == 0) {
		DBG_ERR("smbdirect: \"smb direct = yes\", but no RDMA listener "
			"could be opened (no RDMA device?); serving TCP only\n");
		TALLOC_FREE(ls);
		return 0;
	}
	smbd_smbdirect_listeners = ls;
	return (int)ls->count;
}

void smbd_smbdirect_forget_listeners(void)
{
	struct smbd_smbdirect_listeners *ls = smbd_smbdirect_listeners;
	size_t i;

	if (ls == NULL) {
		return;
	}
	for (i = 0; i < ls->count; i++) {
		smbdirect_listener_forget(ls->l[i]);
	}
	smbd_smbdirect_listeners = NULL;
}

/* --- the child: take the connection ----------------------------------------- */

/* Lent buffers belong to the connection's protection domain: they go
 * before it (the connection's end, or its move to a relay). Requests
 * holding one keep their io, without buffer or connection. */
static void smbd_smbdirect_drop_buffers(struct smbd_smbdirect_conn *sc)
{
	struct smbd_smbdirect_io *io;

	while ((io = sc->ios) != NULL) {
		DLIST_REMOVE(sc->ios, io);
		if (io->buf != NULL) {
			TALLOC_FREE(io->buf->buffer);
			TALLOC_FREE(io->buf);
		}
		io->sc = NULL;
	}
	while (sc->pool != NULL) {
		struct smbd_smbdirect_buf *b = sc->pool;

		DLIST_REMOVE(sc->pool, b);
		TALLOC_FREE(b->buffer);
		TALLOC_FREE(b);
	}
	sc->pool_bytes = 0;
}

static int smbd_smbdirect_conn_destructor(struct smbd_smbdirect_conn *sc)
{
	if (sc->conn != NULL) {
		struct smbdirect_conn_stats st;

		/* What the connection moved, for the log (and the tests
		 * that check the data went by RDMA). */
		smbdirect_conn_get_stats(sc->conn, &st);
		DBG_NOTICE("smbdirect: peer %s: counters: messages sent %llu, "
			   "received %llu; rdma reads %llu, rdma writes %llu, "
			   "rdma bytes %llu\n",
			   smbdirect_conn_peer(sc->conn),
			   (unsigned long long)st.engine.messages_sent,
			   (unsigned long long)st.engine.messages_received,
			   (unsigned long long)st.rdma_reads,
			   (unsigned long long)st.rdma_writes,
			   (unsigned long long)st.rdma_bytes);
	}

	smbd_smbdirect_drop_buffers(sc);
	TALLOC_FREE(sc->conn);
	if (sc->relay_fd != -1) {
		close(sc->relay_fd);
	}
	if (sc->relay_peer_fd != -1) {
		close(sc->relay_peer_fd);
	}
	if (smbd_smbdirect_pending == sc) {
		smbd_smbdirect_pending = NULL;
	}
	return 0;
}

/* A connection object of this glue, not yet attached to an xconn. */
static struct smbd_smbdirect_conn *smbd_smbdirect_conn_new(
	struct tevent_context *ev)
{
	struct smbd_smbdirect_conn *sc = talloc_zero(ev,
						     struct smbd_smbdirect_conn);

	if (sc == NULL) {
		return NULL;
	}
	sc->ev = ev;
	sc->relay_fd = -1;
	sc->relay_peer_fd = -1;
	talloc_set_destructor(sc, smbd_smbdirect_conn_destructor);
	return sc;
}

/* The request the child took, until smbd_smbdirect_child_accept(). */
static struct smbdirect_conn_request *smbd_smbdirect_request_taken;

NTSTATUS smbd_smbdirect_child_adopt(struct smbdirect_handoff *handoff)
{
	enum smbdirect_thread_mode mode = smbd_smbdirect_thread_mode();

	/* smbd switches this process's identity per request: the RDMA
	 * calls run on a thread of the library's, started here while the
	 * child is still root (docs/fork-and-credentials.md). */
	smbd_smbdirect_request_taken = smbdirect_handoff_child(handoff, NULL,
							       mode);
	smbd_smbdirect_forget_listeners();
	if (smbd_smbdirect_request_taken == NULL) {
		DBG_ERR("smbdirect: taking the connection failed: %s\n",
			strerror(errno));
		return map_nt_error_from_unix_common(errno);
	}
	return NT_STATUS_OK;
}

NTSTATUS smbd_smbdirect_child_accept(struct tevent_context *ev)
{
	struct smbdirect_conn_request *request = smbd_smbdirect_request_taken;
	struct smbdirect_settings settings;
	struct smbd_smbdirect_conn *sc;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	struct tevent_req *req;
	char peer[64];
	int ret;

	smbd_smbdirect_request_taken = NULL;
	if (request == NULL) {
		return NT_STATUS_INVALID_HANDLE;
	}
	smbdirect_set_log_fn(smbd_smbdirect_log, NULL);
	/* The request goes with the accept: keep its peer for the log. */
	strlcpy(peer, smbdirect_conn_request_peer(request), sizeof(peer));
	sc = smbd_smbdirect_conn_new(ev);
	if (sc == NULL) {
		TALLOC_FREE(request);
		return NT_STATUS_NO_MEMORY;
	}
	smbd_smbdirect_settings(&settings);
	req = smbdirect_accept_send(sc, ev, request, &settings);
	if (req == NULL) {
		TALLOC_FREE(request);
		TALLOC_FREE(sc);
		return NT_STATUS_NO_MEMORY;
	}
	/* Bounded by the negotiation timeout ([MS-SMBD] 3.1.6.1). */
	if (!tevent_req_poll(req, ev)) {
		TALLOC_FREE(sc);
		return NT_STATUS_INTERNAL_ERROR;
	}
	ret = smbdirect_accept_recv(req, sc, &sc->conn, &reason);
	TALLOC_FREE(req);
	if (ret != 0) {
		DBG_NOTICE("smbdirect: connection from %s: negotiation "
			   "failed: %s (%s)\n", peer, strerror(ret),
			   smbdirect_reason_string(reason));
		TALLOC_FREE(sc);
		return map_nt_error_from_unix_common(ret);
	}
	DBG_NOTICE("smbdirect: connection from %s negotiated (%s)\n",
		   smbdirect_conn_peer(sc->conn),
		   smbdirect_thread_mode_string(smbdirect_get_thread_mode()));
	smbd_smbdirect_pending = sc;
	return NT_STATUS_OK;
}

/* getpeername()/getsockname() for the accepted connection (its peer's or
 * its own address): at most *len bytes of the address, *len set to its
 * size. */
static int smbd_smbdirect_addr(bool peer, struct sockaddr *out, socklen_t *len)
{
	struct smbd_smbdirect_conn *sc = smbd_smbdirect_pending;
	const struct sockaddr *sa;
	socklen_t size;

	if (sc == NULL) {
		errno = ENOTCONN;
		return -1;
	}
	sa = peer ? smbdirect_conn_peer_address(sc->conn)
		  : smbdirect_conn_local_address(sc->conn);
	size = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					 : sizeof(struct sockaddr_in);
	memcpy(out, sa, MIN(size, *len));
	*len = size;
	return 0;
}

int smbd_smbdirect_getpeername(struct sockaddr *sa, socklen_t *len)
{
	return smbd_smbdirect_addr(true, sa, len);
}

int smbd_smbdirect_getsockname(struct sockaddr *sa, socklen_t *len)
{
	return smbd_smbdirect_addr(false, sa, len);
}

/* --- SMB2 PDUs over the library's messages ------------------------------------ */

static void smbd_smbdirect_message(struct smbdirect_conn *conn,
				   const uint8_t *data, size_t length,
				   void *private_data)
{
	struct smbd_smbdirect_conn *sc = private_data;
	struct smbXsrv_connection *xconn = sc->xconn;
	NTSTATUS status;

	(void)conn;
	if (!NT_STATUS_IS_OK(xconn->transport.status)) {
		return;
	}
	if (!sc->negotiated) {
		/* SMB-Direct carries SMB 3 only, and no NBT session
		 * request: the first message is an SMB2 NEGOTIATE. */
		if (length < SMB2_HDR_BODY ||
		    IVAL(data, SMB2_HDR_PROTOCOL_ID) != SMB2_MAGIC ||
		    SVAL(data, SMB2_HDR_OPCODE) != SMB2_OP_NEGPROT) {
			smbd_server_connection_terminate(
				xconn, "SMB-Direct: the first message is not "
				       "an SMB2 NEGOTIATE");
			return;
		}
		sc->negotiated = true;
		/* It terminates the connection itself on failure. */
		smbd_smb2_process_negprot(xconn, 0, data, length);
		return;
	}
	status = smbd_smb2_process_pdu(xconn, data, length);
	if (!NT_STATUS_IS_OK(status)) {
		smbd_server_connection_terminate(xconn, nt_errstr(status));
	}
}

static void smbd_smbdirect_disconnected(struct smbdirect_conn *conn,
					enum smbdirect_reason reason,
					const char *detail, void *private_data)
{
	struct smbd_smbdirect_conn *sc = private_data;
	struct smbXsrv_connection *xconn = sc->xconn;
	char *why;

	(void)conn;
	/* The library logged the reason with the peer's address. */
	smbXsrv_connection_disconnect_transport(
		xconn, reason == SMBDIRECT_REASON_PEER_DISCONNECTED
			       ? NT_STATUS_CONNECTION_DISCONNECTED
			       : NT_STATUS_CONNECTION_RESET);
	why = talloc_asprintf(talloc_tos(), "SMB-Direct: %s: %s",
			      smbdirect_reason_string(reason), detail);
	smbd_server_connection_terminate(xconn, why != NULL ? why
						: "SMB-Direct: ended");
}

NTSTATUS smbd_smbdirect_attach(struct smbXsrv_connection *xconn)
{
	struct smbd_smbdirect_conn *sc = smbd_smbdirect_pending;
	const struct smbdirect_conn_handlers handlers = {
		.message = smbd_smbdirect_message,
		.disconnected = smbd_smbdirect_disconnected,
	};

	if (sc == NULL) {
		return NT_STATUS_INVALID_HANDLE;
	}
	smbd_smbdirect_pending = NULL;
	sc->xconn = xconn;
	xconn->transport.smbdirect = talloc_steal(xconn, sc);
	smbdirect_conn_set_handlers(sc->conn, &handlers, sc);
	return NT_STATUS_OK;
}

void smbd_smbdirect_disconnect(struct smbXsrv_connection *xconn)
{
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;

	if (sc != NULL && sc->conn != NULL) {
		/* [MS-SMBD] 3.1.7.1; nothing once it has ended. */
		smbdirect_disconnect(sc->conn);
	}
}

bool smbd_smbdirect_is_rdma(const struct smbXsrv_connection *xconn)
{
	return xconn->transport.smbdirect != NULL;
}

uint32_t smbd_smbdirect_max_read_write(const struct smbXsrv_connection *xconn)
{
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;

	if (sc == NULL) {
		return UINT32_MAX;
	}
	return smbdirect_conn_params(sc->conn)->max_read_write_size;
}

/* --- sending ------------------------------------------------------------------ */

struct smbd_smbdirect_send {
	struct smbd_smb2_send_queue *e;
	struct smbXsrv_connection *xconn;
};

static void smbd_smbdirect_sent(struct tevent_req *req)
{
	struct smbd_smbdirect_send *s = tevent_req_callback_data_void(req);
	struct smbd_smb2_send_queue *e = s->e;
	int ret = smbdirect_send_recv(req);

	TALLOC_FREE(req);
	if (e->ack.req != NULL) {
		if (ret == 0 && s->xconn->ack.force_unacked_timeout) {
			/* smbtorture's simulated channel failure
			 * (FSCTL_SMBTORTURE_FORCE_UNACKED_TIMEOUT), as on
			 * TCP: the acknowledgement never counts, and smbd's
			 * ack checker times the entry out, which moves an
			 * oplock or lease break to another channel. */
			e->ack.required_acked_bytes = UINT64_MAX;
			DLIST_ADD_END(s->xconn->ack.queue, e);
			return;
		}
		/* A completed RC send was acknowledged by the peer's
		 * adapter: what smbd waits for on TCP. */
		if (ret == 0) {
			tevent_req_done(e->ack.req);
		} else {
			tevent_req_nterror(e->ack.req,
					   map_nt_error_from_unix_common(ret));
		}
		return;
	}
	/* The entry's memory (iovecs, the request) was needed until now:
	 * the library copies each fragment as it goes out. A failure ends
	 * the connection, which its disconnected handler reports. */
	talloc_free(e->mem_ctx);
}

NTSTATUS smbd_smbdirect_flush_send_queue(struct smbXsrv_connection *xconn)
{
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;

	while (xconn->smb2.send_queue != NULL) {
		struct smbd_smb2_send_queue *e = xconn->smb2.send_queue;
		struct smbd_smbdirect_send *s;
		struct iovec *iov = e->vector;
		int count = e->count;
		struct tevent_req *req;

		xconn->smb2.send_queue_len--;
		DLIST_REMOVE(xconn->smb2.send_queue, e);
		if (!NT_STATUS_IS_OK(xconn->transport.status)) {
			if (e->ack.req != NULL) {
				tevent_req_nterror(e->ack.req,
						   xconn->transport.status);
			} else {
				talloc_free(e->mem_ctx);
			}
			continue;
		}
		/* No sendfile on SMB-Direct (smb2_read.c never sets it). */
		SMB_ASSERT(e->sendfile_header == NULL);
		/* [MS-SMB2] 2.1: over SMB-Direct a message is the SMB2 PDU,
		 * without the 4-byte Direct TCP header of vector[0]. */
		if (count > 0 && iov[0].iov_len == NBT_HDR_SIZE) {
			iov += 1;
			count -= 1;
		}
		s = talloc_zero(e->mem_ctx, struct smbd_smbdirect_send);
		if (s == NULL) {
			return NT_STATUS_NO_MEMORY;
		}
		s->e = e;
		s->xconn = xconn;
		/* A child of the entry's memory: if smbd frees it before the
		 * send completed, the library ends the connection instead of
		 * reading freed memory. */
		if (e->smbdirect_invalidate) {
			/* [MS-SMB2] 3.3.5.12/3.3.5.13, [MS-SMBD] 3.1.4.2. */
			req = smbdirect_send_invalidate_send(
				s, sc->ev, sc->conn, iov, count,
				e->smbdirect_invalidate_token);
		} else {
			req = smbdirect_send_send(s, sc->ev, sc->conn, iov,
						  count);
		}
		if (req == NULL) {
			return NT_STATUS_NO_MEMORY;
		}
		tevent_req_set_callback(req, smbd_smbdirect_sent, s);
	}
	return NT_STATUS_OK;
}

/* --- READ and WRITE over RDMA ------------------------------------------------- */

static struct smbd_smbdirect_buf *smbd_smbdirect_buf_get(
	struct smbd_smbdirect_conn *sc, size_t size)
{
	struct smbd_smbdirect_buf *b;

	for (b = sc->pool; b != NULL; b = b->next) {
		if (b->size >= size) {
			DLIST_REMOVE(sc->pool, b);
			sc->pool_bytes -= b->size;
			return b;
		}
	}
	b = talloc_zero(sc, struct smbd_smbdirect_buf);
	if (b == NULL) {
		return NULL;
	}
	/* Round up so that a pool serves the common sizes: the size of
	 * the largest read or write, or the next 64 KiB. */
	b->size = size;
	if (size > 65536) {
		b->size = MAX(size, smbdirect_conn_params(sc->conn)
					    ->max_read_write_size);
	} else {
		b->size = 65536;
	}
	b->buffer = smbdirect_buffer_new(b, sc->conn, b->size);
	if (b->buffer == NULL) {
		DBG_ERR("smbdirect: registering a %zu-byte buffer failed: "
			"%s\n", b->size, strerror(errno));
		TALLOC_FREE(b);
		return NULL;
	}
	return b;
}

static void smbd_smbdirect_buf_put(struct smbd_smbdirect_conn *sc,
				   struct smbd_smbdirect_buf *b)
{
	if (sc->pool_bytes + b->size > SMBD_SMBDIRECT_POOL_BYTES) {
		TALLOC_FREE(b);
		return;
	}
	DLIST_ADD(sc->pool, b);
	sc->pool_bytes += b->size;
}

static int smbd_smbdirect_io_destructor(struct smbd_smbdirect_io *io)
{
	if (io->sc == NULL) {
		return 0;
	}
	DLIST_REMOVE(io->sc->ios, io);
	if (io->buf != NULL) {
		smbd_smbdirect_buf_put(io->sc, io->buf);
	}
	return 0;
}

NTSTATUS smbd_smbdirect_channel(struct smbd_smb2_request *req,
				uint32_t channel, uint16_t info_offset,
				uint16_t info_length, uint32_t length,
				bool client_reads)
{
	struct smbXsrv_connection *xconn = req->xconn;
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;
	const uint8_t *hdr = SMBD_SMB2_IN_HDR_PTR(req);
	const uint8_t *dyn = SMBD_SMB2_IN_DYN_PTR(req);
	size_t dyn_len = SMBD_SMB2_IN_DYN_LEN(req);
	size_t dyn_offset;
	struct smbd_smbdirect_io *io;
	enum smbdirect_wire_error werr;
	uint64_t total = 0;

	if (channel == SMB2_CHANNEL_NONE) {
		return NT_STATUS_OK;
	}
	if (sc == NULL) {
		/* An RDMA channel on TCP: Samba used to ignore the field
		 * and write 0 bytes with success. */
		DBG_INFO("Channel 0x%x on a connection that is not "
			 "SMB-Direct\n", channel);
		return NT_STATUS_INVALID_PARAMETER;
	}
	if ((channel != SMB2_CHANNEL_RDMA_V1 &&
	     channel != SMB2_CHANNEL_RDMA_V1_INVALIDATE) ||
	    xconn->protocol < PROTOCOL_SMB3_00 ||
	    (channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE &&
	     xconn->protocol < PROTOCOL_SMB3_02)) {
		return NT_STATUS_INVALID_PARAMETER;
	}
	/* The channel info lies in the request's variable part, counted
	 * from the SMB2 header. */
	dyn_offset = (size_t)(dyn - hdr);
	if (dyn == NULL || info_offset < dyn_offset ||
	    info_offset - dyn_offset > dyn_len ||
	    info_length > dyn_len - (info_offset - dyn_offset)) {
		return NT_STATUS_INVALID_PARAMETER;
	}
	if (length > smbd_smbdirect_max_read_write(xconn)) {
		return NT_STATUS_INVALID_PARAMETER;
	}
	io = talloc_zero(req, struct smbd_smbdirect_io);
	if (io == NULL) {
		return NT_STATUS_NO_MEMORY;
	}
	werr = smbdirect_buffer_descriptors_decode(
		hdr + info_offset, info_length, io->descs,
		ARRAY_SIZE(io->descs), smbd_smbdirect_max_read_write(xconn),
		&io->count, &total);
	if (werr != SMBDIRECT_WIRE_OK || total < length) {
		/* The request fails; the connection goes on. Not at a level
		 * logged by default: a peer could repeat it at will. */
		DBG_NOTICE("smbdirect: peer %s: bad buffer descriptors: %s "
			   "(%llu of %u bytes); STATUS_INVALID_PARAMETER\n",
			   smbdirect_conn_peer(sc->conn),
			   werr != SMBDIRECT_WIRE_OK
				   ? smbdirect_wire_error_string(werr)
				   : "shorter than the request",
			   (unsigned long long)total, length);
		TALLOC_FREE(io);
		return NT_STATUS_INVALID_PARAMETER;
	}
	io->client_reads = client_reads;
	if (length > 0) {
		io->buf = smbd_smbdirect_buf_get(sc, length);
		if (io->buf == NULL) {
			TALLOC_FREE(io);
			return NT_STATUS_INSUFFICIENT_RESOURCES;
		}
	}
	io->sc = sc;
	DLIST_ADD(sc->ios, io);
	talloc_set_destructor(io, smbd_smbdirect_io_destructor);
	req->smbdirect_io = io;
	if (channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE &&
	    !req->queue_entry.smbdirect_invalidate) {
		/* One token per response: the first READ or WRITE of a
		 * compound gets it; the client invalidates the others. */
		req->queue_entry.smbdirect_invalidate = true;
		req->queue_entry.smbdirect_invalidate_token =
			io->descs[0].token;
	}
	return NT_STATUS_OK;
}

bool smbd_smbdirect_io_active(const struct smbd_smb2_request *req)
{
	return req->smbdirect_io != NULL;
}

DATA_BLOB smbd_smbdirect_io_buffer(struct smbd_smb2_request *req,
				   size_t length)
{
	struct smbd_smbdirect_io *io = req->smbdirect_io;

	SMB_ASSERT(io != NULL && io->buf != NULL && length <= io->buf->size);
	return data_blob_const(smbdirect_buffer_data(io->buf->buffer), length);
}

struct smbd_smbdirect_io_state {
	int error;
};

static void smbd_smbdirect_io_done(struct tevent_req *subreq);

struct tevent_req *smbd_smbdirect_io_send(TALLOC_CTX *mem_ctx,
					  struct tevent_context *ev,
					  struct smbd_smb2_request *smb2req,
					  size_t length)
{
	struct smbd_smbdirect_io *io = smb2req->smbdirect_io;
	struct smbd_smbdirect_io_state *state;
	struct tevent_req *req;
	struct tevent_req *subreq;

	req = tevent_req_create(mem_ctx, &state,
				struct smbd_smbdirect_io_state);
	if (req == NULL) {
		return NULL;
	}
	if (io == NULL || io->sc == NULL) {
		tevent_req_nterror(req, NT_STATUS_CONNECTION_DISCONNECTED);
		return tevent_req_post(req, ev);
	}
	if (length == 0) {
		tevent_req_done(req);
		return tevent_req_post(req, ev);
	}
	if (io->client_reads) {
		subreq = smbdirect_rdma_write_send(state, ev, io->sc->conn,
						   io->buf->buffer, 0, length,
						   io->descs, io->count);
	} else {
		subreq = smbdirect_rdma_read_send(state, ev, io->sc->conn,
						  io->buf->buffer, 0, length,
						  io->descs, io->count);
	}
	if (tevent_req_nomem(subreq, req)) {
		return tevent_req_post(req, ev);
	}
	tevent_req_set_callback(subreq, smbd_smbdirect_io_done, req);
	return req;
}

static void smbd_smbdirect_io_done(struct tevent_req *subreq)
{
	struct tevent_req *req = tevent_req_callback_data(subreq,
							  struct tevent_req);
	int ret = smbdirect_rdma_recv(subreq);

	TALLOC_FREE(subreq);
	if (ret == EINVAL) {
		tevent_req_nterror(req, NT_STATUS_INVALID_PARAMETER);
		return;
	}
	if (ret != 0) {
		/* The QP failed: the connection is over. */
		tevent_req_nterror(req, NT_STATUS_CONNECTION_DISCONNECTED);
		return;
	}
	tevent_req_done(req);
}

NTSTATUS smbd_smbdirect_io_recv(struct tevent_req *req)
{
	return tevent_req_simple_recv_ntstatus(req);
}

/* --- FSCTL_QUERY_NETWORK_INTERFACE_INFO -------------------------------------- */

bool smbd_smbdirect_addr_is_rdma(const struct sockaddr_storage *ss)
{
	return smbdirect_address_is_rdma((const struct sockaddr *)ss);
}

/* --- multichannel: a channel whose session another smbd owns ----------------- */

/* This process relays a channel for another smbd (smbd_smbdirect_become_relay()). */
static bool smbd_smbdirect_is_relay;

bool smbd_smbdirect_relaying(void)
{
	return smbd_smbdirect_is_relay;
}

NTSTATUS smbd_smbdirect_relay_prepare(struct smbXsrv_connection *xconn,
				      int *pass_fd)
{
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;
	int sv[2];

	if (sc == NULL || sc->conn == NULL) {
		return NT_STATUS_INTERNAL_ERROR;
	}
	/* A pass that is retried (the owner died meanwhile) starts anew. */
	if (sc->relay_fd != -1) {
		close(sc->relay_fd);
		sc->relay_fd = -1;
	}
	if (sc->relay_peer_fd != -1) {
		close(sc->relay_peer_fd);
		sc->relay_peer_fd = -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return map_nt_error_from_unix_common(errno);
	}
	sc->relay_fd = sv[0];
	sc->relay_peer_fd = sv[1];
	*pass_fd = sv[1];
	return NT_STATUS_OK;
}

static void smbd_smbdirect_relay_done(struct tevent_req *req)
{
	struct smbdirect_conn *conn = tevent_req_callback_data(
		req, struct smbdirect_conn);
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	struct smbdirect_conn_stats st;
	int ret = smbdirect_relay_recv(req, &reason);

	TALLOC_FREE(req);
	smbdirect_conn_get_stats(conn, &st);
	DBG_NOTICE("smbdirect: peer %s: relay ended (%s, %s): rdma reads "
		   "%llu, rdma writes %llu, rdma bytes %llu, messages "
		   "received %llu\n",
		   smbdirect_conn_peer(conn),
		   ret == 0 ? "ok" : strerror(ret),
		   smbdirect_reason_string(reason),
		   (unsigned long long)st.rdma_reads,
		   (unsigned long long)st.rdma_writes,
		   (unsigned long long)st.rdma_bytes,
		   (unsigned long long)st.engine.messages_received);
	exit_server_cleanly("SMB-Direct relay ended");
}

void smbd_smbdirect_become_relay(struct smbXsrv_connection *xconn)
{
	struct smbd_smbdirect_conn *sc = xconn->transport.smbdirect;
	struct smbdirect_conn *conn;
	struct tevent_req *req;

	if (sc == NULL || sc->conn == NULL || sc->relay_fd == -1) {
		smbd_server_connection_terminate(xconn,
						 "SMB-Direct: no relay to run");
		return;
	}
	smbd_smbdirect_drop_buffers(sc);
	/* The connection leaves smbd's hands: nothing more is sent or
	 * taken on xconn here, and its teardown does not touch it. */
	conn = talloc_steal(sc->ev, sc->conn);
	sc->conn = NULL;
	smbdirect_conn_set_handlers(conn, NULL, NULL);
	xconn->transport.status = NT_STATUS_CONNECTION_DISCONNECTED;
	/* The owner has its copy of the other end by now. */
	close(sc->relay_peer_fd);
	sc->relay_peer_fd = -1;
	req = smbdirect_relay_send(conn, sc->ev, conn, sc->relay_fd);
	sc->relay_fd = -1;
	if (req == NULL) {
		exit_server_cleanly("SMB-Direct: starting the relay failed");
		return;
	}
	tevent_req_set_callback(req, smbd_smbdirect_relay_done, conn);
	smbd_smbdirect_is_relay = true;
	DBG_NOTICE("smbdirect: peer %s: the client's session lives in "
		   "another smbd; this process relays the channel to it\n",
		   smbdirect_conn_peer(conn));
}

bool smbd_smbdirect_fd_is_relay(int fd)
{
	int domain = 0;
	socklen_t len = sizeof(domain);

	return getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
	       domain == AF_UNIX;
}

NTSTATUS smbd_smbdirect_relay_adopt(struct tevent_context *ev, int fd)
{
	struct smbd_smbdirect_conn *sc;
	int ret;

	/* One at a time: a connection an earlier pass left unattached
	 * (its smbd_add_connection() failed) goes now. */
	TALLOC_FREE(smbd_smbdirect_pending);
	sc = smbd_smbdirect_conn_new(ev);
	if (sc == NULL) {
		return NT_STATUS_NO_MEMORY;
	}
	smbdirect_set_log_fn(smbd_smbdirect_log, NULL);
	/* The relay greets at once; bounded if it does not. */
	ret = smbdirect_relay_attach(sc, ev, fd, 5000, &sc->conn);
	if (ret != 0) {
		DBG_ERR("smbdirect: taking a relayed channel failed: %s\n",
			strerror(ret));
		TALLOC_FREE(sc);
		return map_nt_error_from_unix_common(ret);
	}
	/* The NEGOTIATE came through the pass, not as a message. */
	sc->negotiated = true;
	smbd_smbdirect_pending = sc;
	DBG_NOTICE("smbdirect: peer %s: a channel relayed by another smbd "
		   "joins this client\n", smbdirect_conn_peer(sc->conn));
	return NT_STATUS_OK;
}
