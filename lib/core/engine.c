/*
 * libsmbdirect: the sans-I/O [MS-SMBD] protocol engine.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * One struct per connection; events in, actions out (see
 * smbdirect_engine.h). Section numbers refer to [MS-SMBD].
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <talloc.h>

#include "smbdirect.h"

#define NS_PER_MS 1000000ull

struct smbdirect_engine {
	enum smbdirect_role role;
	enum smbdirect_engine_state state;
	enum smbdirect_reason reason;
	struct smbdirect_settings settings;
	struct smbdirect_engine_callbacks cb;
	void *private_data;
	struct smbdirect_params params;
	/* Negotiation succeeded (params are valid), even if ended since. */
	bool negotiated;

	/* 3.1.1.1 Connection.SendCredits: granted by the peer, unused. */
	uint32_t send_credits;
	/* 3.1.1.1 Connection.ReceiveCredits: granted to the peer, unused. */
	uint32_t receive_credits;
	/* 3.1.1.1 Connection.ReceiveCreditTarget. */
	uint32_t receive_credit_target;
	/* Receives posted at the transport and not yet completed. */
	uint32_t receives_posted;

	/* Messages waiting to be sent, oldest first. */
	struct smbdirect_engine_msg *queue_head;
	struct smbdirect_engine_msg *queue_tail;
	uint32_t queued;

	/* Sends handed to the transport, in order; NULL for our own
	 * control messages. A ring of max_outstanding_sends entries. */
	struct smbdirect_engine_msg **inflight;
	uint32_t inflight_capacity;
	uint32_t inflight_first;
	uint32_t inflight_count;

	/* 3.1.1.1 Connection.FragmentReassemblyBuffer. */
	uint8_t *reassembly;
	size_t reassembly_capacity;
	size_t reassembly_length;
	uint32_t reassembly_remaining;
	bool reassembling;

	/* Timers, absolute nanoseconds or SMBDIRECT_NO_EXPIRY. */
	uint64_t negotiate_deadline;
	uint64_t idle_deadline;
	uint64_t keepalive_deadline;

	/* The peer set SMB_DIRECT_RESPONSE_REQUESTED: we owe a message. */
	bool response_owed;
	/* The idle timer fired: the next message requests a response. */
	bool keepalive_due;
	/* Responder: a negotiate failure response is being sent; end the
	 * connection with this reason once it completes (3.1.5.3). */
	enum smbdirect_reason failing_reason;

	bool in_flush;
	bool flush_again;
	/* Flushing deferred until smbdirect_engine_uncork(). */
	bool corked;

	struct smbdirect_engine_stats stats;
	uint8_t header[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];
	char detail[192];
};

static void terminate(struct smbdirect_engine *e, enum smbdirect_reason reason,
		      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void terminate(struct smbdirect_engine *e, enum smbdirect_reason reason,
		      const char *fmt, ...)
{
	va_list ap;
	char detail[sizeof(e->detail)];

	if (e->state == SMBDIRECT_STATE_TERMINATED) {
		return;
	}
	e->state = SMBDIRECT_STATE_TERMINATED;
	e->reason = reason;
	/* After a failure response (3.1.5.3) the detail recorded earlier is
	 * passed back in as the argument of "%s": format into a copy, since
	 * vsnprintf() into its own source is undefined (glibc printed ""). */
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	memcpy(e->detail, detail, sizeof(e->detail));

	/* The caller owns every queued and in-flight message again. */
	e->queue_head = NULL;
	e->queue_tail = NULL;
	e->queued = 0;
	e->inflight_count = 0;
	e->negotiate_deadline = SMBDIRECT_NO_EXPIRY;
	e->idle_deadline = SMBDIRECT_NO_EXPIRY;
	e->keepalive_deadline = SMBDIRECT_NO_EXPIRY;

	e->cb.terminated(e->private_data, reason, e->detail);
}

static bool terminated(const struct smbdirect_engine *e)
{
	return e->state == SMBDIRECT_STATE_TERMINATED;
}

struct smbdirect_engine *
smbdirect_engine_new(void *mem_ctx, enum smbdirect_role role,
		     const struct smbdirect_settings *settings,
		     const struct smbdirect_engine_callbacks *callbacks,
		     void *private_data)
{
	struct smbdirect_engine *e;

	if (settings == NULL || callbacks == NULL ||
	    !smbdirect_settings_validate(settings, NULL)) {
		return NULL;
	}
	if (role != SMBDIRECT_ROLE_INITIATOR &&
	    role != SMBDIRECT_ROLE_RESPONDER) {
		return NULL;
	}
	if (callbacks->post_recv == NULL || callbacks->send == NULL ||
	    callbacks->connected == NULL || callbacks->deliver == NULL ||
	    callbacks->send_done == NULL || callbacks->terminated == NULL) {
		return NULL;
	}
	e = talloc_zero(mem_ctx, struct smbdirect_engine);
	if (e == NULL) {
		return NULL;
	}
	talloc_set_name_const(e, "struct smbdirect_engine");
	e->role = role;
	e->state = SMBDIRECT_STATE_IDLE;
	e->settings = *settings;
	e->cb = *callbacks;
	e->private_data = private_data;
	e->inflight_capacity = settings->max_outstanding_sends;
	e->inflight = talloc_zero_array(e, struct smbdirect_engine_msg *,
					e->inflight_capacity);
	if (e->inflight == NULL) {
		talloc_free(e);
		return NULL;
	}
	e->negotiate_deadline = SMBDIRECT_NO_EXPIRY;
	e->idle_deadline = SMBDIRECT_NO_EXPIRY;
	e->keepalive_deadline = SMBDIRECT_NO_EXPIRY;
	return e;
}

/* --- transport actions ------------------------------------------------ */

/* Ask the transport for receives until `want` are posted. Returns false if
 * the connection ended. */
static bool post_receives(struct smbdirect_engine *e, uint32_t want)
{
	int posted;

	if (e->receives_posted >= want) {
		return true;
	}
	posted = e->cb.post_recv(e->private_data, want - e->receives_posted,
				 smbdirect_engine_receive_buffer_size(e));
	if (terminated(e)) {
		return false;
	}
	if (posted < 0 || (uint32_t)posted > want - e->receives_posted) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "posting %u receives failed (%d)",
			  want - e->receives_posted, posted);
		return false;
	}
	e->receives_posted += (uint32_t)posted;
	return true;
}

