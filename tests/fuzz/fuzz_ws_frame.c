/*
 * fuzz_ws_frame.c — libFuzzer target for lib/ws_frame.c (docs/fuzzing.md).
 *
 * The input is two bytes of choices, then a byte stream as it would arrive
 * on a WebSocket connection.  The first byte's low bit picks the side: a
 * server reading a client's frames (masked, need_mask = 1) or a client
 * reading a server's (unmasked); its high bit whether the stream is the
 * input itself or frames built from it (build_stream: long frames and
 * messages from a short input); the rest picks how the stream is cut into
 * chunks.  Checked:
 *  - ws_reader_feed() fed the chunks as the helper feeds it (ws/conn.c: the
 *    unconsumed rest is kept and handed back with the next chunk, in a
 *    buffer of exactly that size, so AddressSanitizer sees any read past
 *    it): never consumes more than it is given, keeps at most
 *    WS_HEADER_MAX + WS_CONTROL_MAX bytes back (ws_frame.h), and after an
 *    error refuses everything;
 *  - the events are the same whether the stream comes whole or in chunks,
 *    and the same as a second, plain reader written here from RFC 6455 §5
 *    on top of ws_frame_parse_header() gives (messages assembled from
 *    fragments, control frames between them, close payload rules,
 *    UTF-8 failing fast);
 *  - every event keeps its promises: a text message is valid UTF-8, no
 *    message over WS_MESSAGE_MAX, a close code is one that may be sent;
 *  - every header that parses re-encodes (ws_frame_header) to the same bytes
 *    when it used the shortest length form, and a whole frame re-encodes
 *    (ws_frame_encode, same masking key) to the same bytes; a close code and
 *    reason rebuilt with ws_close_payload() read back the same.
 */
#include "fuzz.h"
#include "ws_frame.h"

#define MAX_EVENTS 64

struct event {
	int type, opcode, code;
	unsigned char *data;
	size_t len;
};

struct log {
	struct event ev[MAX_EVENTS];
	int n;
};

static void log_add(struct log *lg, int type, int opcode, int code,
                    const unsigned char *data, size_t len)
{
	struct event *e;

	if (lg->n == MAX_EVENTS)
		return;
	e = &lg->ev[lg->n++];
	e->type = type;
	e->opcode = opcode;
	e->code = code;
	e->len = len;
	e->data = (unsigned char *)fuzz_copy(data, len, 0);
}

static void log_free(struct log *lg)
{
	for (int i = 0; i < lg->n; i++)
		free(lg->ev[i].data);
	lg->n = 0;
}

static void log_same(const struct log *a, const struct log *b)
{
	CHECK(a->n == b->n);
	for (int i = 0; i < a->n; i++) {
		const struct event *x = &a->ev[i], *y = &b->ev[i];
		CHECK(x->type == y->type);
		CHECK(x->opcode == y->opcode);
		CHECK(x->code == y->code);
		CHECK(x->len == y->len);
		CHECK(x->len == 0 || memcmp(x->data, y->data, x->len) == 0);
	}
}

/* What every event promises, whoever produced it. */
static void event_check(const struct ws_event *ev)
{
	switch (ev->type) {
	case WS_EV_MESSAGE:
		CHECK(ev->opcode == WS_OP_TEXT || ev->opcode == WS_OP_BINARY);
		CHECK(ev->len <= WS_MESSAGE_MAX);
		CHECK(ev->data != NULL);
		if (ev->opcode == WS_OP_TEXT)
			CHECK(utf8_valid((const char *)ev->data, ev->len));
		break;
	case WS_EV_PING:
	case WS_EV_PONG:
		CHECK(ev->len <= WS_CONTROL_MAX);
		break;
	case WS_EV_CLOSE:
		CHECK(ev->len <= WS_CONTROL_MAX - 2);
		CHECK(ev->code == WS_CLOSE_NO_STATUS ? ev->len == 0
		                                     : ws_close_code_valid(ev->code));
		CHECK(utf8_valid((const char *)ev->data, ev->len));
		break;
	case WS_EV_ERROR:
		CHECK(ev->code == WS_CLOSE_PROTOCOL || ev->code == WS_CLOSE_BAD_DATA ||
		      ev->code == WS_CLOSE_TOO_BIG || ev->code == WS_CLOSE_INTERNAL);
		CHECK(ev->why != NULL);
		break;
	default:
		CHECK(ev->type == WS_EV_NONE);
	}
}

