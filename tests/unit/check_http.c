/*
 * check_http.c — unit tests for lib/http.c.
 *
 * Pure functions first, table-driven: form/query decoding, the checked
 * number parser, the Origin rule, Content-Type matching, ETags, the read
 * cursor, the poll answer's JSON.  Then the parts that touch a store (a
 * temp-file database created from sql/schema.sql; run from the repo root)
 * and the parts that touch a FastCGI stream: libfcgi's FCGX_Stream is a
 * public struct with fill/empty hooks, so a test can hand http_read_body()
 * a body in small pieces and read back exactly what http_send_json() wrote.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "store.h"

#define S(lit) lit, sizeof lit - 1

/* ---- http_form_get ------------------------------------------------------ */

struct form_case {
	const char *qs, *name;
	size_t buflen;
	int rc;
	const char *value;     /* when rc == 1 */
	size_t len;
};

static const struct form_case form_cases[] = {
	{ "a=1&b=2", "a", 64, 1, S("1") },
	{ "a=1&b=2", "b", 64, 1, S("2") },
	{ "a=1&b=2", "c", 64, 0, S("") },
	{ "", "a", 64, 0, S("") },
	{ "ab=1&a=2", "a", 64, 1, S("2") },            /* whole names only */
	{ "a=1&a=2", "a", 64, 1, S("1") },             /* the first wins */
	{ "a", "a", 64, 1, S("") },                     /* no "=": empty value */
	{ "a=", "a", 64, 1, S("") },
	{ "a=&b=x", "b", 64, 1, S("x") },
	{ "&&a=1&", "a", 64, 1, S("1") },
	{ "a=x+y", "a", 64, 1, S("x y") },              /* "+" is a space */
	{ "a=%2B%20%26%3d", "a", 64, 1, S("+ &=") },
	{ "a=caf%C3%A9", "a", 64, 1, S("caf\xC3\xA9") },
	{ "a=%00z", "a", 64, 1, S("\0z") },             /* NUL decoded, counted */
	{ "a=x=y", "a", 64, 1, S("x=y") },
	{ "a=%", "a", 64, -1, S("") },
	{ "a=%4", "a", 64, -1, S("") },
	{ "a=%zz", "a", 64, -1, S("") },
	{ "a=%4g", "a", 64, -1, S("") },
	{ "a=ok&b=%", "a", 64, 1, S("ok") },            /* only a is decoded */
	{ "a=12345", "a", 6, 1, S("12345") },           /* fits with its NUL */
	{ "a=123456", "a", 6, -1, S("") },              /* one byte too long */
	{ "a=%41%41%41%41%41%41", "a", 6, -1, S("") },
	{ "a=1", "a", 0, -1, S("") },
};

START_TEST(test_form_get)
{
	const struct form_case *c = &form_cases[_i];
	char buf[64];
	size_t len = 999;
	int rc = http_form_get(c->qs, c->name, buf, c->buflen, &len);

	ck_assert_msg(rc == c->rc, "%s [%s]: rc %d want %d", c->qs, c->name, rc, c->rc);
	if (rc == 1) {
		ck_assert_uint_eq(len, c->len);
		ck_assert(memcmp(buf, c->value, len) == 0);
		ck_assert_int_eq(buf[len], '\0');
	}
}
END_TEST

/* ---- http_parse_int ----------------------------------------------------- */

struct int_case {
	const char *s;
	long long min, max;
	int rc;
	long long want;
};

static const struct int_case int_cases[] = {
	{ "0", 0, 10, 0, 0 },
	{ "10", 0, 10, 0, 10 },
	{ "007", 0, 10, 0, 7 },
	{ "11", 0, 10, -1, 0 },
	{ "", 0, 10, -1, 0 },
	{ " 1", 0, 10, -1, 0 },
	{ "1 ", 0, 10, -1, 0 },
	{ "+1", 0, 10, -1, 0 },
	{ "-1", 0, 10, -1, 0 },          /* no sign when min >= 0 */
	{ "-1", -5, 10, 0, -1 },
	{ "-6", -5, 10, -1, 0 },
	{ "-", -5, 10, -1, 0 },
	{ "1e3", 0, 10000, -1, 0 },
	{ "0x10", 0, 100, -1, 0 },
	{ "1.0", 0, 100, -1, 0 },
	{ "9223372036854775807", 0, LLONG_MAX, 0, LLONG_MAX },
	{ "9223372036854775808", 0, LLONG_MAX, -1, 0 },
	{ "99999999999999999999999", 0, LLONG_MAX, -1, 0 },
	{ "500", 1, 500, 0, 500 },
	{ "501", 1, 500, -1, 0 },
};

