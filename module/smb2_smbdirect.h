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
 * The glue is thin: the protocol is libsmbdirect's. It opens the rdma_cm
 * listeners in the parent smbd, hands a connection request to the child
 * smbd forks for it, carries smbd's SMB2 PDUs over the library's messages,
 * and does the RDMA of SMB2 READ and WRITE on the SMB2_CHANNEL_RDMA_V1*
 * channels with buffers the library lends. Built into smbd_base only when
 * Samba is configured with libsmbdirect (HAVE_LIBSMBDIRECT); without it,
 * the inline functions at the end answer for smbd's generic code.
 */
#ifndef _SMBD_SMB2_SMBDIRECT_H_
#define _SMBD_SMB2_SMBDIRECT_H_

struct smbdirect_listener;
struct smbdirect_conn_request;
struct smbdirect_handoff;
struct smbXsrv_connection;
struct smbd_smb2_request;

#ifdef HAVE_LIBSMBDIRECT

/*
 * The parent: called for each connection request at a listener. It must
 * hand the request to a child (smbdirect_handoff_prepare(), fork(),
 * smbd_smbdirect_child_adopt() / smbdirect_handoff_parent()) or free it,
 * which rejects it.
 */
typedef void (*smbd_smbdirect_request_fn)(
	struct smbdirect_listener *listener,
	struct smbdirect_conn_request *request, void *private_data);

/* The parent: with "smb direct = yes", open the rdma_cm listeners on the
 * addresses smbd listens on ("interfaces", "bind interfaces only"), at the
 * ports "smbdirect:ports" names (default "5445 445"). Failing to listen
 * anywhere is logged, not fatal: TCP keeps working. Returns the number of
 * listeners opened. */
int smbd_smbdirect_open_listeners(TALLOC_CTX *mem_ctx,
				  struct tevent_context *ev,
				  smbd_smbdirect_request_fn fn,
				  void *private_data);

/* In a child smbd forked for a connection request: forget every listener
 * inherited from the parent (their ids are the parent's). */
void smbd_smbdirect_forget_listeners(void);

/* In the child, right after fork() and before anything else: take the
 * request handed over (smbdirect_handoff_child()), in the child's thread
 * mode ("smbdirect:thread", default the RDMA thread, as smbd switches
 * identity), and forget the parent's listeners. The parent is waiting. */
NTSTATUS smbd_smbdirect_child_adopt(struct smbdirect_handoff *handoff);

/* In the child, after reinit_after_fork(): accept and negotiate
 * ([MS-SMBD] 3.1.5.6) on ev, bounded by the negotiation timeout. On
 * success smbd_process(ev, msg, -1, ...) serves the connection. */
NTSTATUS smbd_smbdirect_child_accept(struct tevent_context *ev);

/* smbd_add_connection() for the connection smbd_smbdirect_child_accept()
 * accepted (sock_fd -1): getpeername() and getsockname() for it (-1 with
 * errno ENOTCONN if there is none). */
int smbd_smbdirect_getpeername(struct sockaddr *sa, socklen_t *len);
int smbd_smbdirect_getsockname(struct sockaddr *sa, socklen_t *len);

/* ... and attach it to xconn: received messages become SMB2 requests,
 * the connection's end ends xconn. */
NTSTATUS smbd_smbdirect_attach(struct smbXsrv_connection *xconn);

/* smbXsrv_connection_disconnect_transport(): end the SMB-Direct
 * connection too ([MS-SMBD] 3.1.7.1). */
void smbd_smbdirect_disconnect(struct smbXsrv_connection *xconn);

/* Whether xconn is an SMB-Direct connection. */
bool smbd_smbdirect_is_rdma(const struct smbXsrv_connection *xconn);

/* Send what xconn->smb2.send_queue holds, one SMB-Direct message per
 * entry (the NBT length header is not sent: [MS-SMB2] 2.1). */
NTSTATUS smbd_smbdirect_flush_send_queue(struct smbXsrv_connection *xconn);

/* The MaxReadWriteSize the connection negotiated, which bounds SMB2
 * MaxRead/MaxWriteSize; UINT32_MAX on TCP. */
uint32_t smbd_smbdirect_max_read_write(const struct smbXsrv_connection *xconn);

/*
 * [MS-SMB2] 3.3.5.12 (READ, client_reads true) and 3.3.5.13 (WRITE):
 * the request's Channel. NONE is nothing to do; RDMA_V1 and
 * RDMA_V1_INVALIDATE on an SMB-Direct connection take the buffer
 * descriptors at info_offset/info_length (from the SMB2 header, within the
 * request), which must cover `length`, and lend a registered buffer of
 * `length` bytes; with RDMA_V1_INVALIDATE the response will go with
 * Send-with-Invalidate of the first descriptor's token, error responses
 * included. Any other channel, or an RDMA channel on TCP:
 * NT_STATUS_INVALID_PARAMETER.
 */
NTSTATUS smbd_smbdirect_channel(struct smbd_smb2_request *req,
				uint32_t channel, uint16_t info_offset,
				uint16_t info_length, uint32_t length,
				bool client_reads);

