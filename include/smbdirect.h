/*
 * libsmbdirect: an implementation of [MS-SMBD], the SMB2 RDMA transport.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or (at your
 * option) any later version.
 */

/**
 * @file smbdirect.h
 * @brief The public API of libsmbdirect: version, termination reasons,
 *        settings and negotiated connection parameters.
 *
 * The library is layered (see docs/architecture.md):
 *  - smbdirect_wire.h: the [MS-SMBD] 2.2 message codec and the buffer
 *    descriptor list codec;
 *  - smbdirect_engine.h: the sans-I/O protocol engine of [MS-SMBD] 3.1;
 *  - this header: what every layer shares.
 *
 * Every function here is safe to call from any thread on distinct objects;
 * no function keeps global state.
 */
#ifndef SMBDIRECT_H
#define SMBDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version of the library API. */
#define SMBDIRECT_VERSION_MAJOR 0
/** Minor version of the library API. */
#define SMBDIRECT_VERSION_MINOR 1
/** Patch level of the library. */
#define SMBDIRECT_VERSION_PATCH 0

/**
 * @brief The library version as "MAJOR.MINOR.PATCH".
 *
 * @return A static string; never NULL.
 */
const char *smbdirect_version_string(void);

/**
 * @brief Why a connection ended, or why a call failed.
 *
 * One enum covers every way a connection can end, so that a log line can
 * always name the reason. SMBDIRECT_REASON_NONE means "still running".
 */
enum smbdirect_reason {
	/** The connection has not ended. */
	SMBDIRECT_REASON_NONE = 0,
	/** The local application closed the connection. */
	SMBDIRECT_REASON_LOCAL_CLOSE,
	/** The peer disconnected (the transport reported it). */
	SMBDIRECT_REASON_PEER_DISCONNECTED,
	/** The transport reported an error (failed completion, QP error). */
	SMBDIRECT_REASON_TRANSPORT_ERROR,
	/** A local resource failed (posting a receive or a send failed). */
	SMBDIRECT_REASON_LOCAL_ERROR,
	/** Memory could not be allocated. */
	SMBDIRECT_REASON_NO_MEMORY,
	/** No negotiate message arrived in time ([MS-SMBD] 3.1.6.1). */
	SMBDIRECT_REASON_NEGOTIATE_TIMEOUT,
	/** A negotiate message was shorter than its fixed size (3.1.5.6, 3.1.5.7). */
	SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT,
	/** The version range excludes 0x0100 (3.1.5.6, 3.1.5.7). */
	SMBDIRECT_REASON_NEGOTIATE_VERSION,
	/** CreditsRequested or CreditsGranted was 0 (3.1.5.6, 3.1.5.7). */
	SMBDIRECT_REASON_NEGOTIATE_CREDITS,
	/** MaxReceiveSize or MaxFragmentedSize below the minimum (3.1.5.6, 3.1.5.7). */
	SMBDIRECT_REASON_NEGOTIATE_SIZES,
	/** The peer's negotiate response carried a failure Status (3.1.5.7). */
	SMBDIRECT_REASON_NEGOTIATE_REJECTED,
	/** A data transfer message was malformed (3.1.5.8 field checks). */
	SMBDIRECT_REASON_INVALID_MESSAGE,
	/** The peer sent a message without holding a credit (3.1.5.8). */
	SMBDIRECT_REASON_NO_CREDIT,
	/** The peer granted more credits than can be counted (3.1.5.8). */
	SMBDIRECT_REASON_CREDIT_OVERFLOW,
	/** A reassembled message would exceed MaxFragmentedSize (3.1.5.8). */
	SMBDIRECT_REASON_FRAGMENT_OVERFLOW,
	/** Fragments disagreed about RemainingDataLength (3.1.5.8). */
	SMBDIRECT_REASON_FRAGMENT_SEQUENCE,
	/** A message arrived that is not allowed in the current state. */
	SMBDIRECT_REASON_UNEXPECTED_MESSAGE,
	/** A keepalive went unanswered (3.1.6.2). */
	SMBDIRECT_REASON_KEEPALIVE_TIMEOUT,
	/** A buffer descriptor list was invalid (2.2.3.1). */
	SMBDIRECT_REASON_INVALID_DESCRIPTOR,
	/** An argument passed by the caller was invalid. */
	SMBDIRECT_REASON_INVALID_ARGUMENT,
	/**
	 * The RDMA stack refused a call with EACCES: the calling thread's
	 * credentials changed after the RDMA file descriptors were opened
	 * (see smbdirect_set_thread_mode()).
	 */
	SMBDIRECT_REASON_CREDENTIALS_CHANGED,
	/** Number of reasons; not a reason. */
	SMBDIRECT_REASON_COUNT
};

