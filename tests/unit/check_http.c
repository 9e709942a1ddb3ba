/*
 * check_http.c — unit tests for lib/http.c and lib/http_send.c, the
 * FastCGI request side: libfcgi's FCGX_Stream is a public struct with
 * fill/empty hooks, so a test can hand http_read_body() a body in small
 * pieces and read back exactly what http_send_json() wrote.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define S(lit) lit, sizeof lit - 1

/* ---- one request on in-memory FCGX streams ------------------------------ */

struct mem_stream {
	FCGX_Stream s;
	const char *src;            /* reader: the body, handed out in pieces */
	size_t src_len, src_pos, piece;
	unsigned char buf[16];      /* small, so every path refills/empties */
	char *out;                  /* writer: everything written */
	size_t out_len;
};

static void mem_fill(FCGX_Stream *s)
{
	struct mem_stream *m = s->data;
	size_t n = m->src_len - m->src_pos;

	if (n > m->piece)
		n = m->piece;
	memcpy(m->buf, m->src + m->src_pos, n);
	m->src_pos += n;
	s->rdNext = s->stopUnget = m->buf;
	s->stop = m->buf + n;
	if (n == 0)
		s->isClosed = 1;
}

static void mem_empty(FCGX_Stream *s, int do_close)
{
	struct mem_stream *m = s->data;
	size_t n = (size_t)(s->wrNext - m->buf);

	(void)do_close;
	m->out = realloc(m->out, m->out_len + n + 1);
	memcpy(m->out + m->out_len, m->buf, n);
	m->out_len += n;
	m->out[m->out_len] = '\0';
	s->wrNext = m->buf;
	s->stop = m->buf + sizeof m->buf;
}

static FCGX_Stream *mem_init(struct mem_stream *m, const char *src, size_t len)
{
	memset(m, 0, sizeof *m);
	m->src = src;
	m->src_len = len;
	m->piece = 7;
	m->s.isReader = src != NULL;
	m->s.fillBuffProc = mem_fill;
	m->s.emptyBuffProc = mem_empty;
	m->s.data = m;
	m->s.rdNext = m->s.wrNext = m->s.stopUnget = m->buf;
	m->s.stop = src != NULL ? m->buf : m->buf + sizeof m->buf;
	return &m->s;
}

/* Everything written to a writer, flushed. */
static const char *mem_text(struct mem_stream *m)
{
	FCGX_FFlush(&m->s);
	return m->out != NULL ? m->out : "";
}

struct body_case {
	const char *content_length;     /* NULL: absent */
	const char *body;
	size_t body_len, max;
	int status;
	size_t len;
};

static const struct body_case body_cases[] = {
	{ "5", S("hello"), 16, 0, 5 },
	{ "0", S(""), 16, 0, 0 },
	{ "16", S("0123456789abcdef"), 16, 0, 16 },        /* exactly max */
	{ "17", S("0123456789abcdefg"), 16, 413, 0 },
	/* declared beyond HTTP_DRAIN_MAX (a client that lies): refused unread */
	{ "999999999", S("channel=x&text=hi"), 16, 413, 0 },
	{ "99999999999999999999", S("x"), 16, 400, 0 },    /* overflows: malformed */
	{ "5", S("hel"), 16, 400, 3 },                      /* shorter than said */
	{ "3", S("hello"), 16, 0, 3 },                      /* the rest is not ours */
	{ "-1", S(""), 16, 400, 0 },
	{ "1x", S("x"), 16, 400, 0 },
	{ "", S("abc"), 16, 0, 3 },                         /* empty = absent */
	{ NULL, S("chunked body"), 16, 0, 12 },             /* read to the end */
	{ NULL, S("0123456789abcdef"), 16, 0, 16 },
	{ NULL, S("0123456789abcdefg"), 16, 413, 0 },
};

