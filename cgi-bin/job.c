/*
 * job.c — start a long server-side job and report its progress as messages.
 * The server half of the progress-indicator scenario
 * (public_html/scenarios/progress.html, docs/scenarios.md).
 *
 *   POST /cgi-bin/job.fcgi
 *   Content-Type: application/x-www-form-urlencoded
 *       size=64&rate=16
 *
 *   202 Accepted
 *   Content-Type: application/json; charset=utf-8
 *   Cache-Control: no-store
 *   Location: /cgi-bin/sse.fcgi?channel=job-3f2a9c0d41b7e865&history=1
 *
 *   {"job":"3f2a9c0d41b7e865","channel":"job-3f2a9c0d41b7e865",
 *    "size":67108864,"rate":16777216}
 *
 * The job is real work: SHA-256 (OpenSSL's libcrypto) over `size` MiB of
 * pseudo-random bytes generated from the job's id, paced at `rate` MiB/s
 * (0: as fast as the CPU goes) so that a person can watch the bar move.  It
 * publishes into the store, on the job's own channel, what any subscriber
 * of that channel then receives on any transport:
 *   event "progress"  {"job":"…","state":"running","done":N,"total":N,"pct":P}
 *   event "done"      {"job":"…","state":"done","done":N,"total":N,"pct":100,
 *                      "sha256":"<64 hex>","ms":N}
 *   event "failed"    {"job":"…","state":"failed","error":"…"}
 * at most one progress message per percent and per 100 ms.
 *
 * The one idea: the HTTP request only *starts* the job.  The handler forks
 * twice — the first child calls setsid() and forks the worker, then exits at
 * once — so the worker belongs to no web-server process: the request is
 * answered right away with the job's id, the FastCGI process takes its next
 * request, and the worker is not killed when mod_fcgid or lighttpd recycles
 * that process.  The worker closes every descriptor it inherited (the
 * FastCGI socket, CGI's stdout pipe) and opens its own store connection;
 * the request process closes its own before the fork, because SQLite's
 * per-process state about an open file must not cross a fork
 * (https://www.sqlite.org/howtocorrupt.html §2.6).  Progress is ordinary
 * messages, so the page that started the job can be reloaded, or another
 * tab opened, and resumes by id from the store: no job table, no session.
 *
 * Bounds: size 1–256 MiB (default 32), rate 0–1024 MiB/s (default 8), and a
 * job may not be planned to take over 120 s; at most JOB_RUNNING_MAX jobs at
 * once (one slot each: an exclusive flock() on <database>-job<N>.lock, held
 * by the worker for its life and released by the kernel when it exits, even
 * if it crashes).  A worker that finds the database deleted or replaced stops.
 *
 * Answers: 202; 400 size/rate malformed or out of range; 403 cross-origin;
 * 405 not POST (Allow: POST); 413 body over 16 KiB; 415 a body that is not
 * a form (an empty body takes the defaults); 503 every slot busy, the
 * store unavailable or fork failed (Retry-After).
 *
 * From a shell (one CGI request; the job goes on after the answer):
 *   sqlite3 /tmp/x.db < sql/schema.sql
 *   printf 'size=8&rate=2' | RT_DB=/tmp/x.db REQUEST_METHOD=POST \
 *       CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=13 \
 *       ./cgi-bin/job.fcgi
 *   RT_DB=/tmp/x.db QUERY_STRING='channel=job-<id>&since=0' ./cgi-bin/poll.fcgi
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "http.h"
#include "store.h"

#define MIB               (1024 * 1024)
#define SIZE_MAX_MIB      256
#define SIZE_DEFAULT_MIB  32
#define RATE_MAX_MIB      1024
#define RATE_DEFAULT_MIB  8
#define PLAN_MAX_S        120     /* size / rate: longest a job may be planned */
#define JOB_RUNNING_MAX   4       /* jobs at once, across every process */
#define PUBLISH_EVERY_MS  100     /* at most one progress message this often */
#define CHUNK             (256 * 1024)
#define JOB_USER          "job"

/* ---- static helpers ----------------------------------------------------- */

