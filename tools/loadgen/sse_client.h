/*
 * sse_client.h — the receiving side of an event stream (WHATWG HTML
 * §9.2.6, "Interpreting an event stream"), with no I/O: loadgen feeds the
 * body bytes of an SSE response and gets whole events back.
 *
 * Lines end in LF, CRLF or a lone CR.  "data:" lines are joined with LF,
 * "id:" sets the event's id, a blank line dispatches the event.  "event:",
 * "retry:" and ":" comments (heartbeats) change nothing loadgen measures
 * and are skipped.
 */
#ifndef LOADGEN_SSE_CLIENT_H
#define LOADGEN_SSE_CLIENT_H

#include <stddef.h>

#define SSE_CLIENT_LINE_MAX 16384   /* longest line we wait for */
#define SSE_CLIENT_DATA_MAX 8192    /* most data bytes of one event */

struct sse_client {
	char data[SSE_CLIENT_DATA_MAX];  /* data of the event being read */
	size_t data_len;
	int has_data;                  /* a data: field was seen (even empty) */
	long long id;                  /* id: of the event being read, -1 none */
	int cr;                        /* the last line ended in CR: skip one LF */
};

struct sse_client_event {
	const char *data;              /* into the sse_client: valid until the next call */
	size_t len;
	long long id;                  /* -1: the event had no numeric id: */
};

void sse_client_init(struct sse_client *s);

/*
 * Reads one line from buf[0..len).  Returns the bytes consumed (> 0),
 * -2 when buf holds no whole line yet (keep it and read more), -1 when a
 * line or an event's data is longer than the limits above.  When the line
 * was the blank line that ends an event, *dispatched is 1 and *ev holds it;
 * otherwise *dispatched is 0.
 */
long sse_client_parse(struct sse_client *s, const char *buf, size_t len,
                      struct sse_client_event *ev, int *dispatched);

#endif
