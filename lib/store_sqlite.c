/*
 * store_sqlite.c — the SQLite message store and its change wait (see store.h;
 * lib/store.c forwards the calls here for "sqlite:PATH" and plain paths).
 *
 * Three ideas, each tied to a SQLite document:
 *  - WAL mode with synchronous=NORMAL: a commit is an append to the -wal file,
 *    durable across a process crash (not a power cut until the next
 *    checkpoint), and readers never block it.  https://www.sqlite.org/wal.html
 *  - a busy timeout plus BEGIN IMMEDIATE for writes: concurrent writers queue
 *    for the write lock inside SQLite instead of seeing SQLITE_BUSY.
 *    https://www.sqlite.org/c3ref/busy_timeout.html
 *  - no query to learn that nothing happened: after each COMMIT the writer
 *    raises its channel's number in a small file beside the database
 *    (lib/notify.h), and a waiter watches only its channels' files with
 *    inotify(7).  SQLite is asked only once there is something to read.
 *
 * Every statement is prepared once per connection and reset after use, so no
 * read transaction stays open while a process waits (an open reader would
 * hold back checkpoints and let the WAL grow).
 */
#include "store_backend.h"
#include "clock.h"      /* clock_now_ms: the one clock */
#include "settings.h"   /* settings_int: the one RT_* reader */
#include "wake.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define BUSY_TIMEOUT_MS     5000   /* longest a writer queues for the lock */
#define DEFAULT_KEEP        10000  /* messages kept per channel */
#define DEFAULT_CHANNELS    1000   /* channels kept (the idle longest go) */
#define KEEP_SLACK_MAX      64     /* see keep_slack() */

enum {
	Q_INSERT, Q_AFTER_CH, Q_AFTER_ALL, Q_LAST_CH, Q_LAST_ID,
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_CHANNEL_SIZE, Q_PRUNE_KEEP, Q_OLDEST_TS,
	Q_PRUNE_AGE, Q_CHANNEL_COUNT, Q_EVICT, Q_COUNT
};

/* Every read returns STORE_ROW_COLUMNS (lib/store_backend.h): id, channel,
 * event, user, and the message as JSON built by SQLite. */
#define ROW_COLUMNS STORE_ROW_COLUMNS

