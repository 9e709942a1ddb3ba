/*
 * check_msg.c — unit tests for lib/msg.c: the message rules of docs/protocol.md and
 * the JSON body reader built on SQLite's JSON1 functions.
 *
 * Table-driven: each rule case is a byte string and the expected verdict
 * (NULL = accepted, else a word the refusal must contain); each JSON case is
 * a body and either the expected refusal or the fields it must yield.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

#define S(lit) lit, sizeof lit - 1

typedef const char *(*check_fn)(const char *s, size_t len);

struct rule_case {
	const char *name;
	check_fn fn;
	const char *s;
	size_t len;
	const char *refusal;   /* NULL: accepted; else a substring of the detail */
};

/* 64 and 65 characters; 4096 and 4097 bytes are built in the test. */
#define C64 "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

static const struct rule_case rule_cases[] = {
	{ "channel lobby", msg_check_channel, S("lobby"), NULL },
	{ "channel all classes", msg_check_channel, S("A-z_09"), NULL },
	{ "channel 64", msg_check_channel, S(C64), NULL },
	{ "channel 65", msg_check_channel, S(C64 "x"), "longer" },
	{ "channel empty", msg_check_channel, S(""), "empty" },
	{ "channel space", msg_check_channel, S("a b"), "only" },
	{ "channel dot", msg_check_channel, S("a.b"), "only" },
	{ "channel slash", msg_check_channel, S("../x"), "only" },
	{ "channel utf8", msg_check_channel, S("caf\xC3\xA9"), "only" },
	{ "channel NUL", msg_check_channel, S("a\0b"), "only" },

	{ "user ascii", msg_check_user, S("alice"), NULL },
	{ "user one char", msg_check_user, S("a"), NULL },
	{ "user space", msg_check_user, S("a b"), NULL },
	{ "user empty", msg_check_user, S(""), "empty" },
	{ "user 32 ascii", msg_check_user, S("abcdefghijklmnopqrstuvwxyz012345"), NULL },
	{ "user 33 ascii", msg_check_user, S("abcdefghijklmnopqrstuvwxyz0123456"), "longer" },
	/* 32 four-byte characters = 128 bytes: still 32 characters. */
	{ "user 32 emoji", msg_check_user,
	  S("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"
	    "\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"), NULL },
	/* 33 two-byte characters = 66 bytes: too many characters. */
	{ "user 33 two-byte", msg_check_user,
	  S("\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
	    "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
	    "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
	    "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
	    "\xC3\xA9"), "longer" },
	{ "user bad utf8", msg_check_user, S("al\xFFice"), "UTF-8" },
	{ "user overlong", msg_check_user, S("\xC0\xAF"), "UTF-8" },
	{ "user surrogate", msg_check_user, S("\xED\xA0\x80"), "UTF-8" },
	{ "user truncated", msg_check_user, S("ab\xE2\x82"), "UTF-8" },
	{ "user NUL", msg_check_user, S("a\0b"), "NUL" },

	{ "text hi", msg_check_text, S("hi"), NULL },
	{ "text newline", msg_check_text, S("line 1\nline 2"), NULL },
	{ "text utf8", msg_check_text, S("caf\xC3\xA9 \xF0\x9F\x98\x80"), NULL },
	{ "text empty", msg_check_text, S(""), "empty" },
	{ "text bad utf8", msg_check_text, S("\x80"), "UTF-8" },
	{ "text above U+10FFFF", msg_check_text, S("\xF4\x90\x80\x80"), "UTF-8" },
	{ "text NUL", msg_check_text, S("x\0y"), "NUL" },

	/* event: [a-z][a-z0-9_-]{0,31} */
	{ "event message", msg_check_event, S("message"), NULL },
	{ "event one letter", msg_check_event, S("a"), NULL },
	{ "event all classes", msg_check_event, S("goal_2-b"), NULL },
	{ "event 32", msg_check_event, S("abcdefghijklmnopqrstuvwxyz012345"), NULL },
	{ "event 33", msg_check_event, S("abcdefghijklmnopqrstuvwxyz0123456"), "longer" },
	{ "event empty", msg_check_event, S(""), "empty" },
	{ "event digit first", msg_check_event, S("1goal"), "start" },
	{ "event dash first", msg_check_event, S("-goal"), "start" },
	{ "event upper", msg_check_event, S("Goal"), "start" },
	{ "event upper inside", msg_check_event, S("goAl"), "only" },
	{ "event space", msg_check_event, S("a b"), "only" },
	{ "event dot", msg_check_event, S("a.b"), "only" },
	/* A line break would end the SSE "event:" line and start a forged field. */
	{ "event LF", msg_check_event, S("a\ndata: x"), "only" },
	{ "event CR", msg_check_event, S("a\r"), "only" },
	{ "event colon", msg_check_event, S("a:b"), "only" },
	{ "event utf8", msg_check_event, S("caf\xC3\xA9"), "only" },
	{ "event NUL", msg_check_event, S("a\0b"), "only" },
};

