/*
 * smbdirect-bridge, forward mode: TCP SMB clients in front, an
 * SMB-Direct server behind. The bridge fits the TCP client's messages to
 * the peer's sizes: it lowers the sizes of NEGOTIATE responses below
 * 3.1.1, and moves the data of unsigned READs and WRITEs that would not
 * fit (or of --rdma-threshold bytes or more) to an RDMA channel of its
 * own, turning the responses back into inline ones for the client
 * (docs/tools/smbdirect-bridge.md, "Sizes").
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "relay_internal.h"

/* --- forward mode: client requests over TCP ---------------------------------- */

/* [MS-SMB2] 2.2.19/2.2.21: RDMA_V1_INVALIDATE exists from 3.0.2 on. */
static uint32_t fwd_channel(const struct br_relay *r)
{
	return r->dialect >= 0x0302 ? SMB2_CHANNEL_RDMA_V1_INVALIDATE
				    : SMB2_CHANNEL_RDMA_V1;
}

/* Whether n bytes of data go over our RDMA channel: where the dialect
 * has one, and if they must (needed) or --rdma-threshold asks. */
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

/* A WRITE from the TCP client: its data to our RDMA channel if it must
 * or may go there, else unchanged. */
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

/* A READ from the TCP client: refused (the relay ends) if its response
 * could not come back, else over our RDMA channel if it must or may. */
static void fwd_read_pdu(struct br_relay *r, struct br_item *it, size_t i,
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
		return;
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
		return;
	}
	if (is_signed || !fwd_wants_rdma(r, n, needed)) {
		return;
	}
	p = fwd_expose(r, pdu->message_id, BR_SMB2_READ, n, &desc);
	if (p == NULL) {
		return;
	}
	out = br_read_make_rdma(it, it->pieces[i].data, it->pieces[i].length,
				p->channel, &desc, 1, &len);
	if (out == NULL) {
		pending_remove(r, p);
		relay_end(r, "out of memory");
		return;
	}
	it->pieces[i].data = out;
	it->pieces[i].length = len;
	it->rewritten = true;
	r->stats.fwd_read_rdma += 1;
	r->stats.fwd_rdma_bytes += n;
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

/* A br_pdu_fn; arg: whether the message is too large to go inline. */
static bool fwd_request_pdu(struct br_relay *r, struct br_item *it, size_t i,
			    const struct br_pdu *pdu, void *arg)
{
	if (pdu->command == BR_SMB2_WRITE) {
		fwd_write_pdu(r, it, i, pdu, *(const bool *)arg);
	} else if (pdu->command == BR_SMB2_READ) {
		fwd_read_pdu(r, it, i, pdu);
	}
	return !r->ended;
}

void fwd_from_client(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;
	bool needed = it->orig_len > r->params->max_fragmented_send_size;

	if (!each_pdu(r, it, pdus, &count, fwd_request_pdu, &needed)) {
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

/* The server's NEGOTIATE response: note the dialect, and below 3.1.1
 * lower its sizes to what fits SMB-Direct (unless --no-clamp). */
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

/* SMBDIRECT_BRIDGE_CORRUPT: flip a byte of an inline READ response. */
static void corrupt_inline(struct br_relay *r, uint8_t *pdu, size_t len)
{
	struct br_read_rsp rsp;
	const char *why;

	if (r->cfg->corrupt && br_read_response_parse(pdu, len, &rsp, &why) &&
	    rsp.has_data && rsp.data_length > 0) {
		pdu[rsp.data_offset] ^= 0x01;
	}
}

/* The response to a READ we moved to RDMA: the data is in our buffer;
 * give it to the client inline. */
static bool fwd_read_response(struct br_relay *r, struct br_item *it,
			      size_t i, const struct br_pdu *pdu,
			      struct br_pending *p)
{
	struct br_read_rsp rsp;
	uint8_t *data;
	uint8_t *out;
	size_t len;

	if (!read_response(r, it, i, pdu->message_id, &rsp)) {
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

/* A br_pdu_fn: the SMB-Direct server's response. */
static bool fwd_response_pdu(struct br_relay *r, struct br_item *it, size_t i,
			     const struct br_pdu *pdu, void *arg)
{
	uint8_t *mutable_pdu = it->orig + pdu->offset;
	struct br_pending *p;

	(void)arg;
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

void fwd_from_server(struct br_relay *r, struct br_item *it)
{
	struct br_pdu pdus[BR_MAX_COMPOUND];
	size_t count;

	if (each_pdu(r, it, pdus, &count, fwd_response_pdu, NULL)) {
		enqueue_handled(r, it);
	}
}
