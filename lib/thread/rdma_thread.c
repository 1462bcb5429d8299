/*
 * libsmbdirect: where RDMA calls run. In caller-thread mode, here and now.
 * In RDMA-thread mode, on one library-owned thread per process that opened
 * every rdma fd and never changes credentials.
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 *
 * Why: the kernel refuses a write() on an rdma_cm or uverbs fd from any
 * credential object but the one that opened it (EACCES). smbd switches the
 * identity of its threads per request, so after the first switch its
 * thread can issue no rdma_cm call and, on rxe and siw (whose send doorbell
 * is a write()), no ibv_post_send. See docs/architecture.md, "The RDMA
 * thread".
 *
 * The thread runs an epoll loop over:
 *  - an eventfd that callers write when they queue a command (only when
 *    the thread is not already awake: wake_pending);
 *  - every rdma_cm event channel, whose events it reads, copies and queues
 *    to the watch that owns the channel, signalling the watch's eventfd,
 *    which the caller's tevent context watches.
 *
 * Commands run in the order they were queued: synchronous calls (the
 * caller blocks until done) and posts of work requests (asynchronous;
 * consecutive posts to one QP go down as one chain, one doorbell). Posts
 * carry pointers to the caller's registered memory: nothing is copied but
 * the work request itself.
 *
 * The process-wide state (one thread per process) is the only global state
 * of the library.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "rdma_thread.h"

enum sd_cmd_kind {
	SD_CMD_CALL,
	SD_CMD_POST_SEND,
	SD_CMD_POST_RECV,
	SD_CMD_PARK,
	SD_CMD_STOP,
};

/* Work requests the library builds have at most one SGE. */
#define SD_CMD_MAX_SGE 1

struct sd_call {
	int (*fn)(void *arg);
	void *arg;
	int result;
	int error;
	bool done;
};

struct sd_cmd {
	enum sd_cmd_kind kind;
	struct sd_call *call;          /* SD_CMD_CALL */
	struct ibv_qp *qp;             /* posts */
	struct sd_watch *watch;        /* posts: told of a failure */
	union {
		struct ibv_send_wr send;
		struct ibv_recv_wr recv;
	} wr;
	struct ibv_sge sge[SD_CMD_MAX_SGE];
};

struct sd_rt {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* a call finished; park state */
	int epfd;
	int wake_fd;
	bool wake_pending;             /* the thread will look at the queue */
	/* commands queued by callers, and the batch the thread runs */
	struct sd_cmd *queue;
	uint32_t queue_count;
	uint32_t queue_capacity;
	struct sd_cmd *batch;
	uint32_t batch_capacity;
	bool parked;
	bool unpark;
	bool stop;
	struct sd_rt_stats stats;      /* under lock */
};

/* A CM event queued for a watch (thread mode). */
struct sd_watch_queue {
	struct sd_cm_event *events;
	uint32_t count;
	uint32_t capacity;
};

struct sd_watch {
	struct sd_rt *rt;              /* NULL: caller-thread mode */
	struct tevent_context *ev;
	struct rdma_event_channel *channel;
	struct tevent_fd *fde;
	int efd;                       /* thread mode: signalled by the thread */
	bool registered;               /* in the thread's epoll set */
	bool signalled;                /* under rt->lock */
	struct sd_watch_queue queue;   /* under rt->lock */
	sd_watch_fn fn;
	void *priv;
	unsigned int generation;       /* watch_generation at creation */
};

static pthread_mutex_t mode_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sd_rt *current_rt;
static _Atomic(struct sd_rt *) current_rt_atomic;
/* In a forked child: the copy of the parent's thread state, whose thread
 * does not exist here (set by rt_atfork_child). */
