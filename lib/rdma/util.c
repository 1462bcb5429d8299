/*
 * libsmbdirect: addresses and the log of the RDMA binding.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "conn.h"

void sd_format_addr(const struct sockaddr *sa, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa == NULL) {
		snprintf(buf, size, "?");
		return;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, size, "family-%d", sa->sa_family);
	}
}

bool sd_addr_is_loopback_or_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		return a == INADDR_ANY || (a >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			return (a->s6_addr[12] == 127) ||
			       (a->s6_addr[12] == 0 && a->s6_addr[13] == 0 &&
				a->s6_addr[14] == 0 && a->s6_addr[15] == 0);
		}
		return IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a);
	}
	return false;
}

/* The process's log hook (smbdirect_set_log_fn); NULL: stderr. Set by the
 * host at start-up, before connections exist. */
static smbdirect_log_fn log_fn;
static void *log_private;

void smbdirect_set_log_fn(smbdirect_log_fn fn, void *private_data)
{
	log_fn = fn;
	log_private = private_data;
}

const char *smbdirect_log_level_string(enum smbdirect_log_level level)
{
	switch (level) {
	case SMBDIRECT_LOG_ERROR:
		return "error";
	case SMBDIRECT_LOG_WARNING:
		return "warning";
	case SMBDIRECT_LOG_NOTICE:
		return "notice";
	case SMBDIRECT_LOG_INFO:
		return "info";
	case SMBDIRECT_LOG_DEBUG:
		return "debug";
	}
	return "unknown";
}

void sd_log(enum smbdirect_log_level level, const struct smbdirect_conn *conn,
	    const char *peer, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (conn != NULL) {
		peer = conn->peer;
	}
	if (log_fn != NULL) {
		log_fn(log_private, level, conn, peer, line);
		return;
	}
	fprintf(stderr, "smbdirect[%d] peer %s: %s\n", (int)getpid(),
		peer != NULL ? peer : "?", line);
}