uint32_t smbdirect_engine_receive_buffer_count(const struct smbdirect_engine *e)
{
	/* 3.1.5.9: ReceiveCreditMax, plus the one extra receive of
	 * credit_ceiling(). The only place this bound is computed. */
	return (uint32_t)e->settings.receive_credit_max + 1;
}

uint32_t smbdirect_engine_receive_buffer_size(const struct smbdirect_engine *e)
{
	/* 3.1.4.1, 3.1.7.2: the receive posted before negotiation holds at
	 * least 512 bytes. Every buffer has the same size, so the transport
	 * keeps one pool. */
	if (e->settings.max_receive_size < SMBDIRECT_NEGOTIATE_RECEIVE_SIZE) {
		return SMBDIRECT_NEGOTIATE_RECEIVE_SIZE;
	}
	return e->settings.max_receive_size;
}

/* Hand one message to the transport and remember it in the in-flight ring.
 * Returns false if the connection ended. */
static bool transmit(struct smbdirect_engine *e,
		     const struct smbdirect_send_desc *desc)
{
	int ret;
	uint32_t slot;

	if (e->inflight_count >= e->inflight_capacity) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "send queue overflow (%u outstanding)",
			  e->inflight_count);
		return false;
	}
	ret = e->cb.send(e->private_data, desc);
	if (terminated(e)) {
		return false;
	}
	if (ret != 0) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "posting a send failed: %s", strerror(ret));
		return false;
	}
	slot = (e->inflight_first + e->inflight_count) % e->inflight_capacity;
	e->inflight[slot] = desc->msg;
	e->inflight_count += 1;
	e->stats.messages_sent += 1;
	return true;
}

/* --- credits ---------------------------------------------------------- */

/*
 * 3.1.5.9: the number of receive credits the peer may hold after our next
 * message. Normally Connection.ReceiveCreditTarget (already capped by
 * ReceiveCreditMax). With our last send credit and a message waiting, at
 * least one more receive is posted so that message can grant a credit
 * (3.1.5.1 keeps the last credit for messages that grant). The extra
 * receive is bounded: never more than ReceiveCreditMax + 1 are posted.
 */
static uint32_t credit_ceiling(const struct smbdirect_engine *e)
{
	uint32_t ceiling = e->receive_credit_target;
	uint32_t bound = smbdirect_engine_receive_buffer_count(e);

	/* Nor may the peer ever hold more than 65535 of our credits: 3.1.5.8
	 * counts them in 16 bits, and recv_data() ends a connection whose
	 * peer grants beyond that (credit-overflow). With receive_credit_max
	 * 65535 the extra receive would be the 65536th credit. */
	if (bound > UINT16_MAX) {
		bound = UINT16_MAX;
	}

	if (e->send_credits == 1 && e->queue_head != NULL &&
	    ceiling < e->receive_credits + 1) {
		ceiling = e->receive_credits + 1;
	}
	return ceiling < bound ? ceiling : bound;
}

/*
 * 3.1.5.9: credits we can grant now: receives posted but not yet granted,
 * without taking the peer above credit_ceiling().
 */
static uint16_t grantable(const struct smbdirect_engine *e)
{
	uint32_t ungranted = e->receives_posted - e->receive_credits;
	uint32_t ceiling = credit_ceiling(e);
	uint32_t room = 0;
	uint32_t grant;

	if (ceiling > e->receive_credits) {
		room = ceiling - e->receive_credits;
	}
	grant = ungranted < room ? ungranted : room;
	return grant > UINT16_MAX ? UINT16_MAX : (uint16_t)grant;
}

/*
 * Whether a data transfer message granting `grant` credits may go now.
 * 3.1.5.1: a message consumes one send credit. The last credit is kept for
 * a message that grants credits, so the peer is never left unable to
 * answer with credits of its own (both sides at zero would deadlock).
 */
static bool may_send(const struct smbdirect_engine *e, uint16_t grant)
{
	if (e->send_credits == 0) {
		return false;
	}
	if (e->send_credits == 1 && grant == 0) {
		return false;
	}
	return e->inflight_count < e->inflight_capacity;
}