/* A small xorshift: chunk sizes from the input's choice bytes. */
static unsigned next_chunk(uint32_t *x, unsigned mode, size_t left)
{
	size_t n;

	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	switch (mode) {
	case 0: n = left; break;                 /* whole */
	case 1: n = 1; break;                    /* byte by byte */
	case 2: n = 1 + *x % 7; break;           /* inside headers */
	default: n = 1 + *x % 200; break;        /* across frames */
	}
	return (unsigned)(n < left ? n : left);
}

/*
 * The stream through ws_reader_feed() in chunks, as ws/conn.c does: each
 * call gets the rest the last one left plus the next chunk, copied into a
 * buffer of exactly that size.
 */
static void run_reader(const uint8_t *s, size_t len, int need_mask,
                       unsigned mode, uint32_t seed, struct log *lg)
{
	struct ws_reader r;
	unsigned char *rest = NULL;
	size_t rest_len = 0, pos = 0;
	uint32_t x = seed | 1;
	int failed = 0;

	ws_reader_init(&r, need_mask);
	while (pos < len && !failed) {
		size_t n = next_chunk(&x, mode, len - pos), have = rest_len + n, off = 0;
		unsigned char *buf = malloc(have);

		CHECK(buf != NULL);
		if (rest_len)
			memcpy(buf, rest, rest_len);
		memcpy(buf + rest_len, s + pos, n);
		pos += n;
		free(rest);
		rest = NULL;
		for (;;) {
			struct ws_event ev;
			size_t used = ws_reader_feed(&r, buf + off, have - off, &ev);

			CHECK(used <= have - off);
			off += used;
			event_check(&ev);
			if (ev.type == WS_EV_NONE) {
				CHECK(have - off <= WS_HEADER_MAX + WS_CONTROL_MAX);
				break;
			}
			log_add(lg, ev.type, ev.opcode, ev.code, ev.data, ev.len);
			if (ev.type == WS_EV_ERROR) {
				/* Broken for good: nothing more is taken. */
				CHECK(ws_reader_feed(&r, buf + off, have - off, &ev) == 0);
				CHECK(ev.type == WS_EV_ERROR);
				failed = 1;
				break;
			}
		}
		rest_len = have - off;
		if (rest_len)
			rest = (unsigned char *)fuzz_copy(buf + off, rest_len, 0);
		free(buf);
	}
	free(rest);
	ws_reader_free(&r);
}

/* The shortest length form is what ws_frame_header writes (§5.2: "the
 * minimal number of bytes MUST be used"; the reader accepts longer ones). */
static int minimal_length(const uint8_t *h, const struct ws_frame *f)
{
	unsigned len7 = h[1] & 0x7F;

	return len7 < 126 || (len7 == 126 && f->len >= 126) ||
	       (len7 == 127 && f->len > 0xFFFF);
}

/* One frame header at s: re-encoded, and the whole frame if it is there. */
static void check_reencode(const uint8_t *s, size_t avail, int hlen,
                           const struct ws_frame *f)
{
	unsigned char hdr[WS_HEADER_MAX];
	const unsigned char *mask = f->masked ? f->mask : NULL;
	size_t n = ws_frame_header(hdr, f->fin, f->opcode, f->len, mask);

	CHECK(n <= (size_t)hlen);
	if (!minimal_length(s, f))
		return;
	CHECK(n == (size_t)hlen && memcmp(hdr, s, n) == 0);
	if (avail - (size_t)hlen < f->len)
		return;
	unsigned char *plain = (unsigned char *)fuzz_copy(s + hlen, f->len, 0);
	unsigned char *out = malloc((size_t)hlen + f->len);
	CHECK(out != NULL);
	ws_mask(plain, f->len, f->mask, 0);     /* unmask (a no-op when unmasked) */
	CHECK(ws_frame_encode(out, (size_t)hlen + f->len, f->fin, f->opcode, plain,
	                      f->len, mask) == (size_t)hlen + f->len);
	CHECK(memcmp(out, s, (size_t)hlen + f->len) == 0);
	CHECK(ws_frame_encode(out, (size_t)hlen + f->len - 1, f->fin, f->opcode,
	                      plain, f->len, mask) == 0);
	free(out);
	free(plain);
}

