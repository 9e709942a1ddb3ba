/*
 * message.c — loadgen's message texts and the markers in what comes back,
 * no I/O.  Unit tests: tests/unit/check_loadgen_message.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "http_query.h"
#include "message.h"

int message_format(char *text, size_t cap, const char *tag, long long seq,
                   uint64_t usec, int size)
{
	int n = snprintf(text, cap, "%s%lld.%llu.", tag, seq, (unsigned long long)usec);

	if (n < 0)
		n = 0;
	if ((size_t)n >= cap)
		n = (int)cap - 1;
	while (n < size && n < (int)cap - 1)
		text[n++] = 'x';
	text[n] = '\0';
	return n;
}

/* "<digits>" at p (before end) → *v; returns the byte after, or NULL. */
static const char *digits_at(const char *p, const char *end, long long max,
                             long long *v)
{
	char digits[24];
	size_t n = 0;

	while (p < end && isdigit((unsigned char)*p) && n < sizeof digits - 1)
		digits[n++] = *p++;
	digits[n] = '\0';
	if (http_parse_int(digits, 0, max, v) != 0)
		return NULL;
	return p;
}

long message_scan(const char *buf, size_t len, const char *tag,
                  struct message_mark *m)
{
	size_t tl = strlen(tag);
	const char *end = buf + len, *hit = memmem(buf, len, tag, tl), *p;
	long long seq, usec;

	if (hit == NULL)
		return -2;
	m->seq = -1;
	m->usec = 0;
	p = digits_at(hit + tl, end, INT32_MAX, &seq);
	if (p == NULL || p >= end || *p != '.')
		return (long)(hit + tl - buf);
	p = digits_at(p + 1, end, INT64_MAX, &usec);
	if (p == NULL)
		return (long)(hit + tl - buf);
	m->seq = seq;
	m->usec = (uint64_t)usec;
	return (long)(p - buf);
}

long long message_json_int(const char *buf, size_t len, const char *key)
{
	char pat[80];
	int pl = snprintf(pat, sizeof pat, "\"%s\":", key);
	const char *hit, *end = buf + len;
	long long v;

	if (pl < 0 || (size_t)pl >= sizeof pat)
		return -1;
	hit = memmem(buf, len, pat, (size_t)pl);
	if (hit == NULL)
		return -1;
	for (hit += pl; hit < end && *hit == ' '; hit++)
		;
	return digits_at(hit, end, INT64_MAX, &v) ? v : -1;
}
