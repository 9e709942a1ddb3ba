/*
 * store_redis_msg.c — the Redis store's messages: insert, the reads after a
 * cursor and of the newest, and each message's JSON (the layout of the keys
 * and the Lua scripts are at the top of lib/store_redis.c; the struct is in
 * lib/store_redis.h).
 *
 * Messages as JSON: built by SQLite's json_object() on a private :memory:
 * connection from the stored fields, with the SQLite backend's own
 * expression (STORE_ROW_COLUMNS): the bytes a client gets are the same
 * whichever backend stored the message.
 *
 * A read is one XRANGE or XREVRANGE on the channel's stream (one script on
 * rt:all for every channel); an insert is one script, and now and then
 * (every PRUNE_EVERY inserts, with RT_MAX_AGE) one more for age retention.
 */
#include "store_redis.h"
#include "clock.h"      /* clock_wall_ms: a message's ts */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRUNE_EVERY        64     /* age retention every N inserts */
#define INDEX_KEEP         100000 /* entries kept in rt:all (see docs/scaling.md) */

static const redisReply *field(const redisReply *f, const char *name)
{
	for (size_t i = 0; i + 1 < f->elements; i += 2)
		if (f->element[i]->type == REDIS_REPLY_STRING && strcmp(f->element[i]->str, name) == 0)
			return f->element[i + 1];
	return NULL;
}

/* The message as JSON (STORE_ROW_COLUMNS on the :memory: connection) into m. */
static int make_msg(struct redis_store *st, struct store_msg *m, int64_t id,
                    const char *channel, const char *event, const char *user,
                    const char *text, size_t text_len, int64_t ts, const char *via)
{
	sqlite3_stmt *q = st->json_q;
	int rc = -1;

	memset(m, 0, sizeof *m);
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, event, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 5, text, (int)text_len, SQLITE_STATIC);
	sqlite3_bind_int64(q, 6, ts);
	sqlite3_bind_text(q, 7, via, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW)
		rc = store_msg_fill(m, id, channel, event, user,
		                    (const char *)sqlite3_column_text(q, 4),
		                    (size_t)sqlite3_column_bytes(q, 4));
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc;
}

/* One stream entry [id, [field, value, ...]] into m. */
static int entry_to_msg(struct redis_store *st, const redisReply *e, struct store_msg *m)
{
	const redisReply *f, *c, *ev, *u, *t, *ts, *v;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	f = e->element[1];
	c = field(f, "c"), ev = field(f, "e"), u = field(f, "u");
	t = field(f, "t"), ts = field(f, "ts"), v = field(f, "v");
	if (!c || !ev || !u || !t || !ts || !v)
		return -1;
	return make_msg(st, m, strtoll(e->element[0]->str, NULL, 10), c->str, ev->str,
	                u->str, t->str, t->len, strtoll(ts->str, NULL, 10), v->str);
}

/* An array of stream entries into out, oldest first (reverse: newest first). */
static int entries_to_msgs(struct redis_store *st, redisReply *r, int reverse,
                           struct store_msgs *out)
{
	size_t cap = 0;
	struct store_msg *m;

	out->v = NULL;
	out->n = 0;
	if (r == NULL || r->type != REDIS_REPLY_ARRAY)
		goto fail;
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[reverse ? r->elements - 1 - i : i];
		if ((m = store_msgs_push(out, &cap)) == NULL || entry_to_msg(st, e, m) < 0)
			goto fail;
		out->n++;
	}
	freeReplyObject(r);
	return 0;
fail:
	freeReplyObject(r);
	store_msgs_free(out);
	return -1;
}

static void channel_key(char *buf, size_t size, const char *channel)
{
	snprintf(buf, size, "rt:ch:%s", channel);
}

void store_redis_notify_channel(const struct redis_store *st, char *buf, size_t size,
                                const char *channel)
{
	/* Pub/sub ignores SELECT: the database goes into the name. */
	snprintf(buf, size, "rt:%d:n:%s", st->db, channel);
}

/* Age retention (RT_MAX_AGE), now and then after an insert. */
static void prune(struct redis_store *st)
{
	const char *keys[] = { "rt:all", "rt:channels" };
	char cutoff[24];
	const char *args[] = { cutoff, "rt:ch:" };

	snprintf(cutoff, sizeof cutoff, "%lld", (long long)(clock_wall_ms() - st->max_age_ms));
	freeReplyObject(store_redis_script(st, S_PRUNE, 2, keys, 2, args));
}

