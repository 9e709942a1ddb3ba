/*
 * utf8.h — UTF-8 validation, whole-buffer and incremental.
 *
 * The incremental form feeds bytes as they arrive (a WebSocket message in
 * fragments) and fails fast: it reports UTF8_REJECT at the first byte after
 * which no continuation could make the text valid (RFC 6455 §8.1, Autobahn
 * case 6.x), not at the end of the message.  It rejects overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF (RFC 3629 §3).
 *
 * Pure layer (lib/README.md): no FastCGI, no store.
 */
#ifndef RTLAB_UTF8_H
#define RTLAB_UTF8_H

#include <stddef.h>

enum { UTF8_ACCEPT = 0, UTF8_REJECT = 1 };

struct utf8_state {
	unsigned need;    /* continuation bytes still expected */
	unsigned char lo, hi; /* allowed range of the next continuation byte */
	int rejected;
};

void utf8_init(struct utf8_state *s);
/* Feeds len bytes; returns UTF8_REJECT as soon as the text cannot be valid. */
int utf8_feed(struct utf8_state *s, const unsigned char *p, size_t len);
/* True if everything fed so far is complete, valid UTF-8. */
int utf8_complete(const struct utf8_state *s);
/* Whole buffer: 1 if valid UTF-8, else 0. */
int utf8_valid(const char *p, size_t len);
/* Number of code points in valid UTF-8. */
size_t utf8_count(const char *p, size_t len);

#endif
