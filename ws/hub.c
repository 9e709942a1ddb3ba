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
 *
 * What the hub keeps per client is its own struct sub; a client is reached
 * only through conn.h (send, room, close), and conn.c reports back through
 * hub_events.
 *
 * A client's "send" is stored by the writer thread (writer.c), so a wait
 * for SQLite's write lock never freezes the loop; the hub fans out when
 * the thread reports the row stored.  Channels live in a hash table: a
 * fan-out finds a row's subscribers in one lookup, however many channels
 * are open.
 *
 * (Over 600 lines: channels, replay and fan-out all walk the same
 * subscriber lists, and one file keeps their lifetime rules in one view.)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ae.h"
#include "clock.h"
#include "http_status.h"
#include "hub.h"
#include "msg.h"
#include "store.h"
#include "writer.h"
#include "ws_frame.h"
#include "wsd.h"

#define REPLAY_CHUNK 100
#define SUB_PENDING_MAX 32    /* a client's messages waiting for the writer
                                 before its input is held */
#define FANOUT_LOG_MIN 1000   /* frames: log the cost of fan-outs this big */

struct channel {
	char name[MSG_CHANNEL_MAX + 1];
	struct sub *subs;            /* every subscriber: replaying and live */
	unsigned refs;               /* its subs, and a fan-out walking it */
	struct channel *next;        /* in its hash bucket */
};

/* One client's subscription (conn_data() of an open client). */
struct sub {
	struct conn *conn;           /* NULL once the client has gone */
	struct channel *ch;
	struct sub *prev, *next;     /* the channel's subscribers */
	int live;                    /* 0: still replaying what it missed */
	int64_t last_sent;           /* id of the last message queued to it */
	unsigned pending;            /* its messages the writer has not stored
	                                yet: a gone client's sub lives on until
	                                they are done (they point at it) */
	int held;                    /* its input is held (conn_hold_input) */
};

static struct {
	struct store *st;
	struct msg_json *mj;
	int64_t cursor;              /* newest id fanned out */
	int wait_fd;
	int64_t next_check;          /* ms; 0: only when the fd fires */
	int fanout_due;              /* a read failed: retry on the tick */
	int64_t next_open;           /* ms: when to retry opening the store */
	int writer_fd;
	struct channel **bucket;     /* the channels, by name_hash() */
	size_t nbuckets, nchannels;
} hub = { .wait_fd = -1, .writer_fd = -1 };

static enum src_kind store_src = SRC_STORE, writer_src = SRC_WRITER;
static void writer_done(void);

static void fanout(void);

