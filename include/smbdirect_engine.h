/*
 * libsmbdirect: the sans-I/O [MS-SMBD] protocol engine.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or (at your
 * option) any later version.
 */

/**
 * @file smbdirect_engine.h
 * @brief One [MS-SMBD] connection as a state machine with no I/O.
 *
 * The engine makes no system call and knows nothing of rdma-core or tevent.
 * The caller (the RDMA binding, or a test) feeds it events and carries out
 * the actions it asks for through a callbacks struct:
 *
 *  events in                          actions out (callbacks)
 *  ---------                          -----------------------
 *  smbdirect_engine_start()           post_recv: post N receive buffers
 *  smbdirect_engine_on_recv()         send: transmit one message
 *  smbdirect_engine_on_send_complete() deliver: a whole upper-layer message
 *  smbdirect_engine_handle_expiry()   send_done: a submitted message is sent
 *  smbdirect_engine_submit()          connected: negotiation finished
 *  smbdirect_engine_fail()            terminated: the end, with a reason
 *
 * Time is a caller-supplied monotonic clock in nanoseconds; the caller arms
 * one timer for smbdirect_engine_get_expiry() after every call.
 *
 * Callbacks run synchronously inside the engine calls. From a callback the
 * caller may call smbdirect_engine_submit() and smbdirect_engine_close(),
 * but must not free the engine. After the terminated callback no callback
 * runs again, and every later event is ignored.
 *
 * An engine is not thread-safe; one thread drives it at a time.
 */
#ifndef SMBDIRECT_ENGINE_H
#define SMBDIRECT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <smbdirect.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Which side of the connection this engine is ([MS-SMBD] 1.3). */
enum smbdirect_role {
	/** Sends the negotiate request (the SMB client). */
	SMBDIRECT_ROLE_INITIATOR = 0,
	/** Receives the negotiate request (the SMB server). */
	SMBDIRECT_ROLE_RESPONDER = 1,
};

/** Life cycle of an engine. */
enum smbdirect_engine_state {
	SMBDIRECT_STATE_IDLE = 0,       /**< Created, not started */
	SMBDIRECT_STATE_NEGOTIATING,    /**< Waiting for the peer's negotiate */
	SMBDIRECT_STATE_CONNECTED,      /**< Transferring data */
	SMBDIRECT_STATE_TERMINATED,     /**< Ended; see smbdirect_engine_reason() */
};

/** No timer is armed: the value smbdirect_engine_get_expiry() returns. */
#define SMBDIRECT_NO_EXPIRY UINT64_MAX

/**
 * @brief An upper-layer message to send.
 *
 * The caller owns it and the memory its iovecs point to; both must stay
 * valid and unchanged until the send_done callback names this message, or
 * until the terminated callback. The engine queues it by linking it, so
 * submitting allocates nothing. One message may be submitted once at a time.
 */
struct smbdirect_engine_msg {
	/** The payload, in pieces. */
	const struct iovec *iov;
	/** Number of entries in @ref iov. */
	unsigned int iov_count;
	/** For the caller; the engine never touches it. */
	void *private_data;
	/**
	 * Send-with-Invalidate: [MS-SMBD] 3.1.4.2 lets the upper layer pass,
	 * with each message, "an optional remote memory token to be
	 * invalidated on the receiving peer". If true, the first fragment of
	 * this message, and no other, goes with @ref invalidate_token
	 * (smbdirect_send_desc::invalidate). It is a property of this one
	 * message: however many messages wait for credits, each token leaves
	 * with its own message.
	 */
	bool invalidate;
	/** The peer's token (rkey) to invalidate, if @ref invalidate. */
	uint32_t invalidate_token;
	/** Engine bookkeeping; zero it before the first submit. */
	struct {
		struct smbdirect_engine_msg *next; /**< queue link */
		size_t length;          /**< total payload bytes */
		size_t sent;            /**< payload bytes handed to send */
		unsigned int iov_index; /**< iovec of the next byte to send */
		size_t iov_offset;      /**< offset in that iovec */
		uint32_t fragments_posted;    /**< fragments handed to send */
		uint32_t fragments_completed; /**< fragments completed */
	} internal;
};

