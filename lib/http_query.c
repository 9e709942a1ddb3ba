/*
 * http_query.c — query strings and form bodies (see http_query.h).
 *
 * CGI and FastCGI hand a request's query as QUERY_STRING (RFC 3875 §4.1.7)
 * and a form body as bytes; both are application/x-www-form-urlencoded
 * (WHATWG URL standard).
 */
#include "http_query.h"

#include <limits.h>
#include <string.h>

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes the form value p[0..n) (WHATWG URL "application/x-www-form-
 * urlencoded parser": "+" is a space, "%XX" a byte) into buf. */
static int form_decode(const char *p, size_t n, char *buf, size_t buflen,
                       size_t *len)
{
	size_t out = 0;

	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)p[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n || (hi = hex_value(p[i + 1])) < 0 ||
			    (lo = hex_value(p[i + 2])) < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (out + 1 >= buflen)
			return -1;
		buf[out++] = (char)c;
	}
	buf[out] = '\0';
	if (len != NULL)
		*len = out;
	return 1;
}

int http_form_get(const char *qs, const char *name, char *buf, size_t buflen,
                  size_t *len)
{
	size_t name_len = strlen(name);

	if (buflen == 0)
		return -1;
	while (qs != NULL && *qs != '\0') {
		const char *end = strchr(qs, '&');
		size_t pair_len = end != NULL ? (size_t)(end - qs) : strlen(qs);
		const char *eq = memchr(qs, '=', pair_len);
		size_t key_len = eq != NULL ? (size_t)(eq - qs) : pair_len;

		/* Names are matched as written: rtlab's names are plain letters,
		 * which no client has a reason to percent-encode. */
		if (key_len == name_len && memcmp(qs, name, name_len) == 0) {
			const char *val = eq != NULL ? eq + 1 : qs + pair_len;
			return form_decode(val, (size_t)(qs + pair_len - val), buf,
			                   buflen, len);
		}
		qs = end != NULL ? end + 1 : NULL;
	}
	return 0;
}

int http_parse_int(const char *s, long long min, long long max, long long *out)
{
	/* The magnitude, unsigned: a negative number may reach LLONG_MIN, one
	 * further than LLONG_MAX (found by tests/fuzz/fuzz_http_query.c). */
	unsigned long long v = 0, limit = LLONG_MAX;
	long long n;

	if (s == NULL)
		return -1;
	if (*s == '-' && min < 0) {
		limit = (unsigned long long)LLONG_MAX + 1;
		s++;
	}
	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (limit - (unsigned)(*s - '0')) / 10)
			return -1;                   /* would overflow */
		v = v * 10 + (unsigned)(*s - '0');
	}
	n = limit == LLONG_MAX ? (long long)v : v == 0 ? 0 : -(long long)(v - 1) - 1;
	if (n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

int http_form_int(const char *qs, const char *name, long long min,
                  long long max, long long *out)
{
	char buf[32];
	size_t len;
	int rc = http_form_get(qs, name, buf, sizeof buf, &len);

	if (rc <= 0)
		return rc;
	/* The decoded value may hold a NUL ("%00"); the parser would stop
	 * there and take the digits before it for the whole number. */
	if (len != strlen(buf) || http_parse_int(buf, min, max, out) < 0)
		return -1;
	return 1;
}

/* One numeric cursor parameter: absent keeps *out, else it must be in range. */
static const char *cursor_number(const char *qs, const char *name, long long min,
                                 long long max, long long *out, int *present,
                                 const char *bad)
{
	int rc = http_form_int(qs, name, min, max, out);

	if (present != NULL)
		*present = rc == 1;
	return rc < 0 ? bad : NULL;
}

const char *http_cursor_parse(const char *qs, struct http_cursor *c)
{
	char buf[256];
	size_t len;
	long long since = 0, limit = HTTP_LIMIT_DEFAULT, history = HTTP_HISTORY_DEFAULT;
	const char *err;
	int rc;

	memset(c, 0, sizeof *c);
	rc = http_form_get(qs, "channel", buf, sizeof buf, &len);
	if (rc < 0)
		return "channel is malformed or too long";
	if (rc == 0) {
		strcpy(buf, MSG_DEFAULT_CHANNEL);
		len = strlen(buf);
	}
	if ((err = msg_check_channel(buf, len)) != NULL)
		return err;
	memcpy(c->channel, buf, len + 1);

	if ((err = cursor_number(qs, "since", 0, INT64_MAX, &since, &c->has_since,
	                         "since must be a message id (0 or more)")) ||
	    (err = cursor_number(qs, "limit", 1, HTTP_READ_MAX, &limit, NULL,
	                         "limit must be a number from 1 to 500")) ||
	    (err = cursor_number(qs, "history", 0, HTTP_READ_MAX, &history, NULL,
	                         "history must be a number from 0 to 500")))
		return err;
	c->since = since;
	c->limit = (int)limit;
	c->history = (int)history;
	return NULL;
}
