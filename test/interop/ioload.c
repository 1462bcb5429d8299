/*
 * ioload: a bounded file I/O load for the interop tier (interop-tests.sh,
 * the *-load-* tests): several writers and readers at once on a cifs
 * mount, large unaligned pwrite/pread, every byte checked.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Usage:
 *   ioload run MNT SRVDIR [OPTIONS]   the load, see below
 *   ioload expect ID GEN BYTES        the expected content of a file, to
 *                                     stdout (for sha256sum)
 * MNT is a directory on the mount under test, SRVDIR the same directory
 * on the server's own file system (the share's path in the guest).
 *
 * Data: file ID, generation GEN, byte at offset P. Every 512-byte block
 * of a file starts with a 16-byte header (magic "ioLd", ID, GEN, the
 * block's offset, little-endian); the rest is a hash of (seed, ID, GEN,
 * P / 8). So misplaced or stale data names where it came from.
 *
 * run:
 *   1. writes --readers read files (ID 100 + i, GEN 0, --file-mib MiB)
 *      into SRVDIR directly, as the server's own data;
 *   2. starts --writers writer threads, each owning file ID i in MNT: it
 *      covers it twice (GEN 1, then GEN 2) with pwrites of about
 *      --io-kib KiB (from half to one and a half of it) in random order,
 *      then makes --random-writes pwrites (GEN 3, 4, ...) of random
 *      sizes (1 byte to one and a half --io-kib, log-uniform: small ones
 *      go inline, large ones by RDMA) at random offsets; it keeps what the
 *      file must hold in memory, and checks the server's copy (SRVDIR)
 *      and a read back through MNT (1 MiB reads from page-aligned
 *      buffers) against it; --expect-dir DIR: writes that to DIR too;
 *   3. at the same time --readers reader threads pread about --io-kib
 *      KiB at random offsets of the read files, each read checked, until
 *      every writer is done (and at least --min-reads reads each).
 *   --mode unaligned (default): odd offsets and lengths, buffers at odd
 *   addresses; aligned: offsets, lengths and buffers page-aligned;
 *   direct: aligned, files on MNT opened with O_DIRECT.
 *   --cifs-inline WSIZE:THRESHOLD (cifs' wsize and rdma_readwrite_threshold):
 *   count the wrong regions that fit the cifs 6.1 inline-write bug (see
 *   cifs_inline_bug()); --cifs-inline-avoid: the same, and place write
 *   buffers so that the bug cannot happen (the piece cifs sends inline
 *   stays in one page; offsets and lengths stay odd).
 *   A wrong region is printed with where it is (file offset, offset in
 *   the I/O, in the buffer's page), what it holds (zeroes, the headers
 *   found in it: whose data it is) and, for written files, the last
 *   pwrites that covered its start.
 * Every wait is bounded: after --timeout S (default 150) a watchdog thread
 * prints the summary with TIMEOUT and ends the process with status 3. Last line:
 *   ioload: files F, bytes W written R read, ops N, errors E, checks ok K
 *   bad B, wrong regions G [(C fit the cifs 6.1 inline-write bug)], T s
 * Exit status: 0 all checks ok and no I/O error; 1 otherwise; 2 usage or
 * set-up error; 3 timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define BLOCK 512u
#define MAGIC 0x644c6f69u /* "ioLd" */
#define MAX_RUNS 6        /* wrong regions printed per check */
#define MAX_DESCRIBED 60  /* ... and in all */

enum mode { UNALIGNED, ALIGNED, DIRECT };

static struct {
	const char *mnt, *srvdir;
	enum mode mode;
	const char *expect_dir;
	unsigned writers, readers, min_reads, timeout, random_writes;
	unsigned cifs_wsize, cifs_threshold, cifs_avoid;
	uint64_t file_bytes, io_bytes, seed;
} cfg = { .mode = UNALIGNED, .writers = 4, .readers = 2, .min_reads = 8,
	  .timeout = 150, .random_writes = 16, .file_bytes = 8u << 20,
	  .io_bytes = 3u << 20, .seed = 0x5eed };

static atomic_uint_fast64_t st_wbytes, st_rbytes, st_ops, st_errors,
	st_ok, st_bad, st_regions, st_sig;
static atomic_uint writers_left, described;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec t0;