/* A close the peer sent, rebuilt with ws_close_payload() and
 * ws_frame_encode() and read back by a fresh reader: the same code and
 * reason (a reason with a NUL inside cannot pass through the C string). */
static void check_close_round_trip(int code, const unsigned char *reason,
                                   size_t len, int need_mask)
{
	static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char payload[WS_CONTROL_MAX], frame[WS_HEADER_MAX + WS_CONTROL_MAX];
	char *text = fuzz_copy(reason, len, 1);
	struct ws_reader r;
	struct ws_event ev;
	size_t n, flen;

	if (strlen(text) == len) {
		n = ws_close_payload(payload, code, text);
		CHECK(n == 2 + len);
		flen = ws_frame_encode(frame, sizeof frame, 1, WS_OP_CLOSE, payload, n,
		                       need_mask ? key : NULL);
		CHECK(flen > 0);
		ws_reader_init(&r, need_mask);
		CHECK(ws_reader_feed(&r, frame, flen, &ev) == flen);
		CHECK(ev.type == WS_EV_CLOSE && ev.code == code && ev.len == len);
		CHECK(memcmp(ev.data, text, len) == 0);
		ws_reader_free(&r);
	}
	/* A reason too long for a control frame is cut to fit (§5.5). */
	char long_reason[WS_CONTROL_MAX + 8];
	memset(long_reason, 'x', sizeof long_reason - 1);
	long_reason[sizeof long_reason - 1] = '\0';
	CHECK(ws_close_payload(payload, code, long_reason) == WS_CONTROL_MAX);
	free(text);
}

/*
 * The second reader: the whole stream, frame by frame, written from §5.4
 * (fragmentation), §5.5 (control frames) and §8.1 (UTF-8, failing at the
 * first byte that cannot be part of valid text).
 */
static void run_plain_reader(const uint8_t *in, size_t len, int need_mask,
                             struct log *lg)
{
	unsigned char *s = (unsigned char *)fuzz_copy(in, len, 0);
	unsigned char *msg = malloc(WS_MESSAGE_MAX);
	size_t pos = 0, msg_len = 0;
	int msg_op = 0;
	struct utf8_state u;

	CHECK(msg != NULL);
	for (;;) {
		struct ws_frame f;
		int code, hlen = ws_frame_parse_header(s + pos, len - pos, need_mask,
		                                       &f, &code);
		size_t avail;

		if (hlen == -2)
			break;
		if (hlen == -1) {
			CHECK(code == WS_CLOSE_PROTOCOL || code == WS_CLOSE_TOO_BIG);
			log_add(lg, WS_EV_ERROR, 0, code, NULL, 0);
			break;
		}
		CHECK(hlen >= 2 && hlen <= WS_HEADER_MAX && (size_t)hlen <= len - pos);
		CHECK(f.rsv == 0 && f.masked == need_mask && f.len <= WS_MESSAGE_MAX);
		check_reencode(s + pos, len - pos, hlen, &f);
		avail = len - pos - (size_t)hlen;
		unsigned char *p = s + pos + hlen;

		if (f.opcode & 0x8) {
			CHECK(f.fin && f.len <= WS_CONTROL_MAX);
			if (avail < f.len)
				break;
			ws_mask(p, f.len, f.mask, 0);
			pos += (size_t)hlen + f.len;
			if (f.opcode == WS_OP_PING || f.opcode == WS_OP_PONG) {
				log_add(lg, f.opcode == WS_OP_PING ? WS_EV_PING : WS_EV_PONG,
				        0, 0, p, f.len);
				continue;
			}
			CHECK(f.opcode == WS_OP_CLOSE);
			if (f.len == 0) {
				log_add(lg, WS_EV_CLOSE, 0, WS_CLOSE_NO_STATUS, p, 0);
				continue;
			}
			code = p[0] << 8 | (f.len > 1 ? p[1] : 0);
			if (f.len == 1 || !ws_close_code_valid(code)) {
				log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_PROTOCOL, NULL, 0);
				break;
			}
			if (!utf8_valid((const char *)p + 2, f.len - 2)) {
				log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_BAD_DATA, NULL, 0);
				break;
			}
			log_add(lg, WS_EV_CLOSE, 0, code, p + 2, f.len - 2);
			check_close_round_trip(code, p + 2, f.len - 2, need_mask);
			continue;
		}
		if ((f.opcode == WS_OP_CONT) != (msg_op != 0)) {
			log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_PROTOCOL, NULL, 0);
			break;
		}
		if (f.opcode != WS_OP_CONT) {
			msg_op = f.opcode;
			msg_len = 0;
			utf8_init(&u);
		}
		if (msg_len + f.len > WS_MESSAGE_MAX) {
			log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_TOO_BIG, NULL, 0);
			break;
		}
		size_t n = avail < f.len ? avail : f.len;
		ws_mask(p, n, f.mask, 0);
		if (msg_op == WS_OP_TEXT && utf8_feed(&u, p, n) == UTF8_REJECT) {
			log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_BAD_DATA, NULL, 0);
			break;
		}
		memcpy(msg + msg_len, p, n);
		msg_len += n;
		if (n < f.len)
			break;
		pos += (size_t)hlen + f.len;
		if (!f.fin)
			continue;
		if (msg_op == WS_OP_TEXT && !utf8_complete(&u)) {
			log_add(lg, WS_EV_ERROR, 0, WS_CLOSE_BAD_DATA, NULL, 0);
			break;
		}
		log_add(lg, WS_EV_MESSAGE, msg_op, 0, msg, msg_len);
		msg_op = 0;
	}
	free(msg);
	free(s);
}

