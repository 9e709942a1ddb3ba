/*
 * store_redis.h — the Redis backend's private header (included by
 * lib/store_redis.c, lib/store_redis_msg.c and lib/store_redis_wait.c only;
 * everyone else calls store.h, and store_open() picks this backend).
 *
 * The backend is three files read in this order, around the one struct
 * below that all of them share:
 *   store_redis.c        the layout and its Lua scripts, the connections
 *                        and commands, open and close, the table of ops
 *   store_redis_msg.c    the messages: insert, the reads, their JSON
 *   store_redis_wait.c   the change wait: SUBSCRIBE on a second connection
 * Each file gives the others only what is declared here.
 */
#ifndef RTLAB_STORE_REDIS_H
#define RTLAB_STORE_REDIS_H

#include "store_backend.h"

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>
#include <sqlite3.h>

#define KEY_MAX            (16 + MSG_CHANNEL_MAX)

/* The Lua scripts (store_redis.c), by number for store_redis_script(). */
enum { S_INSERT, S_READ_ALL, S_PRUNE, S_COUNT };

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

static inline struct redis_store *rd(struct store *base)
{
	return (struct redis_store *)base;
}

/* store_redis.c: the connections.  A command's reply (caller frees with
 * freeReplyObject) or NULL: an error reply, or a failed connection, which
 * marks the store broken. */
redisContext *store_redis_connect(struct redis_store *st);
redisReply *store_redis_command(struct redis_store *st, int argc, const char **argv,
                                const size_t *lens);
redisReply *store_redis_script(struct redis_store *st, int which, int nkeys,
                               const char **keys, int nargs, const char **args);
int store_redis_replaced(const struct store *base);

/* store_redis_msg.c: the messages (the ops of the same names), and what
 * the wait needs of them. */
int store_redis_insert(struct store *base, const char *channel, const char *event,
                       const char *user, const char *text, const char *via,
                       struct store_msg *out);
int store_redis_read_after(struct store *base, const char *channel, int64_t since,
                           int limit, struct store_msgs *out);
int store_redis_read_last(struct store *base, const char *channel, int limit,
                          struct store_msgs *out);
int store_redis_last_id(struct store *base, int64_t *id);
int64_t store_redis_channel_newest(struct redis_store *st, const char *channel);
void store_redis_notify_channel(const struct redis_store *st, char *buf, size_t size,
                                const char *channel);

/* store_redis_wait.c: the change wait (the ops of the same names). */
int store_redis_watch(struct store *base, const char *channel, int64_t after);
void store_redis_unwatch(struct store *base, const char *channel);
int store_redis_wait_fd(struct store *base);
int store_redis_wait_check(struct store *base);
int store_redis_wait_next_ms(struct store *base);
int store_redis_wait_end(struct store *base);

#endif
