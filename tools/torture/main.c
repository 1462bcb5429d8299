/*
 * smbdirect-torture: options, the run of the chosen entries (each on a
 * fresh connection, each followed, as the client, by a good connection
 * that must still be served), the outcome of each against what a
 * conforming endpoint does, and the report (docs/tools/
 * smbdirect-torture.md).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/addr.h"
#include "torture.h"

static const char *const outcome_names[OUT_COUNT] = {
	[OUT_ENDED] = "ended",
	[OUT_REFUSED] = "refused",
	[OUT_ANSWERED] = "answered",
	[OUT_NOTHING] = "nothing",
	[OUT_REJECTED] = "rejected",
	[OUT_SKIPPED] = "skipped",
	[OUT_ERROR] = "error",
};

void tlog(const struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (!r->verbose) {
		return;
	}
	va_start(ap, fmt);
	fprintf(stderr, "smbdirect-torture: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void report_addr(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void report_addr(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "smbdirect-torture: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

int run_connect(struct run *r, struct sd *s, char *detail, size_t size)
{
	int ret;

	memset(s, 0, sizeof(*s));
	ret = tp_connect(&s->ep, (struct sockaddr *)&r->dst,
			 r->src.ss_family != 0 ? (struct sockaddr *)&r->src
					       : NULL,
			 5000, detail, size);
	return ret == 0 ? 0 : -1;
}

int run_accept(struct run *r, struct sd *s, char *detail, size_t size)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->server = true;
	ret = tp_accept(r->listener, &s->ep, r->accept_ms);
	if (ret != 0) {
		if (r->listener->failed_accepts > 0) {
			snprintf(detail, size,
				 "no client within %d ms (%u requests could "
				 "not be accepted, the last: %s)",
				 r->accept_ms, r->listener->failed_accepts,
				 strerror(r->listener->last_accept_error));
		} else {
			snprintf(detail, size, "no client within %d ms",
				 r->accept_ms);
		}
		return -1;
	}
	if (r->listener->failed_accepts > 0 && r->verbose) {
		fprintf(stderr, "torture: %u connection requests could not be "
				"accepted so far (the last: %s)\n",
			r->listener->failed_accepts,
			strerror(r->listener->last_accept_error));
	}
	return 0;
}

int run_negotiate(struct run *r, struct sd *s, char *detail, size_t size)
{
	if (s->server) {
		struct smbdirect_negotiate_request req;
		struct smbdirect_negotiate_response rsp =
			sd_default_response(TP_RECV_SLOTS);
		uint8_t b[SMBDIRECT_NEGOTIATE_RESPONSE_SIZE];
		size_t len = 0;
		int got = sd_server_wait_request(s, &req, &len, r->wait_ms);

		if (got <= 0) {
			snprintf(detail, size, "no negotiate request (%s)",
				 got < 0 ? tp_end_string(s->ep) : "timeout");
			return -1;
		}
		smbdirect_negotiate_response_encode(&rsp, b, sizeof(b));
		if (sd_server_respond(s, &req, b, sizeof(b)) != IBV_WC_SUCCESS) {
			snprintf(detail, size, "our response failed (%s)",
				 tp_end_string(s->ep));
			return -1;
		}
		return 0;
	} else {
		struct smbdirect_negotiate_request req = sd_default_request();
		struct smbdirect_negotiate_response rsp;
		uint8_t b[SMBDIRECT_NEGOTIATE_REQUEST_SIZE];
		int got;

		smbdirect_negotiate_request_encode(&req, b, sizeof(b));
		got = sd_client_negotiate(s, b, sizeof(b), &rsp, r->wait_ms);
		if (got <= 0 || rsp.status != SMBDIRECT_STATUS_SUCCESS ||
		    s->send_credits == 0) {
			snprintf(detail, size, "negotiation failed (%s)",
				 got < 0 ? tp_end_string(s->ep)
					 : got == 0 ? "no response"
						    : "refused");
			return -1;
		}
		if (r->peer_max_read_write == 0) {
			r->peer_max_read_write = rsp.max_read_write_size;
		}
		return 0;
	}
}

enum outcome observe(struct run *r, struct sd *s, char *detail, size_t size)
{
	uint64_t t0 = tp_now();
	uint8_t *m;
	size_t len;
	int got;

	got = sd_recv_message(s, &m, &len, r->wait_ms);
	if (got > 0) {
		free(m);
		snprintf(detail, size, "%s a %zu-byte message after %llu ms",
			 s->server ? "the client went on:" : "answered with",
			 len, (unsigned long long)tp_ms_since(t0));
		return OUT_ANSWERED;
	}
	if (got < 0) {
		if (s->broken[0] != '\0') {
			snprintf(detail, size, "%s", s->broken);
			return OUT_ANSWERED;
		}
		snprintf(detail, size, "ended after %llu ms (%s)",
			 tp_end_ms(s->ep, t0),
			 tp_end_string(s->ep));
		return OUT_ENDED;
	}
	if (s->server) {
		snprintf(detail, size, "nothing within %d ms", r->wait_ms);
		return OUT_NOTHING;
	}
	/* Still up: does it still work? */
	got = sd_probe(s, r->probe, r->wait_ms);
	if (got > 0) {
		snprintf(detail, size, "the connection lived on (probe "
				       "answered)");
		return OUT_ANSWERED;
	}
	snprintf(detail, size, "%s within %d ms",
		 got < 0 ? "ended later (probe)" : "nothing, and no answer",
		 r->wait_ms);
	return got < 0 ? OUT_ENDED : OUT_NOTHING;
}

