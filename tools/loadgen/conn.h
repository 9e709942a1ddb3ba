/*
 * conn.h — one client connection of loadgen, and the functions loop.c,
 * conn.c, sub.c and pub.c call across.  Internal to loadgen.
 */
#ifndef LOADGEN_CONN_H
#define LOADGEN_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http_resp.h"
#include "loadgen.h"
#include "sse_client.h"
#include "ws_client.h"
#include "ws_frame.h"

#define IN_MAX    (1 << 20)        /* longest response we buffer */
#define RETRY_US  1000000          /* back-off after an error */

enum conn_state {
	C_CLOSED,      /* no socket; a timer will issue the next request */
	C_CONNECTING,  /* non-blocking connect() in progress */
	C_HANDSHAKE,   /* TLS handshake in progress (tls.c) */
	C_WRITING,     /* request being written */
	C_READING,     /* response (or SSE stream) being read */
	C_IDLE,        /* keep-alive socket between requests */
	C_WS           /* WebSocket open */
};

struct conn {
	int fd;
	struct ssl_st *ssl;        /* OpenSSL's SSL on fd (--tls); owned, or NULL */
	const struct target *target;  /* where fd is connected */
	int is_pub;
	int index;                 /* subscriber number, or publisher slot */
	enum conn_state state;
	int reused;                /* request sent on a kept-alive socket */
	char *out;                 /* request bytes; owned */
	size_t out_len, out_off;
	char *in;                  /* received, not yet consumed; owned */
	size_t in_len, in_cap, resp_got;
	struct http_resp resp;
	char *body;                /* poll answer, or SSE bytes not yet a line; owned */
	size_t body_len, body_cap;
	/* subscriber */
	long long since;           /* resume cursor */
	int ready;                 /* reported to tally_ready */
	uint64_t timer_us;         /* when the pending timer fires (0: none) */
	char ws_key[WS_CLIENT_KEY_LEN + 1];
	struct ws_reader ws;
	int ws_inited;
	struct sse_client *sse;    /* owned; SSE subscribers only */
	/* publisher */
	int pub_seq;
	int busy;
	/* a watched descriptor that is not a connection (loop_watch) */
	void (*on_input)(void *);
	void *arg;
};


/* conn.c: sockets, requests, and what arrives on them */
size_t url_expand(char *out, size_t cap, const char *tpl, const char *chan,
                  long long since, const char *text);
void conn_watch(struct conn *c, uint32_t events, int op);
void conn_close(struct conn *c);
void conn_free(struct conn *c);
int conn_send(struct conn *c, const struct target *t, char *req, size_t len);
char *request_new(const char *method, const struct target *t, const char *path,
                  const char *extra, const char *body, size_t body_len, size_t *len);
void ws_upgrade_headers(struct conn *c, char *extra, size_t cap);
void note_messages(struct conn *c, const char *p, size_t len);
int resp_feed(struct conn *c);
void ws_feed(struct conn *c);
void ws_open(struct conn *c);

/* loop.c */
extern int epfd;
/* Runs before each epoll_wait (a worker flushes its records there). */
extern void (*loop_before_wait)(void);
void conn_fail(struct conn *c, long long *counter);

/* sub.c: the subscribers of this process */
extern struct conn *subs;
void sub_init(int first, int end, uint64_t t_start);
void sub_free(void);
void sub_ready(struct conn *c);
void sub_request(struct conn *c);
void sub_retry(struct conn *c, long long *counter);
void sub_retry_later(struct conn *c);
void sub_response_done(struct conn *c);
/* Issues the requests whose time has come; returns the next due time (0: none). */
uint64_t sub_run_timers(uint64_t now);

/* pub.c: the publisher */
void pub_init(void);
void pub_free(void);
void pub_finish(struct conn *c, int ok);
void pub_response_done(struct conn *c);
/* The WebSocket publisher got message seq back: it is stored and sent. */
void pub_echo(long long seq);

#endif