/**
 * @brief One message for the transport to send, given to the send callback.
 *
 * The wire message is the @ref header bytes followed by @ref data_length
 * payload bytes, taken from @ref iov starting @ref iov_offset bytes into
 * its first entry. The header bytes are valid only during the callback (copy
 * them); the payload stays valid until the send completes.
 */
struct smbdirect_send_desc {
	/** The [MS-SMBD] header of this message. */
	const uint8_t *header;
	/** Its length: 20 (no data), 24 (data) or 32 (negotiate response). */
	size_t header_length;
	/** Payload pieces, or NULL if data_length is 0. */
	const struct iovec *iov;
	/** Entries available in @ref iov (the payload may end earlier). */
	unsigned int iov_count;
	/** Offset of the first payload byte in iov[0]. */
	size_t iov_offset;
	/** Payload bytes in this message. */
	size_t data_length;
	/** The upper-layer message this fragment belongs to, or NULL. */
	struct smbdirect_engine_msg *msg;
	/**
	 * Transmit with Send-with-Invalidate of @ref invalidate_token (an
	 * RDMA SEND_WITH_INV): set on the first fragment of a message whose
	 * caller asked for it (smbdirect_engine_msg::invalidate), never on
	 * another fragment or message ([MS-SMBD] 3.1.4.2, 3.1.5.4).
	 */
	bool invalidate;
	/** The peer's token to invalidate, if @ref invalidate. */
	uint32_t invalidate_token;
};

/**
 * @brief Wire length of a message to send: header plus payload.
 *
 * @param desc A descriptor given to the send callback.
 * @return header_length + data_length.
 */
size_t smbdirect_send_desc_length(const struct smbdirect_send_desc *desc);

/**
 * @brief Copy a whole message to send (header, then payload gathered from
 *        the iovecs) into one flat buffer, as a transport does for a small
 *        or inline send.
 *
 * @param desc A descriptor given to the send callback.
 * @param dst  Destination.
 * @param size Size of @p dst.
 * @return Bytes written, or 0 if @p size is too small or the iovecs hold
 *         fewer than data_length bytes.
 */
size_t smbdirect_send_desc_copy(const struct smbdirect_send_desc *desc,
				uint8_t *dst, size_t size);

/**
 * @brief The actions an engine asks of its caller. All are required.
 *
 * Every callback gets the private_data given to smbdirect_engine_new().
 */
struct smbdirect_engine_callbacks {
	/**
	 * Post up to @p count more receive buffers of @p buffer_size bytes.
	 * Each completed receive must later be reported, in order, with
	 * smbdirect_engine_on_recv(). At most receive_credit_max + 1
	 * receives are ever outstanding ([MS-SMBD] 3.1.5.9), which sizes
	 * the transport's receive queue and pool.
	 *
	 * @return How many were posted (0..count); the engine grants credits
	 *         only for those ([MS-SMBD] 3.1.1.1 ReceiveCredits). A negative
	 *         value is a fatal local error.
	 */
	int (*post_recv)(void *private_data, uint32_t count,
			 uint32_t buffer_size);
	/**
	 * Transmit one message. Completions are reported in order with
	 * smbdirect_engine_on_send_complete().
	 *
	 * @return 0, or an errno value: a fatal local error.
	 */
	int (*send)(void *private_data, const struct smbdirect_send_desc *desc);
	/**
	 * Negotiation succeeded; @p params holds the values in force.
	 */
	void (*connected)(void *private_data,
			  const struct smbdirect_params *params);
	/**
	 * A complete upper-layer message arrived. @p data is valid only
	 * during the callback. For a message that came in one piece it points
	 * into the receive buffer (no copy).
	 */
	void (*deliver)(void *private_data, const uint8_t *data, size_t length);
	/**
	 * Every fragment of @p msg was sent and completed; the caller owns
	 * it again.
	 */
	void (*send_done)(void *private_data, struct smbdirect_engine_msg *msg);
	/**
	 * The connection ended. @p detail is a human-readable explanation,
	 * valid during the callback. Messages not reported by send_done were
	 * not (completely) delivered and are the caller's again.
	 */
	void (*terminated)(void *private_data, enum smbdirect_reason reason,
			   const char *detail);
};

