/*
 * utf8.c — UTF-8 validation by the table in RFC 3629 §4 (Unicode 15, table
 * 3-7 "Well-Formed UTF-8 Byte Sequences"): the first byte fixes how many
 * continuation bytes follow and the range the *first* continuation byte may
 * take; that range is what excludes overlongs, surrogates and > U+10FFFF, and
 * checking it per byte is what lets the validator fail fast.
 */
#include "utf8.h"

void utf8_init(struct utf8_state *s)
{
	s->need = 0;
	s->lo = 0x80;
	s->hi = 0xBF;
	s->rejected = 0;
}

/* One lead byte: how many continuation bytes, and the first one's range. */
static int lead(struct utf8_state *s, unsigned char c)
{
	s->lo = 0x80;
	s->hi = 0xBF;
	if (c < 0x80)                { s->need = 0; return 1; }
	if (c >= 0xC2 && c <= 0xDF)  { s->need = 1; return 1; }
	if (c == 0xE0)               { s->need = 2; s->lo = 0xA0; return 1; } /* no overlong */
	if (c == 0xED)               { s->need = 2; s->hi = 0x9F; return 1; } /* no surrogates */
	if (c >= 0xE1 && c <= 0xEF)  { s->need = 2; return 1; }
	if (c == 0xF0)               { s->need = 3; s->lo = 0x90; return 1; } /* no overlong */
	if (c >= 0xF1 && c <= 0xF3)  { s->need = 3; return 1; }
	if (c == 0xF4)               { s->need = 3; s->hi = 0x8F; return 1; } /* ≤ U+10FFFF */
	return 0;  /* 0x80..0xC1 as a lead, 0xF5..0xFF: never valid */
}

int utf8_feed(struct utf8_state *s, const unsigned char *p, size_t len)
{
	if (s->rejected)
		return UTF8_REJECT;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (s->need == 0) {
			if (!lead(s, c))
				goto reject;
			continue;
		}
		if (c < s->lo || c > s->hi)
			goto reject;
		s->need--;
		s->lo = 0x80;   /* only the first continuation byte is narrowed */
		s->hi = 0xBF;
	}
	return UTF8_ACCEPT;
reject:
	s->rejected = 1;
	return UTF8_REJECT;
}

int utf8_complete(const struct utf8_state *s)
{
	return !s->rejected && s->need == 0;
}

int utf8_valid(const char *p, size_t len)
{
	struct utf8_state s;

	utf8_init(&s);
	return utf8_feed(&s, (const unsigned char *)p, len) == UTF8_ACCEPT &&
	       utf8_complete(&s);
}

size_t utf8_count(const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char)p[i] & 0xC0) != 0x80)
			n++;
	return n;
}
