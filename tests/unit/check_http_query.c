/*
 * check_http_query.c — unit tests for lib/http_query.c: form/query decoding,
 * the checked number parser, numeric parameters, the read cursor.  Pure:
 * table-driven, no store, no FastCGI.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_query.h"

#define S(lit) lit, sizeof lit - 1

/* ---- http_form_get ------------------------------------------------------ */

struct form_case {
	const char *qs, *name;
	size_t buflen;
	int rc;
	const char *value;     /* when rc == 1 */
	size_t len;
};

static const struct form_case form_cases[] = {
	{ "a=1&b=2", "a", 64, 1, S("1") },
	{ "a=1&b=2", "b", 64, 1, S("2") },
	{ "a=1&b=2", "c", 64, 0, S("") },
	{ "", "a", 64, 0, S("") },
	{ "ab=1&a=2", "a", 64, 1, S("2") },            /* whole names only */
	{ "a=1&a=2", "a", 64, 1, S("1") },             /* the first wins */
	{ "a", "a", 64, 1, S("") },                     /* no "=": empty value */
	{ "a=", "a", 64, 1, S("") },
	{ "a=&b=x", "b", 64, 1, S("x") },
	{ "&&a=1&", "a", 64, 1, S("1") },
	{ "a=x+y", "a", 64, 1, S("x y") },              /* "+" is a space */
	{ "a=%2B%20%26%3d", "a", 64, 1, S("+ &=") },
	{ "a=caf%C3%A9", "a", 64, 1, S("caf\xC3\xA9") },
	{ "a=%00z", "a", 64, 1, S("\0z") },             /* NUL decoded, counted */
	{ "a=x=y", "a", 64, 1, S("x=y") },
	{ "a=%", "a", 64, -1, S("") },
	{ "a=%4", "a", 64, -1, S("") },
	{ "a=%zz", "a", 64, -1, S("") },
	{ "a=%4g", "a", 64, -1, S("") },
	{ "a=ok&b=%", "a", 64, 1, S("ok") },            /* only a is decoded */
	{ "a=12345", "a", 6, 1, S("12345") },           /* fits with its NUL */
	{ "a=123456", "a", 6, -1, S("") },              /* one byte too long */
	{ "a=%41%41%41%41%41%41", "a", 6, -1, S("") },
	{ "a=1", "a", 0, -1, S("") },
};

START_TEST(test_form_get)
{
	const struct form_case *c = &form_cases[_i];
	char buf[64];
	size_t len = 999;
	int rc = http_form_get(c->qs, c->name, buf, c->buflen, &len);

	ck_assert_msg(rc == c->rc, "%s [%s]: rc %d want %d", c->qs, c->name, rc, c->rc);
	if (rc == 1) {
		ck_assert_uint_eq(len, c->len);
		ck_assert(memcmp(buf, c->value, len) == 0);
		ck_assert_int_eq(buf[len], '\0');
	}
}
END_TEST

/* ---- http_parse_int ----------------------------------------------------- */

struct int_case {
	const char *s;
	long long min, max;
	int rc;
	long long want;
};

static const struct int_case int_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "007", 0, 10, 0, 7 },
	{ "11", 0, 10, -1, 0 },
	{ "", 0, 10, -1, 0 },
	{ " 1", 0, 10, -1, 0 },
	{ "1 ", 0, 10, -1, 0 },
	{ "+1", 0, 10, -1, 0 },
	{ "-1", 0, 10, -1, 0 },          /* no sign when min >= 0 */
	{ "-1", -5, 10, 0, -1 },
	{ "-6", -5, 10, -1, 0 },
	{ "-", -5, 10, -1, 0 },
	{ "1e3", 0, 10000, -1, 0 },
	{ "0x10", 0, 100, -1, 0 },
	{ "1.0", 0, 100, -1, 0 },
	{ "9223372036854775807", 0, LLONG_MAX, 0, LLONG_MAX },
	{ "9223372036854775808", 0, LLONG_MAX, -1, 0 },
	{ "99999999999999999999999", 0, LLONG_MAX, -1, 0 },
	/* The whole range when min allows a sign: LLONG_MIN too (found by
	 * tests/fuzz/fuzz_http_query.c, differential against strtoll). */
	{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, 0, LLONG_MIN },
	{ "-9223372036854775807", LLONG_MIN, 0, 0, -LLONG_MAX },
	{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, -1, 0 },
	{ "-0", -1, 1, 0, 0 },
	{ "500", 1, 500, 0, 500 },
	{ "501", 1, 500, -1, 0 },
};

START_TEST(test_parse_int)
{
	const struct int_case *c = &int_cases[_i];
	long long v = 12345;
	int rc = http_parse_int(c->s, c->min, c->max, &v);

	ck_assert_msg(rc == c->rc, "\"%s\": rc %d", c->s, rc);
	ck_assert(c->rc == 0 ? v == c->want : v == 12345);
}
END_TEST

