/*
 * check_http_held.c — unit tests for lib/http_held.c and lib/http_hub.c: the
 * store of a held request, with a store of its own or through a process's
 * hub.
 *
 * The hub runs in a thread of the test (http_held_hub_run), as it runs in
 * the main thread of a threaded endpoint; the test calls the handles'
 * functions as request threads would.  Writes come through a second store
 * handle, as send.fcgi's would.  RT_SLOW_CHECK_MS=0 (every writer is rtlab)
 * makes the hub's read count exact: it is what the tests count, not time.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "http_held.h"
#include "notify.h"

static char dir[64];
static char path[128];
static struct http_held_hub *hub;
static pthread_t hub_thread;

static void make_db_file(void)
{
	char cmd[512];

	snprintf(cmd, sizeof cmd, "sqlite3 '%s' < sql/schema.sql > /dev/null", path);
	ck_assert_msg(system(cmd) == 0, "%s (run from the repo root)", cmd);
}

static void *run_hub(void *arg)
{
	http_held_hub_run(arg);
	return NULL;
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_held.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/rt.db", dir);
	make_db_file();
	setenv("RT_DB", path, 1);
	setenv("RT_SLOW_CHECK_MS", "0", 1);
	ck_assert_ptr_nonnull(hub = http_held_hub_open());
	ck_assert_int_eq(pthread_create(&hub_thread, NULL, run_hub, hub), 0);
}

static void teardown(void)
{
	char cmd[160];

	http_held_hub_stop(hub);
	pthread_join(hub_thread, NULL);
	http_held_hub_close(hub);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* n messages on channel from another connection; the last id. */
static int64_t publish(const char *channel, int n)
{
	struct store *st = store_open(path, NULL);
	struct store_msg m;
	int64_t id = 0;

	ck_assert_ptr_nonnull(st);
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(store_insert(st, channel, "u", "x", "http", &m), 0);
		id = m.id;
		store_msg_clear(&m);
	}
	store_close(st);
	return id;
}

/* Reads after *cursor into ids (at most max), moving *cursor; how many. */
static size_t read_ids(struct http_held *h, const char *channel, int64_t *cursor,
                       int64_t *ids, size_t max)
{
	struct store_msgs ms;
	size_t k = 0;

	ck_assert_int_eq(http_held_read_after(h, channel, *cursor, STORE_READ_MAX, &ms), 0);
	for (size_t i = 0; i < ms.n && k < max; i++) {
		ck_assert_str_eq(ms.v[i].channel, channel);
		ck_assert_uint_eq(strlen(ms.v[i].json), ms.v[i].json_len);
		ids[k++] = ms.v[i].id;
		*cursor = ms.v[i].id;
	}
	store_msgs_free(&ms);
	return k;
}

/* A channel whose notify bucket differs from channel's. */
static const char *other_bucket(const char *channel)
{
	static char name[32];

	for (int i = 0; ; i++) {
		snprintf(name, sizeof name, "other%d", i);
		if (notify_bucket(name) != notify_bucket(channel))
			return name;
	}
}

START_TEST(one_read_per_commit_for_every_waiter)
{
	enum { WAITERS = 8 };
	struct http_held *h[WAITERS];
	int64_t cursor[WAITERS] = { 0 }, ids[4];
	unsigned long reads;

	for (int i = 0; i < WAITERS; i++) {
		ck_assert_ptr_nonnull(h[i] = http_held_new(hub));
		ck_assert_int_eq(http_held_watch(h[i], "a", 0), 0);
		/* Nothing yet: the window answers, empty, without the store. */
		ck_assert_uint_eq(read_ids(h[i], "a", &cursor[i], ids, 4), 0);
	}
	usleep(100 * 1000);                 /* the hub has seen the watches */
	reads = http_held_hub_reads(hub);
	ck_assert_int_eq(publish("a", 1), 1);
	for (int i = 0; i < WAITERS; i++) {
		ck_assert_int_eq(http_held_wait(h[i], 5000), STORE_WAIT_CHANGE);
		ck_assert_uint_eq(read_ids(h[i], "a", &cursor[i], ids, 4), 1);
		ck_assert_int_eq(ids[0], 1);
		/* Read: the next wait sleeps again. */
		ck_assert_int_eq(http_held_wait(h[i], 0), 0);
	}
	usleep(200 * 1000);
	/* One read of the store for eight waiters. */
	ck_assert_uint_eq(http_held_hub_reads(hub) - reads, 1);
	for (int i = 0; i < WAITERS; i++)
		http_held_free(h[i]);
}
END_TEST

START_TEST(a_commit_on_another_channel_wakes_no_one)
{
	struct http_held *h = http_held_new(hub);
	unsigned long reads;

	ck_assert_int_eq(http_held_watch(h, "a", 0), 0);
	usleep(100 * 1000);
	reads = http_held_hub_reads(hub);
	publish(other_bucket("a"), 3);
	ck_assert_int_eq(http_held_wait(h, 300), 0);
	ck_assert_uint_eq(http_held_hub_reads(hub) - reads, 0);
	http_held_free(h);
}
END_TEST