START_TEST(test_rules)
{
	const struct rule_case *c = &rule_cases[_i];
	const char *got = c->fn(c->s, c->len);

	if (c->refusal == NULL)
		ck_assert_msg(got == NULL, "%s: refused: %s", c->name, got);
	else
		ck_assert_msg(got != NULL && strstr(got, c->refusal) != NULL,
		              "%s: got %s, want ...%s...", c->name,
		              got ? got : "(accepted)", c->refusal);
}
END_TEST

/* Byte lengths of text: 4096 is the limit, counted in bytes. */
START_TEST(test_text_length_limit)
{
	static char buf[4098];

	memset(buf, 'a', sizeof buf);
	ck_assert_ptr_null(msg_check_text(buf, 4096));
	ck_assert_ptr_nonnull(msg_check_text(buf, 4097));
	/* 1365 three-byte characters = 4095 bytes + "a" = 4096: accepted;
	 * one more byte is over, though only 1367 characters. */
	for (int i = 0; i < 1365; i++)
		memcpy(buf + 3 * i, "\xE2\x82\xAC", 3);
	buf[4095] = 'a';
	ck_assert_ptr_null(msg_check_text(buf, 4096));
	buf[4096] = 'a';
	ck_assert_ptr_nonnull(msg_check_text(buf, 4097));
}
END_TEST

/* ---- the JSON reader ---------------------------------------------------- */

struct json_case {
	const char *name;
	const char *body;
	size_t len;
	const char *refusal;       /* NULL: parsed; else a substring of the detail */
	const char *type, *channel, *user, *text;   /* NULL: absent */
	size_t text_len;
};

#define NO_FIELDS NULL, NULL, NULL, NULL, 0

