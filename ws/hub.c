/*
 * hub.c — the store in the event loop.
 *
 * The helper holds one store connection and one global cursor: the id of the
 * newest row it has fanned out.  When the store's wait fd fires (another
 * process committed) or a client of ours sent a message, the hub reads every
 * row after the cursor, in id order, across all channels
 * (store_read_after(st, NULL, ...)), encodes each row into one frame and
 * hands that frame to every live subscriber of the row's channel.  Our own
 * messages take the same path as send.fcgi's, so every transport sees the
 * same rows in the same order.
 *
 * A new client first replays what it missed — the rows after its since, or
 * its channel's last `history` rows — in chunks, as its output queue drains,
 * and becomes live when it reaches the global cursor.  Each client also
 * remembers the last id it was sent, so a row is never sent twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ae.h"
#include "msg.h"
#include "store.h"
#include "wsd.h"

#define REPLAY_CHUNK 100
#define FANOUT_LOG_MIN 1000   /* frames: log the cost of fan-outs this big */

struct channel {
	char name[STORE_CHANNEL_MAX + 1];
	struct conn *subs;           /* live subscribers */
	unsigned refs;               /* connections whose ch is this */
	struct channel *next;
};

static struct {
	struct store *st;
	struct msg_json *mj;
	int64_t cursor;              /* newest id fanned out */
	int wait_fd;
	int64_t next_check;          /* ms; 0: only when the fd fires */
	int fanout_due;              /* a read failed: retry on the tick */
	int64_t next_open;           /* ms: when to retry opening the store */
	struct channel *channels;
} hub = { .wait_fd = -1 };

static enum src_kind store_src = SRC_STORE;

static void fanout(void);

static void schedule_check(void)
{
	int ms = hub.st ? store_wait_next_ms(hub.st) : -1;

	hub.next_check = ms < 0 ? 0 : now_ms() + ms;
}

int hub_open(void)
{
	const char *err = NULL;

	if (!hub.mj && !(hub.mj = msg_json_open(&err)))
		goto fail;
	if (!(hub.st = store_open(wsd.db_path, &err)))
		goto fail;
	if (store_last_id(hub.st, &hub.cursor) < 0) {
		err = "cannot read the newest id";
		goto fail;
	}
	for (struct channel *ch = hub.channels; ch; ch = ch->next)
		if (store_watch(hub.st, ch->name, hub.cursor) < 0) {   /* a reopened store */
			err = "out of memory";
			goto fail;
		}
	hub.wait_fd = store_wait_fd(hub.st);
	if (hub.wait_fd >= 0 && ae_add(wsd.loop, hub.wait_fd, AE_READABLE, &store_src) < 0)
		hub.wait_fd = -1;  /* store_wait_next_ms() then bounds the sleep */
	schedule_check();
	wsd_log(NULL, "store %s open, newest id %lld", store_path(hub.st),
	        (long long)hub.cursor);
	return 0;
fail:
	store_close(hub.st);
	hub.st = NULL;
	hub.next_open = now_ms() + 1000;
	wsd_log(NULL, "store unavailable: %s (retrying)", err ? err : "?");
	return -1;
}

void hub_close(void)
{
	if (hub.wait_fd >= 0)
		ae_del(wsd.loop, hub.wait_fd);
	hub.wait_fd = -1;
	store_close(hub.st);
	hub.st = NULL;
	msg_json_close(hub.mj);
	hub.mj = NULL;
	while (hub.channels) {
		struct channel *next = hub.channels->next;
		free(hub.channels);
		hub.channels = next;
	}
}

int hub_ready(void)
{
	return hub.st != NULL;
}

/* ---- channels ----------------------------------------------------------- */

static struct channel *channel_find(const char *name)
{
	for (struct channel *ch = hub.channels; ch; ch = ch->next)
		if (strcmp(ch->name, name) == 0)
			return ch;
	return NULL;
}

static struct channel *channel_hold(const char *name)
{
	struct channel *ch = channel_find(name);

	if (!ch) {
		if (!(ch = calloc(1, sizeof *ch)))
			return NULL;
		snprintf(ch->name, sizeof ch->name, "%s", name);
		/* Wake for this channel's commits from now on (per-channel wakes). */
		if (hub.st && store_watch(hub.st, ch->name, hub.cursor) < 0) {
			free(ch);
			return NULL;
		}
		schedule_check();        /* the watch may report news at once */
		ch->next = hub.channels;
		hub.channels = ch;
	}
	ch->refs++;
	return ch;
}

static void channel_release(struct channel *ch)
{
	struct channel **p = &hub.channels;

	if (--ch->refs > 0)
		return;
	while (*p != ch)
		p = &(*p)->next;
	*p = ch->next;
	if (hub.st)
		store_unwatch(hub.st, ch->name);
	free(ch);
}

