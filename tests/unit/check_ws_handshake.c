/*
 * check_ws_handshake.c — unit tests for lib/ws_handshake.c (RFC 6455 §4).
 *
 * The accept value from the RFC's own example (§1.3), then a table of
 * request heads, each with the status the helper must answer (0 = 101) and,
 * for accepted ones, the channel/since/history it reads from the query.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ws_handshake.h"

#define S(lit) lit, sizeof lit - 1

START_TEST(test_accept_rfc_example)
{
	char out[WS_ACCEPT_LEN + 1];

	ws_accept_value(S("dGhlIHNhbXBsZSBub25jZQ=="), out);
	ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* a second key, checked against Python hashlib + base64 */
	ws_accept_value(S("x3JJHMbDL1EzLkh9GBhXDw=="), out);
	ck_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}
END_TEST

#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define GOOD_HEADERS "Host: 127.0.0.1:8080\r\nUpgrade: websocket\r\n" \
	"Connection: Upgrade\r\n" KEY "Sec-WebSocket-Version: 13\r\n"

struct hs_case {
	const char *name;
	const char *in;
	size_t len;
	int parse;            /* expected ws_request_parse: >0 means "the whole input" */
	int status;           /* ws_request_check: 0 or the HTTP status */
	const char *channel;
	long long since;
	int history;
};

