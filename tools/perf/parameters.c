/*
 * smbdirect-perf's parameters: the options (global `opt`), their parsing,
 * defaults and validation, the usage text, the table of tests, and the
 * library settings the options ask for.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "perf.h"

struct options opt;

/* Every test, by name for --test and by number for the wire. */
static const struct perf_test_def *const tests[] = {
	&perf_send_lat, &perf_send_bw, &perf_msg_rate,
	&perf_write_bw, &perf_read_bw,
};

#define NTESTS (sizeof(tests) / sizeof(tests[0]))

const struct perf_test_def *perf_test_find(enum perf_test test)
{
	size_t i;

	for (i = 0; i < NTESTS; i++) {
		if (tests[i]->test == test) {
			return tests[i];
		}
	}
	return NULL;
}

void settings_for(struct smbdirect_settings *s)
{
	smbdirect_settings_default(s);
	if (opt.wire_size != 0) {
		s->max_send_size = opt.wire_size;
		s->max_receive_size = opt.wire_size;
	}
	if (opt.small) {
		/* [MS-SMBD] 3.1.5.6: the smallest legal sizes. */
		s->max_send_size = 128;
		s->max_receive_size = 128;
		s->max_fragmented_size = 131072;
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage:\n"
		"  smbdirect-perf [OPTIONS]          start a server and wait for "
		"a client\n"
		"  smbdirect-perf [OPTIONS] <host>   connect to the server at "
		"<host>\n"
		"\n"
		"The client chooses the test; the server needs no options.\n"
		"\n"
		"Options:\n"
		"  --test=TEST          send_lat (default), send_bw, msg_rate, "
		"write_bw, read_bw\n"
		"  -p, --port=PORT      listen on / connect to PORT (default "
		"%u)\n"
		"  -s, --size=SIZE[,..] message or RDMA size; K and M "
		"suffixes; a list runs each\n"
		"                       (default: send_lat 2, msg_rate 64, "
		"others 65536)\n"
		"  -a, --all[=LIST]     sizes 4096,65536,1048576, or LIST "
		"(-aLIST)\n"
		"  -n, --iters=N        measured exchanges or operations per "
		"size\n"
		"                       (default: send_lat 1000, others "
		"5000)\n"
		"  -t, --tx-depth=N     outstanding messages or RDMA "
		"operations (default 128;\n"
		"                       send_lat is a ping-pong: always 1)\n"
		"      --warmup=N       unmeasured send_lat exchanges first "
		"(default 16)\n"
		"      --small          smallest legal [MS-SMBD] sizes (128-byte "
		"messages,\n"
		"                       131072-byte reassembly)\n"
		"      --csv            comma-separated output with one header "
		"line\n"
		"      --stats          connection counters on stderr at the "
		"end\n"
		"      --busy-poll      keep both event loops spinning instead "
		"of sleeping\n"
		"                       (perftest's default; without it, as "
		"perftest -e)\n"
		"      --wire-size=N    MaxSendSize and MaxReceiveSize (128.."
		"1048576; default\n"
		"                       1364): messages up to N-24 bytes go "
		"as one work request\n"
		"      --thread-mode=M  caller (default) or rdma: RDMA calls on "
		"the library's\n"
		"                       own thread (smbdirect_set_thread_mode)"
		"\n"
		"      --bind=ADDR      server: listen on ADDR (default: every "
		"IPv4 address)\n"
		"      --fork           server: serve clients forever, each in "
		"a forked child\n"
		"  -R, --rdma_cm        accepted for perftest habits: rdma_cm "
		"is always used\n"
		"  -d, --ib-dev=DEV     ignored: rdma_cm picks the device of "
		"the address\n"
		"  -h, --help           this text\n"
		"  -V, --version        the library version\n",
		SMBDIRECT_DEFAULT_PORT);
}