int store_redis_insert(struct store *base, const char *channel, const char *event,
                       const char *user, const char *text, const char *via,
                       struct store_msg *out)
{
	struct redis_store *st = rd(base);
	char key[KEY_MAX], note[KEY_MAX], ts[24], keep[24], index_keep[24];
	int64_t now = clock_wall_ms(), id;
	const char *keys[] = { "rt:seq", key, "rt:all", "rt:channels" };
	char max_channels[24];
	const char *args[] = { channel, event, user, text, ts, via, keep, index_keep, note,
	                       max_channels, "rt:ch:" };
	redisReply *r;

	memset(out, 0, sizeof *out);
	channel_key(key, sizeof key, channel);
	store_redis_notify_channel(st, note, sizeof note, channel);
	snprintf(ts, sizeof ts, "%lld", (long long)now);
	snprintf(keep, sizeof keep, "%lld", st->keep);
	snprintf(index_keep, sizeof index_keep, "%d", INDEX_KEEP);
	snprintf(max_channels, sizeof max_channels, "%lld", st->max_channels);
	if ((r = store_redis_script(st, S_INSERT, 4, keys, 11, args)) == NULL)
		return -1;
	if (r->type != REDIS_REPLY_INTEGER) {
		freeReplyObject(r);
		return -1;
	}
	id = r->integer;
	freeReplyObject(r);
	if (st->max_age_ms > 0 && ++st->inserts % PRUNE_EVERY == 0)
		prune(st);
	return make_msg(st, out, id, channel, event, user, text, strlen(text), now, via);
}

int store_redis_read_after(struct store *base, const char *channel, int64_t since,
                           int limit, struct store_msgs *out)
{
	struct redis_store *st = rd(base);
	char key[KEY_MAX], start[24], count[16];

	out->v = NULL;
	out->n = 0;
	limit = store_clamp_limit(limit);
	if (limit == 0 || since == INT64_MAX)
		return 0;
	/* Stream ids "<seq>-0": a start of "<since+1>" is the first id after since. */
	snprintf(start, sizeof start, "%lld", (long long)(since < 0 ? 0 : since) + 1);
	snprintf(count, sizeof count, "%d", limit);
	if (channel == NULL) {
		const char *keys[] = { "rt:all" };
		const char *args[] = { start, count, "rt:ch:" };
		return entries_to_msgs(st, store_redis_script(st, S_READ_ALL, 1, keys, 3, args),
		                       0, out);
	}
	channel_key(key, sizeof key, channel);
	const char *argv[] = { "XRANGE", key, start, "+", "COUNT", count };
	size_t lens[] = { 6, strlen(key), strlen(start), 1, 5, strlen(count) };
	return entries_to_msgs(st, store_redis_command(st, 6, argv, lens), 0, out);
}

int store_redis_read_last(struct store *base, const char *channel, int limit,
                          struct store_msgs *out)
{
	struct redis_store *st = rd(base);
	char key[KEY_MAX], count[16];

	out->v = NULL;
	out->n = 0;
	if ((limit = store_clamp_limit(limit)) == 0)
		return 0;
	channel_key(key, sizeof key, channel);
	snprintf(count, sizeof count, "%d", limit);
	const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", count };
	size_t lens[] = { 9, strlen(key), 1, 1, 5, strlen(count) };
	return entries_to_msgs(st, store_redis_command(st, 6, argv, lens), 1, out);
}

/* rt:seq is never trimmed: like SQLite's sqlite_sequence, the newest id
 * ever handed out, whatever retention removed. */
int store_redis_last_id(struct store *base, int64_t *id)
{
	const char *argv[] = { "GET", "rt:seq" };
	size_t lens[] = { 3, 6 };
	redisReply *r = store_redis_command(rd(base), 2, argv, lens);

	if (r == NULL)
		return -1;
	*id = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
	freeReplyObject(r);
	return 0;
}

/* The newest id on one channel, 0 if none; -1 on failure. */
int64_t store_redis_channel_newest(struct redis_store *st, const char *channel)
{
	char key[KEY_MAX];
	const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", "1" };
	size_t lens[] = { 9, 0, 1, 1, 5, 1 };
	redisReply *r;
	int64_t id = 0;

	channel_key(key, sizeof key, channel);
	lens[1] = strlen(key);
	if ((r = store_redis_command(st, 6, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0)
		id = strtoll(r->element[0]->element[0]->str, NULL, 10);
	freeReplyObject(r);
	return id;
}
