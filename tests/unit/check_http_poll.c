/*
 * check_http_poll.c — unit tests for lib/http_poll.c: the poll answer's
 * JSON, then the answer read from a real store (a temp-file database
 * created from sql/schema.sql; run from the repo root).
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_poll.h"
#include "store.h"

/* ---- the poll answer's JSON --------------------------------------------- */

START_TEST(test_poll_json)
{
	char m1[] = "{\"id\":3,\"text\":\"a\"}", m2[] = "{\"id\":9,\"text\":\"b\"}";
	struct store_msg v[2] = {
		{ .id = 3, .channel = "lobby", .json = m1, .json_len = sizeof m1 - 1 },
		{ .id = 9, .channel = "lobby", .json = m2, .json_len = sizeof m2 - 1 },
	};
	struct http_poll p = { .msgs = { v, 2 }, .last_id = 9, .reset = 0 };
	size_t len;
	char *s = http_poll_json(&p, &len);

	ck_assert_str_eq(s, "{\"messages\":[{\"id\":3,\"text\":\"a\"},"
	                    "{\"id\":9,\"text\":\"b\"}],\"last_id\":9}");
	ck_assert_uint_eq(len, strlen(s));
	free(s);

	p.msgs.n = 0;
	p.last_id = 12;
	s = http_poll_json(&p, &len);
	ck_assert_str_eq(s, "{\"messages\":[],\"last_id\":12}");
	free(s);

	p.reset = 1;
	p.last_id = 0;
	s = http_poll_json(&p, &len);
	ck_assert_str_eq(s, "{\"messages\":[],\"last_id\":0,\"reset\":true}");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	http_poll_free(NULL);
}
END_TEST

/* ---- the poll answer from a real store ---------------------------------- */

static char db_dir[64], db_path[96];

/* A fresh database from sql/schema.sql, made by the sqlite3 shell. */
static struct store *make_store(void)
{
	char cmd[160];
	struct store *st;

	snprintf(db_dir, sizeof db_dir, "/tmp/check_http.XXXXXX");
	ck_assert(mkdtemp(db_dir) != NULL);
	snprintf(db_path, sizeof db_path, "%s/rt.db", db_dir);
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' < sql/schema.sql >/dev/null", db_path);
	ck_assert_msg(system(cmd) == 0, "%s (run from the repo root)", cmd);
	st = store_open(db_path, NULL);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void remove_store(struct store *st)
{
	char cmd[128];

	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", db_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(struct store *st, const char *channel, const char *text)
{
	struct store_msg m;

	ck_assert_int_eq(store_insert(st, channel, "u", text, "http", &m), 0);
	store_msg_clear(&m);
}

/* Reads the answer for query qs; returns its JSON (caller frees). */
static char *answer(struct store *st, const char *qs)
{
	struct http_cursor c;
	struct http_poll p;
	size_t len;
	char *s;

	ck_assert_ptr_null(http_cursor_parse(qs, &c));
	ck_assert_int_eq(http_poll_read(st, &c, &p), 0);
	s = http_poll_json(&p, &len);
	http_poll_free(&p);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Only the ids of an answer: "[1,3] last 3 reset 0". */
static void summary(struct store *st, const char *qs, char *out, size_t outlen)
{
	struct http_cursor c;
	struct http_poll p;
	size_t n = 0;

	ck_assert_ptr_null(http_cursor_parse(qs, &c));
	ck_assert_int_eq(http_poll_read(st, &c, &p), 0);
	n += (size_t)snprintf(out + n, outlen - n, "[");
	for (size_t i = 0; i < p.msgs.n; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%lld", i ? "," : "",
		                      (long long)p.msgs.v[i].id);
	snprintf(out + n, outlen - n, "] last %lld reset %d",
	         (long long)p.last_id, p.reset);
	http_poll_free(&p);
}

/* After five messages (1, 3, 4 in lobby; 2, 5 in other): each query and
 * the ids, last_id and reset it must answer. */
struct read_case {
	const char *qs, *want;
};

static const struct read_case read_cases[] = {
	{ "since=0", "[1,3,4] last 4 reset 0" },
	{ "since=1", "[3,4] last 4 reset 0" },
	{ "since=0&limit=2", "[1,3] last 3 reset 0" },      /* a page: resume at 3 */
	{ "since=3&limit=2", "[4] last 4 reset 0" },
	/* Nothing new in lobby after 4, but the store is at 5: last_id 5 is
	 * safe (no lobby message in between) and skips 5 next time. */
	{ "since=4", "[] last 5 reset 0" },
	{ "since=5", "[] last 5 reset 0" },
	{ "since=6", "[] last 5 reset 1" },                 /* a recreated store */
	{ "", "[1,3,4] last 4 reset 0" },                   /* no since: the last */
	{ "limit=2", "[3,4] last 4 reset 0" },              /* limit, oldest first */
	{ "channel=other&limit=1", "[5] last 5 reset 0" },
	{ "channel=empty", "[] last 5 reset 0" },
};

START_TEST(test_poll_read)
{
	struct store *st = make_store();
	char got[256];
	char *s;

	summary(st, "", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 0");           /* empty store */
	summary(st, "since=0", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 0");
	summary(st, "since=1", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 1");

	put(st, "lobby", "1");
	put(st, "other", "2");
	put(st, "lobby", "3");
	put(st, "lobby", "4");
	put(st, "other", "5");
	for (size_t i = 0; i < sizeof read_cases / sizeof read_cases[0]; i++) {
		summary(st, read_cases[i].qs, got, sizeof got);
		ck_assert_msg(strcmp(got, read_cases[i].want) == 0, "%s: %s, want %s",
		              read_cases[i].qs, got, read_cases[i].want);
	}

	s = answer(st, "channel=other&since=2");
	ck_assert_msg(strncmp(s, "{\"messages\":[{\"id\":5,\"channel\":\"other\","
	                         "\"user\":\"u\",\"text\":\"5\",\"ts\":", 63) == 0, "%s", s);
	ck_assert_ptr_nonnull(strstr(s, ",\"via\":\"http\"}],\"last_id\":5}"));
	free(s);
	remove_store(st);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_poll_suite(void)
{
	Suite *s = suite_create("http_poll");
	TCase *tc = tcase_create("pure");

	tcase_add_test(tc, test_poll_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_test(tc, test_poll_read);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_poll_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