static struct sd_rt *inherited_rt;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* Every fork() of a process with an RDMA thread, not only the library's
 * own (sd_rt_fork_*): a host forks for reasons of its own (smbd forks a
 * child per TCP connection, and more). The child has no RDMA thread, so
 * it runs in caller-thread mode: a call queued to the parent's thread
 * would wait forever (measured: a TCP child of smbd hung in
 * FSCTL_QUERY_NETWORK_INTERFACE_INFO, whose RDMA device probe is an
 * sd_call). Only this thread runs here, so no lock is taken; mode_lock
 * may have been held by another thread of the parent: it starts anew. */
static void rt_atfork_child(void)
{
	pthread_mutex_init(&mode_lock, NULL);
	if (current_rt != NULL) {
		inherited_rt = current_rt;
		current_rt = NULL;
		atomic_store_explicit(&current_rt_atomic, NULL,
				      memory_order_release);
	}
}

static void rt_atfork_register(void)
{
	(void)pthread_atfork(NULL, NULL, rt_atfork_child);
}

struct sd_rt *sd_rt_current(void)
{
	return atomic_load_explicit(&current_rt_atomic, memory_order_acquire);
}

/* --- the thread ---------------------------------------------------------- */

static void signal_fd(int fd)
{
	uint64_t one = 1;
	ssize_t n;

	do {
		n = write(fd, &one, sizeof(one));
	} while (n < 0 && errno == EINTR);
}

static void drain_fd(int fd)
{
	uint64_t value;
	ssize_t n;

	do {
		n = read(fd, &value, sizeof(value));
	} while (n < 0 && errno == EINTR);
}

/* Queue an event for a watch and wake its owner (thread, under no lock). */
static void watch_push(struct sd_rt *rt, struct sd_watch *w,
		       const struct sd_cm_event *event)
{
	bool wake = false;

	pthread_mutex_lock(&rt->lock);
	if (w->queue.count == w->queue.capacity) {
		uint32_t capacity = w->queue.capacity > 0 ? w->queue.capacity * 2
							  : 8;
		struct sd_cm_event *grown = realloc(
			w->queue.events, sizeof(*grown) * capacity);

		if (grown == NULL) {
			/* Cannot queue: keep the last slot for the error. */
			pthread_mutex_unlock(&rt->lock);
			fprintf(stderr, "smbdirect[%d]: RDMA thread: no memory "
					"for a CM event; dropped\n",
				(int)getpid());
			return;
		}
		w->queue.events = grown;
		w->queue.capacity = capacity;
	}
	w->queue.events[w->queue.count++] = *event;
	if (!w->signalled) {
		w->signalled = true;
		wake = true;
	}
	pthread_mutex_unlock(&rt->lock);
	if (wake) {
		signal_fd(w->efd);
	}
}

/*
 * Read one event from a channel into `event`. Returns 1 with an event, 0
 * when none is waiting, -1 when the channel failed (event->error set).
 */
static int channel_read_one(struct rdma_event_channel *channel,
			    struct sd_cm_event *event)
{
	struct rdma_cm_event *cm = NULL;

	memset(event, 0, sizeof(*event));
	if (rdma_get_cm_event(channel, &cm) != 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			return 0;
		}
		event->error = errno != 0 ? errno : EIO;
		return -1;
	}
	event->type = cm->event;
	event->status = cm->status;
	event->id = cm->id;
	event->listen_id = cm->listen_id;
	if (cm->event == RDMA_CM_EVENT_CONNECT_REQUEST ||
	    cm->event == RDMA_CM_EVENT_CONNECT_RESPONSE ||
	    cm->event == RDMA_CM_EVENT_ESTABLISHED) {
		event->responder_resources =
			cm->param.conn.responder_resources;
		event->initiator_depth = cm->param.conn.initiator_depth;
	}
	rdma_ack_cm_event(cm);
	return 1;
}

/* The thread: every event waiting on a watched channel. */
static void thread_pump_watch(struct sd_rt *rt, struct sd_watch *w)
{
	struct sd_cm_event event;
	int n;

	for (;;) {
		n = channel_read_one(w->channel, &event);
		if (n == 0) {
			return;
		}
		watch_push(rt, w, &event);
		if (n < 0) {
			/* A failing channel would spin the loop: drop it. */
			epoll_ctl(rt->epfd, EPOLL_CTL_DEL, w->channel->fd, NULL);
			w->registered = false;
			return;
		}
	}
}

