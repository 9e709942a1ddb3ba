/*
 * check_store.c — unit tests for lib/store.c on real SQLite files.
 *
 * Each test gets its own temporary directory and database created from
 * sql/schema.sql (run from the repository root).  The change-wait tests write
 * from a *forked child* with its own connection, as a send.fcgi process would.
 * Longer than 600 lines on purpose: the per-channel wait (lib/wake.c,
 * lib/notify.c) is tested through the store's interface, with these fixtures.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "notify.h"
#include "store.h"
#include "store_fixture.h"

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* n messages on channel, through the store. */
static void insert_n(struct store *st, const char *channel, int n)
{
	struct store_msg m;

	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(store_insert(st, channel, "u", "x", "http", &m), 0);
		store_msg_clear(&m);
	}
}

START_TEST(insert_returns_the_stored_message)
{
	struct store *st = store_fixture_open();
	struct store_msg m;

	ck_assert_int_eq(store_insert(st, "lobby", "alice", "hi \"there\"\n</script>",
	                              "http", &m), 0);
	ck_assert_int_eq(m.id, 1);
	ck_assert_str_eq(m.channel, "lobby");
	/* Built by json_object: quotes, newline and the slash escaped by SQLite. */
	ck_assert_ptr_nonnull(strstr(m.json, "\"id\":1,\"channel\":\"lobby\","
	                             "\"user\":\"alice\",\"text\":\"hi \\\"there\\\"\\n</script>\""));
	ck_assert_ptr_nonnull(strstr(m.json, "\"via\":\"http\"}"));
	ck_assert_uint_eq(m.json_len, strlen(m.json));
	store_msg_clear(&m);
	store_msg_clear(NULL);
	store_close(st);
}
END_TEST

START_TEST(ts_is_now_in_milliseconds)
{
	struct store *st = store_fixture_open();
	struct store_msg m;
	long long ts;
	time_t before = time(NULL);

	ck_assert_int_eq(store_insert(st, "c", "u", "t", "ws", &m), 0);
	ck_assert(sscanf(strstr(m.json, "\"ts\":"), "\"ts\":%lld", &ts) == 1);
	ck_assert(ts / 1000 >= before - 1 && ts / 1000 <= time(NULL) + 1);
	store_msg_clear(&m);
	store_close(st);
}
END_TEST

