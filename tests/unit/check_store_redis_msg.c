/*
 * check_store_redis_msg.c — unit tests for lib/store_redis_msg.c against a
 * real, private redis-server (tests/unit/store_redis_fixture.h): one id
 * sequence, reads after a cursor and of the newest, JSON byte for byte the
 * SQLite store's, retention by count, by age and by channels.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "store_redis_fixture.h"

/* "ts":<digits> → "ts":0, so two stores' JSON can be compared byte for byte. */
static void zero_ts(char *json)
{
	char *p = strstr(json, "\"ts\":"), *q;

	ck_assert_ptr_nonnull(p);
	p += 5;
	for (q = p; *q >= '0' && *q <= '9'; q++)
		;
	*p = '0';
	memmove(p + 1, q, strlen(q) + 1);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(ids_are_one_sequence_across_channels)
{
	struct store *st = open_db(1);
	struct store_msgs ms;
	int64_t last;

	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(insert(st, "a", "1"), 1);
	ck_assert_int_eq(insert(st, "b", "2"), 2);
	ck_assert_int_eq(insert(st, "a", "3"), 3);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 3);

	ck_assert_int_eq(store_read_after(st, "a", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_int_eq(ms.v[0].id, 1);
	ck_assert_int_eq(ms.v[1].id, 3);
	ck_assert_str_eq(ms.v[1].channel, "a");
	store_msgs_free(&ms);

	/* channel NULL: every channel, in id order (the helper's fan-out). */
	ck_assert_int_eq(store_read_after(st, NULL, 1, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_int_eq(ms.v[0].id, 2);
	ck_assert_str_eq(ms.v[0].channel, "b");
	ck_assert_int_eq(ms.v[1].id, 3);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(cursor_reads_after_last_and_limit)
{
	struct store *st = open_db(2);
	struct store_msgs ms;

	for (int i = 0; i < 10; i++)
		insert(st, "c", "x");
	ck_assert_int_eq(store_read_after(st, "c", 7, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_int_eq(ms.v[0].id, 8);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 10, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 0, 4, &ms), 0);
	ck_assert_uint_eq(ms.n, 4);
	ck_assert_int_eq(ms.v[3].id, 4);
	store_msgs_free(&ms);
	/* The newest n, oldest first. */
	ck_assert_int_eq(store_read_last(st, "c", 3, &ms), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_int_eq(ms.v[0].id, 8);
	ck_assert_int_eq(ms.v[2].id, 10);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_last(st, "nobody", 3, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/* The same message stored by either backend is the same bytes (ts aside). */
START_TEST(json_is_byte_identical_to_sqlite)
{
	static const char *const texts[] = {
		"hi \"there\"\n</script>", "back\\slash\ttab", "caf\xc3\xa9 \xf0\x9f\x98\x80",
	};
	char db_path[128], cmd[256];
	struct store *rs = open_db(3), *ss;
	struct store_msg a, b;

	snprintf(db_path, sizeof db_path, "%s/json.db", dir);
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' < sql/schema.sql >/dev/null", db_path);
	ck_assert_msg(system(cmd) == 0, "sqlite3 failed (run from the repo root)");
	ss = store_open(db_path, NULL);
	ck_assert_ptr_nonnull(ss);
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		const char *event = i == 1 ? "goal" : "message";
		ck_assert_int_eq(store_insert_event(rs, "lobby", event, "al\"ice", texts[i], "ws", &a), 0);
		ck_assert_int_eq(store_insert_event(ss, "lobby", event, "al\"ice", texts[i], "ws", &b), 0);
		ck_assert_int_eq(a.id, b.id);
		ck_assert_str_eq(a.event, b.event);
		ck_assert_str_eq(a.user, b.user);
		zero_ts(a.json);
		zero_ts(b.json);
		ck_assert_str_eq(a.json, b.json);
		store_msg_clear(&a);
		store_msg_clear(&b);
	}
	/* And as read back. */
	struct store_msgs ra, rb;
	ck_assert_int_eq(store_read_after(rs, "lobby", 0, 10, &ra), 0);
	ck_assert_int_eq(store_read_after(ss, "lobby", 0, 10, &rb), 0);
	ck_assert_uint_eq(ra.n, 3);
	ck_assert_uint_eq(rb.n, 3);
	for (size_t i = 0; i < 3; i++) {
		zero_ts(ra.v[i].json);
		zero_ts(rb.v[i].json);
		ck_assert_str_eq(ra.v[i].json, rb.v[i].json);
	}
	ck_assert_ptr_nonnull(strstr(ra.v[1].json, ",\"event\":\"goal\"}"));
	store_msgs_free(&ra);
	store_msgs_free(&rb);
	store_close(ss);
	store_close(rs);
}
END_TEST

START_TEST(retention_keeps_rt_keep_and_ids_go_on)
{
	struct store *st;
	struct store_msgs ms;
	int64_t last;

	setenv("RT_KEEP", "5", 1);
	st = open_db(8);
	unsetenv("RT_KEEP");
	for (int i = 0; i < 300; i++)
		insert(st, "k", "x");
	ck_assert_int_eq(store_read_after(st, "k", 0, 500, &ms), 0);
	/* MAXLEN ~: at least 5 kept, whole stream nodes trimmed. */
	ck_assert_uint_ge(ms.n, 5);
	ck_assert_uint_lt(ms.n, 300);
	ck_assert_int_eq(ms.v[ms.n - 1].id, 300);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 300);
	store_close(st);
}
END_TEST

START_TEST(retention_by_age_trims_every_channel)
{
	struct store *st;
	struct store_msgs ms;

	setenv("RT_MAX_AGE", "1", 1);
	st = open_db(9);
	unsetenv("RT_MAX_AGE");
	insert(st, "old", "x");
	usleep(1200 * 1000);
	for (int i = 0; i < 64; i++)      /* PRUNE_EVERY inserts */
		insert(st, "new", "y");
	ck_assert_int_eq(store_read_after(st, "old", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "new", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 64);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/* A new channel beyond RT_MAX_CHANNELS evicts the one idle longest. */
START_TEST(max_channels_evicts_the_idle_longest)
{
	struct store *st;
	struct store_msgs ms;

	setenv("RT_MAX_CHANNELS", "2", 1);
	st = open_db(11);
	unsetenv("RT_MAX_CHANNELS");
	insert(st, "a", "1");
	insert(st, "b", "2");
	insert(st, "a", "3");     /* now b is the idle one */
	insert(st, "c", "4");
	ck_assert_int_eq(store_read_after(st, "b", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "a", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

static Suite *store_redis_msg_suite(void)
{
	Suite *s = suite_create("store_redis_msg");
	TCase *tc = store_redis_fixture_tcase();

	tcase_add_test(tc, ids_are_one_sequence_across_channels);
	tcase_add_test(tc, cursor_reads_after_last_and_limit);
	tcase_add_test(tc, json_is_byte_identical_to_sqlite);
	tcase_add_test(tc, retention_keeps_rt_keep_and_ids_go_on);
	tcase_add_test(tc, retention_by_age_trims_every_channel);
	tcase_add_test(tc, max_channels_evicts_the_idle_longest);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return store_redis_fixture_run("check_store_redis_msg", store_redis_msg_suite);
}
