/*
 * store.c — the message store's calls (store.h), forwarded to the backend
 * the store's name chose (lib/store_backend.h):
 *
 *   sqlite:PATH or a plain PATH   lib/store_sqlite.c — one SQLite file, one host
 *   redis://HOST:PORT[/DB]        lib/store_redis.c  — one Redis, many hosts
 *
 * Which store: store_open()'s argument if given (the helper's --db), else
 * $RT_STORE, else $RT_DB (RT_STORE's short form for SQLite), else
 * STORE_DEFAULT_PATH (docs/protocol.md "Variants").  What both backends
 * share lives here too: the generic wait loop, and building the list of
 * messages a read returns.
 */
#include "store_backend.h"
#include "clock.h"      /* clock_now_ms: the one clock */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REDIS_SCHEME  "redis://"
#define SQLITE_SCHEME "sqlite:"

struct store *store_open(const char *path, const char **errstr)
{
	if (path == NULL || *path == '\0')
		path = getenv("RT_STORE");
	if (path == NULL || *path == '\0')
		path = getenv("RT_DB");
	if (path == NULL || *path == '\0')
		path = STORE_DEFAULT_PATH;
	if (strncmp(path, REDIS_SCHEME, strlen(REDIS_SCHEME)) == 0)
		return store_redis_open(path, errstr);
	if (strncmp(path, SQLITE_SCHEME, strlen(SQLITE_SCHEME)) == 0)
		path += strlen(SQLITE_SCHEME);
	return store_sqlite_open(path, errstr);
}

void store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

int store_reopen(struct store **st)
{
	char *path = strdup(store_path(*st));

	store_close(*st);
	*st = NULL;
	if (path == NULL)
		return -1;
	/* An admin's "rm rtlab.db; sqlite3 rtlab.db < schema.sql" is two
	 * steps: the wait may report the first before the second is done
	 * (and a Redis that restarts may still be loading its data). */
	for (int waited = 0; (*st = store_open(path, NULL)) == NULL &&
	     waited < STORE_REOPEN_MS; waited += 50)
		usleep(50 * 1000);
	free(path);
	return *st != NULL ? 0 : -1;
}

const char *store_path(const struct store *st)
{
	return st->ops->path(st);
}

int store_replaced(const struct store *st)
{
	return st->ops->replaced(st);
}

int store_insert(struct store *st, const char *channel, const char *user,
                 const char *text, const char *via, struct store_msg *out)
{
	return st->ops->insert(st, channel, MSG_DEFAULT_EVENT, user, text, via, out);
}

int store_insert_event(struct store *st, const char *channel, const char *event,
                       const char *user, const char *text, const char *via,
                       struct store_msg *out)
{
	return st->ops->insert(st, channel, event, user, text, via, out);
}

int store_read_after(struct store *st, const char *channel, int64_t since,
                     int limit, struct store_msgs *out)
{
	return st->ops->read_after(st, channel, since, limit, out);
}

int store_read_last(struct store *st, const char *channel, int limit,
                    struct store_msgs *out)
{
	return st->ops->read_last(st, channel, limit, out);
}

int store_last_id(struct store *st, int64_t *id)
{
	return st->ops->last_id(st, id);
}

/* ---- what the backends share -------------------------------------------- */

int store_msg_fill(struct store_msg *m, int64_t id, const char *channel,
                   const char *event, const char *user, const char *json,
                   size_t len)
{
	memset(m, 0, sizeof *m);
	if (channel == NULL || event == NULL || user == NULL || json == NULL)
		return -1;
	m->id = id;
	snprintf(m->channel, sizeof m->channel, "%s", channel);
	snprintf(m->event, sizeof m->event, "%s", event);
	snprintf(m->user, sizeof m->user, "%s", user);
	if ((m->json = malloc(len + 1)) == NULL)
		return -1;
	memcpy(m->json, json, len);
	m->json[len] = '\0';
	m->json_len = len;
	return 0;
}

struct store_msg *store_msgs_push(struct store_msgs *out, size_t *cap)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct store_msg *nv = realloc(out->v, ncap * sizeof *nv);
		if (nv == NULL)
			return NULL;
		out->v = nv;
		*cap = ncap;
	}
	return &out->v[out->n];
}

int store_clamp_limit(int limit)
{
	if (limit < 0)
		return 0;
	return limit > STORE_READ_MAX ? STORE_READ_MAX : limit;
}

void store_msg_clear(struct store_msg *m)
{
	if (m == NULL)
		return;
	free(m->json);
	memset(m, 0, sizeof *m);
}

void store_msgs_free(struct store_msgs *ms)
{
	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		free(ms->v[i].json);
	free(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

/* ---- the change wait ------------------------------------------------------ */

int store_watch(struct store *st, const char *channel, int64_t after)
{
	return st->ops->watch(st, channel, after);
}

void store_unwatch(struct store *st, const char *channel)
{
	st->ops->unwatch(st, channel);
}

int store_wait_fd(struct store *st)
{
	return st->ops->wait_fd(st);
}

int store_wait_next_ms(struct store *st)
{
	return st->ops->wait_next_ms(st);
}

int store_wait_check(struct store *st)
{
	return st->ops->wait_check(st);
}

int store_wait(struct store *st, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;
	int fd = store_wait_fd(st), rc;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int left = -1, next = store_wait_next_ms(st);

		if (deadline >= 0) {
			int64_t d = deadline - clock_now_ms();
			left = d > 0 ? (int)(d > INT_MAX ? INT_MAX : d) : 0;
		}
		if (next >= 0 && (left < 0 || next < left))
			left = next;
		if (poll(&pfd, fd >= 0 ? 1 : 0, left) < 0) {
			if (errno == EINTR)
				return 0;
			return -1;
		}
		if ((rc = store_wait_check(st)) != 0)
			return rc;
		if (deadline >= 0 && clock_now_ms() >= deadline)
			break;
	}
	return st->ops->wait_end(st);
}
