/*
 * libsmbdirect VM tests: a server and a client exercising the RDMA binding
 * over real verbs (soft-RoCE in the test guest; test/vm/run-vm-tests.sh
 * runs every test below in one boot).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Test protocol carried in SMB-Direct messages (first byte = command):
 *   'P'                   -> the server answers 'p' + struct server_info:
 *                            its pid and parent pid (which process owns
 *                            the connection), settings, negotiated
 *                            parameters and engine counters
 *   'E' payload           -> the server echoes the whole message back
 *   'S' hash payload      -> sink: the server checks the 8-byte checksum
 *                            of the payload and answers nothing
 *   'W' len descs...      -> the server RDMA-writes `len` pattern bytes into
 *                            the client's exposed buffer, answers 'w'
 *   'R' len descs...      -> the server RDMA-reads `len` bytes, answers 'r'
 *                            with their checksum
 *   'I' len descs...      -> like 'W', answered by Send-with-Invalidate of
 *                            the first descriptor's token
 *   'Z' len descs...      -> like 'W', but the descriptors name memory the
 *                            client has already revoked: the write must
 *                            fail (EIO) and end the connection; a 'w'
 *                            answer means it went through
 *   'X' len write         -> the server exposes `len` bytes of its buffer
 *                            (filled with a pattern unless `write`) for the
 *                            client to RDMA-write (write=1) or -read, and
 *                            answers 'e' + descriptors
 *   'C' len               -> the server drops that exposure and answers
 *                            'c' + the checksum of its first `len` bytes
 *   'Q'                   -> the server ends the connection
 * The server and the client are the same binary on the same machine, so
 * struct server_info travels as raw bytes.
 *
 * Usage:
 *   sdtest server ADDR PORT [--fork|--host-fork] [--connections N] [OPTIONS]
 *   sdtest client ADDR PORT TEST [OPTIONS]
 * TEST:
 *   negotiate   check both sides' negotiated values against both sides'
 *               settings ([MS-SMBD] 3.1.5.6, 3.1.5.7), then echo one
 *               message of the largest size allowed
 *   messages    --count echoes of random sizes (1 byte to the largest),
 *               checksummed; checks that they were fragmented
 *   stream      --count sink messages of the largest size, two in flight
 *               at all times; --count 0 streams until the connection ends
 *               (the peer was killed) and succeeds if it ends cleanly
 *   rdma        RDMA write and read of 4 KiB to 8 MiB over 1 and 4
 *               descriptors
 *   invalidate  an RDMA write answered by Send-with-Invalidate: the
 *               exposure must be reported invalidated
 *   rkey-reuse  one good RDMA write, then the exposure is freed and the
 *               server is asked to write through the old descriptor: the
 *               connection must end and the memory stay untouched
 *   exposure    12 KiB exposed for one RDMA write: it lands there and
 *               nowhere else; held --idle-ms before and after it is freed
 *               (for the script's look at the device's MRs); then the
 *               freed rkey must reach nothing and end the connection
 *   bounds-low, bounds-high  a write one byte before / past an exposure:
 *               refused at the device, the connection ends, nothing of
 *               ours changes
 *   idle        stay idle for --idle-ms (default 5 keepalive intervals)
 *               with keepalive on: the connection must stay up and
 *               keepalives must have been sent and answered
 *   keepalive   freeze the server (SIGSTOP to the pid it reported): the
 *               connection must end with keepalive-timeout within
 *               interval + timeout (+ 2 s of slack); the server is then
 *               continued
 *   identity    for a process that switches identity (--switch-identity
 *               on either side or both): --count echoes, RDMA write and
 *               read of 1 MiB by the server into the client's memory and
 *               by the client into the server's, an idle period with
 *               keepalives (--keepalive-ms), then the server ends the
 *               connection on 'Q' and the client must see it end
 * OPTIONS:
 *   --count N             messages (default 10000; stream: 100)
 *   --small               the smallest legal sizes: MaxSendSize and
 *                         MaxReceiveSize 128, MaxFragmentedSize 131072
 *   --keepalive-ms N      keepalive interval (default: the library's)
 *   --keepalive-timeout-ms N  keepalive timeout (default: the interval
 *                         when --keepalive-ms is given)
 *   --idle-ms N           idle test duration
 *   --thread-mode caller|rdma  smbdirect_set_thread_mode() (default caller)
 *   --fork                server: a child per connection, forked by the
 *                         library (smbdirect_listener_fork())
 *   --host-fork           server: a child per connection, forked by sdtest
 *                         itself as smbd does (smbdirect_handoff_prepare,
 *                         fork, smbdirect_handoff_child/_parent); the child
 *                         goes on with the same tevent context,
 *                         re-initialised (tevent_re_initialise)
 *   --child-thread-mode caller|rdma  the children's thread mode with
 *                         --host-fork (default: the listener's), as smbd's
 *                         parent listens in caller mode and its children
 *                         switch identity
 *   --max-size N          messages: messages of at most N bytes
 *   --window N            messages: N echoes in flight (default 1), each
 *                         checked as it comes back
 *   --repeat N            client: the test N times, each on a new
 *                         connection; fails if any run failed
 *   --max-half-open N, --max-half-open-per-peer N  server: the
 *                         listener's bounds on negotiating connections
 *                         (smbdirect_listener_set_limits())
 *   --heap-report         server: print the listener's heap in use
 *                         (mallinfo2) at each child reaped
 *   --busy-poll           client: never sleep; take completions with
 *                         smbdirect_conn_poll() from an always-ready fd
 *   --switch-identity     switch this thread's identity around every
 *                         operation as smbd does (raw per-thread
 *                         setgroups/setresgid/setresuid to 65534 and back
 *                         to root): message handlers run as 65534 and
 *                         the library calls they make too; the loop runs
 *                         as root with new credentials each time
 * Exit status 0 on success; each failure prints a reason.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect.h"
#include "smbdirect_rdma.h"

/* Windows clients send up to 31 descriptors per request. */
#define MAX_DESCS 32
/* Bound on any single wait of the client (a send, an answer). */
#define WAIT_MS 120000
/* Accepted lateness of a keepalive timeout under qemu TCG. */
#define KEEPALIVE_SLACK_MS 2000

static bool small_sizes;
static long count_opt = -1;
static uint32_t count = 10000;
static long keepalive_ms = -1;
static long keepalive_timeout_ms = -1;
static uint32_t idle_ms;
static bool switch_identity;
static long signal_every_ms;
static volatile sig_atomic_t alarms; /* SIGALRM caught */
static bool busy_poll;
static uint64_t identity_switches;
static enum smbdirect_thread_mode thread_mode = SMBDIRECT_THREAD_MODE_CALLER;
static enum smbdirect_thread_mode child_thread_mode;
static bool child_thread_mode_set;
/* client: run the test this many times, a new connection each time. */
static long repeat = 1;
/* messages: the largest message (0: the largest allowed). */
static uint32_t max_size_opt;
/* messages: echoes in flight at once (--window). */
static uint32_t window_opt = 1;
/* Listener bounds on half-open connections (0: the library's). */
static long max_half_open = -1;
static bool heap_report;
static long max_half_open_per_peer = -1;

/*
 * smbd's become_user()/unbecome_user(): raw syscalls change only this
 * thread's credentials (glibc's wrappers would change every thread's, the
 * library's RDMA thread included). Each call installs a new credential
 * object, even when switching back to root, so afterwards this thread can
 * no longer write() to rdma fds it opened (docs/fork-and-credentials.md).
 */
#define NOBODY 65534

static void become_user(void)
{
	gid_t nobody = NOBODY;

	if (!switch_identity) {
		return;
	}
	/* Groups and gid while still root, uid last. */
	if (syscall(SYS_setgroups, 1, &nobody) != 0 ||
	    syscall(SYS_setresgid, -1, NOBODY, -1) != 0 ||
	    syscall(SYS_setresuid, -1, NOBODY, -1) != 0) {
		fprintf(stderr, "sdtest: switching to %d: %s\n", NOBODY,
			strerror(errno));
		exit(3);
	}
	if (syscall(SYS_geteuid) != NOBODY) {
		fprintf(stderr, "sdtest: euid is not %d after the switch\n",
			NOBODY);
		exit(3);
	}
	identity_switches++;
}

static void unbecome_user(void)
{
	gid_t root = 0;

	if (!switch_identity) {
		return;
	}
	/* uid first (the saved uid is 0), then gid and groups. */
	if (syscall(SYS_setresuid, -1, 0, -1) != 0 ||
	    syscall(SYS_setresgid, -1, 0, -1) != 0 ||
	    syscall(SYS_setgroups, 1, &root) != 0) {
		fprintf(stderr, "sdtest: switching back to root: %s\n",
			strerror(errno));
		exit(3);
	}
	identity_switches++;
}

static void settings_for_test(struct smbdirect_settings *s)
{
	smbdirect_settings_default(s);
	if (small_sizes) {
		/* [MS-SMBD] 3.1.5.6: the smallest legal sizes. */
		s->max_send_size = 128;
		s->max_receive_size = 128;
		s->max_fragmented_size = 131072;
	}
	if (keepalive_ms >= 0) {
		s->keepalive_interval_ms = (uint32_t)keepalive_ms;
		s->keepalive_timeout_ms =
			keepalive_ms > 0 ? (uint32_t)keepalive_ms : 1;
	}
	if (keepalive_timeout_ms > 0) {
		s->keepalive_timeout_ms = (uint32_t)keepalive_timeout_ms;
	}
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h = (h ^ p[i]) * 0x100000001b3ull;
	}
	return h;
}

static void fill_pattern(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static int parse_addr(const char *host, const char *port,
		      struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)atoi(port));
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(port));
		return 0;
	}
	return -1;
}

/* What the server tells about itself in answer to 'P'. */
struct server_info {
	int32_t pid;
	int32_t ppid;
	struct smbdirect_settings settings;
	struct smbdirect_params params;
	struct smbdirect_engine_stats stats;
};

/* --- server ------------------------------------------------------------- */

struct server_conn {
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	struct smbdirect_settings settings;
	struct smbdirect_buffer *buf; /* made at the first RDMA command */
	bool done;
	int failures;
	enum smbdirect_reason reason;
	uint32_t sink_ok;
	bool stale_requested;         /* a 'Z' arrived */
	bool stale_refused;           /* ... and its write failed with EIO */
	struct smbdirect_exposure *exposure; /* for 'X' and 'C' */
};

#define SERVER_BUFFER_SIZE (16u * 1024 * 1024)

static void free_req(struct tevent_req *req)
{
	/* A reply's result matters only if the connection ended, which the
	 * disconnected handler reports. */
	smbdirect_send_recv(req);
	talloc_free(tevent_req_callback_data_void(req));
}

