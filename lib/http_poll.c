/*
 * http_poll.c — the poll answer from the store (see http_poll.h).
 */
#include "http_poll.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pure layer's limits (msg.h, http_query.h) are the store's columns. */
_Static_assert(MSG_CHANNEL_MAX == STORE_CHANNEL_MAX, "channel length");
_Static_assert(MSG_USER_MAX == STORE_USER_MAX, "user length");
_Static_assert(MSG_TEXT_MAX == STORE_TEXT_MAX, "text length");
_Static_assert(HTTP_READ_MAX <= STORE_READ_MAX, "one read answers a cursor");

int http_poll_read(struct store *st, const struct http_cursor *c,
                   struct http_poll *p)
{
	int64_t newest;
	int rc;

	memset(p, 0, sizeof *p);
	/* The newest id first: any message committed after this read has a
	 * larger id, so answering it with an empty list never skips one. */
	if (store_last_id(st, &newest) < 0)
		return -1;
	if (c->has_since && c->since > newest) {
		p->reset = 1;
		p->last_id = newest;
		return 0;
	}
	if (c->has_since)
		rc = store_read_after(st, c->channel, c->since, c->limit, &p->msgs);
	else
		rc = store_read_last(st, c->channel, c->limit, &p->msgs);
	if (rc < 0)
		return -1;
	p->last_id = p->msgs.n > 0 ? p->msgs.v[p->msgs.n - 1].id : newest;
	return 0;
}

char *http_poll_json(const struct http_poll *p, size_t *len)
{
	static const char head[] = "{\"messages\":[";
	size_t cap = sizeof head + 64, n = 0;
	char *out;

	for (size_t i = 0; i < p->msgs.n; i++)
		cap += p->msgs.v[i].json_len + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	memcpy(out, head, sizeof head - 1);
	n = sizeof head - 1;
	/* Each message is already JSON from SQLite's json_object(): the list
	 * is only joined, nothing is escaped here. */
	for (size_t i = 0; i < p->msgs.n; i++) {
		if (i > 0)
			out[n++] = ',';
		memcpy(out + n, p->msgs.v[i].json, p->msgs.v[i].json_len);
		n += p->msgs.v[i].json_len;
	}
	n += (size_t)snprintf(out + n, cap - n, "],\"last_id\":%lld%s}",
	                      (long long)p->last_id, p->reset ? ",\"reset\":true" : "");
	*len = n;
	return out;
}

void http_poll_free(struct http_poll *p)
{
	if (p == NULL)
		return;
	store_msgs_free(&p->msgs);
}
