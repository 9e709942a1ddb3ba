/*
 * check_store_redis.c — unit tests for lib/store_redis.c against a real,
 * private redis-server.
 *
 * The suite starts its own redis-server on a free loopback port, in a
 * temporary directory (appendonly yes, appendfsync always: what
 * docs/scaling.md asks of a course's Redis), and stops exactly the
 * processes it started, by pid (recorded in that directory, so a failed
 * test cannot leave one behind).  Each test uses its own Redis database
 * number, so tests start from an empty store.  Without redis-server on
 * PATH the suite says so and is skipped (exit 0).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"

static char dir[64];
static int port;
static const char *self;   /* argv[0]: this program, for insert_later() */

/* ---- the private redis-server ---------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	ck_assert(fd >= 0);
	ck_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	ck_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	p = ntohs(a.sin_port);
	close(fd);
	return p;
}

static int accepts(int p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* Starts redis-server on `port` with its data in dir; records its pid. */
static pid_t redis_start(void)
{
	char port_s[16], log[128], pids[128];
	pid_t pid;
	FILE *f;

	snprintf(port_s, sizeof port_s, "%d", port);
	snprintf(log, sizeof log, "%s/redis.log", dir);
	pid = fork();
	ck_assert(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1",
		       "--dir", dir, "--save", "", "--appendonly", "yes",
		       "--appendfsync", "always", "--daemonize", "no", (char *)NULL);
		_exit(127);
	}
	snprintf(pids, sizeof pids, "%s/pids", dir);
	f = fopen(pids, "a");
	ck_assert(f != NULL);
	fprintf(f, "%d\n", (int)pid);
	fclose(f);
	for (int i = 0; i < 100 && !accepts(port); i++)
		usleep(50 * 1000);
	ck_assert_msg(accepts(port), "redis-server did not start (see %s)", log);
	return pid;
}

/* Stops it and records that (a stopped pid may be reused by anyone). */
static void redis_stop(pid_t pid)
{
	char pids[128];
	FILE *f;

	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	snprintf(pids, sizeof pids, "%s/pids", dir);
	if ((f = fopen(pids, "a")) != NULL) {
		fprintf(f, "-%d\n", (int)pid);
		fclose(f);
	}
}

/* 1 if pid is a redis-server (the recorded one, not a reused pid). */
static int is_redis(int pid)
{
	char path[64], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/comm", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(comm, sizeof comm, f) == NULL)
		comm[0] = '\0';
	fclose(f);
	return strncmp(comm, "redis-server", 12) == 0;
}

/* Unchecked fixture (runs once, in the test runner itself). */
static void suite_setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_store_redis.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	port = free_port();
	redis_start();
}

