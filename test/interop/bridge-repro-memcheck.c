/* Reproduction of a library report found by the bridge tier's valgrind
 * test (not built by CMake; kept as the evidence for the report):
 * data placed by smbdirect_rdma_read_send() is "uninitialised" to
 * valgrind memcheck, because the device (rxe in the kernel) writes it and
 * the library does not tell memcheck when the read completes.
 * Build from a build tree (BUILD):
 *   gcc -std=c11 -D_GNU_SOURCE -Iinclude test/interop/bridge-repro-memcheck.c \
 *     BUILD/libsmbdirect_rdma_static.a BUILD/libsmbdirect_static.a \
 *     -ltevent -ltalloc -libverbs -lrdmacm -o BUILD/memcheck_rdma_read
 * One process, both ends, in the soft-RoCE guest:
 *   bash buildtools/vm/run.sh -- valgrind -q BUILD/memcheck_rdma_read 10.9.0.1 5600
 * Expected: no report (the buffer holds the peer's 0x5a bytes once the
 * read completed). Seen: "Syscall param write(buf) points to
 * uninitialised byte(s)". */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <talloc.h>
#include <tevent.h>

#include "smbdirect_rdma.h"

static struct smbdirect_conn_request *pending;

static void on_request(struct smbdirect_listener *l,
		       struct smbdirect_conn_request *r, void *p)
{
	(void)l;
	(void)p;
	pending = r;
}

int main(int argc, char **argv)
{
	struct tevent_context *ev = tevent_context_init(NULL);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct smbdirect_listener *l;
	struct smbdirect_conn *client, *server;
	struct tevent_req *creq, *areq, *rreq;
	struct smbdirect_buffer_descriptor d[4];
	size_t n = 0, len = 65536;
	struct smbdirect_buffer *a, *b;
	int fd, ret;

	if (argc < 3) {
		return 2;
	}
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (smbdirect_listen(ev, ev, (struct sockaddr *)&sa, 4, on_request,
			     NULL, &l) != 0) {
		return 1;
	}
	creq = smbdirect_connect_send(ev, ev, (struct sockaddr *)&sa, NULL,
				      NULL, 5000);
	while (pending == NULL) {
		tevent_loop_once(ev);
	}
	areq = smbdirect_accept_send(ev, ev, pending, NULL);
	if (!tevent_req_poll(creq, ev) || !tevent_req_poll(areq, ev) ||
	    smbdirect_connect_recv(creq, ev, &client, NULL) != 0 ||
	    smbdirect_accept_recv(areq, ev, &server, NULL) != 0) {
		return 1;
	}
	a = smbdirect_buffer_new(ev, client, len);
	memset(smbdirect_buffer_data(a), 0x5a, len);
	if (smbdirect_expose(ev, client, a, 0, len, false, d, 4, &n) == NULL) {
		return 1;
	}
	b = smbdirect_buffer_new(ev, server, len);
	rreq = smbdirect_rdma_read_send(ev, ev, server, b, 0, len, d, n);
	if (!tevent_req_poll(rreq, ev) || (ret = smbdirect_rdma_recv(rreq)) != 0) {
		return 1;
	}
	printf("read done, first byte 0x%02x\n",
	       ((unsigned char *)smbdirect_buffer_data(b))[0]);
	fd = open("/dev/null", O_WRONLY);
	if (write(fd, smbdirect_buffer_data(b), len) < 0) {
		return 1;
	}
	close(fd);
	talloc_free(ev);
	return 0;
}
