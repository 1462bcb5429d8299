/*
 * smbdirect-bridge: one relayed connection (see relay.h).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Each message becomes an item in one of two FIFO queues, towards TCP or
 * towards SMB-Direct. An item is sent when it reaches the head and is
 * ready; it is not ready while RDMA it depends on runs (reverse WRITE:
 * the RDMA read of the client's data must finish before the request goes
 * to the server; reverse READ: the RDMA write into the client's buffers
 * must finish before the response goes out). So messages keep their order
 * in both directions.
 *
 * Memory a peer controls is bounded: TCP frames by max_frame, queued bytes
 * by max_queue (TCP reading pauses; SMB-Direct has no pause, so past the
 * bound the connection ends), RDMA staging by max_rdma_memory (further
 * RDMA waits), descriptors by max_descs and table entries by max_pending.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "relay.h"
#include "smb2.h"

/* Memory written by RDMA (the device, or rxe in the kernel) is invisible
 * to memcheck, which would call it uninitialised: say it is defined once
 * the transfer is known to be complete. */
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RDMA_PLACED(p, n) VALGRIND_MAKE_MEM_DEFINED((p), (n))
#endif
#endif
#ifndef RDMA_PLACED
#define RDMA_PLACED(p, n) ((void)(p), (void)(n))
#endif

#define POOL_MAX_FREE 8
#define POOL_MIN_SIZE (64u * 1024)
#define DRAIN_SECONDS 5
#define READS_PER_WAKEUP 64

void br_log(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "smbdirect-bridge[%d]: %s\n", (int)getpid(), line);
	fflush(stderr);
}

/* --- objects ---------------------------------------------------------------- */

struct br_pbuf {
	struct br_pbuf *next;
	struct smbdirect_buffer *buf;
	size_t size;
};

struct br_item;

/* One RDMA operation an item waits for. */
struct br_job {
	struct br_job *next;          /* deferred list */
	struct br_item *item;
	size_t piece;                 /* reverse WRITE: the piece it fills */
	bool rdma_read;               /* read the client's data (WRITE) */
	const uint8_t *pdu;           /* reverse WRITE: the request */
	size_t pdu_len;
	const uint8_t *data;          /* reverse READ: the data to write */
	uint32_t length;
	uint64_t message_id;
	struct smbdirect_buffer_descriptor *descs;
	size_t count;
	struct br_pbuf *buf;
};

struct br_item {
	struct br_item *next;
	struct br_relay *relay;
	bool to_tcp;
	uint8_t *orig;                /* the message as it arrived */
	size_t orig_len;
	struct br_piece *pieces;      /* NULL: the message goes unchanged */
	size_t npieces;
	unsigned int waiting;         /* jobs not finished */
	bool rewritten;               /* a piece no longer points into orig */
	bool ready;
	uint8_t hdr[BR_TCP_HDR];
	const uint8_t *data;          /* what goes out */
	size_t len;
	size_t sent;                  /* to TCP, including the header */
	bool invalidate;
	uint32_t rkey;
};

/* An RDMA-channel I/O the bridge remembers until its response. */
struct br_pending {
	struct br_pending *next;
	uint64_t message_id;
	uint16_t command;
	uint32_t channel;
	/* reverse READ: the client's buffers */
	struct smbdirect_buffer_descriptor *descs;
	size_t count;
	uint64_t total;
	/* reverse WRITE with RDMA_V1_INVALIDATE: the token its response
	 * invalidates */
	uint32_t invalidate_token;
	/* forward: our exposed buffer */
	struct br_pbuf *buf;
	struct smbdirect_exposure *exposure;
	uint32_t capacity;
};

struct queue {
	struct br_item *head;
	struct br_item *tail;
	uint64_t bytes;
};

struct br_relay {
	const struct br_config *cfg;
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	const struct smbdirect_params *params;
	char *name;
	int fd;
	struct tevent_fd *fde;
	bool ended;
	bool tcp_eof;
	bool sd_gone;
	char *drain_reason;
	struct tevent_timer *drain_timer;
	/* TCP input */
	uint8_t in_hdr[BR_TCP_HDR];
	size_t in_hdr_got;
	uint8_t *in_frame;
	uint32_t in_len;
	size_t in_got;
	/* queues */
	struct queue to_tcp;
	struct queue to_sd;
	unsigned int sd_in_flight;
	/* RDMA */
	struct br_pending *pending;
	size_t npending;
	struct br_pbuf *pool;
	size_t pool_free;
	uint64_t rdma_mem;
	struct br_job *deferred;
	struct br_job *deferred_tail;
	uint16_t dialect;
	struct br_stats stats;
};

