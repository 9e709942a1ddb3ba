/*
 * msg.c — the message rules of docs/protocol.md and the JSON body reader (msg.h).
 *
 * The checks run in the same order everywhere: length first (so no later
 * step ever walks an unbounded string), then the byte rules.  Lengths are
 * the protocol's (docs/protocol.md): a channel and a text are counted in bytes, a user name in
 * characters (Unicode code points), as the schema's CHECK constraints do.
 */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "utf8.h"

/* Longest JSON body the reader takes: well above send's 16 KiB and the
 * helper's 64 KiB frames, far below what SQLite's int lengths allow. */
#define JSON_BODY_MAX  (1024 * 1024)

const char *msg_check_channel(const char *s, size_t len)
{
	if (len == 0)
		return "channel is empty";
	if (len > MSG_CHANNEL_MAX)
		return "channel is longer than 64 characters";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-'))
			return "channel may only hold A-Z a-z 0-9 _ -";
	}
	return NULL;
}

/* Valid UTF-8 with no NUL byte (the store takes C strings). */
static int is_c_utf8(const char *s, size_t len)
{
	return memchr(s, '\0', len) == NULL && utf8_valid(s, len);
}

const char *msg_check_user(const char *s, size_t len)
{
	if (len == 0)
		return "user is empty";
	if (len > MSG_USER_BYTES_MAX)
		return "user is longer than 32 characters";
	if (!is_c_utf8(s, len))
		return "user is not valid UTF-8 (or holds a NUL character)";
	if (utf8_count(s, len) > MSG_USER_MAX)
		return "user is longer than 32 characters";
	return NULL;
}

const char *msg_check_text(const char *s, size_t len)
{
	if (len == 0)
		return "text is empty";
	if (len > MSG_TEXT_MAX)
		return "text is longer than 4096 bytes";
	if (!is_c_utf8(s, len))
		return "text is not valid UTF-8 (or holds a NUL character)";
	return NULL;
}

/*
 * An event name is what a browser passes to addEventListener(), written
 * after "event: " in the stream (WHATWG HTML §9.2.6): one line, so no CR or
 * LF; lower-case ASCII keeps it one obvious spelling in every language.
 */
const char *msg_check_event(const char *s, size_t len)
{
	if (len == 0)
		return "event is empty";
	if (len > MSG_EVENT_MAX)
		return "event is longer than 32 characters";
	if (!(s[0] >= 'a' && s[0] <= 'z'))
		return "event must start with a-z";
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return "event may only hold a-z 0-9 _ -";
	}
	return NULL;
}

/* The events for which only the newest message of a user counts. */
static const char *const latest_wins[] = { "position" };

int msg_event_latest_wins(const char *event)
{
	for (size_t i = 0; i < sizeof latest_wins / sizeof latest_wins[0]; i++)
		if (strcmp(event, latest_wins[i]) == 0)
			return 1;
	return 0;
}

const char *msg_fields_check(struct msg_fields *f)
{
	const char *err;

	if (f->channel.s == NULL) {
		f->channel.s = MSG_DEFAULT_CHANNEL;
		f->channel.len = strlen(MSG_DEFAULT_CHANNEL);
	}
	if (f->user.s == NULL) {
		f->user.s = MSG_DEFAULT_USER;
		f->user.len = strlen(MSG_DEFAULT_USER);
	}
	if (f->event.s == NULL) {
		f->event.s = MSG_DEFAULT_EVENT;
		f->event.len = strlen(MSG_DEFAULT_EVENT);
	}
	if (f->text.s == NULL)
		return "text is required";
	if ((err = msg_check_channel(f->channel.s, f->channel.len)) ||
	    (err = msg_check_user(f->user.s, f->user.len)) ||
	    (err = msg_check_text(f->text.s, f->text.len)) ||
	    (err = msg_check_event(f->event.s, f->event.len)))
		return err;
	return NULL;
}

/* ---- reading a JSON body ------------------------------------------------ */

/*
 * Two statements, because SQLite's json_type()/json_extract() raise an error
 * on malformed input: the first asks whether the body is RFC 8259 JSON and
 * what its top-level type is (CASE evaluates json_type only for valid
 * JSON); the second, run only on an object, reads the five members in one
 * row, so all their pointers stay valid together until the next reset.
 * https://www.sqlite.org/json1.html
 */
static const char sql_kind[] =
	"SELECT CASE WHEN json_valid(?1) THEN json_type(?1) END";
static const char sql_members[] =
	"SELECT json_type(?1, '$.type'),    json_extract(?1, '$.type'),"
	"       json_type(?1, '$.channel'), json_extract(?1, '$.channel'),"
	"       json_type(?1, '$.user'),    json_extract(?1, '$.user'),"
	"       json_type(?1, '$.text'),    json_extract(?1, '$.text'),"
	"       json_type(?1, '$.event'),   json_extract(?1, '$.event')";

struct msg_json {
	sqlite3 *db;
	sqlite3_stmt *kind, *members;
};

struct msg_json *msg_json_open(const char **errstr)
{
	struct msg_json *mj = calloc(1, sizeof *mj);