START_TEST(read_after_is_per_channel_in_id_order_and_bounded)
{
	struct store *st = store_fixture_open();
	struct store_msg m;
	struct store_msgs ms;
	char text[16];

	for (int i = 0; i < 30; i++) {
		snprintf(text, sizeof text, "m%d", i);
		ck_assert_int_eq(store_insert(st, i % 3 ? "a" : "b", "u", text, "http", &m), 0);
		store_msg_clear(&m);
	}
	ck_assert_int_eq(store_read_after(st, "a", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 20);
	for (size_t i = 1; i < ms.n; i++)
		ck_assert(ms.v[i].id > ms.v[i - 1].id);
	for (size_t i = 0; i < ms.n; i++)
		ck_assert_str_eq(ms.v[i].channel, "a");
	store_msgs_free(&ms);

	ck_assert_int_eq(store_read_after(st, "a", 20, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 7);           /* ids 21..30 not divisible by 3 */
	ck_assert_int_eq(ms.v[0].id, 21);
	store_msgs_free(&ms);

	ck_assert_int_eq(store_read_after(st, "a", 0, 5, &ms), 0);
	ck_assert_uint_eq(ms.n, 5);
	ck_assert_int_eq(ms.v[0].id, 2);
	store_msgs_free(&ms);

	ck_assert_int_eq(store_read_after(st, NULL, 25, 100, &ms), 0);  /* every channel */
	ck_assert_uint_eq(ms.n, 5);
	ck_assert_str_eq(ms.v[0].channel, "a");   /* id 26: 25 % 3 != 0 */
	store_msgs_free(&ms);

	ck_assert_int_eq(store_read_after(st, "nobody", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	store_msgs_free(NULL);
	store_close(st);
}
END_TEST

START_TEST(read_limit_is_clamped)
{
	struct store *st = store_fixture_open();
	struct store_msgs ms;

	insert_n(st, "c", STORE_READ_MAX + 20);
	ck_assert_int_eq(store_read_after(st, "c", 0, 100000, &ms), 0);
	ck_assert_uint_eq(ms.n, STORE_READ_MAX);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 0, -3, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(read_last_returns_newest_oldest_first)
{
	struct store *st = store_fixture_open();
	struct store_msgs ms;

	insert_n(st, "c", 10);
	ck_assert_int_eq(store_read_last(st, "c", 3, &ms), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_int_eq(ms.v[0].id, 8);
	ck_assert_int_eq(ms.v[2].id, 10);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_last(st, "c", 0, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(last_id_never_goes_back)
{
	struct store *st;
	struct store_msg m;
	struct store_msgs ms;
	int64_t last = -1;

	setenv("RT_KEEP", "5", 1);
	st = store_fixture_open();
	unsetenv("RT_KEEP");
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 0);
	for (int i = 0; i < 200; i++) {
		ck_assert_int_eq(store_insert(st, "c", "u", "x", "http", &m), 0);
		store_msg_clear(&m);
	}
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 200);
	/* Retention ran on every insert: RT_KEEP=5 rows are left (the slack
	 * is keep / 8 = 0), and they are the newest. */
	ck_assert_int_eq(store_read_after(st, "c", 0, 500, &ms), 0);
	ck_assert_uint_eq(ms.n, 5);
	ck_assert_int_eq(ms.v[0].id, 196);
	ck_assert_int_eq(ms.v[ms.n - 1].id, 200);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/* count(*) of a query on the database, through a connection of its own. */
static long long count_sql(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	long long n;

	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static void insert_in_own_process(const char *channel)
{
	struct store *st = store_fixture_open();
	struct store_msg m;

	ck_assert_int_eq(store_insert(st, channel, "u", "x", "http", &m), 0);
	store_msg_clear(&m);
	store_close(st);
}

/* MODE=cgi: one insert per process, three channels interleaved.  Retention
 * used to run every 64th insert of one process, so it never ran here. */
START_TEST(retention_holds_per_channel_with_one_insert_per_open)
{
	static const char *const channels[] = { "a", "b", "c" };
	char sql[128];

	setenv("RT_KEEP", "5", 1);
	for (int i = 0; i < 100; i++)
		insert_in_own_process(channels[i % 3]);
	unsetenv("RT_KEEP");
	for (int i = 0; i < 3; i++) {
		snprintf(sql, sizeof sql, "SELECT count(*) FROM messages"
		         " WHERE channel = '%s'", channels[i]);
		ck_assert_int_eq(count_sql(sql), 5);
	}
	/* The newest five of each: c's last is 99, b's 98, a's 100. */
	ck_assert_int_eq(count_sql("SELECT min(id) FROM messages WHERE channel = 'a'"), 88);
	ck_assert_int_eq(count_sql("SELECT max(id) FROM messages WHERE channel = 'a'"), 100);
}
END_TEST

START_TEST(retention_slack_is_bounded)
{
	struct store *st;
	struct store_msg m;
	long long n, most = 0;

	setenv("RT_KEEP", "100", 1);    /* slack 100 / 8 = 12 */
	st = store_fixture_open();
	unsetenv("RT_KEEP");
	for (int i = 0; i < 400; i++) {
		ck_assert_int_eq(store_insert(st, "c", "u", "x", "http", &m), 0);
		store_msg_clear(&m);
		n = count_sql("SELECT count(*) FROM messages");
		ck_assert(i < 100 || n >= 100);
		if (n > most)
			most = n;
	}
	ck_assert_int_eq(most, 112);
	store_close(st);
}
END_TEST

/* The channels table follows every writer, the sqlite3 shell included. */
START_TEST(channel_counts_follow_every_writer)
{
	sqlite3 *db;

	insert_in_own_process("a");
	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO messages (channel, user, text, ts, via)"
	                              " VALUES ('a', 'u', 'x', 1, 'http'), ('b', 'u', 'x', 1, 'http');"
	                              " DELETE FROM messages WHERE id = 1;", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(count_sql("SELECT n FROM channels WHERE name = 'a'"), 1);
	ck_assert_int_eq(count_sql("SELECT last_id FROM channels WHERE name = 'a'"), 2);
	ck_assert_int_eq(count_sql("SELECT n FROM channels WHERE name = 'b'"), 1);
	insert_in_own_process("b");
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages m JOIN channels c"
	                           " ON c.name = m.channel"), 3);
	ck_assert_int_eq(count_sql("SELECT sum(n) FROM channels"), 3);
}
END_TEST

/* Many one-message channels do not grow the store without bound: beyond
 * RT_MAX_CHANNELS a new channel evicts the one idle longest. */
START_TEST(channels_are_bounded_idle_longest_goes)
{
	char name[16];

	setenv("RT_MAX_CHANNELS", "10", 1);
	for (int i = 0; i < 30; i++) {
		snprintf(name, sizeof name, "one%d", i);
		insert_in_own_process(name);
		insert_in_own_process("busy");      /* never idle, never evicted */
	}
	unsetenv("RT_MAX_CHANNELS");
	ck_assert_int_eq(count_sql("SELECT count(*) FROM channels"), 10);
	ck_assert_int_eq(count_sql("SELECT count(DISTINCT channel) FROM messages"), 10);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages WHERE channel = 'busy'"), 30);
	/* The nine newest one-message channels stay: one21 .. one29. */
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages WHERE channel = 'one20'"), 0);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages WHERE channel = 'one21'"), 1);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages WHERE channel = 'one29'"), 1);
}
END_TEST

/* A database made before the channels table: store_open() adds it and
 * counts what is there (lib/store.c migrate()); running sql/schema.sql
 * afterwards changes nothing. */
START_TEST(old_database_is_migrated_on_open)
{
	char *schema = fixture_slurp("sql/schema.sql");
	sqlite3 *db;
	struct store *st;
	struct store_msg m;

	snprintf(fixture_path, sizeof fixture_path, "%s/old.db", fixture_dir);
	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "PRAGMA journal_mode = WAL;"
	                              "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	                              " channel TEXT NOT NULL, user TEXT NOT NULL, text TEXT NOT NULL,"
	                              " ts INTEGER NOT NULL, via TEXT NOT NULL);"
	                              "INSERT INTO messages (channel, user, text, ts, via) VALUES"
	                              " ('a', 'u', 'x', 1, 'http'), ('a', 'u', 'x', 1, 'http'),"
	                              " ('b', 'u', 'x', 1, 'http');", NULL, NULL, NULL), SQLITE_OK);
	setenv("RT_KEEP", "1", 1);
	st = store_fixture_open();
	unsetenv("RT_KEEP");
	ck_assert_int_eq(count_sql("SELECT n FROM channels WHERE name = 'a'"), 2);
	ck_assert_int_eq(count_sql("SELECT last_id FROM channels WHERE name = 'b'"), 3);
	ck_assert_int_eq(sqlite3_exec(db, schema, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(schema);
	ck_assert_int_eq(count_sql("SELECT sum(n) FROM channels"), 3);
	ck_assert_int_eq(store_insert(st, "a", "u", "x", "http", &m), 0);
	ck_assert_int_eq(m.id, 4);
	store_msg_clear(&m);
	store_close(st);
	ck_assert_int_eq(count_sql("SELECT count(*) FROM messages WHERE channel = 'a'"), 1);
	ck_assert_int_eq(count_sql("SELECT n FROM channels WHERE name = 'a'"), 1);
}
END_TEST

START_TEST(retention_by_age)
{
	struct store *st;
	struct store_msg m;
	struct store_msgs ms;
	sqlite3 *db;

	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO messages (channel, user, text, ts, via)"
	                              " VALUES ('c', 'u', 'old', 1000, 'http')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	setenv("RT_MAX_AGE", "60", 1);
	st = store_fixture_open();
	unsetenv("RT_MAX_AGE");
	/* One insert, on another channel, is enough. */
	ck_assert_int_eq(store_insert(st, "d", "u", "new", "http", &m), 0);
	store_msg_clear(&m);
	ck_assert_int_eq(store_read_after(st, "c", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "d", 0, 500, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(open_missing_or_schemaless_fails_with_a_reason)
{
	const char *err = NULL;
	char other[160];
	FILE *f;

	ck_assert_ptr_null(store_open("/nonexistent/dir/rt.db", &err));
	ck_assert_ptr_nonnull(err);
	ck_assert_ptr_nonnull(strstr(err, "cannot be opened"));

	snprintf(other, sizeof other, "%s/empty.db", fixture_dir);
	f = fopen(other, "w");
	fclose(f);
	err = NULL;
	ck_assert_ptr_null(store_open(other, &err));
	ck_assert_ptr_nonnull(strstr(err, "schema"));
	store_close(NULL);
}
END_TEST

START_TEST(open_uses_rt_db)
{
	struct store *st;

	setenv("RT_DB", fixture_path, 1);
	st = store_open(NULL, NULL);
	unsetenv("RT_DB");
	ck_assert_ptr_nonnull(st);
	ck_assert_str_eq(store_path(st), fixture_path);
	store_close(st);
}
END_TEST

START_TEST(replaced_file_is_noticed)
{
	struct store *st = store_fixture_open();
	char cmd[1024];

	ck_assert_int_eq(store_replaced(st), 0);
	/* What an admin does: remove the database and create it again. */
	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' && sqlite3 '%s' < sql/schema.sql >/dev/null",
	         fixture_path, fixture_path, fixture_path, fixture_path);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(store_replaced(st), 1);
	store_close(st);
	st = store_fixture_open();
	ck_assert_int_eq(store_replaced(st), 0);
	unlink(fixture_path);
	ck_assert_int_eq(store_replaced(st), 1);
	store_close(st);
}
END_TEST

/* How many inotify instances this process holds (fds on anon_inode:inotify). */
static int inotify_instances(void)
{
	char link[64], target[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t len;
		snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof target - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:inotify") == 0;
		}
	}
	return n;
}

/* inotify instances are a per-user limit (128 by default): a process that
 * only inserts and reads, like send.fcgi and poll.fcgi, must not take one. */
START_TEST(only_waiting_takes_an_inotify_instance)
{
	int before = inotify_instances();
	struct store *st = store_fixture_open();
	struct store_msg m;
	struct store_msgs ms;

	ck_assert_int_eq(store_insert(st, "c", "u", "x", "http", &m), 0);
	store_msg_clear(&m);
	ck_assert_int_eq(store_read_after(st, "c", 0, 10, &ms), 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(inotify_instances(), before);
	ck_assert_int_eq(store_wait(st, 10), 0);
	ck_assert_int_eq(inotify_instances(), before + 1);
	store_close(st);
	ck_assert_int_eq(inotify_instances(), before);
}
END_TEST

/* Writes to another file beside the database (a log) do not even wake the
 * waiter: only the -wal file is watched for writes. */
START_TEST(writes_beside_the_database_do_not_wake)
{
	struct store *st;
	char other[160];
	struct pollfd pfd;
	FILE *f;

	snprintf(other, sizeof other, "%s/access.log", fixture_dir);
	f = fopen(other, "w");          /* exists before the watch */
	ck_assert_ptr_nonnull(f);
	st = store_fixture_open();
	pfd.fd = store_wait_fd(st);
	pfd.events = POLLIN;
	ck_assert_int_ge(pfd.fd, 0);
	ck_assert_int_eq(store_wait(st, 50), 0);   /* settle the first look */
	for (int i = 0; i < 20; i++) {
		fprintf(f, "line %d\n", i);
		fflush(f);
	}
	fclose(f);
	ck_assert_int_eq(poll(&pfd, 1, 100), 0);   /* no event at all */
	ck_assert_int_eq(store_wait_check(st), 0);
	ck_assert_int_eq(store_wait_next_ms(st), -1);
	store_close(st);
}
END_TEST

/* A child process inserts after delay_ms, with its own connection. */
static pid_t insert_later(int delay_ms, const char *channel)
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		struct store *st;
		struct store_msg m;
		usleep((useconds_t)delay_ms * 1000);
		st = store_open(fixture_path, NULL);
		if (st == NULL || store_insert(st, channel, "child", "hello", "http", &m) < 0)
			_exit(1);
		store_msg_clear(&m);
		store_close(st);
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	int status;

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

START_TEST(wait_wakes_on_another_process_write)
{
	struct store *st = store_fixture_open();
	struct store_msgs ms;
	pid_t pid;
	int64_t t0;

	ck_assert_int_ge(store_wait_fd(st), 0);
	ck_assert_int_eq(store_watch(st, "lobby", 0), 0);
	pid = insert_later(100, "lobby");
	t0 = now_us();
	/* Generous bound: the wake must come from the write, long before 20 s. */
	ck_assert_int_eq(store_wait(st, 20000), 1);
	ck_assert(now_us() - t0 < 15 * 1000000);
	ck_assert_int_eq(store_read_after(st, "lobby", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	store_msgs_free(&ms);
	reap(pid);
	store_close(st);
}
END_TEST

START_TEST(wait_times_out_without_writes)
{
	struct store *st = store_fixture_open();
	int64_t t0 = now_us();

	ck_assert_int_eq(store_wait(st, 200), 0);
	ck_assert(now_us() - t0 >= 190 * 1000);
	ck_assert_int_eq(store_wait(st, 0), 0);
	store_close(st);
}
END_TEST

START_TEST(own_writes_do_not_wake)
{
	struct store *st = store_fixture_open();
	struct store_msg m;

	ck_assert_int_eq(store_insert(st, "c", "u", "x", "http", &m), 0);
	store_msg_clear(&m);
	ck_assert_int_eq(store_wait(st, 150), 0);
	store_close(st);
}
END_TEST

/* The event-loop form: poll on the fd, then store_wait_check(). */
START_TEST(wait_fd_in_a_poll_set)
{
	struct store *st = store_fixture_open();
	pid_t pid;
	int changed = 0;

	ck_assert_int_eq(store_watch(st, "x", 0), 0);
	pid = insert_later(50, "x");
	int64_t t0 = now_us();

	while (!changed && now_us() - t0 < 15 * 1000000) {
		fd_set rd;
		struct timeval tv;
		int next = store_wait_next_ms(st);

		FD_ZERO(&rd);
		FD_SET(store_wait_fd(st), &rd);
		tv.tv_sec = next < 0 ? 1 : 0;
		tv.tv_usec = next < 0 ? 0 : next * 1000;
		ck_assert_int_ge(select(store_wait_fd(st) + 1, &rd, NULL, NULL, &tv), 0);
		changed = store_wait_check(st);
	}
	ck_assert_int_eq(changed, 1);
	/* The commit also touched the -wal: the slow check is due in ≤ 1 s. */
	ck_assert_int_le(store_wait_next_ms(st), STORE_SLOW_CHECK_MS);
	reap(pid);
	store_close(st);
}
END_TEST

/* Without inotify (fd -1) the wait still wakes, by its bounded timed check. */
START_TEST(wait_fallback_without_inotify)
{
	struct store *st;
	pid_t pid;

	setenv("RT_NO_INOTIFY", "1", 1);
	st = store_fixture_open();
	unsetenv("RT_NO_INOTIFY");
	ck_assert_int_eq(store_wait_fd(st), -1);
	ck_assert_int_gt(store_wait_next_ms(st), 0);
	ck_assert_int_eq(store_watch(st, "lobby", 0), 0);
	pid = insert_later(50, "lobby");
	ck_assert_int_eq(store_wait(st, 20000), 1);
	reap(pid);
	store_close(st);
}
END_TEST

/* Two channel names that land in different notify buckets (and one that
 * shares "a"'s bucket), so the tests do not depend on the hash's values. */
static void pick_channels(char *other, char *same_bucket)
{
	unsigned ba = notify_bucket("a");
	int got_other = 0, got_same = 0;

	for (int i = 0; !(got_other && got_same); i++) {
		char name[16];
		snprintf(name, sizeof name, "c%d", i);
		if (!got_other && notify_bucket(name) != ba) {
			strcpy(other, name);
			got_other = 1;
		} else if (!got_same && notify_bucket(name) == ba) {
			strcpy(same_bucket, name);
			got_same = 1;
		}
	}
}

/* The child has exited, so its announcement (if any) is queued: look once
 * without sleeping.  Returns what store_wait_check() says. */
static int look_now(struct store *st)
{
	return store_wait_check(st);
}

/* The point of per-channel wakes, counted, not timed: 20 commits on another
 * channel (each a full store_insert in another process) leave the waiter
 * with nothing to do; one commit on its channel wakes it. */
START_TEST(cross_channel_commits_do_not_wake)
{
	struct store *st;
	char other[16], same[16];
	pid_t pid;
	int wakes = 0;

	/* Without the slow check (RT_SLOW_CHECK_MS=0), which wakes once a
	 * second of writing whatever the channel: the count is then exact, on
	 * a slow machine or under valgrind too. */
	setenv("RT_SLOW_CHECK_MS", "0", 1);
	st = store_fixture_open();
	unsetenv("RT_SLOW_CHECK_MS");
	pick_channels(other, same);
	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	ck_assert_int_eq(look_now(st), 0);
	for (int i = 0; i < 20; i++) {
		reap(insert_later(0, other));
		wakes += look_now(st) == STORE_WAIT_CHANGE;
	}
	ck_assert_int_eq(wakes, 0);
	pid = insert_later(0, "a");
	reap(pid);
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	ck_assert_int_eq(look_now(st), 0);         /* reported once */
	/* A channel that shares the bucket wakes it too (a spurious read). */
	reap(insert_later(0, same));
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	store_close(st);
}
END_TEST

START_TEST(unwatch_stops_the_wakes)
{
	struct store *st = store_fixture_open();

	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	ck_assert_int_eq(store_watch(st, "a", 0), 0);   /* counted */
	store_unwatch(st, "a");
	reap(insert_later(0, "a"));
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	store_unwatch(st, "a");
	reap(insert_later(0, "a"));
	ck_assert_int_eq(look_now(st), 0);
	store_unwatch(st, "never-watched");
	store_close(st);
}
END_TEST

/* A fresh database has no notify directory: the waiter creates its file
 * (it has to watch something), the writer finds it. */
START_TEST(a_channel_file_that_does_not_exist_yet)
{
	struct store *st = store_fixture_open();
	char file[4096], notify_dir[160];
	struct notify nt;
	struct stat sb;

	snprintf(notify_dir, sizeof notify_dir, "%s-notify", fixture_path);
	ck_assert_int_eq(stat(notify_dir, &sb), -1);
	ck_assert_int_eq(notify_init(&nt, fixture_path), 0);
	ck_assert_int_eq(notify_path(&nt, notify_bucket("fresh"), file, sizeof file), 0);
	ck_assert_int_eq(store_watch(st, "fresh", 0), 0);
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_int_eq(look_now(st), 0);
	reap(insert_later(0, "fresh"));
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	ck_assert_int_eq(stat(file, &sb), 0);
	ck_assert_int_eq(sb.st_size, 8);
	notify_free(&nt);
	store_close(st);
}
END_TEST

/* The writer creates the directory and the file when no one waits yet. */
START_TEST(a_writer_creates_the_notify_file)
{
	struct store *st = store_fixture_open();
	struct store_msg m;
	struct notify nt;
	char file[4096];
	int fd;

	ck_assert_int_eq(store_insert(st, "w", "u", "x", "http", &m), 0);
	ck_assert_int_eq(notify_init(&nt, fixture_path), 0);
	ck_assert_int_eq(notify_path(&nt, notify_bucket("w"), file, sizeof file), 0);
	fd = open(file, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(notify_read(fd), m.id);
	close(fd);
	store_msg_clear(&m);
	notify_free(&nt);
	store_close(st);
}
END_TEST

/* The race between the caller's read and its watch: a commit in between is
 * reported at once, because the watch compares the bucket with the cursor. */
START_TEST(a_commit_before_the_watch_is_reported)
{
	struct store *st = store_fixture_open();
	int64_t cursor;

	ck_assert_int_eq(store_last_id(st, &cursor), 0);   /* the caller's read */
	reap(insert_later(0, "a"));                         /* a commit now */
	ck_assert_int_eq(store_watch(st, "a", cursor), 0);
	ck_assert_int_eq(store_wait_next_ms(st), 0);
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	/* Watching with a cursor that has seen it: nothing to report. */
	store_close(st);
	st = store_fixture_open();
	ck_assert_int_eq(store_last_id(st, &cursor), 0);
	ck_assert_int_eq(store_watch(st, "a", cursor), 0);
	ck_assert_int_eq(look_now(st), 0);
	store_close(st);
}
END_TEST

/* A writer that is not rtlab (the sqlite3 shell) announces nothing; the slow
 * check finds it within STORE_SLOW_CHECK_MS. */
START_TEST(a_writer_that_does_not_announce_is_seen_by_the_slow_check)
{
	struct store *st = store_fixture_open();
	struct store_msgs ms;
	sqlite3 *db;
	int rc;

	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO messages (channel, user, text, ts, via)"
	                              " VALUES ('a', 'u', 'shell', 0, 'http')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(look_now(st), 0);                 /* no announcement */
	ck_assert_int_gt(store_wait_next_ms(st), 0);       /* but a check is due */
	rc = store_wait(st, 10 * STORE_SLOW_CHECK_MS);
	ck_assert_int_eq(rc, STORE_WAIT_CHANGE);
	ck_assert_int_eq(store_read_after(st, "a", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	store_msgs_free(&ms);
	/* Idle again: nothing more is due. */
	ck_assert_int_eq(store_wait_next_ms(st), -1);
	store_close(st);
}
END_TEST

static void recreate_db(void)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "rm -f '%s' '%s-wal' '%s-shm' && sqlite3 '%s' < sql/schema.sql >/dev/null",
	         fixture_path, fixture_path, fixture_path, fixture_path);
	ck_assert_int_eq(system(cmd), 0);
}

/* Issue 11 item 6: a waiter on a database that is deleted and created again
 * learns it from the wait (and keeps being told until it reopens). */
START_TEST(a_recreated_database_is_noticed_by_the_wait)
{
	struct store *st = store_fixture_open();

	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	ck_assert_int_eq(look_now(st), 0);
	recreate_db();
	ck_assert_int_eq(look_now(st), STORE_WAIT_RESET);
	ck_assert_int_eq(store_wait(st, 0), STORE_WAIT_RESET);
	/* What the endpoints do then: reopen, and wait on the new database. */
	ck_assert_int_eq(store_reopen(&st), 0);
	ck_assert_int_eq(store_replaced(st), 0);
	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	ck_assert_int_eq(look_now(st), 0);
	reap(insert_later(0, "a"));
	ck_assert_int_eq(look_now(st), STORE_WAIT_CHANGE);
	store_close(st);
}
END_TEST

START_TEST(a_recreated_database_is_noticed_without_inotify)
{
	struct store *st;

	setenv("RT_NO_INOTIFY", "1", 1);
	st = store_fixture_open();
	unsetenv("RT_NO_INOTIFY");
	ck_assert_int_eq(store_watch(st, "a", 0), 0);
	recreate_db();
	ck_assert_int_eq(store_wait(st, 5000), STORE_WAIT_RESET);
	store_close(st);
}
END_TEST

/* The bucket files outlive a recreated database; its ids start again at 1.
 * The first writer replaces the old, higher number, so waiters on the new
 * database are woken from its first message on. */
START_TEST(numbers_left_by_an_older_database_are_replaced)
{
	struct store *st = store_fixture_open(), *waiter;

	insert_n(st, "a", 5);
	store_close(st);
	recreate_db();
	waiter = store_fixture_open();
	ck_assert_int_eq(store_watch(waiter, "a", 0), 0);
	ck_assert_int_eq(look_now(waiter), STORE_WAIT_CHANGE);   /* 5 > 0: look once */
	ck_assert_int_eq(look_now(waiter), 0);
	reap(insert_later(0, "a"));                               /* id 1 */
	ck_assert_int_eq(look_now(waiter), STORE_WAIT_CHANGE);
	store_close(waiter);
}
END_TEST

/* Many writers at once: the busy timeout queues them; nobody sees BUSY. */
START_TEST(concurrent_writers_never_fail)
{
	enum { WRITERS = 8, EACH = 50 };
	pid_t pids[WRITERS];
	struct store *st;
	struct store_msgs ms;
	int64_t last;

	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		ck_assert(pids[w] >= 0);
		if (pids[w] == 0) {
			struct store *cst = store_open(fixture_path, NULL);
			struct store_msg m;
			if (cst == NULL)
				_exit(1);
			for (int i = 0; i < EACH; i++) {
				if (store_insert(cst, "busy", "w", "x", "http", &m) < 0)
					_exit(2);
				store_msg_clear(&m);
			}
			store_close(cst);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++)
		reap(pids[w]);
	st = store_fixture_open();
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, WRITERS * EACH);
	ck_assert_int_eq(store_read_after(st, "busy", 0, 500, &ms), 0);
	ck_assert_uint_eq(ms.n, WRITERS * EACH);
	for (size_t i = 0; i < ms.n; i++)
		ck_assert_int_eq(ms.v[i].id, (int64_t)i + 1);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/*
 * An admin recreates the database while a server keeps opening it (the
 * helper and held processes reopen a replaced store at once): the sqlite3
 * shell running sql/schema.sql must never fail with "database is locked",
 * and every open sees no schema (refused) or all of it.  Before the schema
 * was one transaction with a busy timeout, the opener could take the write
 * lock between two of its statements and the shell skipped a table.
 */
START_TEST(recreating_under_an_opener_never_fails)
{
	enum { ROUNDS = 40 };
	const char *const parts[] = { "messages", "channels", "channels_count_insert",
	                              "channels_count_delete" };
	pid_t opener;
	sqlite3 *db;

	opener = fork();
	ck_assert(opener >= 0);
	if (opener == 0) {
		for (;;)
			store_close(store_open(fixture_path, NULL));
	}
	for (int i = 0; i < ROUNDS; i++)
		recreate_db();   /* asserts the shell's exit status is 0 */
	kill(opener, SIGKILL);
	{
		int status;
		ck_assert_int_eq(waitpid(opener, &status, 0), opener);
		ck_assert_msg(WIFSIGNALED(status), "the opener ended by itself");
	}
	/* and the last run left the whole schema */
	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		sqlite3_stmt *q;
		ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = ?",
		                                    -1, &q, NULL), SQLITE_OK);
		sqlite3_bind_text(q, 1, parts[i], -1, SQLITE_STATIC);
		ck_assert_msg(sqlite3_step(q) == SQLITE_ROW, "%s is missing", parts[i]);
		sqlite3_finalize(q);
	}
	sqlite3_close(db);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, store_fixture_make, store_fixture_remove);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, insert_returns_the_stored_message);
	tcase_add_test(tc, ts_is_now_in_milliseconds);
	tcase_add_test(tc, read_after_is_per_channel_in_id_order_and_bounded);
	tcase_add_test(tc, read_limit_is_clamped);
	tcase_add_test(tc, read_last_returns_newest_oldest_first);
	tcase_add_test(tc, last_id_never_goes_back);
	tcase_add_test(tc, retention_by_age);
	tcase_add_test(tc, retention_holds_per_channel_with_one_insert_per_open);
	tcase_add_test(tc, retention_slack_is_bounded);
	tcase_add_test(tc, channel_counts_follow_every_writer);
	tcase_add_test(tc, channels_are_bounded_idle_longest_goes);
	tcase_add_test(tc, old_database_is_migrated_on_open);
	tcase_add_test(tc, open_missing_or_schemaless_fails_with_a_reason);
	tcase_add_test(tc, open_uses_rt_db);
	tcase_add_test(tc, replaced_file_is_noticed);
	tcase_add_test(tc, only_waiting_takes_an_inotify_instance);
	tcase_add_test(tc, writes_beside_the_database_do_not_wake);
	tcase_add_test(tc, wait_wakes_on_another_process_write);
	tcase_add_test(tc, wait_times_out_without_writes);
	tcase_add_test(tc, own_writes_do_not_wake);
	tcase_add_test(tc, wait_fd_in_a_poll_set);
	tcase_add_test(tc, wait_fallback_without_inotify);
	tcase_add_test(tc, cross_channel_commits_do_not_wake);
	tcase_add_test(tc, unwatch_stops_the_wakes);
	tcase_add_test(tc, a_channel_file_that_does_not_exist_yet);
	tcase_add_test(tc, a_writer_creates_the_notify_file);
	tcase_add_test(tc, a_commit_before_the_watch_is_reported);
	tcase_add_test(tc, a_writer_that_does_not_announce_is_seen_by_the_slow_check);
	tcase_add_test(tc, a_recreated_database_is_noticed_by_the_wait);
	tcase_add_test(tc, a_recreated_database_is_noticed_without_inotify);
	tcase_add_test(tc, numbers_left_by_an_older_database_are_replaced);
	tcase_add_test(tc, concurrent_writers_never_fail);
	tcase_add_test(tc, recreating_under_an_opener_never_fails);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