/* Send a copy of `data`: the payload must stay valid until the send
 * completes, and callers pass stack or receive-buffer memory. */
static void reply(struct server_conn *sc, const void *data, size_t len,
		  uint32_t invalidate)
{
	TALLOC_CTX *holder = talloc_new(sc);
	struct iovec iov;
	struct tevent_req *req;

	iov.iov_base = talloc_memdup(holder, data, len);
	iov.iov_len = len;
	if (invalidate != 0) {
		req = smbdirect_send_invalidate_send(holder, sc->ev, sc->conn,
						     &iov, 1, invalidate);
	} else {
		req = smbdirect_send_send(holder, sc->ev, sc->conn, &iov, 1);
	}
	if (req == NULL) {
		talloc_free(holder);
		sc->failures++;
		return;
	}
	tevent_req_set_callback(req, free_req, holder);
}

struct rdma_job {
	struct server_conn *sc;
	char cmd;
	uint32_t len;
	uint32_t token;
};

static void rdma_job_done_as_user(struct tevent_req *req);

static void rdma_job_done(struct tevent_req *req)
{
	become_user();
	rdma_job_done_as_user(req);
	unbecome_user();
}

static void rdma_job_done_as_user(struct tevent_req *req)
{
	struct rdma_job *job = tevent_req_callback_data(req, struct rdma_job);
	struct server_conn *sc = job->sc;
	int ret = smbdirect_rdma_recv(req);

	talloc_free(req);
	if (job->cmd == 'Z') {
		/* The peer's rkey was revoked: the peer's RNIC must refuse
		 * the write (remote access error, EIO). */
		if (ret == EIO) {
			printf("server: RDMA write through the revoked rkey "
			       "failed as it must: %s\n",
			       strerror(ret));
			sc->stale_refused = true;
		} else if (ret == 0) {
			fprintf(stderr, "server: RDMA write through a revoked "
					"rkey succeeded\n");
			sc->failures++;
			reply(sc, "w", 1, 0);
		} else {
			fprintf(stderr, "server: RDMA write through the "
					"revoked rkey failed with %s, not "
					"EIO\n",
				strerror(ret));
			sc->failures++;
		}
	} else if (ret != 0) {
		fprintf(stderr, "server: RDMA %c failed: %s\n", job->cmd,
			strerror(ret));
		reply(sc, "x", 1, 0);
	} else if (job->cmd == 'R') {
		uint8_t answer[9];
		uint64_t h = hash_bytes(smbdirect_buffer_data(sc->buf),
					job->len);

		answer[0] = 'r';
		memcpy(answer + 1, &h, 8);
		reply(sc, answer, sizeof(answer), 0);
	} else if (job->cmd == 'I') {
		reply(sc, "i", 1, job->token);
	} else {
		reply(sc, "w", 1, 0);
	}
	talloc_free(job);
}

static void answer_info(struct server_conn *sc)
{
	uint8_t answer[1 + sizeof(struct server_info)];
	struct server_info info;
	struct smbdirect_conn_stats stats;

	memset(&info, 0, sizeof(info));
	info.pid = (int32_t)getpid();
	info.ppid = (int32_t)getppid();
	info.settings = sc->settings;
	info.params = *smbdirect_conn_params(sc->conn);
	smbdirect_conn_get_stats(sc->conn, &stats);
	info.stats = stats.engine;
	answer[0] = 'p';
	memcpy(answer + 1, &info, sizeof(info));
	reply(sc, answer, sizeof(answer), 0);
}

static void sink(struct server_conn *sc, const uint8_t *data, size_t length)
{
	uint64_t h;

	if (length < 9) {
		fprintf(stderr, "server: sink message of %zu bytes\n", length);
		sc->failures++;
		return;
	}
	memcpy(&h, data + 1, 8);
	if (h != hash_bytes(data + 9, length - 9)) {
		fprintf(stderr, "server: sink message %u (%zu bytes): bad "
				"checksum\n",
			sc->sink_ok + 1, length);
		sc->failures++;
		return;
	}
	sc->sink_ok++;
	/* Progress at powers of two: the kill tests wait for it. */
	if ((sc->sink_ok & (sc->sink_ok - 1)) == 0) {
		printf("server: sink: %u messages intact\n", sc->sink_ok);
	}
}

static bool server_buffer(struct server_conn *sc)
{
	if (sc->buf != NULL) {
		return true;
	}
	sc->buf = smbdirect_buffer_new(sc, sc->conn, SERVER_BUFFER_SIZE);
	if (sc->buf == NULL) {
		fprintf(stderr, "server: no buffer: %s\n", strerror(errno));
		sc->failures++;
		reply(sc, "x", 1, 0);
		return false;
	}
	return true;
}

/* 'X' len write: expose our buffer to the client; 'C' len: revoke it and
 * answer the checksum of what it holds. */
static void expose_for_client(struct server_conn *sc, const uint8_t *data,
			      size_t length)
{
	struct smbdirect_buffer_descriptor desc;
	uint8_t answer[1 + 16];
	uint64_t h;
	uint32_t len;
	size_t got = 0;

	if (length < 5 || !server_buffer(sc)) {
		sc->failures += length < 5;
		return;
	}
	memcpy(&len, data + 1, 4);
	if (len == 0 || len > smbdirect_buffer_size(sc->buf) ||
	    (data[0] == 'X' && length < 6)) {
		fprintf(stderr, "server: bad %c request\n", data[0]);
		sc->failures++;
		reply(sc, "x", 1, 0);
		return;
	}
	if (data[0] == 'C') {
		TALLOC_FREE(sc->exposure);
		h = hash_bytes(smbdirect_buffer_data(sc->buf), len);
		answer[0] = 'c';
		memcpy(answer + 1, &h, 8);
		reply(sc, answer, 9, 0);
		return;
	}
	TALLOC_FREE(sc->exposure);
	if (data[5] == 0) {
		fill_pattern(smbdirect_buffer_data(sc->buf), len, len + 11);
	} else {
		memset(smbdirect_buffer_data(sc->buf), 0, len);
	}
	sc->exposure = smbdirect_expose(sc, sc->conn, sc->buf, 0, len,
					data[5] != 0, &desc, 1, &got);
	if (sc->exposure == NULL) {
		fprintf(stderr, "server: expose: %s\n", strerror(errno));
		sc->failures++;
		reply(sc, "x", 1, 0);
		return;
	}
	answer[0] = 'e';
	smbdirect_buffer_descriptors_encode(&desc, 1, answer + 1, 16);
	reply(sc, answer, sizeof(answer), 0);
}

static void server_message_as_user(struct server_conn *sc,
				   const uint8_t *data, size_t length);

/* Runs from the message callback: everything it starts completes later
 * from the event loop (no nested loop inside a library callback). Like
 * smbd, it handles each request as the user (--switch-identity). */
static void server_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	(void)conn;
	become_user();
	server_message_as_user(priv, data, length);
	unbecome_user();
}

static void server_message_as_user(struct server_conn *sc,
				   const uint8_t *data, size_t length)
{
	struct smbdirect_buffer_descriptor descs[MAX_DESCS];
	size_t ndesc = 0;
	uint32_t len = 0;
	struct tevent_req *req;
	struct rdma_job *job;

	if (length == 0) {
		return;
	}
	switch (data[0]) {
	case 'P':
		answer_info(sc);
		return;
	case 'E':
		reply(sc, data, length, 0);
		return;
	case 'S':
		sink(sc, data, length);
		return;
	case 'Q':
		sc->done = true;
		smbdirect_disconnect(sc->conn);
		return;
	case 'X':
	case 'C':
		expose_for_client(sc, data, length);
		return;
	case 'W':
	case 'R':
	case 'I':
	case 'Z':
		if (length < 5) {
			break;
		}
		if (!server_buffer(sc)) {
			return;
		}
		memcpy(&len, data + 1, 4);
		if (smbdirect_buffer_descriptors_decode(
			    data + 5, length - 5, descs, MAX_DESCS,
			    smbdirect_conn_params(sc->conn)->max_read_write_size,
			    &ndesc, NULL) != SMBDIRECT_WIRE_OK ||
		    len > smbdirect_buffer_size(sc->buf)) {
			fprintf(stderr, "server: bad descriptor list\n");
			sc->failures++;
			reply(sc, "x", 1, 0);
			return;
		}
		job = talloc_zero(sc, struct rdma_job);
		job->sc = sc;
		job->cmd = (char)data[0];
		job->len = len;
		job->token = descs[0].token;
		if (data[0] == 'Z') {
			sc->stale_requested = true;
		}
		if (data[0] == 'R') {
			req = smbdirect_rdma_read_send(job, sc->ev, sc->conn,
						       sc->buf, 0, len, descs,
						       ndesc);
		} else {
			fill_pattern(smbdirect_buffer_data(sc->buf), len, len);
			req = smbdirect_rdma_write_send(job, sc->ev, sc->conn,
							sc->buf, 0, len, descs,
							ndesc);
		}
		if (req == NULL) {
			sc->failures++;
			return;
		}
		tevent_req_set_callback(req, rdma_job_done, job);
		return;
	default:
		break;
	}
	fprintf(stderr, "server: unknown command 0x%02x\n", data[0]);
	sc->failures++;
}

static void server_disconnected(struct smbdirect_conn *conn,
				enum smbdirect_reason reason,
				const char *detail, void *priv)
{
	struct server_conn *sc = priv;

	(void)conn;
	fprintf(stderr, "server: connection ended: %s (%s)\n",
		smbdirect_reason_string(reason), detail);
	sc->reason = reason;
	sc->done = true;
}

/* Serve one accepted request until the connection ends. */
static int serve(struct tevent_context *ev,
		 struct smbdirect_conn_request *request)
{
	struct server_conn *sc = talloc_zero(ev, struct server_conn);
	struct smbdirect_conn_handlers handlers = {
		.message = server_message,
		.disconnected = server_disconnected,
	};
	struct tevent_req *req;
	enum smbdirect_reason reason;
	int ret;