static const struct json_case json_cases[] = {
	{ "all members", S("{\"channel\":\"c\",\"user\":\"u\",\"text\":\"t\"}"),
	  NULL, NULL, "c", "u", "t", 1 },
	{ "text only", S("{\"text\":\"hi\"}"), NULL, NULL, NULL, NULL, "hi", 2 },
	{ "ws frame", S("{\"type\":\"send\",\"user\":\"bob\",\"text\":\"x\"}"),
	  NULL, "send", NULL, "bob", "x", 1 },
	{ "whitespace", S(" \n{ \"text\" : \"a\" }\t"), NULL, NULL, NULL, NULL, "a", 1 },
	{ "escapes decoded", S("{\"text\":\"a\\\"b\\\\c\\n\\u00e9\"}"),
	  NULL, NULL, NULL, NULL, "a\"b\\c\n\xC3\xA9", 8 },
	{ "surrogate pair", S("{\"text\":\"\\ud83d\\ude00\"}"),
	  NULL, NULL, NULL, NULL, "\xF0\x9F\x98\x80", 4 },
	{ "raw utf8", S("{\"text\":\"caf\xC3\xA9\"}"), NULL, NULL, NULL, NULL,
	  "caf\xC3\xA9", 5 },
	{ "null is absent", S("{\"user\":null,\"text\":\"t\"}"),
	  NULL, NULL, NULL, NULL, "t", 1 },
	{ "unknown ignored", S("{\"x\":[1,{\"y\":2}],\"text\":\"t\"}"),
	  NULL, NULL, NULL, NULL, "t", 1 },
	{ "first duplicate counts", S("{\"text\":\"one\",\"text\":\"two\"}"),
	  NULL, NULL, NULL, NULL, "one", 3 },
	{ "empty object", S("{}"), NULL, NULL, NULL, NULL, NULL, 0 },
	{ "empty text kept", S("{\"text\":\"\"}"), NULL, NULL, NULL, NULL, "", 0 },
	/* "\\u0000" is a backslash then "u0000": six ordinary characters. */
	{ "escaped backslash u0000", S("{\"text\":\"\\\\u0000\"}"),
	  NULL, NULL, NULL, NULL, "\\u0000", 6 },

	{ "empty body", S(""), "not valid JSON", NO_FIELDS },
	{ "trailing comma", S("{\"text\":\"a\",}"), "not valid JSON", NO_FIELDS },
	{ "single quotes", S("{'text':'a'}"), "not valid JSON", NO_FIELDS },
	{ "unquoted key (JSON5)", S("{text:\"a\"}"), "not valid JSON", NO_FIELDS },
	{ "truncated", S("{\"text\":\"a"), "not valid JSON", NO_FIELDS },
	{ "two values", S("{} {}"), "not valid JSON", NO_FIELDS },
	/* SQLite 3.40's json_valid() accepts these (found by
	 * tests/fuzz/fuzz_msg.c): a member name must be a string. */
	{ "array as a name", S("{\"channel\":\"l\",[\"text\"]:\"el\"}"),
	  "not valid JSON", NO_FIELDS },
	{ "object as a name", S("{{\"k\":\"text\"}:\"x\",\"text\":\"y\"}"),
	  "not valid JSON", NO_FIELDS },
	{ "array name, nested", S("[{\"a\":{[\"b\"]:2}}]"), "not valid JSON", NO_FIELDS },
	{ "name that looks like an array", S("{\"[\\\"b\\\"]\":2,\"text\":\"t\"}"),
	  NULL, NULL, NULL, NULL, "t", 1 },
	{ "names after strings with , { [", S("{\"x\":\",{[\\\"\",\"y\":[{}],\"text\":\"t\"}"),
	  NULL, NULL, NULL, NULL, "t", 1 },
	{ "array", S("[{\"text\":\"a\"}]"), "not a JSON object", NO_FIELDS },
	{ "string", S("\"text\""), "not a JSON object", NO_FIELDS },
	{ "number", S("42"), "not a JSON object", NO_FIELDS },
	{ "text number", S("{\"text\":42}"), "text is not a string", NO_FIELDS },
	{ "user object", S("{\"user\":{},\"text\":\"t\"}"), "user is not a string", NO_FIELDS },
	{ "channel array", S("{\"channel\":[\"a\"],\"text\":\"t\"}"),
	  "channel is not a string", NO_FIELDS },
	{ "type bool", S("{\"type\":true}"), "type is not a string", NO_FIELDS },
	{ "NUL escape", S("{\"text\":\"a\\u0000b\"}"), "NUL", NO_FIELDS },
	{ "NUL escape in a key", S("{\"t\\u0000\":1,\"text\":\"a\"}"), "NUL", NO_FIELDS },
	{ "raw NUL byte", S("{\"text\":\"a\"}\0{}"), "NUL", NO_FIELDS },
	{ "bad utf8 raw", S("{\"text\":\"\xFF\"}"), "UTF-8", NO_FIELDS },
	{ "overlong raw", S("{\"text\":\"\xC0\xAF\"}"), "UTF-8", NO_FIELDS },
};