static double elapsed(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&out_lock);
	printf("[%7.2f] ", elapsed());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s) { return mix(*s += 0x2545f4914f6cdd1dull); }

/* The 8-byte word at file offset W * 8 of file ID, generation GEN. */
static uint64_t word_at(uint32_t id, uint32_t gen, uint64_t w)
{
	uint64_t boff = (w * 8) & ~(uint64_t)(BLOCK - 1);
	switch ((w * 8) % BLOCK) {
	case 0: return MAGIC | (uint64_t)(id & 0xffff) << 32 | (uint64_t)gen << 48;
	case 8: return boff;
	}
	return mix(cfg.seed ^ (uint64_t)id << 40 ^ (uint64_t)gen << 56 ^ w);
}

/* dst[0..len) = the content of file ID/GEN at [off, off + len). */
static void fill(uint8_t *dst, uint32_t id, uint32_t gen, uint64_t off, size_t len)
{
	uint64_t p = off;
	while (p < off + len) {
		uint64_t v = word_at(id, gen, p / 8);
		unsigned b = p % 8;
		for (; b < 8 && p < off + len; b++, p++)
			dst[p - off] = (uint8_t)(v >> (8 * b)); /* little-endian */
	}
}

/* One pwrite of a writer: where, how long, its buffer's offset in its
 * page, the generation it wrote. */
struct wop { uint64_t off; size_t len; unsigned mis, gen; };

/* Where a wrong region is and what it holds: GOT[0..len) should have been
 * file ID at FOFF; it is IO_OFF into an I/O whose buffer started at BUF_MIS
 * in its page; OPS are the file's pwrites in order (none for read files). */
static void describe(const char *what, const uint8_t *got, uint64_t foff,
		     size_t len, uint64_t io_off, unsigned buf_mis, uint32_t id,
		     const struct wop *ops, size_t nops)
{
	size_t zero = 0, i, shown = 0, last[3], nlast = 0;
	char hdrs[256] = "";
	int hl = 0;

	for (i = 0; i < len; i++)
		zero += got[i] == 0;
	/* headers found in it: whose data is this? */
	for (i = 0; i + 16 <= len && shown < 3; i++) {
		uint32_t m;
		uint64_t hid, hoff;
		memcpy(&m, got + i, 4);
		if (m != MAGIC)
			continue;
		memcpy(&hid, got + i, 8);
		memcpy(&hoff, got + i + 8, 8);
		hl += snprintf(hdrs + hl, sizeof(hdrs) - (size_t)hl,
			       " [at +%zu: file %u gen %u block 0x%" PRIx64 ", shift %+" PRId64 "]",
			       i, (unsigned)(hid >> 32 & 0xffff), (unsigned)(hid >> 48),
			       hoff, (int64_t)(foff + i - hoff));
		shown++;
		i += 15;
	}
	say("  %s: wrong bytes at 0x%" PRIx64 "+%zu (file offset %% 4096 = %u, %" PRIu64
	    " into the I/O, at %u in a buffer page): %zu zero, headers:%s\n", what, foff,
	    len, (unsigned)(foff % PAGE), io_off, (unsigned)((io_off + buf_mis) % PAGE),
	    zero, hl ? hdrs : " none");
	/* the last three pwrites over its start, the last one first */
	for (i = nops; i-- > 0 && nlast < 3;)
		if (ops[i].off <= foff && foff < ops[i].off + ops[i].len)
			last[nlast++] = i;
	for (i = 0; i < nlast; i++) {
		const struct wop *o = &ops[last[i]];
		uint8_t old[BLOCK];
		size_t n = len < sizeof(old) ? len : sizeof(old);
		fill(old, id, o->gen, foff, n);
		say("    %s pwrite #%zu (gen %u, off 0x%" PRIx64 ", len %zu, buffer at %u in "
		    "its page): %" PRIu64 " into it, at %u in a buffer page; the region's "
		    "first %zu bytes %s its data\n", i ? "before it," : "last:", last[i], o->gen,
		    o->off, o->len, o->mis, foff - o->off,
		    (unsigned)((foff - o->off + o->mis) % PAGE), n,
		    memcmp(old, got, n) == 0 ? "ARE" : "are not");
	}
}