/* Every redis-server any test started, by its recorded pid. */
static void suite_teardown(void)
{
	char pids[128], cmd[160];
	FILE *f;
	int pid;

	snprintf(pids, sizeof pids, "%s/pids", dir);
	int stopped[64], n = 0, pid_list[64], m = 0;

	if ((f = fopen(pids, "r")) != NULL) {
		while (fscanf(f, "%d", &pid) == 1) {
			if (pid < 0 && n < 64)
				stopped[n++] = -pid;
			else if (pid > 0 && m < 64)
				pid_list[m++] = pid;
		}
		fclose(f);
	}
	for (int i = 0; i < m; i++) {
		int done = 0;
		for (int j = 0; j < n; j++)
			done |= stopped[j] == pid_list[i];
		if (!done && is_redis(pid_list[i]) && kill(pid_list[i], SIGTERM) == 0)
			waitpid(pid_list[i], NULL, 0);
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- helpers ------------------------------------------------------------ */

static void url(char *buf, size_t size, int db)
{
	snprintf(buf, size, "redis://127.0.0.1:%d/%d", port, db);
}

static struct store *open_db(int db)
{
	char u[64];
	const char *err = NULL;
	struct store *st;

	url(u, sizeof u, db);
	st = store_open(u, &err);
	ck_assert_msg(st != NULL, "store_open(%s): %s", u, err ? err : "?");
	return st;
}

static int64_t insert(struct store *st, const char *channel, const char *text)
{
	struct store_msg m;
	int64_t id;

	ck_assert_int_eq(store_insert(st, channel, "u", text, "http", &m), 0);
	id = m.id;
	store_msg_clear(&m);
	return id;
}

/* In another process with its own connection, as send.fcgi on another
 * host would: after delay_ms, one message on channel.  The child execs this
 * binary again ("insert" mode, main()), so it shares no memory with us
 * (valgrind checks only us). */
static pid_t insert_later(int db, const char *channel, int delay_ms)
{
	pid_t pid = fork();

	ck_assert(pid >= 0);
	if (pid == 0) {
		char u[64];

		usleep((useconds_t)delay_ms * 1000);
		url(u, sizeof u, db);
		execl(self, self, "insert", u, channel, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* main()'s "insert URL CHANNEL" mode: 0 once the message is stored. */
static int insert_mode(const char *u, const char *channel)
{
	struct store *st = store_open(u, NULL);
	struct store_msg m;
	int rc = 1;

	if (st != NULL && store_insert(st, channel, "child", "late", "http", &m) == 0) {
		store_msg_clear(&m);
		rc = 0;
	}
	store_close(st);
	return rc;
}

static void reap(pid_t pid)
{
	int status;

	ck_assert(waitpid(pid, &status, 0) == pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer failed");
}

/* "ts":<digits> → "ts":0, so two stores' JSON can be compared byte for byte. */
static void zero_ts(char *json)
{
	char *p = strstr(json, "\"ts\":"), *q;

	ck_assert_ptr_nonnull(p);
	p += 5;
	for (q = p; *q >= '0' && *q <= '9'; q++)
		;
	*p = '0';
	memmove(p + 1, q, strlen(q) + 1);
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(ids_are_one_sequence_across_channels)
{
	struct store *st = open_db(1);
	struct store_msgs ms;
	int64_t last;

	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 0);
	ck_assert_int_eq(insert(st, "a", "1"), 1);
	ck_assert_int_eq(insert(st, "b", "2"), 2);
	ck_assert_int_eq(insert(st, "a", "3"), 3);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 3);

	ck_assert_int_eq(store_read_after(st, "a", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_int_eq(ms.v[0].id, 1);
	ck_assert_int_eq(ms.v[1].id, 3);
	ck_assert_str_eq(ms.v[1].channel, "a");
	store_msgs_free(&ms);

	/* channel NULL: every channel, in id order (the helper's fan-out). */
	ck_assert_int_eq(store_read_after(st, NULL, 1, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	ck_assert_int_eq(ms.v[0].id, 2);
	ck_assert_str_eq(ms.v[0].channel, "b");
	ck_assert_int_eq(ms.v[1].id, 3);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(cursor_reads_after_last_and_limit)
{
	struct store *st = open_db(2);
	struct store_msgs ms;

	for (int i = 0; i < 10; i++)
		insert(st, "c", "x");
	ck_assert_int_eq(store_read_after(st, "c", 7, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_int_eq(ms.v[0].id, 8);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 10, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 0, 4, &ms), 0);
	ck_assert_uint_eq(ms.n, 4);
	ck_assert_int_eq(ms.v[3].id, 4);
	store_msgs_free(&ms);
	/* The newest n, oldest first. */
	ck_assert_int_eq(store_read_last(st, "c", 3, &ms), 0);
	ck_assert_uint_eq(ms.n, 3);
	ck_assert_int_eq(ms.v[0].id, 8);
	ck_assert_int_eq(ms.v[2].id, 10);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_last(st, "nobody", 3, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/* The same message stored by either backend is the same bytes (ts aside). */
START_TEST(json_is_byte_identical_to_sqlite)
{
	static const char *const texts[] = {
		"hi \"there\"\n</script>", "back\\slash\ttab", "caf\xc3\xa9 \xf0\x9f\x98\x80",
	};
	char db_path[128], cmd[256];
	struct store *rs = open_db(3), *ss;
	struct store_msg a, b;

	snprintf(db_path, sizeof db_path, "%s/json.db", dir);
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' < sql/schema.sql >/dev/null", db_path);
	ck_assert_msg(system(cmd) == 0, "sqlite3 failed (run from the repo root)");
	ss = store_open(db_path, NULL);
	ck_assert_ptr_nonnull(ss);
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
		const char *event = i == 1 ? "goal" : "message";
		ck_assert_int_eq(store_insert_event(rs, "lobby", event, "al\"ice", texts[i], "ws", &a), 0);
		ck_assert_int_eq(store_insert_event(ss, "lobby", event, "al\"ice", texts[i], "ws", &b), 0);
		ck_assert_int_eq(a.id, b.id);
		ck_assert_str_eq(a.event, b.event);
		ck_assert_str_eq(a.user, b.user);
		zero_ts(a.json);
		zero_ts(b.json);
		ck_assert_str_eq(a.json, b.json);
		store_msg_clear(&a);
		store_msg_clear(&b);
	}
	/* And as read back. */
	struct store_msgs ra, rb;
	ck_assert_int_eq(store_read_after(rs, "lobby", 0, 10, &ra), 0);
	ck_assert_int_eq(store_read_after(ss, "lobby", 0, 10, &rb), 0);
	ck_assert_uint_eq(ra.n, 3);
	ck_assert_uint_eq(rb.n, 3);
	for (size_t i = 0; i < 3; i++) {
		zero_ts(ra.v[i].json);
		zero_ts(rb.v[i].json);
		ck_assert_str_eq(ra.v[i].json, rb.v[i].json);
	}
	ck_assert_ptr_nonnull(strstr(ra.v[1].json, ",\"event\":\"goal\"}"));
	store_msgs_free(&ra);
	store_msgs_free(&rb);
	store_close(ss);
	store_close(rs);
}
END_TEST

START_TEST(wait_wakes_on_its_channel_from_another_process)
{
	struct store *st = open_db(4);
	struct store_msgs ms;
	int64_t last;
	pid_t w;

	insert(st, "a", "old");
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(store_watch(st, "a", last), 0);
	ck_assert_int_eq(store_wait(st, 0), 0);           /* nothing new */
	w = insert_later(4, "a", 100);
	ck_assert_int_eq(store_wait(st, 5000), STORE_WAIT_CHANGE);
	reap(w);
	ck_assert_int_eq(store_read_after(st, "a", last, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	ck_assert_str_eq(ms.v[0].user, "child");
	store_msgs_free(&ms);
	store_unwatch(st, "a");
	store_close(st);
}
END_TEST

START_TEST(a_commit_on_another_channel_does_not_wake)
{
	struct store *st = open_db(5);
	int fd;
	pid_t w;

	ck_assert_int_eq(store_watch(st, "quiet", 0), 0);
	fd = store_wait_fd(st);
	ck_assert_int_ge(fd, 0);
	w = insert_later(5, "busy", 0);
	reap(w);
	/* The fd stays silent: Redis pushes nothing for channel "busy". */
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 300), 0);
	ck_assert_int_eq(store_wait(st, 200), 0);
	/* A commit on ours does reach the fd. */
	w = insert_later(5, "quiet", 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_int_eq(store_wait_check(st), STORE_WAIT_CHANGE);
	reap(w);
	store_unwatch(st, "quiet");
	store_close(st);
}
END_TEST

/* A commit between the caller's read and its watch is reported at once. */
START_TEST(watch_after_a_commit_reports_it)
{
	struct store *st = open_db(6), *other = open_db(6);
	int64_t cursor;

	ck_assert_int_eq(store_last_id(st, &cursor), 0);
	insert(other, "r", "between");
	ck_assert_int_eq(store_watch(st, "r", cursor), 0);
	ck_assert_int_eq(store_wait_next_ms(st), 0);
	ck_assert_int_eq(store_wait(st, 1000), STORE_WAIT_CHANGE);
	/* Watches are counted: one unwatch of two keeps the channel watched. */
	ck_assert_int_eq(store_watch(st, "r", 1), 0);
	store_unwatch(st, "r");
	store_unwatch(st, "r");
	store_close(other);
	store_close(st);
}
END_TEST

START_TEST(unavailable_fails_then_recovers_with_nothing_lost)
{
	struct store *st, *waiter;
	struct store_msg m;
	const char *err = NULL;
	char u[64];
	int64_t last;
	pid_t pid;

	/* A second private server on its own port, stopped and started here. */
	port = free_port();
	pid = redis_start();
	st = open_db(7);
	waiter = open_db(7);
	for (int i = 0; i < 5; i++)
		insert(st, "keep", "acked");
	ck_assert_int_eq(store_watch(waiter, "keep", 5), 0);
	redis_stop(pid);

	ck_assert_int_eq(store_insert(st, "keep", "u", "lost?", "http", &m), -1);
	ck_assert_int_eq(store_replaced(st), 1);
	ck_assert_int_eq(store_wait(waiter, 2000), -1);   /* not a timeout, not a reset */
	url(u, sizeof u, 7);
	ck_assert_ptr_null(store_open(u, &err));
	ck_assert_ptr_nonnull(strstr(err, "unavailable"));

	pid = redis_start();                               /* same dir: its AOF */
	ck_assert_int_eq(store_reopen(&st), 0);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 5);                         /* every acknowledged id */
	ck_assert_int_eq(insert(st, "keep", "after"), 6);
	store_close(waiter);
	store_close(st);
	redis_stop(pid);
}
END_TEST

START_TEST(retention_keeps_rt_keep_and_ids_go_on)
{
	struct store *st;
	struct store_msgs ms;
	int64_t last;

	setenv("RT_KEEP", "5", 1);
	st = open_db(8);
	unsetenv("RT_KEEP");
	for (int i = 0; i < 300; i++)
		insert(st, "k", "x");
	ck_assert_int_eq(store_read_after(st, "k", 0, 500, &ms), 0);
	/* MAXLEN ~: at least 5 kept, whole stream nodes trimmed. */
	ck_assert_uint_ge(ms.n, 5);
	ck_assert_uint_lt(ms.n, 300);
	ck_assert_int_eq(ms.v[ms.n - 1].id, 300);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_last_id(st, &last), 0);
	ck_assert_int_eq(last, 300);
	store_close(st);
}
END_TEST

START_TEST(retention_by_age_trims_every_channel)
{
	struct store *st;
	struct store_msgs ms;

	setenv("RT_MAX_AGE", "1", 1);
	st = open_db(9);
	unsetenv("RT_MAX_AGE");
	insert(st, "old", "x");
	usleep(1200 * 1000);
	for (int i = 0; i < 64; i++)      /* PRUNE_EVERY inserts */
		insert(st, "new", "y");
	ck_assert_int_eq(store_read_after(st, "old", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "new", 0, 100, &ms), 0);
	ck_assert_uint_eq(ms.n, 64);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

/* FLUSHDB under a waiter: ids start again at 1, which the waiter sees as a
 * reset (as a recreated SQLite file), not as news it would never find. */
START_TEST(an_emptied_store_is_a_reset)
{
	struct store *st = open_db(10), *waiter = open_db(10);
	char cmd[128];
	int rc;

	ck_assert_int_eq(store_watch(waiter, "f", 0), 0);
	for (int i = 0; i < 3; i++)
		insert(st, "f", "before");
	while ((rc = store_wait(waiter, 300)) == STORE_WAIT_CHANGE)
		;
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(store_replaced(waiter), 0);
	snprintf(cmd, sizeof cmd, "redis-cli -p %d -n 10 FLUSHDB >/dev/null", port);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(insert(st, "f", "after"), 1);
	ck_assert_int_eq(store_wait(waiter, 5000), STORE_WAIT_RESET);
	ck_assert_int_eq(store_replaced(waiter), 1);
	ck_assert_int_eq(store_reopen(&waiter), 0);
	ck_assert_int_eq(store_replaced(waiter), 0);
	store_close(waiter);
	store_close(st);
}
END_TEST

/* A new channel beyond RT_MAX_CHANNELS evicts the one idle longest. */
START_TEST(max_channels_evicts_the_idle_longest)
{
	struct store *st;
	struct store_msgs ms;

	setenv("RT_MAX_CHANNELS", "2", 1);
	st = open_db(11);
	unsetenv("RT_MAX_CHANNELS");
	insert(st, "a", "1");
	insert(st, "b", "2");
	insert(st, "a", "3");     /* now b is the idle one */
	insert(st, "c", "4");
	ck_assert_int_eq(store_read_after(st, "b", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 0);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "a", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 2);
	store_msgs_free(&ms);
	ck_assert_int_eq(store_read_after(st, "c", 0, 10, &ms), 0);
	ck_assert_uint_eq(ms.n, 1);
	store_msgs_free(&ms);
	store_close(st);
}
END_TEST

START_TEST(bad_urls_are_refused)
{
	static const char *const bad[] = {
		"redis://", "redis://:6379", "redis://h:0", "redis://h:99999", "redis://h:1x",
		"redis://h:6379/x", "redis://h:6379/-1",
	};
	const char *err;

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err = NULL;
		ck_assert_ptr_null(store_open(bad[i], &err));
		ck_assert_ptr_nonnull(strstr(err, "redis://HOST:PORT"));
	}
}
END_TEST

static Suite *store_redis_suite(void)
{
	Suite *s = suite_create("store_redis");
	TCase *tc = tcase_create("redis");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ids_are_one_sequence_across_channels);
	tcase_add_test(tc, cursor_reads_after_last_and_limit);
	tcase_add_test(tc, json_is_byte_identical_to_sqlite);
	tcase_add_test(tc, wait_wakes_on_its_channel_from_another_process);
	tcase_add_test(tc, a_commit_on_another_channel_does_not_wake);
	tcase_add_test(tc, watch_after_a_commit_reports_it);
	tcase_add_test(tc, retention_keeps_rt_keep_and_ids_go_on);
	tcase_add_test(tc, retention_by_age_trims_every_channel);
	tcase_add_test(tc, bad_urls_are_refused);
	tcase_add_test(tc, an_emptied_store_is_a_reset);
	tcase_add_test(tc, max_channels_evicts_the_idle_longest);
	/* Last: it stops and starts its own server (and changes `port`). */
	tcase_add_test(tc, unavailable_fails_then_recovers_with_nothing_lost);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	int failed;

	if (argc == 4 && strcmp(argv[1], "insert") == 0)
		return insert_mode(argv[2], argv[3]);
	self = argv[0];

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("check_store_redis: SKIPPED — redis-server is not installed "
		       "(apt-get install redis-server; tools/deps.sh lists it)\n");
		return 0;
	}
	sr = srunner_create(store_redis_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
