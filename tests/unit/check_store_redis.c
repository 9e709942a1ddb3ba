/*
 * check_store_redis.c — unit tests for lib/store_redis.c against a real,
 * private redis-server (tests/unit/store_redis_fixture.h): the store's name
 * and its connections — a refused URL, and Redis gone then back with
 * nothing acknowledged lost.  The messages are tested in
 * check_store_redis_msg.c, the change wait in check_store_redis_wait.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "store_redis_fixture.h"

/* ---- tests ------------------------------------------------------------- */

START_TEST(bad_urls_are_refused)
{
	static const char *const bad[] = {
		"redis://", "redis://:6379", "redis://h:0", "redis://h:99999", "redis://h:1x",
		"redis://h:6379/x", "redis://h:6379/-1",
	};
	const char *err;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err = NULL;
		ck_assert_ptr_null(store_open(bad[i], &err));
		ck_assert_ptr_nonnull(strstr(err, "redis://HOST:PORT"));
	}
}
END_TEST

START_TEST(unavailable_fails_then_recovers_with_nothing_lost)
{
	struct store *st, *waiter;
	struct store_msg m;
	const char *err = NULL;
	char u[64];
	int64_t last;
	pid_t pid;

	/* A second private server on its own port, stopped and started here. */
	port = free_port();
	pid = redis_start();
	st = open_db(7);
	waiter = open_db(7);
	for (int i = 0; i < 5; i++)
		insert(st, "keep", "acked");
	ck_assert_int_eq(store_watch(waiter, "keep", 5), 0);
	redis_stop(pid);

	ck_assert_int_eq(store_insert(st, "keep", "u", "lost?", "http", &m), -1);
	ck_assert_int_eq(store_replaced(st), 1);
	ck_assert_int_eq(store_wait(waiter, 2000), -1);   /* not a timeout, not a reset */
	url(u, sizeof u, 7);
	ck_assert_ptr_null(store_open(u, &err));
	ck_assert_ptr_nonnull(strstr(err, "unavailable"));

	pid = redis_start();                               /* same dir: its AOF */
	ck_assert_int_eq(store_reopen(&st), 0);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 5);                         /* every acknowledged id */
	ck_assert_int_eq(insert(st, "keep", "after"), 6);
	store_close(waiter);
	store_close(st);
	redis_stop(pid);
}
END_TEST

static Suite *store_redis_suite(void)
{
	Suite *s = suite_create("store_redis");
	TCase *tc = store_redis_fixture_tcase();

	tcase_add_test(tc, bad_urls_are_refused);
	/* Last: it stops and starts its own server (and changes `port`). */
	tcase_add_test(tc, unavailable_fails_then_recovers_with_nothing_lost);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return store_redis_fixture_run("check_store_redis", store_redis_suite);
}