/* Build and transmit one data transfer message (3.1.5.1). */
static bool send_data_message(struct smbdirect_engine *e,
			      struct smbdirect_engine_msg *msg, size_t length,
			      uint32_t remaining, uint16_t grant)
{
	struct smbdirect_data_header hdr = {
		/* 3.1.5.1: CreditsRequested is Connection.SendCreditTarget. */
		.credits_requested = e->params.send_credit_target,
		.credits_granted = grant,
		.flags = 0,
		.remaining_data_length = remaining,
		.data_offset = length > 0 ? SMBDIRECT_DATA_OFFSET : 0,
		.data_length = (uint32_t)length,
	};
	struct smbdirect_send_desc desc = {0};
	bool keepalive = e->keepalive_due;

	if (keepalive) {
		/* 3.1.6.2: the keepalive asks the peer to answer. */
		hdr.flags |= SMBDIRECT_FLAG_RESPONSE_REQUESTED;
	}
	desc.header = e->header;
	desc.header_length =
		smbdirect_data_header_encode(&hdr, e->header, sizeof(e->header));
	desc.msg = msg;
	desc.data_length = length;
	if (msg != NULL) {
		desc.iov = msg->iov + msg->internal.iov_index;
		desc.iov_count = msg->iov_count - msg->internal.iov_index;
		desc.iov_offset = msg->internal.iov_offset;
		/* 3.1.4.2: the token to invalidate belongs to this message;
		 * 3.1.5.4: it goes with its first fragment only. */
		if (msg->invalidate && msg->internal.fragments_posted == 0) {
			desc.invalidate = true;
			desc.invalidate_token = msg->invalidate_token;
		}
	}
	if (!transmit(e, &desc)) {
		return false;
	}
	e->send_credits -= 1;
	e->receive_credits += grant;
	/* 3.1.5.8: any message answers SMB_DIRECT_RESPONSE_REQUESTED. */
	e->response_owed = false;
	if (keepalive) {
		e->keepalive_due = false;
		e->stats.keepalives_sent += 1;
	}
	return true;
}

/* Advance a message's iovec cursor by `n` bytes. */
static void msg_advance(struct smbdirect_engine_msg *msg, size_t n)
{
	msg->internal.sent += n;
	while (n > 0 && msg->internal.iov_index < msg->iov_count) {
		size_t left = msg->iov[msg->internal.iov_index].iov_len -
			      msg->internal.iov_offset;

		if (n < left) {
			msg->internal.iov_offset += n;
			return;
		}
		n -= left;
		msg->internal.iov_index += 1;
		msg->internal.iov_offset = 0;
	}
	/* Skip empty entries so the next fragment starts on real data. */
	while (msg->internal.iov_index < msg->iov_count &&
	       msg->iov[msg->internal.iov_index].iov_len == 0) {
		msg->internal.iov_index += 1;
	}
}

/*
 * 3.1.4.1 / 3.1.5.1: send queued upper-layer messages, each split into
 * fragments of at most Connection.MaxSendSize bytes. RemainingDataLength
 * tells the peer how much of the message is still to come.
 */
static bool send_queued(struct smbdirect_engine *e)
{
	size_t max_payload = e->params.max_send_size - SMBDIRECT_DATA_OFFSET;

	while (e->queue_head != NULL) {
		struct smbdirect_engine_msg *msg = e->queue_head;
		size_t left = msg->internal.length - msg->internal.sent;
		size_t chunk = left < max_payload ? left : max_payload;
		uint16_t grant;

		/* 3.1.5.1 / 3.1.5.9: credits are computed per message. */
		if (!post_receives(e, credit_ceiling(e))) {
			return false;
		}
		grant = grantable(e);
		if (!may_send(e, grant)) {
			e->stats.credit_stalls += 1;
			return true;
		}
		if (!send_data_message(e, msg, chunk,
				       (uint32_t)(left - chunk), grant)) {
			return false;
		}
		msg->internal.fragments_posted += 1;
		msg_advance(msg, chunk);
		if (msg->internal.sent == msg->internal.length) {
			e->queue_head = msg->internal.next;
			if (e->queue_head == NULL) {
				e->queue_tail = NULL;
			}
			msg->internal.next = NULL;
			e->queued -= 1;
		}
	}
	return true;
}

/*
 * Messages without payload: an answer to SMB_DIRECT_RESPONSE_REQUESTED
 * (3.1.5.8), a keepalive (3.1.6.2), or new credits (3.1.5.8, 3.1.5.9).
 * They go only when no data message is waiting to carry the same.
 *
 * 3.1.5.8 asks for new credits to be sent promptly whenever the SendQueue
 * is empty. Read literally, two peers then trade credit-only messages
 * forever: each one consumes a receive, which is reposted and granted back
 * by another. We grant by a message of its own only once the peer holds no
 * more than (ReceiveCreditTarget - 1) / 2 of our credits, which a lone
 * credit-only message never brings about for a target above 2; a peer at
 * 0 credits is always refilled, so no side can starve. Data messages
 * still carry every credit due (3.1.5.1).
 */
static bool send_control(struct smbdirect_engine *e)
{
	uint16_t grant;
	bool refill;

	if (e->queue_head != NULL) {
		return true;
	}
	grant = grantable(e);
	refill = grant > 0 &&
		 e->receive_credits <= (e->receive_credit_target - 1) / 2;
	if (!e->response_owed && !e->keepalive_due && !refill) {
		return true;
	}
	if (!may_send(e, grant)) {
		e->stats.credit_stalls += 1;
		return true;
	}
	if (!send_data_message(e, NULL, 0, 0, grant)) {
		return false;
	}
	e->stats.credit_only_sent += 1;
	return true;
}

/* Post receives, then send whatever credits allow. Re-entrant calls (from
 * callbacks) are folded into the running one. */
static void flush(struct smbdirect_engine *e)
{
	if (e->in_flush || e->corked) {
		e->flush_again = true;
		return;
	}
	e->in_flush = true;
	do {
		e->flush_again = false;
		if (e->state != SMBDIRECT_STATE_CONNECTED) {
			break;
		}
		if (!post_receives(e, credit_ceiling(e))) {
			break;
		}
		if (!send_queued(e)) {
			break;
		}
		if (!send_control(e)) {
			break;
		}
	} while (e->flush_again);
	e->in_flush = false;
}

/* --- negotiation ------------------------------------------------------ */

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * 3.1.5.6 (listener) and 3.1.5.7 (initiator) adjust the connection the same
 * way from the peer's negotiate message.
 */