static void post_failed(struct sd_rt *rt, struct sd_watch *w, int error)
{
	struct sd_cm_event event;

	memset(&event, 0, sizeof(event));
	event.error = error;
	event.post_failed = true;
	if (w != NULL) {
		watch_push(rt, w, &event);
	}
}

/* Post the run of posts to one QP that starts at batch[i]; returns the
 * index after it. */
static uint32_t thread_post_run(struct sd_rt *rt, struct sd_cmd *batch,
				uint32_t i, uint32_t count)
{
	enum sd_cmd_kind kind = batch[i].kind;
	struct ibv_qp *qp = batch[i].qp;
	uint32_t end = i;
	uint32_t k;
	int ret;

	while (end < count && batch[end].kind == kind && batch[end].qp == qp) {
		end += 1;
	}
	for (k = i; k < end; k++) {
		bool last = k + 1 == end;

		if (kind == SD_CMD_POST_SEND) {
			struct ibv_send_wr *wr = &batch[k].wr.send;

			if (wr->num_sge > 0) {
				wr->sg_list = batch[k].sge;
			}
			wr->next = last ? NULL : &batch[k + 1].wr.send;
		} else {
			struct ibv_recv_wr *wr = &batch[k].wr.recv;

			if (wr->num_sge > 0) {
				wr->sg_list = batch[k].sge;
			}
			wr->next = last ? NULL : &batch[k + 1].wr.recv;
		}
	}
	if (kind == SD_CMD_POST_SEND) {
		struct ibv_send_wr *bad = NULL;

		ret = ibv_post_send(qp, &batch[i].wr.send, &bad);
	} else {
		struct ibv_recv_wr *bad = NULL;

		ret = ibv_post_recv(qp, &batch[i].wr.recv, &bad);
	}
	pthread_mutex_lock(&rt->lock);
	rt->stats.posts += 1;
	rt->stats.work_requests += end - i;
	pthread_mutex_unlock(&rt->lock);
	if (ret != 0) {
		post_failed(rt, batch[i].watch, ret);
	}
	return end;
}

static void thread_run_batch(struct sd_rt *rt, uint32_t count)
{
	struct sd_cmd *batch = rt->batch;
	uint32_t i = 0;

	while (i < count) {
		struct sd_cmd *cmd = &batch[i];

		switch (cmd->kind) {
		case SD_CMD_POST_SEND:
		case SD_CMD_POST_RECV:
			i = thread_post_run(rt, batch, i, count);
			continue;
		case SD_CMD_CALL:
			errno = 0;
			cmd->call->result = cmd->call->fn(cmd->call->arg);
			cmd->call->error = errno;
			pthread_mutex_lock(&rt->lock);
			cmd->call->done = true;
			rt->stats.calls += 1;
			pthread_cond_broadcast(&rt->cond);
			pthread_mutex_unlock(&rt->lock);
			break;
		case SD_CMD_PARK:
			/* Around fork(): hold no lock of librdmacm's or ours
			 * while the caller forks. */
			pthread_mutex_lock(&rt->lock);
			rt->parked = true;
			pthread_cond_broadcast(&rt->cond);
			while (!rt->unpark) {
				pthread_cond_wait(&rt->cond, &rt->lock);
			}
			rt->parked = false;
			rt->unpark = false;
			/* sd_rt_fork_parent() waits for this. */
			pthread_cond_broadcast(&rt->cond);
			pthread_mutex_unlock(&rt->lock);
			break;
		case SD_CMD_STOP:
			pthread_mutex_lock(&rt->lock);
			rt->stop = true;
			pthread_mutex_unlock(&rt->lock);
			break;
		}
		i += 1;
	}
}

