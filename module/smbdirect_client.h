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
 * The client's SMB2 code (smbXcli) speaks to a stream socket. An
 * SMB-Direct connection is message based, and libsmbdirect drives it from
 * one tevent context, while Samba's synchronous client calls make a new
 * tevent context for every call. So the connection lives on a thread of
 * this file's own (the pump), and smbXcli gets one end of a socketpair on
 * which each SMB2 message travels with the 4-byte length header of direct
 * TCP ([MS-SMB2] 2.1): the pump turns each into one SMB-Direct message and
 * back ([MS-SMBD] 3.1.4.2, 3.1.5.8). Bulk data does not take that path:
 * READ and WRITE above a threshold carry buffer descriptors
 * (SMB2_CHANNEL_RDMA_V1[_INVALIDATE], [MS-SMB2] 2.2.19, 2.2.21) of
 * memory the pump exposes for that I/O alone ([MS-SMBD] 3.1.4.3), and the
 * server moves the data by RDMA.
 */

#ifndef LIBCLI_SMB_SMBDIRECT_CLIENT_H
#define LIBCLI_SMB_SMBDIRECT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr_storage;
struct smbdirect_client_io;
struct smbdirect_settings;
struct smbdirect_conn_stats;
struct smbdirect_params;

/* The most buffer descriptors this client puts in one READ or WRITE. */
#define SMBDIRECT_CLIENT_MAX_DESCRIPTORS 16

#ifdef HAVE_LIBSMBDIRECT

/**
 * @brief A parametric option's value: "smbdirect:NAME" of smb.conf
 *        (lp_parm_int() in smbd and in the client tools).
 */
typedef int (*smbdirect_samba_param_fn)(const char *name, int def);

/**
 * @brief Settings from smb.conf's "smbdirect:" options, for smbd and for
 *        the client alike: "receive credits", "send credits", "max send
 *        size", "max receive size", "max fragmented size", "max read
 *        write size", "keepalive interval", "negotiate timeout".
 *
 * @param param    Reads one option.
 * @param settings Output: the settings, or the library's defaults if
 *                 they are out of range.
 * @param why      Output: why they were refused (may be NULL).
 * @return true if the options were valid.
 */
bool smbdirect_samba_settings(smbdirect_samba_param_fn param,
			      struct smbdirect_settings *settings,
			      const char **why);

/**
 * @brief Connect to an SMB server over SMB-Direct.
 *
 * @param ss             The server's address; its port is ignored.
 * @param port           The port (445 for InfiniBand and RoCE, 5445 for
 *                       iWARP); 0 tries 445, then 5445.
 * @param timeout_ms     Bound on address and route resolution, and on the
 *                       whole connection set-up (plus 5 s).
 * @param param          Reads the "smbdirect:" options for the [MS-SMBD]
 *                       settings (smbdirect_samba_settings()); NULL for
 *                       the library's defaults. Invalid ones are logged
 *                       and the defaults used.
 * @param rdma_threshold READ and WRITE of at least this many bytes use an
 *                       RDMA channel; 0 makes every one use it, a negative
 *                       value none (then READ and WRITE are capped to what
 *                       fits in one SMB-Direct message).
 * @param pfd            Output: the stream socket smbXcli uses as it
 *                       would a TCP connection. Closing it ends the
 *                       SMB-Direct connection.
 * @return 0, or an errno value (ECONNREFUSED, ETIMEDOUT, ENODEV (no RDMA
 *         device for the address), EPROTO (negotiation failed), ...).
 */
int smbdirect_client_connect(const struct sockaddr_storage *ss,
			     uint16_t port, int timeout_ms,
			     smbdirect_samba_param_fn param,
			     int rdma_threshold, int *pfd);

/**
 * @brief Read the counters of an SMB-Direct connection.
 * @param fd    The connection's socket.
 * @param stats Output.
 * @return 0; ENOTCONN if @p fd is no live SMB-Direct connection.
 */
int smbdirect_client_get_stats(int fd, struct smbdirect_conn_stats *stats);

