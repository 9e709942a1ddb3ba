/*
 * fuzz_msg.c — libFuzzer target for lib/msg.c (docs/fuzzing.md).
 *
 * The input is a message body.  msg_json_parse() reads it with SQLite's
 * JSON1 on one in-memory connection, opened once per process as the
 * endpoints and the helper do.  A second reader written here from RFC 8259
 * (a strict recursive-descent parser that decodes the top-level string
 * members, \u escapes and surrogate pairs included) says what the verdict
 * should be.  Checked:
 *  - the same verdict, in msg.h's order: too large, not UTF-8 or a NUL byte,
 *    not JSON, not an object, a "\u0000" anywhere, then the first of type /
 *    channel / user / text / event present with a type other than string or
 *    null;
 *  - on success the same members, byte for byte (the first of duplicates),
 *    each NUL-terminated at its length;
 *  - parsing the same body twice gives the same answer (the statements
 *    are reset and rebound);
 *  - msg_fields_check() accepts exactly what the rules of msg.h accept,
 *    counted here the long way; and the accepted fields, written back as
 *    JSON with every character escaped that may be, parse to themselves.
 * Where the reference and SQLite may rightly differ (nesting deeper than
 * SQLite's limit) the comparison is skipped, not forced.
 */
#include "fuzz.h"
#include "msg.h"
#include "utf8.h"

#define DEPTH_MAX 1000   /* SQLite 3.40 allows 2000 levels; stop well before */

/* ---- the reference reader (RFC 8259) ------------------------------------- */

struct ref {
	const char *p, *end;
	int depth, too_deep, nul_escape;
	/* the top-level members we look for: first occurrence of each */
	struct { const char *name; int seen, is_string, is_null;
	         char *s; size_t len; } m[5];
};

static void ws(struct ref *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' ||
	                         *r->p == '\r'))
		r->p++;
}

static int hex4(const char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		int c = p[i], d = c >= '0' && c <= '9' ? c - '0' :
		                  c >= 'a' && c <= 'f' ? c - 'a' + 10 :
		                  c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		*v = *v * 16 + (unsigned)d;
	}
	return 0;
}

static size_t put_utf8(char *o, unsigned v)
{
	if (v < 0x80) { o[0] = (char)v; return 1; }
	if (v < 0x800) { o[0] = (char)(0xC0 | v >> 6); o[1] = (char)(0x80 | (v & 0x3F)); return 2; }
	if (v < 0x10000) {
		o[0] = (char)(0xE0 | v >> 12); o[1] = (char)(0x80 | (v >> 6 & 0x3F));
		o[2] = (char)(0x80 | (v & 0x3F)); return 3;
	}
	o[0] = (char)(0xF0 | v >> 18); o[1] = (char)(0x80 | (v >> 12 & 0x3F));
	o[2] = (char)(0x80 | (v >> 6 & 0x3F)); o[3] = (char)(0x80 | (v & 0x3F));
	return 4;
}

/* A string at r->p; decoded into *out (malloc'd) when out is not NULL. The
 * raw text between the quotes is returned in raw/raw_len. */
static int string(struct ref *r, char **out, size_t *out_len,
                  const char **raw, size_t *raw_len)
{
	char *o = NULL;
	size_t n = 0;

	if (r->p >= r->end || *r->p != '"')
		return -1;
	r->p++;
	*raw = r->p;
	if (out && !(o = malloc((size_t)(r->end - r->p) * 2 + 1)))
		abort();
	while (r->p < r->end && *r->p != '"') {
		unsigned char c = (unsigned char)*r->p++;
		unsigned v, lo;
		if (c < 0x20)
			goto fail;
		if (c != '\\') {
			if (o) o[n++] = (char)c;
			continue;
		}
		if (r->p >= r->end)
			goto fail;
		c = (unsigned char)*r->p++;
		switch (c) {
		case '"': case '\\': case '/': v = c; break;
		case 'b': v = '\b'; break;
		case 'f': v = '\f'; break;
		case 'n': v = '\n'; break;
		case 'r': v = '\r'; break;
		case 't': v = '\t'; break;
		case 'u':
			if (r->end - r->p < 4 || hex4(r->p, &v) < 0)
				goto fail;
			r->p += 4;
			if (v == 0)
				r->nul_escape = 1;
			/* A high surrogate followed by a low one is one character;
			 * a lone one is written as its three bytes (as SQLite does;
			 * the UTF-8 rules then refuse it). */
			if ((v & 0xFC00) == 0xD800 && r->end - r->p >= 6 && r->p[0] == '\\' &&
			    r->p[1] == 'u' && hex4(r->p + 2, &lo) == 0 && (lo & 0xFC00) == 0xDC00) {
				v = 0x10000 + ((v & 0x3FF) << 10) + (lo & 0x3FF);
				r->p += 6;
			}
			break;
		default:
			goto fail;
		}
		if (o) n += put_utf8(o + n, v);
	}
	if (r->p >= r->end)
		goto fail;
	*raw_len = (size_t)(r->p - *raw);
	r->p++;
	if (o) { o[n] = '\0'; *out = o; *out_len = n; }
	return 0;
fail:
	free(o);
	return -1;
}

