/*
 * libsmbdirect: [MS-SMBD] wire format.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 *
 * This library is free software; you can redistribute it and/or modify it
 * under the terms of the GNU Lesser General Public License as published by
 * the Free Software Foundation; either version 3 of the License, or (at your
 * option) any later version.
 */

/**
 * @file smbdirect_wire.h
 * @brief [MS-SMBD] protocol constants and the codec for its messages
 *        (section 2.2) and for SMB_DIRECT_BUFFER_DESCRIPTOR_V1 lists
 *        (section 2.2.3.1).
 *
 * Every protocol constant of the project lives here. All integers on the
 * wire are little-endian. Decoders never read past the length they are
 * given and never allocate.
 */
#ifndef SMBDIRECT_WIRE_H
#define SMBDIRECT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The only protocol version, 1.0 ([MS-SMBD] 2.2.1). */
#define SMBDIRECT_PROTOCOL_VERSION 0x0100u

/** Size of a negotiate request ([MS-SMBD] 2.2.1). */
#define SMBDIRECT_NEGOTIATE_REQUEST_SIZE 20u
/** Size of a negotiate response ([MS-SMBD] 2.2.2). */
#define SMBDIRECT_NEGOTIATE_RESPONSE_SIZE 32u
/** Fixed part of a data transfer message, up to DataLength ([MS-SMBD] 2.2.3). */
#define SMBDIRECT_DATA_HEADER_MIN 20u
/** DataOffset used by this library: the header plus Padding, 8-aligned. */
#define SMBDIRECT_DATA_OFFSET 24u
/** DataOffset MUST be a multiple of this ([MS-SMBD] 2.2.3). */
#define SMBDIRECT_DATA_ALIGNMENT 8u
/** Size of one SMB_DIRECT_BUFFER_DESCRIPTOR_V1 ([MS-SMBD] 2.2.3.1). */
#define SMBDIRECT_BUFFER_DESCRIPTOR_V1_SIZE 16u

/** Flags: the peer must answer promptly ([MS-SMBD] 2.2.3). */
#define SMBDIRECT_FLAG_RESPONSE_REQUESTED 0x0001u
/** Every flag defined by [MS-SMBD] 2.2.3. */
#define SMBDIRECT_FLAGS_VALID SMBDIRECT_FLAG_RESPONSE_REQUESTED

/** Smallest MaxReceiveSize a peer may announce ([MS-SMBD] 3.1.5.6). */
#define SMBDIRECT_MIN_RECEIVE_SIZE 128u
/** Smallest MaxFragmentedSize a peer may announce ([MS-SMBD] 3.1.5.6). */
#define SMBDIRECT_MIN_FRAGMENTED_SIZE 131072u

/** NTSTATUS values carried in the negotiate response Status field. */
#define SMBDIRECT_STATUS_SUCCESS 0x00000000u
/** Sent when the version range excludes 0x0100 ([MS-SMBD] 3.1.5.6). */
#define SMBDIRECT_STATUS_NOT_SUPPORTED 0xC00000BBu
/** Sent when no receive could be posted for credits ([MS-SMBD] 3.1.5.6). */
#define SMBDIRECT_STATUS_INSUFFICIENT_RESOURCES 0xC000009Au
/** Smallest receive buffer posted before negotiation ([MS-SMBD] 3.1.4.1, 3.1.7.2). */
#define SMBDIRECT_NEGOTIATE_RECEIVE_SIZE 512u

/** SMB2 READ/WRITE Channel values ([MS-SMB2] 2.2.19, 2.2.21). */
#define SMB2_CHANNEL_NONE 0x00000000u
/** Buffer descriptors follow; the rkey stays valid. */
#define SMB2_CHANNEL_RDMA_V1 0x00000001u
/** Buffer descriptors follow; the server invalidates the rkey. */
#define SMB2_CHANNEL_RDMA_V1_INVALIDATE 0x00000002u

/** Negotiate request, decoded ([MS-SMBD] 2.2.1). */
struct smbdirect_negotiate_request {
	uint16_t min_version;         /**< MinVersion */
	uint16_t max_version;         /**< MaxVersion */
	uint16_t reserved;            /**< Reserved; sent as 0, ignored */
	uint16_t credits_requested;   /**< CreditsRequested */
	uint32_t preferred_send_size; /**< PreferredSendSize */
	uint32_t max_receive_size;    /**< MaxReceiveSize */
	uint32_t max_fragmented_size; /**< MaxFragmentedSize */
};

