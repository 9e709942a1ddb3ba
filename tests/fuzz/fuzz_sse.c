/*
 * fuzz_sse.c — libFuzzer target for lib/sse.c (docs/fuzzing.md).
 *
 * The input chooses an id, an event type, a comment, a retry time and a
 * payload (any bytes).  The encoder writes a stream of them; a parser
 * written here from the WHATWG rules ("9.2.6 Interpreting an event stream",
 * https://html.spec.whatwg.org/multipage/server-sent-events.html) reads it
 * back, as an EventSource would, byte-exactly.  Checked:
 *  - the stream dispatches exactly the events encoded, in order, with the
 *    payload back (each CR, LF or CRLF in it as one LF: the format's only
 *    loss, sse.h), the type (or "message") and the id as lastEventId;
 *  - the comment dispatches nothing; retry sets the reconnection time;
 *  - a type or comment holding CR or LF is refused (-1), never written;
 *  - the length fits sse_event_max(), and a buffer one byte short gives -1
 *    without a byte written past it (the buffers are exactly sized).
 */
#include <inttypes.h>

#include "fuzz.h"
#include "sse.h"

/* ---- an event-stream parser, from the WHATWG steps ---------------------- */

struct es_event {
	char *type, *data, *last_id;
	size_t data_len;
};

struct es_parser {
	char *data;            /* the data buffer */
	size_t data_len;
	char *type;            /* the event type buffer */
	char *last_id;         /* the last event ID buffer */
	long long retry;       /* -1 until a retry field sets it */
	struct es_event ev[4];
	int nev;
};

static char *dup_n(const char *p, size_t n)
{
	return fuzz_copy(p, n, 1);
}

static void es_dispatch(struct es_parser *ps)
{
	/* "If the data buffer is an empty string, set the data buffer and the
	 * event type buffer to the empty string and return." */
	if (ps->data_len > 0) {
		CHECK(ps->nev < 4);
		struct es_event *e = &ps->ev[ps->nev++];
		/* "If the data buffer's last character is a U+000A LINE FEED (LF)
		 * character, then remove the last character from the data buffer." */
		if (ps->data[ps->data_len - 1] == '\n')
			ps->data_len--;
		e->data = dup_n(ps->data, ps->data_len);
		e->data_len = ps->data_len;
		e->type = dup_n(ps->type[0] ? ps->type : "message",
		                strlen(ps->type[0] ? ps->type : "message"));
		e->last_id = dup_n(ps->last_id, strlen(ps->last_id));
	}
	ps->data_len = 0;
	ps->type[0] = '\0';
}

static void es_line(struct es_parser *ps, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t name_len = colon ? (size_t)(colon - line) : len;
	const char *value = colon ? colon + 1 : line + len;
	size_t value_len = (size_t)(line + len - value);

	if (len == 0) {
		es_dispatch(ps);
		return;
	}
	if (line[0] == ':')
		return;                                   /* a comment */
	if (value_len > 0 && value[0] == ' ') {       /* one space is dropped */
		value++;
		value_len--;
	}
#define FIELD(lit) (name_len == sizeof lit - 1 && memcmp(line, lit, name_len) == 0)
	if (FIELD("event")) {
		free(ps->type);
		ps->type = dup_n(value, value_len);
	} else if (FIELD("data")) {
		ps->data = realloc(ps->data, ps->data_len + value_len + 1);
		CHECK(ps->data != NULL);
		memcpy(ps->data + ps->data_len, value, value_len);
		ps->data_len += value_len;
		ps->data[ps->data_len++] = '\n';
	} else if (FIELD("id")) {
		if (memchr(value, '\0', value_len) == NULL) {
			free(ps->last_id);
			ps->last_id = dup_n(value, value_len);
		}
	} else if (FIELD("retry")) {
		/* "If the field value consists of only ASCII digits", else ignored. */
		long long v = 0;
		size_t i = 0;
		while (i < value_len && i < 18 && value[i] >= '0' && value[i] <= '9')
			v = v * 10 + (value[i++] - '0');
		if (i == value_len && i > 0)
			ps->retry = v;
	}
#undef FIELD
}