static void set_params(struct smbdirect_engine *e,
		       uint32_t peer_preferred_send_size,
		       uint32_t peer_max_receive_size,
		       uint32_t peer_max_fragmented_size,
		       uint16_t peer_credits_requested,
		       uint32_t max_read_write_size)
{
	struct smbdirect_params *p = &e->params;

	p->protocol = SMBDIRECT_PROTOCOL_VERSION;
	/* Our MaxReceiveSize shrinks to the peer's PreferredSendSize, but
	 * never below 128. */
	p->max_receive_size = min_u32(e->settings.max_receive_size,
				      peer_preferred_send_size);
	if (p->max_receive_size < SMBDIRECT_MIN_RECEIVE_SIZE) {
		p->max_receive_size = SMBDIRECT_MIN_RECEIVE_SIZE;
	}
	/* We send no more than the peer can receive. */
	p->max_send_size =
		min_u32(e->settings.max_send_size, peer_max_receive_size);
	p->max_fragmented_send_size = peer_max_fragmented_size;
	p->max_fragmented_receive_size = e->settings.max_fragmented_size;
	p->max_read_write_size = max_read_write_size;
	p->send_credit_target = e->settings.send_credit_target;
	/* ReceiveCreditTarget is the peer's CreditsRequested; 3.1.5.9 never
	 * posts more than Connection.ReceiveCreditMax. */
	p->receive_credit_target = (uint16_t)min_u32(
		peer_credits_requested, e->settings.receive_credit_max);
	e->receive_credit_target = p->receive_credit_target;
}

static void arm_idle_timer(struct smbdirect_engine *e, uint64_t now)
{
	if (e->settings.keepalive_interval_ms == 0) {
		e->idle_deadline = SMBDIRECT_NO_EXPIRY;
		return;
	}
	e->idle_deadline =
		now + (uint64_t)e->settings.keepalive_interval_ms * NS_PER_MS;
}

static void become_connected(struct smbdirect_engine *e, uint64_t now)
{
	e->state = SMBDIRECT_STATE_CONNECTED;
	e->negotiated = true;
	e->negotiate_deadline = SMBDIRECT_NO_EXPIRY;
	arm_idle_timer(e, now);
	e->cb.connected(e->private_data, &e->params);
}

int smbdirect_engine_start(struct smbdirect_engine *e, uint64_t now)
{
	struct smbdirect_negotiate_request req;
	struct smbdirect_send_desc desc = {0};

	if (e == NULL || e->state != SMBDIRECT_STATE_IDLE) {
		return EINVAL;
	}
	e->state = SMBDIRECT_STATE_NEGOTIATING;
	/* 3.1.2: the negotiate timer runs until the peer's negotiate
	 * message arrives. */
	e->negotiate_deadline =
		now + (uint64_t)e->settings.negotiate_timeout_ms * NS_PER_MS;

	/* One receive for the peer's negotiate message, posted before our
	 * request can provoke the response (3.1.5.2). */
	if (!post_receives(e, 1)) {
		return 0;
	}
	if (e->receives_posted == 0) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "no receive buffer for the negotiate message");
		return 0;
	}
	if (e->role == SMBDIRECT_ROLE_RESPONDER) {
		return 0;
	}

	/* 3.1.5.2 Sending a Negotiate Request. */
	req = (struct smbdirect_negotiate_request){
		.min_version = SMBDIRECT_PROTOCOL_VERSION,
		.max_version = SMBDIRECT_PROTOCOL_VERSION,
		.reserved = 0,
		.credits_requested = e->settings.send_credit_target,
		.preferred_send_size = e->settings.max_send_size,
		.max_receive_size = e->settings.max_receive_size,
		.max_fragmented_size = e->settings.max_fragmented_size,
	};
	desc.header = e->header;
	desc.header_length = smbdirect_negotiate_request_encode(
		&req, e->header, sizeof(e->header));
	transmit(e, &desc);
	return 0;
}

/* 3.1.5.3: a negotiate response with a failure Status, then the end. */
static void send_negotiate_failure(struct smbdirect_engine *e,
				   enum smbdirect_reason reason, uint32_t status)
{
	struct smbdirect_negotiate_response rsp = {
		.min_version = SMBDIRECT_PROTOCOL_VERSION,
		.max_version = SMBDIRECT_PROTOCOL_VERSION,
		.negotiated_version = 0,
		.status = status,
	};
	struct smbdirect_send_desc desc = {0};

	desc.header = e->header;
	desc.header_length = smbdirect_negotiate_response_encode(
		&rsp, e->header, sizeof(e->header));
	e->failing_reason = reason;
	transmit(e, &desc);
}

/* 3.1.5.6, 3.1.5.7: a negotiate message shorter than its fixed part ends
 * the connection. */
static bool negotiate_complete(struct smbdirect_engine *e,
			       enum smbdirect_wire_error decoded,
			       const char *what, size_t length,
			       unsigned int need)
{
	if (decoded == SMBDIRECT_WIRE_OK) {
		return true;
	}
	terminate(e, SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT,
		  "negotiate %s of %zu bytes, need %u", what, length, need);
	return false;
}

/* 3.1.5.6, 3.1.5.7: MaxReceiveSize of at least 128 and MaxFragmentedSize
 * of at least 131072, else the connection ends. */
static bool negotiate_sizes_ok(struct smbdirect_engine *e, const char *what,
			       uint32_t max_receive_size,
			       uint32_t max_fragmented_size)
{
	if (max_receive_size >= SMBDIRECT_MIN_RECEIVE_SIZE &&
	    max_fragmented_size >= SMBDIRECT_MIN_FRAGMENTED_SIZE) {
		return true;
	}
	terminate(e, SMBDIRECT_REASON_NEGOTIATE_SIZES,
		  "negotiate %s with MaxReceiveSize %u, MaxFragmentedSize %u",
		  what, max_receive_size, max_fragmented_size);
	return false;
}