static void *thread_main(void *arg)
{
	struct sd_rt *rt = arg;
	struct epoll_event events[16];

	pthread_mutex_lock(&rt->lock);
	for (;;) {
		uint32_t count;
		struct sd_cmd *swap;
		uint32_t swap_capacity;
		int n;
		int i;

		if (rt->stop) {
			break;
		}
		if (rt->queue_count == 0) {
			/* Asleep: the next caller to queue must wake us. */
			rt->wake_pending = false;
			pthread_mutex_unlock(&rt->lock);
			n = epoll_wait(rt->epfd, events, 16, -1);
			for (i = 0; i < n; i++) {
				struct sd_watch *w = events[i].data.ptr;

				if (w == NULL) {
					drain_fd(rt->wake_fd);
				} else {
					thread_pump_watch(rt, w);
				}
			}
			pthread_mutex_lock(&rt->lock);
			rt->stats.wakeups += 1;
			continue;
		}
		/* Take the queue; callers fill the other array meanwhile and
		 * need not wake us (wake_pending stays true). */
		count = rt->queue_count;
		swap = rt->batch;
		swap_capacity = rt->batch_capacity;
		rt->batch = rt->queue;
		rt->batch_capacity = rt->queue_capacity;
		rt->queue = swap;
		rt->queue_capacity = swap_capacity;
		rt->queue_count = 0;
		pthread_mutex_unlock(&rt->lock);
		thread_run_batch(rt, count);
		pthread_mutex_lock(&rt->lock);
	}
	pthread_mutex_unlock(&rt->lock);
	return NULL;
}

/* Append a command (under rt->lock); false if out of memory. */
static struct sd_cmd *queue_cmd(struct sd_rt *rt)
{
	if (rt->queue_count == rt->queue_capacity) {
		uint32_t capacity =
			rt->queue_capacity > 0 ? rt->queue_capacity * 2 : 64;
		struct sd_cmd *grown =
			realloc(rt->queue, sizeof(*grown) * capacity);

		if (grown == NULL) {
			return NULL;
		}
		rt->queue = grown;
		rt->queue_capacity = capacity;
	}
	return &rt->queue[rt->queue_count++];
}

/* After queueing (under rt->lock): must the caller write the eventfd? */
static bool wake_needed(struct sd_rt *rt)
{
	if (rt->wake_pending) {
		return false;
	}
	rt->wake_pending = true;
	return true;
}

static int rt_start(struct sd_rt **out)
{
	struct sd_rt *rt = calloc(1, sizeof(*rt));
	struct epoll_event ev;
	sigset_t all;
	sigset_t old;
	int ret;

	(void)pthread_once(&atfork_once, rt_atfork_register);
	if (rt == NULL) {
		return ENOMEM;
	}
	pthread_mutex_init(&rt->lock, NULL);
	pthread_cond_init(&rt->cond, NULL);
	rt->wake_pending = true; /* until the thread first sleeps */
	rt->epfd = epoll_create1(EPOLL_CLOEXEC);
	rt->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rt->epfd < 0 || rt->wake_fd < 0) {
		ret = errno;
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(rt->epfd, EPOLL_CTL_ADD, rt->wake_fd, &ev) != 0) {
		ret = errno;
		goto fail;
	}
	/* The thread takes no signals: they stay the application's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&rt->thread, NULL, thread_main, rt);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0) {
		goto fail;
	}
	*out = rt;
	return 0;
fail:
	if (rt->epfd >= 0) {
		close(rt->epfd);
	}
	if (rt->wake_fd >= 0) {
		close(rt->wake_fd);
	}
	pthread_cond_destroy(&rt->cond);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
	return ret;
}

static void rt_free_memory(struct sd_rt *rt)
{
	free(rt->queue);
	free(rt->batch);
	free(rt);
}

static void rt_stop(struct sd_rt *rt)
{
	struct sd_cmd *cmd;

	pthread_mutex_lock(&rt->lock);
	cmd = queue_cmd(rt);
	if (cmd == NULL) {
		rt->stop = true;
	} else {
		memset(cmd, 0, sizeof(*cmd));
		cmd->kind = SD_CMD_STOP;
	}
	rt->wake_pending = true;
	pthread_mutex_unlock(&rt->lock);
	signal_fd(rt->wake_fd);
	pthread_join(rt->thread, NULL);
	close(rt->epfd);
	close(rt->wake_fd);
	pthread_cond_destroy(&rt->cond);
	pthread_mutex_destroy(&rt->lock);
	rt_free_memory(rt);
}

/* --- public mode switch ---------------------------------------------------- */

