/*
 * store.c — the SQLite message store and its change wait (see store.h).
 *
 * Three ideas, each tied to a SQLite document:
 *  - WAL mode with synchronous=NORMAL: a commit is an append to the -wal file,
 *    durable across a process crash (not a power cut until the next
 *    checkpoint), and readers never block it.  https://www.sqlite.org/wal.html
 *  - a busy timeout plus BEGIN IMMEDIATE for writes: concurrent writers queue
 *    for the write lock inside SQLite instead of seeing SQLITE_BUSY.
 *    https://www.sqlite.org/c3ref/busy_timeout.html
 *  - PRAGMA data_version changes when *another* connection has committed:
 *    the cheap confirmation of a wake.  https://www.sqlite.org/pragma.html#pragma_data_version
 *
 * Every statement is prepared once per connection and reset after use, so no
 * read transaction stays open while a process waits (an open reader would
 * hold back checkpoints and let the WAL grow).
 */
#include "store.h"
#include "clock.h"      /* clock_now_ms: the one clock */
#include "settings.h"   /* settings_int: the one RT_* reader */

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS     5000   /* longest a writer queues for the lock */
#define FALLBACK_CHECK_MS   250    /* no inotify: how often to look */
#define DEFAULT_KEEP        10000  /* messages kept per channel */
#define DEFAULT_CHANNELS    1000   /* channels kept (the idle longest go) */
#define KEEP_SLACK_MAX      64     /* see keep_slack() */

/*
 * A commit appends to the WAL with write() and only then publishes itself in
 * the shared-memory index, which inotify cannot see.  A wake that arrives in
 * between finds data_version unchanged, so we look again a few times, a
 * little later each time, before deciding the event was not a commit.
 */
static const int recheck_ms[] = { 1, 2, 5, 10, 25, 50 };
#define RECHECKS ((int)(sizeof recheck_ms / sizeof recheck_ms[0]))

enum {
	Q_INSERT, Q_AFTER_CH, Q_AFTER_ALL, Q_LAST_CH, Q_LAST_ID, Q_VERSION,
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_CHANNEL_SIZE, Q_PRUNE_KEEP, Q_OLDEST_TS,
	Q_PRUNE_AGE, Q_CHANNEL_COUNT, Q_EVICT, Q_COUNT
};

static const char *const sql_text[Q_COUNT] = {
	[Q_INSERT] =
		"INSERT INTO messages (channel, user, text, ts, via)"
		" VALUES (?1, ?2, ?3, ?5, ?4)"
		" RETURNING id, channel, json_object('id', id, 'channel', channel,"
		" 'user', user, 'text', text, 'ts', ts, 'via', via)",
	[Q_AFTER_CH] =
		"SELECT id, channel, json_object('id', id, 'channel', channel,"
		" 'user', user, 'text', text, 'ts', ts, 'via', via)"
		" FROM messages WHERE channel = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[Q_AFTER_ALL] =
		"SELECT id, channel, json_object('id', id, 'channel', channel,"
		" 'user', user, 'text', text, 'ts', ts, 'via', via)"
		" FROM messages WHERE id > ?2 ORDER BY id LIMIT ?3",
	[Q_LAST_CH] =
		"SELECT * FROM (SELECT id, channel, json_object('id', id,"
		" 'channel', channel, 'user', user, 'text', text, 'ts', ts, 'via', via)"
		" FROM messages WHERE channel = ?1 ORDER BY id DESC LIMIT ?3)"
		" ORDER BY 1",
	[Q_LAST_ID] =
		"SELECT coalesce((SELECT seq FROM sqlite_sequence"
		" WHERE name = 'messages'), 0)",
	[Q_VERSION]  = "PRAGMA data_version",
	[Q_BEGIN]    = "BEGIN IMMEDIATE",
	[Q_COMMIT]   = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	/* Retention (retain()): the channels table is kept by triggers
	 * (sql/schema.sql).  Each delete walks the (channel, id) index from
	 * the oldest end, so it costs what it deletes, not what it keeps. */
	[Q_CHANNEL_SIZE] =
		"SELECT n FROM channels WHERE name = ?1",
	[Q_PRUNE_KEEP] =
		"DELETE FROM messages WHERE channel = ?1 AND id <= (SELECT id FROM"
		" messages WHERE channel = ?1 ORDER BY id LIMIT 1 OFFSET ?2)",
	[Q_OLDEST_TS] =
		"SELECT ts FROM messages ORDER BY id LIMIT 1",
	[Q_PRUNE_AGE] =
		"DELETE FROM messages WHERE id < (SELECT id FROM messages"
		" WHERE ts >= ?1 ORDER BY id LIMIT 1)",
	[Q_CHANNEL_COUNT] =
		"SELECT count(*) FROM channels",
	[Q_EVICT] =
		"DELETE FROM messages WHERE channel IN (SELECT name FROM channels"
		" WHERE name <> ?1 ORDER BY last_id LIMIT ?2)",
};