/* Is the endpoint still serving? A good connection and the probe. */
static bool alive(struct run *r)
{
	struct sd s;
	char why[160];
	bool ok = false;

	if (run_connect(r, &s, why, sizeof(why)) == 0 &&
	    run_negotiate(r, &s, why, sizeof(why)) == 0) {
		ok = sd_probe(&s, r->probe, r->wait_ms > 5000 ? r->wait_ms
							      : 5000) > 0;
	}
	if (s.ep != NULL) {
		sd_free(&s);
	}
	return ok;
}

static void expected_string(unsigned int set, char *buf, size_t size)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < OUT_COUNT; i++) {
		if ((set & O(i)) != 0) {
			used += (size_t)snprintf(buf + used, size - used, "%s%s",
						 used > 0 ? "|" : "",
						 outcome_names[i]);
			if (used >= size) {
				break;
			}
		}
	}
}

static bool selected(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	if (strcmp(list, "all") == 0) {
		return true;
	}
	while ((p = strstr(p, name)) != NULL) {
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
			return true;
		}
		p += n;
	}
	return false;
}

static int run_entries(struct run *r, const char *list, bool check_alive,
		       bool expect)
{
	const struct entry *e;
	int n = 0;
	int ok = 0;
	int differ = 0;
	int skipped = 0;
	int errors = 0;
	int dead = 0;
	int dead_in_a_row = 0;
	const char *first_dead = NULL;
	char target[80];

	addr_string((struct sockaddr *)&r->dst, target, sizeof(target));
	for (e = torture_entries; e->name != NULL; e++) {
		struct sd s;
		char detail[300] = "";
		char exp[80];
		enum outcome o;
		bool live = true;
		uint64_t t0 = tp_now();

		if (!selected(list, e->name)) {
			continue;
		}
		n++;
		if ((r->server && !e->server) || (!r->server && !e->client)) {
			printf("torture: %s: skipped (not playable as the %s)\n",
			       e->name, r->server ? "server" : "client");
			skipped++;
			fflush(stdout);
			continue;
		}
		if ((r->server ? run_accept(r, &s, detail, sizeof(detail))
			       : run_connect(r, &s, detail, sizeof(detail))) !=
		    0) {
			o = strstr(detail, "REJECTED") != NULL ? OUT_REJECTED
								: OUT_ERROR;
		} else {
			tlog(r, "%s: %s", e->name, e->what);
			o = e->play(r, &s, detail, sizeof(detail));
			sd_free(&s);
		}
		if (!r->server && check_alive) {
			live = alive(r);
			dead += !live;
			dead_in_a_row = live ? 0 : dead_in_a_row + 1;
			if (!live && first_dead == NULL) {
				first_dead = e->name;
			}
		}
		expected_string(e->expect, exp, sizeof(exp));
		if (o == OUT_SKIPPED) {
			skipped++;
		} else if (o == OUT_ERROR) {
			errors++;
		} else if ((e->expect & O(o)) != 0) {
			ok++;
		} else {
			differ++;
		}
		printf("torture: %s: %s (%s) [expected %s] %s%s (%llu ms)\n",
		       e->name, outcome_names[o], detail, exp,
		       o == OUT_SKIPPED || o == OUT_ERROR ? "-"
		       : (e->expect & O(o)) != 0	  ? "ok"
							  : "DIFFERS",
		       r->server || !check_alive ? ""
		       : live			 ? "; endpoint alive"
						 : "; endpoint NOT serving",
		       (unsigned long long)tp_ms_since(t0));
		fflush(stdout);
		if (dead_in_a_row == 2) {
			/* Gone for good, it seems: the rest would only time
			 * out one by one. */
			int left = 0;
			const struct entry *f;

			for (f = e + 1; f->name != NULL; f++) {
				left += selected(list, f->name) ? 1 : 0;
			}
			printf("torture: the endpoint served no good connection "
			       "after %s and after %s: the %d entries left are "
			       "not played\n",
			       first_dead, e->name, left);
			break;
		}
	}
	printf("torture: %d entries against %s as the %s: %d as expected, "
	       "%d differ, %d skipped, %d errors%s%s%s%s\n",
	       n, target, r->server ? "server" : "client", ok, differ, skipped,
	       errors,
	       r->server || !check_alive
		       ? ""
		       : dead == 0 ? "; the endpoint served after every entry"
				   : "; the endpoint STOPPED serving",
	       first_dead != NULL ? " (first after " : "",
	       first_dead != NULL ? first_dead : "",
	       first_dead != NULL ? ")" : "");
	if (dead > 0 || errors > 0) {
		return 1;
	}
	return expect && differ > 0 ? 1 : 0;
}