/* Does a wrong region [foff, foff + len) of a written file fit the cifs 6.1
 * inline-write bug (--cifs-inline)? cifs splits a pwrite into pieces of
 * wsize; a piece under the threshold goes inline, and smbd_send() sends
 * each page of it in pieces of min(max_send_size - 24, bytes left in the
 * request), whatever the page's own length: a piece that crosses a page
 * of the user's buffer is sent from past that page's end, and its next
 * page's bytes land further on. So: the region lies in such a piece of
 * the last pwrite over it, at or after the piece's first page boundary. */
static int cifs_inline_bug(uint64_t foff, size_t len, const struct wop *ops, size_t nops)
{
	size_t i = nops;
	while (i-- > 0) {
		const struct wop *o = &ops[i];
		uint64_t q, start, plen, pmis;
		if (o->off > foff || foff >= o->off + o->len)
			continue;
		q = foff - o->off;
		start = q / cfg.cifs_wsize * cfg.cifs_wsize;
		plen = o->len - start < cfg.cifs_wsize ? o->len - start : cfg.cifs_wsize;
		pmis = (o->mis + start) % PAGE;
		return plen < cfg.cifs_threshold && pmis + plen > PAGE &&
		       q >= start + (PAGE - pmis) && q + len <= start + plen;
	}
	return 0;
}

/* Check GOT (file ID at [off, off + len), read into a buffer at BUF_MIS in
 * its page) against EXP. Counts one check; 0 if they are equal. */
static int check(const char *what, const uint8_t *got, const uint8_t *exp,
		 uint32_t id, uint64_t off, size_t len, unsigned buf_mis,
		 const struct wop *ops, size_t nops)
{
	size_t i = 0, runs = 0, bad = 0;
	if (memcmp(exp, got, len) == 0) {
		atomic_fetch_add(&st_ok, 1);
		return 0;
	}
	while (i < len) {
		size_t j;
		if (got[i] == exp[i]) {
			i++;
			continue;
		}
		/* a run ends at 64 equal bytes (random data rarely agrees) */
		for (j = i + 1; j < len;) {
			size_t k = j;
			while (k < len && k < j + 64 && got[k] == exp[k])
				k++;
			if (k == j)
				j++;
			else if (k == len || k == j + 64)
				break;
			else
				j = k;
		}
		if (runs < MAX_RUNS && atomic_fetch_add(&described, 1) < MAX_DESCRIBED)
			describe(what, got + i, off + i, j - i, i, buf_mis, id, ops, nops);
		atomic_fetch_add(&st_regions, 1);
		if (cfg.cifs_wsize && cifs_inline_bug(off + i, j - i, ops, nops))
			atomic_fetch_add(&st_sig, 1);
		runs++;
		bad += j - i;
		i = j;
	}
	say("  %s: file %u [0x%" PRIx64 ", +%zu): %zu wrong bytes in %zu regions%s\n",
	    what, id, off, len, bad, runs, runs > MAX_RUNS ? " (first ones shown)" : "");
	atomic_fetch_add(&st_bad, 1);
	return -1;
}

static uint8_t *alloc_buf(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, PAGE, len + 2 * PAGE) != 0) {
		fprintf(stderr, "ioload: out of memory (%zu bytes)\n", len);
		exit(2);
	}
	return p;
}

/* The length of one I/O: from half to one and a half of cfg.io_bytes;
 * odd when unaligned, whole pages otherwise (io_bytes >= 2 pages). */
static size_t io_len(uint64_t *s)
{
	size_t len = cfg.io_bytes / 2 + rnd(s) % (cfg.io_bytes + 1);
	return cfg.mode == UNALIGNED ? len | 1 : len - len % PAGE;
}

/* A random length, log-uniform from 1 byte (a page if aligned) to one and
 * a half of cfg.io_bytes. */
static size_t small_len(uint64_t *s)
{
	unsigned max_bits = 0, bits;
	size_t len;
	while ((2ull << max_bits) <= cfg.io_bytes * 3 / 2)
		max_bits++;
	bits = (unsigned)(rnd(s) % (max_bits + 1));
	len = ((size_t)1 << bits) + (size_t)(rnd(s) % ((size_t)1 << bits));
	if (len > cfg.io_bytes * 3 / 2)
		len = cfg.io_bytes * 3 / 2;
	if (cfg.mode != UNALIGNED)
		len = len < PAGE ? PAGE : len - len % PAGE;
	return len;
}

