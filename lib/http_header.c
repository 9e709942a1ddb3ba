/*
 * http_header.c — Origin, Content-Type and ETag rules (see http_header.h).
 */
#include "http_header.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Length of p without a default port suffix (":80" for http, ":443" for
 * https), so "http://h" and Host "h:80" are the same origin (RFC 6454 §4). */
static size_t without_default_port(const char *p, size_t n, int https)
{
	const char *port = https ? ":443" : ":80";
	size_t pl = strlen(port);

	if (n > pl && memcmp(p + n - pl, port, pl) == 0)
		return n - pl;
	return n;
}

int http_origin_allowed(const char *origin, const char *host,
                        const char *allowed)
{
	size_t origin_len;

	if (origin == NULL)
		return 1;                            /* curl, same-origin GET, ... */
	origin_len = strlen(origin);
	if (allowed != NULL && *allowed != '\0') {
		const char *p = allowed;
		while (*p != '\0') {
			size_t n;
			p += strspn(p, " \t");
			n = strcspn(p, " \t");
			if (n > 0 && n == origin_len && strncasecmp(p, origin, n) == 0)
				return 1;
			p += n;
		}
		return 0;
	}
	if (host == NULL || *host == '\0')
		return 0;

	/* Default: the serialized origin "scheme://host[:port]" (RFC 6454 §6.2)
	 * must name the host the request was sent to. */
	int https;
	const char *hp;
	if (strncasecmp(origin, "http://", 7) == 0) {
		https = 0;
		hp = origin + 7;
	} else if (strncasecmp(origin, "https://", 8) == 0) {
		https = 1;
		hp = origin + 8;
	} else {
		return 0;                            /* "null", file:, ... */
	}
	size_t hp_len = strlen(hp);
	if (hp_len == 0 || memchr(hp, '/', hp_len) != NULL)
		return 0;
	hp_len = without_default_port(hp, hp_len, https);
	size_t host_len = without_default_port(host, strlen(host), https);
	return hp_len == host_len && strncasecmp(hp, host, hp_len) == 0;
}

int http_content_type_is(const char *content_type, const char *type)
{
	const char *p = content_type, *end;
	size_t type_len = strlen(type);

	if (p == NULL)
		return 0;
	p += strspn(p, " \t");
	end = p + strcspn(p, ";");
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if ((size_t)(end - p) != type_len || strncasecmp(p, type, type_len) != 0)
		return 0;
	/* Parameters: only charset matters, and it must be UTF-8. */
	for (p = strchr(p, ';'); p != NULL; p = strchr(p + 1, ';')) {
		const char *param = p + 1 + strspn(p + 1, " \t");
		if (strncasecmp(param, "charset=", 8) == 0) {
			const char *cs = param + 8;
			size_t n = strcspn(cs, "; \t");
			if (n >= 2 && cs[0] == '"' && cs[n - 1] == '"') {
				cs++;
				n -= 2;
			}
			if (!(n == 5 && strncasecmp(cs, "utf-8", 5) == 0))
				return 0;
		}
	}
	return 1;
}

/* FNV-1a, 64 bit (http://www.isthe.com/chongo/tech/comp/fnv/): a short,
 * well-known hash, good enough to tell two answers apart. */
static uint64_t fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

void http_etag_make(char *buf, int64_t id, const char *body, size_t len)
{
	snprintf(buf, HTTP_ETAG_MAX, "\"%lld-%016llx\"", (long long)id,
	         (unsigned long long)fnv1a64(body, len));
}

int http_etag_match(const char *if_none_match, const char *etag)
{
	const char *p = if_none_match;
	size_t etag_len = strlen(etag);

	if (p == NULL)
		return 0;
	/* If-None-Match = "*" / #entity-tag; entity-tag = [ "W/" ] DQUOTE
	 * etagc* DQUOTE.  A malformed member ends the scan: no match. */
	for (;;) {
		p += strspn(p, " \t,");
		if (*p == '\0')
			return 0;
		if (*p == '*')
			return 1;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p != '"')
			return 0;
		const char *close = strchr(p + 1, '"');
		if (close == NULL)
			return 0;
		if ((size_t)(close + 1 - p) == etag_len &&
		    memcmp(p, etag, etag_len) == 0)
			return 1;
		p = close + 1;
	}
}
