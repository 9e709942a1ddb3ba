/*
 * store_redis.c — the message store on Redis (RT_STORE=redis://HOST:PORT[/DB]),
 * for several web hosts and helpers sharing one store (docs/scaling.md).
 *
 * The layout, every key under "rt:" in the chosen database:
 *   rt:seq          the id sequence: one INCR per message, for every channel
 *                   and every host, so ids stay one increasing sequence and
 *                   every cursor rule of docs/protocol.md holds unchanged;
 *   rt:ch:<name>    a Redis Stream per channel, entry id "<seq>-0", fields
 *                   c(hannel) e(vent) u(ser) t(ext) ts v(ia): what poll,
 *                   long-poll and SSE read (XRANGE after a cursor, XREVRANGE
 *                   for the history) — https://redis.io/docs/data-types/streams/;
 *   rt:all          one more stream, the index of every message in id order
 *                   (fields c, ts only): store_read_after(st, NULL, ...),
 *                   the helper's fan-out across channels, reads it and
 *                   looks each message up in its channel's stream;
 *   rt:channels     a sorted set of the channel names, scored by their newest
 *                   id (RT_MAX_CHANNELS evicts the lowest; age retention
 *                   walks it).
 * A message is appended by one Lua script (INCR, XADD ×2, SADD, PUBLISH):
 * Redis runs a script atomically (https://redis.io/docs/interact/programmability/eval-intro/),
 * so no reader ever sees an id without its message, nor ids out of order.
 *
 * Messages as JSON: built by SQLite's json_object() on a private :memory:
 * connection from the stored fields, with the SQLite backend's own
 * expression (STORE_ROW_COLUMNS): the bytes a client gets are the same
 * whichever backend stored the message.
 *
 * The change wait: a second connection, subscribed (SUBSCRIBE) to one
 * pub/sub channel "rt:<db>:n:<name>" per watched message channel; the
 * insert script PUBLISHes the new id there.  Its socket is the fd the
 * caller polls; a commit on another channel is not sent to it at all.
 *
 * Redis gone (stopped, restarting, unreachable): every call fails (-1), so
 * endpoints answer 503 with Retry-After; store_replaced() says 1, so the
 * next request opens a new connection — service comes back by itself when
 * Redis does.  A waiter's wait returns -1 (long-poll: 503; SSE: the stream
 * ends and the client resumes with Last-Event-ID; the helper closes its
 * clients with 1011 and reopens).
 *
 * Longer than 600 lines on purpose: one backend, read top to bottom — the
 * layout and its three Lua scripts, the connections, the messages, then
 * the wait — around one struct that all of them share.
 */
#include "store_backend.h"
#include "clock.h"      /* clock_wall_ms: a message's ts */
#include "settings.h"   /* settings_int: the one RT_* reader */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis.h>
#include <sqlite3.h>

#define CONNECT_TIMEOUT_MS 1000   /* Redis not there: fail fast, answer 503 */
#define COMMAND_TIMEOUT_MS 2000   /* a stuck Redis: the call fails, not hangs */
#define PRUNE_EVERY        64     /* age retention every N inserts */
#define DEFAULT_KEEP       10000  /* messages kept per channel (RT_KEEP) */
#define DEFAULT_CHANNELS   1000   /* channels kept (RT_MAX_CHANNELS) */
#define INDEX_KEEP         100000 /* entries kept in rt:all (see docs/scaling.md) */
#define KEY_MAX            (16 + MSG_CHANNEL_MAX)

/* KEYS: rt:seq rt:ch:<c> rt:all rt:channels;
 * ARGV: channel event user text ts via keep index_keep notify-channel
 * max-channels ("rt:ch:").  rt:channels scores each channel by its newest
 * id, so the channel idle longest is the first: a new channel beyond
 * RT_MAX_CHANNELS evicts it, messages and all (as the SQLite store does). */
