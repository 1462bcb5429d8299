/*
 * libsmbdirect: little-endian load and store helpers.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_BYTEORDER_H
#define SMBDIRECT_BYTEORDER_H

#include <stdint.h>

/* [MS-SMBD] 2.2: every multi-byte field is little-endian. Byte-wise access
 * keeps the code independent of host order and alignment. */

static inline uint16_t sd_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | ((uint16_t)p[1] << 8));
}

static inline uint32_t sd_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) |
	       ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t sd_get_le64(const uint8_t *p)
{
	return (uint64_t)sd_get_le32(p) | ((uint64_t)sd_get_le32(p + 4) << 32);
}

static inline void sd_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void sd_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void sd_put_le64(uint8_t *p, uint64_t v)
{
	sd_put_le32(p, (uint32_t)v);
	sd_put_le32(p + 4, (uint32_t)(v >> 32));
}

#endif /* SMBDIRECT_BYTEORDER_H */