	settings_for_test(&sc->settings);
	sc->ev = ev;
	req = smbdirect_accept_send(sc, ev, request, &sc->settings);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		return 1;
	}
	ret = smbdirect_accept_recv(req, sc, &sc->conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "server: accept failed: %s (%s)\n",
			strerror(ret), smbdirect_reason_string(reason));
		return 1;
	}
	smbdirect_conn_set_handlers(sc->conn, &handlers, sc);
	while (!sc->done) {
		if (tevent_loop_once(ev) != 0) {
			break;
		}
	}
	if (sc->sink_ok > 0) {
		printf("server: sink: %u messages intact in all\n",
		       sc->sink_ok);
	}
	{
		struct smbdirect_conn_stats st;

		smbdirect_conn_get_stats(sc->conn, &st);
		printf("server: stats: %llu wire messages received, %llu "
		       "sent, %llu delivered, %llu keepalives sent\n",
		       (unsigned long long)st.engine.messages_received,
		       (unsigned long long)st.engine.messages_sent,
		       (unsigned long long)st.engine.messages_delivered,
		       (unsigned long long)st.engine.keepalives_sent);
	}
	if (sc->stale_requested &&
	    (!sc->stale_refused ||
	     sc->reason != SMBDIRECT_REASON_TRANSPORT_ERROR)) {
		fprintf(stderr,
			"server: after the revoked-rkey write: refused %s, "
			"connection ended with %s (expected transport-error)\n",
			sc->stale_refused ? "yes" : "no",
			smbdirect_reason_string(sc->reason));
		sc->failures++;
	}
	if (switch_identity) {
		printf("server: %llu identity switches (thread mode %s)\n",
		       (unsigned long long)identity_switches,
		       smbdirect_thread_mode_string(
			       smbdirect_get_thread_mode()));
	}
	ret = sc->failures > 0 ? 1 : 0;
	/* Registered memory goes before the connection (its PD). */
	TALLOC_FREE(sc->exposure);
	TALLOC_FREE(sc->buf);
	talloc_free(sc);
	return ret;
}

enum fork_mode {
	FORK_NONE,
	FORK_LIBRARY, /* smbdirect_listener_fork() */
	FORK_HOST,    /* the handoff API around our own fork(), as smbd */
};

struct server {
	struct tevent_context *ev;
	enum fork_mode fork_mode;
	int children;
	int served;
	int failures;
	int expect;   /* connections to take; later ones are refused */
	int reaped_seen;
	bool heap_report; /* --heap-report */
	bool in_child;
	struct tevent_context *child_ev;
	struct smbdirect_conn_request *child_request;
	struct smbdirect_conn_request *pending;
	/* SIGTERM: stop listening, wait for the children, free everything. */
	bool stop;
};

/* Fork as smbd does: the host forks, the library hands the request over.
 * The child keeps the server's tevent context, re-initialised after fork
 * as smbd's reinit_after_fork() does. */
static void host_fork(struct server *srv, struct smbdirect_listener *listener,
		      struct smbdirect_conn_request *request)
{
	enum smbdirect_thread_mode mode = child_thread_mode_set
						  ? child_thread_mode
						  : smbdirect_get_thread_mode();
	struct smbdirect_handoff *h = smbdirect_handoff_prepare(listener,
								request);
	pid_t pid;

	if (h == NULL) {
		fprintf(stderr, "server: handoff failed: %s\n", strerror(errno));
		srv->failures++;
		return;
	}
	pid = fork();
	if (pid == 0) {
		if (tevent_re_initialise(srv->ev) != 0) {
			_exit(1);
		}
		srv->child_request = smbdirect_handoff_child(h, srv->ev, mode);
		if (srv->child_request == NULL) {
			fprintf(stderr, "child: the handoff failed: %s\n",
				strerror(errno));
			_exit(1);
		}
		srv->child_ev = srv->ev;
		srv->in_child = true;
		return;
	}
	if (smbdirect_handoff_parent(h, pid) != 0 || pid < 0) {
		fprintf(stderr, "server: the child did not take the "
				"connection\n");
		srv->failures++;
	}
	if (pid > 0) {
		srv->children++;
	}
}

static void on_request(struct smbdirect_listener *listener,
		       struct smbdirect_conn_request *request, void *priv)
{
	struct server *srv = priv;
	pid_t pid;

	if (srv->stop || srv->served + srv->children >= srv->expect) {
		/* Done taking connections; the loop runs on for the
		 * children. Freeing the request rejects it. */
		talloc_free(request);
		return;
	}
	if (srv->fork_mode == FORK_NONE) {
		/* Served from the main loop: tevent does not nest loops. */
		srv->pending = request;
		return;
	}
	if (srv->fork_mode == FORK_HOST) {
		host_fork(srv, listener, request);
		return;
	}
	pid = smbdirect_listener_fork(listener, request, &srv->child_ev,
				      &srv->child_request);
	if (pid == 0) {
		srv->in_child = true;
		return;
	}
	if (pid < 0) {
		fprintf(stderr, "server: fork failed: %s\n", strerror(errno));
		srv->failures++;
		return;
	}
	srv->children++;
}

static void reaped_child(struct server *srv, pid_t pid, int status)
{
	srv->reaped_seen++;
	if (srv->heap_report) {
		/* The listener's heap in use: it keeps a record per live
		 * child's connection, none for one that ended. */
		printf("server: heap in use %zu bytes after %d reaped\n",
		       mallinfo2().uordblks, srv->reaped_seen);
		fflush(stdout);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "server: child %d %s %d\n", (int)pid,
			WIFEXITED(status) ? "exited" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status)
					  : WTERMSIG(status));
		srv->failures++;
	}
}

struct reaper {
	struct server *srv;
	int *reaped;
};

/* SIGCHLD, as smbd handles it: a tevent signal handler. The signal also
 * interrupts whatever the listener is waiting in when it arrives: fork16
 * exercises that. */
static void on_sigchld(struct tevent_context *ev, struct tevent_signal *se,
		       int signum, int nsignals, void *siginfo, void *priv)
{
	struct reaper *r = priv;
	int status;
	pid_t pid;

	(void)ev;
	(void)se;
	(void)signum;
	(void)nsignals;
	(void)siginfo;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		(*r->reaped)++;
		reaped_child(r->srv, pid, status);
	}
}

/* SIGTERM ends the listener as if its connection count were reached:
 * the children finish their connections and are reaped, then the
 * listener and its context are freed (so valgrind can check it). */
static void on_sigterm(struct tevent_context *ev, struct tevent_signal *se,
		       int signum, int nsignals, void *siginfo, void *priv)
{
	struct server *srv = priv;

	(void)ev;
	(void)se;
	(void)signum;
	(void)nsignals;
	(void)siginfo;
	srv->stop = true;
}

static int run_server(const struct sockaddr *addr, enum fork_mode fork_mode,
		      int expect)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct smbdirect_listener *listener = NULL;
	struct server srv = {.ev = ev,
			     .fork_mode = fork_mode,
			     .expect = expect,
			     .heap_report = heap_report};
	int ret;
	int status;
	int reaped = 0;
	pid_t pid;

	ret = smbdirect_listen(ev, ev, addr, 64, on_request, &srv, &listener);
	if (ret != 0) {
		fprintf(stderr, "server: listen failed: %s\n", strerror(ret));
		return 1;
	}
	if (max_half_open > 0 || max_half_open_per_peer > 0) {
		ret = smbdirect_listener_set_limits(
			listener,
			max_half_open > 0 ? (unsigned int)max_half_open
					  : SMBDIRECT_DEFAULT_MAX_HALF_OPEN,
			max_half_open_per_peer > 0
				? (unsigned int)max_half_open_per_peer
				: SMBDIRECT_DEFAULT_MAX_HALF_OPEN_PER_PEER);
		if (ret != 0) {
			fprintf(stderr, "server: limits: %s\n", strerror(ret));
			return 1;
		}
	}
	struct reaper reaper = {.srv = &srv, .reaped = &reaped};

	if (fork_mode != FORK_NONE && tevent_add_signal(ev, ev, SIGCHLD, 0, on_sigchld,
					   &reaper) == NULL) {
		fprintf(stderr, "server: no SIGCHLD handler\n");
		return 1;
	}
	if (tevent_add_signal(ev, ev, SIGTERM, 0, on_sigterm, &srv) == NULL) {
		fprintf(stderr, "server: no SIGTERM handler\n");
		return 1;
	}
	printf("server: listening (pid %d)\n", (int)getpid());
	fflush(stdout);
	/* The loop runs until the children are done too: the listener
	 * makes their rdma_cm calls (the library keeps each child's id
	 * here). */
	while ((srv.served + srv.children < expect && !srv.stop) ||
	       reaped < srv.children) {
		if (tevent_loop_once(ev) != 0) {
			break;
		}
		if (srv.pending != NULL) {
			struct smbdirect_conn_request *r = srv.pending;

			srv.pending = NULL;
			srv.served++;
			if (serve(ev, r) != 0) {
				srv.failures++;
			}
		}
		if (srv.in_child) {
			/* The child owns one connection, on its own event
			 * context; the listener is the parent's. */
			ret = serve(srv.child_ev, srv.child_request);
			fflush(stdout);
			_exit(ret);
		}
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			reaped++;
			reaped_child(&srv, pid, status);
		}
	}
	while (reaped < srv.children) {
		pid = waitpid(-1, &status, 0);
		if (pid < 0 && errno == EINTR) {
			continue;
		}
		if (pid <= 0) {
			break;
		}
		reaped++;
		reaped_child(&srv, pid, status);
	}
	if (reaped != srv.children) {
		fprintf(stderr, "server: reaped %d of %d children\n", reaped,
			srv.children);
		srv.failures++;
	}
	if (signal_every_ms > 0) {
		printf("server: %d SIGALRM caught\n", (int)alarms);
	}
	printf("server: %d connections (%d children, %d reaped), "
	       "%d failures\n",
	       srv.served + srv.children, srv.children, reaped,
	       srv.failures);
	talloc_free(ev);
	return srv.failures > 0 ? 1 : 0;
}

/* --- client ------------------------------------------------------------- */

struct client {
	struct tevent_context *ev;
	struct smbdirect_conn *conn;
	struct smbdirect_settings settings;
	struct server_info server;
	uint8_t *last;
	size_t last_length;
	bool got;
	bool ended;
	enum smbdirect_reason reason;
	char detail[200];
	uint64_t busy_polled;
	/* The messages test with --window above 1: echoes are checked as
	 * they arrive (client_message), not kept in `last`. */
	struct echo_window *window;
};

static void window_echo(struct client *c, const uint8_t *data, size_t length);

static void client_message(struct smbdirect_conn *conn, const uint8_t *data,
			   size_t length, void *priv)
{
	struct client *c = priv;

	(void)conn;
	if (c->window != NULL) {
		window_echo(c, data, length);
		return;
	}
	talloc_free(c->last);
	c->last = talloc_memdup(c, data, length);
	c->last_length = length;
	c->got = true;
}

static void client_disconnected(struct smbdirect_conn *conn,
				enum smbdirect_reason reason,
				const char *detail, void *priv)
{
	struct client *c = priv;

	(void)conn;
	c->ended = true;
	c->reason = reason;
	snprintf(c->detail, sizeof(c->detail), "%s", detail);
}

/* Bounded waits: the client never blocks forever, whatever the peer. */
struct deadline {
	struct tevent_timer *te;
	bool expired;
};

static void deadline_fired(struct tevent_context *ev, struct tevent_timer *te,
			   struct timeval now, void *priv)
{
	struct deadline *d = priv;