START_TEST(test_parse_int)
{
	const struct int_case *c = &int_cases[_i];
	long long v = 12345;
	int rc = http_parse_int(c->s, c->min, c->max, &v);

	ck_assert_msg(rc == c->rc, "\"%s\": rc %d", c->s, rc);
	ck_assert(c->rc == 0 ? v == c->want : v == 12345);
}
END_TEST

START_TEST(test_parse_int_null)
{
	long long v;

	ck_assert_int_eq(http_parse_int(NULL, 0, 1, &v), -1);
}
END_TEST

/* ---- http_origin_allowed ------------------------------------------------ */

struct origin_case {
	const char *origin, *host, *allowed;
	int want;
};

static const struct origin_case origin_cases[] = {
	{ NULL, "h:8080", NULL, 1 },                       /* curl: no Origin */
	{ NULL, NULL, "http://a", 1 },
	{ "http://127.0.0.1:8080", "127.0.0.1:8080", NULL, 1 },
	{ "http://127.0.0.1:8080", "127.0.0.1:8081", NULL, 0 },
	{ "http://evil.example", "127.0.0.1:8080", NULL, 0 },
	{ "http://Example.COM", "example.com", NULL, 1 },  /* hosts: no case */
	{ "http://example.com", "example.com:80", NULL, 1 },   /* default port */
	{ "https://example.com", "example.com:443", NULL, 1 },
	{ "https://example.com", "example.com:80", NULL, 0 },
	{ "http://example.com:80", "example.com", NULL, 1 },
	{ "http://example.com.evil", "example.com", NULL, 0 },
	{ "http://example.com", "example.com.evil", NULL, 0 },
	{ "http://example.com/", "example.com", NULL, 0 },  /* not an origin */
	{ "null", "example.com", NULL, 0 },                 /* sandboxed, file: */
	{ "ftp://example.com", "example.com", NULL, 0 },
	{ "http://", "", NULL, 0 },
	{ "http://a", NULL, NULL, 0 },                      /* no Host to compare */
	{ "http://a", NULL, "", 0 },
	{ "http://a.example", "x", "http://a.example https://b.example", 1 },
	{ "https://b.example", "x", "http://a.example https://b.example", 1 },
	{ "http://b.example", "x", "http://a.example https://b.example", 0 },
	{ "http://a.exampl", "x", "http://a.example", 0 },  /* whole entries */
	{ "http://a.example", "x", "  http://a.example\t", 1 },
	/* An allow list replaces the same-host default. */
	{ "http://x", "x", "http://a.example", 0 },
};

START_TEST(test_origin)
{
	const struct origin_case *c = &origin_cases[_i];

	ck_assert_msg(http_origin_allowed(c->origin, c->host, c->allowed) == c->want,
	              "origin %s host %s allowed %s", c->origin, c->host, c->allowed);
}
END_TEST

/* ---- http_content_type_is ----------------------------------------------- */

struct ct_case {
	const char *ct, *type;
	int want;
};

static const struct ct_case ct_cases[] = {
	{ "application/json", "application/json", 1 },
	{ "Application/JSON", "application/json", 1 },
	{ "application/json; charset=utf-8", "application/json", 1 },
	{ "application/json;charset=UTF-8", "application/json", 1 },
	{ "application/json; charset=\"utf-8\"", "application/json", 1 },
	{ " application/json ; foo=bar", "application/json", 1 },
	{ "application/json; charset=latin1", "application/json", 0 },
	{ "application/jsonx", "application/json", 0 },
	{ "application/json-seq", "application/json", 0 },
	{ "text/json", "application/json", 0 },
	{ "", "application/json", 0 },
	{ NULL, "application/json", 0 },
	{ "application/x-www-form-urlencoded", "application/x-www-form-urlencoded", 1 },
	{ "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", 0 },
};