struct store {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char *path;
	char *wal_name;       /* basename of the -wal file, for inotify events */
	char *wal_path;       /* the -wal file itself, watched for IN_MODIFY */
	int wal_wd;           /* its watch, -1 while the file does not exist */
	char *db_name;        /* basename of the database file */
	dev_t dev;            /* the file we opened, to notice it being replaced */
	ino_t ino;
	int inotify_fd;       /* -1 without inotify (or not watched yet) */
	int watched;          /* watch_open() has run */
	int no_inotify;       /* RT_NO_INOTIFY=1 at open */
	int64_t version;      /* last PRAGMA data_version seen */
	int recheck;          /* index into recheck_ms, -1 when not rechecking */
	long long keep;       /* RT_KEEP: messages per channel, 0 = unlimited */
	long long max_age_ms; /* RT_MAX_AGE in ms, 0 = unlimited */
	long long max_channels; /* RT_MAX_CHANNELS, 0 = unlimited */
};

static int read_version(struct store *st, int64_t *v)
{
	sqlite3_stmt *q = st->q[Q_VERSION];
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/*
 * Two watches.  The -wal file, for IN_MODIFY: every commit appends to it.
 * And the directory, for files created, moved in or deleted there: the -wal
 * file is created by the first connection and deleted by the last one, and
 * an admin may recreate the database; those events re-arm the file watch.
 * Watching only the directory for IN_MODIFY would wake every waiter on every
 * write to any file beside the database (a log, a temp file).
 */
static void watch_wal(struct store *st)
{
	st->wal_wd = inotify_add_watch(st->inotify_fd, st->wal_path, IN_MODIFY);
}

static void watch_open(struct store *st)
{
	char *dir_copy;

	if (st->watched)
		return;
	/* An inotify instance is a per-user resource (fs.inotify.
	 * max_user_instances, 128 by default): only processes that wait take
	 * one, on their first wait, not every send or poll process. */
	st->watched = 1;
	dir_copy = strdup(st->path);
	st->inotify_fd = -1;
	st->wal_wd = -1;
	/* RT_NO_INOTIFY=1 forces the timed fallback: for tests, and for network
	 * filesystems where inotify never hears of another host's writes. */
	if (dir_copy == NULL || st->no_inotify) {
		free(dir_copy);
		st->recheck = 0;
		return;
	}
	st->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (st->inotify_fd >= 0 &&
	    inotify_add_watch(st->inotify_fd, dirname(dir_copy),
	                      IN_CREATE | IN_MOVED_TO | IN_DELETE) < 0) {
		close(st->inotify_fd);
		st->inotify_fd = -1;
	}
	if (st->inotify_fd >= 0)
		watch_wal(st);      /* fails harmlessly if there is no -wal yet */
	else
		fprintf(stderr, "rtlab store: no inotify (%s); checking for changes "
		        "every %d ms instead\n", strerror(errno), FALLBACK_CHECK_MS);
	free(dir_copy);
	/* A commit may have come between our last read and the watch: look at
	 * data_version once right away rather than wait for the next event. */
	st->recheck = 0;
}

struct store *store_open(const char *path, const char **errstr)
{
	struct store *st;
	char *base_copy = NULL;
	const char *err = "out of memory";

	if (path == NULL)
		path = getenv("RT_DB");
	if (path == NULL || *path == '\0')
		path = STORE_DEFAULT_PATH;
	if ((st = calloc(1, sizeof *st)) == NULL)
		goto fail;
	st->inotify_fd = -1;
	st->recheck = -1;
	st->keep = settings_int("RT_KEEP", 0, LLONG_MAX, DEFAULT_KEEP);
	st->max_age_ms = settings_int("RT_MAX_AGE", 0, LLONG_MAX / 1000, 0) * 1000;
	st->max_channels = settings_int("RT_MAX_CHANNELS", 0, LLONG_MAX, DEFAULT_CHANNELS);
	st->no_inotify = settings_int("RT_NO_INOTIFY", 0, 1, 0) != 0;
	if ((st->path = strdup(path)) == NULL || (base_copy = strdup(path)) == NULL)
		goto fail;
	st->db_name = strdup(basename(base_copy));
	if (st->db_name == NULL ||
	    asprintf(&st->wal_name, "%s-wal", st->db_name) < 0) {
		st->wal_name = NULL;
		goto fail;
	}
	if (asprintf(&st->wal_path, "%s-wal", path) < 0) {
		st->wal_path = NULL;
		goto fail;
	}

	/* A database we may not write (chmod a-w, a read-only mount) is
	 * refused rather than opened read-only: SQLite would create the -shm
	 * file with the database's own mode, read-only, and that file would
	 * outlive the spell, so that every write still failed once the
	 * database was writable again.  Refused, it is a 503 until then. */
	err = "the message store is read-only";
	if (access(path, W_OK) < 0 && (errno == EACCES || errno == EROFS))
		goto fail;
	err = "the message store cannot be opened";
	/* No SQLITE_OPEN_CREATE: a missing database is an installation error
	 * (run sql/schema.sql), not something to paper over with an empty file. */
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	                    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL;"
	                 "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	/* A database made before the channels table fails here too: running
	 * sql/schema.sql again migrates it (make install does). */
	err = "the message store has no schema, or an older one (run sql/schema.sql)";
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, sql_text[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) != SQLITE_OK)
			goto fail;
	err = "the message store cannot be read";
	if (read_version(st, &st->version) < 0)
		goto fail;
	{
		struct stat sb;
		if (stat(path, &sb) < 0)
			goto fail;
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
	}
	free(base_copy);
	return st;
fail:
	free(base_copy);
	store_close(st);
	if (errstr != NULL)
		*errstr = err;
	return NULL;
}

