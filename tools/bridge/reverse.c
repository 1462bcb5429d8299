/*
 * smbdirect-bridge, reverse mode: SMB-Direct clients in front, a TCP SMB
 * server behind. The bridge does the RDMA channel the server knows
 * nothing of: it RDMA-reads a WRITE's data from the client's buffers and
 * hands the server the WRITE with its data inline; it remembers a READ's
 * buffers and RDMA-writes the server's data into them before the
 * response goes out; both with Send-with-Invalidate where the client
 * asked for it (docs/tools/smbdirect-bridge.md, "The RDMA channel").
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "relay_internal.h"

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

static void start_deferred(struct br_relay *r);

/* --- RDMA jobs (reverse mode) ------------------------------------------------ */

/* An RDMA job finished: a WRITE's data read becomes the inline WRITE;
 * the item goes out once none of its jobs is left. */
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

/* Stage memory for a job and post its RDMA read or write. */
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

/* An item waits for this job, which starts in arrival order. */
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

/* A READ with an RDMA channel: remember the client's buffers for the
 * response and send the server a plain READ. */
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

/* A WRITE with an RDMA channel: a job reads the data from the client's
 * buffers before the WRITE goes to the server, inline. */
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

/* A br_pdu_fn; arg: room for max_descs descriptors. */
static bool rev_request_pdu(struct br_relay *r, struct br_item *it, size_t i,
			    const struct br_pdu *pdu, void *arg)
{
	struct smbdirect_buffer_descriptor *descs = arg;
	struct br_rdma_io io;
	char why[200];
	enum br_verdict v;

	(void)pdu;
	v = br_rdma_request_parse(
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

void rev_from_client(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	struct smbdirect_buffer_descriptor *descs;
	size_t count;

	descs = talloc_array(it, struct smbdirect_buffer_descriptor,
			     r->cfg->max_descs);
	if (descs == NULL) {
		talloc_free(it);
		relay_end(r, "out of memory");
		return;
	}
	if (!each_pdu(r, it, pdus, &count, rev_request_pdu, descs)) {
		return;
	}
	talloc_free(descs);
	enqueue_handled(r, it);
	start_deferred(r);
}

/* --- reverse mode: server responses over TCP -------------------------------- */

/* A br_pdu_fn: a response to an RDMA-channel request of the client's. */
static bool rev_rdma_response(struct br_relay *r, struct br_item *it,
			      size_t i, const struct br_pdu *pdu, void *arg)
{
	struct br_pending *p = pending_find(r, pdu->message_id);
	struct br_read_rsp rsp;
	struct br_job *job;
	uint8_t *out;
	size_t len;

	(void)arg;
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
	if (!read_response(r, it, i, pdu->message_id, &rsp)) {
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

void rev_from_server(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;

	if (each_pdu(r, it, pdus, &count, rev_rdma_response, NULL)) {
		enqueue_handled(r, it);
		start_deferred(r);
	}
}