START_TEST(test_content_type)
{
	const struct ct_case *c = &ct_cases[_i];

	ck_assert_msg(http_content_type_is(c->ct, c->type) == c->want, "%s", c->ct);
}
END_TEST

/* ---- ETags -------------------------------------------------------------- */

struct match_case {
	const char *inm, *etag;
	int want;
};

static const struct match_case match_cases[] = {
	{ "\"7-abc\"", "\"7-abc\"", 1 },
	{ "W/\"7-abc\"", "\"7-abc\"", 1 },                 /* weak comparison */
	{ "\"x\", \"7-abc\"", "\"7-abc\"", 1 },
	{ "\"x\",\"7-abc\"", "\"7-abc\"", 1 },
	{ " \"x\" , W/\"7-abc\" ", "\"7-abc\"", 1 },
	{ "*", "\"7-abc\"", 1 },
	{ "\"7-ab\"", "\"7-abc\"", 0 },
	{ "\"7-abcd\"", "\"7-abc\"", 0 },
	{ "7-abc", "\"7-abc\"", 0 },                       /* unquoted */
	{ "\"7-abc", "\"7-abc\"", 0 },
	{ "", "\"7-abc\"", 0 },
	{ NULL, "\"7-abc\"", 0 },
	{ "garbage, \"7-abc\"", "\"7-abc\"", 0 },          /* malformed: stop */
};

START_TEST(test_etag_match)
{
	const struct match_case *c = &match_cases[_i];

	ck_assert_msg(http_etag_match(c->inm, c->etag) == c->want, "%s", c->inm);
}
END_TEST

START_TEST(test_etag_make)
{
	char a[HTTP_ETAG_MAX], b[HTTP_ETAG_MAX], c[HTTP_ETAG_MAX], big[HTTP_ETAG_MAX];

	http_etag_make(a, 42, S("{\"messages\":[],\"last_id\":42}"));
	http_etag_make(b, 42, S("{\"messages\":[],\"last_id\":42}"));
	http_etag_make(c, 42, S("{\"messages\":[],\"last_id\":42,\"reset\":true}"));
	ck_assert_str_eq(a, b);                 /* same body, same tag */
	ck_assert_str_ne(a, c);                 /* body differs: tag differs */
	ck_assert_int_eq(a[0], '"');
	ck_assert_int_eq(a[strlen(a) - 1], '"');
	ck_assert(strncmp(a, "\"42-", 4) == 0);
	ck_assert_uint_eq(strlen(a), 4 + 16 + 1);
	ck_assert(http_etag_match(a, a));
	/* FNV-1a 64 of "" is its offset basis. */
	http_etag_make(a, 0, "", 0);
	ck_assert_str_eq(a, "\"0-cbf29ce484222325\"");
	http_etag_make(big, INT64_MAX, "x", 1);
	ck_assert_uint_lt(strlen(big), HTTP_ETAG_MAX);
}
END_TEST

/* ---- http_cursor_parse -------------------------------------------------- */

struct cursor_case {
	const char *qs;
	const char *refusal;          /* NULL: accepted */
	const char *channel;
	int has_since;
	int64_t since;
	int limit, history;
};