static void schedule_check(void)
{
	int ms = hub.st ? store_wait_next_ms(hub.st) : -1;

	hub.next_check = ms < 0 ? 0 : clock_now_ms() + ms;
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
	for (size_t b = 0; b < hub.nbuckets; b++)
		for (struct channel *ch = hub.bucket[b]; ch; ch = ch->next)
			if (store_watch(hub.st, ch->name, hub.cursor) < 0) {   /* a reopened store */
				err = "out of memory";
				goto fail;
			}
	if (hub.writer_fd < 0) {
		if ((hub.writer_fd = writer_start(wsd.db_path)) < 0) {
			err = "cannot start the writer thread";
			goto fail;
		}
		ae_add(wsd.loop, hub.writer_fd, AE_READABLE, &writer_src);
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
	hub.next_open = clock_now_ms() + 1000;
	wsd_log(NULL, "store unavailable: %s (retrying)", err ? err : "?");
	return -1;
}

void hub_close(void)
{
	if (hub.wait_fd >= 0)
		ae_del(wsd.loop, hub.wait_fd);
	hub.wait_fd = -1;
	if (hub.writer_fd >= 0) {
		ae_del(wsd.loop, hub.writer_fd);
		writer_stop();          /* stores what is queued */
		writer_done();          /* and frees the jobs and the gone subs */
		hub.writer_fd = -1;
	}
	store_close(hub.st);
	hub.st = NULL;
	msg_json_close(hub.mj);
	hub.mj = NULL;
	for (size_t b = 0; b < hub.nbuckets; b++) {
		while (hub.bucket[b]) {
			struct channel *next = hub.bucket[b]->next;
			free(hub.bucket[b]);
			hub.bucket[b] = next;
		}
	}
	free(hub.bucket);
	hub.bucket = NULL;
	hub.nbuckets = hub.nchannels = 0;
}

/* ---- channels ----------------------------------------------------------- */

/* FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/): short names, few
 * collisions, no state. */
static size_t name_hash(const char *name)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* The link that points at the channel called name, or at the NULL that
 * ends its bucket. */
static struct channel **channel_link(const char *name)
{
	struct channel **p = &hub.bucket[name_hash(name) & (hub.nbuckets - 1)];

	while (*p && strcmp((*p)->name, name) != 0)
		p = &(*p)->next;
	return p;
}

static struct channel *channel_find(const char *name)
{
	return hub.nbuckets ? *channel_link(name) : NULL;
}

/* Doubles the table once there are as many channels as buckets, so a
 * bucket holds one channel on average. */
static int channels_grow(void)
{
	size_t n = hub.nbuckets ? hub.nbuckets * 2 : 64;
	struct channel **old = hub.bucket, **v = calloc(n, sizeof *v);

	if (!v)
		return -1;
	for (size_t b = 0; b < hub.nbuckets; b++) {
		for (struct channel *ch = old[b], *next; ch; ch = next) {
			size_t i = name_hash(ch->name) & (n - 1);
			next = ch->next;
			ch->next = v[i];
			v[i] = ch;
		}
	}
	free(old);
	hub.bucket = v;
	hub.nbuckets = n;
	return 0;
}

static struct channel *channel_hold(const char *name)
{
	struct channel *ch = channel_find(name);

	if (!ch) {
		if (hub.nchannels >= hub.nbuckets && channels_grow() < 0)
			return NULL;
		if (!(ch = calloc(1, sizeof *ch)))
			return NULL;
		snprintf(ch->name, sizeof ch->name, "%s", name);
		/* Wake for this channel's commits from now on (per-channel wakes). */
		if (hub.st && store_watch(hub.st, ch->name, hub.cursor) < 0) {
			free(ch);
			return NULL;
		}
		schedule_check();        /* the watch may report news at once */
		*channel_link(name) = ch;
		hub.nchannels++;
	}
	ch->refs++;
	return ch;
}

static void channel_release(struct channel *ch)
{
	struct channel **p;

	if (--ch->refs > 0)
		return;
	p = channel_link(ch->name);
	*p = ch->next;
	hub.nchannels--;
	if (hub.st)
		store_unwatch(hub.st, ch->name);
	free(ch);
}

/* The client has gone: off its channel.  The struct itself goes now, or
 * when the writer has finished the client's last message (writer_done). */
static void sub_free(struct sub *s)
{
	struct channel *ch = s->ch;

	if (s->prev)
		s->prev->next = s->next;
	else
		ch->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	conn_set_data(s->conn, NULL);
	s->conn = NULL;
	s->ch = NULL;
	if (s->pending == 0)
		free(s);
	channel_release(ch);
}

/* conn.c: the client is no longer open. */
static void hub_closed(struct conn *c)
{
	struct sub *s = conn_data(c);

	if (s)
		sub_free(s);
}

/* ---- frames out --------------------------------------------------------- */

/*
 * The "latest wins" key of a message (ws/wsbuf.h): FNV-1a 64 over the event
 * and the user; the channel is the connection's own.  Two users whose keys
 * collided would lose a queued position to each other, which the next
 * position repairs: that is what a position is.  Never 0 (0: no key).
 */
static uint64_t latest_key(const struct store_msg *m)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	const char *parts[] = { m->event, m->user };

	for (size_t i = 0; i < 2; i++)
		for (const char *p = parts[i]; ; p++) {
			h = (h ^ (unsigned char)*p) * 0x100000001b3ULL;
			if (*p == '\0')
				break;      /* the NUL separates event from user */
		}
	return h ? h : 1;
}

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
	if (msg_event_latest_wins(m->event))
		b->latest_key = latest_key(m);
	return b;
}

/* {"type":"error","error":<the code of status>,"detail":...}: the same
 * codes as the HTTP endpoints' error answers (lib/http_status.c). */
static void send_error(struct conn *c, int status, const char *detail)
{
	char body[512];
	size_t n = http_error_json(body, sizeof body, 1, status, detail);
	struct wsbuf *b;

	b = wsbuf_frame(WS_OP_TEXT, body, n);
	conn_send(c, b);
	wsbuf_unref(b);
}

/* ---- replay and fan-out ------------------------------------------------- */

static void replay(struct sub *s);

/* conn.c: a client is open (after the 101): where does it start? */
static const char *hub_subscribe(struct conn *c, const struct http_cursor *p)
{
	struct store_msgs ms = { 0 };
	struct sub *s;
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
	if (!(s = calloc(1, sizeof *s)))
		return "out of memory";
	if (!(s->ch = channel_hold(p->channel))) {
		free(s);
		return "out of memory";
	}
	s->conn = c;
	s->next = s->ch->subs;
	if (s->ch->subs)
		s->ch->subs->prev = s;
	s->ch->subs = s;
	conn_set_data(c, s);
	if (p->has_since) {
		/* protocol.md: a since above the newest id means the store was
		 * recreated: start from the current end. */
		s->last_sent = p->since > last ? last : p->since;
	} else if (p->history == 0) {
		s->last_sent = hub.cursor;
	} else {
		if (store_read_last(hub.st, s->ch->name, p->history, &ms) < 0)
			goto unavailable;
		s->last_sent = ms.n ? ms.v[0].id - 1 : hub.cursor;
		store_msgs_free(&ms);
	}
	replay(s);
	return NULL;
unavailable:
	sub_free(s);
	return "the message store is unavailable";
}