static unsigned buf_mis(uint64_t *s)
{
	return cfg.mode == UNALIGNED ? (unsigned)(rnd(s) % (PAGE / 2)) * 2 + 1 : 0;
}

/* open PATH on the mount (with O_DIRECT in direct mode) or, LOCAL, on the
 * server's own file system (tmpfs has no O_DIRECT). */
static int open_file(const char *path, int flags, int local)
{
	int fd = open(path, flags | (cfg.mode == DIRECT && !local ? O_DIRECT : 0), 0644);
	if (fd < 0) {
		say("open %s: %s\n", path, strerror(errno));
		atomic_fetch_add(&st_errors, 1);
	}
	return fd;
}

/* pread/pwrite all of it; -1 (counted, logged) on an error or EOF. */
static int io_all(int wr, int fd, uint8_t *buf, size_t len, uint64_t off, const char *name)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = wr ? pwrite(fd, buf + done, len - done, (off_t)(off + done))
			       : pread(fd, buf + done, len - done, (off_t)(off + done));
		if (n <= 0) {
			say("%s %s at 0x%" PRIx64 "+%zu (buffer %% 4096 = %u): %s\n",
			    wr ? "pwrite" : "pread", name, off + done, len - done,
			    (unsigned)((uintptr_t)(buf + done) % PAGE),
			    n == 0 ? "end of file" : strerror(errno));
			atomic_fetch_add(&st_errors, 1);
			return -1;
		}
		done += (size_t)n;
	}
	atomic_fetch_add(wr ? &st_wbytes : &st_rbytes, len);
	atomic_fetch_add(&st_ops, 1);
	return 0;
}

/* Check a whole file, read from PATH in 1 MiB page-aligned reads (LOCAL:
 * on the server's side, without O_DIRECT), against EXPECT (file ID,
 * cfg.file_bytes). 0 if it is right. */
static int check_file(const char *what, const char *path, int local, uint32_t id,
		      const uint8_t *expect, const struct wop *ops, size_t nops)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = alloc_buf(chunk);
	uint64_t off;
	int fd = open_file(path, O_RDONLY, local), rc = 0;
	if (fd < 0) {
		free(buf);
		return -1;
	}
	for (off = 0; off < cfg.file_bytes; off += chunk) {
		size_t len = cfg.file_bytes - off < chunk ? cfg.file_bytes - off : chunk;
		if (io_all(0, fd, buf, len, off, path) != 0) {
			rc = -1;
			break;
		}
		if (check(what, buf, expect + off, id, off, len, 0, ops, nops) != 0)
			rc = -1;
	}
	if (rc == 0 && pread(fd, buf, 1, (off_t)cfg.file_bytes) != 0) {
		say("  %s: %s is longer than %" PRIu64 " bytes\n", what, path, cfg.file_bytes);
		rc = -1;
	}
	close(fd);
	free(buf);
	return rc;
}

/* Write BYTES to PATH ("-": stdout): DATA, or if it is NULL file ID/GEN. */
static int write_local(const char *path, const uint8_t *data, uint32_t id,
		       uint32_t gen, uint64_t bytes)
{
	const size_t chunk = 1u << 20;
	uint8_t *buf = alloc_buf(chunk);
	FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	uint64_t off;
	int rc = f ? 0 : -1;
	for (off = 0; f && off < bytes && rc == 0; off += chunk) {
		size_t len = bytes - off < chunk ? (size_t)(bytes - off) : chunk;
		if (!data)
			fill(buf, id, gen, off, len);
		if (fwrite(data ? data + off : buf, 1, len, f) != len)
			rc = -1;
	}
	if (f && f != stdout && fclose(f) != 0)
		rc = -1;
	if (rc)
		fprintf(stderr, "ioload: cannot write %s: %s\n", path, strerror(errno));
	free(buf);
	return rc;
}

struct chunk { uint64_t off; size_t len; };

/* pwrite generation GEN of file ID at [off, off + len) from a buffer at MIS
 * in its page; logged in OPS and, if it worked, copied into SHADOW. */
static int write_one(int fd, uint8_t *buf, unsigned mis, uint32_t id, unsigned gen,
		     uint64_t off, size_t len, uint8_t *shadow, struct wop *ops,
		     size_t *nops, const char *name)
{
	fill(buf + mis, id, gen, off, len);
	ops[(*nops)++] = (struct wop){ off, len, mis, gen };
	if (io_all(1, fd, buf + mis, len, off, name) != 0)
		return -1;
	memcpy(shadow + off, buf + mis, len);
	return 0;
}