/** An engine: one [MS-SMBD] connection. Opaque. */
struct smbdirect_engine;

/**
 * @brief Create an engine.
 *
 * @param mem_ctx      talloc parent; freeing it frees the engine.
 * @param role         Initiator or responder.
 * @param settings     Local settings; copied. Must pass
 *                     smbdirect_settings_validate().
 * @param callbacks    The actions; copied. Every member must be set.
 * @param private_data Passed to every callback.
 * @return The engine, or NULL if an argument is invalid or memory ran out.
 *         All the memory the engine ever needs is allocated here, except
 *         the reassembly buffer, allocated once at the first fragmented
 *         message and reused.
 */
struct smbdirect_engine *
smbdirect_engine_new(void *mem_ctx, enum smbdirect_role role,
		     const struct smbdirect_settings *settings,
		     const struct smbdirect_engine_callbacks *callbacks,
		     void *private_data);

/**
 * @brief Start negotiation, once the transport is connected.
 *
 * Both roles post one receive for the peer's negotiate message. The
 * initiator then sends the negotiate request ([MS-SMBD] 3.1.5.2). Both arm
 * the negotiate timer ([MS-SMBD] 3.1.2, 3.1.6.1).
 *
 * @param engine The engine, in SMBDIRECT_STATE_IDLE.
 * @param now    Current time, nanoseconds.
 * @return 0, or EINVAL if the engine was already started. A failure that
 *         ends the connection is reported through the terminated callback.
 */
int smbdirect_engine_start(struct smbdirect_engine *engine, uint64_t now);

/**
 * @brief A posted receive completed with @p length bytes.
 *
 * @param engine The engine.
 * @param now    Current time, nanoseconds.
 * @param buf    The received bytes; only read during the call.
 * @param length Number of bytes received.
 */
void smbdirect_engine_on_recv(struct smbdirect_engine *engine, uint64_t now,
			      const uint8_t *buf, size_t length);

/**
 * @brief The @p count oldest outstanding sends completed successfully.
 *
 * A count larger than the number outstanding ends the connection with
 * SMBDIRECT_REASON_LOCAL_ERROR.
 *
 * @param engine The engine.
 * @param now    Current time, nanoseconds.
 * @param count  Completions, in posting order (a signalled send may cover
 *               earlier unsignalled ones).
 */
void smbdirect_engine_on_send_complete(struct smbdirect_engine *engine,
				       uint64_t now, uint32_t count);

/**
 * @brief More receive buffers may be available; retry posting receives.
 *
 * Call it when a post_recv callback returned fewer than asked and buffers
 * were freed since.
 *
 * @param engine The engine.
 * @param now    Current time, nanoseconds.
 */
void smbdirect_engine_recv_buffers_available(struct smbdirect_engine *engine,
					     uint64_t now);

/**
 * @brief Queue an upper-layer message for sending.
 *
 * It is split into fragments of at most max_send_size bytes with
 * RemainingDataLength ([MS-SMBD] 3.1.4.1, 3.1.5.1). With no send credit it
 * waits in the queue; it is never dropped.
 *
 * @param engine The engine, connected.
 * @param now    Current time, nanoseconds.
 * @param msg    The message (see struct smbdirect_engine_msg).
 * @return 0; ENOTCONN before the connection is negotiated or after it ended;
 *         EMSGSIZE if it is empty or longer than max_fragmented_send_size;
 *         EINVAL on a bad argument.
 */
int smbdirect_engine_submit(struct smbdirect_engine *engine, uint64_t now,
			    struct smbdirect_engine_msg *msg);

/**
 * @brief Defer sending until smbdirect_engine_uncork().
 *
 * Events still update state, but messages that events make due (credit
 * grants, answers to SMB_DIRECT_RESPONSE_REQUESTED, queued data) are held
 * back, so that a batch of receive completions is answered by one message
 * carrying all the credits instead of one message each. [MS-SMBD] 3.1.5.8
 * asks for credits to be sent "promptly": uncork before going back to the
 * event loop.
 *
 * @param engine The engine.
 */
void smbdirect_engine_cork(struct smbdirect_engine *engine);

