/*
 * check_http_header.c — unit tests for lib/http_header.c: the Origin rule,
 * Content-Type matching, ETags.  Pure: table-driven.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_header.h"

#define S(lit) lit, sizeof lit - 1

/* ---- http_origin_allowed ------------------------------------------------ */

struct origin_case {
	const char *origin, *host, *allowed;
	int want;
};

static const struct origin_case origin_cases[] = {
	{ NULL, "h:8080", NULL, 1 },                       /* curl: no Origin */
	{ NULL, NULL, "http://a", 1 },
	{ "http://127.0.0.1:8080", "127.0.0.1:8080", NULL, 1 },
	{ "http://127.0.0.1:8080", "127.0.0.1:8081", NULL, 0 },
	{ "http://evil.example", "127.0.0.1:8080", NULL, 0 },
	{ "http://Example.COM", "example.com", NULL, 1 },  /* hosts: no case */
	{ "http://example.com", "example.com:80", NULL, 1 },   /* default port */
	{ "https://example.com", "example.com:443", NULL, 1 },
	{ "https://example.com", "example.com:80", NULL, 0 },
	{ "http://example.com:80", "example.com", NULL, 1 },
	{ "http://example.com.evil", "example.com", NULL, 0 },
	{ "http://example.com", "example.com.evil", NULL, 0 },
	{ "http://example.com/", "example.com", NULL, 0 },  /* not an origin */
	{ "null", "example.com", NULL, 0 },                 /* sandboxed, file: */
	{ "ftp://example.com", "example.com", NULL, 0 },
	{ "http://", "", NULL, 0 },
	{ "http://a", NULL, NULL, 0 },                      /* no Host to compare */
	{ "http://a", NULL, "", 0 },
	{ "http://a.example", "x", "http://a.example https://b.example", 1 },
	{ "https://b.example", "x", "http://a.example https://b.example", 1 },
	{ "http://b.example", "x", "http://a.example https://b.example", 0 },
	{ "http://a.exampl", "x", "http://a.example", 0 },  /* whole entries */
	{ "http://a.example", "x", "  http://a.example\t", 1 },
	/* An allow list replaces the same-host default. */
	{ "http://x", "x", "http://a.example", 0 },
};

START_TEST(test_origin)
{
	const struct origin_case *c = &origin_cases[_i];

	ck_assert_msg(http_origin_allowed(c->origin, c->host, c->allowed) == c->want,
	              "origin %s host %s allowed %s", c->origin, c->host, c->allowed);
}
END_TEST

/* ---- http_content_type_is ----------------------------------------------- */

struct ct_case {
	const char *ct, *type;
	int want;
};

static const struct ct_case ct_cases[] = {
	{ "application/json", "application/json", 1 },
	{ "Application/JSON", "application/json", 1 },
	{ "application/json; charset=utf-8", "application/json", 1 },
	{ "application/json;charset=UTF-8", "application/json", 1 },
	{ "application/json; charset=\"utf-8\"", "application/json", 1 },
	{ " application/json ; foo=bar", "application/json", 1 },
	{ "application/json; charset=latin1", "application/json", 0 },
	{ "application/jsonx", "application/json", 0 },
	{ "application/json-seq", "application/json", 0 },
	{ "text/json", "application/json", 0 },
	{ "", "application/json", 0 },
	{ NULL, "application/json", 0 },
	{ "application/x-www-form-urlencoded", "application/x-www-form-urlencoded", 1 },
	{ "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", 0 },
};

START_TEST(test_content_type)
{
	const struct ct_case *c = &ct_cases[_i];

	ck_assert_msg(http_content_type_is(c->ct, c->type) == c->want, "%s", c->ct);
}
END_TEST

/* ---- ETags -------------------------------------------------------------- */

struct match_case {
	const char *inm, *etag;
	int want;
};

static const struct match_case match_cases[] = {
	{ "\"7-abc\"", "\"7-abc\"", 1 },
	{ "W/\"7-abc\"", "\"7-abc\"", 1 },                 /* weak comparison */
	{ "\"x\", \"7-abc\"", "\"7-abc\"", 1 },
	{ "\"x\",\"7-abc\"", "\"7-abc\"", 1 },
	{ " \"x\" , W/\"7-abc\" ", "\"7-abc\"", 1 },
	{ "*", "\"7-abc\"", 1 },
	{ "\"7-ab\"", "\"7-abc\"", 0 },
	{ "\"7-abcd\"", "\"7-abc\"", 0 },
	{ "7-abc", "\"7-abc\"", 0 },                       /* unquoted */
	{ "\"7-abc", "\"7-abc\"", 0 },
	{ "", "\"7-abc\"", 0 },
	{ NULL, "\"7-abc\"", 0 },
	{ "garbage, \"7-abc\"", "\"7-abc\"", 0 },          /* malformed: stop */
};

START_TEST(test_etag_match)
{
	const struct match_case *c = &match_cases[_i];

	ck_assert_msg(http_etag_match(c->inm, c->etag) == c->want, "%s", c->inm);
}
END_TEST

START_TEST(test_etag_make)
{
	char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX], c[HTTP_ETAG_MAX], big[HTTP_ETAG_MAX];

	http_etag_make(a, 42, S("{\"messages\":[],\"last_id\":42}"));
	http_etag_make(b, 42, S("{\"messages\":[],\"last_id\":42}"));
	http_etag_make(c, 42, S("{\"messages\":[],\"last_id\":42,\"reset\":true}"));
	ck_assert_str_eq(a, b);                 /* same body, same tag */
	ck_assert_str_ne(a, c);                 /* body differs: tag differs */
	ck_assert_int_eq(a[0], '"');
	ck_assert_int_eq(a[strlen(a) - 1], '"');
	ck_assert(strncmp(a, "\"42-", 4) == 0);
	ck_assert_uint_eq(strlen(a), 4 + 16 + 1);
	ck_assert(http_etag_match(a, a));
	/* FNV-1a 64 of "" is its offset basis. */
	http_etag_make(a, 0, "", 0);
	ck_assert_str_eq(a, "\"0-cbf29ce484222325\"");
	http_etag_make(big, INT64_MAX, "x", 1);
	ck_assert_uint_lt(strlen(big), HTTP_ETAG_MAX);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_header_suite(void)
{
	Suite *s = suite_create("http_header");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_origin, 0, N(origin_cases));
	tcase_add_loop_test(tc, test_content_type, 0, N(ct_cases));
	tcase_add_loop_test(tc, test_etag_match, 0, N(match_cases));
	tcase_add_test(tc, test_etag_make);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_header_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
