/*
 * http_held.h — the store of a held request (long-poll, SSE), and the accept
 * loop that serves held requests one at a time or many at once (I/O layer).
 *
 * The same endpoint source serves two ways; RT_FCGI_THREADS decides:
 *
 *  - unset or 1 (mod_fcgid, CGI, and the default everywhere): one request at
 *    a time per process, today's loop.  The process has its own store
 *    connection and its own wait; a held client occupies the whole process.
 *
 *  - N > 1, and stdin is a FastCGI listening socket (proxy-fcgi's spawn-fcgi
 *    pools, lighttpd's bin-path pools): N request threads per process, each
 *    accepting with FCGX_Accept_r() (libfcgi's examples/threaded.c).  They
 *    share one store connection (a mutex around each use) and ONE change
 *    wait, owned by the process's main thread: the "hub".  It watches the
 *    channels its threads hold, and when a commit lands on one it reads that
 *    channel once, keeps the new messages in a small window per channel and
 *    wakes (a condition variable per channel) only the threads holding it;
 *    they copy their messages from the window.  One commit costs one read
 *    per process, not one per client.  docs/sse.md "Many held requests per
 *    process" has the picture and the figures.
 *
 * Under plain CGI the process serves one request whatever RT_FCGI_THREADS
 * says.  Under mod_fcgid it would work but change nothing: mod_fcgid hands
 * a process one request at a time (it counts the process busy until the
 * answer ends), so the other threads would only wait; the shipped fcgid and
 * cgi configs do not pass the variable (tools/serve.sh).
 *
 * The calls mirror store.h's, so the endpoint reads the same as with a store
 * of its own: http_held_check() where a plain endpoint calls
 * http_store_check(), http_held_read_after() for store_read_after(),
 * http_held_watch()/http_held_wait()/http_held_unwatch() for the change
 * wait, http_held_reopen() after STORE_WAIT_RESET.  One watched channel per
 * request.  Unit-tested in tests/unit/check_http_held.c.
 */
#ifndef RTLAB_HTTP_HELD_H
#define RTLAB_HTTP_HELD_H

#include <stdint.h>

#include "http.h"
#include "http_poll.h"
#include "store.h"

#define HTTP_HELD_THREADS_MAX 1024    /* RT_FCGI_THREADS: 1..1024 */
#define HTTP_HELD_WINDOW      64      /* messages a channel's window keeps */

struct http_held;

/*
 * The accept loop of a held endpoint: calls handle() for each request until
 * there are no more (SIGTERM, or the one CGI request) and returns the
 * process's exit status.  With RT_FCGI_THREADS > 1 on a FastCGI socket,
 * handle() runs in that many threads at once; after SIGTERM every held
 * request ends (the wait returns, http_stopping() is 1) and the process
 * exits once no request is in progress.
 */
int http_held_serve(void (*handle)(struct http_req *r, struct http_held *h));

/* The store, or a 503 answer: 0, or -1 after answering (http_store_check). */
int http_held_check(struct http_req *r, struct http_held *h);
/* A store call failed: 503 with Retry-After.  A process with its own
 * connection closes it (the next request opens it afresh); a shared one is
 * kept for the other threads. */
void http_held_fail(struct http_req *r, struct http_held *h);

/* store_last_id(), store_read_last(): straight from the store. */
int http_held_last_id(struct http_held *h, int64_t *id);
int http_held_read_last(struct http_held *h, const char *channel, int limit,
                        struct store_msgs *out);

/*
 * store_read_after() for the channel this request watches: from the hub's
 * window when it holds everything after since (nothing yet is an empty
 * answer: the wait will say when there is more), else from the store.
 * http_held_poll_read() is http_poll_read() the same way (a window answer
 * has at least one message; otherwise the store answers).
 */
int http_held_read_after(struct http_held *h, const char *channel, int64_t since,
                         int limit, struct store_msgs *out);
int http_held_poll_read(struct http_held *h, const struct http_cursor *c,
                        struct http_poll *p);

/*
 * The change wait, as store.h's: watch the channel after the caller's cursor
 * (after the read that set it), wait (STORE_WAIT_CHANGE, 0 on timeout or
 * SIGTERM, STORE_WAIT_RESET, -1), unwatch at the end (accepts a request that
 * watches nothing).  After STORE_WAIT_RESET: http_held_reopen(), then watch
 * again.  0 or -1.
 */
int http_held_watch(struct http_held *h, const char *channel, int64_t after);
int http_held_wait(struct http_held *h, int timeout_ms);
void http_held_unwatch(struct http_held *h);
int http_held_reopen(struct http_held *h);

/*
 * The pieces http_held_serve() is made of, for the unit tests (which run
 * the hub in a thread of their own and call the functions above as request
 * threads would):
 *  - http_held_hub_open(): the shared store ($RT_DB) and the hub; NULL when
 *    out of memory.  http_held_hub_run() is the change wait's loop, until
 *    http_held_hub_stop(); http_held_hub_close() after it returned.
 *  - http_held_hub_reads(): the store reads the hub has made for its
 *    windows, one per held channel per change (the cost the tests count).
 *  - http_held_new(hub): a request's handle; with hub NULL, one with a
 *    store of its own (one request at a time).  http_held_free() accepts NULL.
 */
struct http_held_hub;
struct http_held_hub *http_held_hub_open(void);
void http_held_hub_run(struct http_held_hub *hub);
void http_held_hub_stop(struct http_held_hub *hub);
void http_held_hub_close(struct http_held_hub *hub);
unsigned long http_held_hub_reads(struct http_held_hub *hub);
struct http_held *http_held_new(struct http_held_hub *hub);
void http_held_free(struct http_held *h);

#endif