/* 3.1.5.6, 3.1.5.7: whether MinVersion..MaxVersion includes 0x0100. */
static bool range_has_version(uint16_t min_version, uint16_t max_version)
{
	return min_version <= SMBDIRECT_PROTOCOL_VERSION &&
	       max_version >= SMBDIRECT_PROTOCOL_VERSION;
}

/* 3.1.5.6 Receiving a Negotiate Request Message (responder). */
static void recv_negotiate_request(struct smbdirect_engine *e, uint64_t now,
				   const uint8_t *buf, size_t length)
{
	struct smbdirect_negotiate_request req;
	struct smbdirect_negotiate_response rsp;
	struct smbdirect_send_desc desc = {0};
	struct smbdirect_params *p = &e->params;
	uint16_t grant;

	/* 3.1.5.6: at least 20 bytes, else terminate. */
	if (!negotiate_complete(e, smbdirect_negotiate_request_decode(
					   buf, length, &req),
				"request", length,
				SMBDIRECT_NEGOTIATE_REQUEST_SIZE)) {
		return;
	}
	/* 3.1.5.6: MinVersion..MaxVersion must include 0x0100, else answer
	 * with STATUS_NOT_SUPPORTED (3.1.5.3). */
	if (!range_has_version(req.min_version, req.max_version)) {
		snprintf(e->detail, sizeof(e->detail),
			 "peer versions 0x%04x..0x%04x exclude 0x0100",
			 req.min_version, req.max_version);
		send_negotiate_failure(e, SMBDIRECT_REASON_NEGOTIATE_VERSION,
				       SMBDIRECT_STATUS_NOT_SUPPORTED);
		return;
	}
	/* 3.1.5.6: CreditsRequested > 0, MaxReceiveSize >= 128,
	 * MaxFragmentedSize >= 131072, else terminate. */
	if (req.credits_requested == 0) {
		terminate(e, SMBDIRECT_REASON_NEGOTIATE_CREDITS,
			  "negotiate request with CreditsRequested 0");
		return;
	}
	if (!negotiate_sizes_ok(e, "request", req.max_receive_size,
				req.max_fragmented_size)) {
		return;
	}

	/* 3.1.5.6: the listener's MaxReadWriteSize is its own (the request
	 * carries none). */
	set_params(e, req.preferred_send_size, req.max_receive_size,
		   req.max_fragmented_size, req.credits_requested,
		   e->settings.max_read_write_size);

	/* 3.1.5.6 / 3.1.5.4: grant credits only for receives really posted
	 * before the response goes out. */
	if (!post_receives(e, e->receive_credit_target)) {
		return;
	}
	grant = grantable(e);
	if (grant == 0) {
		/* 3.1.5.6: no receive credits: a failure response with an
		 * error status, then the end. */
		snprintf(e->detail, sizeof(e->detail),
			 "no receive buffers to grant the peer");
		send_negotiate_failure(e, SMBDIRECT_REASON_LOCAL_ERROR,
				       SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES);
		return;
	}

	/* 3.1.5.4 Sending a Negotiate Response (success). */
	rsp = (struct smbdirect_negotiate_response){
		.min_version = SMBDIRECT_PROTOCOL_VERSION,
		.max_version = SMBDIRECT_PROTOCOL_VERSION,
		.negotiated_version = SMBDIRECT_PROTOCOL_VERSION,
		.reserved = 0,
		.credits_requested = p->send_credit_target,
		.credits_granted = grant,
		.status = SMBDIRECT_STATUS_SUCCESS,
		.max_read_write_size = p->max_read_write_size,
		.preferred_send_size = p->max_send_size,
		.max_receive_size = p->max_receive_size,
		.max_fragmented_size = p->max_fragmented_receive_size,
	};
	desc.header = e->header;
	desc.header_length = smbdirect_negotiate_response_encode(
		&rsp, e->header, sizeof(e->header));
	if (!transmit(e, &desc)) {
		return;
	}
	e->receive_credits += grant;
	/* The initiator's first message grants our first send credits. */
	e->send_credits = 0;
	become_connected(e, now);
	flush(e);
}