static bool parse_size(const char *s, uint32_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s) {
		return false;
	}
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end != '\0' || v == 0 || v > MAX_SIZE) {
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

static bool add_sizes(const char *list)
{
	char *copy = strdup(list);
	char *save = NULL;
	char *tok;
	bool ok = copy != NULL;

	for (tok = ok ? strtok_r(copy, ",", &save) : NULL; tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		if (opt.nsizes == MAX_SIZES ||
		    !parse_size(tok, &opt.sizes[opt.nsizes])) {
			ok = false;
			break;
		}
		opt.nsizes++;
	}
	free(copy);
	return ok;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max,
		      uint64_t *out)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

enum {
	OPT_TEST = 256,
	OPT_SMALL,
	OPT_CSV,
	OPT_WARMUP,
	OPT_BIND,
	OPT_FORK,
	OPT_STATS,
	OPT_BUSY_POLL,
	OPT_WIRE_SIZE,
	OPT_THREAD_MODE,
};

int perf_parse(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"test", required_argument, NULL, OPT_TEST},
		{"port", required_argument, NULL, 'p'},
		{"size", required_argument, NULL, 's'},
		{"all", optional_argument, NULL, 'a'},
		{"iters", required_argument, NULL, 'n'},
		{"tx-depth", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, OPT_WARMUP},
		{"small", no_argument, NULL, OPT_SMALL},
		{"csv", no_argument, NULL, OPT_CSV},
		{"stats", no_argument, NULL, OPT_STATS},
		{"busy-poll", no_argument, NULL, OPT_BUSY_POLL},
		{"wire-size", required_argument, NULL, OPT_WIRE_SIZE},
		{"thread-mode", required_argument, NULL, OPT_THREAD_MODE},
		{"bind", required_argument, NULL, OPT_BIND},
		{"fork", no_argument, NULL, OPT_FORK},
		{"rdma_cm", no_argument, NULL, 'R'},
		{"ib-dev", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	bool all = false;
	bool test_set = false;
	uint64_t v;
	int ch;
	size_t i;

	opt.port = SMBDIRECT_DEFAULT_PORT;
	opt.test = &perf_send_lat;
	opt.warmup = 16;
	while ((ch = getopt_long(argc, argv, "p:s:a::n:t:Rd:hV", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case OPT_TEST:
			for (i = 0; i < NTESTS; i++) {
				if (strcmp(optarg, tests[i]->name) == 0) {
					opt.test = tests[i];
					break;
				}
			}
			if (i == NTESTS) {
				fprintf(stderr, "smbdirect-perf: unknown test "
						"%s\n",
					optarg);
				return 2;
			}
			test_set = true;
			break;
		case 'p':
			if (!parse_u64(optarg, 1, 65535, &v)) {
				fprintf(stderr, "smbdirect-perf: bad port %s\n",
					optarg);
				return 2;
			}
			opt.port = (uint16_t)v;
			break;
		case 's':
			if (!add_sizes(optarg)) {
				fprintf(stderr, "smbdirect-perf: bad size %s "
						"(1..1G, at most %d)\n",
					optarg, MAX_SIZES);
				return 2;
			}
			break;
		case 'a':
			all = true;
			if (optarg != NULL && !add_sizes(optarg)) {
				fprintf(stderr, "smbdirect-perf: bad size list "
						"%s\n",
					optarg);
				return 2;
			}
			break;
		case 'n':
			if (!parse_u64(optarg, 1, MAX_ITERS, &v)) {
				fprintf(stderr, "smbdirect-perf: bad "
						"iteration count %s\n",
					optarg);
				return 2;
			}
			opt.iters = v;
			break;
		case 't':
			if (!parse_u64(optarg, 1, MAX_DEPTH, &v)) {
				fprintf(stderr, "smbdirect-perf: bad tx depth "
						"%s (1..%u)\n",
					optarg, MAX_DEPTH);
				return 2;
			}
			opt.depth = (uint32_t)v;
			break;
		case OPT_WARMUP:
			if (!parse_u64(optarg, 0, 1000000, &v)) {
				fprintf(stderr, "smbdirect-perf: bad warm-up "
						"%s\n",
					optarg);
				return 2;
			}
			opt.warmup = (uint32_t)v;
			break;
		case OPT_SMALL:
			opt.small = true;
			break;
		case OPT_CSV:
			opt.csv = true;
			break;
		case OPT_STATS:
			opt.stats = true;
			break;
		case OPT_BUSY_POLL:
			opt.busy_poll = true;
			break;
		case OPT_WIRE_SIZE:
			if (!parse_u64(optarg, 128, 1048576, &v)) {
				fprintf(stderr, "smbdirect-perf: bad wire size "
						"%s (128..1048576)\n",
					optarg);
				return 2;
			}
			opt.wire_size = (uint32_t)v;
			break;
		case OPT_THREAD_MODE:
			if (strcmp(optarg, "rdma") == 0 ||
			    strcmp(optarg, "rdma-thread") == 0) {
				opt.thread_mode =
					SMBDIRECT_THREAD_MODE_RDMA_THREAD;
			} else if (strcmp(optarg, "caller") == 0 ||
				   strcmp(optarg, "caller-thread") == 0) {
				opt.thread_mode = SMBDIRECT_THREAD_MODE_CALLER;
			} else {
				fprintf(stderr, "smbdirect-perf: thread mode is "
						"caller or rdma\n");
				return 2;
			}
			break;
		case OPT_BIND:
			opt.bind = optarg;
			break;
		case OPT_FORK:
			opt.fork_mode = true;
			break;
		case 'R':
			break;
		case 'd':
			fprintf(stderr,
				"smbdirect-perf: note: -d %s ignored; rdma_cm "
				"uses the device that holds the address\n",
				optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("smbdirect-perf (libsmbdirect %s)\n",
			       smbdirect_version_string());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		opt.host = argv[optind++];
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	if (all && opt.nsizes == 0) {
		add_sizes("4096,65536,1048576");
	}
	if (opt.nsizes == 0) {
		opt.sizes[0] = opt.test->default_size;
		opt.nsizes = 1;
	}
	if (opt.test->ping_pong && opt.depth > 1 && opt.host != NULL) {
		fprintf(stderr, "smbdirect-perf: note: send_lat is a "
				"ping-pong; -t ignored\n");
		opt.depth = 1;
	}
	if (opt.host == NULL &&
	    (test_set || opt.nsizes > 1 || opt.iters != 0 || opt.depth != 0)) {
		fprintf(stderr, "smbdirect-perf: note: the client chooses the "
				"test and its parameters; the server ignores "
				"them\n");
	}
	return -1;
}
