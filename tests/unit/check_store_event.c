/*
 * check_store_event.c — unit tests for the named event in lib/store.c: the
 * event stored and returned (column, struct store_msg, the JSON that carries
 * "event" only when it is not "message"), and the migration of a database
 * made by the schema before the event column existed (store_open adds the
 * column; the old messages stay, as plain messages).
 *
 * A temporary database per test: from sql/schema.sql (run from the
 * repository root), or from OLD_SCHEMA below, the schema as it was.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_fixture.h"

/* sql/schema.sql before the event column (rtlab up to 2026-11). */
static const char OLD_SCHEMA[] =
	"PRAGMA journal_mode = WAL;"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" channel TEXT NOT NULL CHECK (length(channel) BETWEEN 1 AND 64),"
	" user TEXT NOT NULL CHECK (length(user) BETWEEN 1 AND 32),"
	" text TEXT NOT NULL CHECK (length(CAST(text AS BLOB)) BETWEEN 1 AND 4096),"
	" ts INTEGER NOT NULL,"
	" via TEXT NOT NULL CHECK (via IN ('http', 'ws')));"
	"CREATE INDEX messages_channel_id ON messages (channel, id);"
	"INSERT INTO messages (channel, user, text, ts, via) VALUES"
	" ('lobby', 'alice', 'one', 1000, 'http'),"
	" ('lobby', 'bob', 'two', 2000, 'ws'),"
	" ('other', 'carol', 'three', 3000, 'http');";

/* A named event is stored and comes back, in the JSON only when named. */
START_TEST(test_event_stored)
{
	struct store *st;
	struct store_msg m;
	struct store_msgs ms;

	store_fixture_make();
	st = store_fixture_open();
	ck_assert_int_eq(store_insert_event(st, "match", "goal", "referee", "1-0", "http", &m), 0);
	ck_assert_str_eq(m.event, "goal");
	ck_assert_str_eq(m.user, "referee");
	ck_assert_msg(strstr(m.json, "\"via\":\"http\",\"event\":\"goal\"}") != NULL, "%s", m.json);
	store_msg_clear(&m);
	ck_assert_int_eq(store_insert(st, "match", "fan", "hi", "ws", &m), 0);
	ck_assert_str_eq(m.event, "message");
	ck_assert_msg(strstr(m.json, "event") == NULL, "%s", m.json);
	store_msg_clear(&m);

	/* Every read returns the event: after an id, the last N, all channels. */
	ck_assert_int_eq(store_read_after(st, "match", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_str_eq(ms.v[0].event, "goal");
	ck_assert_str_eq(ms.v[1].event, "message");
	ck_assert_str_eq(ms.v[1].user, "fan");
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_last(st, "match", 1, &ms), 0);
	ck_assert_str_eq(ms.v[0].event, "message");
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, NULL, 0, 10, &ms), 0);
	ck_assert_str_eq(ms.v[0].event, "goal");
	ck_assert_msg(strstr(ms.v[0].json, "\"event\":\"goal\"") != NULL, "%s", ms.v[0].json);
	store_msgs_free(&ms);

	/* The schema refuses a name the rules refuse (a second line of defence). */
	ck_assert_int_eq(store_insert_event(st, "match", "Goal", "u", "x", "http", &m), -1);
	ck_assert_int_eq(store_insert_event(st, "match", "a\nb", "u", "x", "http", &m), -1);
	store_close(st);
	store_fixture_remove();
}
END_TEST

/* An old database: opened, migrated, its messages all there, as plain ones. */
START_TEST(test_migration_keeps_messages)
{
	struct store *st;
	struct store_msg m;
	struct store_msgs ms;
	int64_t last;

	store_fixture_make_from(OLD_SCHEMA);
	st = store_fixture_open();
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 3);
	ck_assert_int_eq(store_read_after(st, "lobby", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_str_eq(ms.v[0].event, "message");
	ck_assert_str_eq(ms.v[0].json,
	                 "{\"id\":1,\"channel\":\"lobby\",\"user\":\"alice\",\"text\":\"one\","
	                 "\"ts\":1000,\"via\":\"http\"}");
	ck_assert_str_eq(ms.v[1].user, "bob");
	store_msgs_free(&ms);
	/* New messages take events; ids go on from the old ones. */
	ck_assert_int_eq(store_insert_event(st, "lobby", "score", "ref", "2-1", "http", &m), 0);
	ck_assert_int_eq(m.id, 4);
	ck_assert_str_eq(m.event, "score");
	store_msg_clear(&m);
	store_close(st);

	/* Opening again finds the column there: nothing to do, nothing lost. */
	st = store_fixture_open();
	ck_assert_int_eq(store_read_after(st, NULL, 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 4);
	ck_assert_str_eq(ms.v[2].channel, "other");
	ck_assert_str_eq(ms.v[3].event, "score");
	store_msgs_free(&ms);
	store_close(st);
	store_fixture_remove();
}
END_TEST

/* Two connections opened on an old database: the second finds it migrated. */
START_TEST(test_migration_twice)
{
	struct store *a, *b;
	struct store_msg m;

	store_fixture_make_from(OLD_SCHEMA);
	a = store_fixture_open();
	b = store_fixture_open();
	ck_assert_int_eq(store_insert_event(b, "x", "tick", "u", "t", "ws", &m), 0);
	store_msg_clear(&m);
	ck_assert_int_eq(store_insert_event(a, "x", "tick", "u", "t", "ws", &m), 0);
	ck_assert_int_eq(m.id, 5);
	store_msg_clear(&m);
	store_close(a);
	store_close(b);
	store_fixture_remove();
}
END_TEST

/* A database with no messages table is still an installation error. */
START_TEST(test_no_schema)
{
	const char *err = NULL;

	store_fixture_make_from("CREATE TABLE other (x);");
	ck_assert_ptr_null(store_open(fixture_path, &err));
	ck_assert_ptr_nonnull(strstr(err, "schema"));
	store_fixture_remove();
}
END_TEST

static Suite *store_event_suite(void)
{
	Suite *s = suite_create("store_event");
	TCase *tc = tcase_create("event");

	tcase_add_test(tc, test_event_stored);
	tcase_add_test(tc, test_migration_keeps_messages);
	tcase_add_test(tc, test_migration_twice);
	tcase_add_test(tc, test_no_schema);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_event_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
