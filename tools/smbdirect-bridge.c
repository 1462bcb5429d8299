/*
 * smbdirect-bridge: put SMB-Direct in front of any SMB server, and let
 * stock TCP SMB clients speak SMB-Direct (docs/tools/smbdirect-bridge.md).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 *   forward:  TCP client --TCP--> bridge --SMB-Direct--> SMB-Direct server
 *   reverse:  SMB-Direct client --SMB-Direct--> bridge --TCP--> TCP server
 *
 * One process per connection: the parent only listens (a TCP socket, or
 * an rdma_cm id with no QP) and forks; each child owns its socket and its
 * RDMA resources (docs/architecture.md, "Fork-per-connection"). This file
 * is the options, the listener and one connection's set-up; the relay is
 * in tools/bridge/ (relay.c, with one file per direction: forward.c and
 * reverse.c), the SMB2 rewriting in tools/bridge/smb2.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <talloc.h>
#include <tevent.h>

#include "bridge/relay.h"
#include "common/addr.h"
#include "smbdirect.h"
#include "smbdirect_rdma.h"

#define MIB (1024u * 1024u)
#define CONNECT_TIMEOUT_MS 5000
#define MAX_CHILDREN_LIMIT 4096

struct options {
	enum br_mode mode;
	bool mode_set;
	const char *listen_addr;
	uint16_t listen_port;
	const char *connect_addr;
	uint16_t connect_port;
	unsigned int max_connections;
	bool once;
	struct br_config cfg;
};

/* The parent's state: listener, children, signal events. */
struct parent {
	struct tevent_context *ev;
	struct options *opt;
	pid_t *children;
	unsigned int nchildren;
	uint64_t accepted;
	uint64_t refused;
	bool stop;
	int listen_fd;
	/* set in a forked child */
	bool in_child;
	int child_fd;
	char child_peer[INET6_ADDRSTRLEN + 16];
	struct tevent_context *child_ev;
	struct smbdirect_conn_request *child_request;
	struct tevent_signal *signals[4];
};

static void tune_socket(int fd)
{
	int one = 1;
	int flags = fcntl(fd, F_GETFL);

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (flags >= 0) {
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	}
}

/* A blocking connect bounded by SO_SNDTIMEO; the socket then becomes
 * non-blocking. */
static int tcp_connect(const struct options *opt, char *peer, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_MS / 1000};
	int fd;

	if (!addr_resolve(opt->connect_addr, opt->connect_port, false, &ss, &len,
			  br_log)) {
		return -1;
	}
	addr_string((struct sockaddr *)&ss, peer, size);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	tune_socket(fd);
	return fd;
}

static void settings_summary(const struct smbdirect_conn *conn, char *buf,
			     size_t size)
{
	const struct smbdirect_params *p = smbdirect_conn_params(conn);

	snprintf(buf, size,
		 "max_send %u max_receive %u max_fragmented %u/%u "
		 "max_read_write %u credits %u",
		 p->max_send_size, p->max_receive_size,
		 p->max_fragmented_send_size, p->max_fragmented_receive_size,
		 p->max_read_write_size, p->receive_credit_target);
}

/* --- one connection (in a child, or in process with --once) ---------------- */

struct child_state {
	struct br_relay *relay;
};

static void child_signal(struct tevent_context *ev, struct tevent_signal *se,
			 int signum, int count, void *siginfo, void *priv)
{
	struct child_state *cs = priv;

	(void)ev;
	(void)se;
	(void)count;
	(void)siginfo;
	if (cs->relay == NULL) {
		return;
	}
	if (signum == SIGUSR1) {
		br_relay_log_stats(cs->relay, "SIGUSR1");
		return;
	}
	br_relay_stop(cs->relay, signum == SIGTERM ? "terminated (SIGTERM)"
						    : "interrupted (SIGINT)");
}