static const char insert_lua[] =
	"local id = redis.call('INCR', KEYS[1])\n"
	"local sid = string.format('%d-0', id)\n"
	"local f = {'c', ARGV[1], 'e', ARGV[2], 'u', ARGV[3], 't', ARGV[4],"
	" 'ts', ARGV[5], 'v', ARGV[6]}\n"
	"if ARGV[7] ~= '0' then\n"
	"  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[7], sid, unpack(f))\n"
	"else\n"
	"  redis.call('XADD', KEYS[2], sid, unpack(f))\n"
	"end\n"
	"redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], sid, 'c', ARGV[1], 'ts', ARGV[5])\n"
	"local new = redis.call('ZADD', KEYS[4], id, ARGV[1])\n"
	"local max = tonumber(ARGV[10])\n"
	"if new == 1 and max > 0 and redis.call('ZCARD', KEYS[4]) > max then\n"
	"  for _, c in ipairs(redis.call('ZRANGE', KEYS[4], 0, 0)) do\n"
	"    if c ~= ARGV[1] then\n"
	"      redis.call('DEL', ARGV[11] .. c)\n"
	"      redis.call('ZREM', KEYS[4], c)\n"
	"    end\n"
	"  end\n"
	"end\n"
	"redis.call('PUBLISH', ARGV[9], string.format('%d', id))\n"
	"return id\n";

/* KEYS: rt:all; ARGV: first id, count, "rt:ch:".  Messages a channel's
 * retention already removed are skipped, and the walk goes on so a full
 * answer is `count` long (the helper reads again only after a full one). */
static const char read_all_lua[] =
	"local out, start, n = {}, ARGV[1], tonumber(ARGV[2])\n"
	"while #out < n do\n"
	"  local idx = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', n - #out)\n"
	"  if #idx == 0 then break end\n"
	"  for _, e in ipairs(idx) do\n"
	"    local m = redis.call('XRANGE', ARGV[3] .. e[2][2], e[1], e[1])\n"
	"    if m[1] then out[#out + 1] = m[1] end\n"
	"  end\n"
	"  start = '(' .. idx[#idx][1]\n"
	"end\n"
	"return out\n";

/* KEYS: rt:all rt:channels; ARGV: cutoff ts (ms), "rt:ch:".  Ids and ts grow
 * together, so the first index entry young enough gives one id below which
 * every channel's messages are older than RT_MAX_AGE: XTRIM MINID it. */
static const char prune_lua[] =
	"local cutoff, cut, first = tonumber(ARGV[1]), nil, nil\n"
	"for round = 1, 10 do\n"
	"  local e = redis.call('XRANGE', KEYS[1], cut or '-', '+', 'COUNT', 100)\n"
	"  if #e == 0 then break end\n"
	"  first = first or e[1][1]\n"
	"  local young = nil\n"
	"  for _, x in ipairs(e) do\n"
	"    if tonumber(x[2][4]) >= cutoff then young = x[1] break end\n"
	"  end\n"
	"  if young then cut = young break end\n"
	"  cut = string.format('%d-0', tonumber(string.match(e[#e][1], '^%d+')) + 1)\n"
	"end\n"
	"if cut == nil or cut == first then return 0 end\n"
	"redis.call('XTRIM', KEYS[1], 'MINID', cut)\n"
	"for _, c in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do\n"
	"  redis.call('XTRIM', ARGV[2] .. c, 'MINID', cut)\n"
	"end\n"
	"return 1\n";

enum { S_INSERT, S_READ_ALL, S_PRUNE, S_COUNT };
static const char *const script_text[S_COUNT] = {
	[S_INSERT] = insert_lua, [S_READ_ALL] = read_all_lua, [S_PRUNE] = prune_lua,
};

struct redis_watch {
	char channel[MSG_CHANNEL_MAX + 1];
	unsigned refs;
};

struct redis_store {
	struct store base;           /* first: the ops (lib/store_backend.h) */
	char *url;
	char host[256];
	int port, db;
	redisContext *cmd;           /* commands */
	redisContext *sub;           /* SUBSCRIBE only, opened by the first wait */
	char sha[S_COUNT][41];       /* SCRIPT LOAD's answers, for EVALSHA */
	sqlite3 *json_db;            /* :memory:, for json_object() */
	sqlite3_stmt *json_q;
	struct redis_watch *w;
	size_t nw, wcap;
	int pending;                 /* report a change at the next check */
	int broken;                  /* a connection failed: reopen the store */
	int replaced;                /* the ids went back: the store was emptied */
	int64_t pushed;              /* the newest id pushed to us */
	unsigned inserts;
	long long keep, max_age_ms, max_channels;
};

