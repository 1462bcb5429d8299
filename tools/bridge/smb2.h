/*
 * smbdirect-bridge: SMB2 framing, compound walking and the READ/WRITE
 * rewrites the bridge performs (docs/tools/smbdirect-bridge.md).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Everything here is pure: bytes in, bytes (or a verdict) out, no I/O and
 * no global state, so the unit tests (test/unit/test_bridge_smb2.c) drive
 * it directly. Every length a peer controls is checked before use.
 */
#ifndef SMBDIRECT_BRIDGE_SMB2_H
#define SMBDIRECT_BRIDGE_SMB2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <talloc.h>

#include "smbdirect_wire.h"

/* [MS-SMB2] 2.1: Direct TCP transport: a 4-byte header whose first byte is
 * zero and whose other three carry the message length, big-endian. */
#define BR_TCP_HDR 4u
#define BR_TCP_MAX_FRAME 0xFFFFFFu

/* [MS-SMB2] 2.2.1: the SMB2 header. */
#define BR_SMB2_HDR 64u
#define BR_HDR_STRUCTURE_SIZE 4
#define BR_HDR_CREDIT_CHARGE 6
#define BR_HDR_STATUS 8
#define BR_HDR_COMMAND 12
#define BR_HDR_FLAGS 16
#define BR_HDR_NEXT_COMMAND 20
#define BR_HDR_MESSAGE_ID 24
#define BR_HDR_SESSION_ID 40

#define BR_FLAGS_SERVER_TO_REDIR 0x00000001u
#define BR_FLAGS_ASYNC_COMMAND 0x00000002u
#define BR_FLAGS_RELATED_OPERATIONS 0x00000004u
#define BR_FLAGS_SIGNED 0x00000008u

#define BR_SMB2_NEGOTIATE 0x0000
#define BR_SMB2_READ 0x0008
#define BR_SMB2_WRITE 0x0009

#define BR_STATUS_SUCCESS 0x00000000u
#define BR_STATUS_PENDING 0x00000103u
#define BR_STATUS_BUFFER_OVERFLOW 0x80000005u

/* [MS-SMB2] 2.2.19/2.2.21: READ and WRITE requests have a 48-byte fixed
 * part (StructureSize 49 counts one byte of Buffer), so inline data and
 * channel info start at 64 + 48 = 0x70. 2.2.20: a READ response has a
 * 16-byte fixed part; its data starts at 0x50. */
#define BR_RW_REQ_FIXED 48u
#define BR_RW_BUFFER_OFFSET (BR_SMB2_HDR + BR_RW_REQ_FIXED)
#define BR_READ_RSP_FIXED 16u
#define BR_READ_RSP_DATA_OFFSET (BR_SMB2_HDR + BR_READ_RSP_FIXED)

/* [MS-SMBD] 2.2.3.1: one buffer descriptor on the wire. */
#define BR_DESC_SIZE 16u

/* Most PDUs in one compound the bridge walks. */
#define BR_MAX_COMPOUND 128u

/** What a transport message is, from its first four bytes. */
enum br_msg_kind {
	BR_MSG_SMB2,       /**< 0xFE 'S' 'M' 'B' */
	BR_MSG_TRANSFORM,  /**< 0xFD 'S' 'M' 'B': encrypted (2.2.41) */
	BR_MSG_COMPRESSED, /**< 0xFC 'S' 'M' 'B': compressed (2.2.42) */
	BR_MSG_SMB1,       /**< 0xFF 'S' 'M' 'B': SMB1 negotiate */
	BR_MSG_BAD,        /**< anything else */
};

enum br_msg_kind br_msg_kind(const uint8_t *msg, size_t len);
const char *br_msg_kind_name(enum br_msg_kind kind);

/** Decode a Direct TCP header; false if its first byte is not zero. */
bool br_tcp_header_decode(const uint8_t hdr[BR_TCP_HDR], uint32_t *length);
/** Encode a Direct TCP header for a message of @p length (< 2^24). */
void br_tcp_header_encode(uint8_t hdr[BR_TCP_HDR], uint32_t length);

