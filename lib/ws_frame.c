/*
 * ws_frame.c — WebSocket frames (RFC 6455 §5) parsed and built from buffers.
 * No I/O here: the helper's event loop (ws/) reads the socket and feeds the
 * bytes in; see ws_frame.h for the frame layout.
 */
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

static int is_control(int opcode) { return (opcode & 0x8) != 0; }

static int opcode_known(int opcode)
{
	switch (opcode) {
	case WS_OP_CONT: case WS_OP_TEXT: case WS_OP_BINARY:
	case WS_OP_CLOSE: case WS_OP_PING: case WS_OP_PONG:
		return 1;
	}
	return 0;  /* 0x3-0x7 and 0xB-0xF are reserved (§5.2) */
}

#define FAIL(code) do { *close_code = (code); return -1; } while (0)

int ws_frame_parse_header(const unsigned char *buf, size_t len, int need_mask,
                          struct ws_frame *f, int *close_code)
{
	size_t pos;

	if (len < 2)
		return -2;
	f->fin = buf[0] >> 7;
	f->rsv = buf[0] & 0x70;
	f->opcode = buf[0] & 0x0F;
	f->masked = buf[1] >> 7;
	f->len = buf[1] & 0x7F;

	/* Everything the first two bytes can show is checked before waiting for
	 * more, so a broken stream is refused at once. */
	if (f->rsv)                       /* §5.2: no extension was negotiated */
		FAIL(WS_CLOSE_PROTOCOL);
	if (!opcode_known(f->opcode))
		FAIL(WS_CLOSE_PROTOCOL);
	if (is_control(f->opcode) && (!f->fin || f->len > WS_CONTROL_MAX))
		FAIL(WS_CLOSE_PROTOCOL);  /* §5.5: ≤ 125 bytes, never fragmented */
	if (f->masked != (need_mask != 0))
		FAIL(WS_CLOSE_PROTOCOL);  /* §5.1: client frames masked, server frames not */

	pos = 2;
	if (f->len == 126) {
		if (len < 4)
			return -2;
		f->len = (uint64_t)buf[2] << 8 | buf[3];
		pos = 4;
	} else if (f->len == 127) {
		if (len < 10)
			return -2;
		if (buf[2] & 0x80)        /* §5.2: the most significant bit MUST be 0 */
			FAIL(WS_CLOSE_PROTOCOL);
		f->len = 0;
		for (int i = 0; i < 8; i++)
			f->len = f->len << 8 | buf[2 + i];
		pos = 10;
	}
	if (f->len > WS_MESSAGE_MAX)
		FAIL(WS_CLOSE_TOO_BIG);

	if (f->masked) {
		if (len < pos + 4)
			return -2;
		memcpy(f->mask, buf + pos, 4);
		pos += 4;
	} else {
		memset(f->mask, 0, 4);
	}
	return (int)pos;
}

void ws_mask(unsigned char *p, size_t len, const unsigned char mask[4],
             uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		p[i] ^= mask[(offset + i) & 3];
}

size_t ws_frame_header(unsigned char *out, int fin, int opcode, uint64_t len,
                       const unsigned char *mask)
{
	size_t pos;

	out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0F));
	if (len < 126) {
		out[1] = (unsigned char)len;
		pos = 2;
	} else if (len <= 0xFFFF) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		pos = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
		pos = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + pos, mask, 4);
		pos += 4;
	}
	return pos;
}

size_t ws_frame_encode(unsigned char *out, size_t cap, int fin, int opcode,
                       const void *payload, size_t len,
                       const unsigned char *mask)
{
	unsigned char hdr[WS_HEADER_MAX];
	size_t hlen = ws_frame_header(hdr, fin, opcode, len, mask);

	if (cap < hlen || cap - hlen < len)
		return 0;
	memcpy(out, hdr, hlen);
	if (len)
		memcpy(out + hlen, payload, len);
	if (mask)
		ws_mask(out + hlen, len, mask, 0);
	return hlen + len;
}