/* Whether the request's data goes by RDMA (smbd_smbdirect_channel()). */
bool smbd_smbdirect_io_active(const struct smbd_smb2_request *req);

/* The lent buffer for the request's data: length bytes. */
DATA_BLOB smbd_smbdirect_io_buffer(struct smbd_smb2_request *req,
				   size_t length);

/* READ: RDMA-write `length` bytes of the lent buffer into the client's
 * buffers ([MS-SMBD] 3.1.4.5); WRITE: RDMA-read them from the client
 * ([MS-SMBD] 3.1.4.6). */
struct tevent_req *smbd_smbdirect_io_send(TALLOC_CTX *mem_ctx,
					  struct tevent_context *ev,
					  struct smbd_smb2_request *req,
					  size_t length);
NTSTATUS smbd_smbdirect_io_recv(struct tevent_req *req);

/* FSCTL_QUERY_NETWORK_INTERFACE_INFO: whether an interface address is on
 * an RDMA device (so clients may open SMB-Direct channels to it). */
bool smbd_smbdirect_addr_is_rdma(const struct sockaddr_storage *ss);

/*
 * Multichannel ([MS-SMB2] 3.3.5.3.1): a new channel whose ClientGuid
 * another smbd owns is passed to it (MSG_SMBXSRV_CONNECTION_PASS). A
 * queue pair cannot move, so an SMB-Direct channel stays here and this
 * process relays it (smbdirect_relay.h); the owner gets a socket.
 *
 * The passing side: the socket end to pass instead of a TCP socket;
 * this process keeps the other.
 */
NTSTATUS smbd_smbdirect_relay_prepare(struct smbXsrv_connection *xconn,
				      int *pass_fd);

/* The passing side, once the owner took the channel: hand the connection
 * to the relay; the process exits when the relay ends. */
void smbd_smbdirect_become_relay(struct smbXsrv_connection *xconn);

/* Whether this process has become a relay (deadtime does not apply: it
 * has no tree connects of its own). */
bool smbd_smbdirect_relaying(void);

/* The owner: whether a passed descriptor is a relay's socket (AF_UNIX),
 * not a TCP connection. */
bool smbd_smbdirect_fd_is_relay(int fd);

/* The owner: take the relayed connection on fd (taken over on success),
 * for smbd_add_connection(client, -1, ...) and smbd_smbdirect_attach(). */
NTSTATUS smbd_smbdirect_relay_adopt(struct tevent_context *ev, int fd);

#else /* !HAVE_LIBSMBDIRECT: what generic smbd code calls */

static inline bool smbd_smbdirect_is_rdma(
	const struct smbXsrv_connection *xconn)
{
	return false;
}

static inline uint32_t smbd_smbdirect_max_read_write(
	const struct smbXsrv_connection *xconn)
{
	return UINT32_MAX;
}

/* [MS-SMB2] 3.3.5.12, 3.3.5.13: no RDMA without SMB-Direct. */
static inline NTSTATUS smbd_smbdirect_channel(struct smbd_smb2_request *req,
					      uint32_t channel,
					      uint16_t info_offset,
					      uint16_t info_length,
					      uint32_t length,
					      bool client_reads)
{
	return channel == SMB2_CHANNEL_NONE ? NT_STATUS_OK
					    : NT_STATUS_INVALID_PARAMETER;
}

static inline bool smbd_smbdirect_io_active(
	const struct smbd_smb2_request *req)
{
	return false;
}

static inline DATA_BLOB smbd_smbdirect_io_buffer(
	struct smbd_smb2_request *req, size_t length)
{
	smb_panic(__location__); /* only with smbd_smbdirect_io_active() */
}

static inline struct tevent_req *smbd_smbdirect_io_send(
	TALLOC_CTX *mem_ctx, struct tevent_context *ev,
	struct smbd_smb2_request *req, size_t length)
{
	smb_panic(__location__); /* only with smbd_smbdirect_io_active() */
}

static inline NTSTATUS smbd_smbdirect_io_recv(struct tevent_req *req)
{
	return NT_STATUS_INTERNAL_ERROR;
}

static inline bool smbd_smbdirect_addr_is_rdma(
	const struct sockaddr_storage *ss)
{
	return false;
}

static inline NTSTATUS smbd_smbdirect_relay_prepare(
	struct smbXsrv_connection *xconn, int *pass_fd)
{
	return NT_STATUS_NOT_SUPPORTED;
}

static inline void smbd_smbdirect_become_relay(
	struct smbXsrv_connection *xconn)
{
	smb_panic(__location__); /* only with smbd_smbdirect_is_rdma() */
}

static inline bool smbd_smbdirect_relaying(void)
{
	return false;
}

static inline bool smbd_smbdirect_fd_is_relay(int fd)
{
	return false;
}

static inline NTSTATUS smbd_smbdirect_relay_adopt(struct tevent_context *ev,
						  int fd)
{
	return NT_STATUS_NOT_SUPPORTED;
}

#endif /* HAVE_LIBSMBDIRECT */

#endif