	(void)ev;
	(void)te;
	(void)now;
	d->te = NULL; /* tevent frees a timer once it fired */
	d->expired = true;
}

/* Run the loop until done(arg) or `ms` passed; returns done(arg). */
static bool run_until(struct tevent_context *ev, bool (*done)(const void *),
		      const void *arg, uint32_t ms)
{
	struct deadline d = {NULL, false};

	d.te = tevent_add_timer(
		ev, ev, tevent_timeval_current_ofs(ms / 1000, (ms % 1000) * 1000),
		deadline_fired, &d);
	if (d.te == NULL) {
		return false;
	}
	while (!done(arg) && !d.expired) {
		if (tevent_loop_once(ev) != 0) {
			break;
		}
	}
	TALLOC_FREE(d.te);
	return done(arg);
}

static bool req_finished(const void *arg)
{
	return !tevent_req_is_in_progress(
		(struct tevent_req *)(uintptr_t)arg);
}

static bool answered_or_ended(const void *arg)
{
	const struct client *c = arg;

	return c->got || c->ended;
}

static bool has_ended(const void *arg)
{
	return ((const struct client *)arg)->ended;
}

/* Send one message and wait (bounded) for the answer: 0 once it came,
 * ENOTCONN if the connection ended first, ETIMEDOUT. */
static int exchange(struct client *c, const struct iovec *iov, int n)
{
	struct tevent_req *req;
	int ret;

	c->got = false;
	become_user();
	req = smbdirect_send_send(c, c->ev, c->conn, iov, n);
	unbecome_user();
	if (req == NULL) {
		return ENOMEM;
	}
	if (!run_until(c->ev, req_finished, req, WAIT_MS)) {
		talloc_free(req);
		return ETIMEDOUT;
	}
	ret = smbdirect_send_recv(req);
	talloc_free(req);
	if (ret != 0) {
		return ret;
	}
	if (!run_until(c->ev, answered_or_ended, c, WAIT_MS)) {
		return ETIMEDOUT;
	}
	return c->got ? 0 : ENOTCONN;
}

/* Ask the server who it is ('P'). */
static int ask_server(struct client *c)
{
	uint8_t p = 'P';
	struct iovec iov = {.iov_base = &p, .iov_len = 1};
	int ret = exchange(c, &iov, 1);

	if (ret != 0) {
		fprintf(stderr, "client: no answer to P: %s\n", strerror(ret));
		return 1;
	}
	if (c->last_length != 1 + sizeof(c->server) || c->last[0] != 'p') {
		fprintf(stderr, "client: bad answer to P (%zu bytes)\n",
			c->last_length);
		return 1;
	}
	memcpy(&c->server, c->last + 1, sizeof(c->server));
	return 0;
}

static void print_stats(struct client *c, const char *when)
{
	struct smbdirect_conn_stats st;

	smbdirect_conn_get_stats(c->conn, &st);
	printf("client: stats %s: %llu wire messages sent, %llu received, "
	       "%llu delivered (%llu bytes), %llu credit-only, "
	       "%llu keepalives, %llu credit stalls, %llu RDMA bytes\n",
	       when, (unsigned long long)st.engine.messages_sent,
	       (unsigned long long)st.engine.messages_received,
	       (unsigned long long)st.engine.messages_delivered,
	       (unsigned long long)st.engine.bytes_delivered,
	       (unsigned long long)st.engine.credit_only_sent,
	       (unsigned long long)st.engine.keepalives_sent,
	       (unsigned long long)st.engine.credit_stalls,
	       (unsigned long long)st.rdma_bytes);
}

/* Largest message that may go both ways (the echo comes back). */
static uint32_t message_limit(struct client *c)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->conn);
	uint32_t max = min_u32(p->max_fragmented_send_size,
			       p->max_fragmented_receive_size);

	return max_size_opt > 0 ? min_u32(max, max_size_opt) : max;
}

#define CHECK_EQ(what, got, want)                                           \
	do {                                                                \
		if ((uint64_t)(got) != (uint64_t)(want)) {                  \
			fprintf(stderr, "client: negotiate: %s is %llu, "   \
					"expected %llu\n",                  \
				what, (unsigned long long)(got),            \
				(unsigned long long)(want));                \
			bad++;                                              \
		}                                                           \
	} while (0)

/* Both roles' results against both sides' settings: what each side
 * computed from the other's negotiate message ([MS-SMBD] 3.1.5.6 for the
 * server, 3.1.5.7 for the client). */
static int test_negotiate(struct client *c)
{
	const struct smbdirect_settings *cs = &c->settings;
	const struct smbdirect_settings *ss = &c->server.settings;
	const struct smbdirect_params *cp = smbdirect_conn_params(c->conn);
	const struct smbdirect_params *sp = &c->server.params;
	uint32_t max = message_limit(c);
	uint8_t *msg;
	struct iovec iov;
	int bad = 0;
	int ret;

	CHECK_EQ("client protocol", cp->protocol, SMBDIRECT_PROTOCOL_VERSION);
	CHECK_EQ("server protocol", sp->protocol, SMBDIRECT_PROTOCOL_VERSION);
	/* Each side sends no more than the other receives. */
	CHECK_EQ("client max_send_size", cp->max_send_size,
		 min_u32(cs->max_send_size, ss->max_receive_size));
	CHECK_EQ("server max_send_size", sp->max_send_size,
		 min_u32(ss->max_send_size, cs->max_receive_size));
	if (cp->max_send_size > sp->max_receive_size ||
	    sp->max_send_size > cp->max_receive_size) {
		fprintf(stderr, "client: negotiate: a side may send more "
				"than the other receives\n");
		bad++;
	}
	/* A receive size shrinks to the peer's PreferredSendSize, never
	 * below 128. The server's PreferredSendSize in its response is its
	 * negotiated MaxSendSize. */
	CHECK_EQ("server max_receive_size", sp->max_receive_size,
		 min_u32(ss->max_receive_size, cs->max_send_size) < 128
			 ? 128
			 : min_u32(ss->max_receive_size, cs->max_send_size));
	CHECK_EQ("client max_receive_size", cp->max_receive_size,
		 min_u32(cs->max_receive_size, sp->max_send_size) < 128
			 ? 128
			 : min_u32(cs->max_receive_size, sp->max_send_size));
	/* Fragmented sizes: each side's own, learnt by the other. */
	CHECK_EQ("client max_fragmented_send_size",
		 cp->max_fragmented_send_size, ss->max_fragmented_size);
	CHECK_EQ("server max_fragmented_send_size",
		 sp->max_fragmented_send_size, cs->max_fragmented_size);
	CHECK_EQ("client max_fragmented_receive_size",
		 cp->max_fragmented_receive_size, cs->max_fragmented_size);
	CHECK_EQ("server max_fragmented_receive_size",
		 sp->max_fragmented_receive_size, ss->max_fragmented_size);
	/* MaxReadWriteSize: the server's, lowered by the client's own. */
	CHECK_EQ("server max_read_write_size", sp->max_read_write_size,
		 ss->max_read_write_size);
	CHECK_EQ("client max_read_write_size", cp->max_read_write_size,
		 min_u32(cs->max_read_write_size, ss->max_read_write_size));
	/* Credits: ReceiveCreditTarget is the peer's CreditsRequested,
	 * capped by our ReceiveCreditMax. */
	CHECK_EQ("client receive_credit_target", cp->receive_credit_target,
		 min_u32(ss->send_credit_target, cs->receive_credit_max));
	CHECK_EQ("server receive_credit_target", sp->receive_credit_target,
		 min_u32(cs->send_credit_target, ss->receive_credit_max));
	CHECK_EQ("client send_credit_target", cp->send_credit_target,
		 cs->send_credit_target);
	CHECK_EQ("server send_credit_target", sp->send_credit_target,
		 ss->send_credit_target);
	printf("client: server negotiated: send %u receive %u fragmented "
	       "%u/%u rw %u credits target %u\n",
	       sp->max_send_size, sp->max_receive_size,
	       sp->max_fragmented_send_size, sp->max_fragmented_receive_size,
	       sp->max_read_write_size, sp->receive_credit_target);
	if (bad > 0) {
		return 1;
	}
	/* And the limits hold in practice: the largest message goes and
	 * comes back intact. */
	msg = talloc_size(c, max);
	fill_pattern(msg, max, max);
	msg[0] = 'E';
	iov.iov_base = msg;
	iov.iov_len = max;
	ret = exchange(c, &iov, 1);
	if (ret != 0 || c->last_length != max ||
	    hash_bytes(c->last, max) != hash_bytes(msg, max)) {
		fprintf(stderr, "client: echo of %u bytes: %s\n", max,
			ret != 0 ? strerror(ret) : "wrong data");
		return 1;
	}
	talloc_free(msg);
	printf("client: negotiation agrees on both sides; %u-byte echo "
	       "intact\n",
	       max);
	return 0;
}

/* Fragments a message of `size` bytes needs at least: each carries at
 * most max_size - 24 bytes of payload (DataOffset 24, [MS-SMBD] 2.2.3). */
static uint64_t min_fragments(uint32_t size, uint32_t max_size)
{
	uint32_t per = max_size - SMBDIRECT_DATA_OFFSET;

	return size == 0 ? 1 : (size + per - 1) / per;
}

/* The size of echo number `i` (1..max, log-uniform, the extremes
 * included), from the xorshift state `x`. */
static uint32_t echo_size(uint32_t i, uint64_t *x, uint32_t max)
{
	uint32_t bits;
	uint64_t limit;

	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	if (i == 0) {
		return 1;
	}
	if (i % 1000 == 1) {
		return max;
	}
	bits = (uint32_t)(*x % 18);
	limit = 1ull << bits;
	if (limit > max) {
		limit = max;
	}
	return 1 + (uint32_t)((*x >> 8) % limit);
}

/* The messages did not go as fragments of the negotiated size: fewer
 * wire messages each way than their sizes need. */
static bool too_few_fragments(const struct smbdirect_conn_stats *before,
			      const struct smbdirect_conn_stats *after,
			      uint64_t need_sent, uint64_t need_received)
{
	return after->engine.messages_sent - before->engine.messages_sent <
		       need_sent ||
	       after->engine.messages_received -
			       before->engine.messages_received <
		       need_received;
}

/* --window N: up to N echoes in flight. Slot k holds the message sent
 * as number k mod N until both its echo came back (checked against the
 * copy sent, in order: one RC QP delivers in order) and its send
 * completed (the payload is the caller's until then). */
struct echo_slot {
	uint8_t *buf;
	uint32_t size;
	struct tevent_req *req;
	bool echoed;
};

struct echo_window {
	struct echo_slot *slots;
	uint32_t n;
	uint32_t sent;
	uint32_t echoed;
	uint64_t fragments_sent;
	uint64_t fragments_received;
	char error[320];
};