static const struct hs_case hs_cases[] = {
	{ "RFC example", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 0, "lobby", -1, 20 },
	{ "bare LF line ends", S("GET /ws HTTP/1.1\nHost: h\nUpgrade: websocket\n"
	  "Connection: Upgrade\n" "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
	  "Sec-WebSocket-Version: 13\n\n"), 1, 0, "lobby", -1, 20 },
	{ "query", S("GET /ws?channel=room-1&since=41 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"),
	  1, 0, "room-1", 41, 20 },
	{ "history", S("GET /ws?history=0&channel=a_b HTTP/1.1\r\n" GOOD_HEADERS "\r\n"),
	  1, 0, "a_b", -1, 0 },
	{ "history 500", S("GET /ws?history=500 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 0, "lobby", -1, 500 },
	{ "root path", S("GET / HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 0, "lobby", -1, 20 },
	{ "token lists, any case", S("GET /ws HTTP/1.1\r\nHost: h\r\nupgrade: WebSocket\r\n"
	  "connection: keep-alive, Upgrade\r\n" KEY "sec-websocket-version:13\r\n\r\n"),
	  1, 0, "lobby", -1, 20 },
	{ "Connection twice (Firefox)", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	  "Connection: keep-alive\r\nConnection: Upgrade\r\n" KEY "Sec-WebSocket-Version: 13\r\n\r\n"),
	  1, 0, "lobby", -1, 20 },
	{ "HTTP/1.2 is fine", S("GET /ws HTTP/1.2\r\n" GOOD_HEADERS "\r\n"), 1, 0, "lobby", -1, 20 },
	{ "same-origin Origin", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS
	  "Origin: http://127.0.0.1:8080\r\n\r\n"), 1, 0, "lobby", -1, 20 },
	{ "Origin matches X-Forwarded-Host", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS
	  "Origin: http://example.org:8080\r\nX-Forwarded-Host: example.org:8080\r\n\r\n"),
	  1, 0, "lobby", -1, 20 },
	/* Apache appends its own X-Forwarded-Host entry after the client's:
	 * only the last entry is our proxy's. */
	{ "X-Forwarded-Host list: the last entry (the proxy's) counts", S("GET /ws HTTP/1.1\r\n"
	  GOOD_HEADERS "Origin: http://127.0.0.1:8080\r\n"
	  "X-Forwarded-Host: evil.example, 127.0.0.1:8080\r\n\r\n"), 1, 0, "lobby", -1, 20 },
	{ "X-Forwarded-Host list, blanks around the last entry", S("GET /ws HTTP/1.1\r\n"
	  GOOD_HEADERS "Origin: http://example.org\r\n"
	  "X-Forwarded-Host: a.example,example.org \r\n\r\n"), 1, 0, "lobby", -1, 20 },
	{ "percent-encoded channel", S("GET /ws?channel=%41b HTTP/1.1\r\n" GOOD_HEADERS "\r\n"),
	  1, 0, "Ab", -1, 20 },
	/* incomplete */
	{ "no blank line yet", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS), -2, 0, NULL, 0, 0 },
	{ "half a request line", S("GET /ws HT"), -2, 0, NULL, 0, 0 },
	{ "empty", S(""), -2, 0, NULL, 0, 0 },
	/* malformed heads */
	{ "no version", S("GET /ws\r\n\r\n"), -1, 0, NULL, 0, 0 },
	{ "HTTP/2.0", S("GET /ws HTTP/2.0\r\n\r\n"), -1, 0, NULL, 0, 0 },
	{ "space before colon", S("GET /ws HTTP/1.1\r\nHost : h\r\n\r\n"), -1, 0, NULL, 0, 0 },
	{ "no colon", S("GET /ws HTTP/1.1\r\nHost\r\n\r\n"), -1, 0, NULL, 0, 0 },
	{ "control byte in a value", S("GET /ws HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n"), -1, 0, NULL, 0, 0 },
	{ "double space", S("GET  /ws HTTP/1.1\r\n\r\n"), -1, 0, NULL, 0, 0 },
	/* refused */
	{ "POST", S("POST /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 405, NULL, 0, 0 },
	{ "other path", S("GET /chat HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 404, NULL, 0, 0 },
	{ "HTTP/1.0", S("GET /ws HTTP/1.0\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "no Host", S("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" KEY
	  "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "no Upgrade", S("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n" KEY
	  "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "Upgrade: h2c", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" KEY
	  "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "Connection: keep-alive only", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	  "Connection: keep-alive\r\n" KEY "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "Connection: upgraded is not upgrade", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	  "Connection: upgraded\r\n" KEY "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "version 8", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  KEY "Sec-WebSocket-Version: 8\r\n\r\n"), 1, 426, NULL, 0, 0 },
	{ "no version header", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	  "Connection: Upgrade\r\n" KEY "\r\n"), 1, 426, NULL, 0, 0 },
	{ "no key", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "key of 15 bytes", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\nSec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "key not base64", S("GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25!ZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), 1, 400, NULL, 0, 0 },
	{ "cross origin", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS "Origin: http://evil.example\r\n\r\n"),
	  1, 403, NULL, 0, 0 },
	{ "a forged X-Forwarded-Host first entry", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS
	  "Origin: http://evil.example\r\nX-Forwarded-Host: evil.example, 127.0.0.1:8080\r\n\r\n"),
	  1, 403, NULL, 0, 0 },
	{ "a forged X-Forwarded-Host, three entries", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS
	  "Origin: http://evil.example\r\nX-Forwarded-Host: evil.example,evil.example, 127.0.0.1:8080\r\n\r\n"),
	  1, 403, NULL, 0, 0 },
	{ "X-Forwarded-Host ending in an empty entry", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS
	  "Origin: http://evil.example\r\nX-Forwarded-Host: evil.example, \r\n\r\n"),
	  1, 403, NULL, 0, 0 },
	{ "origin on another port", S("GET /ws HTTP/1.1\r\n" GOOD_HEADERS "Origin: http://127.0.0.1:9999\r\n\r\n"),
	  1, 403, NULL, 0, 0 },
	{ "bad channel", S("GET /ws?channel=a%20b HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "empty channel", S("GET /ws?channel= HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "long channel", S("GET /ws?channel=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n"
	  GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "negative since", S("GET /ws?since=-1 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "since not a number", S("GET /ws?since=4x HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "since overflows", S("GET /ws?since=99999999999999999999 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"),
	  1, 400, NULL, 0, 0 },
	{ "history 501", S("GET /ws?history=501 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "bad escape", S("GET /ws?channel=%zz HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	/* The endpoints' cursor parser: a NUL inside a number is malformed,
	 * and every cursor field is checked, limit too. */
	{ "NUL in since", S("GET /ws?since=5%00junk HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "NUL in history", S("GET /ws?history=5%00 HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
	{ "bad limit", S("GET /ws?limit=ten HTTP/1.1\r\n" GOOD_HEADERS "\r\n"), 1, 400, NULL, 0, 0 },
};

START_TEST(test_request)
{
	const struct hs_case *c = &hs_cases[_i];
	struct ws_request rq;
	struct http_cursor pm;
	const char *err = NULL;
	int n = ws_request_parse(c->in, c->len, &rq);

	if (c->parse > 0)
		ck_assert_msg(n == (int)c->len, "%s: parse %d, want %zu", c->name, n, c->len);
	else
		ck_assert_msg(n == c->parse, "%s: parse %d, want %d", c->name, n, c->parse);
	if (n < 0)
		return;
	int status = ws_request_check(&rq, NULL, &pm, &err);
	ck_assert_msg(status == c->status, "%s: status %d (%s), want %d", c->name, status,
	              err ? err : "", c->status);
	if (status) {
		ck_assert_ptr_nonnull(err);
		return;
	}
	ck_assert_str_eq(pm.channel, c->channel);
	ck_assert_int_eq(pm.has_since ? pm.since : -1, c->since);   /* -1: absent */
	ck_assert_int_eq(pm.history, c->history);
}
END_TEST

/* The head ends at the blank line: frames that follow are not part of it. */
START_TEST(test_head_length)
{
	static const char in[] = "GET /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n\x81\x80\0\0\0\0";
	struct ws_request rq;

	ck_assert_int_eq(ws_request_parse(in, sizeof in - 1, &rq), (int)(sizeof in - 1 - 6));
	ck_assert_uint_eq(rq.key.len, 24);
	ck_assert_int_eq(strncmp(rq.key.p, "dGhlIHNhbXBsZSBub25jZQ==", 24), 0);
	ck_assert_int_eq(strncmp(rq.path.p, "/ws", rq.path.len), 0);
}
END_TEST

/* RT_ALLOWED_ORIGINS lists origins explicitly. */
START_TEST(test_allowed_origins)
{
	static const char in[] = "GET /ws HTTP/1.1\r\n" GOOD_HEADERS
		"Origin: https://course.example\r\n\r\n";
	struct ws_request rq;
	struct http_cursor pm;
	const char *err;

	ck_assert_int_gt(ws_request_parse(in, sizeof in - 1, &rq), 0);
	ck_assert_int_eq(ws_request_check(&rq, "http://a.example https://course.example", &pm, &err), 0);
	ck_assert_int_eq(ws_request_check(&rq, "http://a.example", &pm, &err), 403);
}
END_TEST

START_TEST(test_answers)
{
	static const char in[] = "GET /ws HTTP/1.1\r\n" GOOD_HEADERS "\r\n";
	static const char want101[] =
		"HTTP/1.1 101 Switching Protocols\r\n"
		"Upgrade: websocket\r\n"
		"Connection: Upgrade\r\n"
		"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	struct ws_request rq;
	char out[512];
	size_t n;

	ck_assert_int_gt(ws_request_parse(in, sizeof in - 1, &rq), 0);
	n = ws_handshake_accept(out, sizeof out, &rq);
	ck_assert_uint_eq(n, sizeof want101 - 1);
	ck_assert_mem_eq(out, want101, n);
	ck_assert_uint_eq(ws_handshake_accept(out, 20, &rq), 0);

	n = ws_handshake_refuse(out, sizeof out, 426, "version");
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 426 Upgrade Required\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nSec-WebSocket-Version: 13\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Type: text/plain; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nContent-Length: 8\r\n"));
	ck_assert_str_eq(strstr(out, "\r\n\r\n"), "\r\n\r\nversion\n");

	n = ws_handshake_refuse(out, sizeof out, 503, "full");
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 503 Service Unavailable\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nRetry-After: "));
	n = ws_handshake_refuse(out, sizeof out, 405, "GET");
	out[n] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\r\nAllow: GET\r\n"));
	ck_assert_uint_eq(ws_handshake_refuse(out, 30, 400, "x"), 0);
}
END_TEST

/* X-Rtlab-Node goes into the head, before the blank line; a body follows. */
START_TEST(test_add_header)
{
	char out[512];
	size_t n = ws_handshake_refuse(out, sizeof out, 503, "busy");
	size_t m = ws_handshake_add_header(out, n, sizeof out, "X-Rtlab-Node", "node2");

	ck_assert_uint_eq(m, n + strlen("X-Rtlab-Node: node2\r\n"));
	out[m] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\r\nRetry-After: 5\r\nX-Rtlab-Node: node2\r\n\r\nbusy\n"));
	/* No room, a CR/LF in the value, no head end: untouched, 0. */
	ck_assert_uint_eq(ws_handshake_add_header(out, m, m + 5, "X-Rtlab-Node", "n"), 0);
	ck_assert_uint_eq(ws_handshake_add_header(out, m, sizeof out, "X-Rtlab-Node", "a\r\nSet-Cookie: x"), 0);
	ck_assert_uint_eq(ws_handshake_add_header(out, 10, sizeof out, "X", "y"), 0);
	ck_assert_ptr_nonnull(strstr(out, "X-Rtlab-Node: node2\r\n\r\nbusy\n"));
}
END_TEST

static Suite *ws_handshake_suite(void)
{
	Suite *s = suite_create("ws_handshake");
	TCase *tc = tcase_create("handshake");

	tcase_add_test(tc, test_accept_rfc_example);
	tcase_add_loop_test(tc, test_request, 0, sizeof hs_cases / sizeof hs_cases[0]);
	tcase_add_test(tc, test_head_length);
	tcase_add_test(tc, test_allowed_origins);
	tcase_add_test(tc, test_answers);
	tcase_add_test(tc, test_add_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ws_handshake_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
