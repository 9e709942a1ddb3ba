/*
 * rtclient.js — one real-time subscription that uses the best transport that
 * works: WebSocket, else Server-Sent Events, else long polling, else polling.
 *
 *   import { connect } from './js/rtclient.js';
 *   const client = connect({
 *     channel: 'lobby',
 *     transports: ['ws', 'sse', 'longpoll', 'poll'],   // best first
 *     events: ['message'],                             // which named events
 *     onMessage(msg, info) { ... msg.text ... info.transport ... },
 *     onState(state, info) { ... 'connecting' | 'open' | 'reconnecting' | 'closed' },
 *                            // info: transport, reason, stats; when reconnecting
 *                            // also next (the transport tried next) and delayMs
 *     onReset(info) { ... },  // the store started over (info: transport, reason, stats)
 *   });
 *   client.stats;    // { transport, state, received, requests, bytes, reconnects, resets, ... }
 *   client.close();
 *
 * The one idea: every message carries an id that only grows (docs/protocol.md), so the
 * client keeps the last id it delivered and passes it as `since` whenever it
 * (re)connects, on any transport.  The server sends everything after it; the
 * client drops any id it has already delivered.  Switching transports, or
 * reconnecting after a drop, therefore loses nothing and shows nothing twice.
 * Unless the database was deleted and created again: then ids start over
 * from 1, and "already delivered" no longer means anything (last rule).
 *
 * The rules, in the order they act:
 *  - A transport that cannot be opened (WebSocket handshake refused, event
 *    stream refused, HTTP error) or does not open within connectTimeoutMs
 *    "fails": the client moves on to the next transport in the list (after
 *    the last one it starts again from the first).
 *  - A transport that was open and drops is reopened, the same one first.
 *  - Every reopen waits a random time in [0, min(max, base * 2^failures)]:
 *    exponential backoff with "full jitter", so a thousand clients that lost
 *    the same server do not all come back in the same millisecond.  A 503's
 *    Retry-After is a lower bound.
 *  - A silent connection is suspected dead: browsers do not show WebSocket
 *    pings or SSE ": heartbeat" comments to JavaScript, so after silenceMs
 *    without any frame or event the client asks poll.fcgi whether a newer
 *    message exists.  If one does and the stream still has not delivered it
 *    a moment later, or the server cannot be reached at all, the stream is
 *    dead: it is closed and reopened (resuming from the last id).
 *  - While on a lower transport, the client tries a better one again every
 *    probeMs (each in turn, best first); when it opens, the client switches
 *    up to it.
 *  - The store started over.  One connection delivers ids strictly
 *    increasing, all above the since it asked with (docs/protocol.md
 *    "Cursors"), so an id below the last one seen on the same connection,
 *    or at or below its since, can only come from a recreated database: the
 *    client forgets its last id and takes the new ids from there
 *    (stats.resets, onReset).  A long-poll or poll answer says so itself
 *    ("reset": true).  A duplicate is only what is at or below the last id
 *    but above the connection's own since: the overlap of two transports
 *    during a switch, or a frame that came twice.
 */

const DEFAULTS = {
	channel: 'lobby',
	transports: ['ws', 'sse', 'longpoll', 'poll'],
	base: '',                 // '' = same origin as the page
	history: 20,              // messages shown on a fresh start (no last id yet)
	events: ['message'],      // the event names delivered (docs/protocol.md "Messages": default message)
	since: null,              // start after this id instead
	connectTimeoutMs: 5000,
	silenceMs: 30000,
	pollIntervalMs: 2000,
	longpollTimeoutS: 25,
	backoffBaseMs: 500,
	backoffMaxMs: 30000,
	probeMs: 15000,
	onMessage: () => {},
	onState: () => {},
	onReset: () => {},
};

export function connect(options) {
	const client = new Client({ ...DEFAULTS, ...options });
	client.start();
	return client;
}

/* ---- errors in words ----------------------------------------------------- */

const HTTP_WORDS = {
	400: 'the server refused the request as malformed',
	403: 'refused: this page\'s origin is not allowed to do that',
	404: 'not found: is the endpoint installed?',
	405: 'wrong HTTP method for this endpoint',
	413: 'too large: a message is at most 4096 bytes of text (requests at most 16 KiB)',
	415: 'unsupported content type',
	500: 'the server failed (see its error log)',
	502: 'the web server could not reach the program behind it',
	503: 'the server is busy or its message store is unavailable; try again shortly',
	504: 'the web server gave up waiting for the program behind it',
};