/** One PDU of a compound ([MS-SMB2] 3.2.4.1.4, 3.3.5.2.7). */
struct br_pdu {
	size_t offset;       /**< where it starts in the message */
	size_t length;       /**< to the next PDU (padding included) or the end */
	uint16_t command;
	uint32_t flags;
	uint32_t status;
	uint64_t message_id;
};

/**
 * Split an SMB2 message into its PDUs by NextCommand. Each NextCommand must
 * be a multiple of 8, at least a header long, and inside the message.
 * @return true, or false with @p why set.
 */
bool br_compound_split(const uint8_t *msg, size_t len, struct br_pdu *pdus,
		       size_t max, size_t *count, const char **why);

/** A PDU to put into a rebuilt compound. */
struct br_piece {
	const uint8_t *data;
	size_t length;
};

/**
 * Join PDUs into one compound: every PDU but the last is padded with zeros
 * to 8 bytes and its NextCommand set to its padded length; the last gets
 * NextCommand 0. A PDU whose length is already a multiple of 8 and whose
 * NextCommand already says so is copied unchanged (signed PDUs stay
 * valid).
 * @return The message (talloc child of @p mem_ctx), or NULL.
 */
uint8_t *br_compound_join(TALLOC_CTX *mem_ctx, const struct br_piece *pieces,
			  size_t count, size_t *length);

/** Short command name for logs ("READ", "WRITE", ...). */
const char *br_command_name(uint16_t command);

/** Verdict on one PDU that may carry an RDMA channel. */
enum br_verdict {
	BR_PASS,      /**< no RDMA channel: forward as it is */
	BR_RDMA,      /**< a valid RDMA request; see struct br_rdma_io */
	BR_REFUSE,    /**< RDMA channel the bridge must not rewrite */
	BR_MALFORMED, /**< invalid; the connection must end */
};

const char *br_verdict_name(enum br_verdict v);

/** An RDMA-channel READ or WRITE request, decoded. */
struct br_rdma_io {
	uint16_t command;    /**< BR_SMB2_READ or BR_SMB2_WRITE */
	uint32_t channel;    /**< SMB2_CHANNEL_RDMA_V1 or _INVALIDATE */
	uint64_t message_id;
	uint32_t length;     /**< bytes to read, or to write (RemainingBytes) */
	uint64_t total;      /**< sum of the descriptor lengths */
	size_t count;        /**< descriptors in @p descs */
};

/**
 * Reverse mode: look at one request PDU ([MS-SMB2] 2.2.19, 2.2.21,
 * 3.3.5.12, 3.3.5.13). A READ or WRITE with Channel RDMA_V1 or
 * RDMA_V1_INVALIDATE is decoded into @p io and @p descs (at most
 * @p max_descs, total at most @p max_total). A signed one, or one with any
 * other non-zero Channel, is BR_REFUSE.
 * @param why  Receives the reason for BR_REFUSE and BR_MALFORMED.
 */
enum br_verdict br_rdma_request_parse(
	const uint8_t *pdu, size_t len, size_t max_descs, uint64_t max_total,
	struct br_rdma_io *io, struct smbdirect_buffer_descriptor *descs,
	char *why, size_t why_size);

/**
 * Reverse mode, WRITE: the request with the data inline: Channel NONE,
 * Length = @p n, DataOffset 0x70, channel info removed, RemainingBytes 0
 * ([MS-SMB2] 2.2.21). The rest of the fixed part and the header stay.
 * @param pdu A request that br_rdma_request_parse() called BR_RDMA.
 */
uint8_t *br_write_make_inline(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			      size_t len, const uint8_t *data, size_t n,
			      size_t *out_len);

/**
 * Reverse mode, READ: rewrite in place to Channel NONE with the channel
 * info removed (offset and length 0, the descriptor bytes zeroed); the
 * length of the PDU does not change ([MS-SMB2] 2.2.19).
 */
