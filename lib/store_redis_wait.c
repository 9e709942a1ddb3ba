/*
 * store_redis_wait.c — the Redis store's change wait: SUBSCRIBE on a second
 * connection (the struct it shares with lib/store_redis.c and
 * lib/store_redis_msg.c is in lib/store_redis.h).
 *
 * The second connection is subscribed (SUBSCRIBE) to one pub/sub channel
 * "rt:<db>:n:<name>" per watched message channel; the insert script
 * PUBLISHes the new id there (https://redis.io/docs/interact/pubsub/).  Its
 * socket is the fd the caller polls; a commit on another channel is not sent
 * to it at all.
 *
 * A broken connection (-1) and ids that went back (STORE_WAIT_RESET: the
 * store was emptied) are reported by every check until the caller reopens
 * the store.
 */
#include "store_redis.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct redis_watch *find_watch(struct redis_store *st, const char *channel)
{
	for (size_t i = 0; i < st->nw; i++)
		if (strcmp(st->w[i].channel, channel) == 0)
			return &st->w[i];
	return NULL;
}

/*
 * A pub/sub push: a "message" on a watched channel is news.  Redis pushes to
 * one connection in the order it ran the inserts, and each insert's id comes
 * from the one sequence in the same script: the ids pushed to us only grow.
 * One that goes back means rt:seq started again — the store was emptied
 * (FLUSHDB, or a Redis restarted without its AOF) under us: a reset, as for
 * a recreated SQLite file.
 */
static void take_push(struct redis_store *st, redisReply *r)
{
	char note[KEY_MAX];
	int64_t id;

	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "message") == 0) {
		id = strtoll(r->element[2]->str, NULL, 10);
		if (id <= st->pushed)
			st->replaced = 1;
		st->pushed = id;
		for (size_t i = 0; i < st->nw; i++) {
			store_redis_notify_channel(st, note, sizeof note, st->w[i].channel);
			if (strcmp(note, r->element[1]->str) == 0)
				st->pending = 1;
		}
	}
	freeReplyObject(r);
}

/* Every push already read into hiredis's buffer. */
static void take_buffered(struct redis_store *st)
{
	void *r;

	while (redisGetReplyFromReader(st->sub, &r) == REDIS_OK && r != NULL)
		take_push(st, r);
	if (st->sub->err)
		st->broken = 1;
}

static int sub_open(struct redis_store *st)
{
	if (st->sub == NULL && !st->broken && (st->sub = store_redis_connect(st)) == NULL)
		st->broken = 1;
	return st->broken ? -1 : 0;
}

/* SUBSCRIBE, then wait for Redis to confirm it: from then on every commit on
 * the channel is pushed to us.  Pushes that come first are taken as news. */
static int subscribe(struct redis_store *st, const char *channel)
{
	char note[KEY_MAX];
	redisReply *r;

	store_redis_notify_channel(st, note, sizeof note, channel);
	if (sub_open(st) < 0 || redisAppendCommand(st->sub, "SUBSCRIBE %s", note) != REDIS_OK)
		goto fail;
	for (;;) {
		if (redisGetReply(st->sub, (void **)&r) != REDIS_OK || r == NULL)
			goto fail;
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "subscribe") == 0 &&
		    strcmp(r->element[1]->str, note) == 0) {
			freeReplyObject(r);
			break;
		}
		take_push(st, r);
	}
	take_buffered(st);
	return st->broken ? -1 : 0;
fail:
	st->broken = 1;
	return -1;
}

/*
 * The race between the caller's read and the subscription: a commit in
 * between would be pushed to nobody.  So subscribe first (confirmed), then
 * ask for the channel's newest id: above the caller's cursor means news now.
 */
int store_redis_watch(struct store *base, const char *channel, int64_t after)
{
	struct redis_store *st = rd(base);
	struct redis_watch *w = find_watch(st, channel);
	int64_t newest;

	if (w == NULL) {
		if (st->nw == st->wcap) {
			size_t ncap = st->wcap ? st->wcap * 2 : 4;
			struct redis_watch *nv = realloc(st->w, ncap * sizeof *nv);
			if (nv == NULL)
				return -1;
			st->w = nv;
			st->wcap = ncap;
		}
		if (subscribe(st, channel) < 0)
			return -1;
		w = &st->w[st->nw++];
		snprintf(w->channel, sizeof w->channel, "%s", channel);
		w->refs = 0;
	}
	w->refs++;
	if ((newest = store_redis_channel_newest(st, channel)) < 0)
		return -1;
	if (newest > after)
		st->pending = 1;
	return 0;
}

void store_redis_unwatch(struct store *base, const char *channel)
{
	struct redis_store *st = rd(base);
	struct redis_watch *w = find_watch(st, channel);
	char note[KEY_MAX];
	int done = 0;

	if (w == NULL || --w->refs > 0)
		return;
	*w = st->w[--st->nw];
	if (st->sub == NULL || st->broken)
		return;
	/* No need to wait for the confirmation: pushes for a channel we no
	 * longer watch are read and dropped like any other. */
	store_redis_notify_channel(st, note, sizeof note, channel);
	if (redisAppendCommand(st->sub, "UNSUBSCRIBE %s", note) != REDIS_OK)
		st->broken = 1;
	while (!st->broken && !done)
		if (redisBufferWrite(st->sub, &done) != REDIS_OK)
			st->broken = 1;
}

int store_redis_wait_fd(struct store *base)
{
	struct redis_store *st = rd(base);

	return sub_open(st) < 0 ? -1 : st->sub->fd;
}

/* A broken store is reported by every check (-1) until the caller reopens
 * it; a caller that only retries now and then (the threaded hub of
 * lib/http_hub.c) must not be told to look again at once, or it spins. */
#define BROKEN_RECHECK_MS 1000

int store_redis_wait_next_ms(struct store *base)
{
	struct redis_store *st = rd(base);

	if (st->pending || st->replaced)
		return 0;
	return st->broken ? BROKEN_RECHECK_MS : -1;
}

/* Reads what the subscription pushed (one read(2) when the fd is readable). */
int store_redis_wait_check(struct store *base)
{
	struct redis_store *st = rd(base);
	struct pollfd pfd;

	if (!st->broken && st->sub != NULL) {
		pfd = (struct pollfd){ .fd = st->sub->fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) > 0) {
			if (redisBufferRead(st->sub) != REDIS_OK)
				st->broken = 1;     /* Redis closed the connection */
			else
				take_buffered(st);
		}
	}
	if (st->broken)
		return -1;
	if (st->replaced)
		return STORE_WAIT_RESET;
	if (st->pending) {
		st->pending = 0;
		return STORE_WAIT_CHANGE;
	}
	return 0;
}

int store_redis_wait_end(struct store *base)
{
	if (rd(base)->replaced)
		return STORE_WAIT_RESET;
	return store_redis_replaced(base) ? -1 : 0;
}
