/*
 * Addresses for the tools (smbdirect-perf, smbdirect-bridge): resolving a
 * host and port, and printing a socket address.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#ifndef SMBDIRECT_TOOLS_ADDR_H
#define SMBDIRECT_TOOLS_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

/** printf-style reporter of a failure; the tool adds its prefix. */
typedef void (*addr_report_fn)(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/**
 * Resolve @p host (NULL: the wildcard address, with @p passive) and
 * @p port to the first address getaddrinfo() gives for a stream socket
 * of any family. On failure, @p report gets "HOST: reason".
 * @param len Where to store the address's length, or NULL.
 */
bool addr_resolve(const char *host, uint16_t port, bool passive,
		  struct sockaddr_storage *ss, socklen_t *len,
		  addr_report_fn report);

/** "a.b.c.d:port", "[v6]:port", or "?" for another family. */
void addr_string(const struct sockaddr *sa, char *buf, size_t size);

#endif /* SMBDIRECT_TOOLS_ADDR_H */