void store_close(struct store *st)
{
	if (st == NULL)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->q[i]);
	sqlite3_close(st->db);
	if (st->inotify_fd >= 0)
		close(st->inotify_fd);
	free(st->path);
	free(st->db_name);
	free(st->wal_name);
	free(st->wal_path);
	free(st);
}

const char *store_path(const struct store *st)
{
	return st->path;
}

int store_replaced(const struct store *st)
{
	struct stat sb;

	if (stat(st->path, &sb) < 0)
		return 1;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

/* Copies the current row (id, channel, json) of q into m. */
static int row_to_msg(sqlite3_stmt *q, struct store_msg *m)
{
	const char *channel = (const char *)sqlite3_column_text(q, 1);
	const char *json = (const char *)sqlite3_column_text(q, 2);
	int len = sqlite3_column_bytes(q, 2);

	memset(m, 0, sizeof *m);
	if (channel == NULL || json == NULL)
		return -1;
	m->id = sqlite3_column_int64(q, 0);
	snprintf(m->channel, sizeof m->channel, "%s", channel);
	if ((m->json = malloc((size_t)len + 1)) == NULL)
		return -1;
	memcpy(m->json, json, (size_t)len + 1);
	m->json_len = (size_t)len;
	return 0;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void exec_quiet(struct store *st, int which)
{
	sqlite3_step(st->q[which]);
	sqlite3_reset(st->q[which]);
}

/* One integer from a one-row query (bound by the caller), or -1. */
static long long query_int(struct store *st, int which)
{
	sqlite3_stmt *q = st->q[which];
	long long v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return v;
}

static int exec_ok(struct store *st, int which)
{
	int rc = sqlite3_step(st->q[which]);

	sqlite3_reset(st->q[which]);
	sqlite3_clear_bindings(st->q[which]);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * A channel may hold up to keep + keep_slack(keep) messages before it is cut
 * back to keep: deleting a batch now and then writes fewer pages to the WAL
 * than deleting one row on every insert.  keep / 8, at most 64; 0 below 8.
 */
static long long keep_slack(long long keep)
{
	return keep / 8 < KEEP_SLACK_MAX ? keep / 8 : KEEP_SLACK_MAX;
}

/*
 * Retention, inside the insert's own transaction, so it holds whoever
 * inserts and however often (one insert per CGI process included), and the
 * bounds are never exceeded by a committed state:
 *   - RT_KEEP: the channel just written holds at most keep + slack messages;
 *   - RT_MAX_AGE: nothing older than max_age stays after an insert;
 *   - RT_MAX_CHANNELS: when a new channel makes one too many, the channel
 *     idle longest (smallest newest id) goes, messages and all.
 * WAL readers keep reading their snapshot meanwhile: retention never blocks
 * a reader.  Returns 0 or -1 (the insert is then rolled back).
 */
static int retain(struct store *st, const char *channel)
{
	long long n = -1, over;

	if (st->keep > 0 || st->max_channels > 0) {
		sqlite3_bind_text(st->q[Q_CHANNEL_SIZE], 1, channel, -1, SQLITE_STATIC);
		if ((n = query_int(st, Q_CHANNEL_SIZE)) < 0)
			return -1;
	}
	if (st->keep > 0 && n > st->keep + keep_slack(st->keep)) {
		sqlite3_stmt *q = st->q[Q_PRUNE_KEEP];
		sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, n - st->keep - 1);
		if (exec_ok(st, Q_PRUNE_KEEP) < 0)
			return -1;
	}
	if (st->max_age_ms > 0) {
		int64_t cutoff = wall_ms() - st->max_age_ms;
		long long oldest = query_int(st, Q_OLDEST_TS);
		if (oldest >= 0 && oldest < cutoff) {
			sqlite3_bind_int64(st->q[Q_PRUNE_AGE], 1, cutoff);
			if (exec_ok(st, Q_PRUNE_AGE) < 0)
				return -1;
		}
	}
	/* Only a new channel (n == 1) can make one too many. */
	if (st->max_channels > 0 && n == 1 &&
	    (over = query_int(st, Q_CHANNEL_COUNT) - st->max_channels) > 0) {
		sqlite3_bind_text(st->q[Q_EVICT], 1, channel, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st->q[Q_EVICT], 2, over);
		if (exec_ok(st, Q_EVICT) < 0)
			return -1;
	}
	return 0;
}

int store_insert(struct store *st, const char *channel, const char *user,
                 const char *text, const char *via, struct store_msg *out)
{
	sqlite3_stmt *q = st->q[Q_INSERT];
	int rc, ret = -1;

	memset(out, 0, sizeof *out);
	/* BEGIN IMMEDIATE takes the write lock up front, where the busy timeout
	 * applies; a deferred transaction could fail with SQLITE_BUSY later. */
	rc = sqlite3_step(st->q[Q_BEGIN]);
	sqlite3_reset(st->q[Q_BEGIN]);
	if (rc != SQLITE_DONE)
		return -1;
	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 2, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 3, text, -1, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, via, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 5, wall_ms());
	if (sqlite3_step(q) == SQLITE_ROW && row_to_msg(q, out) == 0 &&
	    sqlite3_step(q) == SQLITE_DONE)
		ret = 0;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (ret == 0 && retain(st, channel) < 0)
		ret = -1;
	if (ret == 0) {
		rc = sqlite3_step(st->q[Q_COMMIT]);
		sqlite3_reset(st->q[Q_COMMIT]);
		if (rc != SQLITE_DONE)
			ret = -1;
	}
	if (ret != 0) {
		exec_quiet(st, Q_ROLLBACK);
		store_msg_clear(out);
		return -1;
	}
	return 0;
}

/* Runs a bound SELECT of (id, channel, json) rows into out. */
static int read_rows(sqlite3_stmt *q, struct store_msgs *out)
{
	size_t cap = 0;
	int rc;

	out->v = NULL;
	out->n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct store_msg *nv = realloc(out->v, ncap * sizeof *nv);
			if (nv == NULL)
				break;
			out->v = nv;
			cap = ncap;
		}
		if (row_to_msg(q, &out->v[out->n]) < 0)
			break;
		out->n++;
	}
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE) {
		store_msgs_free(out);
		return -1;
	}
	return 0;
}