/* The defaults, then the rules: what send.fcgi and the helper share. */
START_TEST(test_fields_check)
{
	struct msg_fields f;

	memset(&f, 0, sizeof f);
	ck_assert_str_eq(msg_fields_check(&f), "text is required");
	f.text.s = "hi";
	f.text.len = 2;
	ck_assert_ptr_null(msg_fields_check(&f));
	ck_assert_str_eq(f.channel.s, MSG_DEFAULT_CHANNEL);
	ck_assert_uint_eq(f.channel.len, strlen(MSG_DEFAULT_CHANNEL));
	ck_assert_str_eq(f.user.s, MSG_DEFAULT_USER);
	ck_assert_uint_eq(f.user.len, strlen(MSG_DEFAULT_USER));

	f.channel.s = "no spaces";
	f.channel.len = 9;
	ck_assert_ptr_nonnull(strstr(msg_fields_check(&f), "channel"));
	f.channel.s = "room";
	f.channel.len = 4;
	f.user.s = "";
	f.user.len = 0;
	ck_assert_str_eq(msg_fields_check(&f), "user is empty");
	f.user.s = "bob";
	f.user.len = 3;
	f.text.len = 0;
	ck_assert_str_eq(msg_fields_check(&f), "text is empty");
	f.text.len = 2;

	/* event: absent becomes "message"; a bad name is refused. */
	ck_assert_str_eq(f.event.s, MSG_DEFAULT_EVENT);
	ck_assert_uint_eq(f.event.len, strlen(MSG_DEFAULT_EVENT));
	f.event.s = "goal";
	f.event.len = 4;
	ck_assert_ptr_null(msg_fields_check(&f));
	ck_assert_str_eq(f.event.s, "goal");
	f.event.s = "Goal";
	ck_assert_ptr_nonnull(strstr(msg_fields_check(&f), "event"));
}
END_TEST

/* The event member of a JSON body: read like the others, checked later. */
START_TEST(test_json_event)
{
	struct msg_json *mj = msg_json_open(NULL);
	struct msg_fields f;

	ck_assert_ptr_nonnull(mj);
	ck_assert_ptr_null(msg_json_parse(mj, S("{\"text\":\"t\",\"event\":\"score\"}"), &f));
	ck_assert_str_eq(f.event.s, "score");
	ck_assert_uint_eq(f.event.len, 5);
	ck_assert_ptr_null(msg_json_parse(mj, S("{\"text\":\"t\"}"), &f));
	ck_assert_ptr_null(f.event.s);
	ck_assert_ptr_null(msg_json_parse(mj, S("{\"text\":\"t\",\"event\":null}"), &f));
	ck_assert_ptr_null(f.event.s);
	ck_assert_str_eq(msg_json_parse(mj, S("{\"text\":\"t\",\"event\":7}"), &f),
	                 "event is not a string");
	/* Read as given; the rules refuse it afterwards. */
	ck_assert_ptr_null(msg_json_parse(mj, S("{\"text\":\"t\",\"event\":\"a\\nb\"}"), &f));
	ck_assert_ptr_nonnull(msg_fields_check(&f));
	msg_json_close(mj);
}
END_TEST

/* Latest wins for positions only: every other event is delivered. */
START_TEST(test_latest_wins)
{
	ck_assert_int_eq(msg_event_latest_wins("position"), 1);
	ck_assert_int_eq(msg_event_latest_wins("message"), 0);
	ck_assert_int_eq(msg_event_latest_wins("tick"), 0);
	ck_assert_int_eq(msg_event_latest_wins("positions"), 0);
	ck_assert_int_eq(msg_event_latest_wins(""), 0);
}
END_TEST