static void relay_end(struct br_relay *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void update_fd(struct br_relay *r);
static void pump_sd(struct br_relay *r);
static void check_drained(struct br_relay *r);
static void start_deferred(struct br_relay *r);

/* --- ending ------------------------------------------------------------------ */

void br_relay_log_stats(const struct br_relay *r, const char *when)
{
	const struct br_stats *s = &r->stats;
	struct smbdirect_conn_stats cs;

	memset(&cs, 0, sizeof(cs));
	if (r->conn != NULL) {
		smbdirect_conn_get_stats(r->conn, &cs);
	}
	br_log("%s: counters (%s): tcp_in=%" PRIu64 "/%" PRIu64
	       " tcp_out=%" PRIu64 "/%" PRIu64 " sd_in=%" PRIu64 "/%" PRIu64
	       " sd_out=%" PRIu64 "/%" PRIu64 " compounds=%" PRIu64
	       " opaque=%" PRIu64 " rdma_read=%" PRIu64 "/%" PRIu64
	       " rdma_write=%" PRIu64 "/%" PRIu64 " send_invalidate=%" PRIu64
	       " fwd_write_rdma=%" PRIu64 " fwd_read_rdma=%" PRIu64
	       " fwd_rdma_bytes=%" PRIu64 " negotiate_clamped=%" PRIu64
	       " refused=%" PRIu64 " lib_rdma_reads=%" PRIu64
	       " lib_rdma_writes=%" PRIu64 " lib_rdma_bytes=%" PRIu64
	       " lib_msgs_sent=%" PRIu64 " lib_msgs_received=%" PRIu64
	       " lib_credit_only=%" PRIu64 " lib_keepalives=%" PRIu64
	       " lib_credit_stalls=%" PRIu64,
	       r->name, when, s->tcp_frames_in, s->tcp_bytes_in,
	       s->tcp_frames_out, s->tcp_bytes_out, s->sd_msgs_in,
	       s->sd_bytes_in, s->sd_msgs_out, s->sd_bytes_out, s->compounds,
	       s->opaque, s->rdma_read_ops, s->rdma_read_bytes,
	       s->rdma_write_ops, s->rdma_write_bytes, s->send_invalidate,
	       s->fwd_write_rdma, s->fwd_read_rdma, s->fwd_rdma_bytes,
	       s->negotiate_clamped, s->refused, cs.rdma_reads, cs.rdma_writes,
	       cs.rdma_bytes, cs.engine.messages_sent,
	       cs.engine.messages_received, cs.engine.credit_only_sent,
	       cs.engine.keepalives_sent, cs.engine.credit_stalls);
}

static void relay_end(struct br_relay *r, const char *fmt, ...)
{
	char reason[600];
	va_list ap;

	if (r->ended) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	r->ended = true;
	br_log("%s: connection ended: %s", r->name, reason);
	br_relay_log_stats(r, "end");
	TALLOC_FREE(r->fde);
	TALLOC_FREE(r->drain_timer);
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (r->conn != NULL && !r->sd_gone) {
		smbdirect_disconnect(r->conn);
	}
}

void br_relay_stop(struct br_relay *r, const char *reason)
{
	relay_end(r, "%s", reason);
}

bool br_relay_ended(const struct br_relay *r)
{
	return r->ended;
}

const struct br_stats *br_relay_stats(const struct br_relay *r)
{
	return &r->stats;
}

static void drain_timeout(struct tevent_context *ev, struct tevent_timer *te,
			  struct timeval now, void *priv)
{
	struct br_relay *r = priv;

	(void)ev;
	(void)te;
	(void)now;
	r->drain_timer = NULL;
	relay_end(r, "%s (%d s later, with messages still queued)",
		  r->drain_reason, DRAIN_SECONDS);
}

/* One side is gone: deliver what is queued for the other (bounded by a
 * timer), then end. */
static void relay_drain(struct br_relay *r, const char *reason)
{
	if (r->ended || r->drain_reason != NULL) {
		return;
	}
	r->drain_reason = talloc_strdup(r, reason);
	if (r->drain_reason == NULL) {
		relay_end(r, "%s", reason);
		return;
	}
	r->drain_timer = tevent_add_timer(
		r->ev, r, tevent_timeval_current_ofs(DRAIN_SECONDS, 0),
		drain_timeout, r);
	update_fd(r);
	check_drained(r);
}

static void check_drained(struct br_relay *r)
{
	bool empty;

	if (r->ended || r->drain_reason == NULL) {
		return;
	}
	if (r->sd_gone) {
		empty = r->to_tcp.head == NULL || r->tcp_eof;
	} else {
		empty = r->to_sd.head == NULL && r->sd_in_flight == 0;
	}
	if (empty) {
		relay_end(r, "%s", r->drain_reason);
	}
}

/* --- registered buffers -------------------------------------------------- */

static size_t pool_class(size_t n)
{
	size_t size = POOL_MIN_SIZE;

	while (size < n) {
		size *= 2;
	}
	return size;
}

static struct br_pbuf *pool_get(struct br_relay *r, size_t n)
{
	size_t size = pool_class(n);
	struct br_pbuf **pp;
	struct br_pbuf *b;

	for (pp = &r->pool; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->size == size) {
			b = *pp;
			*pp = b->next;
			b->next = NULL;
			r->pool_free -= 1;
			return b;
		}
	}
	b = talloc_zero(r, struct br_pbuf);
	if (b == NULL) {
		return NULL;
	}
	b->buf = smbdirect_buffer_new(b, r->conn, size);
	if (b->buf == NULL) {
		br_log("%s: registering %zu bytes: %s", r->name, size,
		       strerror(errno));
		talloc_free(b);
		return NULL;
	}
	b->size = size;
	r->rdma_mem += size;
	return b;
}

static void pool_put(struct br_relay *r, struct br_pbuf *b)
{
	if (b == NULL) {
		return;
	}
	if (r->pool_free < POOL_MAX_FREE && !r->ended) {
		b->next = r->pool;
		r->pool = b;
		r->pool_free += 1;
		return;
	}
	r->rdma_mem -= b->size;
	talloc_free(b);
}

/* Room for @p n more bytes of staging memory (cached buffers count; the
 * cache is dropped first). */
static bool pool_room(struct br_relay *r, size_t n)
{
	size_t size = pool_class(n);
	struct br_pbuf *b;

	for (b = r->pool; b != NULL; b = b->next) {
		if (b->size == size) {
			return true;
		}
	}
	while (r->rdma_mem + size > r->cfg->max_rdma_memory && r->pool != NULL) {
		b = r->pool;
		r->pool = b->next;
		r->pool_free -= 1;
		r->rdma_mem -= b->size;
		talloc_free(b);
	}
	return r->rdma_mem + size <= r->cfg->max_rdma_memory;
}

/* --- pending RDMA I/O --------------------------------------------------------- */

static struct br_pending *pending_find(struct br_relay *r, uint64_t mid)
{
	struct br_pending *p;

	for (p = r->pending; p != NULL; p = p->next) {
		if (p->message_id == mid) {
			return p;
		}
	}
	return NULL;
}

static void pending_remove(struct br_relay *r, struct br_pending *p)
{
	struct br_pending **pp;

	for (pp = &r->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			r->npending -= 1;
			break;
		}
	}
	/* Revoke the peer's access before the memory is reused. */
	TALLOC_FREE(p->exposure);
	pool_put(r, p->buf);
	p->buf = NULL;
	talloc_free(p);
}

static struct br_pending *pending_add(struct br_relay *r, uint64_t mid,
				      uint16_t command)
{
	struct br_pending *p;

	if (pending_find(r, mid) != NULL) {
		relay_end(r, "MessageId %" PRIu64 " reused while an RDMA %s "
			     "with it is pending",
			  mid, br_command_name(command));
		return NULL;
	}
	if (r->npending >= r->cfg->max_pending) {
		relay_end(r, "more than %zu RDMA READ/WRITEs pending "
			     "(--max-pending); %s MessageId %" PRIu64,
			  r->cfg->max_pending, br_command_name(command), mid);
		return NULL;
	}
	p = talloc_zero(r, struct br_pending);
	if (p == NULL) {
		relay_end(r, "out of memory");
		return NULL;
	}
	p->message_id = mid;
	p->command = command;
	p->next = r->pending;
	r->pending = p;
	r->npending += 1;
	return p;
}

/* --- items and queues ----------------------------------------------------------- */

static struct br_item *item_new(struct br_relay *r, bool to_tcp,
				uint8_t *orig, size_t len)
{
	struct br_item *it = talloc_zero(r, struct br_item);

	if (it == NULL) {
		talloc_free(orig);
		relay_end(r, "out of memory");
		return NULL;
	}
	it->relay = r;
	it->to_tcp = to_tcp;
	it->orig = talloc_steal(it, orig);
	it->orig_len = len;
	return it;
}

static void queue_push(struct queue *q, struct br_item *it)
{
	if (q->tail == NULL) {
		q->head = it;
	} else {
		q->tail->next = it;
	}
	q->tail = it;
}