/* Relay until the end; frees the relay, then the connection. */
static int relay_run(struct tevent_context *ev, const struct options *opt,
		     int fd, struct smbdirect_conn *conn, const char *name)
{
	struct child_state cs = {.relay = NULL};
	TALLOC_CTX *tmp = talloc_new(ev);
	char params[200];

	if (tmp == NULL ||
	    tevent_add_signal(ev, tmp, SIGUSR1, 0, child_signal, &cs) == NULL ||
	    tevent_add_signal(ev, tmp, SIGTERM, 0, child_signal, &cs) == NULL ||
	    tevent_add_signal(ev, tmp, SIGINT, 0, child_signal, &cs) == NULL) {
		close(fd);
		talloc_free(conn);
		return 1;
	}
	settings_summary(conn, params, sizeof(params));
	br_log("%s: relaying (SMB-Direct %s)", name, params);
	cs.relay = br_relay_start(tmp, ev, &opt->cfg, fd, conn, name);
	if (cs.relay == NULL) {
		br_log("%s: out of memory", name);
		talloc_free(tmp);
		talloc_free(conn);
		return 1;
	}
	while (!br_relay_ended(cs.relay)) {
		if (tevent_loop_once(ev) != 0) {
			br_relay_stop(cs.relay, "event loop failed");
		}
	}
	TALLOC_FREE(cs.relay);
	talloc_free(tmp);
	talloc_free(conn);
	return 0;
}

/* Forward: a TCP client is in; connect to the SMB-Direct peer. */
static int forward_connection(struct tevent_context *ev,
			      const struct options *opt, int fd,
			      const char *client)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct tevent_req *req;
	struct smbdirect_conn *conn = NULL;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	char peer[INET6_ADDRSTRLEN + 16];
	char name[160];
	int ret;

	if (!addr_resolve(opt->connect_addr, opt->connect_port, false, &ss, &len,
			  br_log)) {
		close(fd);
		return 1;
	}
	addr_string((struct sockaddr *)&ss, peer, sizeof(peer));
	snprintf(name, sizeof(name), "tcp %s -> smbdirect %s", client, peer);
	req = smbdirect_connect_send(ev, ev, (struct sockaddr *)&ss, NULL,
				     &opt->cfg.settings, CONNECT_TIMEOUT_MS);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		br_log("%s: connection ended: cannot start connecting", name);
		close(fd);
		return 1;
	}
	ret = smbdirect_connect_recv(req, ev, &conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		br_log("%s: connection ended: connecting to the SMB-Direct peer "
		       "failed: %s (%s)",
		       name, strerror(ret), smbdirect_reason_string(reason));
		close(fd);
		return 1;
	}
	return relay_run(ev, opt, fd, conn, name);
}

/* Reverse: an SMB-Direct request is in; connect to the TCP server first,
 * so that a client of a dead server sees a reject. */
static int reverse_connection(struct tevent_context *ev,
			      const struct options *opt,
			      struct smbdirect_conn_request *request)
{
	char server[INET6_ADDRSTRLEN + 16] = "?";
	char name[160];
	struct tevent_req *req;
	struct smbdirect_conn *conn = NULL;
	enum smbdirect_reason reason = SMBDIRECT_REASON_NONE;
	int fd;
	int ret;

	snprintf(name, sizeof(name), "smbdirect %s -> tcp %s:%u",
		 smbdirect_conn_request_peer(request), opt->connect_addr,
		 opt->connect_port);
	fd = tcp_connect(opt, server, sizeof(server));
	if (fd < 0) {
		br_log("%s: connection ended: connecting to the TCP server: "
		       "%s; rejecting the SMB-Direct client",
		       name, strerror(errno));
		talloc_free(request);
		return 1;
	}
	snprintf(name, sizeof(name), "smbdirect %s -> tcp %s",
		 smbdirect_conn_request_peer(request), server);
	req = smbdirect_accept_send(ev, ev, request, &opt->cfg.settings);
	if (req == NULL || !tevent_req_poll(req, ev)) {
		br_log("%s: connection ended: cannot accept", name);
		close(fd);
		return 1;
	}
	ret = smbdirect_accept_recv(req, ev, &conn, &reason);
	talloc_free(req);
	if (ret != 0) {
		br_log("%s: connection ended: SMB-Direct accept failed: %s (%s)",
		       name, strerror(ret), smbdirect_reason_string(reason));
		close(fd);
		return 1;
	}
	return relay_run(ev, opt, fd, conn, name);
}

/* --- the parent ------------------------------------------------------------------ */

static void forget_child(struct parent *p, pid_t pid)
{
	unsigned int i;

	for (i = 0; i < p->nchildren; i++) {
		if (p->children[i] == pid) {
			p->children[i] = p->children[--p->nchildren];
			return;
		}
	}
}