static void window_echo(struct client *c, const uint8_t *data, size_t length)
{
	struct echo_window *w = c->window;
	struct echo_slot *s;

	if (w->error[0] != '\0') {
		return;
	}
	if (w->echoed == w->sent) {
		snprintf(w->error, sizeof(w->error),
			 "an echo (%zu bytes) with none outstanding", length);
		return;
	}
	s = &w->slots[w->echoed % w->n];
	if (length != s->size ||
	    hash_bytes(data, length) != hash_bytes(s->buf, s->size)) {
		snprintf(w->error, sizeof(w->error),
			 "message %u: %zu bytes back, %u sent, checksum %s",
			 w->echoed, length, s->size,
			 length == s->size ? "differs" : "-");
		return;
	}
	s->echoed = true;
	w->echoed++;
}

/* The slot can take the next message: echoed and its send completed. */
static int window_slot_free(struct echo_slot *s)
{
	int ret;

	if (s->req == NULL) {
		return 0;
	}
	if (!s->echoed || tevent_req_is_in_progress(s->req)) {
		return EBUSY;
	}
	ret = smbdirect_send_recv(s->req);
	TALLOC_FREE(s->req);
	return ret;
}

static bool window_progress(const void *arg)
{
	const struct client *c = arg;
	const struct echo_window *w = c->window;
	const struct echo_slot *s = &w->slots[w->sent % w->n];

	return c->ended || w->error[0] != '\0' || w->echoed == count ||
	       (w->sent < count &&
		(s->req == NULL ||
		 (s->echoed && !tevent_req_is_in_progress(s->req))));
}

static int test_messages_window(struct client *c)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->conn);
	uint32_t max = message_limit(c);
	struct echo_window *w = talloc_zero(c, struct echo_window);
	struct smbdirect_conn_stats before;
	struct smbdirect_conn_stats after;
	uint64_t x = 12345;
	uint32_t k;
	int ret = 0;

	if (w == NULL) {
		return 1;
	}
	w->n = window_opt;
	w->slots = talloc_zero_array(w, struct echo_slot, w->n);
	if (w->slots == NULL) {
		talloc_free(w);
		return 1;
	}
	for (k = 0; k < w->n; k++) {
		w->slots[k].buf = talloc_size(w->slots, max);
		if (w->slots[k].buf == NULL) {
			talloc_free(w);
			return 1;
		}
	}
	smbdirect_conn_get_stats(c->conn, &before);
	c->window = w;
	while (w->echoed < count && w->error[0] == '\0' && !c->ended) {
		/* Fill every free slot, in order. */
		while (w->sent < count) {
			struct echo_slot *s = &w->slots[w->sent % w->n];
			struct iovec iov;

			ret = window_slot_free(s);
			if (ret == EBUSY) {
				ret = 0;
				break;
			}
			if (ret != 0) {
				snprintf(w->error, sizeof(w->error),
					 "a send failed: %s", strerror(ret));
				break;
			}
			s->size = echo_size(w->sent, &x, max);
			fill_pattern(s->buf, s->size, w->sent);
			s->buf[0] = 'E';
			s->echoed = false;
			iov.iov_base = s->buf;
			iov.iov_len = s->size;
			become_user();
			s->req = smbdirect_send_send(w->slots, c->ev, c->conn,
						     &iov, 1);
			unbecome_user();
			if (s->req == NULL) {
				snprintf(w->error, sizeof(w->error),
					 "no memory for a send");
				break;
			}
			w->fragments_sent += min_fragments(s->size,
							   p->max_send_size);
			w->fragments_received += min_fragments(
				s->size, p->max_receive_size);
			w->sent++;
		}
		if (w->error[0] != '\0') {
			break;
		}
		if (!run_until(c->ev, window_progress, c, WAIT_MS)) {
			snprintf(w->error, sizeof(w->error),
				 "no progress in %u ms (%u sent, %u echoed)",
				 WAIT_MS, w->sent, w->echoed);
			break;
		}
	}
	/* The last sends complete before their payloads go. */
	for (k = 0; k < w->n && w->error[0] == '\0' && !c->ended; k++) {
		struct echo_slot *s = &w->slots[k];

		if (s->req != NULL &&
		    !run_until(c->ev, req_finished, s->req, WAIT_MS)) {
			snprintf(w->error, sizeof(w->error),
				 "a send never completed");
		} else if ((ret = window_slot_free(s)) != 0) {
			snprintf(w->error, sizeof(w->error),
				 "a send failed: %s", strerror(ret));
		}
	}
	c->window = NULL;
	if (w->error[0] == '\0' && w->echoed < count) {
		snprintf(w->error, sizeof(w->error),
			 "the connection ended after %u of %u echoes: %s",
			 w->echoed, count, c->detail);
	}
	smbdirect_conn_get_stats(c->conn, &after);
	if (w->error[0] == '\0' &&
	    too_few_fragments(&before, &after, w->fragments_sent,
			      w->fragments_received)) {
		snprintf(w->error, sizeof(w->error),
			 "fewer wire messages than fragments needed");
	}
	if (w->error[0] != '\0') {
		fprintf(stderr, "client: %s\n", w->error);
		talloc_free(w);
		return 1;
	}
	printf("client: %u messages echoed intact (max %u bytes, %u in "
	       "flight)\n",
	       count, max, w->n);
	talloc_free(w);
	return 0;
}

static int test_messages(struct client *c)
{
	const struct smbdirect_params *p = smbdirect_conn_params(c->conn);
	uint32_t max = message_limit(c);
	uint8_t *msg = talloc_size(c, max);
	uint64_t x = 12345;
	uint64_t need_sent = 0;
	uint64_t need_received = 0;
	struct smbdirect_conn_stats before;
	struct smbdirect_conn_stats after;
	uint32_t i;

	if (window_opt > 1) {
		talloc_free(msg);
		return test_messages_window(c);
	}
	smbdirect_conn_get_stats(c->conn, &before);
	for (i = 0; i < count; i++) {
		uint32_t size;
		struct iovec iov;
		int ret;

		size = echo_size(i, &x, max);
		fill_pattern(msg, size, i);
		msg[0] = 'E';
		iov.iov_base = msg;
		iov.iov_len = size;
		ret = exchange(c, &iov, 1);
		if (ret != 0) {
			fprintf(stderr, "client: message %u (%u bytes): %s\n", i,
				size, strerror(ret));
			return 1;
		}
		if (c->last_length != size ||
		    hash_bytes(c->last, size) != hash_bytes(msg, size)) {
			fprintf(stderr,
				"client: message %u: %zu bytes back, %u sent, "
				"checksum %s\n",
				i, c->last_length, size,
				c->last_length == size ? "differs" : "-");
			return 1;
		}
		need_sent += min_fragments(size, p->max_send_size);
		need_received += min_fragments(size, p->max_receive_size);
	}
	talloc_free(msg);
	smbdirect_conn_get_stats(c->conn, &after);
	printf("client: %u messages echoed intact (max %u bytes)\n", count,
	       max);
	printf("client: %llu wire messages sent (%llu fragments at least), "
	       "%llu received (%llu at least)\n",
	       (unsigned long long)(after.engine.messages_sent -
				    before.engine.messages_sent),
	       (unsigned long long)need_sent,
	       (unsigned long long)(after.engine.messages_received -
				    before.engine.messages_received),
	       (unsigned long long)need_received);
	if (too_few_fragments(&before, &after, need_sent, need_received)) {
		fprintf(stderr, "client: fewer wire messages than fragments "
				"needed\n");
		return 1;
	}
	return 0;
}

/* Sink message number `n`: 'S', checksum, pattern. */
static void make_sink(uint8_t *msg, uint32_t size, uint32_t n)
{
	uint64_t h;

	fill_pattern(msg + 9, size - 9, n);
	h = hash_bytes(msg + 9, size - 9);
	msg[0] = 'S';
	memcpy(msg + 1, &h, 8);
}

static int test_stream(struct client *c)
{
	uint32_t size = message_limit(c);
	uint8_t *bufs[2];
	struct tevent_req *reqs[2] = {NULL, NULL};
	struct iovec iovs[2];
	uint32_t submitted = 0;
	uint32_t completed = 0;
	int error = 0;
	int k;

	bufs[0] = talloc_size(c, size);
	bufs[1] = talloc_size(c, size);
	/* Two messages in flight at all times, so the connection is always
	 * in the middle of a fragmented message. A payload stays untouched
	 * until its send completed. */
	for (;;) {
		k = (int)(submitted % 2);
		if (reqs[k] != NULL) {
			if (!run_until(c->ev, req_finished, reqs[k], WAIT_MS)) {
				fprintf(stderr, "client: a send hung\n");
				return 1;
			}
			error = smbdirect_send_recv(reqs[k]);
			TALLOC_FREE(reqs[k]);
			if (error != 0) {
				break;
			}
			completed++;
		}
		if (c->ended || (count != 0 && submitted == count)) {
			break;
		}
		make_sink(bufs[k], size, submitted);
		/* One line per message: after a SIGKILL, the log still
		 * says how many were started. */
		printf("client: stream: sending message %u\n", submitted + 1);
		iovs[k].iov_base = bufs[k];
		iovs[k].iov_len = size;
		reqs[k] = smbdirect_send_send(c, c->ev, c->conn, &iovs[k], 1);
		if (reqs[k] == NULL) {
			return 1;
		}
		submitted++;
	}
	for (k = 0; k < 2; k++) {
		if (reqs[k] == NULL) {
			continue;
		}
		if (!run_until(c->ev, req_finished, reqs[k], WAIT_MS)) {
			fprintf(stderr, "client: a send hung\n");
			return 1;
		}
		if (smbdirect_send_recv(reqs[k]) == 0) {
			completed++;
		} else if (error == 0) {
			error = ENOTCONN;
		}
		TALLOC_FREE(reqs[k]);
	}
	if (count != 0) {
		if (error != 0 || completed != count) {
			fprintf(stderr, "client: stream: %u of %u sent: %s\n",
				completed, count, strerror(error));
			return 1;
		}
		printf("client: stream: %u messages of %u bytes sent\n",
		       completed, size);
		return 0;
	}
	/* Until the end: the peer went away. Every send must have been
	 * resolved (done or ENOTCONN) and the end reported with a reason. */
	if (!c->ended && !run_until(c->ev, has_ended, c, 10000)) {
		fprintf(stderr, "client: stream: a send failed (%s) but the "
				"connection did not end\n",
			strerror(error));
		return 1;
	}
	printf("client: stream ended after %u messages of %u bytes (%u "
	       "started): %s (%s)\n",
	       completed, size, submitted, smbdirect_reason_string(c->reason),
	       c->detail);
	return completed > 0 && c->reason != SMBDIRECT_REASON_NONE ? 0 : 1;
}