/*
 * Sends what s missed, a chunk at a time while its queue has room; it goes
 * on when conn.c reports the queue drained (or on the tick, if the store
 * failed meanwhile).  conn_send() may close a client that is too slow, and
 * that frees s: so nothing of s is touched after a send that closed it.
 */
static void replay(struct sub *s)
{
	struct conn *c = s->conn;

	while (!s->live && conn_room(c) > 0) {
		struct store_msgs ms = { 0 };
		int caught_up = 0;

		if (s->last_sent >= hub.cursor) {
			s->live = 1;
			return;
		}
		if (store_read_after(hub.st, s->ch->name, s->last_sent,
		                     REPLAY_CHUNK, &ms) < 0)
			return;   /* hub_tick retries */
		size_t i;
		for (i = 0; i < ms.n; i++) {
			struct wsbuf *b;
			if (ms.v[i].id > hub.cursor) {
				caught_up = 1;    /* the rest comes live */
				break;
			}
			if (conn_room(c) == 0)
				break;            /* go on when the queue drains */
			b = message_frame(&ms.v[i]);
			s->last_sent = ms.v[i].id;
			conn_send(c, b);
			wsbuf_unref(b);
			if (!conn_is_open(c))
				break;            /* closed (too slow): s is gone */
		}
		if (ms.n < REPLAY_CHUNK && i == ms.n)
			caught_up = 1;
		store_msgs_free(&ms);
		if (!conn_is_open(c))
			return;
		if (caught_up) {
			s->last_sent = hub.cursor;
			s->live = 1;
		}
	}
}

/* conn.c: the client's queue was written out. */
static void hub_drained(struct conn *c)
{
	struct sub *s = conn_data(c);

	if (s && !s->live)
		replay(s);
}

/* One row to the live subscribers of its channel; returns how many. */
static size_t deliver(const struct store_msg *m)
{
	struct channel *ch = channel_find(m->channel);
	struct wsbuf *b;
	size_t n = 0;

	if (!ch || !ch->subs)
		return 0;
	/* Out of memory, b is NULL: conn_send closes each subscriber with
	 * 1011 instead, and it resumes from the row it missed. */
	b = message_frame(m);
	ch->refs++;       /* a slow subscriber may leave during the walk */
	for (struct sub *s = ch->subs, *next; s; s = next) {
		next = s->next;   /* conn_send may close s's client and free s */
		if (!s->live || m->id <= s->last_sent)
			continue;
		s->last_sent = m->id;
		conn_send(s->conn, b);
		n++;
	}
	channel_release(ch);
	wsbuf_unref(b);
	return n;
}

/* Every row after the cursor, to every live subscriber of its channel;
 * then written out at once.  A big fan-out is logged with its cost. */
static void fanout(void)
{
	int64_t t0 = clock_now_ns();
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
		        "(read, encode, write to every socket)", rows, sent, (clock_now_ns() - t0) / 1e6);
}

/*
 * The database file was deleted or recreated (sql/schema.sql run again): our
 * connection still reads the old, unlinked file, and the new file's ids
 * start again from 1, below every client's cursor.  Close the clients with
 * 1012 (Service Restart, IANA's close-code registry): they reconnect with
 * their since, which is now above the newest id, and so start from the
 * current end (docs/protocol.md).  Then reopen on the new file.  A store
 * that is gone (Redis down: the wait says -1) takes the same path with 1011:
 * the clients resume with their since on another host, or here once it is
 * back (docs/scaling.md).
 */