/* Lines end at CRLF, LF or CR; an unfinished last event is discarded. */
static void es_parse(struct es_parser *ps, const char *p, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] != '\r' && p[i] != '\n')
			continue;
		es_line(ps, p + start, i - start);
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			i++;
		start = i + 1;
	}
}

/* ---- the target ---------------------------------------------------------- */

/* The payload as the client gets it back: CRLF, CR and LF each one LF. */
static size_t normalize(const char *p, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
			continue;
		out[n++] = p[i] == '\r' ? '\n' : p[i];
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned flags = fuzz_byte(&in);
	int64_t id = -1;
	struct fuzz_in ev_f, comment_f, payload;
	char *event = NULL, *comment, *stream, *want;
	long retry = -1;
	size_t cap, want_len, total = 0;
	long n;

	if (flags & 1) {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | fuzz_byte(&in);
		id = (int64_t)(v >> 1);
	}
	if (flags & 2)
		retry = (long)(fuzz_byte(&in) << 16 | fuzz_byte(&in) << 8 | fuzz_byte(&in));
	ev_f = fuzz_field(&in, '\0');
	comment_f = fuzz_field(&in, '\0');
	payload = in;
	if (flags & 4)
		event = fuzz_copy(ev_f.p, ev_f.len, 1);
	comment = fuzz_copy(comment_f.p, comment_f.len, 1);

	cap = sse_event_max(event ? strlen(event) : 0, payload.len) * 2 +
	      comment_f.len + 64;
	stream = malloc(cap);
	CHECK(stream != NULL);

	if (retry >= 0) {
		n = sse_format_retry(stream + total, cap - total, retry);
		CHECK(n > 0);
		total += (size_t)n;
	}
	n = sse_format_comment(stream + total, cap - total, comment);
	CHECK((n < 0) == (strpbrk(comment, "\r\n") != NULL));
	if (n > 0)
		total += (size_t)n;

	/* The same event twice, so the second must be framed as cleanly as the
	 * first after it. */
	size_t one = 0;
	for (int k = 0; k < 2; k++) {
		n = sse_format_event(stream + total, cap - total, id, event,
		                     (const char *)payload.p, payload.len);
		if (event && strpbrk(event, "\r\n")) {
			CHECK(n == -1);
			goto out;
		}
		CHECK(n > 0);
		CHECK((size_t)n <= sse_event_max(event ? strlen(event) : 0, payload.len));
		one = (size_t)n;
		total += (size_t)n;
	}

	/* Exactly sized buffers: n bytes fit, n - 1 do not. */
	char *exact = malloc(one);
	CHECK(exact != NULL);
	CHECK(sse_format_event(exact, one, id, event, (const char *)payload.p,
	                       payload.len) == (long)one);
	CHECK(memcmp(exact, stream + total - one, one) == 0);
	CHECK(sse_format_event(exact, one - 1, id, event, (const char *)payload.p,
	                       payload.len) == -1);
	free(exact);

	struct es_parser ps = { .retry = -1 };
	ps.type = dup_n("", 0);
	ps.last_id = dup_n("", 0);
	es_parse(&ps, stream, total);

	want = malloc(payload.len + 1);
	CHECK(want != NULL);
	want_len = normalize((const char *)payload.p, payload.len, want);
	char id_text[32] = "";
	if (id >= 0)
		snprintf(id_text, sizeof id_text, "%" PRId64, id);
	const char *want_type = event && event[0] ? event : "message";

	CHECK(ps.retry == retry);
	CHECK(ps.nev == 2);
	for (int k = 0; k < ps.nev; k++) {
		struct es_event *e = &ps.ev[k];
		CHECK(e->data_len == want_len);
		CHECK(memcmp(e->data, want, want_len) == 0);
		CHECK(strcmp(e->type, want_type) == 0);
		CHECK(strcmp(e->last_id, id_text) == 0);
		free(e->type);
		free(e->data);
		free(e->last_id);
	}
	CHECK(ps.data_len == 0);           /* nothing left half-read */
	free(ps.data);
	free(ps.type);
	free(ps.last_id);
	free(want);
out:
	free(stream);
	free(event);
	free(comment);
	return 0;
}
