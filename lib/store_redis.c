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
 * A message is appended by one Lua script (INCR, XADD ×2, ZADD, PUBLISH):
 * Redis runs a script atomically (https://redis.io/docs/interact/programmability/eval-intro/),
 * so no reader ever sees an id without its message, nor ids out of order.
 *
 * The files: this one holds the layout and its three Lua scripts, the
 * connections (open, close, commands, scripts run by their SHA) and the table
 * of ops; lib/store_redis_msg.c the messages (insert, reads, their JSON);
 * lib/store_redis_wait.c the change wait.  lib/store_redis.h is the struct
 * they share, and the calls each gives the others.
 *
 * Redis gone (stopped, restarting, unreachable): every call fails (-1), so
 * endpoints answer 503 with Retry-After; store_replaced() says 1, so the
 * next request opens a new connection — service comes back by itself when
 * Redis does.  A waiter's wait returns -1 (long-poll: 503; SSE: the stream
 * ends and the client resumes with Last-Event-ID; the helper closes its
 * clients with 1011 and reopens).
 */
#include "store_redis.h"
#include "settings.h"   /* settings_int: the one RT_* reader */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define CONNECT_TIMEOUT_MS 1000   /* Redis not there: fail fast, answer 503 */
#define COMMAND_TIMEOUT_MS 2000   /* a stuck Redis: the call fails, not hangs */
#define DEFAULT_KEEP       10000  /* messages kept per channel (RT_KEEP) */
#define DEFAULT_CHANNELS   1000   /* channels kept (RT_MAX_CHANNELS) */

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

static const char *const script_text[S_COUNT] = {
	[S_INSERT] = insert_lua, [S_READ_ALL] = read_all_lua, [S_PRUNE] = prune_lua,
};

static const struct store_ops redis_ops;
static void rd_close(struct store *base);

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

redisContext *store_redis_connect(struct redis_store *st)
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
redisReply *store_redis_command(struct redis_store *st, int argc, const char **argv,
                                const size_t *lens)
{
	if (st->broken || st->cmd == NULL)
		return NULL;
	return checked(st, redisCommandArgv(st->cmd, argc, argv, lens));
}

/* EVALSHA; EVAL if Redis does not know the script (SCRIPT FLUSH). */
redisReply *store_redis_script(struct redis_store *st, int which, int nkeys,
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
	if ((st->cmd = store_redis_connect(st)) == NULL)
		goto fail;
	for (int i = 0; i < S_COUNT; i++) {
		const char *argv[] = { "SCRIPT", "LOAD", script_text[i] };
		size_t lens[] = { 6, 4, strlen(script_text[i]) };
		if ((r = store_redis_command(st, 3, argv, lens)) == NULL ||
		    r->type != REDIS_REPLY_STRING || r->len >= sizeof st->sha[i]) {
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
 * or the ids went back (take_push in store_redis_wait.c), so the caller opens the store again. */
int store_redis_replaced(const struct store *base)
{
	const struct redis_store *st = (const struct redis_store *)base;

	return st->broken || st->replaced || st->cmd == NULL || conn_dead(st->cmd);
}

static const struct store_ops redis_ops = {
	.close = rd_close,
	.path = rd_path,
	.replaced = store_redis_replaced,
	.insert = store_redis_insert,
	.read_after = store_redis_read_after,
	.read_last = store_redis_read_last,
	.last_id = store_redis_last_id,
	.watch = store_redis_watch,
	.unwatch = store_redis_unwatch,
	.wait_fd = store_redis_wait_fd,
	.wait_check = store_redis_wait_check,
	.wait_next_ms = store_redis_wait_next_ms,
	.wait_end = store_redis_wait_end,
};