/* A buffer offset for a pwrite of LEN bytes; with --cifs-inline ... avoid,
 * one that keeps a piece cifs sends inline inside one page (see
 * cifs_inline_bug: the only inline piece is the last, len % wsize). */
static unsigned write_mis(uint64_t *s, size_t len)
{
	unsigned mis = buf_mis(s);
	size_t tail = cfg.cifs_avoid ? len % cfg.cifs_wsize : 0;
	if (cfg.cifs_avoid && cfg.mode == UNALIGNED && tail < cfg.cifs_threshold &&
	    mis + tail > PAGE)
		mis = 1 + 2 * (unsigned)(rnd(s) % ((PAGE - tail + 1) / 2));
	return mis;
}

static void *writer(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg, gen;
	uint64_t s = cfg.seed * 1000 + id;
	size_t cap = cfg.file_bytes / PAGE + 2; /* no covering I/O is shorter than a page */
	size_t nops = 0, maxlen = cfg.io_bytes * 3 / 2 + PAGE, n, i;
	struct chunk *ch = calloc(cap, sizeof(*ch));
	struct wop *ops = calloc(2 * cap + cfg.random_writes, sizeof(*ops));
	uint8_t *buf = alloc_buf(maxlen), *shadow = calloc(1, cfg.file_bytes);
	char path[4096], name[64];
	int fd = -1, rc = 0;

	snprintf(name, sizeof(name), "ioload-w%u", id);
	snprintf(path, sizeof(path), "%s/%s", cfg.mnt, name);
	if (ch && ops && shadow)
		fd = open_file(path, O_CREAT | O_TRUNC | O_RDWR, 0);
	/* two passes over the whole file, in random order */
	for (gen = 1; gen <= 2 && fd >= 0; gen++) {
		uint64_t off = 0;
		for (n = 0; off < cfg.file_bytes; n++) {
			size_t len = io_len(&s);
			if (len > cfg.file_bytes - off)
				len = (size_t)(cfg.file_bytes - off);
			ch[n] = (struct chunk){ off, len };
			off += len;
		}
		for (i = n; i > 1; i--) {
			size_t j = (size_t)(rnd(&s) % i);
			struct chunk t = ch[i - 1];
			ch[i - 1] = ch[j];
			ch[j] = t;
		}
		for (i = 0; i < n; i++)
			if (write_one(fd, buf, write_mis(&s, ch[i].len), id, gen, ch[i].off, ch[i].len,
				      shadow, ops, &nops, name) != 0)
				rc = -1;
	}
	/* random writes of random sizes */
	for (i = 0; i < cfg.random_writes && fd >= 0; i++, gen++) {
		size_t len = small_len(&s);
		uint64_t off = rnd(&s) % (cfg.file_bytes - len + 1);
		if (cfg.mode != UNALIGNED)
			off -= off % PAGE;
		if (write_one(fd, buf, write_mis(&s, len), id, gen, off, len, shadow, ops, &nops,
			      name) != 0)
			rc = -1;
	}
	if (fd >= 0) {
		char spath[4096];
		int a, b;
		close(fd);
		snprintf(spath, sizeof(spath), "%s/%s", cfg.srvdir, name);
		a = check_file("server copy", spath, 1, id, shadow, ops, nops);
		b = check_file("read back", path, 0, id, shadow, ops, nops);
		say("%s: %zu pwrites, server copy %s, read back %s%s\n", name, nops,
		    a ? "WRONG" : "ok", b ? "WRONG" : "ok", rc ? ", I/O errors" : "");
		if (cfg.expect_dir) {
			snprintf(spath, sizeof(spath), "%s/%s", cfg.expect_dir, name);
			if (write_local(spath, shadow, 0, 0, cfg.file_bytes) != 0)
				atomic_fetch_add(&st_errors, 1);
		}
	} else {
		say("%s: not written\n", name);
		atomic_fetch_add(&st_errors, 1);
	}
	free(buf);
	free(ch);
	free(ops);
	free(shadow);
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void *reader(void *arg)
{
	unsigned r = (unsigned)(uintptr_t)arg, nread = 0;
	uint64_t s = cfg.seed * 2000 + r;
	size_t maxlen = cfg.io_bytes * 3 / 2 + PAGE;
	uint8_t *buf = alloc_buf(maxlen), *exp = alloc_buf(maxlen);
	int fds[64];
	unsigned i, nf = cfg.readers, bad = 0;
	char path[4096];

	for (i = 0; i < nf; i++) {
		snprintf(path, sizeof(path), "%s/ioload-r%u", cfg.mnt, i);
		fds[i] = open_file(path, O_RDONLY, 0);
		if (fds[i] < 0)
			goto out;
	}
	while (atomic_load(&writers_left) > 0 || nread < cfg.min_reads) {
		unsigned f = (unsigned)(rnd(&s) % nf), mis = buf_mis(&s);
		size_t len = io_len(&s);
		uint64_t off;
		char what[64];
		int64_t start;
		/* a window of len bytes anywhere that overlaps the file, cut
		 * to it: every byte equally likely to be read */
		start = (int64_t)(rnd(&s) % (cfg.file_bytes + len - 1)) - (int64_t)(len - 1);
		off = start > 0 ? (uint64_t)start : 0;
		len = (size_t)((uint64_t)(start + (int64_t)len) - off);
		if (cfg.mode != UNALIGNED)
			off -= off % PAGE;
		else
			off |= 1;
		if (off + len > cfg.file_bytes)
			len = (size_t)(cfg.file_bytes - off);
		if (cfg.mode != UNALIGNED && len % PAGE)
			len += PAGE - len % PAGE;
		if (off + len > cfg.file_bytes || len == 0)
			continue;
		snprintf(what, sizeof(what), "reader %u, ioload-r%u", r, f);
		fill(exp, 100 + f, 0, off, len);
		if (io_all(0, fds[f], buf + mis, len, off, what) == 0 &&
		    check(what, buf + mis, exp, 100 + f, off, len, mis, NULL, 0) != 0)
			bad++;
		nread++;
	}
	say("reader %u: %u preads, %u wrong\n", r, nread, bad);
out:
	while (i-- > 0)
		close(fds[i]);
	free(buf);
	free(exp);
	return NULL;
}

static void summary(const char *end)
{
	char sig[96] = "";
	if (cfg.cifs_wsize)
		snprintf(sig, sizeof(sig), " (%" PRIu64 " fit the cifs 6.1 inline-write bug)",
			 (uint64_t)atomic_load(&st_sig));
	printf("ioload: files %u, bytes %" PRIu64 " written %" PRIu64 " read, ops %" PRIu64
	       ", errors %" PRIu64 ", checks ok %" PRIu64 " bad %" PRIu64
	       ", wrong regions %" PRIu64 "%s, %.1f s%s\n",
	       cfg.writers + cfg.readers, (uint64_t)atomic_load(&st_wbytes),
	       (uint64_t)atomic_load(&st_rbytes), (uint64_t)atomic_load(&st_ops),
	       (uint64_t)atomic_load(&st_errors), (uint64_t)atomic_load(&st_ok),
	       (uint64_t)atomic_load(&st_bad), (uint64_t)atomic_load(&st_regions), sig,
	       elapsed(), end);
	fflush(stdout);
}

/* The bound on everything: after --timeout seconds, whatever is stuck. */
static void *watchdog(void *arg)
{
	struct timespec d = { .tv_sec = (time_t)cfg.timeout };
	(void)arg;
	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
	say("TIMEOUT: the load did not finish in %u s\n", cfg.timeout);
	summary(", TIMEOUT");
	_exit(3);
}

static void usage(void)
{
	fprintf(stderr, "usage: ioload run MNT SRVDIR [--mode unaligned|aligned|direct]"
		" [--writers N] [--readers N] [--file-mib N] [--io-kib N] [--min-reads N]"
		" [--random-writes N] [--expect-dir DIR] [--cifs-inline[-avoid] WSIZE:THRESHOLD]"
		" [--seed N] [--timeout S]\n       ioload expect ID GEN BYTES\n");
	exit(2);
}

static uint64_t num(const char *s)
{
	char *e;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &e, 0);
	if (errno || *e || e == s)
		usage();
	return v;
}

