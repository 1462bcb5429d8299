/*
 * smbdirect-torture: a misbehaving SMB-Direct peer (docs/tools/
 * smbdirect-torture.md). It plays the entries of docs/robustness.md's
 * catalogue against any SMB-Direct endpoint, as the client or as the
 * server, with raw rdma_cm and verbs (so it can send what a conforming
 * peer, the library included, never would), and reports what the other
 * side did: ended the connection (and how soon), answered, or nothing.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Files: torture.h (this), verbs.c (one raw RDMA endpoint: connect,
 * listen/accept, receives, sends, RDMA, memory for the peer, events),
 * smbd.c ([MS-SMBD] on that endpoint: negotiation, data messages,
 * credits, reassembly, the probe), entries.c (the catalogue's entries),
 * flood.c (many connections: aborted handshakes, connect-and-idle
 * floods, and a good client's timings), main.c (options, the run, the
 * report).
 */
#ifndef SMBDIRECT_TORTURE_H
#define SMBDIRECT_TORTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "smbdirect_wire.h"

/* --- one raw endpoint (verbs.c) ------------------------------------------ */

/* Receive slots and their size: large enough for any message a peer
 * sends us (we announce MaxReceiveSize 1364 unless an entry lies). */
#define TP_RECV_SLOTS 64
#define TP_RECV_SIZE 8192
#define TP_SEND_SLOTS 64
#define TP_SEND_SIZE 8192

/* A message that arrived, copied out of its receive slot. */
struct tp_rx {
	uint8_t *data;
	size_t length;
	bool invalidate;   /* Send-with-Invalidate */
	uint32_t rkey;     /* the rkey it invalidated */
};

/* How a connection ended, as this side saw it. */
enum tp_end {
	TP_UP = 0,         /* not ended */
	TP_DISCONNECTED,   /* RDMA_CM_EVENT_DISCONNECTED */
	TP_FLUSHED,        /* our receives flushed (the QP went to error) */
	TP_SEND_FAILED,    /* one of our sends failed (status in wc_status) */
	TP_RECV_FAILED,    /* a receive failed (e.g. a message too long) */
	TP_CM_ERROR,       /* another rdma_cm event ended it */
	TP_LOCAL,          /* we ended it */
};

struct tp_ep {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	bool have_qp;
	uint8_t *rbuf;
	struct ibv_mr *rmr;
	uint8_t *sbuf;
	struct ibv_mr *smr;
	unsigned int snext;
	unsigned int sends_out;     /* sends posted, not completed */
	unsigned int recvs_posted;  /* receives posted, not completed */
	bool established;
	enum tp_end end;
	int wc_status;              /* of the failed send or receive */
	char why[160];              /* how it ended, for the report */
	uint64_t t_end;             /* when we saw the end (ns) */
	/* messages received, oldest first */
	struct tp_rx rx[TP_RECV_SLOTS * 2];
	unsigned int rx_first, rx_count;
};

/* Monotonic nanoseconds and milliseconds. */
uint64_t tp_now(void);
uint64_t tp_ms_since(uint64_t t0);
/* Milliseconds from t0 to the endpoint's end; 0 if it ended before t0
 * (the end was seen while our last message was going out). */
unsigned long long tp_end_ms(const struct tp_ep *ep, uint64_t t0);

/* Connect to dst (from src, or NULL), creating a QP; its receives are
 * posted before the connect. Bounded by timeout_ms. Returns 0, or an
 * errno value with *why set (ECONNREFUSED: the peer rejected). */
int tp_connect(struct tp_ep **ep, const struct sockaddr *dst,
	       const struct sockaddr *src, int timeout_ms, char *why,
	       size_t why_size);

/* A listener (port 0: any; its port in *port afterwards). */
struct tp_listener {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	/* requests we could not accept (the client gave up first, ...) */
	unsigned int failed_accepts;
	int last_accept_error;
};
int tp_listen(struct tp_listener **l, const struct sockaddr *addr,
	      uint16_t *port);
/* Wait (bounded) for a connection request and accept it. A request that
 * cannot be accepted (the client withdrew it, our resources failed) is
 * counted in l->failed_accepts and the wait goes on. Returns 0, or
 * ETIMEDOUT. */
int tp_accept(struct tp_listener *l, struct tp_ep **ep, int timeout_ms);
void tp_listener_free(struct tp_listener *l);

/* Send `len` bytes (with Send-with-Invalidate of `rkey` if `inv`) and
 * wait for the completion. Returns the work completion status
 * (IBV_WC_SUCCESS...), or -1 if it did not complete in timeout_ms, or -2
 * if the connection had ended. */