static const struct store_ops redis_ops;
static void rd_close(struct store *base);

static struct redis_store *rd(struct store *base)
{
	return (struct redis_store *)base;
}

/* ---- connections -------------------------------------------------------- */

static struct timeval ms_tv(int ms)
{
	return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* redis://HOST[:PORT][/DB] into st; 0 or -1. */
static int parse_url(struct redis_store *st, const char *url)
{
	const char *p = url + strlen("redis://"), *colon, *slash, *end;
	char *e;
	long v;

	slash = strchr(p, '/');
	end = slash ? slash : p + strlen(p);
	colon = memchr(p, ':', (size_t)(end - p));
	if ((colon ? colon : end) == p || (size_t)((colon ? colon : end) - p) >= sizeof st->host)
		return -1;
	snprintf(st->host, sizeof st->host, "%.*s", (int)((colon ? colon : end) - p), p);
	st->port = 6379;
	if (colon) {
		errno = 0;
		v = strtol(colon + 1, &e, 10);
		if (errno || e != end || v < 1 || v > 65535)
			return -1;
		st->port = (int)v;
	}
	if (slash && slash[1] != '\0') {
		errno = 0;
		v = strtol(slash + 1, &e, 10);
		if (errno || *e != '\0' || v < 0 || v > 1000)
			return -1;
		st->db = (int)v;
	}
	return 0;
}

static redisContext *connect_to(struct redis_store *st)
{
	redisContext *c = redisConnectWithTimeout(st->host, st->port, ms_tv(CONNECT_TIMEOUT_MS));
	redisReply *r;

	if (c == NULL || c->err || redisSetTimeout(c, ms_tv(COMMAND_TIMEOUT_MS)) != REDIS_OK)
		goto fail;
	if (st->db != 0) {
		r = redisCommand(c, "SELECT %d", st->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			freeReplyObject(r);
			goto fail;
		}
		freeReplyObject(r);
	}
	return c;
fail:
	if (c != NULL)
		redisFree(c);
	return NULL;
}

/* A reply, or NULL for an error reply (said on stderr) or a failed
 * connection (then the store is broken: the caller reopens it). */
static redisReply *checked(struct redis_store *st, redisReply *r)
{
	if (r == NULL || st->cmd->err) {
		st->broken = 1;
		freeReplyObject(r);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "rtlab store: redis: %s\n", r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* One command on the command connection; the reply (caller frees) or NULL. */
static redisReply *command(struct redis_store *st, int argc, const char **argv,
                           const size_t *lens)
{
	if (st->broken || st->cmd == NULL)
		return NULL;
	return checked(st, redisCommandArgv(st->cmd, argc, argv, lens));
}

/* EVALSHA; EVAL if Redis does not know the script (SCRIPT FLUSH). */
static redisReply *run_script(struct redis_store *st, int which, int nkeys,
                              const char **keys, int nargs, const char **args)
{
	const char *argv[3 + 16];       /* EVALSHA sha n, then at most 16 keys + args */
	size_t lens[3 + 16];
	char nk[8];
	redisReply *r;
	int argc = 0;

	if (nkeys + nargs > 16)
		return NULL;

	snprintf(nk, sizeof nk, "%d", nkeys);
	argv[argc++] = "EVALSHA";
	argv[argc++] = st->sha[which];
	argv[argc++] = nk;
	for (int i = 0; i < nkeys; i++)
		argv[argc++] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[argc++] = args[i];
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (st->broken || st->cmd == NULL)
		return NULL;
	r = redisCommandArgv(st->cmd, argc, argv, lens);
	if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argv[1] = script_text[which];
		lens[0] = 4;
		lens[1] = strlen(script_text[which]);
		r = redisCommandArgv(st->cmd, argc, argv, lens);
	}
	return checked(st, r);
}

/* A live connection says nothing unasked: readable means closed (or out of
 * step).  One poll(2), no round trip: what the endpoints ask per request. */
static int conn_dead(const redisContext *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	return c->err || poll(&pfd, 1, 0) != 0;
}

struct store *store_redis_open(const char *url, const char **errstr)
{
	struct redis_store *st;
	const char *err = "out of memory";
	redisReply *r;

	if ((st = calloc(1, sizeof *st)) == NULL)
		goto fail;
	st->base.ops = &redis_ops;
	st->keep = settings_int("RT_KEEP", 0, LLONG_MAX, DEFAULT_KEEP);
	st->max_age_ms = settings_int("RT_MAX_AGE", 0, LLONG_MAX / 1000, 0) * 1000;
	st->max_channels = settings_int("RT_MAX_CHANNELS", 0, LLONG_MAX, DEFAULT_CHANNELS);
	if ((st->url = strdup(url)) == NULL)
		goto fail;
	err = "RT_STORE is not redis://HOST:PORT[/DB]";
	if (parse_url(st, url) < 0)
		goto fail;
	err = "the message store cannot be opened";
	if (sqlite3_open_v2(":memory:", &st->json_db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->json_db, "SELECT " STORE_ROW_COLUMNS " FROM (SELECT"
	                       " ?1 AS id, ?2 AS channel, ?3 AS event, ?4 AS user,"
	                       " ?5 AS text, ?6 AS ts, ?7 AS via)", -1, &st->json_q, NULL) != SQLITE_OK)
		goto fail;
	err = "the message store (Redis) is unavailable";
	if ((st->cmd = connect_to(st)) == NULL)
		goto fail;
	for (int i = 0; i < S_COUNT; i++) {
		const char *argv[] = { "SCRIPT", "LOAD", script_text[i] };
		size_t lens[] = { 6, 4, strlen(script_text[i]) };
		if ((r = command(st, 3, argv, lens)) == NULL || r->type != REDIS_REPLY_STRING ||
		    r->len >= sizeof st->sha[i]) {
			freeReplyObject(r);
			goto fail;
		}
		memcpy(st->sha[i], r->str, r->len + 1);
		freeReplyObject(r);
	}
	return &st->base;
fail:
	rd_close(st ? &st->base : NULL);
	if (errstr != NULL)
		*errstr = err;
	return NULL;
}

static void rd_close(struct store *base)
{
	struct redis_store *st = rd(base);

	if (st == NULL)
		return;
	if (st->cmd)
		redisFree(st->cmd);
	if (st->sub)
		redisFree(st->sub);
	sqlite3_finalize(st->json_q);
	sqlite3_close(st->json_db);
	free(st->w);
	free(st->url);
	free(st);
}

static const char *rd_path(const struct store *base)
{
	return ((const struct redis_store *)base)->url;
}

/* "Replaced", for Redis: the connection is gone (Redis stopped or restarted),
 * or the ids went back (take_push), so the caller opens the store again. */
static int rd_replaced(const struct store *base)
{
	const struct redis_store *st = (const struct redis_store *)base;

	return st->broken || st->replaced || st->cmd == NULL || conn_dead(st->cmd);
}

/* ---- messages ------------------------------------------------------------- */

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

static void notify_channel(const struct redis_store *st, char *buf, size_t size,
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
	freeReplyObject(run_script(st, S_PRUNE, 2, keys, 2, args));
}

static int rd_insert(struct store *base, const char *channel, const char *event,
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
	notify_channel(st, note, sizeof note, channel);
	snprintf(ts, sizeof ts, "%lld", (long long)now);
	snprintf(keep, sizeof keep, "%lld", st->keep);
	snprintf(index_keep, sizeof index_keep, "%d", INDEX_KEEP);
	snprintf(max_channels, sizeof max_channels, "%lld", st->max_channels);
	if ((r = run_script(st, S_INSERT, 4, keys, 11, args)) == NULL)
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

static int rd_read_after(struct store *base, const char *channel, int64_t since,
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
		return entries_to_msgs(st, run_script(st, S_READ_ALL, 1, keys, 3, args), 0, out);
	}
	channel_key(key, sizeof key, channel);
	const char *argv[] = { "XRANGE", key, start, "+", "COUNT", count };
	size_t lens[] = { 6, strlen(key), strlen(start), 1, 5, strlen(count) };
	return entries_to_msgs(st, command(st, 6, argv, lens), 0, out);
}

static int rd_read_last(struct store *base, const char *channel, int limit,
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
	return entries_to_msgs(st, command(st, 6, argv, lens), 1, out);
}

/* rt:seq is never trimmed: like SQLite's sqlite_sequence, the newest id
 * ever handed out, whatever retention removed. */
static int rd_last_id(struct store *base, int64_t *id)
{
	const char *argv[] = { "GET", "rt:seq" };
	size_t lens[] = { 3, 6 };
	redisReply *r = command(rd(base), 2, argv, lens);

	if (r == NULL)
		return -1;
	*id = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
	freeReplyObject(r);
	return 0;
}

/* The newest id on one channel, 0 if none; -1 on failure. */
static int64_t channel_newest(struct redis_store *st, const char *channel)
{
	char key[KEY_MAX];
	const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", "1" };
	size_t lens[] = { 9, 0, 1, 1, 5, 1 };
	redisReply *r;
	int64_t id = 0;

	channel_key(key, sizeof key, channel);
	lens[1] = strlen(key);
	if ((r = command(st, 6, argv, lens)) == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0)
		id = strtoll(r->element[0]->element[0]->str, NULL, 10);
	freeReplyObject(r);
	return id;
}

/* ---- the change wait: SUBSCRIBE on a second connection -------------------- */

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
			notify_channel(st, note, sizeof note, st->w[i].channel);
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
	if (st->sub == NULL && !st->broken && (st->sub = connect_to(st)) == NULL)
		st->broken = 1;
	return st->broken ? -1 : 0;
}

/* SUBSCRIBE, then wait for Redis to confirm it: from then on every commit on
 * the channel is pushed to us.  Pushes that come first are taken as news. */
static int subscribe(struct redis_store *st, const char *channel)
{
	char note[KEY_MAX];
	redisReply *r;

	notify_channel(st, note, sizeof note, channel);
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
static int rd_watch(struct store *base, const char *channel, int64_t after)
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
	if ((newest = channel_newest(st, channel)) < 0)
		return -1;
	if (newest > after)
		st->pending = 1;
	return 0;
}

static void rd_unwatch(struct store *base, const char *channel)
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
	notify_channel(st, note, sizeof note, channel);
	if (redisAppendCommand(st->sub, "UNSUBSCRIBE %s", note) != REDIS_OK)
		st->broken = 1;
	while (!st->broken && !done)
		if (redisBufferWrite(st->sub, &done) != REDIS_OK)
			st->broken = 1;
}