struct job {
	char id[17];                  /* 16 hex digits: also the channel's tail */
	char channel[STORE_CHANNEL_MAX + 1];
	long long size, rate;         /* bytes, bytes per second (0: unpaced) */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The form (or an empty body) into *j; NULL or a sentence for a 400. */
static const char *read_params(const char *body, struct job *j)
{
	long long size = SIZE_DEFAULT_MIB, rate = RATE_DEFAULT_MIB;

	if (http_form_int(body, "size", 1, SIZE_MAX_MIB, &size) < 0)
		return "size must be 1 to 256 (MiB)";
	if (http_form_int(body, "rate", 0, RATE_MAX_MIB, &rate) < 0)
		return "rate must be 0 (unpaced) to 1024 (MiB/s)";
	if (rate > 0 && size / rate > PLAN_MAX_S)
		return "size / rate would take over 120 s: raise the rate";
	j->size = size * MIB;
	j->rate = rate * MIB;
	return NULL;
}

/* A random, unguessable id: another user cannot find the job's channel. */
static int make_id(struct job *j)
{
	unsigned char raw[8];

	if (RAND_bytes(raw, sizeof raw) != 1)
		return -1;
	for (size_t i = 0; i < sizeof raw; i++)
		snprintf(j->id + 2 * i, 3, "%02x", raw[i]);
	snprintf(j->channel, sizeof j->channel, "job-%s", j->id);
	return 0;
}

/*
 * A free slot: the first <database>-job<N>.lock nobody holds an exclusive
 * flock() on.  Returns the locked fd (the worker inherits it, and with it
 * the lock), or -1 when all are busy.  flock() locks belong to the open
 * file description, so they survive fork() and end when the last process
 * holding it exits (flock(2)).
 */
static int take_slot(const char *db_path)
{
	char path[4096];

	for (int n = 0; n < JOB_RUNNING_MAX; n++) {
		int fd;
		if (snprintf(path, sizeof path, "%s-job%d.lock", db_path, n) >= (int)sizeof path)
			return -1;
		if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
			return -1;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		close(fd);
	}
	return -1;
}

/* One message on the job's channel, named event; -1 if it cannot be stored. */
static int job_publish(struct store *st, const struct job *j, const char *event,
                       const char *text)
{
	struct store_msg m;

	if (store_replaced(st) || store_insert_event(st, j->channel, event, JOB_USER,
	                                             text, "http", &m) < 0)
		return -1;
	store_msg_clear(&m);
	return 0;
}

static int publish_progress(struct store *st, const struct job *j, long long done)
{
	char text[256];

	snprintf(text, sizeof text, "{\"job\":\"%s\",\"state\":\"running\","
	         "\"done\":%lld,\"total\":%lld,\"pct\":%lld}",
	         j->id, done, j->size, done * 100 / j->size);
	return job_publish(st, j, "progress", text);
}

/* xorshift64*: fast, and the same bytes for the same id every time. */
static void fill_bytes(uint64_t *state, unsigned char *buf, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t x = *state;
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		*state = x;
		x *= 0x2545F4914F6CDD1DULL;
		memcpy(buf + i, &x, 8);
	}
}

/*
 * The worker's whole life: hash, report, exit.  Runs in the grandchild,
 * with no descriptor of the web server's left open.
 */