static int clamp_limit(int limit)
{
	if (limit < 0)
		return 0;
	return limit > STORE_READ_MAX ? STORE_READ_MAX : limit;
}

int store_read_after(struct store *st, const char *channel, int64_t since,
                     int limit, struct store_msgs *out)
{
	sqlite3_stmt *q = st->q[channel != NULL ? Q_AFTER_CH : Q_AFTER_ALL];

	if (channel != NULL)
		sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int(q, 3, clamp_limit(limit));
	return read_rows(q, out);
}

int store_read_last(struct store *st, const char *channel, int limit,
                    struct store_msgs *out)
{
	sqlite3_stmt *q = st->q[Q_LAST_CH];

	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, clamp_limit(limit));
	return read_rows(q, out);
}

int store_last_id(struct store *st, int64_t *id)
{
	sqlite3_stmt *q = st->q[Q_LAST_ID];
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
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

/* ---- the change wait ---------------------------------------------------- */

/* Reads every queued inotify event; returns 1 if one concerns our database
 * (a write to its -wal file, or it or the -wal file created, moved in or
 * deleted), else 0. */
static int drain_events(struct store *st)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int ours = 0;
	ssize_t n;

	while ((n = read(st->inotify_fd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + n; ) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			if (ev->wd == st->wal_wd) {
				ours = 1;
				if (ev->mask & IN_IGNORED)   /* the -wal file is gone */
					st->wal_wd = -1;
			} else if (ev->len > 0 && strcmp(ev->name, st->wal_name) == 0) {
				ours = 1;
				if (ev->mask & (IN_CREATE | IN_MOVED_TO))
					watch_wal(st);
			} else if (ev->len > 0 && strcmp(ev->name, st->db_name) == 0) {
				ours = 1;
			}
			p += sizeof *ev + ev->len;
		}
	}
	return ours;
}