static void parent_signal(struct tevent_context *ev, struct tevent_signal *se,
			  int signum, int count, void *siginfo, void *priv)
{
	struct parent *p = priv;
	unsigned int i;
	int status;
	pid_t pid;

	(void)ev;
	(void)se;
	(void)count;
	(void)siginfo;
	switch (signum) {
	case SIGCHLD:
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			forget_child(p, pid);
			if (WIFSIGNALED(status)) {
				br_log("connection process %d killed by signal "
				       "%d",
				       (int)pid, WTERMSIG(status));
			} else if (WEXITSTATUS(status) != 0 ||
				   p->opt->cfg.verbose > 0) {
				br_log("connection process %d exited %d",
				       (int)pid, WEXITSTATUS(status));
			}
		}
		break;
	case SIGUSR1:
		br_log("listener: %" PRIu64 " connections accepted, %u active, "
		       "%" PRIu64 " refused; asking each for its counters",
		       p->accepted, p->nchildren, p->refused);
		for (i = 0; i < p->nchildren; i++) {
			kill(p->children[i], SIGUSR1);
		}
		break;
	default:
		br_log("listener: stopping on signal %d; ending %u connections",
		       signum, p->nchildren);
		for (i = 0; i < p->nchildren; i++) {
			kill(p->children[i], SIGTERM);
		}
		p->stop = true;
		break;
	}
}

static bool parent_signals(struct parent *p)
{
	static const int sigs[4] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT};
	unsigned int i;

	for (i = 0; i < 4; i++) {
		p->signals[i] = tevent_add_signal(p->ev, p->ev, sigs[i], 0,
						  parent_signal, p);
		if (p->signals[i] == NULL) {
			return false;
		}
	}
	return true;
}

/* In a new child: drop the parent's signal handlers. */
static void child_detach(struct parent *p)
{
	unsigned int i;

	for (i = 0; i < 4; i++) {
		TALLOC_FREE(p->signals[i]);
	}
	p->in_child = true;
}

static bool room_for_child(struct parent *p, const char *peer)
{
	if (p->nchildren < p->opt->max_connections) {
		return true;
	}
	p->refused += 1;
	br_log("%s: refused: %u connections already (--max-connections)", peer,
	       p->nchildren);
	return false;
}

/* Fork bookkeeping shared by both modes: returns the fork() result. */
static void child_started(struct parent *p, pid_t pid, const char *peer)
{
	p->accepted += 1;
	p->children[p->nchildren++] = pid;
	if (p->opt->cfg.verbose > 0) {
		br_log("%s: served by process %d", peer, (int)pid);
	}
}