/* Ask the server for an RDMA operation on our buffer, split into `nd`
 * exposures, and check the result. */
static int rdma_case(struct client *c, struct smbdirect_buffer *buf,
		     char cmd, uint32_t len, int nd)
{
	struct smbdirect_buffer_descriptor descs[MAX_DESCS];
	struct smbdirect_exposure *x[MAX_DESCS];
	uint8_t msg[5 + MAX_DESCS * 16];
	uint8_t *data = smbdirect_buffer_data(buf);
	struct iovec iov;
	size_t per = len / (size_t)nd;
	size_t off = 0;
	int i;
	int ret;

	for (i = 0; i < nd; i++) {
		size_t n = i == nd - 1 ? len - off : per;
		size_t got = 0;

		become_user();
		x[i] = smbdirect_expose(c, c->conn, buf, off, n, cmd != 'R',
					&descs[i], 1, &got);
		unbecome_user();
		if (x[i] == NULL) {
			fprintf(stderr, "client: expose: %s\n",
				strerror(errno));
			return 1;
		}
		off += n;
	}
	msg[0] = (uint8_t)cmd;
	memcpy(msg + 1, &len, 4);
	smbdirect_buffer_descriptors_encode(descs, (size_t)nd, msg + 5,
					    sizeof(msg) - 5);
	if (cmd == 'R') {
		fill_pattern(data, len, len + 7);
	} else {
		memset(data, 0, len);
	}
	iov.iov_base = msg;
	iov.iov_len = 5 + (size_t)nd * 16;
	ret = exchange(c, &iov, 1);
	if (ret != 0) {
		fprintf(stderr, "client: %c %u: %s\n", cmd, len, strerror(ret));
		return 1;
	}
	if (cmd == 'R') {
		uint64_t h;

		memcpy(&h, c->last + 1, 8);
		if (c->last[0] != 'r' || h != hash_bytes(data, len)) {
			fprintf(stderr,
				"client: RDMA read %u: wrong data (answer %c, "
				"hash %016llx, expected %016llx)\n",
				len, c->last[0], (unsigned long long)h,
				(unsigned long long)hash_bytes(data, len));
			return 1;
		}
	} else {
		uint8_t *expect = talloc_size(c, len);

		fill_pattern(expect, len, len);
		if (c->last[0] != (cmd == 'I' ? 'i' : 'w') ||
		    memcmp(expect, data, len) != 0) {
			fprintf(stderr, "client: RDMA write %u: wrong data\n",
				len);
			return 1;
		}
		talloc_free(expect);
		if (cmd == 'I' && !smbdirect_exposure_invalidated(x[0])) {
			fprintf(stderr, "client: rkey not invalidated\n");
			return 1;
		}
	}
	become_user();
	for (i = 0; i < nd; i++) {
		talloc_free(x[i]);
	}
	unbecome_user();
	return 0;
}

static int test_rdma(struct client *c)
{
	static const uint32_t sizes[] = {4096, 65536, 1048576, 8388608};
	struct smbdirect_buffer *buf =
		smbdirect_buffer_new(c, c->conn, 8 * 1024 * 1024);
	size_t i;
	int nd;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (nd = 1; nd <= 4; nd += 3) {
			if (rdma_case(c, buf, 'W', sizes[i], nd) != 0 ||
			    rdma_case(c, buf, 'R', sizes[i], nd) != 0) {
				return 1;
			}
			printf("client: RDMA write+read %u bytes over %d "
			       "descriptor(s): ok\n",
			       sizes[i], nd);
		}
	}
	talloc_free(buf);
	return 0;
}

static int test_invalidate(struct client *c)
{
	struct smbdirect_buffer *buf = smbdirect_buffer_new(c, c->conn, 65536);
	int ret;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	ret = rdma_case(c, buf, 'I', 65536, 1);
	if (ret == 0) {
		printf("client: RDMA write answered by Send-with-Invalidate: "
		       "exposure invalidated\n");
	}
	talloc_free(buf);
	return ret;
}

/* An rkey must die with its exposure: after the exposure is freed, a
 * write through the old descriptor must not reach the memory. */
static int test_rkey_reuse(struct client *c)
{
	const uint32_t len = 65536;
	struct smbdirect_buffer *buf = smbdirect_buffer_new(c, c->conn, len);
	struct smbdirect_buffer_descriptor desc;
	struct smbdirect_exposure *x;
	uint8_t msg[5 + 16];
	uint8_t *data;
	uint8_t *expect;
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	size_t got = 0;
	uint32_t i;
	int ret;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	data = smbdirect_buffer_data(buf);
	x = smbdirect_expose(c, c->conn, buf, 0, len, true, &desc, 1, &got);
	if (x == NULL) {
		fprintf(stderr, "client: expose: %s\n", strerror(errno));
		return 1;
	}
	memcpy(msg + 1, &len, 4);
	smbdirect_buffer_descriptors_encode(&desc, 1, msg + 5, 16);

	/* 1. The I/O the exposure was made for works. */
	memset(data, 0, len);
	msg[0] = 'W';
	ret = exchange(c, &iov, 1);
	expect = talloc_size(c, len);
	fill_pattern(expect, len, len);
	if (ret != 0 || c->last[0] != 'w' || memcmp(data, expect, len) != 0) {
		fprintf(stderr, "client: first RDMA write failed: %s\n",
			ret != 0 ? strerror(ret) : "wrong answer or data");
		return 1;
	}
	printf("client: RDMA write through rkey 0x%08x: ok\n", desc.token);

	/* 2. Revoke it ([MS-SMBD] 3.1.4.4). */
	talloc_free(x);
	memset(data, 0xA5, len);

	/* 3. The same descriptor again: the server's write must fail and
	 * the connection end; no answer may come. */
	msg[0] = 'Z';
	ret = exchange(c, &iov, 1);
	if (ret == 0) {
		fprintf(stderr, "client: the server answered '%c' to a write "
				"through the revoked rkey\n",
			c->last[0]);
		return 1;
	}
	if (ret != ENOTCONN) {
		fprintf(stderr, "client: after the revoked-rkey write: %s "
				"(the connection should have ended)\n",
			strerror(ret));
		return 1;
	}
	for (i = 0; i < len; i++) {
		if (data[i] != 0xA5) {
			fprintf(stderr, "client: revoked memory was written "
					"at offset %u\n",
				i);
			return 1;
		}
	}
	printf("client: write through revoked rkey 0x%08x refused, memory "
	       "untouched; connection ended: %s (%s)\n",
	       desc.token, smbdirect_reason_string(c->reason), c->detail);
	talloc_free(expect);
	talloc_free(buf);
	return 0;
}

static bool never(const void *arg)
{
	(void)arg;
	return false;
}

/* Keep the event loop running for `ms` (answers keepalives meanwhile). */
static void hold(struct client *c, uint32_t ms)
{
	run_until(c->ev, never, NULL, ms);
}

/* Bytes of `data` in [from, to) that are not `v`: their first offset, or
 * -1. */
static long first_changed(const uint8_t *data, size_t from, size_t to,
			  uint8_t v)
{
	size_t i;

	for (i = from; i < to; i++) {
		if (data[i] != v) {
			return (long)i;
		}
	}
	return -1;
}

/*
 * What the peer can reach of ours, over real verbs (docs/robustness.md,
 * "Memory exposure"): 12 KiB at +8192 of a 64 KiB buffer are exposed for
 * one RDMA write. The write lands exactly there (not a byte outside).
 * With --hold-ms the client then holds the exposure, and after freeing
 * it, so that the script can read what the device reports as registered
 * (rdma resource show mr). Then the old descriptor is used again ('Z'):
 * the server's write must fail and the connection end, and nothing of
 * ours may change.
 */
static int test_exposure(struct client *c)
{
	const uint32_t size = 65536;
	const uint32_t off = 8192;
	const uint32_t len = 12288;
	struct smbdirect_buffer *buf = smbdirect_buffer_new(c, c->conn, size);
	struct smbdirect_buffer_descriptor desc;
	struct smbdirect_exposure *x;
	uint8_t msg[5 + 16];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	uint8_t *data;
	uint8_t *expect;
	size_t got = 0;
	long at;
	int ret;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	data = smbdirect_buffer_data(buf);
	memset(data, 0xA5, size);
	x = smbdirect_expose(c, c->conn, buf, off, len, true, &desc, 1, &got);
	if (x == NULL) {
		fprintf(stderr, "client: expose: %s\n", strerror(errno));
		return 1;
	}
	msg[0] = 'W';
	memcpy(msg + 1, &len, 4);
	smbdirect_buffer_descriptors_encode(&desc, 1, msg + 5, 16);
	ret = exchange(c, &iov, 1);
	expect = talloc_size(c, len);
	fill_pattern(expect, len, len);
	if (ret != 0 || c->last[0] != 'w' ||
	    memcmp(data + off, expect, len) != 0) {
		fprintf(stderr, "client: the RDMA write failed: %s\n",
			ret != 0 ? strerror(ret) : "wrong answer or data");
		return 1;
	}
	if ((at = first_changed(data, 0, off, 0xA5)) >= 0 ||
	    (at = first_changed(data, off + len, size, 0xA5)) >= 0) {
		fprintf(stderr, "client: byte %ld outside the exposure was "
				"written\n", at);
		return 1;
	}
	printf("client: exposure written, nothing outside; held: rkey "
	       "0x%08x, %u bytes at buffer +%u (%s), pid %d\n",
	       desc.token, len, off,
	       smbdirect_conn_uses_memory_windows(c->conn) ? "memory window"
							   : "its own MR",
	       (int)getpid());
	if (idle_ms > 0) {
		hold(c, idle_ms);
	}
	talloc_free(x);
	memset(data, 0x5A, size);
	printf("client: exposure freed\n");
	if (idle_ms > 0) {
		hold(c, idle_ms);
	}
	msg[0] = 'Z';
	ret = exchange(c, &iov, 1);
	if (ret != ENOTCONN) {
		fprintf(stderr, "client: a write through the freed exposure: "
				"%s\n",
			ret == 0 ? "answered" : strerror(ret));
		return 1;
	}
	if ((at = first_changed(data, 0, size, 0x5A)) >= 0) {
		fprintf(stderr, "client: byte %ld written after the exposure "
				"was freed\n", at);
		return 1;
	}
	printf("client: the freed rkey reached nothing; connection ended: "
	       "%s\n", smbdirect_reason_string(c->reason));
	talloc_free(expect);
	talloc_free(buf);
	return 0;
}

/*
 * One byte outside the exposed range (bounds-low: the descriptor starts
 * a byte before it; bounds-high: it ends a byte after): the server's
 * write must fail at the device, the connection end, and none of our
 * bytes change, the exposed ones included.
 */
