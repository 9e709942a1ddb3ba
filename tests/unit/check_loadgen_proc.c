/*
 * check_loadgen_proc.c — unit tests for tools/loadgen/proc.c's one parser:
 * the voluntary context switches in a /proc/PID/task/TID/status text (the
 * "wakes" column of the benchmark).
 */
#include <check.h>
#include <stdlib.h>

#include "../../tools/loadgen/proc.h"

#define S(lit) lit, sizeof lit - 1

struct switches_case {
	const char *text;
	size_t len;
	long long want;
};

static const struct switches_case cases[] = {
	/* the tail of a real status file (Linux 6.x) */
	{ S("Name:\tsse.fcgi\nState:\tS (sleeping)\nvoluntary_ctxt_switches:\t1234\n"
	    "nonvoluntary_ctxt_switches:\t56\n"), 1234 },
	/* the other order: "nonvoluntary_" must not be taken for it */
	{ S("nonvoluntary_ctxt_switches:\t56\nvoluntary_ctxt_switches:\t7\n"), 7 },
	{ S("voluntary_ctxt_switches:\t0\n"), 0 },
	{ S("voluntary_ctxt_switches: 42"), 42 },             /* cut after the number */
	{ S("Name:\tx\nnonvoluntary_ctxt_switches:\t56\n"), -1 },
	{ S("voluntary_ctxt_switches:\t\n"), -1 },            /* no number */
	{ S("voluntary_ctxt_switches:\t12x\n"), -1 },
	{ S("voluntary_ctxt_switches:\t99999999999999999999\n"), -1 },
	{ S(""), -1 },
	{ S("voluntary_ctxt_swi"), -1 },                      /* the key cut short */
};

START_TEST(test_switches)
{
	const struct switches_case *c = &cases[_i];

	ck_assert_int_eq(proc_status_switches(c->text, c->len), c->want);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("loadgen_proc");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, test_switches, 0, (int)(sizeof cases / sizeof cases[0]));
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