/* An HTTP error answer as a sentence; detail is the JSON "detail" if any. */
export function describeHttpStatus(status, detail) {
	const words = HTTP_WORDS[status] || 'unexpected answer';
	return `${status}: ${words}${detail ? ` (${detail})` : ''}`;
}

/* RFC 6455 §7.4.1 close codes, plus the ones docs/protocol.md gives meaning to. */
const CLOSE_WORDS = {
	1000: 'closed normally',
	1001: 'the WebSocket helper is shutting down (going away)',
	1002: 'protocol error: the helper rejected a malformed frame',
	1003: 'the helper cannot accept that kind of data',
	1006: 'the connection was lost without a close frame (helper down or network cut)',
	1007: 'invalid UTF-8 in a message',
	1008: 'policy violation: a frame that is not valid JSON or not a known type',
	1009: 'frame too big: the limit is 64 KiB',
	1011: 'the helper hit an internal error',
	1012: 'service restart: the message store was recreated',
};

export function describeCloseCode(code, reason) {
	const words = CLOSE_WORDS[code] || 'closed';
	return `WebSocket ${code}: ${words}${reason ? ` (${reason})` : ''}`;
}

/* ---- sending: one POST, the same for every transport --------------------- */

/*
 * Stores one message through send.fcgi.  event (optional, docs/protocol.md "Messages":
 * [a-z][a-z0-9_-]{0,31}, default message) names it: SSE subscribers get it
 * as the event's type.  Resolves to the stored message; rejects with an
 * Error whose message is in words.
 */
export async function sendMessage({ base = '', channel, user, text, event }) {
	const body = new URLSearchParams({ channel, user, text });
	if (event && event !== 'message') body.set('event', event);
	let res;
	try {
		res = await fetch(`${base}/cgi-bin/send.fcgi`, { method: 'POST', body });
	} catch (err) {
		throw new Error(`the server cannot be reached (${err.message})`);
	}
	const answer = await res.json().catch(() => null);
	if (res.status !== 201)
		throw new Error(describeHttpStatus(res.status, answer && answer.detail));
	return answer;
}

export function utf8Length(s) {
	return new TextEncoder().encode(s).length;
}

/* ---- the client ---------------------------------------------------------- */

class Client {
	constructor(opts) {
		this.opts = opts;
		this.lastId = opts.since;
		this.current = null;      // the transport delivering messages
		this.candidate = null;    // a probe of a better transport while on a lower one
		this.failures = 0;        // consecutive failures, for the backoff
		this.timer = null;        // pending reopen
		this.closed = false;
		this.stats = {
			transport: null, state: 'idle', received: 0, requests: 0,
			bytes: 0, reconnects: 0, resets: 0, duplicatesDropped: 0, lastError: null,
		};
	}

	start() {
		this.open(0);
	}

	close() {
		this.closed = true;
		clearTimeout(this.timer);
		this.stop(this.current);
		this.stop(this.candidate);
		this.current = this.candidate = null;
		this.setState('closed', null);
	}

	/* A URL under base with the given query parameters (null ones left out). */
	url(path, params) {
		const q = new URLSearchParams();
		for (const [k, v] of Object.entries(params))
			if (v !== null && v !== undefined) q.set(k, String(v));
		if (path === '/ws') {
			const origin = this.opts.base || location.origin;
			return `${origin.replace(/^http/, 'ws')}/ws?${q}`;
		}
		return `${this.opts.base}${path}?${q}`;
	}

	/* Where to resume: after the last id, or a fresh start with some history. */
	resumeParams() {
		return this.lastId === null ? { history: this.opts.history }
		                            : { since: this.lastId };
	}

	/* extra: for 'reconnecting', { next, delayMs }: what is tried next, when. */
	setState(state, reason, extra = {}) {
		this.stats.state = state;
		if (reason) this.stats.lastError = reason;
		this.opts.onState(state, { transport: this.stats.transport, reason,
		                           stats: this.stats, ...extra });
	}