/* 3.1.5.7 Receiving a Negotiate Response Message (initiator). */
static void recv_negotiate_response(struct smbdirect_engine *e, uint64_t now,
				    const uint8_t *buf, size_t length)
{
	struct smbdirect_negotiate_response rsp;

	/* 3.1.5.7: at least 32 bytes, else terminate. */
	if (!negotiate_complete(e, smbdirect_negotiate_response_decode(
					   buf, length, &rsp),
				"response", length,
				SMBDIRECT_NEGOTIATE_RESPONSE_SIZE)) {
		return;
	}
	/* 3.1.5.7: the range must include 0x0100 and NegotiatedVersion must
	 * be 0x0100. */
	if (!range_has_version(rsp.min_version, rsp.max_version) ||
	    rsp.negotiated_version != SMBDIRECT_PROTOCOL_VERSION) {
		if (rsp.status != SMBDIRECT_STATUS_SUCCESS) {
			terminate(e, SMBDIRECT_REASON_NEGOTIATE_REJECTED,
				  "peer refused negotiation, status 0x%08x",
				  rsp.status);
			return;
		}
		terminate(e, SMBDIRECT_REASON_NEGOTIATE_VERSION,
			  "negotiate response versions 0x%04x..0x%04x, "
			  "negotiated 0x%04x",
			  rsp.min_version, rsp.max_version,
			  rsp.negotiated_version);
		return;
	}
	/* 3.1.5.7: Status must be STATUS_SUCCESS. */
	if (rsp.status != SMBDIRECT_STATUS_SUCCESS) {
		terminate(e, SMBDIRECT_REASON_NEGOTIATE_REJECTED,
			  "peer refused negotiation, status 0x%08x",
			  rsp.status);
		return;
	}
	/* 3.1.5.7: CreditsRequested > 0 and CreditsGranted > 0. */
	if (rsp.credits_requested == 0 || rsp.credits_granted == 0) {
		terminate(e, SMBDIRECT_REASON_NEGOTIATE_CREDITS,
			  "negotiate response with CreditsRequested %u, "
			  "CreditsGranted %u",
			  rsp.credits_requested, rsp.credits_granted);
		return;
	}
	/* 3.1.5.7: MaxReceiveSize >= 128, MaxFragmentedSize >= 131072. */
	if (!negotiate_sizes_ok(e, "response", rsp.max_receive_size,
				rsp.max_fragmented_size)) {
		return;
	}

	/* 3.1.5.7: PreferredSendSize <= the MaxReceiveSize we announced. */
	if (rsp.preferred_send_size > e->settings.max_receive_size) {
		terminate(e, SMBDIRECT_REASON_NEGOTIATE_SIZES,
			  "negotiate response with PreferredSendSize %u above "
			  "our MaxReceiveSize %u",
			  rsp.preferred_send_size,
			  e->settings.max_receive_size);
		return;
	}

	/* 3.1.5.7: MaxReadWriteSize is the smaller of ours and the
	 * listener's. */
	set_params(e, rsp.preferred_send_size, rsp.max_receive_size,
		   rsp.max_fragmented_size, rsp.credits_requested,
		   min_u32(e->settings.max_read_write_size,
			   rsp.max_read_write_size));
	/* 3.1.5.7: Connection.SendCredits = CreditsGranted. */
	e->send_credits = rsp.credits_granted;

	/* 3.1.5.7: post receives per 3.1.5.9; with none, fail. */
	if (!post_receives(e, e->receive_credit_target)) {
		return;
	}
	if (e->receives_posted == 0) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "no receive buffers to grant the peer");
		return;
	}
	become_connected(e, now);
	flush(e);
}

/* --- data transfer ---------------------------------------------------- */

static void deliver(struct smbdirect_engine *e, const uint8_t *data,
		    size_t length)
{
	e->stats.messages_delivered += 1;
	e->stats.bytes_delivered += length;
	e->cb.deliver(e->private_data, data, length);
}

/* Make room for a reassembled message of `total` bytes. The buffer only
 * grows, so steady state allocates nothing. */
static bool reserve_reassembly(struct smbdirect_engine *e, size_t total)
{
	size_t capacity;
	uint8_t *p;

	if (total <= e->reassembly_capacity) {
		return true;
	}
	capacity = e->reassembly_capacity * 2;
	if (capacity < total) {
		capacity = total;
	}
	if (capacity > e->params.max_fragmented_receive_size) {
		capacity = e->params.max_fragmented_receive_size;
	}
	p = talloc_realloc(e, e->reassembly, uint8_t, capacity);
	if (p == NULL) {
		return false;
	}
	e->reassembly = p;
	e->reassembly_capacity = capacity;
	return true;
}

/* 3.1.5.8: the payload of one data transfer message, in order. */
static void recv_payload(struct smbdirect_engine *e,
			 const struct smbdirect_data_header *hdr,
			 const uint8_t *data)
{
	uint32_t length = hdr->data_length;
	uint32_t remaining = hdr->remaining_data_length;
	uint64_t total = (uint64_t)length + remaining;

	/* 3.1.5.8: DataLength + RemainingDataLength of every message, first
	 * fragment or not, empty or not, must fit MaxFragmentedSize; it is
	 * one of the field checks, so it comes before the sequence checks. */
	if (total > e->params.max_fragmented_receive_size) {
		terminate(e, SMBDIRECT_REASON_FRAGMENT_OVERFLOW,
			  "message of %llu bytes exceeds "
			  "MaxFragmentedSize %u",
			  (unsigned long long)total,
			  e->params.max_fragmented_receive_size);
		return;
	}
	if (!e->reassembling) {
		if (length == 0) {
			if (remaining != 0) {
				terminate(e, SMBDIRECT_REASON_FRAGMENT_SEQUENCE,
					  "empty message with "
					  "RemainingDataLength %u",
					  remaining);
			}
			return;
		}
		if (remaining == 0) {
			/* One piece: deliver from the receive buffer. */
			deliver(e, data, length);
			return;
		}
		if (!reserve_reassembly(e, (size_t)total)) {
			terminate(e, SMBDIRECT_REASON_NO_MEMORY,
				  "no memory to reassemble %llu bytes",
				  (unsigned long long)total);
			return;
		}
		memcpy(e->reassembly, data, length);
		e->reassembly_length = length;
		e->reassembly_remaining = remaining;
		e->reassembling = true;
		return;
	}

	/* 3.1.5.8 appends only a payload (DataLength > 0), and 3.1.4.1 sends
	 * an empty message with RemainingDataLength 0: such a message (a
	 * credit grant, a keepalive answer) is not a fragment, even between
	 * the fragments of another message. The Linux kernel peers send them
	 * there (ksmbd grants credits in the middle of a fragmented READ
	 * response; docs/interop.md, "Differences"). */
	if (length == 0 && remaining == 0) {
		return;
	}
	/* 3.1.5.8: each fragment's DataLength + RemainingDataLength equals
	 * the previous fragment's RemainingDataLength. */
	if ((uint64_t)length + remaining != e->reassembly_remaining) {
		terminate(e, SMBDIRECT_REASON_FRAGMENT_SEQUENCE,
			  "fragment of %u bytes with %u remaining, "
			  "expected %u remaining in all",
			  length, remaining, e->reassembly_remaining);
		return;
	}
	if (length == 0) {
		return;
	}
	memcpy(e->reassembly + e->reassembly_length, data, length);
	e->reassembly_length += length;
	e->reassembly_remaining = remaining;
	if (remaining == 0) {
		e->reassembling = false;
		deliver(e, e->reassembly, e->reassembly_length);
	}
}