int main(int argc, char **argv)
{
	pthread_t th[128];
	unsigned i, nth = 0;
	int a;
	uint64_t bad;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (argc == 5 && strcmp(argv[1], "expect") == 0)
		return write_local("-", NULL, (uint32_t)num(argv[2]), (uint32_t)num(argv[3]),
				   num(argv[4])) ? 2 : 0;
	if (argc < 4 || strcmp(argv[1], "run") != 0)
		usage();
	cfg.mnt = argv[2];
	cfg.srvdir = argv[3];
	for (a = 4; a + 1 < argc; a += 2) {
		const char *o = argv[a], *v = argv[a + 1];
		if (strcmp(o, "--mode") == 0)
			cfg.mode = strcmp(v, "aligned") == 0 ? ALIGNED :
				   strcmp(v, "direct") == 0 ? DIRECT :
				   strcmp(v, "unaligned") == 0 ? UNALIGNED : (usage(), UNALIGNED);
		else if (strcmp(o, "--writers") == 0) cfg.writers = (unsigned)num(v);
		else if (strcmp(o, "--readers") == 0) cfg.readers = (unsigned)num(v);
		else if (strcmp(o, "--file-mib") == 0) cfg.file_bytes = num(v) << 20;
		else if (strcmp(o, "--io-kib") == 0) cfg.io_bytes = num(v) << 10;
		else if (strcmp(o, "--min-reads") == 0) cfg.min_reads = (unsigned)num(v);
		else if (strcmp(o, "--seed") == 0) cfg.seed = num(v);
		else if (strcmp(o, "--random-writes") == 0) cfg.random_writes = (unsigned)num(v);
		else if (strcmp(o, "--expect-dir") == 0) cfg.expect_dir = v;
		else if (strcmp(o, "--cifs-inline") == 0 || strcmp(o, "--cifs-inline-avoid") == 0) {
			if (sscanf(v, "%u:%u", &cfg.cifs_wsize, &cfg.cifs_threshold) != 2 ||
			    cfg.cifs_wsize == 0 || cfg.cifs_wsize % PAGE || cfg.cifs_threshold > PAGE)
				usage();
			cfg.cifs_avoid = strcmp(o, "--cifs-inline-avoid") == 0;
		}
		else if (strcmp(o, "--timeout") == 0) cfg.timeout = (unsigned)num(v);
		else usage();
	}
	if (a != argc || cfg.writers > 64 || cfg.readers > 64 || !cfg.file_bytes ||
	    cfg.io_bytes < 2 * PAGE || cfg.io_bytes * 3 / 2 > cfg.file_bytes || !cfg.timeout ||
	    cfg.random_writes > 60000)
		usage();
	if (pthread_create(&th[0], NULL, watchdog, NULL) != 0) {
		fprintf(stderr, "ioload: cannot start the watchdog\n");
		return 2;
	}
	for (i = 0; i < cfg.readers; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/ioload-r%u", cfg.srvdir, i);
		if (write_local(path, NULL, 100 + i, 0, cfg.file_bytes))
			return 2;
	}
	say("mode %s, %u writers (+%u random writes each) and %u readers, files of %" PRIu64
	    " bytes, I/O about %" PRIu64 " bytes, seed %" PRIu64 ", in %s (server side %s)\n",
	    cfg.mode == UNALIGNED ? "unaligned" : cfg.mode == ALIGNED ? "aligned" : "direct",
	    cfg.writers, cfg.random_writes, cfg.readers, cfg.file_bytes, cfg.io_bytes,
	    cfg.seed, cfg.mnt, cfg.srvdir);
	atomic_store(&writers_left, cfg.writers);
	for (i = 0; i < cfg.writers + cfg.readers; i++) {
		int e = i < cfg.writers
			? pthread_create(&th[nth], NULL, writer, (void *)(uintptr_t)i)
			: pthread_create(&th[nth], NULL, reader, (void *)(uintptr_t)(i - cfg.writers));
		if (e) {
			fprintf(stderr, "ioload: pthread_create: %s\n", strerror(e));
			if (i < cfg.writers)
				atomic_fetch_sub(&writers_left, 1);
			atomic_fetch_add(&st_errors, 1);
			continue;
		}
		nth++;
	}
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	bad = atomic_load(&st_bad) + atomic_load(&st_errors);
	summary(bad ? ", FAILED" : "");
	return bad ? 1 : 0;
}
