/*
 * libsmbdirect: the relay's framed local stream (relay.h): frames in and
 * out of a non-blocking AF_UNIX stream socket on tevent, file descriptors
 * passed with SCM_RIGHTS.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../core/byteorder.h"
#include "list.h"
#include "relay.h"

/* At most this many received descriptors wait for their frame. */
#define SD_RELAY_FDS_MAX 8
/* Frames taken per wake-up, so one busy side does not starve the loop. */
#define SD_RELAY_FRAMES_PER_WAKEUP 32

struct sd_relay_out {
	struct sd_relay_out *prev, *next;
	uint8_t *data;        /* header and payload */
	size_t length;
	size_t sent;
	int fd;               /* goes with the first byte; -1 if none */
};

struct sd_relay_io {
	struct tevent_context *ev;
	int fd;
	struct tevent_fd *fde;
	sd_relay_frame_fn frame;
	sd_relay_error_fn error;
	void *private_data;
	bool failed;
	bool *alive;          /* cleared if freed inside a callback */

	/* input: the header, then the payload */
	uint8_t header[SD_RELAY_HEADER];
	size_t header_got;
	uint8_t *payload;
	uint32_t payload_length;
	uint32_t payload_got;
	int fds[SD_RELAY_FDS_MAX];
	unsigned int fd_count;

	/* output */
	struct sd_relay_out *out;
	uint64_t out_bytes;
};

void sd_relay_header_encode(uint8_t *p, uint16_t type, uint16_t flags,
			    uint32_t length, uint64_t id)
{
	sd_put_le16(p, type);
	sd_put_le16(p + 2, flags);
	sd_put_le32(p + 4, length);
	sd_put_le64(p + 8, id);
}

void sd_relay_header_decode(const uint8_t *p, uint16_t *type,
			    uint16_t *flags, uint32_t *length, uint64_t *id)
{
	*type = sd_get_le16(p);
	*flags = sd_get_le16(p + 2);
	*length = sd_get_le32(p + 4);
	*id = sd_get_le64(p + 8);
}

void sd_relay_hello_encode(uint8_t *p, const struct smbdirect_params *params,
			   const struct sockaddr_storage *local,
			   const struct sockaddr_storage *peer,
			   const char *peer_text)
{
	memset(p, 0, SD_RELAY_HELLO_SIZE);
	sd_put_le32(p, SD_RELAY_VERSION);
	sd_put_le16(p + 4, params->protocol);
	sd_put_le16(p + 6, params->receive_credit_target);
	sd_put_le16(p + 8, params->send_credit_target);
	sd_put_le32(p + 12, params->max_send_size);
	sd_put_le32(p + 16, params->max_receive_size);
	sd_put_le32(p + 20, params->max_fragmented_send_size);
	sd_put_le32(p + 24, params->max_fragmented_receive_size);
	sd_put_le32(p + 28, params->max_read_write_size);
	/* Both ends are this host: the addresses go as they are. */
	memcpy(p + 32, local, 128);
	memcpy(p + 160, peer, 128);
	snprintf((char *)p + 288, 80, "%s", peer_text);
}

bool sd_relay_hello_decode(const uint8_t *p, uint32_t length,
			   struct smbdirect_params *params,
			   struct sockaddr_storage *local,
			   struct sockaddr_storage *peer, char *peer_text,
			   size_t peer_text_size)
{
	if (length != SD_RELAY_HELLO_SIZE ||
	    sd_get_le32(p) != SD_RELAY_VERSION || p[288 + 79] != '\0') {
		return false;
	}
	memset(params, 0, sizeof(*params));
	params->protocol = sd_get_le16(p + 4);
	params->receive_credit_target = sd_get_le16(p + 6);
	params->send_credit_target = sd_get_le16(p + 8);
	params->max_send_size = sd_get_le32(p + 12);
	params->max_receive_size = sd_get_le32(p + 16);
	params->max_fragmented_send_size = sd_get_le32(p + 20);
	params->max_fragmented_receive_size = sd_get_le32(p + 24);
	params->max_read_write_size = sd_get_le32(p + 28);
	memcpy(local, p + 32, 128);
	memcpy(peer, p + 160, 128);
	snprintf(peer_text, peer_text_size, "%s", (const char *)p + 288);
	return params->max_fragmented_receive_size <= SD_RELAY_MAX_PAYLOAD &&
	       params->max_fragmented_send_size <= SD_RELAY_MAX_PAYLOAD;
}

static void close_fds(struct sd_relay_io *io)
{
	while (io->fd_count > 0) {
		io->fd_count -= 1;
		close(io->fds[io->fd_count]);
	}
}

static int out_destructor(struct sd_relay_out *o)
{
	if (o->fd >= 0) {
		close(o->fd);
	}
	return 0;
}

