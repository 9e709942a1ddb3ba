/*
 * sse_client.c — the receiving side of an event stream, no I/O (WHATWG HTML
 * §9.2.6).  Unit tests: tests/unit/check_loadgen_sse_client.c.
 */
#include <string.h>

#include "http_query.h"
#include "sse_client.h"

void sse_client_init(struct sse_client *s)
{
	s->data_len = 0;
	s->has_data = 0;
	s->id = -1;
	s->cr = 0;
}

/* "field: value" → the field, and the value without its one leading space. */
static int sse_client_field(struct sse_client *s, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len), *val;
	size_t nl, vl;

	if (len > 0 && line[0] == ':')
		return 0;                      /* a comment */
	nl = colon ? (size_t)(colon - line) : len;
	val = colon ? colon + 1 : line + len;
	if (val < line + len && *val == ' ')
		val++;
	vl = (size_t)(line + len - val);
	if (nl == 4 && memcmp(line, "data", 4) == 0) {
		size_t sep = s->has_data ? 1 : 0;
		if (s->data_len + sep + vl > sizeof s->data)
			return -1;
		if (sep)
			s->data[s->data_len++] = '\n';
		memcpy(s->data + s->data_len, val, vl);
		s->data_len += vl;
		s->has_data = 1;
	} else if (nl == 2 && memcmp(line, "id", 2) == 0) {
		char digits[24];
		long long v;
		/* rtlab's ids are decimal; anything else is not a cursor we can use. */
		if (vl < sizeof digits) {
			memcpy(digits, val, vl);
			digits[vl] = '\0';
			if (http_parse_int(digits, 0, INT64_MAX, &v) == 0)
				s->id = v;
		}
	}
	return 0;
}

long sse_client_parse(struct sse_client *s, const char *buf, size_t len,
                      struct sse_client_event *ev, int *dispatched)
{
	size_t i;

	*dispatched = 0;
	if (len == 0)
		return -2;
	if (s->cr && buf[0] == '\n') {         /* the LF of a CRLF split by a read */
		s->cr = 0;
		return 1;
	}
	s->cr = 0;
	for (i = 0; i < len && buf[i] != '\n' && buf[i] != '\r'; i++)
		;
	if (i == len)
		return len > SSE_CLIENT_LINE_MAX ? -1 : -2;
	if (i > SSE_CLIENT_LINE_MAX)
		return -1;
	if (i == 0) {                          /* a blank line: dispatch */
		ev->data = s->data;
		ev->len = s->data_len;
		ev->id = s->id;
		*dispatched = 1;
		s->data_len = 0;
		s->has_data = 0;
		s->id = -1;
	} else if (sse_client_field(s, buf, i) != 0) {
		return -1;
	}
	if (buf[i] == '\r') {
		if (i + 1 < len && buf[i + 1] == '\n')
			return (long)i + 2;
		s->cr = i + 1 == len;          /* the LF may be in the next read */
	}
	return (long)i + 1;
}