static const char *const sql_text[Q_COUNT] = {
	[Q_INSERT] =
		"INSERT INTO messages (channel, user, text, ts, via, event)"
		" VALUES (?1, ?2, ?3, ?5, ?4, ?6) RETURNING " ROW_COLUMNS,
	[Q_AFTER_CH] =
		"SELECT " ROW_COLUMNS
		" FROM messages WHERE channel = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	[Q_AFTER_ALL] =
		"SELECT " ROW_COLUMNS
		" FROM messages WHERE id > ?2 ORDER BY id LIMIT ?3",
	[Q_LAST_CH] =
		"SELECT * FROM (SELECT " ROW_COLUMNS
		" FROM messages WHERE channel = ?1 ORDER BY id DESC LIMIT ?3)"
		" ORDER BY 1",
	[Q_LAST_ID] =
		"SELECT coalesce((SELECT seq FROM sqlite_sequence"
		" WHERE name = 'messages'), 0)",
	[Q_BEGIN]    = "BEGIN IMMEDIATE",
	[Q_COMMIT]   = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	/* Retention (retain()): the channels table is kept by triggers
	 * (CHANNELS_SCHEMA).  Each delete walks the (channel, id) index from
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

/*
 * Retention's bookkeeping, as sql/schema.sql declares it: per channel, how
 * many messages it holds and its newest id, kept exact by two triggers
 * whoever writes (an endpoint, the helper, the sqlite3 shell).  The last
 * statement counts what a database made before the table already holds.
 */
#define CHANNELS_SCHEMA \
	"CREATE TABLE IF NOT EXISTS channels (name TEXT PRIMARY KEY," \
	" n INTEGER NOT NULL, last_id INTEGER NOT NULL) WITHOUT ROWID;" \
	"CREATE TRIGGER IF NOT EXISTS channels_count_insert AFTER INSERT ON messages" \
	" BEGIN INSERT INTO channels (name, n, last_id) VALUES (NEW.channel, 1, NEW.id)" \
	" ON CONFLICT (name) DO UPDATE SET n = n + 1, last_id = NEW.id; END;" \
	"CREATE TRIGGER IF NOT EXISTS channels_count_delete AFTER DELETE ON messages" \
	" BEGIN UPDATE channels SET n = n - 1 WHERE name = OLD.channel;" \
	" DELETE FROM channels WHERE name = OLD.channel AND n <= 0; END;" \
	"INSERT OR IGNORE INTO channels (name, n, last_id)" \
	" SELECT channel, count(*), max(id) FROM messages GROUP BY channel;"

struct sqlite_store {
	struct store base;     /* first: the ops (lib/store_backend.h) */
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	char *path;
	dev_t dev;            /* the file we opened, to notice it being replaced */
	ino_t ino;
	struct wake wake;     /* the change wait and the writer's announcements */
	int replaced;         /* the wait found the file replaced (sticky) */
	long long keep;       /* RT_KEEP: messages per channel, 0 = unlimited */
	long long max_age_ms; /* RT_MAX_AGE in ms, 0 = unlimited */
	long long max_channels; /* RT_MAX_CHANNELS, 0 = unlimited */
};

/*
 * Brings a database made by an older sql/schema.sql up to this one, so a
 * course server that upgrades keeps its messages.  Two steps so far: the
 * event column (every older message was a plain "message"), and the
 * channels table that retention keeps (CHANNELS_SCHEMA, counted from the
 * messages there).  Most opens only look (one read of the schema); the
 * first process to find a step missing does it under the write lock, and
 * whoever comes second finds it done.  ALTER TABLE ... ADD COLUMN rewrites
 * no row: the default covers them
 * (https://www.sqlite.org/lang_altertable.html#altertabaddcol).
 * Returns 0, or -1 (a check or a change failed).  store_sqlite_open has
 * made sure the messages table is there (has_schema) before it comes here.
 */
static const char *const migration_check[] = {
	"SELECT 1 FROM pragma_table_info('messages') WHERE name = 'event'",
	"SELECT 1 FROM sqlite_schema WHERE name = 'channels_count_delete'",
};
static const char *const migration_step[] = {
	"ALTER TABLE messages ADD COLUMN " STORE_EVENT_COLUMN,
	CHANNELS_SCHEMA,
};

/* 1 if the query finds a row, 0 if none, -1 on error: the schema checks. */
static int finds_row(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* 1 if the step's check finds it done, 0 if not, -1 on error. */
static int migration_done(sqlite3 *db, int step)
{
	return finds_row(db, migration_check[step]);
}

/* 1 if the messages table is there, 0 if not (a new file that sql/schema.sql
 * has not filled yet, or is filling: it is one transaction), -1 on error. */
static int has_schema(sqlite3 *db)
{
	return finds_row(db, "SELECT 1 FROM sqlite_schema WHERE name = 'messages'");
}

static int migrate(sqlite3 *db)
{
	for (int step = 0; step < 2; step++) {
		int found = migration_done(db, step);

		if (found < 0)
			return -1;
		if (found)
			continue;
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
			return -1;
		found = migration_done(db, step);
		if (found == 0 && sqlite3_exec(db, migration_step[step], NULL, NULL,
		                               NULL) != SQLITE_OK)
			found = -1;
		if (sqlite3_exec(db, found < 0 ? "ROLLBACK" : "COMMIT", NULL, NULL,
		                 NULL) != SQLITE_OK || found < 0)
			return -1;
	}
	return 0;
}

static const struct store_ops sqlite_ops;

static int sq_last_id(struct store *base, int64_t *id);
static void sq_close(struct store *base);

struct store *store_sqlite_open(const char *path, const char **errstr)
{
	struct sqlite_store *st;
	const char *err = "out of memory";
	struct stat sb;
	int64_t last;

	if ((st = calloc(1, sizeof *st)) == NULL)
		goto fail;
	st->base.ops = &sqlite_ops;
	st->wake.fd = st->wake.wal_wd = -1;
	st->keep = settings_int("RT_KEEP", 0, LLONG_MAX, DEFAULT_KEEP);
	st->max_age_ms = settings_int("RT_MAX_AGE", 0, LLONG_MAX / 1000, 0) * 1000;
	st->max_channels = settings_int("RT_MAX_CHANNELS", 0, LLONG_MAX, DEFAULT_CHANNELS);
	if ((st->path = strdup(path)) == NULL)
		goto fail;

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
	/* Look before writing anything: a file without the schema is being
	 * made (or was never made).  Setting WAL on it here would race the
	 * schema's own "PRAGMA journal_mode = WAL": two connections that both
	 * want to change the journal mode deadlock, and SQLite then answers
	 * one of them "database is locked" at once, busy timeout or not
	 * (https://www.sqlite.org/c3ref/busy_handler.html). */
	err = "the message store has no schema (run sql/schema.sql)";
	if (has_schema(st->db) != 1)
		goto fail;
	err = "the message store cannot be opened";
	if (sqlite3_exec(st->db, "PRAGMA journal_mode = WAL;"
	                 "PRAGMA synchronous = NORMAL;", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	err = "the message store has no schema (run sql/schema.sql)";
	if (migrate(st->db) < 0)
		goto fail;
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(st->db, sql_text[i], -1,
		                       SQLITE_PREPARE_PERSISTENT, &st->q[i], NULL) != SQLITE_OK)
			goto fail;
	err = "the message store cannot be read";
	if (sq_last_id(&st->base, &last) < 0 || stat(path, &sb) < 0)
		goto fail;
	st->dev = sb.st_dev;
	st->ino = sb.st_ino;
	/* RT_NO_INOTIFY=1 forces the timed fallback: for tests, and for
	 * filesystems where inotify never hears of other writers.
	 * RT_SLOW_CHECK_MS: how soon writers that do not announce (the sqlite3
	 * shell) are seen; 0 when every writer is rtlab (docs/store.md). */
	err = "out of memory";
	if (wake_init(&st->wake, path, settings_int("RT_NO_INOTIFY", 0, 1, 0) != 0,
	              (int)settings_int("RT_SLOW_CHECK_MS", 0, 60000,
	                                STORE_SLOW_CHECK_MS)) < 0)
		goto fail;
	return &st->base;
fail:
	sq_close(st ? &st->base : NULL);
	if (errstr != NULL)
		*errstr = err;
	return NULL;
}

static void sq_close(struct store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;

	if (st == NULL)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(st->q[i]);
	sqlite3_close(st->db);
	wake_free(&st->wake);
	free(st->path);
	free(st);
}

static const char *sq_path(const struct store *base)
{
	return ((const struct sqlite_store *)base)->path;
}

static int sq_replaced(const struct store *base)
{
	const struct sqlite_store *st = (const struct sqlite_store *)base;
	struct stat sb;

	if (stat(st->path, &sb) < 0)
		return 1;
	return sb.st_dev != st->dev || sb.st_ino != st->ino;
}

/* Copies the current row (ROW_COLUMNS) of q into m. */
static int row_to_msg(sqlite3_stmt *q, struct store_msg *m)
{
	return store_msg_fill(m, sqlite3_column_int64(q, 0),
	                      (const char *)sqlite3_column_text(q, 1),
	                      (const char *)sqlite3_column_text(q, 2),
	                      (const char *)sqlite3_column_text(q, 3),
	                      (const char *)sqlite3_column_text(q, 4),
	                      (size_t)sqlite3_column_bytes(q, 4));
}

static void exec_quiet(struct sqlite_store *st, int which)
{
	sqlite3_step(st->q[which]);
	sqlite3_reset(st->q[which]);
}

/* One integer from a one-row query (bound by the caller), or -1. */
static long long query_int(struct sqlite_store *st, int which)
{
	sqlite3_stmt *q = st->q[which];
	long long v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -1;

	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return v;
}

static int exec_ok(struct sqlite_store *st, int which)
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
static int retain(struct sqlite_store *st, const char *channel)
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
		int64_t cutoff = clock_wall_ms() - st->max_age_ms;
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

/* For wake_announce(): a bucket number at or above a new id is from an older
 * database if this one has not handed it out. */
static int announced_older(void *arg, int64_t seen)
{
	int64_t last;

	return sq_last_id(arg, &last) == 0 && seen > last;
}

static int sq_insert(struct store *base, const char *channel, const char *event,
                     const char *user, const char *text, const char *via,
                     struct store_msg *out)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
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
	sqlite3_bind_int64(q, 5, clock_wall_ms());
	sqlite3_bind_text(q, 6, event, -1, SQLITE_STATIC);
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
	/* After COMMIT, never before: a waiter woken by the announcement must
	 * find the row when it reads. */
	wake_announce(&st->wake, channel, out->id, announced_older, &st->base);
	return 0;
}

/* Runs a bound SELECT of ROW_COLUMNS rows into out. */
static int read_rows(sqlite3_stmt *q, struct store_msgs *out)
{
	size_t cap = 0;
	struct store_msg *m;
	int rc;

	out->v = NULL;
	out->n = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((m = store_msgs_push(out, &cap)) == NULL)
			break;
		if (row_to_msg(q, m) < 0)
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

static int sq_read_after(struct store *base, const char *channel, int64_t since,
                         int limit, struct store_msgs *out)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	sqlite3_stmt *q = st->q[channel != NULL ? Q_AFTER_CH : Q_AFTER_ALL];

	if (channel != NULL)
		sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, since);
	sqlite3_bind_int(q, 3, store_clamp_limit(limit));
	return read_rows(q, out);
}

static int sq_read_last(struct store *base, const char *channel, int limit,
                        struct store_msgs *out)
{
	sqlite3_stmt *q = ((struct sqlite_store *)base)->q[Q_LAST_CH];

	sqlite3_bind_text(q, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int(q, 3, store_clamp_limit(limit));
	return read_rows(q, out);
}

static int sq_last_id(struct store *base, int64_t *id)
{
	sqlite3_stmt *q = ((struct sqlite_store *)base)->q[Q_LAST_ID];
	int rc = sqlite3_step(q);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(q, 0);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- the change wait (lib/wake.c) --------------------------------------- */

static int sq_watch(struct store *base, const char *channel, int64_t after)
{
	return wake_watch(&((struct sqlite_store *)base)->wake, channel, after);
}

static void sq_unwatch(struct store *base, const char *channel)
{
	wake_unwatch(&((struct sqlite_store *)base)->wake, channel);
}

static int sq_wait_fd(struct store *base)
{
	return wake_open(&((struct sqlite_store *)base)->wake);
}

static int sq_wait_next_ms(struct store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;

	return st->replaced ? 0 : wake_next_ms(&st->wake);
}

/* One stat(2) when the database file was touched (or on the slow check):
 * a replaced store is reported, and stays reported, until the caller reopens. */
static int sq_wait_check(struct store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;
	int found;

	if (st->replaced)
		return STORE_WAIT_RESET;
	found = wake_check(&st->wake);
	if ((found & WAKE_DB_EVENT) && sq_replaced(base)) {
		st->replaced = 1;
		return STORE_WAIT_RESET;
	}
	return (found & WAKE_CHANGE) ? STORE_WAIT_CHANGE : 0;
}

/* Each timeout (an SSE heartbeat, a long-poll's end) also looks at the
 * file itself, in case no directory event told us (issue 11 item 6). */
static int sq_wait_end(struct store *base)
{
	struct sqlite_store *st = (struct sqlite_store *)base;

	if (sq_replaced(base)) {
		st->replaced = 1;
		return STORE_WAIT_RESET;
	}
	return 0;
}

static const struct store_ops sqlite_ops = {
	.close = sq_close,
	.path = sq_path,
	.replaced = sq_replaced,
	.insert = sq_insert,
	.read_after = sq_read_after,
	.read_last = sq_read_last,
	.last_id = sq_last_id,
	.watch = sq_watch,
	.unwatch = sq_unwatch,
	.wait_fd = sq_wait_fd,
	.wait_check = sq_wait_check,
	.wait_next_ms = sq_wait_next_ms,
	.wait_end = sq_wait_end,
};