static int digits(struct ref *r)
{
	const char *s = r->p;
	while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
		r->p++;
	return r->p > s ? 0 : -1;
}

static int literal(struct ref *r, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
		return -1;
	r->p += n;
	return 0;
}

/* The JSON type names SQLite's json_type() gives. */
enum { T_NULL, T_STRING, T_OTHER };

static int value(struct ref *r, int top, int *type);

static int object(struct ref *r, int top)
{
	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == '}') { r->p++; return 0; }
	for (;;) {
		const char *raw;
		size_t raw_len;
		int type, idx = -1;
		ws(r);
		if (string(r, NULL, NULL, &raw, &raw_len) < 0)
			return -1;
		/* A member is matched by its name as written, as SQLite's
		 * '$.name' path does (3.40): "t\u0065xt" is another member. */
		for (int i = 0; top && i < 5; i++)
			if (!r->m[i].seen && raw_len == strlen(r->m[i].name) &&
			    memcmp(raw, r->m[i].name, raw_len) == 0)
				idx = i;
		ws(r);
		if (r->p >= r->end || *r->p++ != ':')
			return -1;
		ws(r);
		if (idx >= 0 && r->p < r->end && *r->p == '"') {
			r->m[idx].seen = r->m[idx].is_string = 1;
			if (string(r, &r->m[idx].s, &r->m[idx].len, &raw, &raw_len) < 0)
				return -1;
		} else {
			if (value(r, 0, &type) < 0)
				return -1;
			if (idx >= 0) {
				r->m[idx].seen = 1;
				r->m[idx].is_null = type == T_NULL;
			}
		}
		ws(r);
		if (r->p < r->end && *r->p == ',') { r->p++; continue; }
		if (r->p < r->end && *r->p == '}') { r->p++; return 0; }
		return -1;
	}
}

static int value(struct ref *r, int top, int *type)
{
	const char *raw;
	size_t raw_len;
	int t, rc;

	*type = T_OTHER;
	if (r->p >= r->end)
		return -1;
	if (++r->depth > DEPTH_MAX) {
		r->too_deep = 1;
		return -1;
	}
	switch (*r->p) {
	case '{':
		rc = object(r, top);
		break;
	case '[':
		r->p++;
		ws(r);
		rc = 0;
		if (r->p < r->end && *r->p == ']') { r->p++; break; }
		for (;;) {
			ws(r);
			if ((rc = value(r, 0, &t)) < 0)
				break;
			ws(r);
			if (r->p < r->end && *r->p == ',') { r->p++; continue; }
			rc = r->p < r->end && *r->p++ == ']' ? 0 : -1;
			break;
		}
		break;
	case '"':
		*type = T_STRING;
		rc = string(r, NULL, NULL, &raw, &raw_len);
		break;
	case 't': rc = literal(r, "true"); break;
	case 'f': rc = literal(r, "false"); break;
	case 'n': *type = T_NULL; rc = literal(r, "null"); break;
	default:
		/* number = [ "-" ] ( "0" / 1-9 *DIGIT ) [ "." 1*DIGIT ] [ e [+-] 1*DIGIT ] */
		if (*r->p == '-')
			r->p++;
		if (r->p < r->end && *r->p == '0')
			r->p++;
		else if (r->p >= r->end || *r->p < '1' || *r->p > '9' || digits(r) < 0)
			return -1;
		rc = 0;
		if (r->p < r->end && *r->p == '.') {
			r->p++;
			rc = digits(r);
		}
		if (rc == 0 && r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
			r->p++;
			if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
				r->p++;
			rc = digits(r);
		}
	}
	r->depth--;
	return rc;
}

