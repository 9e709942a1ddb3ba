/*
 * check_settings.c — unit tests for lib/settings.c (the one RT_* reader)
 * and lib/clock.c (the one clock).
 */
#include <check.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "settings.h"

struct setting_case {
	const char *value;     /* NULL: unset */
	long long want;
};

/* settings_int("RT_TEST_SETTING", 1, 60, 15) */
static const struct setting_case setting_cases[] = {
	{ NULL, 15 },          /* unset: the default */
	{ "", 15 },            /* empty: the default */
	{ "1", 1 },
	{ "60", 60 },
	{ "0", 15 },           /* out of range: the default (and a log line) */
	{ "61", 15 },
	{ "-5", 15 },
	{ "abc", 15 },         /* malformed: the default */
	{ "5 ", 15 },
	{ "99999999999999999999", 15 },
};

START_TEST(test_settings_int)
{
	const struct setting_case *c = &setting_cases[_i];

	if (c->value != NULL)
		setenv("RT_TEST_SETTING", c->value, 1);
	else
		unsetenv("RT_TEST_SETTING");
	ck_assert_int_eq(settings_int("RT_TEST_SETTING", 1, 60, 15), c->want);
	unsetenv("RT_TEST_SETTING");
}
END_TEST

START_TEST(test_clock)
{
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int64_t ns0 = clock_now_ns(), ms0 = clock_now_ms(), ns1, ms1;

	ck_assert(ms0 >= ns0 / 1000000);
	nanosleep(&pause, NULL);
	ns1 = clock_now_ns();
	ms1 = clock_now_ms();
	/* Monotonic, and the two resolutions read the same clock. */
	ck_assert(ns1 - ns0 >= 5 * 1000 * 1000);
	ck_assert(ms1 >= ms0 + 5);
	ck_assert(ms1 >= ns1 / 1000000);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *settings_suite(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_settings_int, 0, N(setting_cases));
	tcase_add_test(tc, test_clock);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(settings_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