START_TEST(a_cursor_behind_the_window_reads_the_store)
{
	enum { N = HTTP_HELD_WINDOW + 6 };
	struct http_held *early = http_held_new(hub), *late = http_held_new(hub);
	struct http_held *behind = http_held_new(hub);
	int64_t cursor = 0, ids[N], last;
	size_t n = 0;

	ck_assert_int_eq(http_held_watch(early, "w", 0), 0);
	last = publish("w", N);
	/* The hub may wake on the first commits before the last are made (a
	 * slow run, valgrind): then the rest come on the next wake.  Every
	 * one once, in order. */
	while (n < N) {
		ck_assert_int_eq(http_held_wait(early, 5000), STORE_WAIT_CHANGE);
		n += read_ids(early, "w", &cursor, ids + n, N - n);
	}
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ids[i], (int64_t)i + 1);
	/* The window now keeps the newest HTTP_HELD_WINDOW: a handle that
	 * joins from 0 gets the first six from the store, then the window. */
	cursor = 0;
	ck_assert_int_eq(http_held_watch(behind, "w", cursor), 0);
	ck_assert_uint_eq(read_ids(behind, "w", &cursor, ids, N), N);
	for (size_t i = 0; i < N; i++)
		ck_assert_int_eq(ids[i], (int64_t)i + 1);
	/* A handle that joins with a cursor inside the window reads it there. */
	cursor = last - 2;
	ck_assert_int_eq(http_held_watch(late, "w", cursor), 0);
	ck_assert_uint_eq(read_ids(late, "w", &cursor, ids, N), 2);
	ck_assert_int_eq(ids[1], last);
	http_held_free(early);
	http_held_free(late);
	http_held_free(behind);
}
END_TEST

START_TEST(the_poll_answer_comes_from_the_window)
{
	struct http_held *h = http_held_new(hub);
	struct http_cursor c = { .has_since = 1, .since = 0, .limit = 100 };
	struct http_poll p;

	strcpy(c.channel, "lp");
	ck_assert_int_eq(http_held_watch(h, "lp", 0), 0);
	/* Nothing yet: the store answers, with its newest id. */
	publish(other_bucket("lp"), 2);
	ck_assert_int_eq(http_held_poll_read(h, &c, &p), 0);
	ck_assert_uint_eq(p.msgs.n, 0);
	ck_assert_int_eq(p.last_id, 2);
	http_poll_free(&p);
	publish("lp", 2);
	/* The hub may wake on the first commit before the second is announced
	 * (a slow run, valgrind): then the second comes with the next wake, as
	 * a long-poll client would get it with its next request. */
	int64_t want = 3;
	for (int round = 0; round < 2 && want <= 4; round++) {
		ck_assert_int_eq(http_held_wait(h, 5000), STORE_WAIT_CHANGE);
		ck_assert_int_eq(http_held_poll_read(h, &c, &p), 0);
		ck_assert_uint_ge(p.msgs.n, 1);
		for (size_t i = 0; i < p.msgs.n; i++)
			ck_assert_int_eq(p.msgs.v[i].id, want++);
		ck_assert_int_eq(p.last_id, want - 1);
		ck_assert_int_eq(p.reset, 0);
		c.since = p.last_id;
		http_poll_free(&p);
	}
	ck_assert_int_eq(want, 5);
	http_held_free(h);
}
END_TEST

START_TEST(a_recreated_database_resets_every_waiter)
{
	struct http_held *a = http_held_new(hub), *b = http_held_new(hub);
	int64_t cursor = 0, ids[4];
	char cmd[512];

	publish("r", 5);
	ck_assert_int_eq(http_held_watch(a, "r", 5), 0);
	ck_assert_int_eq(http_held_watch(b, "r", 5), 0);
	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm'", path, path, path);
	ck_assert_int_eq(system(cmd), 0);
	make_db_file();
	ck_assert_int_eq(http_held_wait(a, 5000), STORE_WAIT_RESET);
	ck_assert_int_eq(http_held_wait(b, 5000), STORE_WAIT_RESET);
	/* What sse.c does: reopen, watch again from 0. */
	ck_assert_int_eq(http_held_reopen(a), 0);
	ck_assert_int_eq(http_held_watch(a, "r", 0), 0);
	http_held_unwatch(b);                /* b's request ends instead */
	ck_assert_int_eq(publish("r", 1), 1);
	ck_assert_int_eq(http_held_wait(a, 5000), STORE_WAIT_CHANGE);
	ck_assert_uint_eq(read_ids(a, "r", &cursor, ids, 4), 1);
	ck_assert_int_eq(ids[0], 1);
	http_held_free(a);
	http_held_free(b);
}
END_TEST

START_TEST(one_request_at_a_time_has_its_own_store)
{
	struct http_held *h = http_held_new(NULL);
	int64_t cursor = 0, ids[4], newest;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(http_held_watch(h, "own", 0), 0);
	ck_assert_int_eq(http_held_watch(h, "own", 0), -1);   /* one per request */
	publish("own", 2);
	ck_assert_int_eq(http_held_wait(h, 5000), STORE_WAIT_CHANGE);
	ck_assert_uint_eq(read_ids(h, "own", &cursor, ids, 4), 2);
	ck_assert_int_eq(http_held_last_id(h, &newest), 0);
	ck_assert_int_eq(newest, 2);
	http_held_unwatch(h);
	http_held_unwatch(h);
	http_held_free(h);
	http_held_free(NULL);
}
END_TEST

static Suite *held_suite(void)
{
	Suite *s = suite_create("http_held");
	TCase *tc = tcase_create("hub");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, one_read_per_commit_for_every_waiter);
	tcase_add_test(tc, a_commit_on_another_channel_wakes_no_one);
	tcase_add_test(tc, a_cursor_behind_the_window_reads_the_store);
	tcase_add_test(tc, the_poll_answer_comes_from_the_window);
	tcase_add_test(tc, a_recreated_database_resets_every_waiter);
	tcase_add_test(tc, one_request_at_a_time_has_its_own_store);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(held_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
