/*
 * fuzz_http_query.c — libFuzzer target for lib/http_query.c
 * (docs/fuzzing.md).
 *
 * The input is a range selector, then three fields separated by '\n' — a
 * number, a raw parameter value (any bytes, NUL included), a parameter
 * name — then a query string.  Checked:
 *  - http_parse_int() against strtoll(): it accepts exactly the strings
 *    strtoll reads whole, without overflow, within [min, max], that are
 *    plain decimal digits (a '-' only when min < 0: no spaces, no '+'), with
 *    strtoll's value; anything else is -1 and *out untouched;
 *  - http_form_int() on "x=1&n=<value percent-encoded>": the same verdict on
 *    the decoded value, which must hold no NUL ("5%00junk" is malformed) and
 *    be under 32 bytes (its documented bound);
 *  - http_form_get() against a decoder written here from the WHATWG
 *    urlencoded parser, into a buffer of exactly buflen bytes;
 *  - http_cursor_parse(): accepted only when every parameter is, with the
 *    values http_form_get()/http_form_int() read and the defaults otherwise.
 */
#include <errno.h>
#include <limits.h>

#include "fuzz.h"
#include "http_query.h"
#include "msg.h"

/* The ranges the code base uses, and a few that stress the edges. */
static const long long ranges[][2] = {
	{ 0, LLONG_MAX }, { 1, HTTP_READ_MAX }, { 0, HTTP_READ_MAX },
	{ 1, 65535 }, { 0, 1 }, { 1, 1000000 }, { LLONG_MIN, LLONG_MAX },
	{ -5, 10 }, { LLONG_MIN, 0 }, { -1, -1 },
};

/* The reference verdict of http_parse_int(), from strtoll. */
static int ref_parse_int(const char *s, long long min, long long max,
                         long long *out)
{
	const char *d = s;
	char *end;
	long long v;

	if (*d == '-' && min < 0)
		d++;
	if (*d == '\0')
		return -1;
	for (const char *c = d; *c != '\0'; c++)
		if (*c < '0' || *c > '9')
			return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int hex(int c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* The reference http_form_get(), written separately. */
static int ref_form_get(const char *qs, const char *name, char *buf,
                        size_t buflen, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *pair = qs; *pair != '\0'; ) {
		size_t plen = strcspn(pair, "&");
		size_t klen = strcspn(pair, "=&");
		if (klen == nl && strncmp(pair, name, nl) == 0) {
			const char *v = klen < plen ? pair + klen + 1 : pair + plen;
			size_t n = 0;
			for (; v < pair + plen; v++) {
				int c = (unsigned char)*v;
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					if (v + 2 >= pair + plen || hex(v[1]) < 0 || hex(v[2]) < 0)
						return -1;
					c = hex(v[1]) * 16 + hex(v[2]);
					v += 2;
				}
				if (n + 1 >= buflen)
					return -1;
				buf[n++] = (char)c;
			}
			buf[n] = '\0';
			*len = n;
			return 1;
		}
		pair += plen + (pair[plen] != '\0');
	}
	return 0;
}

static void check_parse_int(const char *s, long long min, long long max)
{
	long long got = 12345, want = 12345;
	int rc = http_parse_int(s, min, max, &got);

	CHECK(rc == ref_parse_int(s, min, max, &want));
	CHECK(got == want);          /* the value, or untouched */
}

static void check_form_int(const uint8_t *v, size_t len, int hexall,
                           long long min, long long max)
{
	char *qs = malloc(sizeof "x=1&n=" + 3 * len), *raw;
	size_t q = 0;
	long long got = 777, want = 777;
	int want_rc;

	CHECK(qs != NULL);
	q += (size_t)sprintf(qs, "x=1&n=");
	for (size_t i = 0; i < len; i++) {
		if (v[i] == ' ')
			qs[q++] = '+';
		else if (hexall || v[i] <= ' ' || v[i] >= 0x7F || strchr("%&+=#", v[i]))
			q += (size_t)sprintf(qs + q, "%%%02X", v[i]);
		else
			qs[q++] = (char)v[i];
	}
	qs[q] = '\0';
	raw = fuzz_copy(v, len, 1);
	if (len >= 32 || memchr(v, '\0', len) != NULL)
		want_rc = -1;
	else
		want_rc = ref_parse_int(raw, min, max, &want) == 0 ? 1 : -1;
	CHECK(http_form_int(qs, "n", min, max, &got) == want_rc);
	CHECK(got == want);
	free(raw);
	free(qs);
}

static void check_form_get(const char *qs, const char *name, size_t buflen)
{
	char *got = malloc(buflen), *want = malloc(buflen);
	size_t got_len = 99, want_len = 99;
	int rc, want_rc;

	CHECK(got && want);
	rc = http_form_get(qs, name, got, buflen, &got_len);
	want_rc = ref_form_get(qs, name, want, buflen, &want_len);
	CHECK(rc == want_rc);
	if (rc == 1) {
		CHECK(got_len == want_len && got_len < buflen);
		CHECK(memcmp(got, want, got_len + 1) == 0);
	}
	free(got);
	free(want);
}

/* http_cursor_parse() must say what its parts say. */
static void check_cursor(const char *qs)
{
	struct http_cursor c;
	const char *err = http_cursor_parse(qs, &c);
	char ch[256];
	size_t ch_len;
	long long since = -1, limit = HTTP_LIMIT_DEFAULT, history = HTTP_HISTORY_DEFAULT;
	int rc_ch = http_form_get(qs, "channel", ch, sizeof ch, &ch_len);
	int rc_since = http_form_int(qs, "since", 0, INT64_MAX, &since);
	int rc_limit = http_form_int(qs, "limit", 1, HTTP_READ_MAX, &limit);
	int rc_history = http_form_int(qs, "history", 0, HTTP_READ_MAX, &history);
	int ok = rc_ch >= 0 && rc_since >= 0 && rc_limit >= 0 && rc_history >= 0 &&
	         (rc_ch == 0 || msg_check_channel(ch, ch_len) == NULL);

	CHECK((err == NULL) == ok);
	if (!ok)
		return;
	CHECK(strcmp(c.channel, rc_ch ? ch : MSG_DEFAULT_CHANNEL) == 0);
	CHECK(msg_check_channel(c.channel, strlen(c.channel)) == NULL);
	CHECK(c.has_since == (rc_since == 1));
	CHECK(c.since == (rc_since == 1 ? since : 0));
	CHECK(c.limit == limit && c.limit >= 1 && c.limit <= HTTP_READ_MAX);
	CHECK(c.history == history && c.history >= 0 && c.history <= HTTP_READ_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned sel = fuzz_byte(&in), buflen = 1 + fuzz_byte(&in);
	size_t nranges = sizeof ranges / sizeof ranges[0];
	long long min = ranges[sel % nranges][0], max = ranges[sel % nranges][1];
	struct fuzz_in num = fuzz_field(&in, '\n');
	struct fuzz_in value = fuzz_field(&in, '\n');
	struct fuzz_in name_f = fuzz_field(&in, '\n');
	char *s = fuzz_copy(num.p, num.len, 1);
	char *name = fuzz_copy(name_f.p, name_f.len, 1);
	char *qs = fuzz_copy(in.p, in.len, 1);

	check_parse_int(s, min, max);
	check_form_int(value.p, value.len, sel & 0x80, min, max);
	check_form_get(qs, name, buflen);
	check_cursor(qs);
	free(s);
	free(name);
	free(qs);
	return 0;
}