static void list_entries(void)
{
	const struct entry *e;

	for (e = torture_entries; e->name != NULL; e++) {
		char exp[80];

		expected_string(e->expect, exp, sizeof(exp));
		printf("%-26s %-13s %-16s %s\n", e->name,
		       e->client && e->server ? "client,server"
		       : e->client	      ? "client"
					      : "server",
		       exp, e->what);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smbdirect-torture [OPTIONS] ADDR PORT\n"
		"  Plays docs/robustness.md's catalogue against the SMB-Direct\n"
		"  endpoint at ADDR PORT (as the client), or, with --server,\n"
		"  listens at ADDR PORT and plays it against whoever connects.\n"
		"options:\n"
		"  --server            be the server (accept one client per entry)\n"
		"  --entries LIST      comma-separated entry names, or all (default)\n"
		"  --list              print the entries and exit\n"
		"  --probe smb2|sdtest the request a working endpoint answers\n"
		"                      (default smb2: an SMB2 NEGOTIATE)\n"
		"  --source ADDR       our address (client)\n"
		"  --wait-ms N         bound on each wait for a reaction (3000)\n"
		"  --accept-ms N       server: bound on waiting for a client (60000)\n"
		"  --no-alive          client: no good connection after each entry\n"
		"  --no-expect         exit 0 even if outcomes differ from the\n"
		"                      expected ones (they are still reported)\n"
		"  --aborted N         N handshakes that fail in every state, then\n"
		"                      a good client, timed\n"
		"  --flood N           N connect-and-idle peers from --flood-source,\n"
		"                      held --hold-ms, while a good client is timed\n"
		"  --flood-source ADDR the flood's address (default: --source)\n"
		"  --hold-ms N         how long the flood holds its connections\n"
		"  --verbose           say what each entry does\n");
}