static void tcp_accept_handler(struct tevent_context *ev,
			       struct tevent_fd *fde, uint16_t flags,
			       void *priv)
{
	struct parent *p = priv;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char peer[INET6_ADDRSTRLEN + 16];
	int fd;
	pid_t pid;

	(void)ev;
	(void)flags;
	(void)fde;
	fd = accept4(p->listen_fd, (struct sockaddr *)&ss, &len,
		     SOCK_CLOEXEC);
	if (fd < 0) {
		return;
	}
	addr_string((struct sockaddr *)&ss, peer, sizeof(peer));
	if (!p->opt->once && !room_for_child(p, peer)) {
		close(fd);
		return;
	}
	tune_socket(fd);
	if (p->opt->once) {
		p->child_fd = fd;
		snprintf(p->child_peer, sizeof(p->child_peer), "%s", peer);
		p->in_child = true;
		return;
	}
	pid = fork();
	if (pid < 0) {
		br_log("%s: fork failed: %s", peer, strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		child_detach(p);
		p->child_fd = fd;
		snprintf(p->child_peer, sizeof(p->child_peer), "%s", peer);
		return;
	}
	close(fd);
	child_started(p, pid, peer);
}

static void sd_request_handler(struct smbdirect_listener *listener,
			       struct smbdirect_conn_request *request,
			       void *priv)
{
	struct parent *p = priv;
	char peer[INET6_ADDRSTRLEN + 16];
	pid_t pid;

	snprintf(peer, sizeof(peer), "%s",
		 smbdirect_conn_request_peer(request));
	if (p->opt->once) {
		p->child_ev = p->ev;
		p->child_request = request;
		p->in_child = true;
		return;
	}
	if (!room_for_child(p, peer)) {
		talloc_free(request);
		return;
	}
	pid = smbdirect_listener_fork(listener, request, &p->child_ev,
				      &p->child_request);
	if (pid == 0) {
		child_detach(p);
		return;
	}
	if (pid < 0) {
		br_log("%s: fork failed: %s", peer, strerror(errno));
		return;
	}
	child_started(p, pid, peer);
}

static int tcp_listen(const struct options *opt)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	int fd;

	if (!addr_resolve(opt->listen_addr, opt->listen_port, true, &ss, &len,
			  br_log)) {
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 64) != 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

static bool start_listener(struct parent *p, int *listen_fd)
{
	const struct options *opt = p->opt;
	struct smbdirect_listener *listener = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	int ret;

	if (opt->mode == BR_FORWARD) {
		*listen_fd = tcp_listen(opt);
		p->listen_fd = *listen_fd;
		if (*listen_fd < 0 ||
		    tevent_add_fd(p->ev, p->ev, *listen_fd, TEVENT_FD_READ,
				  tcp_accept_handler, p) == NULL) {
			br_log("forward: listening on TCP %s port %u: %s",
			       opt->listen_addr, opt->listen_port,
			       strerror(errno));
			return false;
		}
		br_log("forward: listening on TCP %s port %u; SMB-Direct peer "
		       "%s port %u%s",
		       opt->listen_addr, opt->listen_port, opt->connect_addr,
		       opt->connect_port,
		       opt->once ? " (one connection)"
				 : " (a process per connection)");
		return true;
	}
	if (!addr_resolve(opt->listen_addr, opt->listen_port, true, &ss, &len,
			  br_log)) {
		return false;
	}
	ret = smbdirect_listen(p->ev, p->ev, (struct sockaddr *)&ss, 64,
			       sd_request_handler, p, &listener);
	if (ret != 0) {
		br_log("reverse: listening for SMB-Direct on %s port %u: %s",
		       opt->listen_addr, opt->listen_port, strerror(ret));
		return false;
	}
	br_log("reverse: listening for SMB-Direct on %s port %u; TCP server "
	       "%s port %u%s",
	       opt->listen_addr, opt->listen_port, opt->connect_addr,
	       opt->connect_port,
	       opt->once ? " (one connection)" : " (a process per connection)");
	return true;
}

static int serve_child(struct parent *p, int listen_fd)
{
	struct tevent_context *ev;

	if (listen_fd >= 0) {
		close(listen_fd);
	}
	if (p->opt->mode == BR_REVERSE) {
		return reverse_connection(p->child_ev, p->opt,
					  p->child_request);
	}
	ev = p->opt->once ? p->ev : tevent_context_init(NULL);
	if (ev == NULL) {
		close(p->child_fd);
		return 1;
	}
	return forward_connection(ev, p->opt, p->child_fd, p->child_peer);
}

static int run(struct options *opt)
{
	struct parent p;
	int listen_fd = -1;
	int ret = 0;

	memset(&p, 0, sizeof(p));
	p.opt = opt;
	p.ev = tevent_context_init(NULL);
	p.children = calloc(opt->max_connections, sizeof(pid_t));
	if (p.ev == NULL || p.children == NULL ||
	    (!opt->once && !parent_signals(&p)) ||
	    !start_listener(&p, &listen_fd)) {
		free(p.children);
		talloc_free(p.ev);
		return 1;
	}
	while (!p.stop) {
		if (tevent_loop_once(p.ev) != 0) {
			ret = 1;
			break;
		}
		if (p.in_child) {
			ret = serve_child(&p, listen_fd);
			if (!opt->once) {
				_exit(ret);
			}
			break;
		}
	}
	if (listen_fd >= 0 && !p.in_child) {
		close(listen_fd);
	}
	free(p.children);
	talloc_free(p.ev);
	return ret;
}

/* --- options ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  smbdirect-bridge --forward [OPTIONS] -c SMBDIRECT-PEER\n"
		"      TCP SMB clients on -l/-p reach an SMB-Direct server\n"
		"  smbdirect-bridge --reverse [OPTIONS] [-c TCP-SERVER]\n"
		"      SMB-Direct clients on -l/-p reach a TCP SMB server\n"
		"\n"
		"Endpoints:\n"
		"  -f, --forward            TCP in, SMB-Direct out\n"
		"  -r, --reverse            SMB-Direct in, TCP out\n"
		"  -l, --listen=ADDR        listen address (forward: 127.0.0.1,"
		" reverse: 0.0.0.0)\n"
		"  -p, --port=PORT          listen port (forward: 4455, "
		"reverse: %u)\n"
		"  -c, --connect=ADDR       peer (forward: required; reverse: "
		"127.0.0.1)\n"
		"  -P, --connect-port=PORT  peer port (forward: %u; reverse: "
		"445)\n"
		"      --once               serve one connection in this "
		"process, then exit\n"
		"      --max-connections=N  concurrent connections (default "
		"256)\n"
		"\n"
		"SMB-Direct settings ([MS-SMBD] 3.1.1.1):\n"
		"      --small              the smallest legal sizes: "
		"MaxReceiveSize and send\n"
		"                           size 128, MaxFragmentedSize 131072\n"
		"      --max-send-size=N    --max-receive-size=N\n"
		"      --max-fragmented-size=N (default 16M)\n"
		"      --max-read-write-size=N (default 8M)\n"
		"      --credits=N          receive credits and send credit "
		"target (default 255)\n"
		"      --keepalive-interval=MS  idle time before a keepalive "
		"(default 120000; 0: none)\n"
		"      --keepalive-timeout=MS   how long a keepalive may go "
		"unanswered (default 5000)\n"
		"\n"
		"SMB2 handling:\n"
		"      --rdma-threshold=N   forward: unsigned READ/WRITEs of N "
		"bytes or more go\n"
		"                           over the RDMA channel (default 0: "
		"only those too\n"
		"                           large to go inline)\n"
		"      --no-clamp           forward: never lower the sizes in "
		"NEGOTIATE responses\n"
		"      --allow-encrypted    reverse: pass encrypted/compressed "
		"messages unchecked\n"
		"\n"
		"Bounds on what a peer controls:\n"
		"      --max-frame=N        largest Direct TCP frame (default "
		"16M-1)\n"
		"      --max-queue=N        bytes queued towards one side "
		"(default 256M)\n"
		"      --max-rdma-memory=N  registered staging memory per "
		"connection (default 256M)\n"
		"      --max-descriptors=N  buffer descriptors per request "
		"(default 32)\n"
		"      --max-pending=N      RDMA READ/WRITEs in flight per "
		"connection (default 512)\n"
		"\n"
		"  -v, --verbose            more logs (twice: every RDMA "
		"I/O)\n"
		"  -h, --help               this text\n"
		"  -V, --version            the library version\n"
		"\n"
		"Counters go to stderr at each connection's end and on "
		"SIGUSR1.\n"
		"Numbers take K, M and G suffixes.\n",
		SMBDIRECT_DEFAULT_PORT, SMBDIRECT_DEFAULT_PORT);
}

static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || s[0] == '-') {
		return false;
	}
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	} else if (*end == 'G' || *end == 'g') {
		v *= 1024ull * 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

enum {
	OPT_ONCE = 256,
	OPT_MAX_CONNECTIONS,
	OPT_SMALL,
	OPT_MAX_SEND,
	OPT_MAX_RECEIVE,
	OPT_MAX_FRAGMENTED,
	OPT_MAX_RW,
	OPT_CREDITS,
	OPT_KEEPALIVE_INTERVAL,
	OPT_KEEPALIVE_TIMEOUT,
	OPT_RDMA_THRESHOLD,
	OPT_NO_CLAMP,
	OPT_ALLOW_ENCRYPTED,
	OPT_MAX_FRAME,
	OPT_MAX_QUEUE,
	OPT_MAX_RDMA_MEMORY,
	OPT_MAX_DESCRIPTORS,
	OPT_MAX_PENDING,
};

static void defaults(struct options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->max_connections = 256;
	smbdirect_settings_default(&opt->cfg.settings);
	opt->cfg.settings.max_fragmented_size = 16 * MIB;
	opt->cfg.max_frame = 0xFFFFFF;
	opt->cfg.max_queue = 256 * MIB;
	opt->cfg.max_rdma_memory = 256 * MIB;
	/* Windows clients send up to 31 buffer descriptors ([MS-SMBD]
	 * 2.2.3.1) per WRITE: 32 must work. The library queues RDMA
	 * operations beyond the initiator depth (test_hostile_32_descriptors). */
	opt->cfg.max_descs = 32;
	opt->cfg.max_pending = 512;
	opt->cfg.corrupt = getenv("SMBDIRECT_BRIDGE_CORRUPT") != NULL;
}