static const struct cursor_case cursor_cases[] = {
	{ "", NULL, "lobby", 0, 0, 100, 20 },
	{ "channel=room-1_a&since=41&limit=5&history=0", NULL, "room-1_a", 1, 41, 5, 0 },
	{ "since=0", NULL, "lobby", 1, 0, 100, 20 },
	{ "since=9223372036854775807", NULL, "lobby", 1, INT64_MAX, 100, 20 },
	{ "limit=1&history=500", NULL, "lobby", 0, 0, 1, 500 },
	{ "limit=500", NULL, "lobby", 0, 0, 500, 20 },
	{ "x=1&channel=c%5Fd", NULL, "c_d", 0, 0, 100, 20 },
	{ "since=", "since", NULL, 0, 0, 0, 0 },
	{ "since=-1", "since", NULL, 0, 0, 0, 0 },
	{ "since=1.5", "since", NULL, 0, 0, 0, 0 },
	{ "since=9223372036854775808", "since", NULL, 0, 0, 0, 0 },
	{ "limit=0", "limit", NULL, 0, 0, 0, 0 },
	{ "limit=501", "limit", NULL, 0, 0, 0, 0 },
	{ "limit=ten", "limit", NULL, 0, 0, 0, 0 },
	{ "history=-1", "history", NULL, 0, 0, 0, 0 },
	{ "history=501", "history", NULL, 0, 0, 0, 0 },
	{ "channel=", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=a+b", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=%2e%2e", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=%zz", "channel", NULL, 0, 0, 0, 0 },
	{ "channel=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-x",
	  "channel", NULL, 0, 0, 0, 0 },
};

START_TEST(test_cursor)
{
	const struct cursor_case *c = &cursor_cases[_i];
	struct http_cursor cur;
	const char *err = http_cursor_parse(c->qs, &cur);

	if (c->refusal != NULL) {
		ck_assert_msg(err != NULL && strstr(err, c->refusal) != NULL,
		              "%s: got %s", c->qs, err ? err : "(accepted)");
		return;
	}
	ck_assert_msg(err == NULL, "%s: %s", c->qs, err);
	ck_assert_str_eq(cur.channel, c->channel);
	ck_assert_int_eq(cur.has_since, c->has_since);
	ck_assert(cur.since == c->since);
	ck_assert_int_eq(cur.limit, c->limit);
	ck_assert_int_eq(cur.history, c->history);
}
END_TEST

/* ---- the poll answer's JSON --------------------------------------------- */

START_TEST(test_poll_json)
{
	char m1[] = "{\"id\":3,\"text\":\"a\"}", m2[] = "{\"id\":9,\"text\":\"b\"}";
	struct store_msg v[2] = {
		{ .id = 3, .channel = "lobby", .json = m1, .json_len = sizeof m1 - 1 },
		{ .id = 9, .channel = "lobby", .json = m2, .json_len = sizeof m2 - 1 },
	};
	struct http_poll p = { .msgs = { v, 2 }, .last_id = 9, .reset = 0 };
	size_t len;
	char *s = http_poll_json(&p, &len);

	ck_assert_str_eq(s, "{\"messages\":[{\"id\":3,\"text\":\"a\"},"
	                    "{\"id\":9,\"text\":\"b\"}],\"last_id\":9}");
	ck_assert_uint_eq(len, strlen(s));
	free(s);

	p.msgs.n = 0;
	p.last_id = 12;
	s = http_poll_json(&p, &len);
	ck_assert_str_eq(s, "{\"messages\":[],\"last_id\":12}");
	free(s);

	p.reset = 1;
	p.last_id = 0;
	s = http_poll_json(&p, &len);
	ck_assert_str_eq(s, "{\"messages\":[],\"last_id\":0,\"reset\":true}");
	ck_assert_uint_eq(len, strlen(s));
	free(s);
	http_poll_free(NULL);
}
END_TEST

/* ---- the poll answer from a real store ---------------------------------- */

static char db_dir[64], db_path[96];

/* A fresh database from sql/schema.sql, made by the sqlite3 shell. */
static struct store *make_store(void)
{
	char cmd[160];
	struct store *st;

	snprintf(db_dir, sizeof db_dir, "/tmp/check_http.XXXXXX");
	ck_assert(mkdtemp(db_dir) != NULL);
	snprintf(db_path, sizeof db_path, "%s/rt.db", db_dir);
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' < sql/schema.sql >/dev/null", db_path);
	ck_assert_msg(system(cmd) == 0, "%s (run from the repo root)", cmd);
	st = store_open(db_path, NULL);
	ck_assert_ptr_nonnull(st);
	return st;
}

static void remove_store(struct store *st)
{
	char cmd[128];

	store_close(st);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", db_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void put(struct store *st, const char *channel, const char *text)
{
	struct store_msg m;

	ck_assert_int_eq(store_insert(st, channel, "u", text, "http", &m), 0);
	store_msg_clear(&m);
}

/* Reads the answer for query qs; returns its JSON (caller frees). */
static char *answer(struct store *st, const char *qs)
{
	struct http_cursor c;
	struct http_poll p;
	size_t len;
	char *s;

	ck_assert_ptr_null(http_cursor_parse(qs, &c));
	ck_assert_int_eq(http_poll_read(st, &c, &p), 0);
	s = http_poll_json(&p, &len);
	http_poll_free(&p);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Only the ids of an answer: "[1,3] last 3 reset 0". */
static void summary(struct store *st, const char *qs, char *out, size_t outlen)
{
	struct http_cursor c;
	struct http_poll p;
	size_t n = 0;

	ck_assert_ptr_null(http_cursor_parse(qs, &c));
	ck_assert_int_eq(http_poll_read(st, &c, &p), 0);
	n += (size_t)snprintf(out + n, outlen - n, "[");
	for (size_t i = 0; i < p.msgs.n; i++)
		n += (size_t)snprintf(out + n, outlen - n, "%s%lld", i ? "," : "",
		                      (long long)p.msgs.v[i].id);
	snprintf(out + n, outlen - n, "] last %lld reset %d",
	         (long long)p.last_id, p.reset);
	http_poll_free(&p);
}

/* After five messages (1, 3, 4 in lobby; 2, 5 in other): each query and
 * the ids, last_id and reset it must answer. */
struct read_case {
	const char *qs, *want;
};

static const struct read_case read_cases[] = {
	{ "since=0", "[1,3,4] last 4 reset 0" },
	{ "since=1", "[3,4] last 4 reset 0" },
	{ "since=0&limit=2", "[1,3] last 3 reset 0" },      /* a page: resume at 3 */
	{ "since=3&limit=2", "[4] last 4 reset 0" },
	/* Nothing new in lobby after 4, but the store is at 5: last_id 5 is
	 * safe (no lobby message in between) and skips 5 next time. */
	{ "since=4", "[] last 5 reset 0" },
	{ "since=5", "[] last 5 reset 0" },
	{ "since=6", "[] last 5 reset 1" },                 /* a recreated store */
	{ "", "[1,3,4] last 4 reset 0" },                   /* no since: the last */
	{ "limit=2", "[3,4] last 4 reset 0" },              /* limit, oldest first */
	{ "channel=other&limit=1", "[5] last 5 reset 0" },
	{ "channel=empty", "[] last 5 reset 0" },
};

START_TEST(test_poll_read)
{
	struct store *st = make_store();
	char got[256];
	char *s;

	summary(st, "", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 0");           /* empty store */
	summary(st, "since=0", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 0");
	summary(st, "since=1", got, sizeof got);
	ck_assert_str_eq(got, "[] last 0 reset 1");

	put(st, "lobby", "1");
	put(st, "other", "2");
	put(st, "lobby", "3");
	put(st, "lobby", "4");
	put(st, "other", "5");
	for (size_t i = 0; i < sizeof read_cases / sizeof read_cases[0]; i++) {
		summary(st, read_cases[i].qs, got, sizeof got);
		ck_assert_msg(strcmp(got, read_cases[i].want) == 0, "%s: %s, want %s",
		              read_cases[i].qs, got, read_cases[i].want);
	}

	s = answer(st, "channel=other&since=2");
	ck_assert_msg(strncmp(s, "{\"messages\":[{\"id\":5,\"channel\":\"other\","
	                         "\"user\":\"u\",\"text\":\"5\",\"ts\":", 63) == 0, "%s", s);
	ck_assert_ptr_nonnull(strstr(s, ",\"via\":\"http\"}],\"last_id\":5}"));
	free(s);
	remove_store(st);
}
END_TEST

/* ---- one request on in-memory FCGX streams ------------------------------ */

struct mem_stream {
	FCGX_Stream s;
	const char *src;            /* reader: the body, handed out in pieces */
	size_t src_len, src_pos, piece;
	unsigned char buf[16];      /* small, so every path refills/empties */
	char *out;                  /* writer: everything written */
	size_t out_len;
};

static void mem_fill(FCGX_Stream *s)
{
	struct mem_stream *m = s->data;
	size_t n = m->src_len - m->src_pos;

	if (n > m->piece)
		n = m->piece;
	memcpy(m->buf, m->src + m->src_pos, n);
	m->src_pos += n;
	s->rdNext = s->stopUnget = m->buf;
	s->stop = m->buf + n;
	if (n == 0)
		s->isClosed = 1;
}

static void mem_empty(FCGX_Stream *s, int do_close)
{
	struct mem_stream *m = s->data;
	size_t n = (size_t)(s->wrNext - m->buf);

	(void)do_close;
	m->out = realloc(m->out, m->out_len + n + 1);
	memcpy(m->out + m->out_len, m->buf, n);
	m->out_len += n;
	m->out[m->out_len] = '\0';
	s->wrNext = m->buf;
	s->stop = m->buf + sizeof m->buf;
}

static FCGX_Stream *mem_init(struct mem_stream *m, const char *src, size_t len)
{
	memset(m, 0, sizeof *m);
	m->src = src;
	m->src_len = len;
	m->piece = 7;
	m->s.isReader = src != NULL;
	m->s.fillBuffProc = mem_fill;
	m->s.emptyBuffProc = mem_empty;
	m->s.data = m;
	m->s.rdNext = m->s.wrNext = m->s.stopUnget = m->buf;
	m->s.stop = src != NULL ? m->buf : m->buf + sizeof m->buf;
	return &m->s;
}

/* Everything written to a writer, flushed. */
static const char *mem_text(struct mem_stream *m)
{
	FCGX_FFlush(&m->s);
	return m->out != NULL ? m->out : "";
}

struct body_case {
	const char *content_length;     /* NULL: absent */
	const char *body;
	size_t body_len, max;
	int status;
	size_t len;
};

static const struct body_case body_cases[] = {
	{ "5", S("hello"), 16, 0, 5 },
	{ "0", S(""), 16, 0, 0 },
	{ "16", S("0123456789abcdef"), 16, 0, 16 },        /* exactly max */
	{ "17", S("0123456789abcdefg"), 16, 413, 0 },
	{ "99999999999999999999", S("x"), 16, 400, 0 },    /* overflows: malformed */
	{ "5", S("hel"), 16, 400, 3 },                      /* shorter than said */
	{ "3", S("hello"), 16, 0, 3 },                      /* the rest is not ours */
	{ "-1", S(""), 16, 400, 0 },
	{ "1x", S("x"), 16, 400, 0 },
	{ "", S("abc"), 16, 0, 3 },                         /* empty = absent */
	{ NULL, S("chunked body"), 16, 0, 12 },             /* read to the end */
	{ NULL, S("0123456789abcdef"), 16, 0, 16 },
	{ NULL, S("0123456789abcdefg"), 16, 413, 0 },
};

START_TEST(test_read_body)
{
	const struct body_case *c = &body_cases[_i];
	struct mem_stream in, out, err;
	char env_cl[64];
	char *env[] = { env_cl, "REQUEST_METHOD=POST", NULL };
	struct http_req r;
	char buf[17];
	size_t len = 999;
	int status;

	snprintf(env_cl, sizeof env_cl, "CONTENT_LENGTH=%s",
	         c->content_length ? c->content_length : "");
	if (c->content_length == NULL)
		env[0] = "REQUEST_METHOD=POST", env[1] = NULL;
	http_req_init(&r, mem_init(&in, c->body, c->body_len),
	              mem_init(&out, NULL, 0), mem_init(&err, NULL, 0), env);
	status = http_read_body(&r, buf, c->max, &len);
	ck_assert_msg(status == c->status, "CL %s: status %d", c->content_length, status);
	if (status == 0 || status == 400) {
		ck_assert_uint_eq(len, c->len);
		ck_assert(memcmp(buf, c->body, len) == 0);
		ck_assert_int_eq(buf[len], '\0');
	}
	if (status == 413)                  /* the rest was drained */
		ck_assert_uint_eq(in.src_pos, in.src_len);
	free(out.out);
	free(err.out);
}
END_TEST

START_TEST(test_send_json_and_error)
{
	struct mem_stream in, out, err;
	char *get_env[] = { "REQUEST_METHOD=GET", "SCRIPT_NAME=/cgi-bin/poll.fcgi", NULL };
	char *head_env[] = { "REQUEST_METHOD=HEAD", NULL };
	struct http_req r;

	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), get_env);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.query, "");
	ck_assert_ptr_null(r.origin);
	http_send_json(&r, 200, "no-cache", "ETag: \"1-x\"\r\n", S("{\"a\":1}"));
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 200 OK\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 7\r\n"
	                 "Cache-Control: no-cache\r\n"
	                 "ETag: \"1-x\"\r\n"
	                 "\r\n"
	                 "{\"a\":1}");
	free(out.out);

	/* 304: headers only, no Content-Type or Content-Length. */
	mem_init(&out, NULL, 0);
	http_send_json(&r, 304, "no-cache", "ETag: \"1-x\"\r\n", NULL, 0);
	ck_assert_str_eq(mem_text(&out), "Status: 304 Not Modified\r\n"
	                 "Cache-Control: no-cache\r\nETag: \"1-x\"\r\n\r\n");
	free(out.out);

	/* An error: the SPEC shape, no-store, extra headers, one log line. */
	mem_init(&out, NULL, 0);
	http_send_error(&r, 405, "method_not_allowed", "poll takes GET",
	                "Allow: GET, HEAD\r\n");
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 405 Method Not Allowed\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 56\r\n"
	                 "Cache-Control: no-store\r\n"
	                 "Allow: GET, HEAD\r\n"
	                 "\r\n"
	                 "{\"error\":\"method_not_allowed\",\"detail\":\"poll takes GET\"}");
	ck_assert_str_eq(mem_text(&err), "rtlab poll.fcgi: GET 405 poll takes GET\n");
	free(out.out);
	free(err.out);

	/* HEAD: the GET headers, no body. */
	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), head_env);
	http_send_json(&r, 200, "no-cache", NULL, S("{\"a\":1}"));
	ck_assert_str_eq(mem_text(&out),
	                 "Status: 200 OK\r\n"
	                 "Content-Type: application/json; charset=utf-8\r\n"
	                 "Content-Length: 7\r\n"
	                 "Cache-Control: no-cache\r\n\r\n");
	free(out.out);
	free(err.out);
}
END_TEST