/* The verdict msg_json_parse() should give; fills r->m. */
static const char *ref_parse(struct ref *r, const char *body, size_t len)
{
	static const char *const not_string[5] = {
		"type is not a string", "channel is not a string",
		"user is not a string", "text is not a string",
		"event is not a string",
	};
	int type;

	if (len > 1024 * 1024)
		return "body is too large";
	if (memchr(body, '\0', len) || !utf8_valid(body, len))
		return "body is not valid UTF-8 (or holds a NUL byte)";
	r->p = body;
	r->end = body + len;
	ws(r);
	int brace = r->p < r->end && *r->p == '{';
	if (value(r, brace, &type) < 0)
		return "body is not valid JSON";
	ws(r);
	if (r->p != r->end)
		return "body is not valid JSON";
	if (!brace)
		return "body is not a JSON object";
	if (r->nul_escape)
		return "body holds a NUL character (U+0000)";
	for (int i = 0; i < 5; i++)
		if (r->m[i].seen && !r->m[i].is_string && !r->m[i].is_null)
			return not_string[i];
	return NULL;
}

/* ---- the message rules, counted the long way ---------------------------- */

static const char *ref_fields_check(const struct msg_fields *f)
{
	const char *ch = f->channel.s ? f->channel.s : "lobby";
	size_t ch_len = f->channel.s ? f->channel.len : 5;
	const char *user = f->user.s ? f->user.s : "anon";
	size_t user_len = f->user.s ? f->user.len : 4;

	if (f->text.s == NULL)
		return "text is required";
	if (ch_len == 0 || ch_len > 64)
		return "channel";
	for (size_t i = 0; i < ch_len; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		            "0123456789_-", ch[i]) || ch[i] == '\0')
			return "channel";
	size_t chars = 0;
	for (size_t i = 0; i < user_len; i++)
		chars += ((unsigned char)user[i] & 0xC0) != 0x80;
	if (user_len == 0 || chars > 32 || memchr(user, '\0', user_len) ||
	    !utf8_valid(user, user_len))
		return "user";
	if (f->text.len == 0 || f->text.len > 4096 ||
	    memchr(f->text.s, '\0', f->text.len) || !utf8_valid(f->text.s, f->text.len))
		return "text";
	const char *ev = f->event.s ? f->event.s : "message";
	size_t ev_len = f->event.s ? f->event.len : 7;
	if (ev_len == 0 || ev_len > 32 || ev[0] < 'a' || ev[0] > 'z')
		return "event";
	for (size_t i = 1; i < ev_len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_-", ev[i]) || ev[i] == '\0')
			return "event";
	return NULL;
}

/* A JSON string with every non-ASCII or special character as \u escapes. */
static size_t json_escape(char *o, const char *s, size_t len)
{
	size_t n = 0;

	o[n++] = '"';
	for (size_t i = 0; i < len; ) {
		unsigned char c = (unsigned char)s[i];
		unsigned cp = c, more = 0;
		if (c >= 0xF0) { cp = c & 0x07; more = 3; }
		else if (c >= 0xE0) { cp = c & 0x0F; more = 2; }
		else if (c >= 0xC0) { cp = c & 0x1F; more = 1; }
		for (i++; more > 0; more--)
			cp = cp << 6 | ((unsigned char)s[i++] & 0x3F);
		if (cp >= 0x10000) {
			cp -= 0x10000;
			n += (size_t)sprintf(o + n, "\\u%04X\\u%04x", 0xD800 + (cp >> 10),
			                     0xDC00 + (cp & 0x3FF));
		} else if (cp < 0x20 || cp >= 0x7F || cp == '"' || cp == '\\' || (cp & 1)) {
			n += (size_t)sprintf(o + n, "\\u%04x", cp);
		} else {
			o[n++] = (char)cp;
		}
	}
	o[n++] = '"';
	return n;
}

