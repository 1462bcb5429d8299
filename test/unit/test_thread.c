/*
 * libsmbdirect unit tests: the RDMA thread (lib/thread/rdma_thread.c) without an
 * RDMA device: thread modes, synchronous calls (where they run, in what
 * order, with what result and errno), and fork, which gives the child a
 * thread of its own. The VM tier tests the same thread with real verbs and
 * credential switches (test/vm, identity tests).
 *
 * Copyright (C) 2026 The libsmbdirect authors
 * SPDX-License-Identifier: LGPL-3.0-or-later
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rdma_thread.h"
#include "unit.h"

static pid_t thread_id(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static int record_tid(void *arg)
{
	*(pid_t *)arg = thread_id();
	return 0;
}

/* Returns its argument's value and sets errno to it plus one. */
static int echo_errno(void *arg)
{
	int v = *(int *)arg;

	errno = v + 1;
	return v;
}

static int signals_blocked(void *arg)
{
	sigset_t set;

	(void)arg;
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	return sigismember(&set, SIGINT) == 1 && sigismember(&set, SIGTERM) == 1;
}

static int set_rdma_thread(void **state)
{
	(void)state;
	return smbdirect_set_thread_mode(SMBDIRECT_THREAD_MODE_RDMA_THREAD);
}

static int set_caller(void **state)
{
	(void)state;
	return smbdirect_set_thread_mode(SMBDIRECT_THREAD_MODE_CALLER);
}

static void test_default_mode_runs_inline(void **state)
{
	pid_t tid = 0;

	(void)state;
	assert_int_equal(smbdirect_get_thread_mode(),
			 SMBDIRECT_THREAD_MODE_CALLER);
	assert_null(sd_rt_current());
	assert_int_equal(sd_call(record_tid, &tid), 0);
	assert_int_equal(tid, thread_id());
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(
		smbdirect_thread_mode_string(SMBDIRECT_THREAD_MODE_CALLER),
		"caller-thread");
	assert_string_equal(smbdirect_thread_mode_string(
				    SMBDIRECT_THREAD_MODE_RDMA_THREAD),
			    "rdma-thread");
	assert_string_equal(
		smbdirect_thread_mode_string((enum smbdirect_thread_mode)7),
		"unknown");
	assert_int_equal(
		smbdirect_set_thread_mode((enum smbdirect_thread_mode)7),
		EINVAL);
}

/* In rdma-thread mode a call runs on one other thread, always the same,
 * which takes no signals; its result and errno come back. */
static void test_calls_run_on_the_thread(void **state)
{
	struct smbdirect_thread_stats before;
	struct smbdirect_thread_stats after;
	pid_t first = 0;
	pid_t again = 0;
	int v = 41;

	(void)state;
	assert_int_equal(smbdirect_get_thread_mode(),
			 SMBDIRECT_THREAD_MODE_RDMA_THREAD);
	smbdirect_get_thread_stats(&before);
	assert_int_equal(sd_call(record_tid, &first), 0);
	assert_int_equal(sd_call(record_tid, &again), 0);
	assert_int_not_equal(first, thread_id());
	assert_int_equal(first, again);
	errno = 0;
	assert_int_equal(sd_call(echo_errno, &v), 41);
	assert_int_equal(errno, 42);
	assert_int_equal(sd_call(signals_blocked, NULL), 1);
	smbdirect_get_thread_stats(&after);
	assert_int_equal(after.calls - before.calls, 4);
	/* Setting the mode it has is a no-op. */
	assert_int_equal(
		smbdirect_set_thread_mode(SMBDIRECT_THREAD_MODE_RDMA_THREAD), 0);
	assert_int_equal(sd_call(record_tid, &again), 0);
	assert_int_equal(first, again);
}

/* Several caller threads at once: every call runs exactly once, and each
 * caller's calls run in the order it made them. */
#define CALLERS 4
#define CALLS_EACH 2000

struct order_check {
	unsigned int next;   /* touched only on the RDMA thread */
	unsigned int wrong;
};

struct caller_arg {
	struct order_check *check;
	unsigned int seq;
};

static int in_order(void *arg)
{
	struct caller_arg *a = arg;

	if (a->seq != a->check->next) {
		a->check->wrong += 1;
	}
	a->check->next = a->seq + 1;
	return 0;
}

static void *caller_main(void *arg)
{
	struct order_check *check = arg;
	struct caller_arg a = {.check = check};
	unsigned int i;

	for (i = 0; i < CALLS_EACH; i++) {
		a.seq = i;
		if (sd_call(in_order, &a) != 0) {
			check->wrong += 1000000;
		}
	}
	return NULL;
}

static void test_concurrent_callers_in_order(void **state)
{
	pthread_t threads[CALLERS];
	struct order_check checks[CALLERS];
	int i;

	(void)state;
	memset(checks, 0, sizeof(checks));
	for (i = 0; i < CALLERS; i++) {
		assert_int_equal(pthread_create(&threads[i], NULL, caller_main,
						&checks[i]),
				 0);
	}
	for (i = 0; i < CALLERS; i++) {
		pthread_join(threads[i], NULL);
	}
	for (i = 0; i < CALLERS; i++) {
		assert_int_equal(checks[i].next, CALLS_EACH);
		assert_int_equal(checks[i].wrong, 0);
	}
}