	/* Starts transports[index] as the current transport. */
	open(index) {
		if (this.closed) return;
		const t = this.begin(index);
		this.current = t;
		this.stats.transport = t.name;
		this.setState('connecting', null);
	}

	/*
	 * Creates one transport attempt; it must open within connectTimeoutMs.
	 * since: what it asks for (resumeParams); seen: the last message it
	 * delivered; resets: the stats.resets it knows of (see startOver).
	 */
	begin(index) {
		const name = this.opts.transports[index];
		const t = { name, index, opened: false, lastActivity: Date.now(), probes: 0,
		            since: this.lastId, seen: null, resets: this.stats.resets };
		t.connectTimer = setTimeout(() => this.fail(t, `${name}: no answer within ` +
			`${this.opts.connectTimeoutMs} ms`), this.opts.connectTimeoutMs);
		t.stop = TRANSPORTS[name](this, t);
		return t;
	}

	stop(t) {
		if (!t) return;
		clearTimeout(t.connectTimer);
		clearInterval(t.watchTimer);
		clearTimeout(t.probeTimer);
		t.stop();
	}

	live(t) {
		return t === this.current || t === this.candidate;
	}

	/* Called by a transport when it is open (again, for SSE's own reconnects). */
	opened(t) {
		if (!this.live(t)) return;
		clearTimeout(t.connectTimer);
		t.lastActivity = Date.now();
		const switched = t === this.candidate;
		if (switched) {                      // the probe worked: switch up
			this.stop(this.current);
			this.current = t;
			this.candidate = null;
			this.stats.transport = t.name;
		}
		this.failures = 0;
		if (!t.opened) {
			t.opened = true;
			if (t.name === 'ws' || t.name === 'sse') this.watchSilence(t);
			if (t.index > 0) this.scheduleProbe(t);
		}
		if (switched || this.stats.state !== 'open') this.setState('open', null);
	}

	/* Called by a transport for each message, in id order. */
	deliver(t, msg) {
		if (msg.channel !== this.opts.channel) return;
		const prev = t.seen, over = this.startedOver(t, msg);
		t.seen = msg;
		if (t !== this.current) return;
		if (over) this.startOver(t, `${t.name}: id ${msg.id} came ` + (prev
			? `after id ${prev.id} on the same connection` : `when it asked for ids above ${t.since}`));
		else t.resets = this.stats.resets;
		if (this.lastId !== null && msg.id <= this.lastId) {
			this.stats.duplicatesDropped++;
			return;
		}
		this.lastId = msg.id;
		// The same messages on every transport: an event stream only fires the
		// event names it listens for, so the others drop what SSE never sees.
		if (!this.opts.events.includes(msg.event || 'message')) return;
		this.stats.received++;
		this.opts.onMessage(msg, { transport: t.name, latencyMs: Date.now() - msg.ts });
	}

	/*
	 * Did the store start over before msg?  The server sends a connection
	 * only ids above its since, in increasing order (docs/protocol.md
	 * "Cursors"): a lower one means the database was recreated.  For SSE the
	 * browser's own reconnects ask from the last id the stream gave
	 * (Last-Event-ID), so seen covers them too.  The same message again (a
	 * repeating proxy) is a duplicate; the same id with another message is a
	 * new database that reached it.
	 */
	startedOver(t, msg) {
		const prev = t.seen;
		if (prev) return msg.id < prev.id ||
			(msg.id === prev.id && (msg.ts !== prev.ts || msg.text !== prev.text));
		return t.since !== null && msg.id <= t.since;
	}

	/*
	 * The store was recreated: the last id is a number from the old database,
	 * so forget it and take the new ids from here.  Once: a connection begun
	 * before another one adopted this reset (a probe that opens just then)
	 * meets the same reset again, and then only has duplicates to drop.
	 */
	startOver(t, reason) {
		if (t.resets === this.stats.resets) {
			this.stats.resets++;
			this.lastId = null;
			this.opts.onReset({ transport: t.name, reason, stats: this.stats });
		}
		t.resets = this.stats.resets;
	}

	/* Any sign of life: a frame, an event, an answer. */
	activity(t, bytes) {
		t.lastActivity = Date.now();
		this.stats.bytes += bytes;
	}

