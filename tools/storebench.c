/*
 * storebench.c — the store's own speed, below any web server: how long one
 * insert takes, and how long a waiting process takes to wake after another
 * process commits (the floor under every long-poll, SSE and WebSocket figure).
 *
 *   tools/storebench [-n ROUNDS] [DB]     (DB default: a fresh temp database)
 *
 * The waiter blocks in store_wait(); the writer stamps CLOCK_MONOTONIC just
 * before store_insert() and sends the stamp over a pipe; the waiter stamps
 * when store_wait() returns and the row is readable.  Both clocks are the
 * same machine's monotonic clock, so the difference is the wake latency.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "store.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static double pct(int64_t *v, int n, double p)
{
	int i = (int)(p / 100.0 * (n - 1) + 0.5);

	return v[i] / 1000.0;  /* ns → µs */
}

static int make_db(const char *path)
{
	sqlite3 *db;
	FILE *f = fopen("sql/schema.sql", "r");
	char schema[8192];
	size_t n;
	int rc;

	if (f == NULL) {
		fprintf(stderr, "storebench: run from the repo root (needs sql/schema.sql)\n");
		return -1;
	}
	n = fread(schema, 1, sizeof schema - 1, f);
	schema[n] = '\0';
	fclose(f);
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return -1;
	rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
	sqlite3_close(db);
	return rc == SQLITE_OK ? 0 : -1;
}

int main(int argc, char **argv)
{
	int rounds = 500, opt, p[2], status;
	char dir[] = "/tmp/storebench.XXXXXX", path[64];
	const char *db = NULL;
	int64_t *wake, *ins;
	pid_t pid;

	while ((opt = getopt(argc, argv, "n:h")) != -1) {
		char *end;
		if (opt == 'n') {
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 10 || v > 100000) {
				fprintf(stderr, "storebench: -n takes 10..100000\n");
				return 2;
			}
			rounds = (int)v;
		} else {
			fprintf(stderr, "usage: tools/storebench [-n ROUNDS] [DB]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind < argc) {
		db = argv[optind];
	} else {
		if (mkdtemp(dir) == NULL)
			return 1;
		snprintf(path, sizeof path, "%s/bench.db", dir);
		if (make_db(path) < 0)
			return 1;
		db = path;
	}
	wake = calloc((size_t)rounds, sizeof *wake);
	ins = calloc((size_t)rounds, sizeof *ins);
	if (wake == NULL || ins == NULL || pipe(p) < 0)
		return 1;

	pid = fork();
	if (pid == 0) {                      /* the writer */
		struct store *st = store_open(db, NULL);
		struct store_msg m;
		close(p[0]);
		if (st == NULL)
			_exit(1);
		for (int i = 0; i < rounds; i++) {
			int64_t t0;
			usleep(2000);                /* let the waiter block again */
			t0 = clock_now_ns();
			if (store_insert(st, "bench", "w", "x", "http", &m) < 0)
				_exit(1);
			ins[i] = clock_now_ns() - t0;
			store_msg_clear(&m);
			if (write(p[1], &t0, sizeof t0) != sizeof t0 ||
			    write(p[1], &ins[i], sizeof ins[i]) != sizeof ins[i])
				_exit(1);
		}
		store_close(st);
		_exit(0);
	}
	close(p[1]);
	{
		struct store *st = store_open(db, NULL);
		int64_t cursor = 0;
		if (st == NULL || store_last_id(st, &cursor) < 0) {
			fprintf(stderr, "storebench: cannot open %s\n", db);
			return 1;
		}
		for (int i = 0; i < rounds; i++) {
			struct store_msgs ms = { 0 };
			int64_t t0, t1;
			while (ms.n == 0) {
				if (store_wait(st, 5000) < 0 ||
				    store_read_after(st, "bench", cursor, 10, &ms) < 0)
					return 1;
			}
			t1 = clock_now_ns();
			cursor = ms.v[ms.n - 1].id;
			store_msgs_free(&ms);
			if (read(p[0], &t0, sizeof t0) != sizeof t0 ||
			    read(p[0], &ins[i], sizeof ins[i]) != sizeof ins[i])
				return 1;
			wake[i] = t1 - t0;
		}
		store_close(st);
	}
	waitpid(pid, &status, 0);
	qsort(wake, (size_t)rounds, sizeof *wake, cmp_i64);
	qsort(ins, (size_t)rounds, sizeof *ins, cmp_i64);
	printf("store insert (commit, WAL, synchronous=NORMAL): p50 %.1f µs  p99 %.1f µs\n",
	       pct(ins, rounds, 50), pct(ins, rounds, 99));
	printf("cross-process wake (insert start → row read by waiter): "
	       "p50 %.1f µs  p90 %.1f µs  p99 %.1f µs  max %.1f µs  (%d rounds)\n",
	       pct(wake, rounds, 50), pct(wake, rounds, 90), pct(wake, rounds, 99),
	       pct(wake, rounds, 100), rounds);
	if (db == path) {
		char cmd[96];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	free(wake);
	free(ins);
	return 0;
}
