/*
 * check_utf8.c — unit tests for lib/utf8.c, the UTF-8 validator.
 *
 * The table follows Markus Kuhn's "UTF-8 decoder capability and stress test"
 * (https://www.cl.cam.ac.uk/~mgk25/ucs/examples/UTF-8-test.txt), section by
 * section, plus RFC 3629's boundaries.  Each case gives the bytes, the index
 * of the byte at which a byte-at-a-time feed must first answer UTF8_REJECT
 * (-1: never — the bytes are valid or merely truncated), and whether the
 * bytes are complete, valid UTF-8.  The fail-fast position is what a
 * WebSocket endpoint needs: RFC 6455 §8.1 wants the connection failed as soon
 * as the text cannot become valid, not at the end of the message (Autobahn
 * cases 6.x check exactly this).
 */
#include <check.h>
#include <string.h>

#include "utf8.h"

#define S(lit) lit, sizeof lit - 1

struct utf8_case {
	const char *name;
	const char *bytes;
	size_t len;
	int reject_at;   /* first rejecting byte index, -1 if none */
	int valid;       /* complete and valid */
};

static const struct utf8_case cases[] = {
	/* 1  Some correct UTF-8 text */
	{ "1 kosme", S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), -1, 1 },
	{ "empty", S(""), -1, 1 },
	{ "ascii", S("hello, world"), -1, 1 },

	/* 2.1  First possible sequence of a certain length */
	{ "2.1.1 U+0000", S("\x00"), -1, 1 },
	{ "2.1.2 U+0080", S("\xC2\x80"), -1, 1 },
	{ "2.1.3 U+0800", S("\xE0\xA0\x80"), -1, 1 },
	{ "2.1.4 U+10000", S("\xF0\x90\x80\x80"), -1, 1 },
	{ "2.1.5 5 bytes", S("\xF8\x88\x80\x80\x80"), 0, 0 },
	{ "2.1.6 6 bytes", S("\xFC\x84\x80\x80\x80\x80"), 0, 0 },

	/* 2.2  Last possible sequence of a certain length */
	{ "2.2.1 U+007F", S("\x7F"), -1, 1 },
	{ "2.2.2 U+07FF", S("\xDF\xBF"), -1, 1 },
	{ "2.2.3 U+FFFF", S("\xEF\xBF\xBF"), -1, 1 },
	{ "2.2.4 U+1FFFFF", S("\xF7\xBF\xBF\xBF"), 0, 0 },
	{ "2.2.5 5 bytes", S("\xFB\xBF\xBF\xBF\xBF"), 0, 0 },
	{ "2.2.6 6 bytes", S("\xFD\xBF\xBF\xBF\xBF\xBF"), 0, 0 },

	/* 2.3  Other boundary conditions */
	{ "2.3.1 U+D7FF", S("\xED\x9F\xBF"), -1, 1 },
	{ "2.3.2 U+E000", S("\xEE\x80\x80"), -1, 1 },
	{ "2.3.3 U+FFFD", S("\xEF\xBF\xBD"), -1, 1 },
	{ "2.3.4 U+10FFFF", S("\xF4\x8F\xBF\xBF"), -1, 1 },
	{ "2.3.5 U+110000", S("\xF4\x90\x80\x80"), 1, 0 },

	/* 3.1  Unexpected continuation bytes */
	{ "3.1.1 0x80", S("\x80"), 0, 0 },
	{ "3.1.2 0xBF", S("\xBF"), 0, 0 },
	{ "3.1.3 2 continuations", S("\x80\xBF"), 0, 0 },
	{ "3.1.x after ascii", S("ab\x80"), 2, 0 },
	{ "3.1.x after a full char", S("\xC3\xA9\x80"), 2, 0 },

	/* 3.2  Lonely start characters, each followed by a space */
	{ "3.2.1 0xC0 space", S("\xC0\x20"), 0, 0 },
	{ "3.2.1 0xC2 space", S("\xC2\x20"), 1, 0 },
	{ "3.2.1 0xDF space", S("\xDF\x20"), 1, 0 },
	{ "3.2.2 0xE0 space", S("\xE0\x20"), 1, 0 },
	{ "3.2.2 0xEF space", S("\xEF\x20"), 1, 0 },
	{ "3.2.3 0xF0 space", S("\xF0\x20"), 1, 0 },
	{ "3.2.3 0xF4 space", S("\xF4\x20"), 1, 0 },
	{ "3.2.4 0xF8 space", S("\xF8\x20"), 0, 0 },
	{ "3.2.5 0xFC space", S("\xFC\x20"), 0, 0 },

	/* 3.3  Sequences with the last continuation byte missing: never
	 * rejected while more could follow, but not complete. */
	{ "3.3.1 C0", S("\xC0"), 0, 0 },
	{ "3.3.2 E0 80", S("\xE0\x80"), 1, 0 },
	{ "3.3.6 DF", S("\xDF"), -1, 0 },
	{ "3.3.7 EF BF", S("\xEF\xBF"), -1, 0 },
	{ "3.3.x C2", S("\xC2"), -1, 0 },
	{ "3.3.x E0 A0", S("\xE0\xA0"), -1, 0 },
	{ "3.3.x F0 90 80", S("\xF0\x90\x80"), -1, 0 },
	{ "3.3.x F4 8F BF", S("\xF4\x8F\xBF"), -1, 0 },
	{ "3.3.x E2 82 (euro cut)", S("\xE2\x82"), -1, 0 },
	{ "3.3.x text then cut", S("ok \xF0\x9F\x98"), -1, 0 },

	/* 3.4  Concatenation of incomplete sequences */
	{ "3.4 C2 then E0 A0", S("\xC2\xE0\xA0"), 1, 0 },
	{ "3.4 E2 82 then A", S("\xE2\x82" "A"), 2, 0 },

	/* 3.5  Impossible bytes */
	{ "3.5.1 FE", S("\xFE"), 0, 0 },
	{ "3.5.2 FF", S("\xFF"), 0, 0 },
	{ "3.5.3 FE FE FF FF", S("\xFE\xFE\xFF\xFF"), 0, 0 },
	{ "3.5.x F5", S("\xF5\x80\x80\x80"), 0, 0 },

	/* 4.1  Examples of an overlong ASCII character ("/") */
	{ "4.1.1 C0 AF", S("\xC0\xAF"), 0, 0 },
	{ "4.1.2 E0 80 AF", S("\xE0\x80\xAF"), 1, 0 },
	{ "4.1.3 F0 80 80 AF", S("\xF0\x80\x80\xAF"), 1, 0 },
	{ "4.1.4 F8 ..", S("\xF8\x80\x80\x80\xAF"), 0, 0 },
	{ "4.1.5 FC ..", S("\xFC\x80\x80\x80\x80\xAF"), 0, 0 },

	/* 4.2  Maximum overlong sequences */
	{ "4.2.1 C1 BF", S("\xC1\xBF"), 0, 0 },
	{ "4.2.2 E0 9F BF", S("\xE0\x9F\xBF"), 1, 0 },
	{ "4.2.3 F0 8F BF BF", S("\xF0\x8F\xBF\xBF"), 1, 0 },

	/* 4.3  Overlong representation of the NUL character */
	{ "4.3.1 C0 80", S("\xC0\x80"), 0, 0 },
	{ "4.3.2 E0 80 80", S("\xE0\x80\x80"), 1, 0 },
	{ "4.3.3 F0 80 80 80", S("\xF0\x80\x80\x80"), 1, 0 },

	/* 5.1  Single UTF-16 surrogates */
	{ "5.1.1 U+D800", S("\xED\xA0\x80"), 1, 0 },
	{ "5.1.2 U+DB7F", S("\xED\xAD\xBF"), 1, 0 },
	{ "5.1.3 U+DB80", S("\xED\xAE\x80"), 1, 0 },
	{ "5.1.4 U+DBFF", S("\xED\xAF\xBF"), 1, 0 },
	{ "5.1.5 U+DC00", S("\xED\xB0\x80"), 1, 0 },
	{ "5.1.6 U+DF80", S("\xED\xBE\x80"), 1, 0 },
	{ "5.1.7 U+DFFF", S("\xED\xBF\xBF"), 1, 0 },
	{ "5.1.x after text", S("ab\xED\xA0\x80"), 3, 0 },

	/* 5.2  Paired UTF-16 surrogates (CESU-8) */
	{ "5.2.1 D800 DC00", S("\xED\xA0\x80\xED\xB0\x80"), 1, 0 },
	{ "5.2.8 DBFF DFFF", S("\xED\xAF\xBF\xED\xBF\xBF"), 1, 0 },

	/* 5.3  Noncharacters are valid UTF-8 (Unicode Corrigendum #9) */
	{ "5.3.1 U+FFFE", S("\xEF\xBF\xBE"), -1, 1 },
	{ "5.3.2 U+FFFF", S("\xEF\xBF\xBF"), -1, 1 },
	{ "5.3.3 U+FDD0", S("\xEF\xB7\x90"), -1, 1 },
	{ "5.3.4 U+10FFFE", S("\xF4\x8F\xBF\xBE"), -1, 1 },

	/* Mixed text */
	{ "emoji", S("\xF0\x9F\x98\x80"), -1, 1 },
	{ "mixed", S("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80"), -1, 1 },
	{ "invalid at the end", S("hello \xE2\x82\xAC\xFF"), 9, 0 },
};