static struct br_item *queue_pop(struct queue *q)
{
	struct br_item *it = q->head;

	if (it != NULL) {
		q->head = it->next;
		if (q->head == NULL) {
			q->tail = NULL;
		}
		q->bytes -= it->orig_len;
	}
	return it;
}

/* Pieces for every PDU, pointing into the original. */
static bool item_split(struct br_item *it, const struct br_pdu *pdus,
		       size_t count)
{
	size_t i;

	it->pieces = talloc_array(it, struct br_piece, count);
	if (it->pieces == NULL) {
		return false;
	}
	for (i = 0; i < count; i++) {
		it->pieces[i].data = it->orig + pdus[i].offset;
		it->pieces[i].length = pdus[i].length;
	}
	it->npieces = count;
	return true;
}

/* Build what goes out once no job is left. */
static bool item_finish(struct br_item *it)
{
	if (it->pieces == NULL) {
		it->data = it->orig;
		it->len = it->orig_len;
	} else if (it->npieces == 1) {
		/* One PDU: it goes as it is (its NextCommand is 0, rewritten
		 * or not), without a joined copy. */
		it->data = it->pieces[0].data;
		it->len = it->pieces[0].length;
	} else {
		uint8_t *joined = br_compound_join(it, it->pieces,
						   it->npieces, &it->len);

		if (joined == NULL) {
			return false;
		}
		it->data = joined;
	}
	if (it->to_tcp && it->len > BR_TCP_MAX_FRAME) {
		relay_end(it->relay,
			  "a message of %zu bytes does not fit Direct TCP "
			  "framing ([MS-SMB2] 2.1: 24-bit length)",
			  it->len);
		return false;
	}
	br_tcp_header_encode(it->hdr, (uint32_t)it->len);
	it->ready = true;
	return true;
}

static void item_job_done(struct br_item *it)
{
	struct br_relay *r = it->relay;

	it->waiting -= 1;
	if (it->waiting > 0 || r->ended) {
		return;
	}
	if (!item_finish(it)) {
		relay_end(r, "out of memory");
		return;
	}
	if (it->to_tcp) {
		update_fd(r);
	} else {
		pump_sd(r);
	}
}

static void enqueue(struct br_relay *r, struct br_item *it)
{
	struct queue *q = it->to_tcp ? &r->to_tcp : &r->to_sd;

	if (it->waiting == 0 && !it->ready && !item_finish(it)) {
		talloc_free(it);
		relay_end(r, "out of memory");
		return;
	}
	queue_push(q, it);
	q->bytes += it->orig_len;
	if (it->to_tcp) {
		if (q->bytes > r->cfg->max_queue) {
			relay_end(r, "%" PRIu64 " bytes from the SMB-Direct "
				     "peer wait for the TCP side (--max-queue "
				     "%" PRIu64 ")",
				  q->bytes, r->cfg->max_queue);
			return;
		}
		update_fd(r);
	} else {
		pump_sd(r);
		update_fd(r);
	}
}

/* --- SMB-Direct output ------------------------------------------------------- */

static void sd_sent(struct tevent_req *req)
{
	struct br_item *it = tevent_req_callback_data(req, struct br_item);
	struct br_relay *r = it->relay;
	int ret = smbdirect_send_recv(req);

	r->sd_in_flight -= 1;
	if (ret != 0 && !r->ended) {
		relay_end(r, "sending %zu bytes to the SMB-Direct peer: %s%s",
			  it->len, strerror(ret),
			  ret == EMSGSIZE ? " (larger than the peer's "
					    "MaxFragmentedSize)"
					  : "");
	}
	talloc_free(it);
	if (!r->ended) {
		update_fd(r);
		check_drained(r);
	}
}

static void pump_sd(struct br_relay *r)
{
	while (!r->ended && !r->sd_gone && r->to_sd.head != NULL &&
	       r->to_sd.head->ready) {
		struct br_item *it = queue_pop(&r->to_sd);
		struct iovec iov = {.iov_base = (void *)it->data,
				    .iov_len = it->len};
		struct tevent_req *req;

		if (it->invalidate) {
			/* [MS-SMBD] 3.1.4.2 and [MS-SMB2] 3.3.5.12:
			 * SMB2_CHANNEL_RDMA_V1_INVALIDATE. */
			req = smbdirect_send_invalidate_send(
				it, r->ev, r->conn, &iov, 1, it->rkey);
			r->stats.send_invalidate += 1;
		} else {
			req = smbdirect_send_send(it, r->ev, r->conn, &iov, 1);
		}
		if (req == NULL) {
			talloc_free(it);
			relay_end(r, "out of memory");
			return;
		}
		tevent_req_set_callback(req, sd_sent, it);
		r->sd_in_flight += 1;
		r->stats.sd_msgs_out += 1;
		r->stats.sd_bytes_out += it->len;
	}
}

/* --- TCP output --------------------------------------------------------------- */

static bool tcp_write_head(struct br_relay *r)
{
	struct br_item *it = r->to_tcp.head;
	struct iovec iov[2];
	int n = 0;
	ssize_t w;

	if (it->sent < BR_TCP_HDR) {
		iov[n].iov_base = it->hdr + it->sent;
		iov[n].iov_len = BR_TCP_HDR - it->sent;
		n++;
		iov[n].iov_base = (void *)it->data;
		iov[n].iov_len = it->len;
		n++;
	} else {
		iov[n].iov_base = (void *)(it->data + (it->sent - BR_TCP_HDR));
		iov[n].iov_len = it->len - (it->sent - BR_TCP_HDR);
		n++;
	}
	w = writev(r->fd, iov, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			return false;
		}
		relay_end(r, "writing to the TCP peer: %s", strerror(errno));
		return false;
	}
	it->sent += (size_t)w;
	if (it->sent < it->len + BR_TCP_HDR) {
		return false;
	}
	r->stats.tcp_frames_out += 1;
	r->stats.tcp_bytes_out += it->len;
	talloc_free(queue_pop(&r->to_tcp));
	return true;
}

static void tcp_flush(struct br_relay *r)
{
	while (!r->ended && r->to_tcp.head != NULL && r->to_tcp.head->ready) {
		if (!tcp_write_head(r)) {
			break;
		}
	}
	if (!r->ended) {
		update_fd(r);
		check_drained(r);
	}
}

static void update_fd(struct br_relay *r)
{
	uint16_t flags = 0;

	if (r->ended || r->fde == NULL) {
		return;
	}
	if (r->drain_reason == NULL && !r->tcp_eof &&
	    r->to_sd.bytes <= r->cfg->max_queue) {
		flags |= TEVENT_FD_READ;
	}
	if (r->to_tcp.head != NULL && r->to_tcp.head->ready) {
		flags |= TEVENT_FD_WRITE;
	}
	tevent_fd_set_flags(r->fde, flags);
}