/** Negotiate response, decoded ([MS-SMBD] 2.2.2). */
struct smbdirect_negotiate_response {
	uint16_t min_version;         /**< MinVersion */
	uint16_t max_version;         /**< MaxVersion */
	uint16_t negotiated_version;  /**< NegotiatedVersion */
	uint16_t reserved;            /**< Reserved; sent as 0, ignored */
	uint16_t credits_requested;   /**< CreditsRequested */
	uint16_t credits_granted;     /**< CreditsGranted */
	uint32_t status;              /**< Status (an NTSTATUS) */
	uint32_t max_read_write_size; /**< MaxReadWriteSize */
	uint32_t preferred_send_size; /**< PreferredSendSize */
	uint32_t max_receive_size;    /**< MaxReceiveSize */
	uint32_t max_fragmented_size; /**< MaxFragmentedSize */
};

/** Data transfer message header, decoded ([MS-SMBD] 2.2.3). */
struct smbdirect_data_header {
	uint16_t credits_requested;     /**< CreditsRequested */
	uint16_t credits_granted;       /**< CreditsGranted */
	uint16_t flags;                 /**< Flags */
	uint16_t reserved;              /**< Reserved */
	uint32_t remaining_data_length; /**< RemainingDataLength */
	uint32_t data_offset;           /**< DataOffset */
	uint32_t data_length;           /**< DataLength */
};

/** One SMB_DIRECT_BUFFER_DESCRIPTOR_V1 ([MS-SMBD] 2.2.3.1). */
struct smbdirect_buffer_descriptor {
	uint64_t offset; /**< Offset: the address in the peer's registration */
	uint32_t token;  /**< Token: the rkey */
	uint32_t length; /**< Length in bytes */
};

/**
 * @brief Why a decoder refused its input.
 */
enum smbdirect_wire_error {
	SMBDIRECT_WIRE_OK = 0,            /**< Decoded and valid */
	SMBDIRECT_WIRE_TOO_SHORT,         /**< Fewer bytes than the fixed part */
	SMBDIRECT_WIRE_BAD_DATA_OFFSET,   /**< DataOffset unaligned or inside the header */
	SMBDIRECT_WIRE_BAD_DATA_LENGTH,   /**< DataOffset + DataLength past the message */
	SMBDIRECT_WIRE_BAD_FLAGS,         /**< Undefined Flags bits set */
	SMBDIRECT_WIRE_BAD_LENGTH,        /**< Descriptor list length not a multiple of 16 */
	SMBDIRECT_WIRE_EMPTY,             /**< Descriptor list with no entry */
	SMBDIRECT_WIRE_TOO_MANY,          /**< More descriptors than the caller allows */
	SMBDIRECT_WIRE_ZERO_LENGTH,       /**< A descriptor of length 0 */
	SMBDIRECT_WIRE_TOO_LARGE,         /**< Total length above the limit */
	SMBDIRECT_WIRE_RANGE_WRAPS,       /**< A descriptor's Offset + Length passes 2^64 */
};

/**
 * @brief A short name for a wire error, such as "bad-data-offset".
 * @param error Any value.
 * @return A static string; never NULL.
 */
const char *smbdirect_wire_error_string(enum smbdirect_wire_error error);

/**
 * @brief Encode a negotiate request into exactly 20 bytes.
 *
 * @param req  The fields to encode.
 * @param buf  Output; at least SMBDIRECT_NEGOTIATE_REQUEST_SIZE bytes.
 * @param size Size of @p buf.
 * @return Bytes written (20), or 0 if @p size is too small.
 */
size_t smbdirect_negotiate_request_encode(
	const struct smbdirect_negotiate_request *req, uint8_t *buf,
	size_t size);

/**
 * @brief Decode the fixed fields of a negotiate request.
 *
 * Only the length is checked ([MS-SMBD] 3.1.5.6); the values are checked by
 * the engine, because their failures lead to different actions.
 *
 * @param buf  Received bytes.
 * @param len  Number of received bytes; extra bytes are ignored.
 * @param req  Output.
 * @return SMBDIRECT_WIRE_OK or SMBDIRECT_WIRE_TOO_SHORT.
 */
enum smbdirect_wire_error
smbdirect_negotiate_request_decode(const uint8_t *buf, size_t len,
				   struct smbdirect_negotiate_request *req);