#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* Byte by byte: the first REJECT comes exactly at reject_at. */
START_TEST(test_fail_fast_position)
{
	const struct utf8_case *c = &cases[_i];
	struct utf8_state s;
	int at = -1;

	utf8_init(&s);
	for (size_t i = 0; i < c->len; i++) {
		if (utf8_feed(&s, (const unsigned char *)c->bytes + i, 1) == UTF8_REJECT) {
			at = (int)i;
			break;
		}
	}
	ck_assert_msg(at == c->reject_at, "%s: rejected at %d, want %d",
	              c->name, at, c->reject_at);
	ck_assert_msg(utf8_complete(&s) == c->valid || at >= 0,
	              "%s: complete %d", c->name, utf8_complete(&s));
}
END_TEST

/* Whole buffer: utf8_valid agrees with the table. */
START_TEST(test_whole_buffer)
{
	const struct utf8_case *c = &cases[_i];

	ck_assert_msg(utf8_valid(c->bytes, c->len) == c->valid, "%s", c->name);
}
END_TEST

/* Any split into two feeds gives the same verdict as one feed, and a
 * rejection lands in the part that holds the bad byte. */
START_TEST(test_every_split)
{
	const struct utf8_case *c = &cases[_i];
	const unsigned char *p = (const unsigned char *)c->bytes;

	for (size_t k = 0; k <= c->len; k++) {
		struct utf8_state s;
		int r1, r2;

		utf8_init(&s);
		r1 = utf8_feed(&s, p, k);
		r2 = utf8_feed(&s, p + k, c->len - k);
		ck_assert_msg((r1 == UTF8_REJECT) == (c->reject_at >= 0 &&
		                                       (size_t)c->reject_at < k),
		              "%s split %zu: first part", c->name, k);
		ck_assert_msg((r2 == UTF8_REJECT) == (c->reject_at >= 0),
		              "%s split %zu: second part", c->name, k);
		ck_assert_msg(utf8_complete(&s) == c->valid, "%s split %zu", c->name, k);
	}
}
END_TEST

