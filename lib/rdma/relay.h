/*
 * libsmbdirect: the relay's local protocol (relay.c serves a connection,
 * remote.c drives it from the owning process) and its framed stream.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * A frame is a 16-byte header, little-endian: Type (2), Flags (2),
 * Length of the payload (4), Id (8); then the payload. A frame whose Flags
 * have SD_RELAY_F_FD carries one file descriptor (SCM_RIGHTS, sent with the
 * frame's first byte).
 *
 *   relay -> owner                      owner -> relay
 *   HELLO  version, params, addresses   SEND   rkey (4), message
 *   MSG    an upper-layer message                (F_INVALIDATE: with it)
 *   DONE   Id = the operation, errno(4) REG    Id = buffer, size (8), fd
 *   END    reason (4), detail           UNREG  Id = buffer
 *                                       RDMA   buffer (8), offset (8),
 *                                              length (8), count (4),
 *                                              descriptors (16 each)
 *                                              (F_WRITE: to the peer)
 *                                       DISCONNECT
 */
#ifndef SMBDIRECT_RDMA_RELAY_H
#define SMBDIRECT_RDMA_RELAY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"

enum sd_relay_type {
	SD_RELAY_HELLO = 1,
	SD_RELAY_MSG,
	SD_RELAY_DONE,
	SD_RELAY_END,
	SD_RELAY_SEND,
	SD_RELAY_REG,
	SD_RELAY_UNREG,
	SD_RELAY_RDMA,
	SD_RELAY_DISCONNECT,
};

#define SD_RELAY_F_FD 0x0001
#define SD_RELAY_F_INVALIDATE 0x0002
#define SD_RELAY_F_WRITE 0x0004

#define SD_RELAY_HEADER 16
#define SD_RELAY_VERSION 1
/* No frame is larger: a message is at most MaxFragmentedSize, which the
 * settings bound well below this. */
#define SD_RELAY_MAX_PAYLOAD (64u << 20)
/* HELLO: version (4), params (28), local and peer address (128 each),
 * the peer as text (80). */
#define SD_RELAY_HELLO_SIZE (4 + 28 + 128 + 128 + 80)
#define SD_RELAY_RDMA_FIXED 28
#define SD_RELAY_MAX_DESCRIPTORS 256

struct sd_relay_io;

/* A whole frame arrived. `payload` (talloc'd, may be NULL if empty) is the
 * callee's to steal; otherwise freed after the call. `fd` is -1 unless the
 * frame carried one, which the callee then owns. The callee may free the
 * io. */
typedef void (*sd_relay_frame_fn)(void *private_data, uint16_t type,
				  uint16_t flags, uint64_t id,
				  uint8_t *payload, uint32_t length, int fd);

/* The stream ended (error 0: closed by the other side) or failed, or a
 * frame broke the format (error EPROTO, `what` says how). Called once; the
 * callee may free the io. */
typedef void (*sd_relay_error_fn)(void *private_data, int error,
				  const char *what);

/* Frames over `fd` (set non-blocking; the io owns it and closes it). */
struct sd_relay_io *sd_relay_io_new(TALLOC_CTX *mem_ctx,
				    struct tevent_context *ev, int fd,
				    sd_relay_frame_fn frame,
				    sd_relay_error_fn error,
				    void *private_data);

/* Queue a frame: the payload is the iovecs (copied); `fd` >= 0 goes with it
 * (the io owns it from now on, also on failure). Written when the socket
 * takes it. Returns 0 or ENOMEM/EMSGSIZE/EPIPE (the stream has failed). */
int sd_relay_io_queue(struct sd_relay_io *io, uint16_t type, uint16_t flags,
		      uint64_t id, const struct iovec *iov, int iovcnt, int fd);

/* Bytes queued and not yet written. */
uint64_t sd_relay_io_pending(const struct sd_relay_io *io);

/* Encode and decode the HELLO payload. */
void sd_relay_hello_encode(uint8_t *p, const struct smbdirect_params *params,
			   const struct sockaddr_storage *local,
			   const struct sockaddr_storage *peer,
			   const char *peer_text);
bool sd_relay_hello_decode(const uint8_t *p, uint32_t length,
			   struct smbdirect_params *params,
			   struct sockaddr_storage *local,
			   struct sockaddr_storage *peer, char *peer_text,
			   size_t peer_text_size);

/* The header of a frame. */
void sd_relay_header_encode(uint8_t *p, uint16_t type, uint16_t flags,
			    uint32_t length, uint64_t id);
void sd_relay_header_decode(const uint8_t *p, uint16_t *type,
			    uint16_t *flags, uint32_t *length, uint64_t *id);

#endif /* SMBDIRECT_RDMA_RELAY_H */