/* Watches alive in this process (under mode_lock): the thread mode may
 * change only while there are none. A forked child starts a new
 * generation: the watches it inherited are the parent's, to be forgotten
 * (sd_watch_forget), and do not count. */
static unsigned int live_watches;
static unsigned int watch_generation;

int smbdirect_set_thread_mode(enum smbdirect_thread_mode mode)
{
	int ret = 0;

	if (mode != SMBDIRECT_THREAD_MODE_CALLER &&
	    mode != SMBDIRECT_THREAD_MODE_RDMA_THREAD) {
		return EINVAL;
	}
	pthread_mutex_lock(&mode_lock);
	if (mode == SMBDIRECT_THREAD_MODE_RDMA_THREAD && current_rt == NULL) {
		if (live_watches > 0) {
			ret = EBUSY;
		} else {
			ret = rt_start(&current_rt);
			atomic_store_explicit(&current_rt_atomic, current_rt,
					      memory_order_release);
		}
	} else if (mode == SMBDIRECT_THREAD_MODE_CALLER && current_rt != NULL) {
		if (live_watches > 0) {
			ret = EBUSY;
		} else {
			struct sd_rt *rt = current_rt;

			current_rt = NULL;
			atomic_store_explicit(&current_rt_atomic, NULL,
					      memory_order_release);
			rt_stop(rt);
		}
	}
	pthread_mutex_unlock(&mode_lock);
	return ret;
}

enum smbdirect_thread_mode smbdirect_get_thread_mode(void)
{
	return sd_rt_current() != NULL ? SMBDIRECT_THREAD_MODE_RDMA_THREAD
				       : SMBDIRECT_THREAD_MODE_CALLER;
}

const char *smbdirect_thread_mode_string(enum smbdirect_thread_mode mode)
{
	switch (mode) {
	case SMBDIRECT_THREAD_MODE_CALLER:
		return "caller-thread";
	case SMBDIRECT_THREAD_MODE_RDMA_THREAD:
		return "rdma-thread";
	}
	return "unknown";
}

void sd_rt_get_stats(struct sd_rt_stats *stats)
{
	struct sd_rt *rt = sd_rt_current();

	memset(stats, 0, sizeof(*stats));
	if (rt == NULL) {
		return;
	}
	pthread_mutex_lock(&rt->lock);
	*stats = rt->stats;
	pthread_mutex_unlock(&rt->lock);
}

/* --- fork ---------------------------------------------------------------- */

void sd_rt_fork_prepare(void)
{
	struct sd_rt *rt;
	struct sd_cmd *cmd;
	bool wake;

	pthread_mutex_lock(&mode_lock);
	rt = current_rt;
	if (rt == NULL) {
		return; /* mode_lock stays held across fork() */
	}
	pthread_mutex_lock(&rt->lock);
	cmd = queue_cmd(rt);
	if (cmd == NULL) {
		/* Without parking, fork anyway: the child never uses the
		 * parent's thread state. */
		pthread_mutex_unlock(&rt->lock);
		return;
	}
	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = SD_CMD_PARK;
	wake = wake_needed(rt);
	pthread_mutex_unlock(&rt->lock);
	if (wake) {
		signal_fd(rt->wake_fd);
	}
	pthread_mutex_lock(&rt->lock);
	while (!rt->parked) {
		pthread_cond_wait(&rt->cond, &rt->lock);
	}
	pthread_mutex_unlock(&rt->lock);
}

