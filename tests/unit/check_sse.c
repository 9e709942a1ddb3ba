/*
 * check_sse.c — unit tests for lib/sse.c, the Server-Sent Events encoder.
 *
 * Table-driven: each case is a payload and the exact bytes expected on the
 * wire.  A second table feeds payloads full of CR/LF through the encoder and
 * then through a small reader written from the WHATWG parsing rules, to show
 * that framing survives any payload (the client gets the payload back with
 * every CR, LF and CRLF turned into LF).
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define S(lit) lit, sizeof lit - 1

struct event_case {
	int64_t id;
	const char *event;
	const char *data;
	size_t data_len;
	const char *want;
	size_t want_len;
};

static const struct event_case event_cases[] = {
	{ 42, "message", S("{\"id\":42}"),
	  S("id: 42\nevent: message\ndata: {\"id\":42}\n\n") },
	{ 0, "message", S("x"), S("id: 0\nevent: message\ndata: x\n\n") },
	{ INT64_MAX, NULL, S("x"), S("id: 9223372036854775807\ndata: x\n\n") },
	{ -1, NULL, S("plain"), S("data: plain\n\n") },
	{ -1, NULL, S(""), S("data: \n\n") },
	{ -1, NULL, S("a\nb"), S("data: a\ndata: b\n\n") },
	{ -1, NULL, S("a\rb"), S("data: a\ndata: b\n\n") },
	{ -1, NULL, S("a\r\nb"), S("data: a\ndata: b\n\n") },
	{ -1, NULL, S("a\n\rb"), S("data: a\ndata: \ndata: b\n\n") },
	{ -1, NULL, S("a\n\nb"), S("data: a\ndata: \ndata: b\n\n") },
	{ -1, NULL, S("\n"), S("data: \ndata: \n\n") },
	{ -1, NULL, S("\r"), S("data: \ndata: \n\n") },
	{ -1, NULL, S("\r\n"), S("data: \ndata: \n\n") },
	{ -1, NULL, S("end\r"), S("data: end\ndata: \n\n") },
	/* A payload that looks like fields stays data: it is after "data: ". */
	{ -1, NULL, S("x\nid: 9\nevent: evil\n: c"),
	  S("data: x\ndata: id: 9\ndata: event: evil\ndata: : c\n\n") },
	/* Leading space survives: only the one after the colon is dropped. */
	{ -1, NULL, S(" sp"), S("data:  sp\n\n") },
	/* UTF-8 and a NUL byte pass through untouched. */
	{ 7, "message", S("\xF0\x9F\x98\x80 \xE4\xB8\xAD\x00z"),
	  S("id: 7\nevent: message\ndata: \xF0\x9F\x98\x80 \xE4\xB8\xAD\x00z\n\n") },
};

START_TEST(test_format_event)
{
	const struct event_case *c = &event_cases[_i];
	char buf[256];
	long n = sse_format_event(buf, sizeof buf, c->id, c->event, c->data,
	                          c->data_len);

	ck_assert_int_eq(n, (long)c->want_len);
	ck_assert_mem_eq(buf, c->want, c->want_len);
	/* The bound holds, and an exact-size buffer is enough. */
	ck_assert_uint_ge(sse_event_max(c->event ? strlen(c->event) : 0,
	                                c->data_len), (size_t)n);
	ck_assert_int_eq(sse_format_event(buf, (size_t)n, c->id, c->event,
	                                  c->data, c->data_len), n);
}
END_TEST

START_TEST(test_format_event_too_small)
{
	const struct event_case *c = &event_cases[_i];
	char buf[256];

	ck_assert_int_eq(sse_format_event(buf, c->want_len - 1, c->id, c->event,
	                                  c->data, c->data_len), -1);
	ck_assert_int_eq(sse_format_event(buf, 0, c->id, c->event,
	                                  c->data, c->data_len), -1);
}
END_TEST

START_TEST(test_format_event_bad_type)
{
	char buf[64];

	ck_assert_int_eq(sse_format_event(buf, sizeof buf, 1, "a\nb", S("x")), -1);
	ck_assert_int_eq(sse_format_event(buf, sizeof buf, 1, "a\rb", S("x")), -1);
}
END_TEST

START_TEST(test_format_comment_retry)
{
	char buf[64];
	long n;

	n = sse_format_comment(buf, sizeof buf, "heartbeat");
	ck_assert_int_eq(n, 13);
	ck_assert_mem_eq(buf, ": heartbeat\n\n", 13);
	ck_assert_int_eq(sse_format_comment(buf, sizeof buf, "a\nb"), -1);
	ck_assert_int_eq(sse_format_comment(buf, 12, "heartbeat"), -1);

	n = sse_format_retry(buf, sizeof buf, 2000);
	ck_assert_int_eq(n, 13);
	ck_assert_mem_eq(buf, "retry: 2000\n\n", 13);
	ck_assert_int_eq(sse_format_retry(buf, sizeof buf, -1), -1);
	ck_assert_int_eq(sse_format_retry(buf, 12, 2000), -1);
}
END_TEST

/*
 * A reader from the WHATWG rules, reduced to what we emit: splits lines on
 * CRLF/LF/CR, ignores comments, takes "field: value" (dropping one space),
 * appends data + LF, and on a blank line dispatches with the last LF removed.
 * Returns the number of events; the last one's data and id go to the out
 * arguments.
 */