/* Back to caller mode stops the thread; rdma-thread mode starts a new one. */
static void test_mode_switch_stops_and_restarts(void **state)
{
	pid_t first = 0;
	pid_t second = 0;
	pid_t here = 0;

	(void)state;
	assert_int_equal(sd_call(record_tid, &first), 0);
	assert_int_equal(
		smbdirect_set_thread_mode(SMBDIRECT_THREAD_MODE_CALLER), 0);
	assert_null(sd_rt_current());
	assert_int_equal(sd_call(record_tid, &here), 0);
	assert_int_equal(here, thread_id());
	assert_int_equal(
		smbdirect_set_thread_mode(SMBDIRECT_THREAD_MODE_RDMA_THREAD), 0);
	assert_int_equal(sd_call(record_tid, &second), 0);
	assert_int_not_equal(second, thread_id());
	assert_int_not_equal(second, first);
}

/* Another caller keeps calling while the main thread forks: the thread is
 * parked around fork(), the child gets a thread of its own and its calls
 * work, the parent's thread goes on. */
struct hammer {
	atomic_int stop;
	unsigned long calls;
	unsigned long failures;
};

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(&h->stop)) {
		if (sd_call(nothing, NULL) != 0) {
			h->failures += 1;
		}
		h->calls += 1;
	}
	return NULL;
}

static void test_fork_gives_the_child_its_own_thread(void **state)
{
	struct hammer h = {0};
	pthread_t hammer_thread;
	pid_t parent_thread = 0;
	pid_t after = 0;
	int round;

	(void)state;
	assert_int_equal(sd_call(record_tid, &parent_thread), 0);
	assert_int_equal(pthread_create(&hammer_thread, NULL, hammer_main, &h),
			 0);
	for (round = 0; round < 20; round++) {
		int status = -1;
		pid_t pid;

		sd_rt_fork_prepare();
		pid = fork();
		if (pid == 0) {
			pid_t child_thread = 0;
			int i;

			if (sd_rt_fork_child() != 0 || sd_rt_current() == NULL) {
				_exit(10);
			}
			for (i = 0; i < 100; i++) {
				if (sd_call(record_tid, &child_thread) != 0 ||
				    child_thread == thread_id() ||
				    child_thread == 0) {
					_exit(11);
				}
			}
			/* Not the parent's thread (which does not exist
			 * here); a thread of this process. */
			if ((pid_t)syscall(SYS_tgkill, getpid(), child_thread,
					   0) != 0) {
				_exit(12);
			}
			_exit(0);
		}
		sd_rt_fork_parent();
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	atomic_store(&h.stop, 1);
	pthread_join(hammer_thread, NULL);
	assert_int_equal(h.failures, 0);
	assert_true(h.calls > 0);
	assert_int_equal(sd_call(record_tid, &after), 0);
	assert_int_equal(after, parent_thread);
}

/* A fork() the library is not told about (a host forking for reasons of
 * its own, as smbd does per TCP connection): the child has no RDMA
 * thread, runs its calls in the caller's thread and does not hang; the
 * parent's thread goes on. */
static void test_plain_fork_child_runs_calls_inline(void **state)
{
	pid_t parent_thread = 0;
	pid_t after = 0;
	int status = -1;
	pid_t pid;

	(void)state;
	assert_int_equal(sd_call(record_tid, &parent_thread), 0);
	assert_true(parent_thread != thread_id());
	pid = fork();
	if (pid == 0) {
		pid_t child_thread = 0;
		int v = 7;

		alarm(10); /* the old code waited forever here */
		if (sd_rt_current() != NULL ||
		    smbdirect_get_thread_mode() != SMBDIRECT_THREAD_MODE_CALLER) {
			_exit(10);
		}
		if (sd_call(record_tid, &child_thread) != 0 ||
		    child_thread != thread_id()) {
			_exit(11);
		}
		errno = 0;
		if (sd_call(echo_errno, &v) != 7 || errno != 8) {
			_exit(12);
		}
		_exit(0);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(sd_call(record_tid, &after), 0);
	assert_int_equal(after, parent_thread);
}

int main(void)
{
	const struct CMUnitTest caller_tests[] = {
		cmocka_unit_test(test_default_mode_runs_inline),
		cmocka_unit_test(test_mode_names),
	};
	const struct CMUnitTest thread_tests[] = {
		cmocka_unit_test(test_calls_run_on_the_thread),
		cmocka_unit_test(test_concurrent_callers_in_order),
		cmocka_unit_test(test_mode_switch_stops_and_restarts),
		cmocka_unit_test(test_fork_gives_the_child_its_own_thread),
		cmocka_unit_test(test_plain_fork_child_runs_calls_inline),
	};
	int failed;

	failed = cmocka_run_group_tests_name("caller-thread mode", caller_tests,
					     NULL, NULL);
	failed += cmocka_run_group_tests_name("rdma-thread mode", thread_tests,
					      set_rdma_thread, set_caller);
	return failed;
}