/* ---- the target ------------------------------------------------------------ */

static struct msg_json *mj;

static void same_field(const struct msg_field *a, const char *s, size_t len)
{
	CHECK((a->s == NULL) == (s == NULL));
	if (s == NULL)
		return;
	CHECK(a->len == len && memcmp(a->s, s, len) == 0);
	CHECK(a->s[len] == '\0');
}

static void check_round_trip(const struct msg_fields *f)
{
	const struct msg_field *fs[5] = { &f->type, &f->channel, &f->user, &f->text,
	                                  &f->event };
	static const char *const names[5] = { "type", "channel", "user", "text",
	                                       "event" };
	size_t cap = 64, n = 0;
	char *body;
	struct msg_fields g;

	for (int i = 0; i < 5; i++)
		cap += fs[i]->s ? fs[i]->len * 12 + 16 : 0;
	body = malloc(cap);
	CHECK(body != NULL);
	body[n++] = '{';
	for (int i = 0; i < 5; i++) {
		if (fs[i]->s == NULL)
			continue;
		if (n > 1)
			body[n++] = ',';
		n += (size_t)sprintf(body + n, "\"%s\":", names[i]);
		n += json_escape(body + n, fs[i]->s, fs[i]->len);
	}
	body[n++] = '}';
	/* f borrows the reader's row: keep copies across the next parse. */
	char *copy[5];
	size_t lens[5];
	for (int i = 0; i < 5; i++) {
		copy[i] = fs[i]->s ? fuzz_copy(fs[i]->s, fs[i]->len, 1) : NULL;
		lens[i] = fs[i]->len;
	}
	CHECK(msg_json_parse(mj, body, n, &g) == NULL);
	const struct msg_field *gs[5] = { &g.type, &g.channel, &g.user, &g.text,
	                                  &g.event };
	for (int i = 0; i < 5; i++) {
		same_field(gs[i], copy[i], lens[i]);
		free(copy[i]);
	}
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref r = { .m = { { .name = "type" }, { .name = "channel" },
	                        { .name = "user" }, { .name = "text" },
	                        { .name = "event" } } };
	struct msg_fields f, f2;
	const char *err, *want, *err2;
	char *body = fuzz_copy(data, size, 0);

	if (mj == NULL) {
		const char *why = NULL;
		mj = msg_json_open(&why);
		CHECK(mj != NULL);
	}
	err = msg_json_parse(mj, body, size, &f);
	want = ref_parse(&r, body, size);
	if (r.too_deep)
		goto out;               /* past SQLite's depth limit, not RFC 8259's */
	if ((err == NULL) != (want == NULL) || (err && strcmp(err, want) != 0))
		fprintf(stderr, "msg_json_parse: \"%s\", reference: \"%s\"\n",
		        err ? err : "(accepted)", want ? want : "(accepted)");
	CHECK((err == NULL) == (want == NULL));
	CHECK(err == NULL || strcmp(err, want) == 0);

	err2 = msg_json_parse(mj, body, size, &f2);
	CHECK(err2 == err);
	if (err != NULL) {
		/* A refused body fills nothing, except that a well-formed object
		 * whose only fault is a member of the wrong type ("text":5) keeps
		 * its "type", so the helper answers with an error frame (msg.h). */
		CHECK(f2.channel.s == NULL && f2.user.s == NULL && f2.text.s == NULL &&
		      f2.event.s == NULL);
		if (f2.bad_member)
			same_field(&f2.type, r.m[0].is_string ? r.m[0].s : NULL, r.m[0].len);
		else
			CHECK(f2.type.s == NULL);
		goto out;
	}
	const struct msg_field *got[5] = { &f2.type, &f2.channel, &f2.user, &f2.text,
	                                   &f2.event };
	for (int i = 0; i < 5; i++)
		same_field(got[i], r.m[i].is_string ? r.m[i].s : NULL, r.m[i].len);

	want = ref_fields_check(&f2);
	err = msg_fields_check(&f2);
	CHECK((err == NULL) == (want == NULL));
	if (err == NULL)
		check_round_trip(&f2);
out:
	for (int i = 0; i < 5; i++)
		free(r.m[i].s);
	free(body);
	return 0;
}