static int read_stream(const char *s, size_t len, char *data, size_t *data_len,
                       char *id)
{
	size_t i = 0, dlen = 0;
	int events = 0;

	id[0] = '\0';
	while (i < len) {
		size_t start = i, end, vstart;

		while (i < len && s[i] != '\r' && s[i] != '\n')
			i++;
		if (i == len)
			break;   /* an unterminated last line is not a line */
		end = i;
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		i++;
		if (end == start) {            /* blank line: dispatch */
			if (dlen > 0) {
				*data_len = dlen - 1;
				events++;
			}
			dlen = 0;
			continue;
		}
		if (s[start] == ':')
			continue;
		vstart = start;
		while (vstart < end && s[vstart] != ':')
			vstart++;
		{
			size_t nlen = vstart - start;
			if (vstart < end)
				vstart++;
			if (vstart < end && s[vstart] == ' ')
				vstart++;
			if (nlen == 4 && memcmp(s + start, "data", 4) == 0) {
				memcpy(data + dlen, s + vstart, end - vstart);
				dlen += end - vstart;
				data[dlen++] = '\n';
			} else if (nlen == 2 && memcmp(s + start, "id", 2) == 0) {
				memcpy(id, s + vstart, end - vstart);
				id[end - vstart] = '\0';
			}
		}
	}
	return events;
}

struct roundtrip_case {
	const char *data;
	size_t data_len;
	const char *want;     /* what the client's event.data holds */
	size_t want_len;
};

static const struct roundtrip_case roundtrip_cases[] = {
	{ S("{\"text\":\"hi\"}"), S("{\"text\":\"hi\"}") },
	{ S("a\r\nb\rc\nd"), S("a\nb\nc\nd") },
	{ S("\r\n\r\n"), S("\n\n") },
	{ S("\n\r"), S("\n\n") },
	{ S("x\r"), S("x\n") },
	{ S(""), S("") },
	{ S("</script>\"quotes\"\n\xE4\xB8\xAD\xF0\x9F\x8E\x89"),
	  S("</script>\"quotes\"\n\xE4\xB8\xAD\xF0\x9F\x8E\x89") },
};

START_TEST(test_roundtrip)
{
	const struct roundtrip_case *c = &roundtrip_cases[_i];
	char wire[512], data[512], id[32];
	size_t data_len = 0;
	long n;

	n = sse_format_event(wire, sizeof wire, 99, "message", c->data,
	                     c->data_len);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(read_stream(wire, (size_t)n, data, &data_len, id), 1);
	ck_assert_uint_eq(data_len, c->want_len);
	ck_assert_mem_eq(data, c->want, c->want_len);
	ck_assert_str_eq(id, "99");
}
END_TEST

/* Two events and a comment back to back frame as exactly two events. */
START_TEST(test_stream_of_events)
{
	char wire[512], data[512], id[32];
	size_t len = 0, data_len = 0;
	long n;

	n = sse_format_retry(wire, sizeof wire, 2000);
	ck_assert_int_gt(n, 0);
	len += (size_t)n;
	n = sse_format_event(wire + len, sizeof wire - len, 1, "message", S("a\r"));
	ck_assert_int_gt(n, 0);
	len += (size_t)n;
	n = sse_format_comment(wire + len, sizeof wire - len, "heartbeat");
	ck_assert_int_gt(n, 0);
	len += (size_t)n;
	n = sse_format_event(wire + len, sizeof wire - len, 2, "message", S("b"));
	ck_assert_int_gt(n, 0);
	len += (size_t)n;

	ck_assert_int_eq(read_stream(wire, len, data, &data_len, id), 2);
	ck_assert_uint_eq(data_len, 1);
	ck_assert_mem_eq(data, "b", 1);
	ck_assert_str_eq(id, "2");
}
END_TEST

/* The worst case: a payload of nothing but line breaks fits the bound. */
START_TEST(test_event_max_worst_case)
{
	size_t len = 4096, cap = sse_event_max(7, len);
	char *data = malloc(len), *buf = malloc(cap);
	long n;

	ck_assert_ptr_nonnull(data);
	ck_assert_ptr_nonnull(buf);
	memset(data, '\n', len);
	n = sse_format_event(buf, cap, INT64_MAX, "message", data, len);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_le((size_t)n, cap);
	free(data);
	free(buf);
}
END_TEST

static Suite *sse_suite(void)
{
	Suite *s = suite_create("sse");
	TCase *tc = tcase_create("format");

	tcase_add_loop_test(tc, test_format_event, 0,
	                    sizeof event_cases / sizeof event_cases[0]);
	tcase_add_loop_test(tc, test_format_event_too_small, 0,
	                    sizeof event_cases / sizeof event_cases[0]);
	tcase_add_test(tc, test_format_event_bad_type);
	tcase_add_test(tc, test_format_comment_retry);
	tcase_add_loop_test(tc, test_roundtrip, 0,
	                    sizeof roundtrip_cases / sizeof roundtrip_cases[0]);
	tcase_add_test(tc, test_stream_of_events);
	tcase_add_test(tc, test_event_max_worst_case);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sse_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