int tp_send(struct tp_ep *ep, const void *buf, size_t len, bool inv,
	    uint32_t rkey, int timeout_ms);

/* Post a send without waiting (its completion is taken by tp_wait). */
int tp_send_nowait(struct tp_ep *ep, const void *buf, size_t len);

/* Wait until a message arrived (1, *rx filled; free rx->data), the
 * connection ended (-1) or timeout_ms passed (0). */
int tp_recv(struct tp_ep *ep, struct tp_rx *rx, int timeout_ms);

/* Run the endpoint's events for timeout_ms (messages are queued). */
void tp_pump(struct tp_ep *ep, int timeout_ms);

/* Register memory for the peer to read and write. */
struct ibv_mr *tp_reg(struct tp_ep *ep, void *buf, size_t len);

/* Disconnect (if up) and release everything. */
void tp_free(struct tp_ep *ep);

/* Describe how the connection ended ("disconnected", "our send failed:
 * RNR retry counter exceeded", ...). */
const char *tp_end_string(const struct tp_ep *ep);

/* --- SMB-Direct on an endpoint (smbd.c) ------------------------------------ */

/* What the endpoint answers to (the probe: a request that must get a
 * reply from a working endpoint). */
enum probe_kind {
	PROBE_SMB2,    /* an SMB2 NEGOTIATE request (ksmbd, the bridge) */
	PROBE_SDTEST,  /* sdtest's 'P' (test/vm/sdtest.c) */
};

/* One SMB-Direct connection played by hand. */
struct sd {
	struct tp_ep *ep;
	bool server;              /* we are the responder */
	/* negotiated */
	uint32_t max_send;        /* the peer's MaxReceiveSize (or ours) */
	uint32_t max_receive;     /* ours */
	uint32_t peer_max_fragmented;
	uint32_t max_read_write;
	/* credits */
	uint32_t send_credits;    /* granted to us, unused */
	uint32_t peer_credits;    /* granted to the peer, unused */
	uint16_t peer_requests;   /* the peer's CreditsRequested */
	bool no_refill;           /* never grant the peer more credits */
	/* reassembly of the peer's messages, and whole ones waiting */
	uint8_t *frag;
	size_t frag_len;
	size_t frag_cap;
	void *frag_queue;
	/* the peer broke [MS-SMBD]: how (empty if not) */
	char broken[160];
	/* the length of the negotiate response we got (client) */
	size_t response_length;
	/* SMB2 MessageId of our next probe */
	uint64_t next_message_id;
	/* counters */
	uint64_t messages_in;
	uint64_t keepalives_answered;
};

/* Our defaults: what a conforming peer announces. */
struct smbdirect_negotiate_request sd_default_request(void);
struct smbdirect_negotiate_response sd_default_response(uint16_t grants);

/* As the client: send a negotiate request of `len` raw bytes (use
 * sd_negotiate_request_bytes) and wait for the response. Returns 1 with
 * *rsp filled (a response arrived, whatever its status), 0 if nothing
 * came in timeout_ms, -1 if the connection ended. On a success response
 * the sd is set up for data transfer. */
int sd_client_negotiate(struct sd *s, const uint8_t *req, size_t len,
			struct smbdirect_negotiate_response *rsp,
			int timeout_ms);

/* As the server: wait for the peer's negotiate request (1 with *req, 0,
 * -1 as above), then send_response() decides. */
int sd_server_wait_request(struct sd *s, struct smbdirect_negotiate_request *req,
			   size_t *len, int timeout_ms);
/* Send `len` raw response bytes; a success response sets up data
 * transfer from `req` (the peer's request) and `rsp`. Returns the send's
 * status as tp_send(). */
int sd_server_respond(struct sd *s, const struct smbdirect_negotiate_request *req,
		      const uint8_t *rsp, size_t len);

/* Encode a data transfer header with any values (no checks). */
void sd_put_header(uint8_t *b, uint16_t credits_requested,
		   uint16_t credits_granted, uint16_t flags,
		   uint32_t remaining, uint32_t offset, uint32_t length);

/* Send one upper-layer message, fragmented at max_send, honouring
 * credits (waits for grants, bounded by timeout_ms) and granting the
 * receives we reposted. Returns 0, or -1 (ended or no credit in time). */
int sd_send_message(struct sd *s, const void *data, size_t len,
		    int timeout_ms);