/* A request from a shell may lack REQUEST_METHOD and QUERY_STRING. */
START_TEST(test_req_defaults)
{
	struct mem_stream in, out, err;
	char *env[] = { "QUERY_STRING=since=1", "HTTP_ORIGIN=http://a",
	                "HTTP_HOST=a", "CONTENT_TYPE=application/json", NULL };
	char *empty[] = { NULL };
	struct http_req r;

	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), env);
	ck_assert_str_eq(r.method, "GET");
	ck_assert_str_eq(r.query, "since=1");
	ck_assert_str_eq(r.origin, "http://a");
	ck_assert_str_eq(r.host, "a");
	ck_assert_str_eq(r.content_type, "application/json");
	ck_assert_ptr_null(http_req_param(&r, "HTTP_IF_NONE_MATCH"));
	http_req_init(&r, mem_init(&in, "", 0), mem_init(&out, NULL, 0),
	              mem_init(&err, NULL, 0), empty);
	ck_assert_str_eq(r.query, "");
	ck_assert_ptr_null(r.content_type);
}
END_TEST

#define N(a) ((int)(sizeof a / sizeof a[0]))

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("pure");

	tcase_add_loop_test(tc, test_form_get, 0, N(form_cases));
	tcase_add_loop_test(tc, test_parse_int, 0, N(int_cases));
	tcase_add_test(tc, test_parse_int_null);
	tcase_add_loop_test(tc, test_origin, 0, N(origin_cases));
	tcase_add_loop_test(tc, test_content_type, 0, N(ct_cases));
	tcase_add_loop_test(tc, test_etag_match, 0, N(match_cases));
	tcase_add_test(tc, test_etag_make);
	tcase_add_loop_test(tc, test_cursor, 0, N(cursor_cases));
	tcase_add_test(tc, test_poll_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("store");
	tcase_add_test(tc, test_poll_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("request");
	tcase_add_loop_test(tc, test_read_body, 0, N(body_cases));
	tcase_add_test(tc, test_send_json_and_error);
	tcase_add_test(tc, test_req_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
