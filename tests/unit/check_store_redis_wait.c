/*
 * check_store_redis_wait.c — unit tests for lib/store_redis_wait.c against a
 * real, private redis-server (tests/unit/store_redis_fixture.h): a wait wakes
 * on its channel's commits from another process, not on another channel's;
 * a commit before the watch is reported at once; an emptied store is a
 * reset.
 */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"
#include "store_redis_fixture.h"

static const char *self;   /* argv[0]: this program, for insert_later() */

/* In another process with its own connection, as send.fcgi on another
 * host would: after delay_ms, one message on channel.  The child execs this
 * binary again ("insert" mode, main()), so it shares no memory with us
 * (valgrind checks only us). */
static pid_t insert_later(int db, const char *channel, int delay_ms)
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		char u[64];

		usleep((useconds_t)delay_ms * 1000);
		url(u, sizeof u, db);
		execl(self, self, "insert", u, channel, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* main()'s "insert URL CHANNEL" mode: 0 once the message is stored. */
static int insert_mode(const char *u, const char *channel)
{
	struct store *st = store_open(u, NULL);
	struct store_msg m;
	int rc = 1;

	if (st != NULL && store_insert(st, channel, "child", "late", "http", &m) == 0) {
		store_msg_clear(&m);
		rc = 0;
	}
	store_close(st);
	return rc;
}

static void reap(pid_t pid)
{
	int status;

	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(wait_wakes_on_its_channel_from_another_process)
{
	struct store *st = open_db(4);
	struct store_msgs ms;
	int64_t last;
	pid_t w;

	insert(st, "a", "old");
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(store_watch(st, "a", last), 0);
	ck_assert_int_eq(store_wait(st, 0), 0);           /* nothing new */
	w = insert_later(4, "a", 100);
	ck_assert_int_eq(store_wait(st, 5000), STORE_WAIT_CHANGE);
	reap(w);
	ck_assert_int_eq(store_read_after(st, "a", last, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	ck_assert_str_eq(ms.v[0].user, "child");
	store_msgs_free(&ms);
	store_unwatch(st, "a");
	store_close(st);
}
END_TEST

START_TEST(a_commit_on_another_channel_does_not_wake)
{
	struct store *st = open_db(5);
	int fd;
	pid_t w;

	ck_assert_int_eq(store_watch(st, "quiet", 0), 0);
	fd = store_wait_fd(st);
	ck_assert_int_ge(fd, 0);
	w = insert_later(5, "busy", 0);
	reap(w);
	/* The fd stays silent: Redis pushes nothing for channel "busy". */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 300), 0);
	ck_assert_int_eq(store_wait(st, 200), 0);
	/* A commit on ours does reach the fd. */
	w = insert_later(5, "quiet", 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(store_wait_check(st), STORE_WAIT_CHANGE);
	reap(w);
	store_unwatch(st, "quiet");
	store_close(st);
}
END_TEST

/* A commit between the caller's read and its watch is reported at once. */
START_TEST(watch_after_a_commit_reports_it)
{
	struct store *st = open_db(6), *other = open_db(6);
	int64_t cursor;

	ck_assert_int_eq(store_last_id(st, &cursor), 0);
	insert(other, "r", "between");
	ck_assert_int_eq(store_watch(st, "r", cursor), 0);
	ck_assert_int_eq(store_wait_next_ms(st), 0);
	ck_assert_int_eq(store_wait(st, 1000), STORE_WAIT_CHANGE);
	/* Watches are counted: one unwatch of two keeps the channel watched. */
	ck_assert_int_eq(store_watch(st, "r", 1), 0);
	store_unwatch(st, "r");
	store_unwatch(st, "r");
	store_close(other);
	store_close(st);
}
END_TEST

/* FLUSHDB under a waiter: ids start again at 1, which the waiter sees as a
 * reset (as a recreated SQLite file), not as news it would never find. */
START_TEST(an_emptied_store_is_a_reset)
{
	struct store *st = open_db(10), *waiter = open_db(10);
	char cmd[128];
	int rc;

	ck_assert_int_eq(store_watch(waiter, "f", 0), 0);
	for (int i = 0; i < 3; i++)
		insert(st, "f", "before");
	while ((rc = store_wait(waiter, 300)) == STORE_WAIT_CHANGE)
		;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(store_replaced(waiter), 0);
	snprintf(cmd, sizeof cmd, "redis-cli -p %d -n 10 FLUSHDB >/dev/null", port);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(insert(st, "f", "after"), 1);
	ck_assert_int_eq(store_wait(waiter, 5000), STORE_WAIT_RESET);
	ck_assert_int_eq(store_replaced(waiter), 1);
	ck_assert_int_eq(store_reopen(&waiter), 0);
	ck_assert_int_eq(store_replaced(waiter), 0);
	store_close(waiter);
	store_close(st);
}
END_TEST

static Suite *store_redis_wait_suite(void)
{
	Suite *s = suite_create("store_redis_wait");
	TCase *tc = store_redis_fixture_tcase();

	tcase_add_test(tc, wait_wakes_on_its_channel_from_another_process);
	tcase_add_test(tc, a_commit_on_another_channel_does_not_wake);
	tcase_add_test(tc, watch_after_a_commit_reports_it);
	tcase_add_test(tc, an_emptied_store_is_a_reset);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "insert") == 0)
		return insert_mode(argv[2], argv[3]);
	self = argv[0];
	return store_redis_fixture_run("check_store_redis_wait", store_redis_wait_suite);
}
