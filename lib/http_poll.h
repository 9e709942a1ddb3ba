/*
 * http_poll.h — the poll answer, shared by poll and long-poll (I/O layer:
 * reads the store).
 *
 * docs/protocol.md "Cursors" (docs/polling.md):
 *  - since above the store's newest id: no messages, reset = 1, last_id =
 *    the newest id (the store was recreated; start again from there);
 *  - since given: the first `limit` messages of the channel with id > since;
 *  - no since: the channel's last `limit` messages;
 *  - last_id: the last message's id, or, with no messages, the store's newest
 *    id read *before* the messages, so it is always safe as the next since.
 * http_poll_read() returns 0, or -1 if the store failed (answer 503).
 * http_poll_json() builds {"messages":[...],"last_id":N[,"reset":true]}
 * from the messages' ready-made JSON (malloc'd, caller frees; NULL when out
 * of memory).  Free the answer with http_poll_free() (accepts NULL).
 *
 * Unit-tested in tests/unit/check_http_poll.c.
 */
#ifndef RTLAB_HTTP_POLL_H
#define RTLAB_HTTP_POLL_H

#include <stddef.h>
#include <stdint.h>

#include "http_query.h"
#include "store.h"

struct http_poll {
	struct store_msgs msgs;
	int64_t last_id;
	int reset;
};

int http_poll_read(struct store *st, const struct http_cursor *c,
                   struct http_poll *p);
char *http_poll_json(const struct http_poll *p, size_t *len);
void http_poll_free(struct http_poll *p);

#endif
