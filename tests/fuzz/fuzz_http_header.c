/*
 * fuzz_http_header.c — libFuzzer target for lib/http_header.c
 * (docs/fuzzing.md).
 *
 * The input is fields separated by '\n': Origin, Host, RT_ALLOWED_ORIGINS,
 * Content-Type, If-None-Match, then a body.  Checked:
 *  - http_origin_allowed() against a reference written from its header: a
 *    listed origin (space/tab-separated, case-insensitive) when a list is
 *    set, else "http(s)://" + the Host, default ports ignored (RFC 6454);
 *    and an origin built from the Host itself always passes;
 *  - http_content_type_is(): a match means the media type before ';' is the
 *    type, and every charset parameter says utf-8; the type itself, with
 *    "; charset=utf-8" or with another charset, behaves as documented;
 *  - http_etag_make() writes a quoted tag that fits HTTP_ETAG_MAX and
 *    changes with the body; http_etag_match() finds it alone, weak (W/),
 *    inside a list, and under "*", and agrees with a reference scan of
 *    If-None-Match (RFC 9110 §13.1.2).
 */
#include <strings.h>

#include "fuzz.h"
#include "http_header.h"

static int ref_origin(const char *origin, const char *host, const char *allowed)
{
	if (origin == NULL)
		return 1;
	if (allowed != NULL && *allowed != '\0') {
		char *list = fuzz_copy(allowed, strlen(allowed), 1), *save = NULL;
		int found = 0;
		for (char *t = strtok_r(list, " \t", &save); t && !found;
		     t = strtok_r(NULL, " \t", &save))
			found = strcasecmp(t, origin) == 0;
		free(list);
		return found;
	}
	if (host == NULL || *host == '\0')
		return 0;
	int https = strncasecmp(origin, "https://", 8) == 0;
	if (!https && strncasecmp(origin, "http://", 7) != 0)
		return 0;
	const char *hp = origin + (https ? 8 : 7), *port = https ? ":443" : ":80";
	size_t hl = strlen(hp), sl = strlen(host), pl = strlen(port);
	if (hl == 0 || strchr(hp, '/'))
		return 0;
	if (hl > pl && strcmp(hp + hl - pl, port) == 0)
		hl -= pl;
	if (sl > pl && strcmp(host + sl - pl, port) == 0)
		sl -= pl;
	return hl == sl && strncasecmp(hp, host, hl) == 0;
}

static void check_origin(const char *origin, const char *host,
                         const char *allowed)
{
	char built[600];

	CHECK(http_origin_allowed(origin, host, allowed) ==
	      ref_origin(origin, host, allowed));
	CHECK(http_origin_allowed(NULL, host, allowed) == 1);
	if (*host && !strchr(host, '/') && strlen(host) < 500) {
		snprintf(built, sizeof built, "http://%s", host);
		CHECK(http_origin_allowed(built, host, NULL) == 1);
		CHECK(http_origin_allowed(built, host, "") == 1);
	}
}

static void check_content_type(const char *ct)
{
	static const char *const types[] = { "application/json",
		"application/x-www-form-urlencoded" };
	char buf[128];

	for (int i = 0; i < 2; i++) {
		const char *t = types[i];
		if (http_content_type_is(ct, t)) {
			/* The media type, trimmed, is t. */
			const char *p = ct + strspn(ct, " \t");
			size_t n = strcspn(p, ";");
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			CHECK(n == strlen(t) && strncasecmp(p, t, n) == 0);
			/* Any charset parameter names UTF-8. */
			for (const char *q = strchr(p, ';'); q; q = strchr(q + 1, ';')) {
				const char *v = q + 1 + strspn(q + 1, " \t");
				if (strncasecmp(v, "charset=", 8) == 0)
					CHECK(strncasecmp(v + 8, "utf-8", 5) == 0 ||
					      strncasecmp(v + 8, "\"utf-8\"", 7) == 0);
			}
		}
		CHECK(http_content_type_is(t, t) == 1);
		snprintf(buf, sizeof buf, " %s ; charset=UTF-8", t);
		CHECK(http_content_type_is(buf, t) == 1);
		snprintf(buf, sizeof buf, "%s; charset=latin1", t);
		CHECK(http_content_type_is(buf, t) == 0);
	}
	CHECK(http_content_type_is(NULL, "application/json") == 0);
}

/* If-None-Match as RFC 9110 §13.1.2 reads it, up to a malformed member. */
static int ref_etag_match(const char *h, const char *etag)
{
	size_t el = strlen(etag);

	for (;;) {
		while (*h == ' ' || *h == '\t' || *h == ',')
			h++;
		if (*h == '\0')
			return 0;
		if (*h == '*')
			return 1;
		if (h[0] == 'W' && h[1] == '/')
			h += 2;
		if (*h != '"')
			return 0;
		const char *close = strchr(h + 1, '"');
		if (close == NULL)
			return 0;
		if ((size_t)(close + 1 - h) == el && strncmp(h, etag, el) == 0)
			return 1;
		h = close + 1;
	}
}

static void check_etag(const char *inm, const uint8_t *body, size_t len,
                       int64_t id)
{
	char tag[HTTP_ETAG_MAX], other[HTTP_ETAG_MAX], list[3 * HTTP_ETAG_MAX];
	char *b = fuzz_copy(body, len, 0);
	size_t n;

	http_etag_make(tag, id, b, len);
	n = strlen(tag);
	CHECK(n < HTTP_ETAG_MAX && n >= 2 && tag[0] == '"' && tag[n - 1] == '"');
	CHECK(strchr(tag + 1, '"') == tag + n - 1);
	CHECK(http_etag_match(inm, tag) == ref_etag_match(inm, tag));
	CHECK(http_etag_match(tag, tag) == 1);
	snprintf(list, sizeof list, "W/\"x\", W/%s", tag);
	CHECK(http_etag_match(list, tag) == 1);
	CHECK(http_etag_match("*", tag) == 1);
	CHECK(http_etag_match(NULL, tag) == 0);
	if (len > 0) {
		/* One byte more changes the tag (FNV-1a: a different hash). */
		char *longer = malloc(len + 1);
		CHECK(longer != NULL);
		memcpy(longer, body, len);
		longer[len] = (char)(body[len - 1] ^ 1);
		http_etag_make(other, id, longer, len + 1);
		CHECK(http_etag_match(tag, other) == (strcmp(tag, other) == 0));
		free(longer);
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned sel = fuzz_byte(&in);
	struct fuzz_in f[5];
	char *s[5];
	int64_t id = (int64_t)(sel * 2654435761u);

	for (int i = 0; i < 5; i++) {
		f[i] = fuzz_field(&in, '\n');
		s[i] = fuzz_copy(f[i].p, f[i].len, 1);
	}
	check_origin(sel & 1 ? NULL : s[0], s[1], sel & 2 ? NULL : s[2]);
	check_content_type(s[3]);
	check_etag(s[4], in.p, in.len, id);
	for (int i = 0; i < 5; i++)
		free(s[i]);
	return 0;
}
