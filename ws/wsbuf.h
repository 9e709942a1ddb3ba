/*
 * wsbuf.h — bytes ready to send, shared: a message is encoded into one frame
 * and every subscriber's output queue holds a reference to it, instead of a
 * copy.  A fan-out to 10,000 clients is one malloc, not 10,000.
 */
#ifndef RTLAB_WS_WSBUF_H
#define RTLAB_WS_WSBUF_H

#include <stddef.h>
#include <stdint.h>

struct wsbuf {
	unsigned refs;
	size_t len;
	/*
	 * "Latest wins" (docs/scenarios.md): nonzero for a message whose event
	 * msg_event_latest_wins() names, a hash of (event, user).  A queued,
	 * unstarted frame with the same key is dropped when this one is queued
	 * (conn_send).  0: every frame is delivered.
	 */
	uint64_t latest_key;
	unsigned char data[];
};

struct wsbuf *wsbuf_new(size_t len);                     /* refs = 1 */
/* One unmasked server frame (RFC 6455 §5.1) holding payload; refs = 1. */
struct wsbuf *wsbuf_frame(int opcode, const void *payload, size_t len);
struct wsbuf *wsbuf_ref(struct wsbuf *b);
void wsbuf_unref(struct wsbuf *b);                       /* accepts NULL */

#endif