static int test_bounds(struct client *c, int shift)
{
	const uint32_t size = 65536;
	const uint32_t off = 8192;
	const uint32_t len = 4096;
	struct smbdirect_buffer *buf = smbdirect_buffer_new(c, c->conn, size);
	struct smbdirect_buffer_descriptor desc;
	struct smbdirect_exposure *x;
	uint8_t msg[5 + 16];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	uint8_t *data;
	size_t got = 0;
	long at;
	int ret;

	if (buf == NULL) {
		fprintf(stderr, "client: no buffer\n");
		return 1;
	}
	data = smbdirect_buffer_data(buf);
	memset(data, 0xA5, size);
	x = smbdirect_expose(c, c->conn, buf, off, len, true, &desc, 1, &got);
	if (x == NULL) {
		fprintf(stderr, "client: expose: %s\n", strerror(errno));
		return 1;
	}
	desc.offset = (uint64_t)((int64_t)desc.offset + shift);
	msg[0] = 'Z';
	memcpy(msg + 1, &len, 4);
	smbdirect_buffer_descriptors_encode(&desc, 1, msg + 5, 16);
	ret = exchange(c, &iov, 1);
	if (ret != ENOTCONN) {
		fprintf(stderr, "client: a write one byte %s the exposure: "
				"%s\n",
			shift < 0 ? "before" : "past",
			ret == 0 ? "answered" : strerror(ret));
		return 1;
	}
	if ((at = first_changed(data, 0, size, 0xA5)) >= 0) {
		fprintf(stderr, "client: byte %ld was written\n", at);
		return 1;
	}
	printf("client: a write one byte %s the exposure was refused, "
	       "nothing written; connection ended: %s\n",
	       shift < 0 ? "before" : "past",
	       smbdirect_reason_string(c->reason));
	talloc_free(x);
	talloc_free(buf);
	return 0;
}

/* Keepalive over an idle connection: it stays up (every keepalive had
 * keepalive_timeout_ms to be answered, or the connection would have
 * ended), and the keepalives we sent were answered (each answer is a
 * received message). */
static int test_idle(struct client *c)
{
	uint32_t interval = c->settings.keepalive_interval_ms;
	uint32_t duration = idle_ms != 0 ? idle_ms : 5 * interval;
	struct smbdirect_conn_stats before;
	struct smbdirect_conn_stats after;
	uint64_t sent;
	uint64_t received;
	uint8_t msg[16];
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	int ret;

	if (interval == 0 || duration < 3 * interval) {
		fprintf(stderr, "client: idle needs --keepalive-ms and an "
				"idle time of 3 intervals or more\n");
		return 1;
	}
	smbdirect_conn_get_stats(c->conn, &before);
	if (run_until(c->ev, has_ended, c, duration)) {
		fprintf(stderr, "client: the idle connection ended: %s (%s)\n",
			smbdirect_reason_string(c->reason), c->detail);
		return 1;
	}
	smbdirect_conn_get_stats(c->conn, &after);
	sent = after.engine.keepalives_sent - before.engine.keepalives_sent;
	/* An echo: the connection still carries data, and (the transport
	 * delivers in order) every answer the server sent before the echo
	 * has arrived once the echo is back. */
	fill_pattern(msg, sizeof(msg), 1);
	msg[0] = 'E';
	ret = exchange(c, &iov, 1);
	if (ret != 0 || c->last_length != sizeof(msg) ||
	    memcmp(c->last, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "client: echo after idle: %s\n",
			ret != 0 ? strerror(ret) : "wrong data");
		return 1;
	}
	smbdirect_conn_get_stats(c->conn, &after);
	received = after.engine.messages_received -
		   before.engine.messages_received;
	printf("client: idle %u ms with keepalive every %u ms: %llu "
	       "keepalives sent; %llu messages received with the echo\n",
	       duration, interval, (unsigned long long)sent,
	       (unsigned long long)received);
	/* One keepalive per interval after each answer: allow for the
	 * first and last partial intervals. */
	if (sent < duration / interval - 2 || sent == 0) {
		fprintf(stderr, "client: too few keepalives\n");
		return 1;
	}
	/* An answer per keepalive and the echo, but the echo may itself
	 * be the answer to the last keepalive. */
	if (received < sent) {
		fprintf(stderr, "client: keepalives went unanswered\n");
		return 1;
	}
	printf("client: connection still up after idling\n");
	return 0;
}

/* A frozen peer: it cannot answer a keepalive. The server is stopped
 * right after its last message, so the expected end is one interval
 * (idle timer) plus one timeout (the keepalive's deadline) later. */
static int test_keepalive(struct client *c)
{
	uint32_t interval = c->settings.keepalive_interval_ms;
	uint32_t timeout = c->settings.keepalive_timeout_ms;
	uint32_t expected = interval + timeout;
	struct smbdirect_conn_stats st;
	pid_t pid = (pid_t)c->server.pid;
	uint64_t start;
	uint64_t elapsed;
	int bad = 0;

	if (interval == 0 || pid <= 1) {
		fprintf(stderr, "client: keepalive needs --keepalive-ms and "
				"the server's pid\n");
		return 1;
	}
	if (c->server.settings.keepalive_interval_ms != 0 &&
	    c->server.settings.keepalive_interval_ms <= expected) {
		fprintf(stderr, "client: the server's own keepalive would "
				"interfere\n");
		return 1;
	}
	start = now_ms();
	if (kill(pid, SIGSTOP) != 0) {
		fprintf(stderr, "client: SIGSTOP %d: %s\n", (int)pid,
			strerror(errno));
		return 1;
	}
	printf("client: server %d stopped\n", (int)pid);
	run_until(c->ev, has_ended, c, expected + 10000);
	elapsed = now_ms() - start;
	/* Let the server see the disconnect and exit. */
	kill(pid, SIGCONT);
	smbdirect_conn_get_stats(c->conn, &st);
	if (!c->ended) {
		fprintf(stderr, "client: still connected %llu ms after "
				"freezing the server\n",
			(unsigned long long)elapsed);
		return 1;
	}
	printf("client: connection ended after %llu ms (interval %u + "
	       "timeout %u): %s (%s); %llu keepalives sent\n",
	       (unsigned long long)elapsed, interval, timeout,
	       smbdirect_reason_string(c->reason), c->detail,
	       (unsigned long long)st.engine.keepalives_sent);
	if (c->reason != SMBDIRECT_REASON_KEEPALIVE_TIMEOUT) {
		fprintf(stderr, "client: wrong reason\n");
		bad++;
	}
	/* Messages sent before the stop may re-arm the idle timer a little
	 * later than `start`, never earlier than the last receive. */
	if (elapsed + 250 < expected) {
		fprintf(stderr, "client: ended too early\n");
		bad++;
	}
	if (elapsed > expected + KEEPALIVE_SLACK_MS) {
		fprintf(stderr, "client: ended too late (slack %u ms)\n",
			KEEPALIVE_SLACK_MS);
		bad++;
	}
	if (st.engine.keepalives_sent == 0) {
		fprintf(stderr, "client: no keepalive was sent\n");
		bad++;
	}
	return bad > 0 ? 1 : 0;
}

/* The client RDMA-writes (or -reads) `len` bytes of the server's memory,
 * which the server exposed on 'X', and checks them through 'C'. */
static int client_rdma(struct client *c, struct smbdirect_buffer *buf,
		       bool write, uint32_t len)
{
	/* A read goes into fresh, never-written memory: under memcheck,
	 * using it proves the library marks what the device placed. */
	struct smbdirect_buffer *fresh = NULL;
	struct smbdirect_buffer_descriptor desc;
	uint8_t msg[6];
	uint8_t *data = smbdirect_buffer_data(buf);
	uint8_t *expect = talloc_size(c, len);
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg)};
	struct tevent_req *req;
	size_t got = 0;
	uint64_t h;
	int ret;

	msg[0] = 'X';
	memcpy(msg + 1, &len, 4);
	msg[5] = write ? 1 : 0;
	ret = exchange(c, &iov, 1);
	if (ret != 0 || c->last_length != 17 || c->last[0] != 'e' ||
	    smbdirect_buffer_descriptors_decode(c->last + 1, 16, &desc, 1,
						UINT32_MAX, &got,
						NULL) != SMBDIRECT_WIRE_OK) {
		fprintf(stderr, "client: the server did not expose its "
				"buffer: %s\n",
			ret != 0 ? strerror(ret) : "bad answer");
		return 1;
	}
	fill_pattern(expect, len, write ? len + 5 : len + 11);
	if (write) {
		memcpy(data, expect, len);
	} else {
		become_user();
		fresh = smbdirect_buffer_new(c, c->conn, len);
		unbecome_user();
		if (fresh == NULL) {
			fprintf(stderr, "client: no buffer: %s\n",
				strerror(errno));
			return 1;
		}
		buf = fresh;
		data = smbdirect_buffer_data(buf);
	}
	become_user();
	req = write ? smbdirect_rdma_write_send(c, c->ev, c->conn, buf, 0, len,
						&desc, 1)
		    : smbdirect_rdma_read_send(c, c->ev, c->conn, buf, 0, len,
					       &desc, 1);
	unbecome_user();
	if (req == NULL || !run_until(c->ev, req_finished, req, WAIT_MS)) {
		fprintf(stderr, "client: RDMA %s hung\n",
			write ? "write" : "read");
		return 1;
	}
	ret = smbdirect_rdma_recv(req);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "client: RDMA %s of %u bytes: %s\n",
			write ? "write" : "read", len, strerror(ret));
		return 1;
	}
	msg[0] = 'C';
	iov.iov_len = 5;
	ret = exchange(c, &iov, 1);
	if (ret != 0 || c->last_length != 9 || c->last[0] != 'c') {
		fprintf(stderr, "client: no checksum from the server: %s\n",
			ret != 0 ? strerror(ret) : "bad answer");
		return 1;
	}
	memcpy(&h, c->last + 1, 8);
	if (h != hash_bytes(expect, len) ||
	    (!write && memcmp(data, expect, len) != 0)) {
		fprintf(stderr, "client: RDMA %s of %u bytes into the "
				"server's memory: wrong data\n",
			write ? "write" : "read", len);
		return 1;
	}
	talloc_free(expect);
	become_user();
	talloc_free(fresh);
	unbecome_user();
	return 0;
}

/* Everything a connection does, for a process that switches identity
 * around each operation (--switch-identity, either side). */