static int io_destructor(struct sd_relay_io *io)
{
	if (io->alive != NULL) {
		*io->alive = false;
	}
	TALLOC_FREE(io->fde);
	while (io->out != NULL) {
		struct sd_relay_out *o = io->out;

		SD_LIST_REMOVE(io->out, o);
		talloc_free(o);
	}
	close_fds(io);
	if (io->fd >= 0) {
		close(io->fd);
	}
	return 0;
}

/* Tell the owner of the io once; false if the io is gone now. */
static bool io_fail(struct sd_relay_io *io, int error, const char *what)
{
	bool alive = true;

	if (io->failed) {
		return true;
	}
	io->failed = true;
	if (io->fde != NULL) {
		tevent_fd_set_flags(io->fde, 0);
	}
	io->alive = &alive;
	io->error(io->private_data, error, what);
	if (alive) {
		io->alive = NULL;
	}
	return alive;
}

/* Read into buf what is there (up to want bytes), collecting passed
 * descriptors. Returns bytes read, 0 for EAGAIN, -1 after io_fail(). */
static ssize_t io_read(struct sd_relay_io *io, uint8_t *buf, size_t want,
		       bool *gone)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * SD_RELAY_FDS_MAX)];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = want };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	n = recvmsg(io->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		      errno == EINTR)) {
		return 0;
	}
	if (n <= 0) {
		*gone = !io_fail(io, n == 0 ? 0 : errno,
				 n == 0 ? "closed" : strerror(errno));
		return -1;
	}
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		size_t i, count;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < count; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (io->fd_count >= SD_RELAY_FDS_MAX) {
				close(fd);
				*gone = !io_fail(io, EPROTO,
						 "too many descriptors passed");
				return -1;
			}
			io->fds[io->fd_count++] = fd;
		}
	}
	if ((msg.msg_flags & MSG_CTRUNC) != 0) {
		*gone = !io_fail(io, EPROTO, "descriptors were truncated");
		return -1;
	}
	return n;
}

/* One whole frame is in: hand it over. False if the io is gone. */
static bool io_deliver(struct sd_relay_io *io)
{
	uint16_t type, flags;
	uint32_t length;
	uint64_t id;
	uint8_t *payload = io->payload;
	int fd = -1;
	bool alive = true;

	sd_relay_header_decode(io->header, &type, &flags, &length, &id);
	io->payload = NULL;
	io->header_got = 0;
	io->payload_got = 0;
	io->payload_length = 0;
	if ((flags & SD_RELAY_F_FD) != 0) {
		if (io->fd_count == 0) {
			talloc_free(payload);
			return io_fail(io, EPROTO,
				       "a frame announced a descriptor that "
				       "did not come");
		}
		fd = io->fds[0];
		io->fd_count -= 1;
		memmove(io->fds, io->fds + 1, io->fd_count * sizeof(int));
	}
	io->alive = &alive;
	io->frame(io->private_data, type, flags, id, payload, length, fd);
	if (!alive) {
		return false;
	}
	io->alive = NULL;
	/* Not stolen: ours to free (a NULL parent means it was). */
	if (payload != NULL && talloc_parent(payload) == io) {
		talloc_free(payload);
	}
	return !io->failed;
}

static bool io_readable(struct sd_relay_io *io)
{
	unsigned int frames = 0;
	bool gone = false;

	while (frames < SD_RELAY_FRAMES_PER_WAKEUP) {
		ssize_t n;

		if (io->header_got < SD_RELAY_HEADER) {
			n = io_read(io, io->header + io->header_got,
				    SD_RELAY_HEADER - io->header_got, &gone);
			if (n <= 0) {
				return !gone;
			}
			io->header_got += (size_t)n;
			if (io->header_got < SD_RELAY_HEADER) {
				continue;
			}
			io->payload_length = sd_get_le32(io->header + 4);
			if (io->payload_length > SD_RELAY_MAX_PAYLOAD) {
				return io_fail(io, EPROTO,
					       "a frame longer than 64 MiB");
			}
			if (io->payload_length > 0) {
				io->payload = talloc_size(io,
							  io->payload_length);
				if (io->payload == NULL) {
					return io_fail(io, ENOMEM,
						       "no memory for a frame");
				}
			}
		}
		if (io->payload_got < io->payload_length) {
			n = io_read(io, io->payload + io->payload_got,
				    io->payload_length - io->payload_got,
				    &gone);
			if (n <= 0) {
				return !gone;
			}
			io->payload_got += (uint32_t)n;
			if (io->payload_got < io->payload_length) {
				continue;
			}
		}
		if (!io_deliver(io)) {
			return false;
		}
		frames += 1;
	}
	return true;
}