static int run_job(const char *db_path, const struct job *j)
{
	static unsigned char buf[CHUNK];
	unsigned char digest[EVP_MAX_MD_SIZE];
	char text[512], hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned dlen = 0;
	uint64_t seed = strtoull(j->id, NULL, 16) | 1;
	int64_t start = mono_ms(), last = start;
	long long done = 0, pct = 0;
	struct store *st = store_open(db_path, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ret = 1;

	if (st == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	while (done < j->size) {
		size_t n = (size_t)(j->size - done < CHUNK ? j->size - done : CHUNK);
		int64_t now;
		fill_bytes(&seed, buf, n);
		if (EVP_DigestUpdate(md, buf, n) != 1)
			goto fail;
		done += (long long)n;
		if (j->rate > 0) {              /* pace: sleep until done/rate s in */
			int64_t due = start + done * 1000 / j->rate;
			while ((now = mono_ms()) < due) {
				struct timespec ts = { .tv_sec = (due - now) / 1000,
				                       .tv_nsec = (due - now) % 1000 * 1000000 };
				nanosleep(&ts, NULL);
			}
		}
		now = mono_ms();
		if (done < j->size && done * 100 / j->size > pct &&
		    now - last >= PUBLISH_EVERY_MS) {
			pct = done * 100 / j->size;
			last = now;
			if (publish_progress(st, j, done) < 0)
				goto out;           /* the store is gone: nobody to tell */
		}
	}
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1)
		goto fail;
	for (unsigned i = 0; i < dlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	snprintf(text, sizeof text, "{\"job\":\"%s\",\"state\":\"done\",\"done\":%lld,"
	         "\"total\":%lld,\"pct\":100,\"sha256\":\"%s\",\"ms\":%" PRId64 "}",
	         j->id, j->size, j->size, hex, mono_ms() - start);
	ret = job_publish(st, j, "done", text) < 0;
	goto out;
fail:
	snprintf(text, sizeof text, "{\"job\":\"%s\",\"state\":\"failed\","
	         "\"error\":\"libcrypto failed while hashing\"}", j->id);
	job_publish(st, j, "failed", text);
out:
	EVP_MD_CTX_free(md);
	store_close(st);
	return ret;
}

/*
 * Detaches the worker: fork, setsid, fork again (the classic daemon steps,
 * APUE §13.3).  Returns 0 in the request process once the middle child has
 * exited, -1 if a fork failed; never returns in the worker.  slot_fd is
 * the worker's lock; every other descriptor is closed in the worker.
 */
static int start_worker(const char *db_path, const struct job *j, int slot_fd)
{
	pid_t pid = fork();
	int status = 0;

	if (pid < 0)
		return -1;
	if (pid > 0) {
		pid_t w;
		while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
			;
		return w == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	}
	/* The middle child: a new session, then the worker, then exit. */
	setsid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0);      /* _exit: never flush the parent's FCGX buffers */

	/* The worker. */
	signal(SIGTERM, SIG_DFL);   /* http_accept()'s handler is for the endpoint */
	signal(SIGPIPE, SIG_DFL);
	if (dup2(slot_fd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	{
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(1);
		if (null > 3)
			close(null);
	}
	setpriority(PRIO_PROCESS, 0, 10);   /* a job must not slow the requests */
	_exit(run_job(db_path, j));
}

/* ---- the request handler ------------------------------------------------ */

static void handle_job(struct http_req *r, struct store **st)
{
	static char body[HTTP_BODY_MAX + 1];
	char answer[256], location[128], db_path[4096];
	struct job j;
	const char *err;
	size_t len;
	int status, slot;

	if (strcmp(r->method, "POST") != 0) {
		http_send_error(r, 405, "job takes POST only",
		                "Allow: POST\r\n");
		return;
	}
	/* Starting work on our machine is a write: no cross-site forms. */
	if (!http_origin_allowed(r->origin, r->host, getenv("RT_ALLOWED_ORIGINS"))) {
		http_send_error(r, 403, "cross-origin POST refused", NULL);
		return;
	}
	if ((status = http_read_body(r, body, HTTP_BODY_MAX, &len)) != 0) {
		if (status == 413)
			http_send_error(r, 413, "body is over 16 KiB", NULL);
		else
			http_send_error(r, 400, "body is shorter than its Content-Length", NULL);
		return;
	}
	if (len > 0 && !http_content_type_is(r->content_type,
	                                     "application/x-www-form-urlencoded")) {
		http_send_error(r, 415, "job takes a form "
		                "(application/x-www-form-urlencoded) or no body", NULL);
		return;
	}
	if (memchr(body, '\0', len) != NULL)
		err = "body holds a NUL byte";
	else
		err = read_params(body, &j);
	if (err != NULL) {
		http_send_error(r, 400, err, NULL);
		return;
	}
	if (http_store_check(r, st) < 0)
		return;
	if (make_id(&j) < 0) {
		http_send_error(r, 503, "no random bytes for a job id",
		                HTTP_RETRY_AFTER);
		return;
	}
	if ((slot = take_slot(store_path(*st))) < 0) {
		http_send_error(r, 503, "4 jobs are running (the most at "
		                "once); try again when one ends", "Retry-After: 5\r\n");
		return;
	}
	/* The first message before the answer: the store works, and a page that
	 * subscribes with history=1 finds the job at 0 % at once. */
	if (publish_progress(*st, &j, 0) < 0) {
		close(slot);
		http_store_fail(r, st);
		return;
	}
	/* No SQLite connection may cross a fork(), not even as the unused
	 * parent of a new one in the child: SQLite keeps per-process state
	 * about every open database file (its locks, the -shm mapping), which
	 * the child would inherit and trust.  So this process closes its store
	 * (the next request opens it again) and the worker opens a fresh one.
	 * https://www.sqlite.org/howtocorrupt.html#_carrying_an_open_database_connection_across_a_fork_ */
	snprintf(db_path, sizeof db_path, "%s", store_path(*st));
	store_close(*st);
	*st = NULL;
	if (start_worker(db_path, &j, slot) < 0) {
		close(slot);
		http_send_error(r, 503, "the job process could not be "
		                "started", HTTP_RETRY_AFTER);
		return;
	}
	close(slot);   /* the worker holds the lock now */
	snprintf(answer, sizeof answer, "{\"job\":\"%s\",\"channel\":\"%s\","
	         "\"size\":%lld,\"rate\":%lld}", j.id, j.channel, j.size, j.rate);
	snprintf(location, sizeof location, "Location: /cgi-bin/sse.fcgi?"
	         "channel=%s&history=1\r\n", j.channel);
	http_send_json(r, 202, "no-store", location, answer, strlen(answer));
}

/* ---- main: the FastCGI accept loop -------------------------------------- */

int main(void)
{
	struct http_req r;
	struct store *st = store_open(NULL, NULL);   /* retried per request */

	/* FastCGI: one request after another; CGI: exactly one. */
	while (http_accept(&r) >= 0)
		handle_job(&r, &st);
	store_close(st);
	return 0;
}
