/*
 * store_fixture.h — the temporary database every store test starts from,
 * shared by check_store.c and check_store_event.c (one test binary each, so
 * the helpers are static inline: each file uses what it needs).
 *
 * store_fixture_make_from(sql) creates a fresh directory under /tmp and runs
 * sql into rt.db there (sql/schema.sql for most tests, an older schema for
 * the migration tests); store_fixture_make() does it with sql/schema.sql,
 * read from the repository root.  fixture_dir/fixture_path name them.
 */
#ifndef RTLAB_STORE_FIXTURE_H
#define RTLAB_STORE_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "store.h"

static char fixture_dir[64];
static char fixture_path[128];

static inline char *fixture_slurp(const char *file)
{
	FILE *f = fopen(file, "r");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "cannot open %s (run from the repo root)", file);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	ck_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	return buf;
}

static inline void store_fixture_make_from(const char *sql)
{
	sqlite3 *db;

	snprintf(fixture_dir, sizeof fixture_dir, "/tmp/check_store.XXXXXX");
	ck_assert(mkdtemp(fixture_dir) != NULL);
	snprintf(fixture_path, sizeof fixture_path, "%s/rt.db", fixture_dir);
	ck_assert_int_eq(sqlite3_open(fixture_path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static inline void store_fixture_make(void)
{
	char *schema = fixture_slurp("sql/schema.sql");

	store_fixture_make_from(schema);
	free(schema);
}

static inline void store_fixture_remove(void)
{
	char cmd[160];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fixture_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static inline struct store *store_fixture_open(void)
{
	const char *err = NULL;
	struct store *st = store_open(fixture_path, &err);

	ck_assert_msg(st != NULL, "store_open: %s", err ? err : "?");
	return st;
}

#endif