/* Write what the socket takes. Errors are told (io_fail) only from the
 * loop (`report`); a caller's write leaves them for the loop to find.
 * Returns false if the io was freed by the error callback. */
static bool io_flush(struct sd_relay_io *io, bool report)
{
	while (io->out != NULL) {
		struct sd_relay_out *o = io->out;
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {
			.iov_base = o->data + o->sent,
			.iov_len = o->length - o->sent,
		};
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (o->sent == 0 && o->fd >= 0) {
			struct cmsghdr *c;

			memset(&control, 0, sizeof(control));
			msg.msg_control = control.buf;
			msg.msg_controllen = sizeof(control.buf);
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &o->fd, sizeof(int));
		}
		n = sendmsg(io->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR) {
				return true;
			}
			if (report) {
				return io_fail(io, errno, strerror(errno));
			}
			return true;
		}
		if (o->sent == 0 && o->fd >= 0) {
			/* Passed with the first byte: the other side has
			 * its own copy now. */
			close(o->fd);
			o->fd = -1;
		}
		o->sent += (size_t)n;
		io->out_bytes -= (uint64_t)n;
		if (o->sent < o->length) {
			return true;
		}
		SD_LIST_REMOVE(io->out, o);
		talloc_free(o);
	}
	tevent_fd_set_flags(io->fde, TEVENT_FD_READ);
	return true;
}

static void io_handler(struct tevent_context *ev, struct tevent_fd *fde,
		       uint16_t flags, void *private_data)
{
	struct sd_relay_io *io = private_data;

	(void)ev;
	(void)fde;
	if ((flags & TEVENT_FD_WRITE) != 0) {
		if (!io_flush(io, true) || io->failed) {
			/* Freed by its owner's error callback, or failed. */
			return;
		}
	}
	if ((flags & TEVENT_FD_READ) != 0) {
		io_readable(io);
	}
}

struct sd_relay_io *sd_relay_io_new(TALLOC_CTX *mem_ctx,
				    struct tevent_context *ev, int fd,
				    sd_relay_frame_fn frame,
				    sd_relay_error_fn error,
				    void *private_data)
{
	struct sd_relay_io *io = talloc_zero(mem_ctx, struct sd_relay_io);
	int fl;

	if (io == NULL) {
		return NULL;
	}
	io->ev = ev;
	io->fd = -1;
	io->frame = frame;
	io->error = error;
	io->private_data = private_data;
	talloc_set_destructor(io, io_destructor);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
		talloc_free(io);
		return NULL;
	}
	io->fde = tevent_add_fd(ev, io, fd, TEVENT_FD_READ, io_handler, io);
	if (io->fde == NULL) {
		talloc_free(io);
		return NULL;
	}
	/* Ours from here on. */
	io->fd = fd;
	return io;
}

int sd_relay_io_queue(struct sd_relay_io *io, uint16_t type, uint16_t flags,
		      uint64_t id, const struct iovec *iov, int iovcnt, int fd)
{
	struct sd_relay_out *o;
	size_t length = 0;
	size_t at;
	int i;

	for (i = 0; i < iovcnt; i++) {
		length += iov[i].iov_len;
	}
	if (io->failed) {
		if (fd >= 0) {
			close(fd);
		}
		return EPIPE;
	}
	if (length > SD_RELAY_MAX_PAYLOAD) {
		if (fd >= 0) {
			close(fd);
		}
		return EMSGSIZE;
	}
	o = talloc_zero(io, struct sd_relay_out);
	if (o == NULL) {
		if (fd >= 0) {
			close(fd);
		}
		return ENOMEM;
	}
	o->fd = fd;
	talloc_set_destructor(o, out_destructor);
	o->length = SD_RELAY_HEADER + length;
	o->data = talloc_size(o, o->length);
	if (o->data == NULL) {
		talloc_free(o);
		return ENOMEM;
	}
	sd_relay_header_encode(o->data, type,
			       (uint16_t)(flags | (fd >= 0 ? SD_RELAY_F_FD : 0)),
			       (uint32_t)length, id);
	at = SD_RELAY_HEADER;
	for (i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > 0) {
			memcpy(o->data + at, iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
	}
	SD_LIST_ADD_END(io->out, o);
	io->out_bytes += o->length;
	tevent_fd_set_flags(io->fde, TEVENT_FD_READ | TEVENT_FD_WRITE);
	if (io->out == o) {
		/* Alone in the queue: out at once, without a trip through
		 * the loop; never a callback inside the caller's call. */
		(void)io_flush(io, false);
	}
	return 0;
}

uint64_t sd_relay_io_pending(const struct sd_relay_io *io)
{
	return io->out_bytes;
}