int store_wait_fd(struct store *st)
{
	watch_open(st);
	return st->inotify_fd;
}

int store_wait_next_ms(struct store *st)
{
	watch_open(st);
	if (st->recheck >= 0)
		return recheck_ms[st->recheck];
	return st->inotify_fd < 0 ? FALLBACK_CHECK_MS : -1;
}

int store_wait_check(struct store *st)
{
	int64_t v;
	int event = 0;

	watch_open(st);
	if (st->inotify_fd >= 0) {
		event = drain_events(st);
		if (!event && st->recheck < 0)
			return 0;      /* nothing of ours happened: not even a query */
	}
	if (read_version(st, &v) < 0)
		return 0;
	if (v != st->version) {
		st->version = v;
		st->recheck = -1;
		return 1;
	}
	if (event)
		st->recheck = 0;          /* a WAL write not yet visible: look again soon */
	else if (st->recheck >= 0 && ++st->recheck >= RECHECKS)
		st->recheck = -1;         /* it was not a commit (e.g. a checkpoint) */
	return 0;
}

int store_wait(struct store *st, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : clock_now_ms() + timeout_ms;

	watch_open(st);

	for (;;) {
		struct pollfd pfd = { .fd = st->inotify_fd, .events = POLLIN };
		int left = -1, next = store_wait_next_ms(st);

		if (deadline >= 0) {
			int64_t d = deadline - clock_now_ms();
			left = d > 0 ? (int)(d > INT_MAX ? INT_MAX : d) : 0;
		}
		if (next >= 0 && (left < 0 || next < left))
			left = next;
		if (poll(&pfd, st->inotify_fd >= 0 ? 1 : 0, left) < 0) {
			if (errno == EINTR)
				return 0;
			return -1;
		}
		if (store_wait_check(st))
			return 1;
		if (deadline >= 0 && clock_now_ms() >= deadline)
			return 0;
	}
}