static void go_live(struct conn *c)
{
	c->replaying = 0;
	c->sub_prev = NULL;
	c->sub_next = c->ch->subs;
	if (c->ch->subs)
		c->ch->subs->sub_prev = c;
	c->ch->subs = c;
}

void hub_unsubscribe(struct conn *c)
{
	struct channel *ch = c->ch;

	if (!ch)
		return;
	if (!c->replaying) {
		if (c->sub_prev)
			c->sub_prev->sub_next = c->sub_next;
		else
			ch->subs = c->sub_next;
		if (c->sub_next)
			c->sub_next->sub_prev = c->sub_prev;
	}
	c->ch = NULL;
	c->sub_prev = c->sub_next = NULL;
	channel_release(ch);
}

/* ---- frames out --------------------------------------------------------- */

/* {"type":"message","message":<the stored JSON>} as one text frame. */
static struct wsbuf *message_frame(const struct store_msg *m)
{
	static const char head[] = "{\"type\":\"message\",\"message\":";
	size_t len = sizeof head - 1 + m->json_len + 1;
	struct wsbuf *b = wsbuf_new(WS_HEADER_MAX + len);

	if (!b)
		return NULL;
	b->len = ws_frame_header(b->data, 1, WS_OP_TEXT, len, NULL);
	memcpy(b->data + b->len, head, sizeof head - 1);
	b->len += sizeof head - 1;
	memcpy(b->data + b->len, m->json, m->json_len);
	b->len += m->json_len;
	b->data[b->len++] = '}';
	return b;
}

/* {"type":"error",...}: code and detail are constant sentences of ours
 * (msg.c's rule texts), never client input, so they need no escaping. */
static void send_error(struct conn *c, const char *code, const char *detail)
{
	char body[512];
	int n = snprintf(body, sizeof body,
	                 "{\"type\":\"error\",\"error\":\"%s\",\"detail\":\"%s\"}",
	                 code, detail);
	struct wsbuf *b;

	if (n < 0 || (size_t)n >= sizeof body)
		return;
	b = wsbuf_frame(WS_OP_TEXT, body, (size_t)n);
	conn_send(c, b);
	wsbuf_unref(b);
}

/* ---- replay and fan-out ------------------------------------------------- */

const char *hub_subscribe(struct conn *c, const struct ws_params *p)
{
	struct store_msgs ms = { 0 };
	int64_t last;

	if (!hub.st)
		return "the message store is unavailable";
	/* Wakes are per channel: rows on channels nobody here watched did not
	 * move the cursor.  Catch up first (before this client is a replaying
	 * subscriber), so "the current end" is the store's. */
	if (store_last_id(hub.st, &last) < 0)
		return "the message store is unavailable";
	if (last > hub.cursor)
		fanout();
	if (!(c->ch = channel_hold(p->channel)))
		return "out of memory";
	c->replaying = 1;
	if (p->since >= 0) {
		/* SPEC: a since above the newest id means the store was
		 * recreated: start from the current end. */
		c->last_sent = p->since > last ? last : p->since;
	} else if (p->history == 0) {
		c->last_sent = hub.cursor;
	} else {
		if (store_read_last(hub.st, c->ch->name, p->history, &ms) < 0)
			goto unavailable;
		c->last_sent = ms.n ? ms.v[0].id - 1 : hub.cursor;
		store_msgs_free(&ms);
	}
	hub_replay(c);
	return NULL;
unavailable:
	hub_unsubscribe(c);
	return "the message store is unavailable";
}

void hub_replay(struct conn *c)
{
	while (c->replaying && c->state == CONN_OPEN &&
	       c->out_bytes < wsd.queue_max / 2) {
		struct store_msgs ms = { 0 };
		int caught_up = 0;

		if (c->last_sent >= hub.cursor) {
			go_live(c);
			return;
		}
		if (store_read_after(hub.st, c->ch->name, c->last_sent,
		                     REPLAY_CHUNK, &ms) < 0)
			return;   /* conn_tick retries */
		size_t i;
		for (i = 0; i < ms.n && c->state == CONN_OPEN; i++) {
			struct wsbuf *b;
			if (ms.v[i].id > hub.cursor) {
				caught_up = 1;    /* the rest comes live */
				break;
			}
			if (c->out_bytes >= wsd.queue_max / 2)
				break;            /* go on when the queue drains */
			b = message_frame(&ms.v[i]);
			conn_send(c, b);
			wsbuf_unref(b);
			c->last_sent = ms.v[i].id;
		}
		if (ms.n < REPLAY_CHUNK && i == ms.n)
			caught_up = 1;
		store_msgs_free(&ms);
		if (caught_up && c->state == CONN_OPEN) {
			c->last_sent = hub.cursor;
			go_live(c);
		}
	}
}