	/* Called by a transport that failed to open, dropped or went silent. */
	fail(t, reason, retryAfterMs = 0) {
		if (!this.live(t) || this.closed) return;
		this.stop(t);
		if (t === this.candidate) {           // probe failed: stay, try later
			this.candidate = null;
			this.scheduleProbe(this.current);
			return;
		}
		this.stop(this.candidate);
		this.current = this.candidate = null;
		this.failures++;
		// A transport that worked is tried again; one that never opened is
		// skipped in favour of the next (wrapping round to the first).
		let next = t.index;
		if (t.opened) this.stats.reconnects++;
		else next = (t.index + 1) % this.opts.transports.length;
		const cap = Math.min(this.opts.backoffMaxMs,
		                     this.opts.backoffBaseMs * 2 ** this.failures);
		const delay = Math.max(retryAfterMs, Math.random() * cap);
		this.setState('reconnecting', reason,
			{ next: this.opts.transports[next], delayMs: Math.round(delay) });
		this.timer = setTimeout(() => this.open(next), delay);
	}

	/*
	 * Browsers hide WebSocket pings and SSE comments from JavaScript, so a
	 * quiet stream is checked against the store itself: is there a message
	 * newer than the last one we got?
	 */
	watchSilence(t) {
		let suspect = null;   // id the stream should have delivered by now
		const check = async () => {
			if (!this.live(t) || Date.now() - t.lastActivity < this.opts.silenceMs) return;
			if (suspect !== null) {
				if (this.lastId === null || this.lastId < suspect)
					return this.fail(t, `${t.name}: silent, and message ${suspect} never came`);
				suspect = null;
			}
			const url = this.url('/cgi-bin/poll.fcgi',
				{ channel: this.opts.channel, since: this.lastId, limit: 1 });
			try {
				this.stats.requests++;
				const res = await fetch(url, { cache: 'no-store' });
				const text = await res.text();
				this.stats.bytes += utf8Length(text);
				const newest = res.ok ? JSON.parse(text).messages.at(-1) : null;
				if (newest && (this.lastId === null || newest.id > this.lastId))
					suspect = newest.id;       // give the stream one more tick
				else
					t.lastActivity = Date.now();   // quiet but alive
			} catch (err) {
				this.fail(t, `${t.name}: silent, and the server cannot be reached`);
			}
		};
		t.watchTimer = setInterval(check, Math.max(1000, this.opts.silenceMs / 4));
	}

	/*
	 * While on a lower transport, try the better ones again now and then, in
	 * turn, best first: 0, 1, …, index-1, 0, …
	 */
	scheduleProbe(t) {
		if (!t || t.index === 0 || this.closed) return;
		clearTimeout(t.probeTimer);
		const delay = this.opts.probeMs * (0.75 + Math.random() / 2);
		t.probeTimer = setTimeout(() => {
			if (t === this.current && !this.candidate)
				this.candidate = this.begin(t.probes++ % t.index);
		}, delay);
	}
}

/* ---- the transports ------------------------------------------------------ */
/*
 * Each takes (client, t), starts its connection, reports through
 * client.opened / client.deliver / client.activity / client.fail, and returns
 * the function that stops it.
 */

function openWebSocket(client, t) {
	const ws = new WebSocket(client.url('/ws',
		{ channel: client.opts.channel, ...client.resumeParams() }));
	client.stats.requests++;
	ws.onopen = () => client.opened(t);
	ws.onmessage = (e) => {
		const n = utf8Length(e.data);                  // + the frame header, RFC 6455 §5.2
		client.activity(t, n + (n < 126 ? 2 : n < 65536 ? 4 : 10));
		const frame = JSON.parse(e.data);
		if (frame.type === 'message') client.deliver(t, frame.message);
		else if (frame.type === 'error') client.stats.lastError = frame.detail;
		// any other type (e.g. an app-level ping) only counts as activity
	};
	ws.onclose = (e) => client.fail(t, describeCloseCode(e.code, e.reason));
	return () => { ws.onclose = null; ws.close(); };
}