/* A numeric option: false (with a message) if out of range. */
static bool numeric_option(struct options *opt, int ch, const char *arg)
{
	struct smbdirect_settings *s = &opt->cfg.settings;
	uint64_t v;
	uint64_t max = ch == OPT_MAX_QUEUE || ch == OPT_MAX_RDMA_MEMORY
			       ? (uint64_t)64 << 30
			       : UINT32_MAX;

	if (!parse_num(arg, 0, max, &v)) {
		fprintf(stderr, "smbdirect-bridge: bad number '%s'\n", arg);
		return false;
	}
	switch (ch) {
	case 'p':
	case 'P':
		if (v == 0 || v > 65535) {
			fprintf(stderr, "smbdirect-bridge: bad port %s\n", arg);
			return false;
		}
		*(ch == 'p' ? &opt->listen_port : &opt->connect_port) =
			(uint16_t)v;
		return true;
	case OPT_MAX_CONNECTIONS:
		if (v == 0 || v > MAX_CHILDREN_LIMIT) {
			fprintf(stderr, "smbdirect-bridge: --max-connections "
					"1..%u\n",
				MAX_CHILDREN_LIMIT);
			return false;
		}
		opt->max_connections = (unsigned int)v;
		return true;
	case OPT_MAX_SEND:
		s->max_send_size = (uint32_t)v;
		return true;
	case OPT_MAX_RECEIVE:
		s->max_receive_size = (uint32_t)v;
		return true;
	case OPT_MAX_FRAGMENTED:
		s->max_fragmented_size = (uint32_t)v;
		return true;
	case OPT_MAX_RW:
		s->max_read_write_size = (uint32_t)v;
		return true;
	case OPT_CREDITS:
		if (v > UINT16_MAX) {
			v = 0; /* rejected by the settings check */
		}
		s->receive_credit_max = (uint16_t)v;
		s->send_credit_target = (uint16_t)v;
		return true;
	case OPT_KEEPALIVE_INTERVAL:
		s->keepalive_interval_ms = (uint32_t)v;
		return true;
	case OPT_KEEPALIVE_TIMEOUT:
		s->keepalive_timeout_ms = (uint32_t)v;
		return true;
	case OPT_RDMA_THRESHOLD:
		opt->cfg.rdma_threshold = (uint32_t)v;
		return true;
	case OPT_MAX_FRAME:
		if (v < 64 || v > 0xFFFFFF) {
			fprintf(stderr, "smbdirect-bridge: --max-frame "
					"64..16777215\n");
			return false;
		}
		opt->cfg.max_frame = (uint32_t)v;
		return true;
	case OPT_MAX_QUEUE:
	case OPT_MAX_RDMA_MEMORY:
		if (v < MIB) {
			fprintf(stderr, "smbdirect-bridge: at least 1M\n");
			return false;
		}
		*(ch == OPT_MAX_QUEUE ? &opt->cfg.max_queue
				      : &opt->cfg.max_rdma_memory) = v;
		return true;
	case OPT_MAX_DESCRIPTORS:
	case OPT_MAX_PENDING:
		if (v == 0 || v > 4096) {
			fprintf(stderr, "smbdirect-bridge: 1..4096\n");
			return false;
		}
		*(ch == OPT_MAX_DESCRIPTORS ? &opt->cfg.max_descs
					    : &opt->cfg.max_pending) =
			(size_t)v;
		return true;
	default:
		return false;
	}
}