/**
 * @brief End a batch begun by smbdirect_engine_cork() and send what is due.
 *
 * @param engine The engine.
 * @param now    Current time, nanoseconds.
 */
void smbdirect_engine_uncork(struct smbdirect_engine *engine, uint64_t now);

/**
 * @brief The most receives the engine ever has posted at once:
 *        ReceiveCreditMax + 1 ([MS-SMBD] 3.1.5.9: one beyond the credit
 *        target, so that a message waiting for the last send credit can
 *        grant a credit). It sizes the transport's receive queue and pool.
 *
 * @param engine The engine.
 * @return The number of receive buffers a transport needs.
 */
uint32_t smbdirect_engine_receive_buffer_count(
	const struct smbdirect_engine *engine);

/**
 * @brief Size of every receive buffer the engine asks the transport to post:
 *        the larger of max_receive_size and 512 ([MS-SMBD] 3.1.4.1).
 *
 * @param engine The engine.
 * @return Bytes per receive buffer.
 */
uint32_t smbdirect_engine_receive_buffer_size(
	const struct smbdirect_engine *engine);

/**
 * @brief Handle every timer that is due at @p now.
 *
 * @param engine The engine.
 * @param now    Current time, nanoseconds.
 */
void smbdirect_engine_handle_expiry(struct smbdirect_engine *engine,
				    uint64_t now);

/**
 * @brief When smbdirect_engine_handle_expiry() must next run.
 *
 * @param engine The engine.
 * @return An absolute time in nanoseconds, or SMBDIRECT_NO_EXPIRY.
 */
uint64_t smbdirect_engine_get_expiry(const struct smbdirect_engine *engine);

/**
 * @brief End the connection because the transport failed or the peer left.
 *
 * @param engine The engine.
 * @param reason Why; SMBDIRECT_REASON_NONE is replaced by
 *               SMBDIRECT_REASON_LOCAL_ERROR.
 * @param detail A short explanation for the log, or NULL.
 */
void smbdirect_engine_fail(struct smbdirect_engine *engine,
			   enum smbdirect_reason reason, const char *detail);

/**
 * @brief End the connection at the application's request
 *        (SMBDIRECT_REASON_LOCAL_CLOSE).
 *
 * @param engine The engine.
 */
void smbdirect_engine_close(struct smbdirect_engine *engine);

/**
 * @brief The engine's state.
 * @param engine The engine.
 * @return The current state.
 */
enum smbdirect_engine_state
smbdirect_engine_state(const struct smbdirect_engine *engine);

/**
 * @brief Why the engine terminated.
 * @param engine The engine.
 * @return SMBDIRECT_REASON_NONE while it runs.
 */
enum smbdirect_reason
smbdirect_engine_reason(const struct smbdirect_engine *engine);

/**
 * @brief The negotiated values.
 * @param engine The engine.
 * @return A pointer into the engine, or NULL unless negotiation succeeded
 *         (it stays valid after the connection ended).
 */
const struct smbdirect_params *
smbdirect_engine_params(const struct smbdirect_engine *engine);

/**
 * @brief Counters of one engine, for tests, tools and logs.
 */
struct smbdirect_engine_stats {
	uint16_t send_credits;        /**< Connection.SendCredits */
	uint16_t receive_credits;     /**< Connection.ReceiveCredits (granted, unused) */
	uint32_t receives_posted;     /**< receives outstanding at the transport */
	uint32_t sends_outstanding;   /**< sends not yet completed */
	uint32_t queued_messages;     /**< messages waiting for credits */
	uint64_t messages_sent;       /**< wire messages sent */
	uint64_t messages_received;   /**< wire messages received */
	uint64_t credit_only_sent;    /**< messages sent only to grant credits */
	uint64_t keepalives_sent;     /**< keepalive messages sent */
	uint64_t bytes_delivered;     /**< upper-layer bytes delivered */
	uint64_t messages_delivered;  /**< upper-layer messages delivered */
	uint64_t credit_stalls;       /**< times a send waited for a credit */
};

/**
 * @brief Read the engine's counters.
 * @param engine The engine.
 * @param stats  Output.
 */
void smbdirect_engine_get_stats(const struct smbdirect_engine *engine,
				struct smbdirect_engine_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* SMBDIRECT_ENGINE_H */