/* --- RDMA jobs (reverse mode) ------------------------------------------------ */

static void job_done(struct tevent_req *req)
{
	struct br_job *job = tevent_req_callback_data(req, struct br_job);
	struct br_item *it = job->item;
	struct br_relay *r = it->relay;
	int ret = smbdirect_rdma_recv(req);

	talloc_free(req);
	if (ret != 0 && r->sd_gone && r->drain_reason != NULL) {
		relay_end(r, "%s", r->drain_reason);
		return;
	}
	if (ret != 0) {
		relay_end(r, "RDMA %s of the client's buffers for %s MessageId "
			     "%" PRIu64 " (%u bytes) failed: %s",
			  job->rdma_read ? "read" : "write",
			  job->rdma_read ? "WRITE" : "READ", job->message_id,
			  job->length, strerror(ret));
		return;
	}
	if (job->rdma_read) {
		uint8_t *data = smbdirect_buffer_data(job->buf->buf);
		size_t len;
		uint8_t *pdu;

		RDMA_PLACED(data, job->length);
		if (r->cfg->corrupt) {
			data[0] ^= 0x01;
		}
		pdu = br_write_make_inline(it, job->pdu, job->pdu_len, data,
					   job->length, &len);
		if (pdu == NULL) {
			relay_end(r, "out of memory");
			return;
		}
		it->pieces[job->piece].data = pdu;
		it->pieces[job->piece].length = len;
		r->stats.rdma_read_ops += 1;
		r->stats.rdma_read_bytes += job->length;
	} else {
		r->stats.rdma_write_ops += 1;
		r->stats.rdma_write_bytes += job->length;
	}
	pool_put(r, job->buf);
	job->buf = NULL;
	talloc_free(job);
	item_job_done(it);
	start_deferred(r);
}