/**
 * @brief Encode a negotiate response into exactly 32 bytes.
 *
 * @param rsp  The fields to encode.
 * @param buf  Output; at least SMBDIRECT_NEGOTIATE_RESPONSE_SIZE bytes.
 * @param size Size of @p buf.
 * @return Bytes written (32), or 0 if @p size is too small.
 */
size_t smbdirect_negotiate_response_encode(
	const struct smbdirect_negotiate_response *rsp, uint8_t *buf,
	size_t size);

/**
 * @brief Decode the fixed fields of a negotiate response.
 *
 * @param buf  Received bytes.
 * @param len  Number of received bytes; extra bytes are ignored.
 * @param rsp  Output.
 * @return SMBDIRECT_WIRE_OK or SMBDIRECT_WIRE_TOO_SHORT.
 */
enum smbdirect_wire_error
smbdirect_negotiate_response_decode(const uint8_t *buf, size_t len,
				    struct smbdirect_negotiate_response *rsp);

/**
 * @brief Encode a data transfer message header.
 *
 * With data_length 0 it writes the 20-byte header alone (DataOffset must
 * then be 0); otherwise it writes SMBDIRECT_DATA_OFFSET bytes: the header
 * and a zeroed Padding field, and hdr->data_offset must be
 * SMBDIRECT_DATA_OFFSET.
 *
 * @param hdr  The fields to encode.
 * @param buf  Output.
 * @param size Size of @p buf.
 * @return Bytes written (20 or 24), or 0 if @p size is too small or the
 *         offset does not fit the rules above.
 */
size_t smbdirect_data_header_encode(const struct smbdirect_data_header *hdr,
				    uint8_t *buf, size_t size);

/**
 * @brief Decode and validate a data transfer message ([MS-SMBD] 2.2.3).
 *
 * Checks ([MS-SMBD] 2.2.3, 3.1.5.8): at least 20 bytes; Flags has no
 * undefined bit; DataOffset is 8-byte aligned and DataOffset + DataLength
 * fits in @p len (for every message, so an empty one may carry DataOffset 0
 * or any aligned offset within it); with a payload, DataOffset is at least
 * 20 (the payload may not overlap the header). Cross-message checks
 * (credits, RemainingDataLength, sizes) belong to the engine.
 *
 * @param buf  Received bytes.
 * @param len  Number of received bytes.
 * @param hdr  Output; valid only if SMBDIRECT_WIRE_OK is returned.
 * @return SMBDIRECT_WIRE_OK or the first failed check.
 */
enum smbdirect_wire_error
smbdirect_data_header_decode(const uint8_t *buf, size_t len,
			     struct smbdirect_data_header *hdr);

/**
 * @brief Encode a list of buffer descriptors ([MS-SMBD] 2.2.3.1).
 *
 * @param descs The descriptors.
 * @param count Number of descriptors.
 * @param buf   Output; 16 bytes per descriptor.
 * @param size  Size of @p buf.
 * @return Bytes written, or 0 if @p size is too small or @p count is 0.
 */
size_t smbdirect_buffer_descriptors_encode(
	const struct smbdirect_buffer_descriptor *descs, size_t count,
	uint8_t *buf, size_t size);

/**
 * @brief Decode and validate a buffer descriptor list ([MS-SMBD] 2.2.3.1,
 *        3.1.4.3 and 3.1.4.4: the total is bounded by MaxReadWriteSize).
 *
 * The length must be a non-zero multiple of 16, there must be at most
 * @p max_count entries, no entry may have Length 0 or a range that runs
 * past the end of the 64-bit address space (Offset + Length > 2^64), and
 * the sum of the lengths (computed without overflow) must not exceed
 * @p max_total.
 *
 * @param buf       The list as received (for SMB2, the Channel info).
 * @param len       Its length in bytes.
 * @param descs     Output array of @p max_count entries.
 * @param max_count Capacity of @p descs and the largest count accepted.
 * @param max_total Largest sum of lengths accepted, normally the
 *                  connection's max_read_write_size.
 * @param count     Output: number of descriptors decoded.
 * @param total     Output (may be NULL): sum of the lengths.
 * @return SMBDIRECT_WIRE_OK or the first failed check.
 */
enum smbdirect_wire_error smbdirect_buffer_descriptors_decode(
	const uint8_t *buf, size_t len,
	struct smbdirect_buffer_descriptor *descs, size_t max_count,
	uint64_t max_total, size_t *count, uint64_t *total);

#ifdef __cplusplus
}
#endif

#endif /* SMBDIRECT_WIRE_H */