size_t ws_close_payload(unsigned char out[WS_CONTROL_MAX], int code,
                        const char *reason)
{
	size_t rlen = reason ? strlen(reason) : 0;

	if (rlen > WS_CONTROL_MAX - 2)
		rlen = WS_CONTROL_MAX - 2;
	out[0] = (unsigned char)(code >> 8);
	out[1] = (unsigned char)code;
	if (rlen)
		memcpy(out + 2, reason, rlen);
	return 2 + rlen;
}

int ws_close_code_valid(int code)
{
	/* §7.4.1 defines 1000-1011; 1004 is reserved, 1005/1006/1015 must never
	 * be sent.  IANA later registered 1012-1014.  3000-4999 belong to
	 * libraries and applications (§7.4.2); anything else is a protocol error. */
	if (code >= 1000 && code <= 1014)
		return code != 1004 && code != 1005 && code != 1006;
	return code >= 3000 && code <= 4999;
}

/* ---- the receiving side ------------------------------------------------- */

void ws_reader_init(struct ws_reader *r, int need_mask)
{
	memset(r, 0, sizeof *r);
	r->need_mask = need_mask;
}

void ws_reader_free(struct ws_reader *r)
{
	if (!r)
		return;
	free(r->msg);
	r->msg = NULL;
	r->msg_len = r->msg_cap = 0;
}

static size_t fail(struct ws_reader *r, struct ws_event *ev, size_t consumed,
                   int code, const char *why)
{
	r->failed = 1;
	ev->type = WS_EV_ERROR;
	ev->data = NULL;
	ev->len = 0;
	ev->code = code;
	ev->why = why;
	return consumed;
}

/* Room for n more payload bytes, never more than WS_MESSAGE_MAX in all. */
static int msg_reserve(struct ws_reader *r, size_t n)
{
	size_t need = r->msg_len + n, cap = r->msg_cap ? r->msg_cap : 256;
	unsigned char *p;

	if (need <= r->msg_cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > WS_MESSAGE_MAX)
		cap = WS_MESSAGE_MAX;
	p = realloc(r->msg, cap);
	if (!p)
		return -1;
	r->msg = p;
	r->msg_cap = cap;
	return 0;
}

/* A control frame whose payload (unmasked) is all in payload: ping, pong
 * or close (§5.5). */
static void control_event(const struct ws_frame *f, const unsigned char *payload,
                          struct ws_event *ev)
{
	ev->data = payload;
	ev->len = f->len;
	if (f->opcode == WS_OP_PING) {
		ev->type = WS_EV_PING;
		return;
	}
	if (f->opcode == WS_OP_PONG) {
		ev->type = WS_EV_PONG;
		return;
	}
	/* §5.5.1: a close body is empty, or a 2-byte code then UTF-8 reason. */
	ev->type = WS_EV_CLOSE;
	ev->code = WS_CLOSE_NO_STATUS;
	if (f->len < 2)
		return;   /* a 1-byte body is refused by the caller */
	ev->code = payload[0] << 8 | payload[1];
	ev->data = payload + 2;
	ev->len = f->len - 2;
}

size_t ws_reader_feed(struct ws_reader *r, unsigned char *buf, size_t len,
                      struct ws_event *ev)
{
	size_t used = 0;

	memset(ev, 0, sizeof *ev);
	if (r->failed)
		return fail(r, ev, 0, WS_CLOSE_PROTOCOL, "stream already failed");
	if (r->msg_opcode == 0 && r->msg)
		ws_reader_free(r);  /* the last message was handed out: drop its buffer */

