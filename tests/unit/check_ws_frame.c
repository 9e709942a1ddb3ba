/*
 * check_ws_frame.c — unit tests for lib/ws_frame.c (RFC 6455 framing).
 *
 * Byte-literal fixtures grouped like the Autobahn test suite's categories:
 * framing (1.x), pings (2.x), reserved bits (3.x), opcodes (4.x),
 * fragmentation (5.x), UTF-8 (6.x, with Markus Kuhn's decoder cases and the
 * payload position where the reader must fail), close codes and payloads
 * (7.x), sizes (9.x).  Client frames use the masking key 00 00 00 00 where
 * the payload should stay readable in the source, and the RFC's key
 * 37 fa 21 3d where masking itself is under test.
 *
 * Every reader case runs three ways: the whole stream at once, one byte at a
 * time, and split in two at every position, with the test keeping the
 * unconsumed bytes as the helper does; the events must be the same.
 *
 * Longer than 600 lines on purpose: it mirrors the one file lib/ws_frame.c,
 * and much of it is byte tables (frames, streams, Kuhn's UTF-8 cases)
 * kept beside the code that runs them, so a case reads with its check.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

#define S(lit) (const unsigned char *)lit, sizeof lit - 1

/* ---- one frame: the header parser and the payload after it ------------- */

/* A whole frame from buf: the header, then a payload of f->len bytes right
 * after it (still masked).  Returns the frame's length, -2 or -1, as the
 * reader (ws_reader_feed) sees a frame. */
static long parse_frame(unsigned char *buf, size_t len, int need_mask,
                        struct ws_frame *f, unsigned char **payload, int *code)
{
	int hlen = ws_frame_parse_header(buf, len, need_mask, f, code);

	if (hlen < 0)
		return hlen;
	if (len - (size_t)hlen < f->len)
		return -2;
	*payload = buf + hlen;
	return (long)(hlen + f->len);
}

struct parse_case {
	const char *name;
	const unsigned char *in;
	size_t len;
	int need_mask;
	long want;          /* bytes consumed, -2, -1 */
	int code;           /* with -1 */
	int fin, opcode;
	uint64_t plen;
	const char *payload; /* unmasked, or NULL */
};