static int rd_wait_fd(struct store *base)
{
	struct redis_store *st = rd(base);

	return sub_open(st) < 0 ? -1 : st->sub->fd;
}

/* A broken store is reported by every check (-1) until the caller reopens
 * it; a caller that only retries now and then (the threaded hub of
 * lib/http_hub.c) must not be told to look again at once, or it spins. */
#define BROKEN_RECHECK_MS 1000

static int rd_wait_next_ms(struct store *base)
{
	struct redis_store *st = rd(base);

	if (st->pending || st->replaced)
		return 0;
	return st->broken ? BROKEN_RECHECK_MS : -1;
}

/* Reads what the subscription pushed (one read(2) when the fd is readable). */
static int rd_wait_check(struct store *base)
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

static int rd_wait_end(struct store *base)
{
	if (rd(base)->replaced)
		return STORE_WAIT_RESET;
	return rd_replaced(base) ? -1 : 0;
}

static const struct store_ops redis_ops = {
	.close = rd_close,
	.path = rd_path,
	.replaced = rd_replaced,
	.insert = rd_insert,
	.read_after = rd_read_after,
	.read_last = rd_read_last,
	.last_id = rd_last_id,
	.watch = rd_watch,
	.unwatch = rd_unwatch,
	.wait_fd = rd_wait_fd,
	.wait_check = rd_wait_check,
	.wait_next_ms = rd_wait_next_ms,
	.wait_end = rd_wait_end,
};