void sd_rt_fork_parent(void)
{
	struct sd_rt *rt = current_rt;

	if (rt != NULL) {
		pthread_mutex_lock(&rt->lock);
		if (rt->parked) {
			rt->unpark = true;
			pthread_cond_broadcast(&rt->cond);
			/* Until the thread left the park: the next fork's
			 * prepare must see it parked anew, not still. */
			while (rt->parked) {
				pthread_cond_wait(&rt->cond, &rt->lock);
			}
		}
		pthread_mutex_unlock(&rt->lock);
	}
	pthread_mutex_unlock(&mode_lock);
}

int sd_rt_fork_child(void)
{
	/* rt_atfork_child() ran already and moved it aside. */
	struct sd_rt *old = inherited_rt != NULL ? inherited_rt : current_rt;
	int ret = 0;

	inherited_rt = NULL;

	/* Only this thread exists here. The parent's thread state (its
	 * mutex, queue, parked thread) is left as it is and never used: the
	 * fds are closed, the memory is the parent's copy. */
	pthread_mutex_init(&mode_lock, NULL);
	watch_generation += 1;
	live_watches = 0;
	if (old == NULL) {
		return 0;
	}
	close(old->epfd);
	close(old->wake_fd);
	/* The copy of the parent's state: its thread does not exist here. */
	rt_free_memory(old);
	current_rt = NULL;
	atomic_store_explicit(&current_rt_atomic, NULL, memory_order_release);
	/* The child's own thread, before anything else touches RDMA. */
	ret = rt_start(&current_rt);
	atomic_store_explicit(&current_rt_atomic, current_rt,
			      memory_order_release);
	return ret;
}

/* --- calls and posts --------------------------------------------------------- */

int sd_call(int (*fn)(void *arg), void *arg)
{
	struct sd_rt *rt = sd_rt_current();
	struct sd_call call;
	struct sd_cmd *cmd;
	bool wake;

	if (rt == NULL) {
		return fn(arg);
	}
	memset(&call, 0, sizeof(call));
	call.fn = fn;
	call.arg = arg;
	pthread_mutex_lock(&rt->lock);
	cmd = queue_cmd(rt);
	if (cmd == NULL) {
		pthread_mutex_unlock(&rt->lock);
		errno = ENOMEM;
		return -1;
	}
	memset(cmd, 0, sizeof(*cmd));
	cmd->kind = SD_CMD_CALL;
	cmd->call = &call;
	wake = wake_needed(rt);
	pthread_mutex_unlock(&rt->lock);
	if (wake) {
		signal_fd(rt->wake_fd);
	}
	pthread_mutex_lock(&rt->lock);
	while (!call.done) {
		pthread_cond_wait(&rt->cond, &rt->lock);
	}
	pthread_mutex_unlock(&rt->lock);
	errno = call.error;
	return call.result;
}

/* Queue copies of a chain of work requests (thread mode). */
static int queue_posts(struct sd_rt *rt, enum sd_cmd_kind kind,
		       struct ibv_qp *qp, struct sd_watch *watch,
		       struct ibv_send_wr *send, struct ibv_recv_wr *recv)
{
	bool wake;

	pthread_mutex_lock(&rt->lock);
	while (send != NULL || recv != NULL) {
		struct sd_cmd *cmd = queue_cmd(rt);
		struct ibv_sge *sg;
		int num_sge;

		if (cmd == NULL) {
			pthread_mutex_unlock(&rt->lock);
			return ENOMEM;
		}
		memset(cmd, 0, sizeof(*cmd));
		cmd->kind = kind;
		cmd->qp = qp;
		cmd->watch = watch;
		if (send != NULL) {
			cmd->wr.send = *send;
			sg = send->sg_list;
			num_sge = send->num_sge;
			send = send->next;
		} else {
			cmd->wr.recv = *recv;
			sg = recv->sg_list;
			num_sge = recv->num_sge;
			recv = recv->next;
		}
		if (num_sge > SD_CMD_MAX_SGE) {
			rt->queue_count -= 1;
			pthread_mutex_unlock(&rt->lock);
			return EINVAL;
		}
		if (num_sge > 0 && sg != NULL) {
			memcpy(cmd->sge, sg, sizeof(*sg) * (size_t)num_sge);
		}
	}
	wake = wake_needed(rt);
	pthread_mutex_unlock(&rt->lock);
	if (wake) {
		signal_fd(rt->wake_fd);
	}
	return 0;
}