/**
 * @brief A short, stable, lower-case name for a reason, such as
 *        "negotiate-timeout".
 *
 * @param reason Any value; values outside the enum give "unknown".
 * @return A static string; never NULL.
 */
const char *smbdirect_reason_string(enum smbdirect_reason reason);

/**
 * @brief Local settings of one connection.
 *
 * Fill it with smbdirect_settings_default(), change fields, and check it with
 * smbdirect_settings_validate(). Sizes are in bytes, times in milliseconds.
 * Where [MS-SMBD] leaves a value open, the default is what the Linux kernel's
 * SMB-Direct peers use (cifs.ko and ksmbd.ko).
 */
struct smbdirect_settings {
	/**
	 * Largest message we send (PreferredSendSize, [MS-SMBD] 3.1.1.1
	 * MaxSendSize). Default 1364. Range 128..1048576.
	 */
	uint32_t max_send_size;
	/**
	 * Largest message we can receive (MaxReceiveSize). Each posted
	 * receive buffer has this size. Default 1364. Range 128..1048576.
	 */
	uint32_t max_receive_size;
	/**
	 * Largest upper-layer message we reassemble (MaxFragmentedSize).
	 * Default 1048576. Range 131072..16777216.
	 */
	uint32_t max_fragmented_size;
	/**
	 * Largest RDMA read or write we accept in one descriptor list
	 * (MaxReadWriteSize). Default 8388608. Range 1..1073741824.
	 */
	uint32_t max_read_write_size;
	/**
	 * Credits we ask the peer for (Connection.SendCreditTarget).
	 * Default 255. Range 2..65535: with one credit each way, every
	 * credit-only message leaves its sender with none, and two peers would
	 * refill each other forever (see docs/architecture.md).
	 */
	uint16_t send_credit_target;
	/**
	 * Most receives we keep posted and grant (Connection.ReceiveCreditMax).
	 * Default 255. Range 2..65535 (see send_credit_target).
	 */
	uint16_t receive_credit_max;
	/**
	 * Most of our sends that may be outstanding at the transport at once
	 * (the send queue depth). Default 255. Range 1..65535.
	 */
	uint16_t max_outstanding_sends;
	/**
	 * How long to wait for the peer's negotiate message. Default 5000.
	 * Range 1..600000.
	 */
	uint32_t negotiate_timeout_ms;
	/**
	 * Idle time after the last received message before a keepalive is
	 * sent ([MS-SMBD] 3.1.6.2). Default 120000; 0 disables keepalive.
	 * Range 0..86400000.
	 */
	uint32_t keepalive_interval_ms;
	/**
	 * How long a keepalive may go unanswered before the connection is
	 * terminated. Default 5000. Range 1..600000.
	 */
	uint32_t keepalive_timeout_ms;
};

/**
 * @brief Fill @p settings with the defaults.
 *
 * @param settings Settings to fill; must not be NULL.
 */
void smbdirect_settings_default(struct smbdirect_settings *settings);

/**
 * @brief Check every field of @p settings against its documented range.
 *
 * @param settings The settings to check.
 * @param why      If not NULL, receives a static string naming the first bad
 *                 field on failure, or NULL on success.
 * @return true if every field is in range.
 */
bool smbdirect_settings_validate(const struct smbdirect_settings *settings,
				 const char **why);

/**
 * @brief The values a connection runs with after negotiation
 *        ([MS-SMBD] 3.1.1.1, as set by 3.1.5.6 and 3.1.5.7).
 */
struct smbdirect_params {
	/** The negotiated protocol version (0x0100). */
	uint16_t protocol;
	/** Largest message we may send: Connection.MaxSendSize. */
	uint32_t max_send_size;
	/** Largest message we may receive: Connection.MaxReceiveSize. */
	uint32_t max_receive_size;
	/** Largest upper-layer message we may send (peer's MaxFragmentedSize). */
	uint32_t max_fragmented_send_size;
	/** Largest upper-layer message we accept (our MaxFragmentedSize). */
	uint32_t max_fragmented_receive_size;
	/** Largest RDMA read or write: Connection.MaxReadWriteSize. */
	uint32_t max_read_write_size;
	/** Receives we aim to keep posted: Connection.ReceiveCreditTarget. */
	uint16_t receive_credit_target;
	/** Credits we ask of the peer: Connection.SendCreditTarget. */
	uint16_t send_credit_target;
};

#ifdef __cplusplus
}
#endif

#include <smbdirect_wire.h>
#include <smbdirect_engine.h>

#endif /* SMBDIRECT_H */
