/*
 * sub.c — the subscribers of this process: each speaks its technique the
 * way a browser would.
 *
 *   poll      GET poll.fcgi?since=<cursor> T ms after the previous answer
 *             (a setTimeout chain, each client at a random phase), keep-alive
 *   longpoll  GET longpoll.fcgi?since=<cursor>, again as soon as it answers
 *   sse       GET sse.fcgi?since=<cursor>, one endless response, events read
 *             as they arrive; when the stream ends, reconnect from the last id
 *   ws        GET /ws?since=<cursor> with Upgrade: websocket, then frames
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "clock.h"
#include "conn.h"
#include "message.h"

struct conn *subs;             /* indexed by subscriber number */
static int sub_first, sub_end;

/* ---- the timer heap (subscribers only) ---------------------------------- */

struct timer { uint64_t due; int sub; };
static struct timer *heap;
static size_t heap_len, heap_cap;

static void timer_set(struct conn *c, uint64_t due)
{
	size_t i;

	c->timer_us = due;
	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = xrealloc(heap, heap_cap * sizeof *heap);
	}
	i = heap_len++;
	while (i > 0 && heap[(i - 1) / 2].due > due) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i].due = due;
	heap[i].sub = c->index;
}

static struct timer timer_pop(void)
{
	struct timer top = heap[0], last = heap[--heap_len];
	size_t i = 0;

	for (;;) {
		size_t k = 2 * i + 1;
		if (k >= heap_len)
			break;
		if (k + 1 < heap_len && heap[k + 1].due < heap[k].due)
			k++;
		if (last.due <= heap[k].due)
			break;
		heap[i] = heap[k];
		i = k;
	}
	if (heap_len > 0)
		heap[i] = last;
	return top;
}


void sub_ready(struct conn *c)
{
	if (!c->ready) {
		c->ready = 1;
		tally_ready(c->index);
	}
}


/* A subscriber's next request: its technique's GET from its cursor. */
void sub_request(struct conn *c)
{
	char path[URL_MAX], extra[256] = "";
	size_t len;
	char *req;

	url_expand(path, sizeof path, sub_target.path, channel, c->since, NULL);
	if (opt.tech == TECH_SSE)
		snprintf(extra, sizeof extra, "Accept: text/event-stream\r\n");
	else if (opt.tech == TECH_WS)
		ws_upgrade_headers(c, extra, sizeof extra);
	req = request_new("GET", &sub_target, path, extra, NULL, 0, &len);
	counters.requests++;
	if (conn_send(c, &sub_target, req, len) != 0) {
		counters.err_connect++;
		timer_set(c, clock_now_us() + RETRY_US);
	}
}

void sub_retry(struct conn *c, long long *counter)
{
	(*counter)++;
	conn_close(c);
	timer_set(c, clock_now_us() + RETRY_US);
}


void sub_response_done(struct conn *c)
{
	struct http_resp *r = &c->resp;

	if (opt.tech == TECH_WS) {
		if (r->status != 101 || !ws_client_accept_ok(c->ws_key, r->ws_accept)) {
			sub_retry(c, r->status == 101 ? &counters.err_proto : &counters.err_http);
			return;
		}
		sub_ready(c);
		ws_open(c);
		return;
	}
	if (opt.tech == TECH_SSE) {
		/* The stream ended (RT_SSE_MAX_AGE): reconnect from the last id. */
		conn_close(c);
		if (r->status != 200)
			sub_retry(c, &counters.err_http);
		else
			sub_request(c);
		return;
	}
	if (r->status != 200) {
		sub_retry(c, &counters.err_http);
		return;
	}
	{
		long long cur = message_json_int(c->body, c->body_len, opt.cursor_key);
		note_messages(c, c->body, c->body_len);
		if (cur >= 0)
			c->since = cur;
	}
	if (!r->close) {
		c->state = C_IDLE;
		conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
	} else {
		conn_close(c);
	}
	if (opt.tech == TECH_LONGPOLL) {
		sub_ready(c);
		sub_request(c);
	} else {
		uint64_t now = clock_now_us(), T = (uint64_t)opt.interval_ms * 1000;
		/* First answer: pick a random phase so the clients spread over T. */
		timer_set(c, c->ready ? now + T : now + (uint64_t)random() % T);
		sub_ready(c);
	}
}


/* A request could not be made: try again after a pause. */
void sub_retry_later(struct conn *c)
{
	timer_set(c, clock_now_us() + RETRY_US);
}

uint64_t sub_run_timers(uint64_t now)
{
	while (heap_len > 0 && heap[0].due <= now) {
		struct timer t = timer_pop();
		struct conn *c = &subs[t.sub];
		if (c->timer_us != t.due)
			continue;          /* superseded */
		c->timer_us = 0;
		if (c->fd < 0 || c->state == C_IDLE)
			sub_request(c);
	}
	return heap_len > 0 ? heap[0].due : 0;
}

/* Subscribers [first, end) connect at opt.connect_rate per second, counted
 * over every loadgen process, so N processes together keep the same pace. */
void sub_init(int first, int end, uint64_t t_start)
{
	int i;

	sub_first = first;
	sub_end = end;
	subs = calloc((size_t)opt.clients, sizeof *subs);
	if (subs == NULL)
		die("out of memory");
	for (i = first; i < end; i++) {
		struct conn *c = &subs[i];
		c->fd = -1;
		c->index = i;
		if (opt.tech == TECH_SSE) {
			c->sse = xrealloc(NULL, sizeof *c->sse);
			sse_client_init(c->sse);
		}
		timer_set(c, t_start + (uint64_t)i * 1000000 / (uint64_t)opt.connect_rate);
	}
}

void sub_free(void)
{
	int i;

	for (i = sub_first; subs && i < sub_end; i++)
		conn_free(&subs[i]);
	free(subs);
	free(heap);
	subs = NULL;
	heap = NULL;
	heap_len = heap_cap = 0;
}