static bool job_start(struct br_relay *r, struct br_job *job)
{
	struct tevent_req *req;

	job->buf = pool_get(r, job->length);
	if (job->buf == NULL) {
		relay_end(r, "no registered memory for %u bytes", job->length);
		return false;
	}
	if (job->rdma_read) {
		req = smbdirect_rdma_read_send(job, r->ev, r->conn,
					       job->buf->buf, 0, job->length,
					       job->descs, job->count);
	} else {
		memcpy(smbdirect_buffer_data(job->buf->buf), job->data,
		       job->length);
		req = smbdirect_rdma_write_send(job, r->ev, r->conn,
						job->buf->buf, 0, job->length,
						job->descs, job->count);
	}
	if (req == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	tevent_req_set_callback(req, job_done, job);
	return true;
}

/* Start jobs in arrival order while staging memory allows. */
static void start_deferred(struct br_relay *r)
{
	while (!r->ended && r->deferred != NULL &&
	       pool_room(r, r->deferred->length)) {
		struct br_job *job = r->deferred;

		r->deferred = job->next;
		if (r->deferred == NULL) {
			r->deferred_tail = NULL;
		}
		job->next = NULL;
		if (!job_start(r, job)) {
			return;
		}
	}
}

static void job_submit(struct br_relay *r, struct br_job *job)
{
	job->item->waiting += 1;
	if (r->deferred_tail == NULL) {
		r->deferred = job;
	} else {
		r->deferred_tail->next = job;
	}
	r->deferred_tail = job;
}

/* --- reverse mode: client requests over SMB-Direct ---------------------------- */

static void log_refusal(struct br_relay *r, const struct br_rdma_io *io,
			enum br_verdict v, const char *why)
{
	r->stats.refused += 1;
	relay_end(r, "%s %s MessageId %" PRIu64 " Channel %u from the "
		     "SMB-Direct client: %s",
		  v == BR_REFUSE ? "refusing" : "malformed",
		  br_command_name(io->command), io->message_id, io->channel,
		  why);
}

static bool rev_read_request(struct br_relay *r, struct br_item *it,
			     size_t i, const struct br_rdma_io *io,
			     const struct smbdirect_buffer_descriptor *descs)
{
	struct br_pending *p = pending_add(r, io->message_id, io->command);
	uint8_t *pdu;

	if (p == NULL) {
		return false;
	}
	p->channel = io->channel;
	p->count = io->count;
	p->total = io->total;
	p->descs = talloc_memdup(p, descs, io->count * sizeof(*descs));
	pdu = talloc_memdup(it, it->pieces[i].data, it->pieces[i].length);
	if (p->descs == NULL || pdu == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	br_read_make_plain(pdu, it->pieces[i].length);
	it->pieces[i].data = pdu;
	it->rewritten = true;
	return true;
}

static bool rev_write_request(struct br_relay *r, struct br_item *it,
			      size_t i, const struct br_rdma_io *io,
			      const struct smbdirect_buffer_descriptor *descs)
{
	struct br_job *job = talloc_zero(it, struct br_job);

	if (job == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	job->item = it;
	job->piece = i;
	job->rdma_read = true;
	job->pdu = it->pieces[i].data;
	job->pdu_len = it->pieces[i].length;
	job->length = io->length;
	job->message_id = io->message_id;
	job->count = io->count;
	job->descs = talloc_memdup(job, descs, io->count * sizeof(*descs));
	if (job->descs == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	if (io->channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE) {
		/* [MS-SMB2] 3.3.5.13 as 3.3.5.12: the response invalidates
		 * the first descriptor's token. cifs.ko (3.0.2 and 3.1.1)
		 * counts on it: it does not invalidate that memory itself
		 * and re-registers it, which fails if it is still valid. */
		struct br_pending *p = pending_add(r, io->message_id,
						   io->command);

		if (p == NULL) {
			return false;
		}
		p->channel = io->channel;
		p->invalidate_token = descs[0].token;
	}
	job_submit(r, job);
	it->rewritten = true;
	return true;
}

static bool rev_request_pdu(struct br_relay *r, struct br_item *it, size_t i,
			    struct smbdirect_buffer_descriptor *descs)
{
	struct br_rdma_io io;
	char why[200];
	enum br_verdict v = br_rdma_request_parse(
		it->pieces[i].data, it->pieces[i].length, r->cfg->max_descs,
		r->params->max_read_write_size, &io, descs, why, sizeof(why));

	switch (v) {
	case BR_PASS:
		return true;
	case BR_REFUSE:
	case BR_MALFORMED:
		log_refusal(r, &io, v, why);
		return false;
	case BR_RDMA:
		break;
	}
	if (r->cfg->verbose > 1) {
		br_log("%s: %s MessageId %" PRIu64 ": %u bytes over RDMA "
		       "(%zu descriptors, channel %u)",
		       r->name, br_command_name(io.command), io.message_id,
		       io.length, io.count, io.channel);
	}
	if (io.command == BR_SMB2_READ) {
		return rev_read_request(r, it, i, &io, descs);
	}
	return rev_write_request(r, it, i, &io, descs);
}

static bool opaque_allowed(struct br_relay *r, enum br_msg_kind kind)
{
	if (kind == BR_MSG_BAD) {
		relay_end(r, "a message that is not SMB (protocol id "
			     "not 0xFE/0xFD/0xFC/0xFF 'SMB')");
		return false;
	}
	if (r->cfg->mode == BR_REVERSE && !r->cfg->allow_opaque &&
	    (kind == BR_MSG_TRANSFORM || kind == BR_MSG_COMPRESSED)) {
		r->stats.refused += 1;
		relay_end(r, "refusing an %s message from the SMB-Direct client: "
			     "the bridge cannot see whether it carries an RDMA "
			     "channel, which the TCP server would serve as a "
			     "0-byte transfer (--allow-encrypted passes them)",
			  br_msg_kind_name(kind));
		return false;
	}
	r->stats.opaque += 1;
	return true;
}

/* Split an SMB2 message into an item's pieces; false ends the relay. */
static bool split_message(struct br_relay *r, struct br_item *it,
			  struct br_pdu *pdus, size_t *count)
{
	const char *why = NULL;

	if (!br_compound_split(it->orig, it->orig_len, pdus, BR_MAX_COMPOUND,
			       count, &why)) {
		relay_end(r, "malformed SMB2 message of %zu bytes from the %s "
			     "side: %s",
			  it->orig_len, it->to_tcp ? "SMB-Direct" : "TCP",
			  why);
		return false;
	}
	if (*count > 1) {
		r->stats.compounds += 1;
	}
	if (!item_split(it, pdus, *count)) {
		relay_end(r, "out of memory");
		return false;
	}
	return true;
}

static void rev_from_client(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	struct smbdirect_buffer_descriptor *descs;
	size_t count;
	size_t i;

	descs = talloc_array(it, struct smbdirect_buffer_descriptor,
			     r->cfg->max_descs);
	if (descs == NULL) {
		talloc_free(it);
		relay_end(r, "out of memory");
		return;
	}
	if (!split_message(r, it, pdus, &count)) {
		talloc_free(it);
		return;
	}
	for (i = 0; i < count; i++) {
		if (!rev_request_pdu(r, it, i, descs)) {
			talloc_free(it);
			return;
		}
	}
	talloc_free(descs);
	if (!it->rewritten) {
		TALLOC_FREE(it->pieces);
	}
	enqueue(r, it);
	start_deferred(r);
}

/* --- reverse mode: server responses over TCP -------------------------------- */

static bool rev_rdma_response(struct br_relay *r, struct br_item *it,
			      size_t i, const struct br_pdu *pdu)
{
	struct br_pending *p = pending_find(r, pdu->message_id);
	struct br_read_rsp rsp;
	const char *why = NULL;
	struct br_job *job;
	uint8_t *out;
	size_t len;

	if (p == NULL || pdu->command != p->command) {
		return true;
	}
	/* [MS-SMB2] 3.3.4.2: an interim response; the final one follows. */
	if ((pdu->flags & BR_FLAGS_ASYNC_COMMAND) != 0 &&
	    pdu->status == BR_STATUS_PENDING) {
		return true;
	}
	if (pdu->command == BR_SMB2_WRITE) {
		/* Success or error, the response invalidates the client's
		 * buffer (one rkey per message: the first one wins). */
		if (!it->invalidate) {
			it->invalidate = true;
			it->rkey = p->invalidate_token;
		}
		pending_remove(r, p);
		return true;
	}
	if (!br_read_response_parse(it->pieces[i].data, it->pieces[i].length,
				    &rsp, &why)) {
		relay_end(r, "malformed READ response MessageId %" PRIu64
			     " from the TCP server: %s",
			  pdu->message_id, why);
		return false;
	}
	if (p->channel == SMB2_CHANNEL_RDMA_V1_INVALIDATE && !it->invalidate) {
		/* One rkey per Send-with-Invalidate: the first READ of a
		 * compound gets it; the client invalidates the others. */
		it->invalidate = true;
		it->rkey = p->descs[0].token;
	}
	if (!rsp.has_data) {
		/* An error: the response goes as it is. */
		pending_remove(r, p);
		return true;
	}
	if ((pdu->flags & BR_FLAGS_SIGNED) != 0) {
		relay_end(r, "the TCP server signed the response to READ "
			     "MessageId %" PRIu64 ", which the bridge must "
			     "rewrite for the RDMA channel",
			  pdu->message_id);
		return false;
	}
	if (rsp.data_length > p->total) {
		relay_end(r, "the TCP server returned %u bytes for READ "
			     "MessageId %" PRIu64 ", more than the %" PRIu64
			     " bytes of the client's buffers",
			  rsp.data_length, pdu->message_id, p->total);
		return false;
	}
	out = br_read_response_make_rdma(it, it->pieces[i].data,
					 rsp.data_length, &len);
	if (out == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	if (rsp.data_length > 0) {
		job = talloc_zero(it, struct br_job);
		if (job == NULL) {
			relay_end(r, "out of memory");
			return false;
		}
		job->item = it;
		job->data = it->pieces[i].data + rsp.data_offset;
		job->length = rsp.data_length;
		job->message_id = pdu->message_id;
		job->count = p->count;
		job->descs = talloc_steal(job, p->descs);
		p->descs = NULL;
		job_submit(r, job);
	}
	it->pieces[i].data = out;
	it->pieces[i].length = len;
	it->rewritten = true;
	pending_remove(r, p);
	return true;
}

static void rev_from_server(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;
	size_t i;

	if (!split_message(r, it, pdus, &count)) {
		talloc_free(it);
		return;
	}
	for (i = 0; i < count; i++) {
		if (r->npending > 0 && !rev_rdma_response(r, it, i, &pdus[i])) {
			talloc_free(it);
			return;
		}
	}
	if (!it->rewritten) {
		TALLOC_FREE(it->pieces);
	}
	enqueue(r, it);
	start_deferred(r);
}

/* --- forward mode: client requests over TCP ---------------------------------- */

/* [MS-SMB2] 2.2.19/2.2.21: RDMA_V1_INVALIDATE exists from 3.0.2 on. */
static uint32_t fwd_channel(const struct br_relay *r)
{
	return r->dialect >= 0x0302 ? SMB2_CHANNEL_RDMA_V1_INVALIDATE
				    : SMB2_CHANNEL_RDMA_V1;
}

static bool fwd_wants_rdma(const struct br_relay *r, uint32_t n, bool needed)
{
	if (r->dialect < 0x0300 || r->dialect == 0x02FF || n == 0 ||
	    n > r->params->max_read_write_size) {
		/* [MS-SMB2] 2.2.19: Channel exists from 3.0 on. */
		return false;
	}
	return needed ||
	       (r->cfg->rdma_threshold > 0 && n >= r->cfg->rdma_threshold);
}

/* Register and expose @p n bytes for the server; a pending entry. */
static struct br_pending *fwd_expose(struct br_relay *r, uint64_t mid,
				     uint16_t command, uint32_t n,
				     struct smbdirect_buffer_descriptor *desc)
{
	struct br_pending *p;
	size_t count = 0;

	/* Past a bound, the PDU goes inline; if it cannot, the size check
	 * refuses it with the reason. */
	if (r->npending >= r->cfg->max_pending || !pool_room(r, n)) {
		return NULL;
	}
	p = pending_add(r, mid, command);
	if (p == NULL) {
		return NULL;
	}
	p->buf = pool_get(r, n);
	if (p->buf != NULL) {
		/* One descriptor: ksmbd accepts no more. */
		p->exposure = smbdirect_expose(p, r->conn, p->buf->buf, 0, n,
					       command == BR_SMB2_READ, desc,
					       1, &count);
	}
	if (p->exposure == NULL || count != 1) {
		br_log("%s: exposing %u bytes for %s MessageId %" PRIu64
		       " failed (%s); sent inline",
		       r->name, n, br_command_name(command), mid,
		       strerror(errno));
		pending_remove(r, p);
		return NULL;
	}
	p->capacity = n;
	p->channel = fwd_channel(r);
	return p;
}

static void fwd_write_pdu(struct br_relay *r, struct br_item *it, size_t i,
			  const struct br_pdu *pdu, bool needed)
{
	struct smbdirect_buffer_descriptor desc;
	const uint8_t *data;
	uint32_t n;
	uint32_t channel;
	struct br_pending *p;
	uint8_t *out;
	size_t len;

	if (!br_write_inline_data(it->pieces[i].data, it->pieces[i].length,
				  &data, &n, &channel) ||
	    channel != SMB2_CHANNEL_NONE ||
	    (pdu->flags & BR_FLAGS_SIGNED) != 0 ||
	    !fwd_wants_rdma(r, n, needed)) {
		return;
	}
	p = fwd_expose(r, pdu->message_id, BR_SMB2_WRITE, n, &desc);
	if (p == NULL) {
		return;
	}
	memcpy(smbdirect_buffer_data(p->buf->buf), data, n);
	out = br_write_make_rdma(it, it->pieces[i].data, it->pieces[i].length,
				 p->channel, &desc, 1, &len);
	if (out == NULL) {
		pending_remove(r, p);
		return;
	}
	it->pieces[i].data = out;
	it->pieces[i].length = len;
	it->rewritten = true;
	r->stats.fwd_write_rdma += 1;
	r->stats.fwd_rdma_bytes += n;
}

static bool fwd_read_pdu(struct br_relay *r, struct br_item *it, size_t i,
			 const struct br_pdu *pdu)
{
	struct smbdirect_buffer_descriptor desc;
	uint32_t n;
	uint32_t channel;
	struct br_pending *p;
	uint8_t *out;
	size_t len;
	bool needed;
	bool is_signed = (pdu->flags & BR_FLAGS_SIGNED) != 0;

	if (!br_read_request_length(it->pieces[i].data, it->pieces[i].length,
				    &n, &channel) ||
	    channel != SMB2_CHANNEL_NONE) {
		return true;
	}
	/* The inline response would exceed what we reassemble. */
	needed = (uint64_t)n + BR_READ_RSP_DATA_OFFSET >
		 r->params->max_fragmented_receive_size;
	if (needed && (is_signed || !fwd_wants_rdma(r, n, true))) {
		r->stats.refused += 1;
		relay_end(r, "refusing READ MessageId %" PRIu64 " of %u bytes "
			     "from the TCP client%s: the response would exceed "
			     "our MaxFragmentedSize %u and %s; see 'Sizes' in "
			     "smbdirect-bridge(1)",
			  pdu->message_id, n, is_signed ? " (signed)" : "",
			  r->params->max_fragmented_receive_size,
			  is_signed ? "a signed request cannot be rewritten"
				    : "it cannot go over RDMA");
		return false;
	}
	if (is_signed || !fwd_wants_rdma(r, n, needed)) {
		return true;
	}
	p = fwd_expose(r, pdu->message_id, BR_SMB2_READ, n, &desc);
	if (p == NULL) {
		return !r->ended;
	}
	out = br_read_make_rdma(it, it->pieces[i].data, it->pieces[i].length,
				p->channel, &desc, 1, &len);
	if (out == NULL) {
		pending_remove(r, p);
		relay_end(r, "out of memory");
		return false;
	}
	it->pieces[i].data = out;
	it->pieces[i].length = len;
	it->rewritten = true;
	r->stats.fwd_read_rdma += 1;
	r->stats.fwd_rdma_bytes += n;
	return true;
}

/* The message cannot go: say exactly why. */
static void fwd_too_large(struct br_relay *r, struct br_item *it,
			  const struct br_pdu *pdus, size_t count)
{
	size_t i;
	size_t big = 0;

	for (i = 1; i < count; i++) {
		if (pdus[i].length > pdus[big].length) {
			big = i;
		}
	}
	r->stats.refused += 1;
	relay_end(r,
		  "refusing a %zu-byte SMB2 message from the TCP client "
		  "(%s MessageId %" PRIu64 "%s%s): larger than the SMB-Direct "
		  "peer's MaxFragmentedSize %u, and its data cannot move to an "
		  "RDMA channel (%s); see 'Sizes' in smbdirect-bridge(1)",
		  it->len, br_command_name(pdus[big].command),
		  pdus[big].message_id,
		  (pdus[big].flags & BR_FLAGS_SIGNED) != 0 ? ", signed" : "",
		  count > 1 ? ", in a compound" : "",
		  r->params->max_fragmented_send_size,
		  (pdus[big].flags & BR_FLAGS_SIGNED) != 0
			  ? "a signed request cannot be rewritten"
		  : pdus[big].command == BR_SMB2_WRITE
			  ? "dialect, size or RDMA limits"
			  : "only READ and WRITE have a channel");
}

static void fwd_from_client(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;
	size_t i;
	bool needed = it->orig_len > r->params->max_fragmented_send_size;

	if (!split_message(r, it, pdus, &count)) {
		talloc_free(it);
		return;
	}
	for (i = 0; i < count && !r->ended; i++) {
		if (pdus[i].command == BR_SMB2_WRITE) {
			fwd_write_pdu(r, it, i, &pdus[i], needed);
		} else if (pdus[i].command == BR_SMB2_READ &&
			   !fwd_read_pdu(r, it, i, &pdus[i])) {
			break;
		}
	}
	if (r->ended) {
		talloc_free(it);
		return;
	}
	if (!it->rewritten) {
		TALLOC_FREE(it->pieces);
	}
	if (!item_finish(it)) {
		talloc_free(it);
		relay_end(r, "out of memory");
		return;
	}
	if (it->len > r->params->max_fragmented_send_size) {
		fwd_too_large(r, it, pdus, count);
		talloc_free(it);
		return;
	}
	enqueue(r, it);
}

/* --- forward mode: server responses over SMB-Direct ---------------------------- */

static uint32_t round_down_4k(uint64_t v)
{
	return (uint32_t)(v & ~(uint64_t)4095);
}

static void fwd_negotiate(struct br_relay *r, uint8_t *pdu, size_t len)
{
	const struct smbdirect_params *p = r->params;
	uint64_t both = p->max_fragmented_send_size <
					p->max_fragmented_receive_size
				? p->max_fragmented_send_size
				: p->max_fragmented_receive_size;
	struct br_size_limits lim = {
		.max_write = round_down_4k(p->max_fragmented_send_size -
					   BR_RW_BUFFER_OFFSET),
		.max_read = round_down_4k(p->max_fragmented_receive_size -
					  BR_READ_RSP_DATA_OFFSET),
		.max_transact = round_down_4k(both - 256),
	};
	struct br_size_limits was;
	uint16_t dialect;
	bool changed;

	if (r->cfg->no_clamp) {
		lim.max_write = lim.max_read = lim.max_transact = UINT32_MAX;
	}
	changed = br_negotiate_clamp(pdu, len, &lim, &dialect, &was);
	if (dialect == 0 || dialect == 0x02FF) {
		return;
	}
	r->dialect = dialect;
	if (changed) {
		r->stats.negotiate_clamped += 1;
		br_log("%s: dialect 0x%04x: NEGOTIATE response sizes lowered "
		       "to fit SMB-Direct: MaxTransactSize %u -> %u, "
		       "MaxReadSize %u -> %u, MaxWriteSize %u -> %u",
		       r->name, dialect, was.max_transact,
		       was.max_transact < lim.max_transact ? was.max_transact
							   : lim.max_transact,
		       was.max_read,
		       was.max_read < lim.max_read ? was.max_read : lim.max_read,
		       was.max_write,
		       was.max_write < lim.max_write ? was.max_write
						     : lim.max_write);
	} else if (r->cfg->verbose > 0 || dialect == 0x0311) {
		br_log("%s: dialect 0x%04x: NEGOTIATE response unchanged "
		       "(MaxWriteSize %u, MaxReadSize %u; SMB-Direct "
		       "MaxFragmentedSize %u/%u)%s",
		       r->name, dialect, was.max_write, was.max_read,
		       p->max_fragmented_send_size,
		       p->max_fragmented_receive_size,
		       dialect == 0x0311 ? ": 3.1.1 hashes it into the session "
					   "keys; larger unsigned READ/WRITEs "
					   "go over RDMA"
					 : "");
	}
}

static void corrupt_inline(struct br_relay *r, uint8_t *pdu, size_t len)
{
	struct br_read_rsp rsp;
	const char *why;

	if (r->cfg->corrupt && br_read_response_parse(pdu, len, &rsp, &why) &&
	    rsp.has_data && rsp.data_length > 0) {
		pdu[rsp.data_offset] ^= 0x01;
	}
}

static bool fwd_read_response(struct br_relay *r, struct br_item *it,
			      size_t i, const struct br_pdu *pdu,
			      struct br_pending *p)
{
	struct br_read_rsp rsp;
	const char *why = NULL;
	uint8_t *data;
	uint8_t *out;
	size_t len;

	if (!br_read_response_parse(it->pieces[i].data, it->pieces[i].length,
				    &rsp, &why)) {
		relay_end(r, "malformed READ response MessageId %" PRIu64
			     " from the SMB-Direct server: %s",
			  pdu->message_id, why);
		return false;
	}
	if (!rsp.has_data || rsp.data_length > 0) {
		/* An error, or the server sent the data inline after all. */
		pending_remove(r, p);
		return true;
	}
	if (rsp.data_remaining > p->capacity) {
		relay_end(r, "the SMB-Direct server claims %u bytes written by "
			     "RDMA for READ MessageId %" PRIu64 " into %u bytes",
			  rsp.data_remaining, pdu->message_id, p->capacity);
		return false;
	}
	data = smbdirect_buffer_data(p->buf->buf);
	/* The response follows the server's RDMA write ([MS-SMBD] 3.1.4.5):
	 * the data is in place. */
	RDMA_PLACED(data, rsp.data_remaining);
	if (r->cfg->corrupt && rsp.data_remaining > 0) {
		data[0] ^= 0x01;
	}
	out = br_read_response_make_inline(it, it->pieces[i].data, data,
					   rsp.data_remaining, &len);
	pending_remove(r, p);
	if (out == NULL) {
		relay_end(r, "out of memory");
		return false;
	}
	it->pieces[i].data = out;
	it->pieces[i].length = len;
	it->rewritten = true;
	return true;
}

static bool fwd_response_pdu(struct br_relay *r, struct br_item *it, size_t i,
			     const struct br_pdu *pdu)
{
	uint8_t *mutable_pdu = it->orig + pdu->offset;
	struct br_pending *p;

	if (pdu->command == BR_SMB2_NEGOTIATE) {
		fwd_negotiate(r, mutable_pdu, pdu->length);
		return true;
	}
	if (pdu->command != BR_SMB2_READ && pdu->command != BR_SMB2_WRITE) {
		return true;
	}
	p = pending_find(r, pdu->message_id);
	if (p == NULL) {
		if (pdu->command == BR_SMB2_READ) {
			corrupt_inline(r, mutable_pdu, pdu->length);
		}
		return true;
	}
	if ((pdu->flags & BR_FLAGS_ASYNC_COMMAND) != 0 &&
	    pdu->status == BR_STATUS_PENDING) {
		return true;
	}
	if (pdu->command == BR_SMB2_WRITE) {
		/* The server has read our buffer: revoke and reuse it
		 * ([MS-SMB2] 3.2.5.12, [MS-SMBD] 3.1.4.4). */
		pending_remove(r, p);
		return true;
	}
	return fwd_read_response(r, it, i, pdu, p);
}

static void fwd_from_server(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;
	size_t i;

	if (!split_message(r, it, pdus, &count)) {
		talloc_free(it);
		return;
	}
	for (i = 0; i < count; i++) {
		if (!fwd_response_pdu(r, it, i, &pdus[i])) {
			talloc_free(it);
			return;
		}
	}
	if (!it->rewritten) {
		TALLOC_FREE(it->pieces);
	}
	enqueue(r, it);
}

/* --- input ----------------------------------------------------------------------- */

static void message_in(struct br_relay *r, uint8_t *msg, size_t len,
		       bool from_tcp)
{
	struct br_item *it = item_new(r, !from_tcp, msg, len);
	enum br_msg_kind kind;

	if (it == NULL) {
		return;
	}
	kind = br_msg_kind(msg, len);
	if (kind != BR_MSG_SMB2) {
		if (!opaque_allowed(r, kind)) {
			talloc_free(it);
			return;
		}
		enqueue(r, it);
		return;
	}
	if (r->cfg->mode == BR_REVERSE) {
		if (from_tcp) {
			rev_from_server(r, it);
		} else {
			rev_from_client(r, it);
		}
	} else if (from_tcp) {
		fwd_from_client(r, it);
	} else {
		fwd_from_server(r, it);
	}
}

static void sd_message(struct smbdirect_conn *conn, const uint8_t *data,
		       size_t length, void *priv)
{
	struct br_relay *r = priv;
	uint8_t *copy;

	(void)conn;
	if (r->ended) {
		return;
	}
	r->stats.sd_msgs_in += 1;
	r->stats.sd_bytes_in += length;
	copy = talloc_memdup(r, data, length > 0 ? length : 1);
	if (copy == NULL) {
		relay_end(r, "out of memory");
		return;
	}
	message_in(r, copy, length, false);
}

static void sd_disconnected(struct smbdirect_conn *conn,
			    enum smbdirect_reason reason, const char *detail,
			    void *priv)
{
	struct br_relay *r = priv;
	char text[400];

	(void)conn;
	r->sd_gone = true;
	snprintf(text, sizeof(text), "the SMB-Direct side ended: %s (%s)",
		 smbdirect_reason_string(reason), detail);
	relay_drain(r, text);
}

/* A read() result: false if reading stops here. */
static bool tcp_read_result(struct br_relay *r, ssize_t n)
{
	if (n > 0) {
		return true;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return false;
	}
	if (n < 0) {
		relay_end(r, "reading from the TCP peer: %s", strerror(errno));
		return false;
	}
	r->tcp_eof = true;
	if (r->in_hdr_got > 0) {
		relay_end(r, "the TCP peer closed the connection in the middle "
			     "of a frame (%zu of %u bytes)",
			  r->in_got, r->in_len);
		return false;
	}
	if (r->cfg->mode == BR_FORWARD) {
		relay_end(r, "the TCP client closed the connection");
	} else {
		relay_drain(r, "the TCP server closed the connection");
	}
	return false;
}

/* The 4-byte header is in: check it and make room for the frame. */
static bool frame_begin(struct br_relay *r)
{
	uint8_t *h = r->in_hdr;

	if (h[0] == 0x85 && h[1] == 0 && h[2] == 0 && h[3] == 0) {
		/* A NetBIOS session keepalive (RFC 1002), which some
		 * clients send on port 445 too: SMB-Direct has its own. */
		r->in_hdr_got = 0;
		return true;
	}
	if (!br_tcp_header_decode(h, &r->in_len)) {
		relay_end(r, "bogus Direct TCP header %02x %02x %02x %02x from "
			     "the TCP peer ([MS-SMB2] 2.1: the first byte "
			     "must be 0)",
			  h[0], h[1], h[2], h[3]);
		return false;
	}
	if (r->in_len < 4 || r->in_len > r->cfg->max_frame) {
		relay_end(r, "Direct TCP frame length %u from the TCP peer out "
			     "of range (4..%u)",
			  r->in_len, r->cfg->max_frame);
		return false;
	}
	r->in_frame = talloc_size(r, r->in_len);
	if (r->in_frame == NULL) {
		relay_end(r, "out of memory for a %u-byte frame", r->in_len);
		return false;
	}
	r->in_got = 0;
	return true;
}

static void frame_complete(struct br_relay *r)
{
	uint8_t *frame = r->in_frame;
	size_t len = r->in_len;

	r->in_frame = NULL;
	r->in_hdr_got = 0;
	r->in_got = 0;
	r->in_len = 0;
	r->stats.tcp_frames_in += 1;
	r->stats.tcp_bytes_in += len;
	message_in(r, frame, len, true);
}

static void tcp_read(struct br_relay *r)
{
	int k;

	for (k = 0; k < READS_PER_WAKEUP && !r->ended && !r->tcp_eof; k++) {
		ssize_t n;

		if (r->in_hdr_got < BR_TCP_HDR) {
			n = read(r->fd, r->in_hdr + r->in_hdr_got,
				 BR_TCP_HDR - r->in_hdr_got);
			if (!tcp_read_result(r, n)) {
				break;
			}
			r->in_hdr_got += (size_t)n;
			if (r->in_hdr_got == BR_TCP_HDR && !frame_begin(r)) {
				break;
			}
			continue;
		}
		n = read(r->fd, r->in_frame + r->in_got, r->in_len - r->in_got);
		if (!tcp_read_result(r, n)) {
			break;
		}
		r->in_got += (size_t)n;
		if (r->in_got == r->in_len) {
			frame_complete(r);
			if (r->to_sd.bytes > r->cfg->max_queue) {
				break;
			}
		}
	}
	update_fd(r);
}

static void tcp_handler(struct tevent_context *ev, struct tevent_fd *fde,
			uint16_t flags, void *priv)
{
	struct br_relay *r = priv;

	(void)ev;
	(void)fde;
	if ((flags & TEVENT_FD_WRITE) != 0) {
		tcp_flush(r);
	}
	if (!r->ended && (flags & TEVENT_FD_READ) != 0) {
		tcp_read(r);
	}
}

static int relay_destructor(struct br_relay *r)
{
	/* The connection outlives the relay (its owner frees it after):
	 * requests under the relay are freed while it is alive, and it
	 * must not call back into freed memory. */
	smbdirect_conn_set_handlers(r->conn, NULL, NULL);
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	return 0;
}

struct br_relay *br_relay_start(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
				const struct br_config *cfg, int fd,
				struct smbdirect_conn *conn, const char *name)
{
	struct smbdirect_conn_handlers handlers = {
		.message = sd_message,
		.disconnected = sd_disconnected,
	};
	struct br_relay *r = talloc_zero(mem_ctx, struct br_relay);

	if (r == NULL) {
		close(fd);
		return NULL;
	}
	r->cfg = cfg;
	r->ev = ev;
	r->fd = fd;
	talloc_set_destructor(r, relay_destructor);
	r->conn = conn;
	r->params = smbdirect_conn_params(conn);
	r->name = talloc_strdup(r, name);
	r->fde = tevent_add_fd(ev, r, fd, TEVENT_FD_READ, tcp_handler, r);
	if (r->name == NULL || r->fde == NULL) {
		talloc_free(r);
		return NULL;
	}
	smbdirect_conn_set_handlers(conn, &handlers, r);
	return r;
}