/* One row to the live subscribers of its channel; returns how many. */
static size_t deliver(const struct store_msg *m)
{
	struct channel *ch = channel_find(m->channel);
	struct wsbuf *b;
	size_t n = 0;

	if (!ch || !ch->subs)
		return 0;
	if (!(b = message_frame(m)))
		return 0;
	ch->refs++;       /* a slow subscriber may leave during the walk */
	for (struct conn *c = ch->subs, *next; c; c = next) {
		next = c->sub_next;
		if (m->id <= c->last_sent)
			continue;
		c->last_sent = m->id;
		conn_send(c, b);
		n++;
	}
	channel_release(ch);
	wsbuf_unref(b);
	return n;
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Every row after the cursor, to every live subscriber of its channel;
 * then written out at once.  A big fan-out is logged with its cost. */
static void fanout(void)
{
	double t0 = mono_ms();
	size_t sent = 0, rows = 0;

	for (;;) {
		struct store_msgs ms = { 0 };

		if (store_read_after(hub.st, NULL, hub.cursor, STORE_READ_MAX, &ms) < 0) {
			if (!hub.fanout_due)
				wsd_log(NULL, "store read failed (retrying)");
			hub.fanout_due = 1;
			return;
		}
		for (size_t i = 0; i < ms.n; i++) {
			sent += deliver(&ms.v[i]);
			hub.cursor = ms.v[i].id;
		}
		rows += ms.n;
		store_msgs_free(&ms);
		if (ms.n < STORE_READ_MAX)
			break;
	}
	hub.fanout_due = 0;
	conn_flush_pending();
	if (sent >= FANOUT_LOG_MIN)
		wsd_log(NULL, "fan-out: %zu rows, %zu frames written in %.2f ms "
		        "(read, encode, write to every socket)", rows, sent, mono_ms() - t0);
}

/*
 * The database file was deleted or recreated (sql/schema.sql run again): our
 * connection still reads the old, unlinked file, and the new file's ids
 * start again from 1, below every client's cursor.  Close the clients with
 * 1012 (Service Restart, IANA's close-code registry): they reconnect with
 * their since, which is now above the newest id, and so start from the
 * current end (SPEC).  Then reopen on the new file.
 */
static void reopen_replaced(void)
{
	wsd_log(NULL, "store %s was replaced: closing clients, reopening",
	        store_path(hub.st));
	for (struct conn *c = wsd.conns, *next; c; c = next) {
		next = c->next;
		if (c->state == CONN_OPEN)
			conn_close_with(c, WS_CLOSE_SERVICE_RESTART, "the store was recreated");
	}
	if (hub.wait_fd >= 0)
		ae_del(wsd.loop, hub.wait_fd);
	hub.wait_fd = -1;
	store_close(hub.st);
	hub.st = NULL;
	hub_open();
}

void hub_on_store_event(void)
{
	if (!hub.st)
		return;
	switch (store_wait_check(hub.st)) {
	case STORE_WAIT_RESET:
		reopen_replaced();
		return;
	case STORE_WAIT_CHANGE:
		fanout();
		break;
	}
	schedule_check();
}

int hub_wait_ms(void)
{
	int64_t left;

	if (!hub.st || !hub.next_check)
		return -1;
	left = hub.next_check - now_ms();
	return left < 0 ? 0 : (int)left;
}

void hub_tick(void)
{
	if (wsd.echo)
		return;
	if (!hub.st) {
		if (now_ms() >= hub.next_open)
			hub_open();
		return;
	}
	if (hub.fanout_due)
		fanout();
}

void hub_client_message(struct conn *c, const unsigned char *data, size_t len)
{
	struct msg_fields f;
	struct store_msg m = { 0 };
	const char *err, *user;
	size_t user_len;

	/* SPEC: a frame that is not our JSON, or of an unknown type, is a
	 * policy violation (1008); a bad field only earns an error frame. */
	if ((err = msg_json_parse(hub.mj, (const char *)data, len, &f)) != NULL) {
		conn_close_with(c, WS_CLOSE_POLICY, err);
		return;
	}
	if (!f.type.s || strcmp(f.type.s, "send") != 0) {
		conn_close_with(c, WS_CLOSE_POLICY, "unknown frame type (expected \"send\")");
		return;
	}
	user = f.user.s ? f.user.s : MSG_DEFAULT_USER;
	user_len = f.user.s ? f.user.len : strlen(MSG_DEFAULT_USER);
	if ((err = msg_check_user(user, user_len)) != NULL ||
	    (err = msg_check_text(f.text.s ? f.text.s : "", f.text.len)) != NULL) {
		send_error(c, "bad_request", err);
		return;
	}
	if (!hub.st || store_insert(hub.st, c->ch->name, user, f.text.s, "ws", &m) < 0) {
		send_error(c, "unavailable", "the message store is unavailable; send again later");
		return;
	}
	store_msg_clear(&m);
	/* Our own commit does not wake our store handle: fan out now. */
	fanout();
}