START_TEST(test_read_body)
{
	const struct body_case *c = &body_cases[_i];
	struct mem_stream in, out, err;
	char env_cl[64];
	char *env[] = { env_cl, "REQUEST_METHOD=POST", NULL };
	struct http_req r;
	char buf[17];
	size_t len = 999;
	int status;

	snprintf(env_cl, sizeof env_cl, "CONTENT_LENGTH=%s",
	         c->content_length ? c->content_length : "");
	if (c->content_length == NULL)
		env[0] = "REQUEST_METHOD=POST", env[1] = NULL;
	http_req_init(&r, mem_init(&in, c->body, c->body_len),
	              mem_init(&out, NULL, 0), mem_init(&err, NULL, 0), env);
	status = http_read_body(&r, buf, c->max, &len);
	ck_assert_msg(status == c->status, "CL %s: status %d", c->content_length, status);
	if (status == 0 || status == 400) {
		ck_assert_uint_eq(len, c->len);
		ck_assert(memcmp(buf, c->body, len) == 0);
		ck_assert_int_eq(buf[len], '\0');
	}
	if (status == 413 && c->content_length != NULL &&
	    strtoull(c->content_length, NULL, 10) > HTTP_DRAIN_MAX)
		ck_assert_uint_eq(in.src_pos, 0);   /* not waited for */
	else if (status == 413)             /* the rest was drained */
		ck_assert_uint_eq(in.src_pos, in.src_len);
	free(out.out);
	free(err.out);
}
END_TEST

START_TEST(test_send_json_and_error)
{
	struct mem_stream in, out, err;
	char *get_env[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/cgi-bin/poll.fcgi", NULL };
	char *head_env[] = { "REQUEST_METHOD=HEAD", NULL };
	struct http_req r;

	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), get_env);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.query, "");
	ck_assert_ptr_null(r.origin);
	http_send_json(&r, 200, "no-cache", "ETag: \"1-x\"\r\n", S("{\"a\":1}"));
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 200 OK\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 7\r\n"
	                 "Cache-Control: no-cache\r\n"
	                 "ETag: \"1-x\"\r\n"
	                 "\r\n"
	                 "{\"a\":1}");
	free(out.out);

	/* 304: headers only, no Content-Type or Content-Length. */
	mem_init(&out, NULL, 0);
	http_send_json(&r, 304, "no-cache", "ETag: \"1-x\"\r\n", NULL, 0);
	ck_assert_str_eq(mem_text(&out), "Status: 304 Not Modified\r\n"
	                 "Cache-Control: no-cache\r\nETag: \"1-x\"\r\n\r\n");
	free(out.out);

	/* An error: the protocol's shape, no-store, extra headers, one log line. */
	mem_init(&out, NULL, 0);
	http_send_error(&r, 405, "poll takes GET",
	                "Allow: GET, HEAD\r\n");
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 405 Method Not Allowed\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 56\r\n"
	                 "Cache-Control: no-store\r\n"
	                 "Allow: GET, HEAD\r\n"
	                 "\r\n"
	                 "{\"error\":\"method_not_allowed\",\"detail\":\"poll takes GET\"}");
	ck_assert_str_eq(mem_text(&err), "rtlab poll.fcgi: GET 405 poll takes GET\n");
	free(out.out);
	free(err.out);

	/* HEAD: the GET headers, no body. */
	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), head_env);
	http_send_json(&r, 200, "no-cache", NULL, S("{\"a\":1}"));
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 200 OK\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 7\r\n"
	                 "Cache-Control: no-cache\r\n\r\n");
	free(out.out);
	free(err.out);
}
END_TEST

/* A request from a shell may lack REQUEST_METHOD and QUERY_STRING. */
START_TEST(test_req_defaults)
{
	struct mem_stream in, out, err;
	char *env[] = { "QUERY_STRING=since=1", "HTTP_ORIGIN=http://a",
	                "HTTP_HOST=a", "CONTENT_TYPE=application/json", NULL };
	char *empty[] = { NULL };
	struct http_req r;

	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), env);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.query, "since=1");
	ck_assert_str_eq(r.origin, "http://a");
	ck_assert_str_eq(r.host, "a");
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_ptr_null(http_req_param(&r, "HTTP_IF_NONE_MATCH"));
	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), empty);
	ck_assert_str_eq(r.query, "");
	ck_assert_ptr_null(r.content_type);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("request");

	tcase_add_loop_test(tc, test_read_body, 0, N(body_cases));
	tcase_add_test(tc, test_send_json_and_error);
	tcase_add_test(tc, test_req_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