static const struct parse_case parse_cases[] = {
	/* RFC 6455 §5.7 examples */
	{ "unmasked text Hello", S("\x81\x05Hello"), 0, 7, 0, 1, 1, 5, "Hello" },
	{ "masked text Hello", S("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
	  1, 11, 0, 1, 1, 5, "Hello" },
	{ "first fragment Hel", S("\x01\x03Hel"), 0, 5, 0, 0, 1, 3, "Hel" },
	{ "last fragment lo", S("\x80\x02lo"), 0, 4, 0, 1, 0, 2, "lo" },
	{ "unmasked ping", S("\x89\x05Hello"), 0, 7, 0, 1, 9, 5, "Hello" },
	{ "masked pong", S("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
	  1, 11, 0, 1, 10, 5, "Hello" },
	{ "16-bit length 256", S("\x82\x7e\x01\x00"), 0, -2, 0, 0, 0, 0, NULL },
	{ "empty text", S("\x81\x80\x00\x00\x00\x00"), 1, 6, 0, 1, 1, 0, "" },
	{ "empty close", S("\x88\x80\x01\x02\x03\x04"), 1, 6, 0, 1, 8, 0, "" },
	{ "trailing bytes are not consumed", S("\x81\x01xy"), 0, 3, 0, 1, 1, 1, "x" },
	/* need more */
	{ "nothing", S(""), 1, -2, 0, 0, 0, 0, NULL },
	{ "one byte", S("\x81"), 1, -2, 0, 0, 0, 0, NULL },
	{ "half a 16-bit length", S("\x81\xfe\x00"), 1, -2, 0, 0, 0, 0, NULL },
	{ "half a 64-bit length", S("\x82\xff\x00\x00\x00\x00\x00"), 1, -2, 0, 0, 0, 0, NULL },
	{ "half a mask", S("\x81\x85\x37\xfa"), 1, -2, 0, 0, 0, 0, NULL },
	{ "half a payload", S("\x81\x85\x37\xfa\x21\x3d\x7f\x9f"), 1, -2, 0, 0, 0, 0, NULL },
	/* masking rules (§5.1) */
	{ "unmasked frame to a server", S("\x81\x05Hello"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "masked frame to a client", S("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"),
	  0, -1, 1002, 0, 0, 0, NULL },
	/* reserved bits (Autobahn 3.x): refused from the first two bytes */
	{ "RSV1", S("\xc1\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "RSV2", S("\xa1\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "RSV3", S("\x91\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "RSV1-3 on a ping", S("\xf9\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	/* opcodes (Autobahn 4.x) */
	{ "opcode 3", S("\x83\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode 4", S("\x84\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode 5", S("\x85\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode 6", S("\x86\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode 7", S("\x87\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode B", S("\x8b\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode C", S("\x8c\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode D", S("\x8d\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode E", S("\x8e\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "opcode F", S("\x8f\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	/* control frames (§5.5, Autobahn 2.x) */
	{ "ping of 125 bytes: header", S("\x89\xfd"), 1, -2, 0, 0, 0, 0, NULL },
	{ "ping of 126 bytes", S("\x89\xfe\x00\x7e"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "fragmented ping", S("\x09\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "fragmented close", S("\x08\x80"), 1, -1, 1002, 0, 0, 0, NULL },
	{ "close of 127-form length", S("\x88\xff"), 1, -1, 1002, 0, 0, 0, NULL },
	/* lengths (Autobahn 1.x, 9.x) */
	{ "64-bit length with the top bit", S("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00"),
	  1, -1, 1002, 0, 0, 0, NULL },
	{ "64 KiB exactly: header", S("\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"),
	  1, -2, 0, 0, 0, 0, NULL },
	{ "64 KiB + 1", S("\x82\xff\x00\x00\x00\x00\x00\x01\x00\x01"), 1, -1, 1009, 0, 0, 0, NULL },
	{ "2^63 - 1", S("\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff"), 1, -1, 1009, 0, 0, 0, NULL },
	{ "16-bit 65535 is fine", S("\x81\xfe\xff\xff"), 1, -2, 0, 0, 0, 0, NULL },
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parse_cases[_i];
	unsigned char buf[64], *payload = NULL;
	struct ws_frame f;
	int code = 0;
	long n;

	memcpy(buf, c->in, c->len);
	n = parse_frame(buf, c->len, c->need_mask, &f, &payload, &code);
	ck_assert_msg(n == c->want, "%s: got %ld, want %ld", c->name, n, c->want);
	if (n == -1)
		ck_assert_msg(code == c->code, "%s: code %d, want %d", c->name, code, c->code);
	if (n > 0) {
		ck_assert_int_eq(f.fin, c->fin);
		ck_assert_int_eq(f.opcode, c->opcode);
		ck_assert_uint_eq(f.len, c->plen);
		ws_mask(payload, (size_t)f.len, f.mask, 0);
		ck_assert_mem_eq(payload, c->payload, (size_t)f.len);
	}
}
END_TEST

/* Every header length form: the header alone is enough. */
START_TEST(test_parse_header_lengths)
{
	static const struct { const unsigned char *in; size_t len; int hlen; uint64_t plen; } t[] = {
		{ S("\x82\x00"), 2, 0 },
		{ S("\x82\x7d"), 2, 125 },
		{ S("\x82\x7e\x00\x7e"), 4, 126 },
		{ S("\x82\x7e\xff\xff"), 4, 65535 },
		{ S("\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00"), 10, 65536 },
		/* a non-minimal encoding is accepted (§5.2 binds the sender) */
		{ S("\x82\x7e\x00\x05"), 4, 5 },
		{ S("\x82\xfe\x01\x00\xaa\xbb\xcc\xdd"), 8, 256 },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct ws_frame f;
		int code = 0;
		int need_mask = (t[i].in[1] & 0x80) != 0;
		ck_assert_int_eq(ws_frame_parse_header(t[i].in, t[i].len, need_mask, &f, &code),
		                 t[i].hlen);
		ck_assert_uint_eq(f.len, t[i].plen);
	}
}
END_TEST

/* ---- encoders ----------------------------------------------------------- */

START_TEST(test_encode_header)
{
	static const struct { uint64_t len; const unsigned char *want; size_t wlen; } t[] = {
		{ 0, S("\x81\x00") },
		{ 125, S("\x81\x7d") },
		{ 126, S("\x81\x7e\x00\x7e") },
		{ 65535, S("\x81\x7e\xff\xff") },
		{ 65536, S("\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00") },
		{ 0x0102030405060708ULL, S("\x81\x7f\x01\x02\x03\x04\x05\x06\x07\x08") },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		unsigned char out[WS_HEADER_MAX];
		size_t n = ws_frame_header(out, 1, WS_OP_TEXT, t[i].len, NULL);
		ck_assert_uint_eq(n, t[i].wlen);
		ck_assert_mem_eq(out, t[i].want, n);
	}
}
END_TEST

START_TEST(test_encode_masked_roundtrip)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char out[32], small[8], *payload;
	struct ws_frame f;
	int code;
	size_t n = ws_frame_encode(out, sizeof out, 1, WS_OP_TEXT, "Hello", 5, key);

	/* byte for byte the RFC's §5.7 example */
	ck_assert_uint_eq(n, 11);
	ck_assert_mem_eq(out, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
	ck_assert_int_eq(parse_frame(out, n, 1, &f, &payload, &code), 11);
	ws_mask(payload, (size_t)f.len, f.mask, 0);
	ck_assert_mem_eq(payload, "Hello", 5);
	ck_assert_int_eq(ws_frame_encode(small, sizeof small, 1, WS_OP_TEXT, "Hello", 5, key), 0);
	/* fragments: fin 0 on the first, opcode 0 after */
	n = ws_frame_encode(out, sizeof out, 0, WS_OP_CONT, "ab", 2, NULL);
	ck_assert_mem_eq(out, "\x00\x02" "ab", n);
}
END_TEST

START_TEST(test_mask_in_pieces)
{
	static const unsigned char key[4] = { 1, 2, 3, 4 };
	unsigned char whole[11] = "0123456789", parts[11] = "0123456789";

	ws_mask(whole, 10, key, 0);
	ws_mask(parts, 3, key, 0);
	ws_mask(parts + 3, 5, key, 3);
	ws_mask(parts + 8, 2, key, 8);
	ck_assert_mem_eq(whole, parts, 10);
	ws_mask(whole, 10, key, 0);
	ck_assert_mem_eq(whole, "0123456789", 10);
}
END_TEST

START_TEST(test_close_payload)
{
	unsigned char out[WS_CONTROL_MAX];
	char longreason[300];
	size_t n = ws_close_payload(out, 1001, "bye");

	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(out, "\x03\xe9" "bye", 5);
	ck_assert_uint_eq(ws_close_payload(out, 1000, NULL), 2);
	memset(longreason, 'r', sizeof longreason - 1);
	longreason[sizeof longreason - 1] = '\0';
	ck_assert_uint_eq(ws_close_payload(out, 1000, longreason), WS_CONTROL_MAX);
}
END_TEST

START_TEST(test_close_codes)
{
	/* Autobahn 7.7.x (valid) and 7.9.x (invalid) */
	static const int valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
	                             1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const int invalid[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100,
	                               2000, 2999, 5000, 65535 };
	for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
		ck_assert_msg(ws_close_code_valid(valid[i]), "%d", valid[i]);
	for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
		ck_assert_msg(!ws_close_code_valid(invalid[i]), "%d", invalid[i]);
}
END_TEST

/* ---- the reader: streams of frames ----------------------------------------- */

/* An expected event: type, then opcode (MESSAGE) or code (CLOSE/ERROR). */
struct want_ev {
	enum ws_event_type type;
	int num;
	const char *data;     /* NULL: don't compare */
	size_t len;
};
#define MSG(op, lit)  { WS_EV_MESSAGE, op, lit, sizeof lit - 1 }
#define PING(lit)     { WS_EV_PING, 0, lit, sizeof lit - 1 }
#define PONG(lit)     { WS_EV_PONG, 0, lit, sizeof lit - 1 }
#define CLOSE(code)   { WS_EV_CLOSE, code, NULL, 0 }
#define ERR(code)     { WS_EV_ERROR, code, NULL, 0 }
#define MAXEV 6

struct stream_case {
	const char *name;
	const unsigned char *in;
	size_t len;
	struct want_ev ev[MAXEV];
	int nev;
};

/* Masked with the all-zero key, so payloads read as plain text. */
#define T(fin_op, len) fin_op len "\x00\x00\x00\x00"

static const struct stream_case stream_cases[] = {
	/* framing */
	{ "one text", S(T("\x81", "\x82") "hi"), { MSG(1, "hi") }, 1 },
	{ "one binary", S(T("\x82", "\x83") "\x00\xff\x01"), { MSG(2, "\x00\xff\x01") }, 1 },
	{ "empty text", S(T("\x81", "\x80")), { MSG(1, "") }, 1 },
	{ "RFC mask", S("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), { MSG(1, "Hello") }, 1 },
	{ "two texts", S(T("\x81", "\x81") "a" T("\x81", "\x81") "b"),
	  { MSG(1, "a"), MSG(1, "b") }, 2 },
	{ "unmasked text", S("\x81\x02hi"), { ERR(1002) }, 1 },
	/* pings (2.x) */
	{ "ping", S(T("\x89", "\x85") "Hello"), { PING("Hello") }, 1 },
	{ "empty ping", S(T("\x89", "\x80")), { PING("") }, 1 },
	{ "binary ping", S(T("\x89", "\x84") "\x00\xff\xfe\xfd"), { PING("\x00\xff\xfe\xfd") }, 1 },
	{ "pong", S(T("\x8a", "\x82") "ok"), { PONG("ok") }, 1 },
	{ "ping 126", S("\x89\xfe\x00\x7e"), { ERR(1002) }, 1 },
	{ "fragmented ping", S(T("\x09", "\x81") "a" T("\x80", "\x81") "b"), { ERR(1002) }, 1 },
	{ "ping then text", S(T("\x89", "\x80") T("\x81", "\x81") "x"),
	  { PING(""), MSG(1, "x") }, 2 },
	/* reserved bits (3.x): what came before is still delivered */
	{ "RSV1 after a good text", S(T("\x81", "\x81") "a" T("\xc1", "\x81") "b"),
	  { MSG(1, "a"), ERR(1002) }, 2 },
	{ "RSV2 on binary", S(T("\xa2", "\x80")), { ERR(1002) }, 1 },
	{ "RSV3 on ping", S(T("\x99", "\x80")), { ERR(1002) }, 1 },
	{ "RSV on close", S(T("\xf8", "\x80")), { ERR(1002) }, 1 },
	/* opcodes (4.x) */
	{ "opcode 3", S(T("\x83", "\x80")), { ERR(1002) }, 1 },
	{ "opcode 7 with payload", S(T("\x87", "\x81") "x"), { ERR(1002) }, 1 },
	{ "opcode B", S(T("\x8b", "\x80")), { ERR(1002) }, 1 },
	{ "opcode F after a text", S(T("\x81", "\x81") "a" T("\x8f", "\x80")),
	  { MSG(1, "a"), ERR(1002) }, 2 },
	/* fragmentation (5.x) */
	{ "two fragments", S(T("\x01", "\x83") "Hel" T("\x80", "\x82") "lo"),
	  { MSG(1, "Hello") }, 1 },
	{ "binary in three", S(T("\x02", "\x81") "a" T("\x00", "\x81") "b" T("\x80", "\x81") "c"),
	  { MSG(2, "abc") }, 1 },
	{ "ping between fragments", S(T("\x01", "\x82") "fr" T("\x89", "\x81") "p" T("\x80", "\x82") "ag"),
	  { PING("p"), MSG(1, "frag") }, 2 },
	{ "pong between fragments", S(T("\x01", "\x81") "a" T("\x8a", "\x80") T("\x80", "\x81") "b"),
	  { PONG(""), MSG(1, "ab") }, 2 },
	{ "close between fragments", S(T("\x01", "\x81") "a" T("\x88", "\x82") "\x03\xe8"),
	  { CLOSE(1000) }, 1 },
	{ "empty fragments", S(T("\x01", "\x80") T("\x00", "\x80") T("\x80", "\x80")),
	  { MSG(1, "") }, 1 },
	{ "continuation first", S(T("\x80", "\x81") "x"), { ERR(1002) }, 1 },
	{ "unfinished continuation first", S(T("\x00", "\x81") "x"), { ERR(1002) }, 1 },
	{ "text inside a message", S(T("\x01", "\x81") "a" T("\x81", "\x81") "b"), { ERR(1002) }, 1 },
	{ "binary inside a text", S(T("\x01", "\x81") "a" T("\x02", "\x81") "b"), { ERR(1002) }, 1 },
	{ "continuation after a whole message", S(T("\x81", "\x81") "a" T("\x80", "\x81") "b"),
	  { MSG(1, "a"), ERR(1002) }, 2 },
	/* UTF-8 (6.x) */
	{ "kosme", S(T("\x81", "\x8b") "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
	  { MSG(1, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5") }, 1 },
	{ "sequence split across fragments",
	  S(T("\x01", "\x83") "\xce\xba\xe1" T("\x80", "\x81") "\xbd"),
	  { ERR(1007) }, 1 },  /* E1 BD needs one more byte: message ends inside it */
	{ "4-byte split across fragments",
	  S(T("\x01", "\x82") "\xf0\x9f" T("\x80", "\x82") "\x98\x80"),
	  { MSG(1, "\xf0\x9f\x98\x80") }, 1 },
	{ "invalid in a later fragment", S(T("\x01", "\x81") "a" T("\x80", "\x81") "\xff"),
	  { ERR(1007) }, 1 },
	{ "binary is not checked", S(T("\x82", "\x81") "\xff"), { MSG(2, "\xff") }, 1 },
	{ "truncated at the end", S(T("\x81", "\x81") "\xce"), { ERR(1007) }, 1 },
	/* close (7.x) */
	{ "empty close", S(T("\x88", "\x80")), { CLOSE(1005) }, 1 },
	{ "close 1000", S(T("\x88", "\x82") "\x03\xe8"), { CLOSE(1000) }, 1 },
	{ "close 1000 with reason", S(T("\x88", "\x84") "\x03\xe8" "ok"), { CLOSE(1000) }, 1 },
	{ "close 4999", S(T("\x88", "\x82") "\x13\x87"), { CLOSE(4999) }, 1 },
	{ "close with one byte", S(T("\x88", "\x81") "\x03"), { ERR(1002) }, 1 },
	{ "close 999", S(T("\x88", "\x82") "\x03\xe7"), { ERR(1002) }, 1 },
	{ "close 1004", S(T("\x88", "\x82") "\x03\xec"), { ERR(1002) }, 1 },
	{ "close 1005", S(T("\x88", "\x82") "\x03\xed"), { ERR(1002) }, 1 },
	{ "close 1006", S(T("\x88", "\x82") "\x03\xee"), { ERR(1002) }, 1 },
	{ "close 1016", S(T("\x88", "\x82") "\x03\xf8"), { ERR(1002) }, 1 },
	{ "close 2999", S(T("\x88", "\x82") "\x0b\xb7"), { ERR(1002) }, 1 },
	{ "close 5000", S(T("\x88", "\x82") "\x13\x88"), { ERR(1002) }, 1 },
	{ "close reason not UTF-8", S(T("\x88", "\x84") "\x03\xe8" "\xce\xff"), { ERR(1007) }, 1 },
	{ "close of 126 bytes", S("\x88\xfe\x00\x7e"), { ERR(1002) }, 1 },
};

struct got_ev {
	enum ws_event_type type;
	int num;
	unsigned char data[WS_MESSAGE_MAX];
	size_t len;
};

/*
 * Feeds in the stream in pieces of chunk bytes (0: all at once; -1: split
 * in two at split), keeping unconsumed bytes like the helper.  Stops at the
 * first ERROR.  Returns the number of events.
 */
static int run_stream(const unsigned char *in, size_t len, size_t chunk,
                      long split, struct got_ev *got, int maxev)
{
	static unsigned char buf[WS_MESSAGE_MAX + 512];
	struct ws_reader r;
	size_t have = 0, pos = 0;
	int n = 0;

	ws_reader_init(&r, 1);
	while (pos < len || have) {
		size_t take = len - pos;
		if (split >= 0)
			take = pos < (size_t)split ? (size_t)split - pos : len - pos;
		else if (chunk && take > chunk)
			take = chunk;
		if (take > sizeof buf - have)
			take = sizeof buf - have;  /* long streams: in buffer-sized pieces */
		memcpy(buf + have, in + pos, take);
		pos += take;
		have += take;
		size_t off = 0;
		for (;;) {
			struct ws_event ev;
			off += ws_reader_feed(&r, buf + off, have - off, &ev);
			if (ev.type == WS_EV_NONE)
				break;
			ck_assert_int_lt(n, maxev);
			got[n].type = ev.type;
			got[n].num = ev.type == WS_EV_MESSAGE ? ev.opcode : ev.code;
			got[n].len = ev.len;
			if (ev.len)
				memcpy(got[n].data, ev.data, ev.len);
			n++;
			if (ev.type == WS_EV_ERROR) {
				ws_reader_free(&r);
				return n;
			}
		}
		memmove(buf, buf + off, have - off);
		have -= off;
		ck_assert_uint_le(have, WS_HEADER_MAX + WS_CONTROL_MAX);
		if (pos == len)
			break;
	}
	ws_reader_free(&r);
	return n;
}

static void expect(const struct stream_case *c, const struct got_ev *got, int n,
                   const char *how)
{
	ck_assert_msg(n == c->nev, "%s (%s): %d events, want %d", c->name, how, n, c->nev);
	for (int i = 0; i < n; i++) {
		ck_assert_msg(got[i].type == c->ev[i].type, "%s (%s): event %d type %d, want %d",
		              c->name, how, i, got[i].type, c->ev[i].type);
		ck_assert_msg(got[i].num == c->ev[i].num, "%s (%s): event %d is %d, want %d",
		              c->name, how, i, got[i].num, c->ev[i].num);
		if (c->ev[i].data) {
			ck_assert_uint_eq(got[i].len, c->ev[i].len);
			ck_assert_mem_eq(got[i].data, c->ev[i].data, got[i].len);
		}
	}
}

static struct got_ev got[MAXEV + 1];

START_TEST(test_stream)
{
	const struct stream_case *c = &stream_cases[_i];

	expect(c, got, run_stream(c->in, c->len, 0, -1, got, MAXEV), "whole");
	expect(c, got, run_stream(c->in, c->len, 1, -1, got, MAXEV), "bytewise");
	for (size_t s = 0; s <= c->len; s++)
		expect(c, got, run_stream(c->in, c->len, 0, (long)s, got, MAXEV), "split");
}
END_TEST

/* ---- UTF-8: fail fast inside a frame ---------------------------------------- */

/*
 * A text frame whose payload arrives one byte at a time: the reader must
 * report 1007 right after the first byte that cannot start or continue valid
 * UTF-8 (fail_at, 0-based in the payload), not at the end of the frame;
 * fail_at -1 means the text is valid.  Payloads from Markus Kuhn's
 * UTF-8-test.txt (as Autobahn 6.x uses them).
 */
static const struct {
	const char *name;
	const char *text;
	size_t len;
	long fail_at;
} utf8_cases[] = {
	{ "kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11, -1 },
	{ "6.4.1 kosme + U+110000", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80" "edited",
	  21, 12 },
	{ "6.3.1 kosme + surrogate", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited",
	  20, 12 },
	{ "U+0001", "\x01", 1, -1 },
	{ "first 2-byte U+0080", "\xc2\x80", 2, -1 },
	{ "first 3-byte U+0800", "\xe0\xa0\x80", 3, -1 },
	{ "first 4-byte U+10000", "\xf0\x90\x80\x80", 4, -1 },
	{ "last 1-byte U+007F", "\x7f", 1, -1 },
	{ "last 2-byte U+07FF", "\xdf\xbf", 2, -1 },
	{ "last 3-byte U+FFFF", "\xef\xbf\xbf", 3, -1 },
	{ "last 4-byte U+10FFFF", "\xf4\x8f\xbf\xbf", 4, -1 },
	{ "U+D7FF", "\xed\x9f\xbf", 3, -1 },
	{ "U+E000", "\xee\x80\x80", 3, -1 },
	{ "U+FFFD", "\xef\xbf\xbd", 3, -1 },
	{ "noncharacter U+FFFE is valid", "\xef\xbf\xbe", 3, -1 },
	{ "U+110000", "\xf4\x90\x80\x80", 4, 1 },
	{ "5-byte form", "\xf8\x88\x80\x80\x80", 5, 0 },
	{ "6-byte form", "\xfc\x84\x80\x80\x80\x80", 6, 0 },
	{ "lone continuation 0x80", "\x80", 1, 0 },
	{ "lone continuation 0xbf", "\xbf", 1, 0 },
	{ "continuation after ASCII", "ab\x80", 3, 2 },
	{ "lone start then space", "\xc0\x20", 2, 0 },
	{ "2-byte start then space", "\xc3\x20", 2, 1 },
	{ "3-byte start then space", "\xe1\x20", 2, 1 },
	{ "3-byte, last byte missing, then ASCII", "\xe1\x80\x41", 3, 2 },
	{ "fe", "\xfe", 1, 0 },
	{ "ff", "\xff", 1, 0 },
	{ "fe fe ff ff", "\xfe\xfe\xff\xff", 4, 0 },
	{ "overlong / (2)", "\xc0\xaf", 2, 0 },
	{ "overlong / (3)", "\xe0\x80\xaf", 3, 1 },
	{ "overlong / (4)", "\xf0\x80\x80\xaf", 4, 1 },
	{ "overlong / (5)", "\xf8\x80\x80\x80\xaf", 5, 0 },
	{ "max overlong 2", "\xc1\xbf", 2, 0 },
	{ "max overlong 3", "\xe0\x9f\xbf", 3, 1 },
	{ "max overlong 4", "\xf0\x8f\xbf\xbf", 4, 1 },
	{ "overlong NUL", "\xc0\x80", 2, 0 },
	{ "surrogate U+D800", "\xed\xa0\x80", 3, 1 },
	{ "surrogate U+DFFF", "\xed\xbf\xbf", 3, 1 },
	{ "surrogate pair", "\xed\xa0\x80\xed\xb0\x80", 6, 1 },
	{ "valid then truncated 4-byte", "ok\xf0\x9f\x98", 5, -2 },  /* -2: fails at the end */
};

START_TEST(test_utf8_fail_fast)
{
	unsigned char frame[64];
	size_t len = utf8_cases[_i].len, hlen;
	struct ws_reader r;
	struct ws_event ev;
	long failed = -1;
	int complete = 0;

	hlen = ws_frame_header(frame, 1, WS_OP_TEXT, len, (const unsigned char *)"\0\0\0\0");
	memcpy(frame + hlen, utf8_cases[_i].text, len);
	ws_reader_init(&r, 1);
	ck_assert_uint_eq(ws_reader_feed(&r, frame, hlen, &ev), hlen);
	ck_assert_int_eq(ev.type, WS_EV_NONE);
	for (size_t i = 0; i < len; i++) {
		size_t used = ws_reader_feed(&r, frame + hlen + i, 1, &ev);
		ck_assert_uint_eq(used, 1);
		if (ev.type == WS_EV_ERROR) {
			ck_assert_int_eq(ev.code, WS_CLOSE_BAD_DATA);
			failed = (long)i;
			break;
		}
		if (ev.type == WS_EV_MESSAGE)
			complete = 1;
	}
	if (utf8_cases[_i].fail_at == -2) {
		ck_assert_msg(failed == (long)len - 1, "%s: failed at %ld", utf8_cases[_i].name, failed);
	} else {
		ck_assert_msg(failed == utf8_cases[_i].fail_at, "%s: failed at %ld, want %ld",
		              utf8_cases[_i].name, failed, utf8_cases[_i].fail_at);
		if (failed < 0)
			ck_assert(complete);
	}
	ws_reader_free(&r);
}
END_TEST

/* ---- sizes (9.x): 64 KiB in any shape is fine, one byte more is 1009 ------- */

static size_t big_message(unsigned char *out, size_t total, size_t frag)
{
	size_t pos = 0;

	for (size_t sent = 0; sent < total || sent == 0; ) {
		size_t n = total - sent < frag ? total - sent : frag;
		int fin = sent + n == total;
		int op = sent == 0 ? WS_OP_BINARY : WS_OP_CONT;
		pos += ws_frame_header(out + pos, fin, op, n, (const unsigned char *)"\x01\x02\x03\x04");
		memset(out + pos, 'x', n);
		ws_mask(out + pos, n, (const unsigned char *)"\x01\x02\x03\x04", 0);
		pos += n;
		sent += n;
		if (total == 0)
			break;
	}
	return pos;
}

START_TEST(test_sizes)
{
	static const struct { size_t total, frag; int code; } t[] = {
		{ 65536, 65536, 0 }, { 65536, 4096, 0 }, { 65536, 1, 0 },
		{ 65537, 65537, 1009 }, { 65537, 4096, 1009 }, { 65537, 65536, 1009 },
		{ 125, 125, 0 }, { 126, 126, 0 }, { 127, 127, 0 }, { 128, 128, 0 },
		{ 65535, 65535, 0 }, { 0, 1, 0 },
	};
	static unsigned char buf[65537 * 15 + 64];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		size_t len = big_message(buf, t[i].total, t[i].frag);
		int n = run_stream(buf, len, 0, -1, got, MAXEV);
		ck_assert_int_eq(n, 1);
		if (t[i].code) {
			ck_assert_int_eq(got[0].type, WS_EV_ERROR);
			ck_assert_int_eq(got[0].num, t[i].code);
		} else {
			ck_assert_int_eq(got[0].type, WS_EV_MESSAGE);
			ck_assert_uint_eq(got[0].len, t[i].total);
			for (size_t k = 0; k < got[0].len; k++)
				ck_assert_int_eq(got[0].data[k], 'x');
		}
		/* and delivered in pieces of 1000 bytes */
		n = run_stream(buf, len, 1000, -1, got, MAXEV);
		ck_assert_int_eq(n, 1);
		ck_assert_int_eq(got[0].type, t[i].code ? WS_EV_ERROR : WS_EV_MESSAGE);
	}
}
END_TEST

/* After an error the reader refuses everything, and frees what it held. */
START_TEST(test_failed_is_sticky)
{
	static unsigned char in[] = T("\x01", "\x81") "a" T("\x83", "\x80") T("\x81", "\x81") "b";
	struct ws_reader r;
	struct ws_event ev;
	size_t used;

	ws_reader_init(&r, 1);
	used = ws_reader_feed(&r, in, sizeof in - 1, &ev);
	ck_assert_int_eq(ev.type, WS_EV_ERROR);
	ck_assert_int_eq(ev.code, 1002);
	ck_assert_uint_eq(used, 7);
	ck_assert_uint_eq(ws_reader_feed(&r, in + 13, 7, &ev), 0);
	ck_assert_int_eq(ev.type, WS_EV_ERROR);
	ws_reader_free(&r);
	ws_reader_free(NULL);
}
END_TEST

/* An idle reader holds no buffer: it is released after each message. */
START_TEST(test_buffer_released)
{
	static unsigned char in[] = T("\x81", "\x81") "a";
	struct ws_reader r;
	struct ws_event ev;

	ws_reader_init(&r, 1);
	ws_reader_feed(&r, in, sizeof in - 1, &ev);
	ck_assert_int_eq(ev.type, WS_EV_MESSAGE);
	ck_assert_ptr_nonnull(r.msg);
	ws_reader_feed(&r, in, 0, &ev);
	ck_assert_int_eq(ev.type, WS_EV_NONE);
	ck_assert_ptr_null(r.msg);
	ws_reader_free(&r);
}
END_TEST

/* A header declaring 64 KiB reserves nothing for bytes that have not come:
 * the buffer grows with the payload that arrived (issue 11 item 5). */
START_TEST(test_buffer_grows_with_bytes)
{
	static unsigned char buf[65536 + 16];
	struct ws_reader r;
	struct ws_event ev;
	size_t len = big_message(buf, 65536, 65536), hlen = len - 65536, used;

	ws_reader_init(&r, 1);
	used = ws_reader_feed(&r, buf, hlen, &ev);       /* the header alone */
	ck_assert_int_eq(ev.type, WS_EV_NONE);
	ck_assert_uint_eq(used, hlen);
	ck_assert_uint_eq(r.msg_cap, 0);
	used += ws_reader_feed(&r, buf + used, 100, &ev);  /* 100 bytes of it */
	ck_assert_int_eq(ev.type, WS_EV_NONE);
	ck_assert_uint_le(r.msg_cap, 256);
	used += ws_reader_feed(&r, buf + used, 1000, &ev);
	ck_assert_uint_le(r.msg_cap, 2048);
	used += ws_reader_feed(&r, buf + used, len - used, &ev);
	ck_assert_int_eq(ev.type, WS_EV_MESSAGE);
	ck_assert_uint_eq(ev.len, 65536);
	ck_assert_uint_eq(r.msg_cap, 65536);               /* never more than the limit */
	ws_reader_free(&r);
}
END_TEST

/* A client-side reader (need_mask 0) takes the server's unmasked frames. */
START_TEST(test_client_reader)
{
	static unsigned char in[] = "\x81\x05Hello\x88\x02\x03\xe9";
	struct ws_reader r;
	struct ws_event ev;
	size_t used;

	ws_reader_init(&r, 0);
	used = ws_reader_feed(&r, in, sizeof in - 1, &ev);
	ck_assert_int_eq(ev.type, WS_EV_MESSAGE);
	ck_assert_mem_eq(ev.data, "Hello", 5);
	used += ws_reader_feed(&r, in + used, sizeof in - 1 - used, &ev);
	ck_assert_int_eq(ev.type, WS_EV_CLOSE);
	ck_assert_int_eq(ev.code, 1001);
	ck_assert_uint_eq(used, sizeof in - 1);
	ws_reader_free(&r);
}
END_TEST

static Suite *ws_frame_suite(void)
{
	Suite *s = suite_create("ws_frame");
	TCase *tc = tcase_create("frames");

	tcase_add_loop_test(tc, test_parse, 0, sizeof parse_cases / sizeof parse_cases[0]);
	tcase_add_test(tc, test_parse_header_lengths);
	tcase_add_test(tc, test_encode_header);
	tcase_add_test(tc, test_encode_masked_roundtrip);
	tcase_add_test(tc, test_mask_in_pieces);
	tcase_add_test(tc, test_close_payload);
	tcase_add_test(tc, test_close_codes);
	tcase_add_loop_test(tc, test_stream, 0, sizeof stream_cases / sizeof stream_cases[0]);
	tcase_add_loop_test(tc, test_utf8_fail_fast, 0, sizeof utf8_cases / sizeof utf8_cases[0]);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_failed_is_sticky);
	tcase_add_test(tc, test_buffer_released);
	tcase_add_test(tc, test_buffer_grows_with_bytes);
	tcase_add_test(tc, test_client_reader);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ws_frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
