/*
 * check_http_status.c — unit tests for lib/http_status.c: the status table
 * (reason phrase, error code) and the one error-JSON builder.  Pure.
 */
#include <check.h>
#include <string.h>

#include "http_status.h"

struct status_case {
	int status;
	const char *reason, *error;
};

static const struct status_case status_cases[] = {
	{ 200, "OK", "error" },
	{ 304, "Not Modified", "error" },
	{ 400, "Bad Request", "bad_request" },
	{ 403, "Forbidden", "forbidden" },
	{ 405, "Method Not Allowed", "method_not_allowed" },
	{ 413, "Content Too Large", "too_large" },
	{ 415, "Unsupported Media Type", "unsupported_media_type" },
	{ 426, "Upgrade Required", "upgrade_required" },
	{ 503, "Service Unavailable", "unavailable" },
	{ 599, "Unknown", "error" },
};

START_TEST(test_status)
{
	const struct status_case *c = &status_cases[_i];

	ck_assert_str_eq(http_status_reason(c->status), c->reason);
	ck_assert_str_eq(http_status_error(c->status), c->error);
}
END_TEST

START_TEST(test_error_json)
{
	char buf[512];
	size_t n;

	n = http_error_json(buf, sizeof buf, 0, 400, "since must be a message id");
	ck_assert_str_eq(buf, "{\"error\":\"bad_request\",\"detail\":\"since must be a message id\"}");
	ck_assert_uint_eq(n, strlen(buf));

	n = http_error_json(buf, sizeof buf, 1, 503, "the store is unavailable");
	ck_assert_str_eq(buf, "{\"type\":\"error\",\"error\":\"unavailable\","
	                      "\"detail\":\"the store is unavailable\"}");
	ck_assert_uint_eq(n, strlen(buf));

	/* A detail is escaped, whatever it holds. */
	http_error_json(buf, sizeof buf, 0, 400, "a \"q\" \\ b\n\x01");
	ck_assert_str_eq(buf, "{\"error\":\"bad_request\",\"detail\":"
	                      "\"a \\\"q\\\" \\\\ b\\u000a\\u0001\"}");
	http_error_json(buf, sizeof buf, 0, 400, NULL);
	ck_assert_str_eq(buf, "{\"error\":\"bad_request\",\"detail\":\"\"}");
}
END_TEST

START_TEST(test_error_json_small)
{
	char buf[48];
	size_t n;

	/* Too long a detail is cut; the JSON stays whole. */
	n = http_error_json(buf, sizeof buf, 0, 400, "0123456789012345678901234567890123456789");
	ck_assert_uint_eq(n, strlen(buf));
	ck_assert_uint_lt(n, sizeof buf);
	ck_assert_str_eq(buf + n - 2, "\"}");
	ck_assert(strncmp(buf, "{\"error\":\"bad_request\",\"detail\":\"0123", 37) == 0);
	/* No room for even the head: an empty string. */
	ck_assert_uint_eq(http_error_json(buf, 10, 0, 400, "x"), 0);
	ck_assert_str_eq(buf, "");
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_status_suite(void)
{
	Suite *s = suite_create("http_status");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_status, 0, N(status_cases));
	tcase_add_test(tc, test_error_json);
	tcase_add_test(tc, test_error_json_small);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_status_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
