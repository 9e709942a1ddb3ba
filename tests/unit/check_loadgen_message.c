/*
 * check_loadgen_message.c — unit tests for tools/loadgen/message.c: the
 * text loadgen publishes and the markers it finds in whatever comes back
 * (rtlab's JSON, an SSE event, nchan's raw body).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/loadgen/message.h"

#define S(lit) lit, sizeof lit - 1
#define TAG "lg.ab12cd.4f00."

START_TEST(test_format)
{
	char text[64];

	ck_assert_int_eq(message_format(text, sizeof text, TAG, 7, 1700000000123456ULL, 10),
	                 (int)strlen(TAG "7.1700000000123456."));
	ck_assert_str_eq(text, TAG "7.1700000000123456.");
	ck_assert_int_eq(message_format(text, sizeof text, TAG, 3, 9, 26), 26);
	ck_assert_str_eq(text, TAG "3.9.xxxxxxx");
	/* Never past cap - 1. */
	ck_assert_int_eq(message_format(text, 8, TAG, 3, 9, 26), 7);
	ck_assert_str_eq(text, "lg.ab12");
}
END_TEST

struct scan_case {
	const char *buf;
	size_t len;
	const char *want;          /* "seq@usec;" per marker, "bad;" for a broken one */
};

static const struct scan_case scans[] = {
	{ S("{\"id\":5,\"text\":\"" TAG "3.1234.xxxx\"}"), "3@1234;" },
	{ S(TAG "0.1." TAG "1.2."), "0@1;1@2;" },
	/* rtlab's poll answer: two messages in one body */
	{ S("{\"messages\":[{\"id\":1,\"text\":\"" TAG "1.10.\"},{\"id\":2,\"text\":\""
	    TAG "2.20.\"}],\"last_id\":2}"), "1@10;2@20;" },
	{ S("nothing here"), "" },
	{ S("lg.other.4f00.1.2."), "" },           /* another run's tag */
	{ S(TAG "x.1."), "bad;" },
	{ S(TAG "5"), "bad;" },                    /* cut after the seq */
	{ S(TAG "5.x " TAG "6.7"), "bad;6@7;" },
	{ S(TAG "99999999999.1."), "bad;" },       /* seq beyond INT32_MAX */
};

START_TEST(test_scan)
{
	const struct scan_case *c = &scans[_i];
	const char *p = c->buf;
	size_t len = c->len;
	char got[128] = "";
	struct message_mark m;
	long n;

	while ((n = message_scan(p, len, TAG, &m)) > 0) {
		ck_assert((size_t)n <= len);
		if (m.seq < 0)
			strcat(got, "bad;");
		else
			snprintf(got + strlen(got), sizeof got - strlen(got), "%lld@%llu;",
			         m.seq, (unsigned long long)m.usec);
		p += n;
		len -= (size_t)n;
	}
	ck_assert_int_eq(n, -2);
	ck_assert_msg(strcmp(got, c->want) == 0, "case %d: got '%s'", _i, got);
}
END_TEST

static const struct { const char *buf; size_t len; const char *key; long long want; } ints[] = {
	{ S("{\"messages\":[],\"last_id\":42}"), "last_id", 42 },
	{ S("{\"id\": 7,\"x\":1}"), "id", 7 },
	{ S("{\"id\":\"7\"}"), "id", -1 },           /* a string is not a cursor */
	{ S("{\"uid\":3,\"id\":4}"), "id", 4 },       /* the key in quotes, whole */
	{ S("{\"last_id\":-1}"), "last_id", -1 },
	{ S("{}"), "id", -1 },
	{ S("{\"id\":99999999999999999999}"), "id", -1 },
};

START_TEST(test_json_int)
{
	ck_assert_int_eq(message_json_int(ints[_i].buf, ints[_i].len, ints[_i].key),
	                 ints[_i].want);
}
END_TEST

static Suite *message_suite(void)
{
	Suite *s = suite_create("loadgen_message");
	TCase *tc = tcase_create("message");

	tcase_add_test(tc, test_format);
	tcase_add_loop_test(tc, test_scan, 0, sizeof scans / sizeof scans[0]);
	tcase_add_loop_test(tc, test_json_int, 0, sizeof ints / sizeof ints[0]);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(message_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
