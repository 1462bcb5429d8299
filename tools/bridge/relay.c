/*
 * smbdirect-bridge: one relayed connection (see relay.h), what both
 * directions share: the two queues and their items, the TCP side
 * (Direct TCP framing), the SMB-Direct side, registered staging memory,
 * the table of pending RDMA-channel I/O, the counters and the end of a
 * relay. Each SMB2 message goes to forward.c or reverse.c, by mode and
 * side, to be rewritten (relay_internal.h).
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

#include "relay_internal.h"

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

static void update_fd(struct br_relay *r);
static void pump_sd(struct br_relay *r);
static void check_drained(struct br_relay *r);

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

void relay_end(struct br_relay *r, const char *fmt, ...)
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

struct br_pbuf *pool_get(struct br_relay *r, size_t n)
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

void pool_put(struct br_relay *r, struct br_pbuf *b)
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
bool pool_room(struct br_relay *r, size_t n)
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

struct br_pending *pending_find(struct br_relay *r, uint64_t mid)
{
	struct br_pending *p;

	for (p = r->pending; p != NULL; p = p->next) {
		if (p->message_id == mid) {
			return p;
		}
	}
	return NULL;
}

void pending_remove(struct br_relay *r, struct br_pending *p)
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

struct br_pending *pending_add(struct br_relay *r, uint64_t mid,
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
bool item_finish(struct br_item *it)
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

void item_job_done(struct br_item *it)
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

void enqueue(struct br_relay *r, struct br_item *it)
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

/* Send the items at the head of the SMB-Direct queue that are ready. */
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

/* Write what the TCP socket takes of the head item (header and
 * message); true once it is all written. */
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

/* Read from TCP unless draining, at EOF or past max_queue; wait for
 * writability while a ready item is queued for TCP. */
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

/* --- SMB2 messages, for both directions ------------------------------- */

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

bool each_pdu(struct br_relay *r, struct br_item *it, struct br_pdu *pdus,
	      size_t *count, br_pdu_fn fn, void *arg)
{
	size_t i;

	if (!split_message(r, it, pdus, count)) {
		talloc_free(it);
		return false;
	}
	for (i = 0; i < *count; i++) {
		if (!fn(r, it, i, &pdus[i], arg)) {
			talloc_free(it);
			return false;
		}
	}
	return true;
}

bool read_response(struct br_relay *r, struct br_item *it, size_t i,
		   uint64_t mid, struct br_read_rsp *rsp)
{
	const char *why = NULL;

	if (!br_read_response_parse(it->pieces[i].data, it->pieces[i].length,
				    rsp, &why)) {
		relay_end(r, "malformed READ response MessageId %" PRIu64
			     " from the %s server: %s",
			  mid, r->cfg->mode == BR_FORWARD ? "SMB-Direct" : "TCP",
			  why);
		return false;
	}
	return true;
}

void enqueue_handled(struct br_relay *r, struct br_item *it)
{
	if (!it->rewritten) {
		TALLOC_FREE(it->pieces);
	}
	enqueue(r, it);
}

/* --- input ----------------------------------------------------------------------- */

/* A whole message from either side: to the direction's code, or passed
 * on unchanged if it is not SMB2 (and that is allowed). */
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

/* Read Direct TCP frames, a bounded number of reads per wake-up. */
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