/**
 * @brief The [MS-SMBD] parameters the connection negotiated.
 * @param fd     The connection's socket.
 * @param params Output.
 * @return true for an SMB-Direct connection.
 */
bool smbdirect_client_get_params(int fd, struct smbdirect_params *params);

/**
 * @brief Whether a socket is one smbdirect_client_connect() returned.
 * @param fd A file descriptor.
 * @return true for the client end of an SMB-Direct connection.
 */
bool smbdirect_client_fd_is_smbdirect(int fd);

/**
 * @brief Bound the sizes a server's NEGOTIATE response announced to what
 *        the SMB-Direct connection carries: an SMB2 message must fit in
 *        the peer's MaxFragmentedSize (sent) and ours (received), and an
 *        RDMA transfer in MaxReadWriteSize ([MS-SMBD] 3.1.1.1).
 *
 * Does nothing for a socket that is not SMB-Direct.
 *
 * @param fd        The connection's socket.
 * @param max_trans In/out: SMB2 MaxTransactSize.
 * @param max_read  In/out: SMB2 MaxReadSize.
 * @param max_write In/out: SMB2 MaxWriteSize.
 */
void smbdirect_client_cap_sizes(int fd, uint32_t *max_trans,
				uint32_t *max_read, uint32_t *max_write);

/**
 * @brief Whether a READ or WRITE of @p length bytes goes by RDMA.
 * @param fd     The connection's socket.
 * @param length The I/O's length.
 * @return false for a socket that is not SMB-Direct, or when the
 *         threshold forbids RDMA and the data fits in a message.
 */
bool smbdirect_client_want_rdma(int fd, uint32_t length);

/**
 * @brief Lend and expose memory to the server for one READ or WRITE.
 *
 * @param mem_ctx       talloc parent; freeing the result revokes the
 *                      exposure (the rkey dies, [MS-SMBD] 3.1.4.4) and
 *                      returns the memory.
 * @param fd            The connection's socket.
 * @param length        Bytes.
 * @param server_writes true for a READ (the server RDMA-writes into the
 *                      memory), false for a WRITE (it RDMA-reads).
 * @param data          For a WRITE: the @p length bytes to send (copied
 *                      into the registered memory). NULL for a READ.
 * @param channel_info  Output: the encoded buffer descriptor list
 *                      ([MS-SMBD] 2.2.3.1), for ReadChannelInfo or
 *                      WriteChannelInfo.
 * @param info_size     Capacity of @p channel_info (16 bytes per entry).
 * @param info_len      Output: bytes of @p channel_info used.
 * @return The I/O, or NULL (errno set: ENOTCONN, ENOMEM, EINVAL...).
 */
struct smbdirect_client_io *smbdirect_client_io_new(
	void *mem_ctx, int fd, uint32_t length, bool server_writes,
	const uint8_t *data, uint8_t *channel_info, size_t info_size,
	size_t *info_len);

/**
 * @brief The memory of an I/O: after a READ's response, what the server
 *        wrote there.
 * @param io The I/O.
 * @return Its first byte; valid until @p io is freed.
 */
const uint8_t *smbdirect_client_io_data(struct smbdirect_client_io *io);

/**
 * @brief Whether the server invalidated the I/O's rkey with
 *        Send-with-Invalidate ([MS-SMBD] 3.1.4.2, 3.1.5.4: with
 *        SMB2_CHANNEL_RDMA_V1_INVALIDATE the response does it).
 * @param io The I/O.
 * @return true once a message arrived that invalidated its rkey.
 */
bool smbdirect_client_io_invalidated(struct smbdirect_client_io *io);

#else /* !HAVE_LIBSMBDIRECT */

static inline bool smbdirect_client_fd_is_smbdirect(int fd)
{
	return false;
}
static inline void smbdirect_client_cap_sizes(int fd, uint32_t *max_trans,
					      uint32_t *max_read,
					      uint32_t *max_write)
{
}
static inline bool smbdirect_client_want_rdma(int fd, uint32_t length)
{
	return false;
}

#endif /* HAVE_LIBSMBDIRECT */

#endif /* LIBCLI_SMB_SMBDIRECT_CLIENT_H */