START_TEST(test_json)
{
	const struct json_case *c = &json_cases[_i];
	const char *err;
	struct msg_json *mj = msg_json_open(&err);
	struct msg_fields f;
	const char *got;

	ck_assert_ptr_nonnull(mj);
	got = msg_json_parse(mj, c->body, c->len, &f);
	if (c->refusal != NULL) {
		ck_assert_msg(got != NULL && strstr(got, c->refusal) != NULL,
		              "%s: got %s, want ...%s...", c->name,
		              got ? got : "(parsed)", c->refusal);
		ck_assert_ptr_null(f.text.s);
	} else {
		ck_assert_msg(got == NULL, "%s: refused: %s", c->name, got);
#define FIELD(m) \
		if (c->m == NULL) \
			ck_assert_msg(f.m.s == NULL, "%s: " #m " present", c->name); \
		else \
			ck_assert_msg(f.m.s != NULL && f.m.len == strlen(c->m) && \
			              memcmp(f.m.s, c->m, f.m.len) == 0, \
			              "%s: " #m " is %s", c->name, f.m.s);
		FIELD(type) FIELD(channel) FIELD(user)
#undef FIELD
		if (c->text == NULL)
			ck_assert_ptr_null(f.text.s);
		else
			ck_assert_msg(f.text.s != NULL && f.text.len == c->text_len &&
			              memcmp(f.text.s, c->text, c->text_len) == 0,
			              "%s: text is %s", c->name, f.text.s);
	}
	msg_json_close(mj);
}
END_TEST

/* A well-formed object whose only fault is a field of the wrong type says
 * so (bad_member) and keeps its type: the helper answers it with an error
 * frame, like an empty field.  Not JSON, or a type that is not a string:
 * no bad_member (the helper closes with 1008). */
START_TEST(test_json_bad_member)
{
	static const struct { const char *body; int bad_member; const char *type; } t[] = {
		{ "{\"type\":\"send\",\"text\":5}", 1, "send" },
		{ "{\"type\":\"send\",\"user\":[],\"text\":\"t\"}", 1, "send" },
		{ "{\"type\":\"send\",\"channel\":{},\"text\":\"t\"}", 1, "send" },
		{ "{\"text\":5}", 1, NULL },
		{ "{\"type\":5,\"text\":\"t\"}", 0, NULL },
		{ "{\"type\":\"send\",\"text\":", 0, NULL },
		{ "[\"send\"]", 0, NULL },
	};
	struct msg_json *mj = msg_json_open(NULL);
	struct msg_fields f;

	ck_assert_ptr_nonnull(mj);
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		ck_assert_ptr_nonnull(msg_json_parse(mj, t[i].body, strlen(t[i].body), &f));
		ck_assert_int_eq(f.bad_member, t[i].bad_member);
		if (t[i].type)
			ck_assert_str_eq(f.type.s, t[i].type);
		else
			ck_assert_ptr_null(f.type.s);
		ck_assert_ptr_null(f.text.s);
	}
	msg_json_close(mj);
}
END_TEST

/* One reader serves many bodies; a refusal in between leaves it usable,
 * and the fields of a call survive reuse of the caller's buffer. */
START_TEST(test_json_reader_reuse)
{
	struct msg_json *mj = msg_json_open(NULL);
	struct msg_fields f;
	char body[64];

	ck_assert_ptr_nonnull(mj);
	for (int i = 0; i < 50; i++) {
		int n = snprintf(body, sizeof body, "{\"text\":\"m%d\"}", i);
		char want[16];
		snprintf(want, sizeof want, "m%d", i);
		ck_assert_ptr_null(msg_json_parse(mj, body, (size_t)n, &f));
		memset(body, 'x', sizeof body);          /* the caller reuses it */
		ck_assert_str_eq(f.text.s, want);
		ck_assert_ptr_nonnull(msg_json_parse(mj, "{bad", 4, &f));
	}
	msg_json_close(mj);
	msg_json_close(NULL);
}
END_TEST

static Suite *msg_suite(void)
{
	Suite *s = suite_create("msg");
	TCase *tc = tcase_create("rules");

	tcase_add_loop_test(tc, test_rules, 0,
	                    (int)(sizeof rule_cases / sizeof rule_cases[0]));
	tcase_add_test(tc, test_text_length_limit);
	tcase_add_test(tc, test_fields_check);
	tcase_add_test(tc, test_latest_wins);
	suite_add_tcase(s, tc);
	tc = tcase_create("json");
	tcase_add_loop_test(tc, test_json, 0,
	                    (int)(sizeof json_cases / sizeof json_cases[0]));
	tcase_add_test(tc, test_json_reader_reuse);
	tcase_add_test(tc, test_json_bad_member);
	tcase_add_test(tc, test_json_event);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(msg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