function openEventSource(client, t) {
	// `since` only matters for the first request: on its own reconnects the
	// browser sends Last-Event-ID, which the server prefers (WHATWG HTML
	// §9.2, "reestablish the connection").
	const es = new EventSource(client.url('/cgi-bin/sse.fcgi',
		{ channel: client.opts.channel, ...client.resumeParams() }));
	client.stats.requests++;
	es.onopen = () => client.opened(t);
	// One listener per event name: the `event:` line of each SSE event is
	// the message's event (WHATWG HTML §9.2, "dispatch the event").
	for (const name of client.opts.events) es.addEventListener(name, (e) => {
		// What arrived on the wire, roughly: "id: N\nevent: <name>\ndata: ...\n\n".
		client.activity(t, utf8Length(e.data) + e.lastEventId.length + name.length + 21);
		client.deliver(t, JSON.parse(e.data));
	});
	es.onerror = () => {
		if (!t.opened || es.readyState === EventSource.CLOSED)
			return client.fail(t, 'sse: the event stream could not be opened');
		// Open before, so the browser is reconnecting by itself (after the
		// server's "retry: 2000").  Count it, and give it a deadline.
		client.stats.reconnects++;
		client.stats.requests++;
		client.setState('reconnecting', 'sse: the stream ended; the browser reconnects');
		clearTimeout(t.connectTimer);
		t.connectTimer = setTimeout(() => client.fail(t, 'sse: the stream did not come back'),
			client.opts.connectTimeoutMs + 2000);
	};
	return () => es.close();
}

/*
 * Polling and long polling are the same loop: ask for everything after the
 * last id, show it, ask again.  Polling waits between requests; long polling
 * lets the server hold each request until something arrives.
 */
function openHttpLoop(client, t, held) {
	const endpoint = held ? '/cgi-bin/longpoll.fcgi' : '/cgi-bin/poll.fcgi';
	const abort = new AbortController();
	let etag = null;
	const loop = async () => {
		for (let first = true; ; first = false) {
			const params = { channel: client.opts.channel, ...client.resumeParams() };
			if (client.lastId === null) { delete params.history; params.limit = client.opts.history; }
			// The first long-poll answers at once (timeout=0): it is the handshake.
			if (held) params.timeout = first ? 0 : client.opts.longpollTimeoutS;
			// Each request is a connection of its own (startedOver).
			t.since = client.lastId;
			t.seen = null;
			const deadline = setTimeout(() => abort.abort(),
				held && !first ? (client.opts.longpollTimeoutS + 10) * 1000
				               : client.opts.connectTimeoutMs);
			client.stats.requests++;
			const headers = etag ? { 'If-None-Match': etag } : {};
			let res, text;
			try {
				res = await fetch(client.url(endpoint, params),
					{ headers, cache: 'no-store', signal: abort.signal });
				text = await res.text();
			} finally {
				clearTimeout(deadline);
			}
			client.activity(t, utf8Length(text));
			if (res.status !== 200 && res.status !== 304) {
				const detail = (() => { try { return JSON.parse(text).detail; } catch { return null; } })();
				const retryAfter = Number(res.headers.get('Retry-After')) || 0;
				return client.fail(t, `${t.name}: ${describeHttpStatus(res.status, detail)}`,
					retryAfter * 1000);
			}
			client.opened(t);
			if (t !== client.current) return;
			let more = false;
			if (res.status === 200) {
				etag = res.headers.get('ETag');
				const answer = JSON.parse(text);
				// reset: the store was recreated, its ids start again lower.
				if (answer.reset) client.startOver(t, `${t.name}: the server answered ` +
					`"reset": no id above ${params.since} in its store`);
				for (const msg of answer.messages) client.deliver(t, msg);
				if (client.lastId === null) client.lastId = answer.last_id;
				more = answer.messages.length >= 100;   // a full page: catch up at once
			}
			if (!held && !more) await new Promise((r) => setTimeout(r, client.opts.pollIntervalMs));
			if (abort.signal.aborted) return;
		}
	};
	// fail() ignores a transport that was already stopped.
	loop().catch((err) => client.fail(t, `${t.name}: ${err.name === 'AbortError'
		? 'no answer in time' : 'the server cannot be reached'}`));
	return () => abort.abort();
}

const TRANSPORTS = {
	ws: openWebSocket,
	sse: openEventSource,
	longpoll: (client, t) => openHttpLoop(client, t, true),
	poll: (client, t) => openHttpLoop(client, t, false),
};