static int test_identity(struct client *c)
{
	const uint32_t len = 1048576;
	struct smbdirect_buffer *buf;
	int k;

	if (test_messages(c) != 0) {
		return 1;
	}
	become_user();
	buf = smbdirect_buffer_new(c, c->conn, len);
	unbecome_user();
	if (buf == NULL) {
		fprintf(stderr, "client: no buffer: %s\n", strerror(errno));
		return 1;
	}
	for (k = 0; k < 4; k++) {
		/* The server into our memory, we into the server's. */
		if (rdma_case(c, buf, 'W', len, 1) != 0 ||
		    rdma_case(c, buf, 'R', len, 1) != 0 ||
		    client_rdma(c, buf, true, len) != 0 ||
		    client_rdma(c, buf, false, len) != 0) {
			return 1;
		}
	}
	printf("client: RDMA write and read of %u bytes, both ways, 4 "
	       "times: ok\n",
	       len);
	become_user();
	talloc_free(buf);
	unbecome_user();
	/* The keepalive phase when asked for (--keepalive-ms). */
	if (keepalive_ms > 0 && test_idle(c) != 0) {
		return 1;
	}
	return 0;
}

/* --busy-poll: an always-ready eventfd keeps the loop from sleeping, and
 * its handler takes the completions (smbdirect_conn_poll()). */
static void busy_poll_ready(struct tevent_context *ev, struct tevent_fd *fde,
			    uint16_t flags, void *priv)
{
	struct client *c = priv;
	int n;

	(void)ev;
	(void)fde;
	(void)flags;
	if (c->conn == NULL || c->ended) {
		return;
	}
	n = smbdirect_conn_poll(c->conn);
	if (n > 0) {
		c->busy_polled += (uint64_t)n;
	}
}

static int run_client(const struct sockaddr *addr, const char *test)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct client *c = talloc_zero(ev, struct client);
	struct smbdirect_conn_handlers handlers = {
		.message = client_message,
		.disconnected = client_disconnected,
	};
	struct tevent_req *req;
	enum smbdirect_reason reason;
	int ret;

	settings_for_test(&c->settings);
	c->ev = ev;
	req = smbdirect_connect_send(c, ev, addr, NULL, &c->settings, 5000);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		return 1;
	}
	ret = smbdirect_connect_recv(req, c, &c->conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		fprintf(stderr, "client: connect failed: %s (%s)\n",
			strerror(ret), smbdirect_reason_string(reason));
		return 1;
	}
	smbdirect_conn_set_handlers(c->conn, &handlers, c);
	if (busy_poll) {
		int fd = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
		struct tevent_fd *fde =
			fd < 0 ? NULL
			       : tevent_add_fd(ev, c, fd, TEVENT_FD_READ,
					       busy_poll_ready, c);

		if (fde == NULL) {
			fprintf(stderr, "client: no busy-poll fd\n");
			return 1;
		}
		tevent_fd_set_auto_close(fde);
	}
	{
		const struct smbdirect_params *p =
			smbdirect_conn_params(c->conn);

		printf("client: negotiated: send %u receive %u fragmented "
		       "%u/%u rw %u credits target %u\n",
		       p->max_send_size, p->max_receive_size,
		       p->max_fragmented_send_size,
		       p->max_fragmented_receive_size, p->max_read_write_size,
		       p->receive_credit_target);
	}
	if (ask_server(c) != 0) {
		talloc_free(ev);
		return 1;
	}
	printf("client: served by pid %d (parent %d)\n", (int)c->server.pid,
	       (int)c->server.ppid);
	if (strcmp(test, "messages") == 0) {
		ret = test_messages(c);
	} else if (strcmp(test, "stream") == 0) {
		ret = test_stream(c);
	} else if (strcmp(test, "rdma") == 0) {
		ret = test_rdma(c);
	} else if (strcmp(test, "invalidate") == 0) {
		ret = test_invalidate(c);
	} else if (strcmp(test, "rkey-reuse") == 0) {
		ret = test_rkey_reuse(c);
	} else if (strcmp(test, "exposure") == 0) {
		ret = test_exposure(c);
	} else if (strcmp(test, "bounds-low") == 0) {
		ret = test_bounds(c, -1);
	} else if (strcmp(test, "bounds-high") == 0) {
		ret = test_bounds(c, 1);
	} else if (strcmp(test, "idle") == 0) {
		ret = test_idle(c);
	} else if (strcmp(test, "keepalive") == 0) {
		ret = test_keepalive(c);
	} else if (strcmp(test, "negotiate") == 0) {
		ret = test_negotiate(c);
	} else if (strcmp(test, "identity") == 0) {
		ret = test_identity(c);
	} else {
		fprintf(stderr, "client: unknown test %s\n", test);
		ret = 2;
	}
	print_stats(c, "at the end");
	if (!c->ended) {
		uint8_t q = 'Q';
		struct iovec iov = {.iov_base = &q, .iov_len = 1};

		/* The server ends the connection on 'Q'. */
		req = smbdirect_send_send(c, ev, c->conn, &iov, 1);
		if (req != NULL && run_until(ev, req_finished, req, WAIT_MS)) {
			smbdirect_send_recv(req);
		}
		talloc_free(req);
		if (!run_until(ev, has_ended, c, 10000)) {
			fprintf(stderr, "client: the server did not end the "
					"connection after Q\n");
			ret = 1;
		}
	}
	if (busy_poll) {
		printf("client: %llu completions taken by busy polling\n",
		       (unsigned long long)c->busy_polled);
	}
	if (switch_identity) {
		printf("client: %llu identity switches (thread mode %s); "
		       "connection ended: %s (%s)\n",
		       (unsigned long long)identity_switches,
		       smbdirect_thread_mode_string(
			       smbdirect_get_thread_mode()),
		       smbdirect_reason_string(c->reason), c->detail);
	}
	/* The teardown, as the user too. */
	become_user();
	talloc_free(ev);
	unbecome_user();
	return ret;
}

static long parse_number(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 0);

	if (end == s || *end != '\0' || v < 0) {
		fprintf(stderr, "sdtest: bad number %s\n", s);
		exit(2);
	}
	return v;
}

/* --signal-every-ms: SIGALRM at that period (a handler without
 * SA_RESTART), so that the library's waits and syscalls get interrupted
 * as they would in a process with timers or children. Interval timers
 * are not inherited by fork(): in fork mode only the listener gets them. */
static void on_alarm(int signum)
{
	(void)signum;
	alarms++;
}

static int start_signal_timer(void)
{
	struct sigaction sa;
	struct itimerval it;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	memset(&it, 0, sizeof(it));
	it.it_interval.tv_sec = (time_t)(signal_every_ms / 1000);
	it.it_interval.tv_usec = (suseconds_t)(signal_every_ms % 1000) * 1000;
	it.it_value = it.it_interval;
	if (sigaction(SIGALRM, &sa, NULL) != 0 ||
	    setitimer(ITIMER_REAL, &it, NULL) != 0) {
		fprintf(stderr, "sdtest: signal timer: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	enum fork_mode fork_mode = FORK_NONE;
	int expect = 1;
	int first = 4;
	int i;

	if (argc < 4 || parse_addr(argv[2], argv[3], &ss) != 0) {
		fprintf(stderr, "usage: sdtest server|client ADDR PORT ...\n");
		return 2;
	}
	if (strcmp(argv[1], "client") == 0) {
		first = 5;
	}
	for (i = first; i < argc; i++) {
		if (strcmp(argv[i], "--fork") == 0) {
			fork_mode = FORK_LIBRARY;
		} else if (strcmp(argv[i], "--host-fork") == 0) {
			fork_mode = FORK_HOST;
		} else if (strcmp(argv[i], "--child-thread-mode") == 0 &&
			   i + 1 < argc) {
			i++;
			child_thread_mode_set = true;
			child_thread_mode = strcmp(argv[i], "rdma") == 0
						    ? SMBDIRECT_THREAD_MODE_RDMA_THREAD
						    : SMBDIRECT_THREAD_MODE_CALLER;
		} else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
			window_opt = parse_number(argv[++i]);
			if (window_opt == 0 || window_opt > 4096) {
				fprintf(stderr, "--window: 1..4096\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--small") == 0) {
			small_sizes = true;
		} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
			count_opt = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--connections") == 0 &&
			   i + 1 < argc) {
			expect = (int)parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--keepalive-ms") == 0 &&
			   i + 1 < argc) {
			keepalive_ms = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--keepalive-timeout-ms") == 0 &&
			   i + 1 < argc) {
			keepalive_timeout_ms = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc) {
			idle_ms = (uint32_t)parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
			repeat = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--max-size") == 0 && i + 1 < argc) {
			max_size_opt = (uint32_t)parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--max-half-open") == 0 &&
			   i + 1 < argc) {
			max_half_open = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--max-half-open-per-peer") == 0 &&
			   i + 1 < argc) {
			max_half_open_per_peer = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--heap-report") == 0) {
			heap_report = true;
		} else if (strcmp(argv[i], "--busy-poll") == 0) {
			busy_poll = true;
		} else if (strcmp(argv[i], "--signal-every-ms") == 0 &&
			   i + 1 < argc) {
			signal_every_ms = parse_number(argv[++i]);
		} else if (strcmp(argv[i], "--switch-identity") == 0) {
			switch_identity = true;
		} else if (strcmp(argv[i], "--thread-mode") == 0 &&
			   i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "rdma") == 0) {
				thread_mode = SMBDIRECT_THREAD_MODE_RDMA_THREAD;
			} else if (strcmp(argv[i], "caller") == 0) {
				thread_mode = SMBDIRECT_THREAD_MODE_CALLER;
			} else {
				fprintf(stderr, "sdtest: thread mode is caller "
						"or rdma\n");
				return 2;
			}
		} else {
			fprintf(stderr, "sdtest: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (count_opt >= 0) {
		count = (uint32_t)count_opt;
	} else if (argc > 4 && strcmp(argv[4], "stream") == 0) {
		count = 100;
	}
	/* Line-buffered: a forked child's output neither doubles nor gets
	 * lost, and logs interleave in order. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	/* While still root with the credentials every rdma fd will carry. */
	i = smbdirect_set_thread_mode(thread_mode);
	if (i != 0) {
		fprintf(stderr, "sdtest: thread mode %s: %s\n",
			smbdirect_thread_mode_string(thread_mode), strerror(i));
		return 1;
	}
	if (signal_every_ms > 0 && start_signal_timer() != 0) {
		return 1;
	}
	if (strcmp(argv[1], "server") == 0) {
		return run_server((struct sockaddr *)&ss, fork_mode, expect);
	}
	if (strcmp(argv[1], "client") == 0 && argc >= 5) {
		long r;
		int failed = 0;

		for (r = 0; r < repeat; r++) {
			failed += run_client((struct sockaddr *)&ss, argv[4]) != 0;
		}
		i = failed > 0 ? 1 : 0;
		if (signal_every_ms > 0) {
			printf("client: %d SIGALRM caught\n", (int)alarms);
		}
		return i;
	}
	fprintf(stderr, "usage: sdtest server|client ADDR PORT ...\n");
	return 2;
}