int sd_rt_post_send(struct sd_rt *rt, struct ibv_qp *qp,
		    struct sd_watch *watch, struct ibv_send_wr *wr)
{
	return queue_posts(rt, SD_CMD_POST_SEND, qp, watch, wr, NULL);
}

int sd_rt_post_recv(struct sd_rt *rt, struct ibv_qp *qp,
		    struct sd_watch *watch, struct ibv_recv_wr *wr)
{
	return queue_posts(rt, SD_CMD_POST_RECV, qp, watch, NULL, wr);
}

/* --- watches: rdma_cm event channels seen from tevent ------------------------ */

static void watch_readable(struct tevent_context *ev, struct tevent_fd *fde,
			   uint16_t flags, void *priv)
{
	struct sd_watch *w = priv;
	struct sd_cm_event event;
	bool more;
	int n;

	(void)ev;
	(void)fde;
	(void)flags;
	if (w->rt == NULL) {
		/* One event per wake-up: the handler may free the watch, and
		 * tevent calls again while the channel stays readable. */
		n = channel_read_one(w->channel, &event);
		if (n == 0) {
			return;
		}
		if (n < 0) {
			/* EACCES (credentials changed) leaves the event queued
			 * and the fd readable: stop watching, or we spin. */
			TALLOC_FREE(w->fde);
		}
		w->fn(&event, w->priv);
		return;
	}
	drain_fd(w->efd);
	pthread_mutex_lock(&w->rt->lock);
	if (w->queue.count == 0) {
		w->signalled = false;
		pthread_mutex_unlock(&w->rt->lock);
		return;
	}
	event = w->queue.events[0];
	w->queue.count -= 1;
	memmove(w->queue.events, w->queue.events + 1,
		sizeof(event) * w->queue.count);
	more = w->queue.count > 0;
	if (!more) {
		w->signalled = false;
	}
	pthread_mutex_unlock(&w->rt->lock);
	if (more) {
		signal_fd(w->efd);
	}
	w->fn(&event, w->priv);
}

struct watch_ctl {
	struct sd_rt *rt;
	struct sd_watch *w;
	bool add;
};