START_TEST(test_parse_int_null)
{
	long long v;

	ck_assert_int_eq(http_parse_int(NULL, 0, 1, &v), -1);
}
END_TEST

/* ---- http_form_int ------------------------------------------------------ */

struct form_int_case {
	const char *qs;
	int rc;
	long long value;      /* when rc == 1 */
};

static const struct form_int_case form_int_cases[] = {
	{ "n=5", 1, 5 },
	{ "a=1&n=%35", 1, 5 },             /* percent-encoded digits are digits */
	{ "x=1", 0, 0 },
	{ "n=", -1, 0 },
	{ "n=5x", -1, 0 },
	{ "n=%zz", -1, 0 },
	{ "n=56", -1, 0 },                 /* above max */
	/* A NUL inside the decoded value: not the number before it. */
	{ "n=5%00junk", -1, 0 },
	{ "n=5%00", -1, 0 },
	{ "n=%005", -1, 0 },
	{ "n=123456789012345678901234567890123", -1, 0 },   /* too long to hold */
};

START_TEST(test_form_int)
{
	const struct form_int_case *c = &form_int_cases[_i];
	long long v = -7;
	int rc = http_form_int(c->qs, "n", 0, 55, &v);

	ck_assert_msg(rc == c->rc, "%s: rc %d, want %d", c->qs, rc, c->rc);
	if (rc == 1)
		ck_assert_int_eq(v, c->value);
	else
		ck_assert_int_eq(v, -7);      /* untouched */
}
END_TEST

/* ---- http_cursor_parse -------------------------------------------------- */

struct cursor_case {
	const char *qs;
	const char *refusal;          /* NULL: accepted */
	const char *channel;
	int has_since;
	int64_t since;
	int limit, history;
};

static const struct cursor_case cursor_cases[] = {
	{ "", NULL, "lobby", 0, 0, 100, 20 },
	{ "channel=room-1_a&since=41&limit=5&history=0", NULL, "room-1_a", 1, 41, 5, 0 },
	{ "since=0", NULL, "lobby", 1, 0, 100, 20 },
	{ "since=9223372036854775807", NULL, "lobby", 1, INT64_MAX, 100, 20 },
	{ "limit=1&history=500", NULL, "lobby", 0, 0, 1, 500 },
	{ "limit=500", NULL, "lobby", 0, 0, 500, 20 },
	{ "x=1&channel=c%5Fd", NULL, "c_d", 0, 0, 100, 20 },
	{ "since=", "since", NULL, 0, 0, 0, 0 },
	{ "since=-1", "since", NULL, 0, 0, 0, 0 },
	{ "since=1.5", "since", NULL, 0, 0, 0, 0 },
	{ "since=9223372036854775808", "since", NULL, 0, 0, 0, 0 },
	{ "since=5%00junk", "since", NULL, 0, 0, 0, 0 },     /* NUL: malformed */
	{ "limit=5%00", "limit", NULL, 0, 0, 0, 0 },
	{ "history=5%00junk", "history", NULL, 0, 0, 0, 0 },
	{ "channel=a%00b", "channel", NULL, 0, 0, 0, 0 },
	{ "limit=0", "limit", NULL, 0, 0, 0, 0 },
	{ "limit=501", "limit", NULL, 0, 0, 0, 0 },
	{ "limit=ten", "limit", NULL, 0, 0, 0, 0 },
	{ "history=-1", "history", NULL, 0, 0, 0, 0 },
	{ "history=501", "history", NULL, 0, 0, 0, 0 },
	{ "channel=", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=a+b", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=%2e%2e", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=%zz", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-x",
	  "channel", NULL, 0, 0, 0, 0 },
};

START_TEST(test_cursor)
{
	const struct cursor_case *c = &cursor_cases[_i];
	struct http_cursor cur;
	const char *err = http_cursor_parse(c->qs, &cur);

	if (c->refusal != NULL) {
		ck_assert_msg(err != NULL && strstr(err, c->refusal) != NULL,
		              "%s: got %s", c->qs, err ? err : "(accepted)");
		return;
	}
	ck_assert_msg(err == NULL, "%s: %s", c->qs, err);
	ck_assert_str_eq(cur.channel, c->channel);
	ck_assert_int_eq(cur.has_since, c->has_since);
	ck_assert(cur.since == c->since);
	ck_assert_int_eq(cur.limit, c->limit);
	ck_assert_int_eq(cur.history, c->history);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_query_suite(void)
{
	Suite *s = suite_create("http_query");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_form_get, 0, N(form_cases));
	tcase_add_loop_test(tc, test_parse_int, 0, N(int_cases));
	tcase_add_test(tc, test_parse_int_null);
	tcase_add_loop_test(tc, test_form_int, 0, N(form_int_cases));
	tcase_add_loop_test(tc, test_cursor, 0, N(cursor_cases));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_query_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