	if (mj == NULL)
		goto fail;
	if (sqlite3_open_v2(":memory:", &mj->db, SQLITE_OPEN_READWRITE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(mj->db, sql_kind, -1, SQLITE_PREPARE_PERSISTENT,
	                       &mj->kind, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v3(mj->db, sql_members, -1, SQLITE_PREPARE_PERSISTENT,
	                       &mj->members, NULL) != SQLITE_OK)
		goto fail;
	return mj;
fail:
	msg_json_close(mj);
	if (errstr != NULL)
		*errstr = "the JSON reader cannot be opened";
	return NULL;
}

void msg_json_close(struct msg_json *mj)
{
	if (mj == NULL)
		return;
	sqlite3_finalize(mj->kind);
	sqlite3_finalize(mj->members);
	sqlite3_close(mj->db);
	free(mj);
}

/*
 * SQLite (3.40) ends an extracted string at a "\u0000" escape, which would
 * silently shorten the text, so such a body is refused before extraction.
 * Only called on valid JSON, where every backslash starts an escape inside
 * a string: skipping the escaped character keeps "\\u0000" (a backslash,
 * then "u0000") from counting.
 */
static int has_nul_escape(const char *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (p[i] != '\\')
			continue;
		if (p[i + 1] == 'u' && len - i >= 6 && memcmp(p + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}

/*
 * SQLite 3.40's json_valid() takes an array or an object where a member name
 * must be ({"a":1,["b"]:2}, {{"k":"b"}:2}): it checks only that the last
 * value it parsed was a string, here the one inside (found by
 * tests/fuzz/fuzz_msg.c).  RFC 8259 §4: a name is a string.  So, on a body
 * json_valid() accepted, check that in every object the member after '{' or
 * ',' starts with '"'.  Strings are skipped whole; nothing else is parsed.
 */
#define JSON_DEPTH_MAX 2000   /* SQLite's own limit (json.c JSON_MAX_DEPTH) */

static int names_are_strings(const char *p, size_t len)
{
	unsigned char in_object[JSON_DEPTH_MAX + 1];
	int depth = 0, want_name = 0;

	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (want_name && c != '"' && c != '}')
			return 0;
		want_name = 0;
		switch (c) {
		case '"':
			for (i++; i < len && p[i] != '"'; i++)
				if (p[i] == '\\')
					i++;
			break;
		case '{': case '[':
			if (depth == JSON_DEPTH_MAX)
				return 0;
			in_object[++depth] = c == '{';
			want_name = c == '{';
			break;
		case '}': case ']':
			depth -= depth > 0;
			break;
		case ',':
			want_name = depth > 0 && in_object[depth];
			break;
		}
	}
	return 1;
}

/* Column pair (type, value) of the members row into one field. */
static const char *read_member(sqlite3_stmt *q, int col, struct msg_field *f,
                               const char *not_string)
{
	const char *type = (const char *)sqlite3_column_text(q, col);

	f->s = NULL;
	f->len = 0;
	if (type == NULL || strcmp(type, "null") == 0)
		return NULL;               /* absent, or null: the default applies */
	if (strcmp(type, "text") != 0)
		return not_string;
	f->s = (const char *)sqlite3_column_text(q, col + 1);
	if (f->s == NULL)
		return "out of memory";
	f->len = (size_t)sqlite3_column_bytes(q, col + 1);
	return NULL;
}

const char *msg_json_parse(struct msg_json *mj, const char *body, size_t len,
                           struct msg_fields *f)
{
	const char *err = NULL, *kind;

	memset(f, 0, sizeof *f);
	sqlite3_reset(mj->members);        /* ends the previous call's borrow */
	sqlite3_clear_bindings(mj->members);
	if (len > JSON_BODY_MAX)
		return "body is too large";
	/* RFC 8259 §8.1: JSON text is UTF-8.  A raw NUL would also end the text
	 * early for SQLite's JSON functions. */
	if (!is_c_utf8(body, len))
		return "body is not valid UTF-8 (or holds a NUL byte)";

	sqlite3_bind_text(mj->kind, 1, body, (int)len, SQLITE_STATIC);
	if (sqlite3_step(mj->kind) != SQLITE_ROW)
		err = "body cannot be read as JSON";
	else if ((kind = (const char *)sqlite3_column_text(mj->kind, 0)) == NULL ||
	         !names_are_strings(body, len))
		err = "body is not valid JSON";
	else if (strcmp(kind, "object") != 0)
		err = "body is not a JSON object";
	else if (has_nul_escape(body, len))
		err = "body holds a NUL character (U+0000)";
	sqlite3_reset(mj->kind);
	sqlite3_clear_bindings(mj->kind);
	if (err != NULL)
		return err;

	/* SQLITE_TRANSIENT (SQLite copies body): the members' pointers then
	 * stay valid until the next call even if the caller reuses body. */
	sqlite3_bind_text(mj->members, 1, body, (int)len, SQLITE_TRANSIENT);
	if (sqlite3_step(mj->members) != SQLITE_ROW)
		return "body cannot be read as JSON";
	if ((err = read_member(mj->members, 0, &f->type, "type is not a string")) != NULL) {
		memset(f, 0, sizeof *f);
		return err;
	}
	if ((err = read_member(mj->members, 2, &f->channel, "channel is not a string")) ||
	    (err = read_member(mj->members, 4, &f->user, "user is not a string")) ||
	    (err = read_member(mj->members, 6, &f->text, "text is not a string")) ||
	    (err = read_member(mj->members, 8, &f->event, "event is not a string"))) {
		struct msg_field type = f->type;
		memset(f, 0, sizeof *f);
		f->type = type;            /* a well-formed object with a bad field */
		f->bad_member = 1;
	}
	return err;
}
