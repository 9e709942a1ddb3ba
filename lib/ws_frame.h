/*
 * ws_frame.h — WebSocket framing (RFC 6455 §5), with no I/O.
 *
 * A frame on the wire (§5.2):
 *
 *    0               1               2               3
 *    0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
 *   +-+-+-+-+-------+-+-------------+-------------------------------+
 *   |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
 *   |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
 *   |N|V|V|V|       |S|             |   (if payload len==126/127)   |
 *   | |1|2|3|       |K|             |                               |
 *   +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
 *   |     Extended payload length continued, if payload len == 127  |
 *   + - - - - - - - - - - - - - - - +-------------------------------+
 *   |                               |Masking-key, if MASK set to 1  |
 *   +-------------------------------+-------------------------------+
 *   | Masking-key (continued)       |          Payload Data         |
 *   +-------------------------------- - - - - - - - - - - - - - - - +
 *
 * Three layers, each usable alone:
 *  - ws_frame_parse_header(): one frame header from a buffer; it returns
 *    the bytes consumed, -2 "need more" or -1 "malformed" (with the close
 *    code to send).
 *  - ws_frame_header() / ws_frame_encode() / ws_close_payload(): the encoders.
 *  - struct ws_reader: the receiving side of one connection.  Feed it bytes as
 *    they arrive; it checks every rule of §5 (masking, reserved bits, opcodes,
 *    control frames, fragmentation with interleaved control frames, close
 *    codes), assembles messages up to WS_MESSAGE_MAX and validates text as it
 *    arrives, failing fast on UTF-8 (§8.1) — even inside a frame that has not
 *    fully arrived.
 *
 * Pure layer (lib/README.md): no FastCGI, no store, no socket.
 */
#ifndef RTLAB_WS_FRAME_H
#define RTLAB_WS_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "utf8.h"

enum ws_opcode {
	WS_OP_CONT = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xA
};

/* Close codes we send or check (§7.4.1). */
enum ws_close_code {
	WS_CLOSE_NORMAL      = 1000,
	WS_CLOSE_GOING_AWAY  = 1001,  /* the helper shuts down */
	WS_CLOSE_PROTOCOL    = 1002,
	WS_CLOSE_NO_STATUS   = 1005,  /* never on the wire: a close without a code */
	WS_CLOSE_BAD_DATA    = 1007,  /* invalid UTF-8 in a text message */
	WS_CLOSE_POLICY      = 1008,  /* not our JSON, or a client too slow */
	WS_CLOSE_TOO_BIG     = 1009,
	WS_CLOSE_INTERNAL    = 1011,
	WS_CLOSE_SERVICE_RESTART = 1012  /* IANA registry: the store was recreated */
};

#define WS_CONTROL_MAX  125          /* §5.5: control payloads */
#define WS_MESSAGE_MAX  (64 * 1024)  /* protocol.md: a bigger message closes with 1009 */
#define WS_HEADER_MAX   14           /* 2 + 8 (64-bit length) + 4 (mask) */

struct ws_frame {
	int fin;                  /* 1 on the last frame of a message */
	int rsv;                  /* RSV1..3 as bits 4..6 of byte 0; 0 without extensions */
	int opcode;
	int masked;
	unsigned char mask[4];
	uint64_t len;             /* payload length; the payload follows the header */
};

/*
 * Parses the header of one frame at buf.  need_mask: 1 on a server, where
 * every client frame must be masked (§5.1), 0 on a client.  Checks what the
 * header alone shows: reserved bits and unknown opcodes (1002), fragmented or
 * over-long control frames (1002, §5.5), a 64-bit length with its top bit set
 * (1002), a payload over WS_MESSAGE_MAX (1009).  Returns the header length,
 * -2 if buf holds less than a whole header, or -1 with *close_code set.
 */
int ws_frame_parse_header(const unsigned char *buf, size_t len, int need_mask,
                          struct ws_frame *f, int *close_code);

/*
 * XORs len bytes with the masking key (§5.3); offset is how many payload
 * bytes came before these, so a payload can be unmasked in pieces.  Masking
 * twice unmasks.
 */
void ws_mask(unsigned char *p, size_t len, const unsigned char mask[4],
             uint64_t offset);

/*
 * Writes a frame header into out (at least WS_HEADER_MAX bytes) with the
 * shortest length encoding; mask NULL for a server frame.  Returns its length.
 */
size_t ws_frame_header(unsigned char *out, int fin, int opcode, uint64_t len,
                       const unsigned char *mask);

/*
 * A whole frame (header + payload, masked if mask is not NULL) into out.
 * Returns its length, or 0 if cap is too small.
 */
size_t ws_frame_encode(unsigned char *out, size_t cap, int fin, int opcode,
                       const void *payload, size_t len,
                       const unsigned char *mask);

/* The payload of a close frame: the code in network order, then reason
 * (truncated so the payload stays ≤ 125 bytes).  Returns its length. */
size_t ws_close_payload(unsigned char out[WS_CONTROL_MAX], int code,
                        const char *reason);

/* 1 if code may appear in a close frame (§7.4, IANA registry), else 0. */
int ws_close_code_valid(int code);

/* ---- the receiving side of one connection ------------------------------ */

enum ws_event_type {
	WS_EV_NONE = 0,   /* need more bytes */
	WS_EV_MESSAGE,    /* a complete text or binary message */
	WS_EV_PING,
	WS_EV_PONG,
	WS_EV_CLOSE,      /* the peer's close frame, valid */
	WS_EV_ERROR       /* the stream is broken: close with ev->code */
};

struct ws_event {
	enum ws_event_type type;
	int opcode;               /* MESSAGE: WS_OP_TEXT or WS_OP_BINARY */
	const unsigned char *data;/* MESSAGE: the reader's buffer; PING/PONG/CLOSE
	                             (reason): the caller's buffer.  Borrowed until
	                             the next ws_reader_feed() */
	size_t len;
	int code;                 /* CLOSE: the peer's code (1005 if none); ERROR:
	                             the code to close with */
	const char *why;          /* ERROR: a static sentence for the log */
};

struct ws_reader {
	int need_mask;
	/* the data frame whose payload is arriving */
	int in_frame;
	struct ws_frame frame;
	uint64_t frame_got;
	/* the message being assembled (allocated only while one is) */
	int msg_opcode;           /* 0: no message in progress */
	unsigned char *msg;
	size_t msg_len, msg_cap;
	struct utf8_state utf8;
	int failed;
};

void ws_reader_init(struct ws_reader *r, int need_mask);
/* Frees the message buffer; the reader can be reused after ws_reader_init. */
void ws_reader_free(struct ws_reader *r);

/*
 * Consumes bytes from buf (unmasking them in place) and stops after at most
 * one event.  Returns the bytes consumed; with ev->type WS_EV_NONE the caller
 * must keep the unconsumed rest (at most WS_HEADER_MAX + WS_CONTROL_MAX
 * bytes: a partial header or control frame) and call again with more.  After
 * WS_EV_ERROR the reader refuses everything.
 */
size_t ws_reader_feed(struct ws_reader *r, unsigned char *buf, size_t len,
                      struct ws_event *ev);

#endif
