/*
 * sse.c — formats Server-Sent Events into a buffer (no I/O; see sse.h).
 *
 * The rules we encode for, from the WHATWG EventSource parsing algorithm
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
 *  - a line ends at CRLF, a lone LF or a lone CR;
 *  - "field: value" — one space after the colon is dropped, the rest kept;
 *  - a line starting with ":" is a comment;
 *  - a blank line dispatches the event; several "data" lines are joined with
 *    LF.
 * So the only bytes that can break framing are CR and LF, and those we turn
 * into line breaks between data lines.
 */
#include <stdio.h>
#include <string.h>

#include "sse.h"

/* A tiny bounded writer: appends, and remembers if anything did not fit. */
struct sse_buf {
	char  *p;
	size_t len, cap;
	int    overflow;
};

static void put(struct sse_buf *b, const char *s, size_t n)
{
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void put_str(struct sse_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static long finish(const struct sse_buf *b)
{
	return b->overflow ? -1 : (long)b->len;
}

/* True if s holds a CR or LF: such a value would end its field early. */
static int has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

size_t sse_event_max(size_t event_len, size_t data_len)
{
	return sizeof "id: " - 1 + 20 + 1          /* INT64_MAX has 19 digits */
	     + sizeof "event: " - 1 + event_len + 1
	     + sizeof "data: " - 1 + 1 + 1          /* first data line, blank line */
	     + data_len * (sizeof "\ndata: " - 1);  /* every byte a line break */
}

long sse_format_event(char *buf, size_t buflen, int64_t id, const char *event,
                      const char *data, size_t data_len)
{
	struct sse_buf b = { buf, 0, buflen, 0 };
	char num[32];
	size_t i, start;

	if (event && has_line_break(event))
		return -1;
	if (id >= 0) {
		snprintf(num, sizeof num, "%lld", (long long)id);
		put_str(&b, "id: ");
		put_str(&b, num);
		put(&b, "\n", 1);
	}
	if (event) {
		put_str(&b, "event: ");
		put_str(&b, event);
		put(&b, "\n", 1);
	}
	/* One "data: " line per line of the payload; CRLF counts as one break. */
	put_str(&b, "data: ");
	for (i = start = 0; i < data_len; i++) {
		if (data[i] != '\r' && data[i] != '\n')
			continue;
		put(&b, data + start, i - start);
		put_str(&b, "\ndata: ");
		if (data[i] == '\r' && i + 1 < data_len && data[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	put(&b, data + start, data_len - start);
	put(&b, "\n\n", 2);
	return finish(&b);
}

long sse_format_comment(char *buf, size_t buflen, const char *text)
{
	struct sse_buf b = { buf, 0, buflen, 0 };

	if (has_line_break(text))
		return -1;
	put_str(&b, ": ");
	put_str(&b, text);
	put(&b, "\n\n", 2);
	return finish(&b);
}

long sse_format_retry(char *buf, size_t buflen, long ms)
{
	struct sse_buf b = { buf, 0, buflen, 0 };
	char num[32];

	if (ms < 0)
		return -1;
	snprintf(num, sizeof num, "%ld", ms);
	put_str(&b, "retry: ");
	put_str(&b, num);
	put(&b, "\n\n", 2);
	return finish(&b);
}
