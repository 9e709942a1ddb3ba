/*
 * check_loadgen_http_resp.c — unit tests for tools/loadgen/http_resp.c, the
 * client side of an HTTP/1.1 response.
 *
 * Table-driven: each case is the exact bytes a server sends and what the
 * parser must make of them (status, body, keep-alive, the WebSocket accept
 * value, or "malformed").  Every case is fed whole and then in pieces of
 * 1, 2, 3 and 7 bytes, the way reads split them, keeping the unconsumed
 * rest as loadgen does: the answer must not depend on where reads end.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/loadgen/http_resp.h"

#define S(lit) lit, sizeof lit - 1

struct resp_case {
	const char *wire;
	size_t wire_len;
	int want;                  /* 1 complete, 0 needs more (or EOF), -1 malformed */
	int status;
	const char *body;
	int close;
	const char *accept;
};

static const struct resp_case cases[] = {
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 1, 200, "hello", 0, "" },
	{ S("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"), 1, 201, "", 0, "" },
	/* Header names are case-insensitive (RFC 9110 §5.1); bare LF tolerated. */
	{ S("HTTP/1.1 200 OK\ncontent-length:  2 \n\nok"), 1, 200, "ok", 0, "" },
	/* Chunked (RFC 9112 §7.1), with an extension and a trailer. */
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"), 1, 200, "hello world", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"),
	  1, 200, "0123456789", 0, "" },
	/* An SSE stream: chunked, never ends, the body arrives as it comes. */
	{ S("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n7\r\ndata: x\r\n"), 0, 200, "data: x", 0, "" },
	/* No length, not chunked: the body ends when the server closes. */
	{ S("HTTP/1.1 200 OK\r\n\r\nuntil close"), 0, 200, "until close", 1, "" },
	{ S("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"), 1, 200, "x", 1, "" },
	{ S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx"), 1, 200, "x", 1, "" },
	{ S("HTTP/1.1 204 No Content\r\n\r\n"), 1, 204, "", 0, "" },
	{ S("HTTP/1.1 304 Not Modified\r\nETag: \"1\"\r\n\r\n"), 1, 304, "", 0, "" },
	/* The upgrade: complete once the head is in; frames follow. */
	{ S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"), 1, 101, "", 0,
	  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
	/* Bytes past Content-Length are not this response's. */
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1"), 1, 200, "ok", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"), 0, 200, "short", 0, "" },
	/* malformed */
	{ S("HTTP/2 200\r\n\r\n"), -1, 0, "", 0, "" },
	{ S("SSH-2.0-OpenSSH\r\n"), -1, 0, "", 0, "" },
	{ S("HTTP/1.1 99 Low\r\n\r\n"), -1, 0, "", 0, "" },
	{ S("HTTP/1.1 2x0 OK\r\n\r\n"), -1, 0, "", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), -1, 200, "", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n"), -1, 200, "", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), -1, 200, "", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"), -1, 200, "a", 0, "" },
	{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n"), -1, 200, "", 0, "" },
};

/* Feeds wire in pieces of step bytes (0: whole) as loadgen does; returns
 * 1 complete, 0 need more, -1 malformed, with the body collected. */
static int feed(const struct resp_case *c, size_t step, struct http_resp *r,
                char *body, size_t *body_len)
{
	char buf[512];
	size_t have = 0, given = 0;

	http_resp_init(r);
	*body_len = 0;
	while (given < c->wire_len || have > 0) {
		size_t n = step ? step : c->wire_len;
		long used;
		if (n > c->wire_len - given)
			n = c->wire_len - given;
		memcpy(buf + have, c->wire + given, n);
		have += n;
		given += n;
		for (;;) {
			const char *b;
			size_t bl;
			if (r->phase == HTTP_RESP_DONE)
				return 1;
			used = http_resp_parse(r, buf, have, &b, &bl);
			if (used == -1)
				return -1;
			if (used == -2)
				break;
			ck_assert(used > 0 && (size_t)used <= have);
			ck_assert(bl == 0 || (b >= buf && b + bl <= buf + have));
			memcpy(body + *body_len, b, bl);
			*body_len += bl;
			memmove(buf, buf + used, have - (size_t)used);
			have -= (size_t)used;
		}
		if (n == 0 || given == c->wire_len)
			break;
	}
	return r->phase == HTTP_RESP_DONE ? 1 : 0;
}

START_TEST(test_response)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7 };
	const struct resp_case *c = &cases[_i];
	size_t k;

	for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		struct http_resp r;
		char body[512];
		size_t bl;
		int got = feed(c, steps[k], &r, body, &bl);
		ck_assert_msg(got == c->want, "case %d step %zu: got %d, want %d",
		              _i, steps[k], got, c->want);
		if (c->want < 0)
			continue;
		ck_assert_int_eq(r.status, c->status);
		ck_assert_uint_eq(bl, strlen(c->body));
		ck_assert(memcmp(body, c->body, bl) == 0);
		ck_assert_int_eq(r.close, c->close);
		ck_assert_str_eq(r.ws_accept, c->accept);
	}
}
END_TEST

START_TEST(test_ends_at_close)
{
	struct http_resp r;
	const char *b;
	size_t bl;
	static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
	long n;

	http_resp_init(&r);
	n = http_resp_parse(&r, head, sizeof head - 1, &b, &bl);
	ck_assert_int_eq(n, 17);
	ck_assert_int_eq(http_resp_ends_at_close(&r), 0);   /* head not done */
	n = http_resp_parse(&r, head + 17, 2, &b, &bl);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(http_resp_ends_at_close(&r), 1);
	/* Nothing to read is "need more", never a zero-byte step. */
	ck_assert_int_eq(http_resp_parse(&r, head, 0, &b, &bl), -2);
}
END_TEST

START_TEST(test_line_too_long)
{
	static char buf[HTTP_RESP_LINE_MAX + 2];
	struct http_resp r;
	const char *b;
	size_t bl;

	memset(buf, 'a', sizeof buf);
	http_resp_init(&r);
	ck_assert_int_eq(http_resp_parse(&r, buf, HTTP_RESP_LINE_MAX, &b, &bl), -2);
	ck_assert_int_eq(http_resp_parse(&r, buf, sizeof buf, &b, &bl), -1);
}
END_TEST

static Suite *http_resp_suite(void)
{
	Suite *s = suite_create("loadgen_http_resp");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_response, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_ends_at_close);
	tcase_add_test(tc, test_line_too_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_resp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
