/*
 * wsbuf.c — reference-counted output buffers (see wsbuf.h).
 */
#include "wsbuf.h"

#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

struct wsbuf *wsbuf_new(size_t len)
{
	struct wsbuf *b = malloc(sizeof *b + len);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	b->latest_key = 0;
	return b;
}

struct wsbuf *wsbuf_frame(int opcode, const void *payload, size_t len)
{
	struct wsbuf *b = wsbuf_new(WS_HEADER_MAX + len);

	if (!b)
		return NULL;
	b->len = ws_frame_header(b->data, 1, opcode, len, NULL);
	if (len)
		memcpy(b->data + b->len, payload, len);
	b->len += len;
	return b;
}

struct wsbuf *wsbuf_ref(struct wsbuf *b)
{
	b->refs++;
	return b;
}

void wsbuf_unref(struct wsbuf *b)
{
	if (b && --b->refs == 0)
		free(b);
}
