/*
 * libsmbdirect: the one intrusive doubly linked list of the RDMA binding
 * (pending send and receive requests, RDMA operations, exposures).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * An element type has `prev` and `next` pointers of its own type; a list is
 * a pointer to its first element, whose `prev` points at the last one (so
 * appending and finding the tail take constant time); the last element's
 * `next` is NULL. An element is on at most one list through these fields.
 */
#ifndef SMBDIRECT_RDMA_LIST_H
#define SMBDIRECT_RDMA_LIST_H

#include <stddef.h>

/* The last element of the list `head`, or NULL. */
#define SD_LIST_TAIL(head) ((head) != NULL ? (head)->prev : NULL)

/* Put `item` first in the list `head`. */
#define SD_LIST_ADD(head, item)                                            \
	do {                                                               \
		if ((head) == NULL) {                                      \
			(item)->prev = (item);                             \
		} else {                                                   \
			(item)->prev = (head)->prev;                       \
			(head)->prev = (item);                             \
		}                                                          \
		(item)->next = (head);                                     \
		(head) = (item);                                           \
	} while (0)

/* Put `item` last in the list `head`. */
#define SD_LIST_ADD_END(head, item)                                        \
	do {                                                               \
		(item)->next = NULL;                                       \
		if ((head) == NULL) {                                      \
			(item)->prev = (item);                             \
			(head) = (item);                                   \
		} else {                                                   \
			(item)->prev = (head)->prev;                       \
			(head)->prev->next = (item);                       \
			(head)->prev = (item);                             \
		}                                                          \
	} while (0)

/* Take `item`, which is on the list `head`, off it. */
#define SD_LIST_REMOVE(head, item)                                         \
	do {                                                               \
		if ((item) == (head)) {                                    \
			(head) = (item)->next;                             \
			if ((head) != NULL) {                              \
				(head)->prev = (item)->prev;               \
			}                                                  \
		} else {                                                   \
			(item)->prev->next = (item)->next;                 \
			if ((item)->next != NULL) {                        \
				(item)->next->prev = (item)->prev;         \
			} else {                                           \
				(head)->prev = (item)->prev;               \
			}                                                  \
		}                                                          \
		(item)->prev = NULL;                                       \
		(item)->next = NULL;                                       \
	} while (0)

#endif
