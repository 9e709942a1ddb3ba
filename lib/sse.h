/*
 * sse.h — the Server-Sent Events wire format, with no I/O.
 *
 * An event stream is UTF-8 text made of blocks separated by a blank line
 * (WHATWG HTML, "9.2.6 Interpreting an event stream"):
 *
 *   retry: 2000            reconnection time the client should use, in ms
 *
 *   id: 42                 becomes the client's Last-Event-ID on reconnect
 *   event: message         the event type (addEventListener('message', …))
 *   data: {"id":42,...}    one or more data lines, joined with "\n"
 *                          (blank line ends the event)
 *   : heartbeat            a comment: ignored by clients, keeps proxies and
 *                          the server's own write path honest
 *
 * Each field ends at the first CR, LF or CRLF, so a payload that contains
 * any of them must be split into several "data:" lines; the client joins
 * them back with LF (so a lone CR or a CRLF in the payload arrives as LF —
 * that is the format, not a loss we can avoid; rtlab's payloads are JSON
 * from SQLite's json_object(), which escapes CR and LF, so they never
 * contain one).
 *
 * These functions only format into the caller's buffer; cgi-bin/sse.c writes
 * the bytes out and flushes.  Each returns the number of bytes written (no
 * NUL is added), or -1 if buf is too small or an argument cannot be encoded
 * (a field name or event type containing CR or LF).
 *
 * Pure layer (lib/README.md): no FastCGI, no store.
 */
#ifndef RTLAB_SSE_H
#define RTLAB_SSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The most bytes sse_format_event() can need for an event type of
 * event_len bytes and a payload of data_len bytes (every payload byte a line
 * break, each one becoming "\ndata: ").
 */
size_t sse_event_max(size_t event_len, size_t data_len);

/*
 * "id: <id>\nevent: <event>\ndata: <line>\n...\n\n".  id < 0 omits the id
 * line; event NULL omits the event line (the client then calls it
 * "message").  data is split on CR, LF and CRLF into one "data:" line each;
 * an empty payload gives one empty "data:" line (so the event is still
 * dispatched).
 */
long sse_format_event(char *buf, size_t buflen, int64_t id, const char *event,
                      const char *data, size_t data_len);

/* ": <text>\n\n" — a comment, e.g. the heartbeat.  text must not hold CR/LF. */
long sse_format_comment(char *buf, size_t buflen, const char *text);

/* "retry: <ms>\n\n".  ms must be ≥ 0. */
long sse_format_retry(char *buf, size_t buflen, long ms);

#endif
