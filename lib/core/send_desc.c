/*
 * libsmbdirect: helpers for transports that carry out send actions.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <string.h>

#include "smbdirect.h"

size_t smbdirect_send_desc_length(const struct smbdirect_send_desc *desc)
{
	return desc->header_length + desc->data_length;
}

size_t smbdirect_send_desc_copy(const struct smbdirect_send_desc *desc,
				uint8_t *dst, size_t size)
{
	size_t left = desc->data_length;
	size_t offset = desc->iov_offset;
	unsigned int i = 0;
	uint8_t *p = dst;

	if (smbdirect_send_desc_length(desc) > size) {
		return 0;
	}
	memcpy(p, desc->header, desc->header_length);
	p += desc->header_length;
	while (left > 0 && i < desc->iov_count) {
		size_t n = desc->iov[i].iov_len - offset;

		if (n > left) {
			n = left;
		}
		memcpy(p, (const uint8_t *)desc->iov[i].iov_base + offset, n);
		p += n;
		left -= n;
		offset = 0;
		i += 1;
	}
	if (left > 0) {
		/* The iovecs end before data_length: not a valid desc. */
		return 0;
	}
	return (size_t)(p - dst);
}
