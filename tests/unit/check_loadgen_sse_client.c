/*
 * check_loadgen_sse_client.c — unit tests for tools/loadgen/sse_client.c,
 * the receiving side of an event stream (WHATWG HTML §9.2.6).
 *
 * Each case is a stream as bytes and the events it must dispatch, written
 * "data|id" one per event.  Every case is fed whole and in pieces of 1, 2
 * and 5 bytes (a CRLF split between two reads must still count once).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/loadgen/sse_client.h"

#define S(lit) lit, sizeof lit - 1

struct stream_case {
	const char *wire;
	size_t wire_len;
	const char *want;          /* events, each "data|id;" */
	int malformed;
};

static const struct stream_case cases[] = {
	{ S("data: x\n\n"), "x|-1;", 0 },
	{ S("id: 42\nevent: message\ndata: {\"id\":42}\n\n"), "{\"id\":42}|42;", 0 },
	/* Line ends: LF, CR, CRLF, mixed. */
	{ S("data: a\r\n\r\ndata: b\r\rdata: c\n\n"), "a|-1;b|-1;c|-1;", 0 },
	/* Data lines join with LF; the one space after the colon is dropped. */
	{ S("data: a\ndata:b\ndata:  c\n\n"), "a\nb\n c|-1;", 0 },
	{ S("data\ndata: x\n\n"), "\nx|-1;", 0 },
	/* Comments (heartbeats) and unknown fields change nothing. */
	{ S(": hb\n\n: hb\nretry: 10\nfoo: bar\ndata: y\n\n"), "|-1;y|-1;", 0 },
	/* An id without data still dispatches (the cursor moves). */
	{ S("id: 7\n\n"), "|7;", 0 },
	/* A non-numeric id is not a cursor. */
	{ S("id: abc\ndata: z\n\n"), "z|-1;", 0 },
	{ S("id: 5\ndata: 1\n\nid: 6\ndata: 2\n\n"), "1|5;2|6;", 0 },
	/* Not yet dispatched: no blank line. */
	{ S("data: pending\n"), "", 0 },
	/* A data field longer than SSE_CLIENT_DATA_MAX is refused. */
	{ NULL, 0, "", 1 },
};

/* Feeds the stream in pieces; returns 0, or -1 when the parser refused it. */
static int feed(const char *wire, size_t len, size_t step, char *got, size_t cap)
{
	static char buf[SSE_CLIENT_LINE_MAX * 2];
	static struct sse_client s;
	size_t have = 0, given = 0, gl = 0;

	sse_client_init(&s);
	got[0] = '\0';
	while (given < len) {
		size_t n = step && step < len - given ? step : len - given;
		memcpy(buf + have, wire + given, n);
		have += n;
		given += n;
		for (;;) {
			struct sse_client_event ev;
			int dispatched;
			long used = sse_client_parse(&s, buf, have, &ev, &dispatched);
			if (used == -1)
				return -1;
			if (used == -2)
				break;
			ck_assert(used > 0 && (size_t)used <= have);
			if (dispatched)
				gl += (size_t)snprintf(got + gl, cap - gl, "%.*s|%lld;",
				                       (int)ev.len, ev.data, ev.id);
			memmove(buf, buf + used, have - (size_t)used);
			have -= (size_t)used;
		}
	}
	return 0;
}

START_TEST(test_stream)
{
	static const size_t steps[] = { 0, 1, 2, 5 };
	const struct stream_case *c = &cases[_i];
	static char big[SSE_CLIENT_DATA_MAX + 16];
	const char *wire = c->wire;
	size_t len = c->wire_len, k;
	char got[256];

	if (wire == NULL) {
		memcpy(big, "data: ", 6);
		memset(big + 6, 'x', sizeof big - 7);
		big[sizeof big - 1] = '\n';
		wire = big;
		len = sizeof big;
	}
	for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
		int rc = feed(wire, len, steps[k], got, sizeof got);
		ck_assert_int_eq(rc, c->malformed ? -1 : 0);
		if (!c->malformed)
			ck_assert_msg(strcmp(got, c->want) == 0, "case %d step %zu: got '%s'",
			              _i, steps[k], got);
	}
}
END_TEST

START_TEST(test_line_limit)
{
	static char buf[SSE_CLIENT_LINE_MAX + 1];
	struct sse_client s;
	struct sse_client_event ev;
	int d;

	memset(buf, 'x', sizeof buf);
	sse_client_init(&s);
	ck_assert_int_eq(sse_client_parse(&s, buf, SSE_CLIENT_LINE_MAX, &ev, &d), -2);
	ck_assert_int_eq(sse_client_parse(&s, buf, sizeof buf, &ev, &d), -1);
	ck_assert_int_eq(sse_client_parse(&s, buf, 0, &ev, &d), -2);
}
END_TEST

static Suite *sse_client_suite(void)
{
	Suite *s = suite_create("loadgen_sse_client");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_stream, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_line_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sse_client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
