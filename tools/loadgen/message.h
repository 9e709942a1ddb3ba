/*
 * message.h — what loadgen puts in a message and finds again, with no I/O.
 *
 * Every message text is "<tag><seq>.<usec>." plus padding, where the tag
 * is "lg.<run>." (unique per run), seq numbers the message (the store's id is
 * not known to the publisher until its POST returns, which can be after a
 * subscriber already has it) and usec is the publisher's CLOCK_REALTIME when
 * it started sending.  Any server that relays the text (rtlab's JSON, nchan's
 * raw body) hands the marker back, whatever it wraps around it.
 */
#ifndef LOADGEN_MESSAGE_H
#define LOADGEN_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

struct message_mark {
	long long seq;                 /* -1: a tag without a valid seq/usec after it */
	uint64_t usec;
};

/* Writes the text of message seq stamped usec, padded with 'x' to size bytes
 * (never more than cap - 1), NUL-terminated.  Returns its length. */
int message_format(char *text, size_t cap, const char *tag, long long seq,
                   uint64_t usec, int size);

/*
 * Finds the next marker in buf[0..len).  Returns the bytes consumed up to
 * the end of what was read (> 0) and fills *m (m->seq -1 if the tag was not
 * followed by "<digits>.<digits>"), or -2 when buf holds no further tag.
 */
long message_scan(const char *buf, size_t len, const char *tag,
                  struct message_mark *m);

/* The value of the first "key":<integer> in buf[0..len) (a poll answer's
 * last_id, a WebSocket message's id), or -1 if absent or not a number. */
long long message_json_int(const char *buf, size_t len, const char *key);

#endif
