/*
 * store_backend.h — what a store backend provides (lib/store.c, lib/store_sqlite.c,
 * lib/store_redis*.c only; everyone else includes store.h).
 *
 * store.h's calls are the same whatever keeps the messages.  lib/store.c
 * picks the backend from the store's name (store_open) and forwards each
 * call through a small table of functions, like a VFS in SQLite
 * (https://www.sqlite.org/vfs.html) or a driver in a kernel: one struct of
 * function pointers per backend, and a struct store that starts with a
 * pointer to it.  Each backend's own struct begins with struct store.
 *
 *   sqlite:PATH or PATH       lib/store_sqlite.c   (the default; one host)
 *   redis://HOST:PORT[/DB]    lib/store_redis.c    (several hosts, one store;
 *                             its messages and its wait in store_redis_msg.c
 *                             and store_redis_wait.c, see store_redis.h)
 */
#ifndef RTLAB_STORE_BACKEND_H
#define RTLAB_STORE_BACKEND_H

#include "store.h"

struct store_ops {
	void (*close)(struct store *st);
	const char *(*path)(const struct store *st);
	int (*replaced)(const struct store *st);
	int (*insert)(struct store *st, const char *channel, const char *event,
	              const char *user, const char *text, const char *via,
	              struct store_msg *out);
	int (*read_after)(struct store *st, const char *channel, int64_t since,
	                  int limit, struct store_msgs *out);
	int (*read_last)(struct store *st, const char *channel, int limit,
	                 struct store_msgs *out);
	int (*last_id)(struct store *st, int64_t *id);
	int (*watch)(struct store *st, const char *channel, int64_t after);
	void (*unwatch)(struct store *st, const char *channel);
	int (*wait_fd)(struct store *st);
	int (*wait_check)(struct store *st);
	int (*wait_next_ms)(struct store *st);
	/* store_wait() timed out: one last look (SQLite: was the file
	 * replaced? Redis: is the connection still there?) — 0,
	 * STORE_WAIT_RESET or -1. */
	int (*wait_end)(struct store *st);
};

struct store {
	const struct store_ops *ops;
};

/* The backends' openers (store_open picks one).  NULL and *errstr set on
 * failure, as store_open. */
struct store *store_sqlite_open(const char *path, const char **errstr);
struct store *store_redis_open(const char *url, const char **errstr);

/*
 * Shared by the backends, so a message looks the same whichever stored it.
 *
 * STORE_ROW_COLUMNS: id, channel, event, user, and the message as JSON built
 * by SQLite's json_object() (which escapes every string), with "event" only
 * when it is not "message" (docs/protocol.md "Messages").  The SQLite
 * backend selects it from its table; the Redis backend from a one-row
 * SELECT of bound values on a private :memory: connection — the same text,
 * so the same bytes.
 */
#define STORE_MSG_OBJECT \
	"json_object('id', id, 'channel', channel, 'user', user, 'text', text," \
	" 'ts', ts, 'via', via)"
#define STORE_ROW_COLUMNS \
	"id, channel, event, user, CASE event WHEN 'message' THEN " STORE_MSG_OBJECT \
	" ELSE json_insert(" STORE_MSG_OBJECT ", '$.event', event) END"

/* Fills m (json copied, len bytes); 0, or -1 (missing value, out of memory). */
int store_msg_fill(struct store_msg *m, int64_t id, const char *channel,
                   const char *event, const char *user, const char *json,
                   size_t len);

/* Appends an empty slot to out, growing it; NULL when out of memory. */
struct store_msg *store_msgs_push(struct store_msgs *out, size_t *cap);

/* A read's limit, clamped to 0 .. STORE_READ_MAX. */
int store_clamp_limit(int limit);

#endif