/* 3.1.5.8 Receiving a Data Transfer Message. */
static void recv_data(struct smbdirect_engine *e, uint64_t now,
		      const uint8_t *buf, size_t length)
{
	struct smbdirect_data_header hdr;
	enum smbdirect_wire_error werr;
	uint32_t credits;

	if (length > e->params.max_receive_size) {
		terminate(e, SMBDIRECT_REASON_INVALID_MESSAGE,
			  "message of %zu bytes exceeds MaxReceiveSize %u",
			  length, e->params.max_receive_size);
		return;
	}
	werr = smbdirect_data_header_decode(buf, length, &hdr);
	if (werr != SMBDIRECT_WIRE_OK) {
		terminate(e, SMBDIRECT_REASON_INVALID_MESSAGE,
			  "data transfer message of %zu bytes: %s", length,
			  smbdirect_wire_error_string(werr));
		return;
	}
	/* 3.1.5.8: CreditsRequested is at least 1. */
	if (hdr.credits_requested == 0) {
		terminate(e, SMBDIRECT_REASON_INVALID_MESSAGE,
			  "data transfer message with CreditsRequested 0");
		return;
	}
	/* 3.1.5.8: the peer must have held a credit for this message. */
	if (e->receive_credits == 0) {
		terminate(e, SMBDIRECT_REASON_NO_CREDIT,
			  "peer sent a message without a credit");
		return;
	}
	e->receive_credits -= 1;

	/* 3.1.5.8: CreditsGranted adds to Connection.SendCredits. The peer
	 * cannot have more than 65535 receives outstanding for us. */
	credits = e->send_credits + hdr.credits_granted;
	if (credits > UINT16_MAX) {
		terminate(e, SMBDIRECT_REASON_CREDIT_OVERFLOW,
			  "peer granted %u credits on top of %u",
			  hdr.credits_granted, e->send_credits);
		return;
	}
	e->send_credits = credits;

	/* 3.1.5.8: CreditsRequested sets Connection.ReceiveCreditTarget;
	 * 3.1.5.9 never posts more than Connection.ReceiveCreditMax. */
	e->receive_credit_target =
		min_u32(hdr.credits_requested, e->settings.receive_credit_max);

	/* 3.1.5.8: SMB_DIRECT_RESPONSE_REQUESTED: answer promptly. */
	if ((hdr.flags & SMBDIRECT_FLAG_RESPONSE_REQUESTED) != 0) {
		e->response_owed = true;
	}

	/* 3.1.6.2: any received message restarts the idle timer and
	 * answers an outstanding keepalive. */
	arm_idle_timer(e, now);
	e->keepalive_deadline = SMBDIRECT_NO_EXPIRY;

	recv_payload(e, &hdr, buf + hdr.data_offset);
}

void smbdirect_engine_on_recv(struct smbdirect_engine *e, uint64_t now,
			      const uint8_t *buf, size_t length)
{
	if (e == NULL || terminated(e)) {
		return;
	}
	if (e->state == SMBDIRECT_STATE_IDLE || e->receives_posted == 0) {
		smbdirect_engine_fail(e, SMBDIRECT_REASON_LOCAL_ERROR,
				      "a receive completed that was not posted");
		return;
	}
	e->receives_posted -= 1;
	e->stats.messages_received += 1;

	if (e->state == SMBDIRECT_STATE_NEGOTIATING) {
		if (e->failing_reason != SMBDIRECT_REASON_NONE) {
			terminate(e, SMBDIRECT_REASON_UNEXPECTED_MESSAGE,
				  "message after a failed negotiation");
			return;
		}
		if (e->role == SMBDIRECT_ROLE_RESPONDER) {
			recv_negotiate_request(e, now, buf, length);
		} else {
			recv_negotiate_response(e, now, buf, length);
		}
		return;
	}
	recv_data(e, now, buf, length);
	flush(e);
}

void smbdirect_engine_on_send_complete(struct smbdirect_engine *e,
				       uint64_t now, uint32_t count)
{
	(void)now;
	if (e == NULL || terminated(e)) {
		return;
	}
	if (count > e->inflight_count) {
		terminate(e, SMBDIRECT_REASON_LOCAL_ERROR,
			  "%u send completions for %u outstanding sends",
			  count, e->inflight_count);
		return;
	}
	while (count > 0) {
		struct smbdirect_engine_msg *msg = e->inflight[e->inflight_first];

		e->inflight[e->inflight_first] = NULL;
		e->inflight_first = (e->inflight_first + 1) % e->inflight_capacity;
		e->inflight_count -= 1;
		count -= 1;
		if (msg == NULL) {
			continue;
		}
		msg->internal.fragments_completed += 1;
		if (msg->internal.sent == msg->internal.length &&
		    msg->internal.fragments_completed ==
			    msg->internal.fragments_posted) {
			e->cb.send_done(e->private_data, msg);
			if (terminated(e)) {
				return;
			}
		}
	}
	if (e->failing_reason != SMBDIRECT_REASON_NONE &&
	    e->inflight_count == 0) {
		/* 3.1.5.3: the failure response is out; now terminate. */
		terminate(e, e->failing_reason, "%s", e->detail);
		return;
	}
	flush(e);
}

