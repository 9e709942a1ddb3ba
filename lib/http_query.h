/*
 * http_query.h — what a request's query string or form body says (pure
 * layer: bytes in, values out; no FastCGI, no store).
 *
 *  - http_form_get(): one application/x-www-form-urlencoded value;
 *  - http_parse_int(): the one checked number parser (OpenBSD strtonum);
 *  - http_form_int(): both together, for a numeric query parameter;
 *  - http_cursor_parse(): the read cursor (channel/since/limit/history)
 *    shared by poll, long-poll, SSE and the WebSocket handshake.
 *
 * Unit-tested in tests/unit/check_http_query.c.
 */
#ifndef RTLAB_HTTP_QUERY_H
#define RTLAB_HTTP_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

#define HTTP_PARAM_MAX 8192   /* longest decoded query/form value we accept */

/*
 * Finds name in an application/x-www-form-urlencoded string (a query string
 * or a form body) and percent/plus-decodes its first occurrence into buf
 * (NUL-terminated; *len gets the decoded length, which may contain NUL bytes).
 * Returns 1 found, 0 absent, -1 malformed (bad %-escape) or longer than
 * buflen-1.
 */
int http_form_get(const char *qs, const char *name, char *buf, size_t buflen,
                  size_t *len);

/*
 * The one checked number parser (OpenBSD strtonum): decimal digits only, no
 * sign unless min < 0, no spaces, within [min, max].  Returns 0 and sets *out,
 * or -1.  Never use atoi on input.
 */
int http_parse_int(const char *s, long long min, long long max, long long *out);

/*
 * A numeric parameter of a query string: http_form_get() then
 * http_parse_int() on the whole decoded value, so a "%00" inside it
 * ("since=5%00junk") is malformed, not the number before it.  Returns 1 and
 * sets *out, 0 if absent (*out untouched), -1 if malformed or out of range.
 */
int http_form_int(const char *qs, const char *name, long long min,
                  long long max, long long *out);

/*
 * The read cursor of the query string, shared by poll, long-poll, SSE and the
 * WebSocket handshake: channel (default "lobby", msg_check_channel), since
 * (0..2^63-1; absent: has_since = 0), limit (1–500, default 100) and history
 * (0–500, default 20).  Each endpoint uses the fields it documents; all are
 * checked, so a malformed one is a 400 everywhere.  Returns NULL, or a
 * static sentence for a 400 answer.
 */
#define HTTP_LIMIT_DEFAULT   100
#define HTTP_HISTORY_DEFAULT 20
#define HTTP_READ_MAX        500   /* most messages one answer or replay asks for */

struct http_cursor {
	char    channel[MSG_CHANNEL_MAX + 1];
	int     has_since;
	int64_t since;
	int     limit;
	int     history;
};

const char *http_cursor_parse(const char *qs, struct http_cursor *c);

#endif