enum { OPT_SERVER = 256, OPT_ENTRIES, OPT_LIST, OPT_PROBE, OPT_SOURCE,
       OPT_WAIT, OPT_ACCEPT, OPT_NO_ALIVE, OPT_NO_EXPECT, OPT_ABORTED,
       OPT_FLOOD, OPT_FLOOD_SOURCE, OPT_HOLD, OPT_VERBOSE, OPT_HELP };

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", no_argument, NULL, OPT_SERVER },
		{ "entries", required_argument, NULL, OPT_ENTRIES },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "source", required_argument, NULL, OPT_SOURCE },
		{ "wait-ms", required_argument, NULL, OPT_WAIT },
		{ "accept-ms", required_argument, NULL, OPT_ACCEPT },
		{ "no-alive", no_argument, NULL, OPT_NO_ALIVE },
		{ "no-expect", no_argument, NULL, OPT_NO_EXPECT },
		{ "aborted", required_argument, NULL, OPT_ABORTED },
		{ "flood", required_argument, NULL, OPT_FLOOD },
		{ "flood-source", required_argument, NULL, OPT_FLOOD_SOURCE },
		{ "hold-ms", required_argument, NULL, OPT_HOLD },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 },
	};
	struct run r;
	const char *entries = "all";
	const char *source = NULL;
	const char *flood_source = NULL;
	bool check_alive = true;
	bool expect = true;
	int aborted = 0;
	int flood = 0;
	int hold_ms = 6000;
	long port;
	int c;
	int ret;

	memset(&r, 0, sizeof(r));
	r.wait_ms = 3000;
	r.accept_ms = 60000;
	r.probe = PROBE_SMB2;
	signal(SIGPIPE, SIG_IGN);
	{
		/* Floods hold two descriptors per connection. */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SERVER:
			r.server = true;
			break;
		case OPT_ENTRIES:
			entries = optarg;
			break;
		case OPT_LIST:
			list_entries();
			return 0;
		case OPT_PROBE:
			if (strcmp(optarg, "smb2") == 0) {
				r.probe = PROBE_SMB2;
			} else if (strcmp(optarg, "sdtest") == 0) {
				r.probe = PROBE_SDTEST;
			} else {
				usage(stderr);
				return 2;
			}
			break;
		case OPT_SOURCE:
			source = optarg;
			break;
		case OPT_WAIT:
			r.wait_ms = atoi(optarg);
			break;
		case OPT_ACCEPT:
			r.accept_ms = atoi(optarg);
			break;
		case OPT_NO_ALIVE:
			check_alive = false;
			break;
		case OPT_NO_EXPECT:
			expect = false;
			break;
		case OPT_ABORTED:
			aborted = atoi(optarg);
			break;
		case OPT_FLOOD:
			flood = atoi(optarg);
			break;
		case OPT_FLOOD_SOURCE:
			flood_source = optarg;
			break;
		case OPT_HOLD:
			hold_ms = atoi(optarg);
			break;
		case OPT_VERBOSE:
			r.verbose = true;
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2 || r.wait_ms <= 0 || r.accept_ms <= 0) {
		usage(stderr);
		return 2;
	}
	port = strtol(argv[optind + 1], NULL, 10);
	if (port <= 0 || port > 65535 ||
	    !addr_resolve(argv[optind], (uint16_t)port, r.server, &r.dst,
			  NULL, report_addr)) {
		return 2;
	}
	if (source != NULL &&
	    !addr_resolve(source, 0, false, &r.src, NULL, report_addr)) {
		return 2;
	}
	if (r.server) {
		uint16_t bound = 0;

		ret = tp_listen(&r.listener, (struct sockaddr *)&r.dst, &bound);
		if (ret != 0) {
			fprintf(stderr, "smbdirect-torture: listen: %s\n",
				strerror(ret));
			return 1;
		}
		printf("torture: listening on port %u\n", bound);
		fflush(stdout);
	}
	if (aborted > 0) {
		ret = aborted_handshakes(&r, aborted);
	} else if (flood > 0) {
		struct sockaddr_storage fs;

		const char *from = flood_source != NULL ? flood_source : source;

		if (from != NULL &&
		    !addr_resolve(from, 0, false, &fs, NULL, report_addr)) {
			return 2;
		}
		ret = idle_flood(&r, flood,
				 from != NULL ? (struct sockaddr *)&fs : NULL,
				 hold_ms);
	} else {
		ret = run_entries(&r, entries, check_alive, expect);
	}
	tp_listener_free(r.listener);
	return ret;
}
