/*
 * store_redis_fixture.h — the private redis-server every Redis store test
 * starts from, shared by check_store_redis.c, check_store_redis_msg.c and
 * check_store_redis_wait.c (one test binary each, so the helpers are static
 * inline: each file uses what it needs).
 *
 * Each binary starts its own redis-server on a free loopback port, in a
 * temporary directory (appendonly yes, appendfsync always: what
 * docs/scaling.md asks of a course's Redis), and stops exactly the
 * processes it started, by pid (recorded in that directory, so a failed
 * test cannot leave one behind).  Each test uses its own Redis database
 * number, so tests start from an empty store.  Without redis-server on
 * PATH the suite says so and is skipped (exit 0): store_redis_fixture_run().
 */
#ifndef RTLAB_STORE_REDIS_FIXTURE_H
#define RTLAB_STORE_REDIS_FIXTURE_H

#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

static char dir[64];
static int port;

/* ---- the private redis-server ---------------------------------------------- */

static inline int free_port(void)
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

static inline int accepts(int p)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
	close(fd);
	return ok;
}

/* Starts redis-server on `port` with its data in dir; records its pid. */
static inline pid_t redis_start(void)
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
static inline void redis_stop(pid_t pid)
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
static inline int is_redis(int pid)
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
static inline void suite_setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_store_redis.XXXXXX");
	ck_assert(mkdtemp(dir) != NULL);
	port = free_port();
	redis_start();
}

/* Every redis-server any test started, by its recorded pid. */
static inline void suite_teardown(void)
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

static inline void url(char *buf, size_t size, int db)
{
	snprintf(buf, size, "redis://127.0.0.1:%d/%d", port, db);
}

static inline struct store *open_db(int db)
{
	char u[64];
	const char *err = NULL;
	struct store *st;

	url(u, sizeof u, db);
	st = store_open(u, &err);
	ck_assert_msg(st != NULL, "store_open(%s): %s", u, err ? err : "?");
	return st;
}

static inline int64_t insert(struct store *st, const char *channel, const char *text)
{
	struct store_msg m;
	int64_t id;

	ck_assert_int_eq(store_insert(st, channel, "u", text, "http", &m), 0);
	id = m.id;
	store_msg_clear(&m);
	return id;
}

/* One test case with the server around it: tests added to it share one
 * redis-server, started before the first and stopped after the last. */
static inline TCase *store_redis_fixture_tcase(void)
{
	TCase *tc = tcase_create("redis");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 30);
	return tc;
}

/* main()'s body: the suite make() builds, or SKIPPED without redis-server. */
static inline int store_redis_fixture_run(const char *name, Suite *(*make)(void))
{
	SRunner *sr;
	int failed;

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("%s: SKIPPED — redis-server is not installed "
		       "(apt-get install redis-server; tools/deps.sh lists it)\n", name);
		return 0;
	}
	sr = srunner_create(make());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
