/*
 * http_header.h — rules on request and answer headers (pure layer: strings
 * in, verdicts out; no FastCGI, no store).
 *
 *  - the Origin rule for POST and the WebSocket handshake;
 *  - Content-Type matching;
 *  - ETags for poll's conditional GET.
 *
 * Unit-tested in tests/unit/check_http_header.c.
 */
#ifndef RTLAB_HTTP_HEADER_H
#define RTLAB_HTTP_HEADER_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_ETAG_MAX  48           /* room for http_etag_make()'s tag + NUL */

/*
 * The Origin rule for POST and the WebSocket handshake: a request without
 * Origin passes (curl); otherwise the Origin must be listed in allowed
 * (space-separated, e.g. "http://a.example https://b.example"; pass
 * getenv("RT_ALLOWED_ORIGINS")), or, when allowed is NULL/empty, its
 * host[:port] must equal the request's Host.  Returns 1 allowed, 0 refused.
 */
int http_origin_allowed(const char *origin, const char *host,
                        const char *allowed);

/*
 * 1 if the media type of a Content-Type value (before any ";" parameter,
 * spaces trimmed) equals type, compared case-insensitively (RFC 9110
 * §8.3.1), else 0.  content_type NULL gives 0.  A charset parameter, if
 * present, must be utf-8: rtlab stores UTF-8 only.
 */
int http_content_type_is(const char *content_type, const char *type);

/*
 * ETags for poll's conditional GET (RFC 9110 §8.8.3, §13.1.2).
 * http_etag_make() writes a strong tag, "<id>-<16 hex digits>" with its
 * quotes (NUL-terminated), into buf of HTTP_ETAG_MAX bytes: id is the
 * answer's last_id (for a reader's eye), the hex digits an FNV-1a 64 hash
 * of the whole body, so the tag changes whenever the body does.
 * http_etag_match() applies If-None-Match's weak comparison: 1 if the header
 * is "*" or lists etag (with or without W/), else 0 (NULL header: 0).
 */
void http_etag_make(char *buf, int64_t id, const char *body, size_t len);
int http_etag_match(const char *if_none_match, const char *etag);

#endif