void smbdirect_engine_recv_buffers_available(struct smbdirect_engine *e,
					     uint64_t now)
{
	(void)now;
	if (e == NULL) {
		return;
	}
	flush(e);
}

int smbdirect_engine_submit(struct smbdirect_engine *e, uint64_t now,
			    struct smbdirect_engine_msg *msg)
{
	size_t length = 0;
	unsigned int i;

	(void)now;
	if (e == NULL || msg == NULL || (msg->iov == NULL && msg->iov_count > 0)) {
		return EINVAL;
	}
	if (e->state != SMBDIRECT_STATE_CONNECTED) {
		return ENOTCONN;
	}
	for (i = 0; i < msg->iov_count; i++) {
		if (msg->iov[i].iov_len > SIZE_MAX - length) {
			return EMSGSIZE;
		}
		length += msg->iov[i].iov_len;
	}
	/* 3.1.4.1: the message must fit the peer's MaxFragmentedSize. */
	if (length == 0 || length > e->params.max_fragmented_send_size) {
		return EMSGSIZE;
	}
	memset(&msg->internal, 0, sizeof(msg->internal));
	msg->internal.length = length;
	while (msg->internal.iov_index < msg->iov_count &&
	       msg->iov[msg->internal.iov_index].iov_len == 0) {
		msg->internal.iov_index += 1;
	}
	if (e->queue_tail == NULL) {
		e->queue_head = msg;
	} else {
		e->queue_tail->internal.next = msg;
	}
	e->queue_tail = msg;
	e->queued += 1;
	flush(e);
	return 0;
}

/* --- timers ----------------------------------------------------------- */

void smbdirect_engine_handle_expiry(struct smbdirect_engine *e, uint64_t now)
{
	if (e == NULL || terminated(e)) {
		return;
	}
	/* 3.1.6.1 Negotiate timer: no negotiate message in time. */
	if (now >= e->negotiate_deadline) {
		if (e->failing_reason != SMBDIRECT_REASON_NONE) {
			terminate(e, e->failing_reason, "%s", e->detail);
		} else {
			terminate(e, SMBDIRECT_REASON_NEGOTIATE_TIMEOUT,
				  "no negotiate %s within %u ms",
				  e->role == SMBDIRECT_ROLE_RESPONDER
					  ? "request"
					  : "response",
				  e->settings.negotiate_timeout_ms);
		}
		return;
	}
	/* 3.1.6.2: a keepalive went unanswered. */
	if (now >= e->keepalive_deadline) {
		terminate(e, SMBDIRECT_REASON_KEEPALIVE_TIMEOUT,
			  "no answer to a keepalive within %u ms",
			  e->settings.keepalive_timeout_ms);
		return;
	}
	/* 3.1.6.2 Idle connection timer: ask the peer for a response. */
	if (now >= e->idle_deadline) {
		e->idle_deadline = SMBDIRECT_NO_EXPIRY;
		e->keepalive_due = true;
		e->keepalive_deadline =
			now + (uint64_t)e->settings.keepalive_timeout_ms *
				      NS_PER_MS;
		flush(e);
	}
}

uint64_t smbdirect_engine_get_expiry(const struct smbdirect_engine *e)
{
	uint64_t t = SMBDIRECT_NO_EXPIRY;

	if (e == NULL || e->state == SMBDIRECT_STATE_TERMINATED) {
		return t;
	}
	if (e->negotiate_deadline < t) {
		t = e->negotiate_deadline;
	}
	if (e->idle_deadline < t) {
		t = e->idle_deadline;
	}
	if (e->keepalive_deadline < t) {
		t = e->keepalive_deadline;
	}
	return t;
}

/* --- termination and queries ------------------------------------------ */

void smbdirect_engine_fail(struct smbdirect_engine *e,
			   enum smbdirect_reason reason, const char *detail)
{
	if (e == NULL) {
		return;
	}
	if (reason == SMBDIRECT_REASON_NONE ||
	    (unsigned int)reason >= SMBDIRECT_REASON_COUNT) {
		reason = SMBDIRECT_REASON_LOCAL_ERROR;
	}
	terminate(e, reason, "%s",
		  detail != NULL ? detail : smbdirect_reason_string(reason));
}

void smbdirect_engine_close(struct smbdirect_engine *e)
{
	if (e == NULL) {
		return;
	}
	terminate(e, SMBDIRECT_REASON_LOCAL_CLOSE, "closed by the application");
}

enum smbdirect_engine_state
smbdirect_engine_state(const struct smbdirect_engine *e)
{
	return e->state;
}

enum smbdirect_reason smbdirect_engine_reason(const struct smbdirect_engine *e)
{
	return e->reason;
}

const struct smbdirect_params *
smbdirect_engine_params(const struct smbdirect_engine *e)
{
	if (!e->negotiated) {
		return NULL;
	}
	return &e->params;
}

void smbdirect_engine_get_stats(const struct smbdirect_engine *e,
				struct smbdirect_engine_stats *stats)
{
	*stats = e->stats;
	stats->send_credits = (uint16_t)e->send_credits;
	stats->receive_credits = (uint16_t)e->receive_credits;
	stats->receives_posted = e->receives_posted;
	stats->sends_outstanding = e->inflight_count;
	stats->queued_messages = e->queued;
}

void smbdirect_engine_cork(struct smbdirect_engine *e)
{
	if (e == NULL) {
		return;
	}
	e->corked = true;
}

void smbdirect_engine_uncork(struct smbdirect_engine *e, uint64_t now)
{
	(void)now;
	if (e == NULL || !e->corked) {
		return;
	}
	e->corked = false;
	if (e->flush_again) {
		flush(e);
	}
}