static int watch_ctl_fn(void *arg)
{
	struct watch_ctl *c = arg;
	struct epoll_event ev;

	if (!c->add) {
		if (c->w->registered) {
			epoll_ctl(c->rt->epfd, EPOLL_CTL_DEL,
				  c->w->channel->fd, NULL);
			c->w->registered = false;
		}
		return 0;
	}
	if (c->w->channel == NULL) {
		/* Failed posts only: nothing to poll. */
		return 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = c->w;
	if (epoll_ctl(c->rt->epfd, EPOLL_CTL_ADD, c->w->channel->fd, &ev) != 0) {
		return -1;
	}
	c->w->registered = true;
	/* Events that arrived before registration. */
	thread_pump_watch(c->rt, c->w);
	return 0;
}

static int watch_destructor(struct sd_watch *w)
{
	TALLOC_FREE(w->fde);
	if (w->rt != NULL && w->rt == sd_rt_current()) {
		struct watch_ctl c = { .rt = w->rt, .w = w, .add = false };

		/* Synchronous: afterwards the thread never touches w. */
		sd_call(watch_ctl_fn, &c);
	}
	free(w->queue.events);
	if (w->efd >= 0) {
		close(w->efd);
	}
	pthread_mutex_lock(&mode_lock);
	if (w->generation == watch_generation) {
		live_watches -= 1;
	}
	pthread_mutex_unlock(&mode_lock);
	return 0;
}

struct sd_watch *sd_watch_new(TALLOC_CTX *mem_ctx, struct tevent_context *ev,
			      struct rdma_event_channel *channel,
			      sd_watch_fn fn, void *priv)
{
	struct sd_watch *w = talloc_zero(mem_ctx, struct sd_watch);
	int fd;

	if (w == NULL) {
		return NULL;
	}
	w->ev = ev;
	w->channel = channel;
	w->fn = fn;
	w->priv = priv;
	w->efd = -1;
	w->rt = sd_rt_current();
	pthread_mutex_lock(&mode_lock);
	live_watches += 1;
	w->generation = watch_generation;
	pthread_mutex_unlock(&mode_lock);
	talloc_set_destructor(w, watch_destructor);
	if (w->rt != NULL) {
		struct watch_ctl c = { .rt = w->rt, .w = w, .add = true };

		w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (w->efd < 0) {
			talloc_free(w);
			return NULL;
		}
		fd = w->efd;
		w->fde = tevent_add_fd(ev, w, fd, TEVENT_FD_READ,
				       watch_readable, w);
		if (w->fde == NULL || sd_call(watch_ctl_fn, &c) != 0) {
			talloc_free(w);
			return NULL;
		}
		return w;
	}
	if (channel == NULL) {
		/* Caller-thread mode without a channel: a post fails where it
		 * is made, so there is nothing to deliver. */
		return w;
	}
	w->fde = tevent_add_fd(ev, w, channel->fd, TEVENT_FD_READ,
			       watch_readable, w);
	if (w->fde == NULL) {
		talloc_free(w);
		return NULL;
	}
	return w;
}

void sd_watch_set_handler(struct sd_watch *watch, sd_watch_fn fn, void *priv)
{
	watch->fn = fn;
	watch->priv = priv;
}

void sd_watch_forget(struct sd_watch *watch)
{
	/* After fork, in the child: the channel and the thread are the
	 * parent's. Release our side only. */
	TALLOC_FREE(watch->fde);
	watch->rt = NULL;
	talloc_free(watch);
}

/* --- small wrappers for the rdma_cm calls every file needs ------------------- */

static int channel_new_fn(void *arg)
{
	struct rdma_event_channel **channel = arg;
	int flags;

	*channel = rdma_create_event_channel();
	if (*channel == NULL) {
		return -1;
	}
	flags = fcntl((*channel)->fd, F_GETFL);
	if (flags < 0 ||
	    fcntl((*channel)->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		int err = errno;

		rdma_destroy_event_channel(*channel);
		*channel = NULL;
		errno = err;
		return -1;
	}
	return 0;
}

struct rdma_event_channel *sd_channel_new(int *error)
{
	struct rdma_event_channel *channel = NULL;

	if (sd_call(channel_new_fn, &channel) != 0) {
		*error = errno != 0 ? errno : EIO;
		return NULL;
	}
	*error = 0;
	return channel;
}

static int channel_free_fn(void *arg)
{
	rdma_destroy_event_channel(arg);
	return 0;
}

void sd_channel_free(struct rdma_event_channel *channel)
{
	if (channel != NULL) {
		sd_call(channel_free_fn, channel);
	}
}

static int id_free_fn(void *arg)
{
	return rdma_destroy_id(arg);
}

void sd_id_free(struct rdma_cm_id *id)
{
	if (id != NULL) {
		sd_call(id_free_fn, id);
	}
}

static int disconnect_fn(void *arg)
{
	return rdma_disconnect(arg);
}

int sd_disconnect_id(struct rdma_cm_id *id)
{
	return sd_call(disconnect_fn, id) != 0 ? (errno != 0 ? errno : EIO) : 0;
}

void smbdirect_get_thread_stats(struct smbdirect_thread_stats *stats)
{
	struct sd_rt_stats s;

	sd_rt_get_stats(&s);
	stats->calls = s.calls;
	stats->posts = s.posts;
	stats->work_requests = s.work_requests;
	stats->wakeups = s.wakeups;
}