	for (;;) {
		struct ws_frame f;
		int code;

		if (r->in_frame) {
			/* Payload of a data frame: take what has arrived, unmask it,
			 * validate text now (fail fast, §8.1), append it. */
			uint64_t left = r->frame.len - r->frame_got;
			size_t n = len - used < left ? len - used : (size_t)left;
			unsigned char *p = buf + used;

			if (left > 0 && n == 0)
				break;
			/* The buffer grows with the bytes that arrived, not with
			 * the length the header declares: a header claiming 64 KiB
			 * costs nothing until the bytes come. */
			if (n && msg_reserve(r, n) < 0)
				return fail(r, ev, used, WS_CLOSE_INTERNAL, "out of memory");
			ws_mask(p, n, r->frame.mask, r->frame_got);
			if (r->msg_opcode == WS_OP_TEXT &&
			    utf8_feed(&r->utf8, p, n) == UTF8_REJECT)
				return fail(r, ev, used + n, WS_CLOSE_BAD_DATA,
				            "invalid UTF-8 in a text message");
			if (n)
				memcpy(r->msg + r->msg_len, p, n);
			r->msg_len += n;
			r->frame_got += n;
			used += n;
			if (r->frame_got < r->frame.len)
				break;
			r->in_frame = 0;
			if (!r->frame.fin)
				continue;
			if (r->msg_opcode == WS_OP_TEXT && !utf8_complete(&r->utf8))
				return fail(r, ev, used, WS_CLOSE_BAD_DATA,
				            "text message ends inside a UTF-8 sequence");
			ev->type = WS_EV_MESSAGE;
			ev->opcode = r->msg_opcode;
			ev->data = r->msg ? r->msg : (const unsigned char *)"";
			ev->len = r->msg_len;
			r->msg_opcode = 0;
			return used;
		}

		if (used == len)
			break;
		int hlen = ws_frame_parse_header(buf + used, len - used,
		                                 r->need_mask, &f, &code);
		if (hlen == -2)
			break;
		if (hlen < 0)
			return fail(r, ev, used, code,
			            code == WS_CLOSE_TOO_BIG ? "frame over 64 KiB"
			                                     : "malformed frame header");

		if (is_control(f.opcode)) {
			/* Control frames may arrive between the fragments of a
			 * message (§5.4); they are small, so wait for all of one. */
			if (len - used - (size_t)hlen < f.len)
				break;
			unsigned char *payload = buf + used + hlen;
			ws_mask(payload, (size_t)f.len, f.mask, 0);
			used += (size_t)hlen + (size_t)f.len;
			control_event(&f, payload, ev);
			if (ev->type == WS_EV_CLOSE) {
				if (f.len == 1)
					return fail(r, ev, used, WS_CLOSE_PROTOCOL,
					            "close payload of one byte");
				if (f.len >= 2 && !ws_close_code_valid(ev->code))
					return fail(r, ev, used, WS_CLOSE_PROTOCOL,
					            "invalid close code");
				if (!utf8_valid((const char *)ev->data, ev->len))
					return fail(r, ev, used, WS_CLOSE_BAD_DATA,
					            "close reason is not UTF-8");
			}
			return used;
		}

		/* A data frame starts: it must fit the fragmentation rules (§5.4)
		 * and the message size limit. */
		if (f.opcode == WS_OP_CONT && r->msg_opcode == 0)
			return fail(r, ev, used, WS_CLOSE_PROTOCOL,
			            "continuation frame without a message");
		if (f.opcode != WS_OP_CONT && r->msg_opcode != 0)
			return fail(r, ev, used, WS_CLOSE_PROTOCOL,
			            "new message inside a fragmented one");
		if (f.opcode != WS_OP_CONT) {
			r->msg_opcode = f.opcode;
			r->msg_len = 0;
			utf8_init(&r->utf8);
		}
		if (f.len > WS_MESSAGE_MAX - r->msg_len)
			return fail(r, ev, used, WS_CLOSE_TOO_BIG, "message over 64 KiB");
		r->frame = f;
		r->frame_got = 0;
		r->in_frame = 1;
		used += (size_t)hlen;  /* its payload, even if empty, is taken above */
	}
	return used;
}