void br_read_make_plain(uint8_t *pdu, size_t len);

/** A READ response, decoded ([MS-SMB2] 2.2.20). */
struct br_read_rsp {
	uint32_t status;
	bool has_data;        /**< a success response with its fixed part */
	size_t data_offset;   /**< in the PDU */
	uint32_t data_length;
	uint32_t data_remaining;
};

/**
 * Decode a READ response PDU. Error responses (any status but success or
 * STATUS_BUFFER_OVERFLOW) have has_data false.
 * @return false, with @p why, if the data lies outside the PDU.
 */
bool br_read_response_parse(const uint8_t *pdu, size_t len,
			    struct br_read_rsp *rsp, const char **why);

/**
 * Reverse mode: the response to an RDMA read, whose data went into the
 * client's buffers ([MS-SMB2] 2.2.20, 3.3.5.12): the header and fixed part
 * only, DataOffset 0x50, DataLength 0, DataRemaining = bytes written.
 * @return A copy (BR_READ_RSP_DATA_OFFSET bytes) or NULL.
 */
uint8_t *br_read_response_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
				    uint32_t written, size_t *out_len);

/**
 * Forward mode: a WRITE request with inline data turned into an RDMA one:
 * Length 0, RemainingBytes = data length, Channel @p channel, DataOffset
 * and WriteChannelInfoOffset 0x70, the descriptors after the fixed part.
 * @return NULL if the request is not a well-formed WRITE.
 */
uint8_t *br_write_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			    size_t len, uint32_t channel,
			    const struct smbdirect_buffer_descriptor *descs,
			    size_t count, size_t *out_len);

/**
 * Forward mode: the inline data of a WRITE request.
 * @return false if the request is not a well-formed inline WRITE.
 */
bool br_write_inline_data(const uint8_t *pdu, size_t len,
			  const uint8_t **data, uint32_t *n, uint32_t *channel);

/** Forward mode: Length of a READ request; false if malformed. */
bool br_read_request_length(const uint8_t *pdu, size_t len, uint32_t *length,
			    uint32_t *channel);

/**
 * Forward mode: a READ request with Channel @p channel and the descriptors
 * after the fixed part (ReadChannelInfoOffset 0x70).
 */
uint8_t *br_read_make_rdma(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
			   size_t len, uint32_t channel,
			   const struct smbdirect_buffer_descriptor *descs,
			   size_t count, size_t *out_len);

/**
 * Forward mode: the response to a READ the bridge sent with an RDMA
 * channel, turned back into an inline response for the TCP client: the
 * @p written bytes from @p data follow the fixed part at 0x50, DataLength
 * = @p written, DataRemaining 0.
 */
uint8_t *br_read_response_make_inline(TALLOC_CTX *mem_ctx, const uint8_t *pdu,
				      const uint8_t *data, uint32_t written,
				      size_t *out_len);

/** Limits the bridge writes into a NEGOTIATE response. */
struct br_size_limits {
	uint32_t max_transact;
	uint32_t max_read;
	uint32_t max_write;
};

/**
 * Forward mode: read a NEGOTIATE response ([MS-SMB2] 2.2.4) and, for the
 * dialects without preauthentication integrity (0x0202, 0x0210, 0x0300,
 * 0x0302), lower MaxTransactSize, MaxReadSize and MaxWriteSize to
 * @p limits in place. For 0x0311 the response is left alone: its bytes
 * are hashed into the session keys (3.2.5.2, 3.3.5.4), so any change
 * breaks the session.
 * @param dialect Output: DialectRevision (0 if the response is an error).
 * @param before  Output (may be NULL): the server's values.
 * @return true if the response was changed.
 */
bool br_negotiate_clamp(uint8_t *pdu, size_t len,
			const struct br_size_limits *limits, uint16_t *dialect,
			struct br_size_limits *before);

#endif /* SMBDIRECT_BRIDGE_SMB2_H */
