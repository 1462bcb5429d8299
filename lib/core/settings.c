/*
 * libsmbdirect: version, reasons and settings.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include "smbdirect.h"

#define SD_STR2(x) #x
#define SD_STR(x) SD_STR2(x)

const char *smbdirect_version_string(void)
{
	return SD_STR(SMBDIRECT_VERSION_MAJOR) "." SD_STR(
		SMBDIRECT_VERSION_MINOR) "." SD_STR(SMBDIRECT_VERSION_PATCH);
}

static const char *const reason_names[SMBDIRECT_REASON_COUNT] = {
	[SMBDIRECT_REASON_NONE] = "none",
	[SMBDIRECT_REASON_LOCAL_CLOSE] = "local-close",
	[SMBDIRECT_REASON_PEER_DISCONNECTED] = "peer-disconnected",
	[SMBDIRECT_REASON_TRANSPORT_ERROR] = "transport-error",
	[SMBDIRECT_REASON_LOCAL_ERROR] = "local-error",
	[SMBDIRECT_REASON_NO_MEMORY] = "no-memory",
	[SMBDIRECT_REASON_NEGOTIATE_TIMEOUT] = "negotiate-timeout",
	[SMBDIRECT_REASON_NEGOTIATE_TOO_SHORT] = "negotiate-too-short",
	[SMBDIRECT_REASON_NEGOTIATE_VERSION] = "negotiate-version",
	[SMBDIRECT_REASON_NEGOTIATE_CREDITS] = "negotiate-credits",
	[SMBDIRECT_REASON_NEGOTIATE_SIZES] = "negotiate-sizes",
	[SMBDIRECT_REASON_NEGOTIATE_REJECTED] = "negotiate-rejected",
	[SMBDIRECT_REASON_INVALID_MESSAGE] = "invalid-message",
	[SMBDIRECT_REASON_NO_CREDIT] = "no-credit",
	[SMBDIRECT_REASON_CREDIT_OVERFLOW] = "credit-overflow",
	[SMBDIRECT_REASON_FRAGMENT_OVERFLOW] = "fragment-overflow",
	[SMBDIRECT_REASON_FRAGMENT_SEQUENCE] = "fragment-sequence",
	[SMBDIRECT_REASON_UNEXPECTED_MESSAGE] = "unexpected-message",
	[SMBDIRECT_REASON_KEEPALIVE_TIMEOUT] = "keepalive-timeout",
	[SMBDIRECT_REASON_INVALID_DESCRIPTOR] = "invalid-descriptor",
	[SMBDIRECT_REASON_INVALID_ARGUMENT] = "invalid-argument",
	[SMBDIRECT_REASON_CREDENTIALS_CHANGED] = "credentials-changed",
};

const char *smbdirect_reason_string(enum smbdirect_reason reason)
{
	if ((unsigned int)reason >= SMBDIRECT_REASON_COUNT ||
	    reason_names[reason] == NULL) {
		return "unknown";
	}
	return reason_names[reason];
}

void smbdirect_settings_default(struct smbdirect_settings *settings)
{
	/*
	 * [MS-SMBD] 3.1.1.1 leaves these to the implementation. The values
	 * are those of the Linux kernel peers (cifs.ko, ksmbd.ko): 1364-byte
	 * sends and receives, 255 credits each way, 1 MiB reassembly (cifs
	 * in 6.1), 8 MiB RDMA read/write (ksmbd), keepalive every 120 s with
	 * a 5 s answer timeout, and the 5 s negotiate timeout of newer ksmbd.
	 */
	settings->max_send_size = 1364;
	settings->max_receive_size = 1364;
	settings->max_fragmented_size = 1024 * 1024;
	settings->max_read_write_size = 8 * 1024 * 1024;
	settings->send_credit_target = 255;
	settings->receive_credit_max = 255;
	settings->max_outstanding_sends = 255;
	settings->negotiate_timeout_ms = 5000;
	settings->keepalive_interval_ms = 120000;
	settings->keepalive_timeout_ms = 5000;
}

static bool in_range(uint64_t value, uint64_t min, uint64_t max)
{
	return value >= min && value <= max;
}

bool smbdirect_settings_validate(const struct smbdirect_settings *settings,
				 const char **why)
{
	const char *bad = NULL;

	if (settings == NULL) {
		bad = "settings";
	} else if (!in_range(settings->max_send_size,
			     SMBDIRECT_MIN_RECEIVE_SIZE, 1024 * 1024)) {
		/* A send must fit in the peer's smallest legal receive. */
		bad = "max_send_size";
	} else if (!in_range(settings->max_receive_size,
			     SMBDIRECT_MIN_RECEIVE_SIZE, 1024 * 1024)) {
		bad = "max_receive_size";
	} else if (!in_range(settings->max_fragmented_size,
			     SMBDIRECT_MIN_FRAGMENTED_SIZE,
			     16 * 1024 * 1024)) {
		bad = "max_fragmented_size";
	} else if (!in_range(settings->max_read_write_size, 1,
			     1024 * 1024 * 1024)) {
		bad = "max_read_write_size";
	} else if (settings->send_credit_target < 2) {
		/* One credit each way makes two peers refill each other with
		 * credit-only messages forever; two is the working minimum. */
		bad = "send_credit_target";
	} else if (settings->receive_credit_max < 2) {
		bad = "receive_credit_max";
	} else if (settings->max_outstanding_sends == 0) {
		bad = "max_outstanding_sends";
	} else if ((uint64_t)settings->receive_credit_max *
			   settings->max_receive_size >
		   256ull * 1024 * 1024) {
		/* Bound the memory of the posted receive pool. */
		bad = "receive_credit_max * max_receive_size";
	} else if (!in_range(settings->negotiate_timeout_ms, 1, 600000)) {
		bad = "negotiate_timeout_ms";
	} else if (settings->keepalive_interval_ms > 86400000u) {
		bad = "keepalive_interval_ms";
	} else if (!in_range(settings->keepalive_timeout_ms, 1, 600000)) {
		bad = "keepalive_timeout_ms";
	}
	if (why != NULL) {
		*why = bad;
	}
	return bad == NULL;
}