static const struct option longopts[] = {
	{"forward", no_argument, NULL, 'f'},
	{"reverse", no_argument, NULL, 'r'},
	{"listen", required_argument, NULL, 'l'},
	{"port", required_argument, NULL, 'p'},
	{"connect", required_argument, NULL, 'c'},
	{"connect-port", required_argument, NULL, 'P'},
	{"once", no_argument, NULL, OPT_ONCE},
	{"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
	{"small", no_argument, NULL, OPT_SMALL},
	{"max-send-size", required_argument, NULL, OPT_MAX_SEND},
	{"max-receive-size", required_argument, NULL, OPT_MAX_RECEIVE},
	{"max-fragmented-size", required_argument, NULL, OPT_MAX_FRAGMENTED},
	{"max-read-write-size", required_argument, NULL, OPT_MAX_RW},
	{"credits", required_argument, NULL, OPT_CREDITS},
	{"keepalive-interval", required_argument, NULL,
	 OPT_KEEPALIVE_INTERVAL},
	{"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
	{"rdma-threshold", required_argument, NULL, OPT_RDMA_THRESHOLD},
	{"no-clamp", no_argument, NULL, OPT_NO_CLAMP},
	{"allow-encrypted", no_argument, NULL, OPT_ALLOW_ENCRYPTED},
	{"max-frame", required_argument, NULL, OPT_MAX_FRAME},
	{"max-queue", required_argument, NULL, OPT_MAX_QUEUE},
	{"max-rdma-memory", required_argument, NULL, OPT_MAX_RDMA_MEMORY},
	{"max-descriptors", required_argument, NULL, OPT_MAX_DESCRIPTORS},
	{"max-pending", required_argument, NULL, OPT_MAX_PENDING},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* 0: go on; otherwise the exit status + 1. */
static int parse_option(struct options *opt, int ch, const char *arg)
{
	switch (ch) {
	case 'f':
	case 'r':
		if (opt->mode_set && opt->mode != (ch == 'f' ? BR_FORWARD
							      : BR_REVERSE)) {
			fprintf(stderr, "smbdirect-bridge: --forward or "
					"--reverse, not both\n");
			return 3;
		}
		opt->mode = ch == 'f' ? BR_FORWARD : BR_REVERSE;
		opt->mode_set = true;
		return 0;
	case 'l':
		opt->listen_addr = arg;
		return 0;
	case 'c':
		opt->connect_addr = arg;
		return 0;
	case OPT_ONCE:
		opt->once = true;
		return 0;
	case OPT_SMALL:
		/* [MS-SMBD] 3.1.5.6: the smallest sizes a peer must accept. */
		opt->cfg.settings.max_send_size = 128;
		opt->cfg.settings.max_receive_size = 128;
		opt->cfg.settings.max_fragmented_size = 131072;
		return 0;
	case OPT_NO_CLAMP:
		opt->cfg.no_clamp = true;
		return 0;
	case OPT_ALLOW_ENCRYPTED:
		opt->cfg.allow_opaque = true;
		return 0;
	case 'v':
		opt->cfg.verbose++;
		return 0;
	case 'h':
		usage(stdout);
		return 1;
	case 'V':
		printf("smbdirect-bridge (libsmbdirect %s)\n",
		       smbdirect_version_string());
		return 1;
	default:
		if (ch == '?' || !numeric_option(opt, ch, arg)) {
			if (ch == '?') {
				usage(stderr);
			}
			return 3;
		}
		return 0;
	}
}

static bool finish_options(struct options *opt)
{
	const char *why = NULL;

	if (!opt->mode_set) {
		fprintf(stderr, "smbdirect-bridge: --forward or --reverse is "
				"required (see --help)\n");
		return false;
	}
	if (opt->mode == BR_FORWARD) {
		if (opt->connect_addr == NULL) {
			fprintf(stderr, "smbdirect-bridge: --forward needs "
					"-c SMBDIRECT-PEER\n");
			return false;
		}
		opt->listen_addr = opt->listen_addr ? opt->listen_addr
						    : "127.0.0.1";
		opt->listen_port = opt->listen_port ? opt->listen_port : 4455;
		opt->connect_port = opt->connect_port ? opt->connect_port
						      : SMBDIRECT_DEFAULT_PORT;
	} else {
		opt->listen_addr = opt->listen_addr ? opt->listen_addr
						    : "0.0.0.0";
		opt->listen_port = opt->listen_port ? opt->listen_port
						    : SMBDIRECT_DEFAULT_PORT;
		opt->connect_addr = opt->connect_addr ? opt->connect_addr
						      : "127.0.0.1";
		opt->connect_port = opt->connect_port ? opt->connect_port : 445;
	}
	opt->cfg.mode = opt->mode;
	if (!smbdirect_settings_validate(&opt->cfg.settings, &why)) {
		fprintf(stderr, "smbdirect-bridge: SMB-Direct setting out of "
				"range: %s\n",
			why);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct options opt;
	int ch;

	defaults(&opt);
	while ((ch = getopt_long(argc, argv, "frl:p:c:P:vhV", longopts,
				 NULL)) != -1) {
		int ret = parse_option(&opt, ch, optarg);

		if (ret != 0) {
			return ret - 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "smbdirect-bridge: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!finish_options(&opt)) {
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	return run(&opt);
}