static void reopen_replaced(int code, const char *why)
{
	wsd_log(NULL, "store %s %s: closing clients, reopening", store_path(hub.st),
	        code == WS_CLOSE_SERVICE_RESTART ? "was replaced" : "is unavailable");
	/* Each close frees one subscription (hub_closed), and a channel goes
	 * with its last one. */
	for (size_t b = 0; b < hub.nbuckets; b++) {
		while (hub.bucket[b] && hub.bucket[b]->subs) {
			struct sub *s = hub.bucket[b]->subs;
			if (conn_is_open(s->conn))
				conn_close_with(s->conn, code, why);
			else
				sub_free(s);   /* cannot happen: a sub lives while its client is open */
		}
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
		reopen_replaced(WS_CLOSE_SERVICE_RESTART, "the store was recreated");
		return;
	case -1:   /* the store is gone (Redis down): clients resume elsewhere or later */
		reopen_replaced(WS_CLOSE_INTERNAL, "the store is unavailable");
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
	left = hub.next_check - clock_now_ms();
	return left < 0 ? 0 : (int)left;
}

void hub_tick(void)
{
	if (wsd.echo)
		return;
	if (!hub.st) {
		if (clock_now_ms() >= hub.next_open)
			hub_open();
		return;
	}
	if (hub.fanout_due)
		fanout();
	/* Replays a failed store read interrupted.  replay() may close its
	 * own client (too slow), which frees that sub only. */
	for (size_t b = 0; b < hub.nbuckets; b++) {
		for (struct channel *ch = hub.bucket[b], *next_ch; ch; ch = next_ch) {
			ch->refs++;
			for (struct sub *s = ch->subs, *next; s; s = next) {
				next = s->next;
				if (!s->live)
					replay(s);
			}
			next_ch = ch->next;
			channel_release(ch);
		}
	}
}

/* conn.c: a data message from a client: a "send" frame, handed to the
 * writer thread; fanned out like any other row once it is stored. */
static void hub_message(struct conn *c, int opcode, const unsigned char *data,
                        size_t len)
{
	struct sub *s = conn_data(c);
	struct msg_fields f;
	struct writer_job *job;
	const char *err;

	/* protocol.md: a frame that is not our JSON, or of an unknown type, is
	 * a policy violation (1008); a bad field value only earns an error
	 * frame — an empty text and a text that is a number alike. */
	if (opcode != WS_OP_TEXT) {
		conn_close_with(c, WS_CLOSE_POLICY, "binary frames are not JSON");
		return;
	}
	err = msg_json_parse(hub.mj, (const char *)data, len, &f);
	if (err && !f.bad_member) {
		conn_close_with(c, WS_CLOSE_POLICY, err);
		return;
	}
	if (!f.type.s || strcmp(f.type.s, "send") != 0) {
		conn_close_with(c, WS_CLOSE_POLICY, "unknown frame type (expected \"send\")");
		return;
	}
	if (err) {
		send_error(c, 400, err);
		return;
	}
	/* The channel is the connection's (chosen at the handshake); a
	 * "channel" member in the frame is ignored.  Then the same defaults
	 * and rules as send.fcgi (lib/msg.c). */
	f.channel.s = s->ch->name;
	f.channel.len = strlen(s->ch->name);
	if ((err = msg_fields_check(&f)) != NULL) {
		send_error(c, 400, err);
		return;
	}
	if (!hub.st) {
		send_error(c, 503, "the message store is unavailable; send again later");
		return;
	}
	if (!(job = writer_job_new(s, f.channel.s, f.event.s, f.user.s, f.text.s))) {
		conn_close_with(c, WS_CLOSE_INTERNAL, "out of memory");
		return;
	}
	if (writer_submit(job) < 0) {
		writer_job_free(job);
		send_error(c, 503, "too many messages waiting to be stored; send again later");
		return;
	}
	/* Bounded without refusing anything: past SUB_PENDING_MAX messages
	 * waiting for the write lock, the client is not read any more (TCP
	 * flow control holds its sender) until half of them are stored.  The
	 * process-wide WRITER_QUEUE_MAX is the backstop, answered with 503. */
	if (++s->pending >= SUB_PENDING_MAX && !s->held) {
		s->held = 1;
		conn_hold_input(c, 1);
	}
}

/* The writer thread stored (or failed to store) messages: tell the
 * senders of a failure, forget the gone ones, fan out what is new. */
static void writer_done(void)
{
	struct writer_job *job = writer_take_done();
	int stored = 0;

	while (job) {
		struct writer_job *next = job->next;
		struct sub *s = job->owner;

		s->pending--;
		stored |= job->ok;
		if (!s->conn) {
			if (s->pending == 0)
				free(s);           /* its client went while it waited */
		} else {
			if (!job->ok)
				send_error(s->conn, 503, "the message store is unavailable; send again later");
			/* Last use of s in this turn: reading again may close the
			 * client, and free s once nothing points at it. */
			if (s->held && s->pending <= SUB_PENDING_MAX / 2 && conn_is_open(s->conn)) {
				s->held = 0;
				conn_hold_input(s->conn, 0);
			}
		}
		writer_job_free(job);
		job = next;
	}
	/* The writer's connection is not ours, so our wait fd also fires;
	 * fanning out now saves that round trip. */
	if (stored && hub.st)
		fanout();
}

void hub_on_writer_event(void)
{
	writer_done();
}

/* conn.c: before the 101, is the store there? */
static const char *hub_admit(void)
{
	return hub.st ? NULL : "the message store is unavailable";
}

const struct conn_events hub_events = {
	.admit = hub_admit,
	.open = hub_subscribe,
	.message = hub_message,
	.drained = hub_drained,
	.closed = hub_closed,
};