/* Send one raw data transfer message (any bytes), spending a credit if
 * we hold one (an entry may send without). Returns tp_send()'s result. */
int sd_send_raw(struct sd *s, const void *msg, size_t len);

/* The credits we owe the peer (receives posted but not granted). */
uint16_t sd_owed(const struct sd *s);
/* Note that a message we built by hand granted `n` credits. */
void sd_granted(struct sd *s, uint16_t n);

/* Wait for the next whole upper-layer message: 1 (*msg, *len; free it),
 * 0 (nothing in timeout_ms), -1 (ended). Answers keepalives and credit
 * requests on the way. A peer's message that breaks [MS-SMBD] ends the
 * wait with -1 too (we record why). */
int sd_recv_message(struct sd *s, uint8_t **msg, size_t *len,
		    int timeout_ms);

/* The probe: send the request and wait for an answer (1), or 0/-1. */
int sd_probe(struct sd *s, enum probe_kind kind, int timeout_ms);

/* Release. */
void sd_free(struct sd *s);

/* --- the entries (entries.c) --------------------------------------------------- */

/* What the other side did. */
enum outcome {
	OUT_ENDED,      /* it ended the connection */
	OUT_REFUSED,    /* a negotiate failure response, then the end */
	OUT_ANSWERED,   /* it answered (and the connection lives) */
	OUT_NOTHING,    /* nothing within the bound */
	OUT_REJECTED,   /* it rejected the connection (rdma_cm) */
	OUT_SKIPPED,    /* not applicable to this endpoint or role */
	OUT_ERROR,      /* the tool could not play it */
	OUT_COUNT
};

/* Bit set of outcomes. */
#define O(x) (1u << (x))

struct run;

/* One entry: a name from docs/robustness.md, the roles it can be played
 * in, what a conforming endpoint does, and the play. */
struct entry {
	const char *name;
	bool client;          /* playable with us as the client */
	bool server;          /* playable with us as the server */
	unsigned int expect;  /* outcomes a conforming endpoint shows */
	const char *what;     /* one line: what the peer does */
	/* Play it on a fresh connection (client: connected, not yet
	 * negotiated; server: accepted, request not yet read). Fills the
	 * outcome and a detail; returns the outcome. */
	enum outcome (*play)(struct run *r, struct sd *s, char *detail,
			     size_t size);
};

/* The table, terminated by a NULL name. */
extern const struct entry torture_entries[];

/* --- a run (main.c) ----------------------------------------------------------- */

struct run {
	bool server;                 /* we play the server */
	struct sockaddr_storage dst; /* client: the endpoint */
	struct sockaddr_storage src; /* client: our address (or family 0) */
	struct tp_listener *listener;/* server: ours */
	enum probe_kind probe;
	int wait_ms;                 /* bound on waiting for a reaction */
	int accept_ms;               /* server: bound on waiting for a peer */
	bool verbose;
	/* the endpoint's limits as it negotiated them (first good run) */
	uint32_t peer_max_read_write;
};

/* Log a line when verbose. */
void tlog(const struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A good connection as the client: connect, negotiate with our defaults.
 * Returns 0 or -1 (detail says why). */
int run_connect(struct run *r, struct sd *s, char *detail, size_t size);

/* As the server: accept the next connection (bounded by accept_ms). */
int run_accept(struct run *r, struct sd *s, char *detail, size_t size);

/* Negotiate normally in whatever role we play: 0, or -1 with detail. */
int run_negotiate(struct run *r, struct sd *s, char *detail, size_t size);

/* Wait for the other side's reaction (bounded by wait_ms): ended (with
 * how soon in the detail), a message (answered), or nothing. */
enum outcome observe(struct run *r, struct sd *s, char *detail, size_t size);

/* --- many connections (flood.c) ------------------------------------------------ */

/* The timings of one good client: connect (rdma_cm up), negotiated, first
 * answer to the probe. */
struct good_timing {
	bool ok;
	double connect_ms;
	double negotiate_ms;
	double first_message_ms;
	char detail[160];
};

/* One good client, timed. */
void good_client(struct run *r, const struct sockaddr *src,
		 struct good_timing *t);

/* `n` handshakes that fail in every state, then a good client: prints
 * the results. Returns 0 if the good client was served. */
int aborted_handshakes(struct run *r, int n);

/* A flood of `n` connect-and-idle peers from `src`, held for hold_ms,
 * while good clients are timed (before, during, after). Returns 0 if
 * every good client was served. */
int idle_flood(struct run *r, int n, const struct sockaddr *src, int hold_ms);

#endif