/*
 * The second way to read the input: as frames to build with
 * ws_frame_header(), so a short input can make a long stream (frames up to
 * 128 KiB, fragmented messages past WS_MESSAGE_MAX).  Each frame is a byte
 * (FIN, "long", opcode), its length (one byte, or two times two when long),
 * how many payload bytes come from the input (one byte), a masking key
 * (used when the reader needs one), then those bytes; the rest of the
 * payload is 'x' (valid UTF-8).  Returns the stream.
 */
#define BUILT_MAX (512 * 1024)

static uint8_t *build_stream(struct fuzz_in *in, int need_mask, size_t *len)
{
	uint8_t *s = malloc(BUILT_MAX);
	size_t n = 0;

	CHECK(s != NULL);
	for (int frames = 0; in->len > 0 && frames < 32; frames++) {
		unsigned b = fuzz_byte(in);
		size_t plen = b & 0x40 ? (fuzz_byte(in) << 8 | fuzz_byte(in)) * 2u
		                       : fuzz_byte(in);
		size_t lit = fuzz_byte(in);
		unsigned char key[4];
		for (int i = 0; i < 4; i++)
			key[i] = (unsigned char)fuzz_byte(in);
		if (n + WS_HEADER_MAX + plen > BUILT_MAX)
			break;
		n += ws_frame_header(s + n, (int)(b >> 7), (int)(b & 0x0F), plen,
		                     need_mask ? key : NULL);
		size_t take = plen < lit ? plen : lit;
		take = take < in->len ? take : in->len;
		memcpy(s + n, in->p, take);
		memset(s + n + take, 'x', plen - take);
		in->p += take;
		in->len -= take;
		if (need_mask)
			ws_mask(s + n, plen, key, 0);
		n += plen;
	}
	*len = n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	unsigned choice = fuzz_byte(&in);
	uint32_t seed = fuzz_byte(&in) << 8 | fuzz_byte(&in);
	int need_mask = choice & 1;
	unsigned mode = 1 + ((choice >> 1) & 0x3F) % 3;
	static struct log whole, chunked, plain;
	uint8_t *built = NULL;
	const uint8_t *stream = in.p;
	size_t len = in.len;

	if (choice & 0x80) {
		built = build_stream(&in, need_mask, &len);
		stream = built;
		if (len > 16384)
			mode = 3;    /* byte by byte would take too long per run */
	}
	run_reader(stream, len, need_mask, 0, seed, &whole);
	run_reader(stream, len, need_mask, mode, seed, &chunked);
	run_plain_reader(stream, len, need_mask, &plain);
	log_same(&whole, &chunked);
	log_same(&whole, &plain);
	log_free(&whole);
	log_free(&chunked);
	log_free(&plain);
	free(built);
	return 0;
}