/* Once rejected, a state stays rejected whatever follows. */
START_TEST(test_reject_is_sticky)
{
	struct utf8_state s;

	utf8_init(&s);
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"\xFF", 1), UTF8_REJECT);
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"abc", 3), UTF8_REJECT);
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"", 0), UTF8_REJECT);
	ck_assert(!utf8_complete(&s));
}
END_TEST

/* A truncated sequence completed by a later feed is valid. */
START_TEST(test_completed_across_feeds)
{
	struct utf8_state s;

	utf8_init(&s);
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"\xF0\x9F", 2), UTF8_ACCEPT);
	ck_assert(!utf8_complete(&s));
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"\x98", 1), UTF8_ACCEPT);
	ck_assert(!utf8_complete(&s));
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"\x80", 1), UTF8_ACCEPT);
	ck_assert(utf8_complete(&s));
	/* The narrowed range applies to the first continuation byte only. */
	utf8_init(&s);
	ck_assert_int_eq(utf8_feed(&s, (const unsigned char *)"\xE0\xA0\x80", 3),
	                 UTF8_ACCEPT);
	ck_assert(utf8_complete(&s));
}
END_TEST

struct count_case {
	const char *bytes;
	size_t len;
	size_t want;
};

static const struct count_case count_cases[] = {
	{ S(""), 0 },
	{ S("abc"), 3 },
	{ S("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), 5 },
	{ S("\xF0\x9F\x98\x80"), 1 },
	{ S("a\xC3\xA9" "b\xE2\x82\xAC" "c\xF0\x9F\x98\x80"), 6 },
	{ S("\x00\x00"), 2 },
};

START_TEST(test_count)
{
	const struct count_case *c = &count_cases[_i];

	ck_assert_uint_eq(utf8_count(c->bytes, c->len), c->want);
}
END_TEST

static Suite *utf8_suite(void)
{
	Suite *s = suite_create("utf8");
	TCase *tc = tcase_create("validate");

	tcase_add_loop_test(tc, test_fail_fast_position, 0, NCASES);
	tcase_add_loop_test(tc, test_whole_buffer, 0, NCASES);
	tcase_add_loop_test(tc, test_every_split, 0, NCASES);
	tcase_add_test(tc, test_reject_is_sticky);
	tcase_add_test(tc, test_completed_across_feeds);
	tcase_add_loop_test(tc, test_count, 0,
	                    (int)(sizeof count_cases / sizeof count_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(utf8_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
