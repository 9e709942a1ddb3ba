/*
 * scenario.js — what the scenario pages (public_html/scenarios/) share:
 * the channel from the URL, publishing with a named event, an EventSource
 * and a WebSocket that resume from the last id after a drop, counters of
 * what each costs, and a small line chart.  The technique itself — which
 * events a page listens for, what it sends — stays in each page, where a
 * student reads it.
 *
 * Safety as in page.js: message fields reach the page only via textContent.
 */
import { describeCloseCode, sendMessage } from './rtclient.js';

/* Publishing: send.fcgi, with the optional event name (rtclient.js). */
export { sendMessage as publish };

/* ?name= from the URL if it matches pattern, else dflt. */
export function urlParam(name, dflt, pattern = /^[A-Za-z0-9_-]{1,64}$/) {
	const v = new URLSearchParams(location.search).get(name);
	return v !== null && pattern.test(v) ? v : dflt;
}

/* The channel from ?channel= (docs/protocol.md: [A-Za-z0-9_-]{1,64}), else dflt. */
export function scenarioChannel(dflt) {
	return urlParam('channel', dflt);
}

/*
 * An event stream on one channel that listens for the named events in
 * `handlers` ({ score(msg, event) {...}, goal(...) }).  The browser resumes
 * by itself with Last-Event-ID; if the server refuses the stream (an error
 * status, readyState CLOSED) a new one is opened from the last id.
 * params: extra query parameters (history, since).  Returns { close(),
 * stats } with stats.requests (stream opens, the browser's reconnects
 * included), stats.events, stats.bytes (data, roughly) and stats.state.
 */
export function openEvents({ channel, params = {}, handlers, onState = () => {} }) {
	const stats = { requests: 0, events: 0, bytes: 0, state: 'connecting' };
	let lastId = null, source = null, timer = null, closed = false;
	const setState = (s) => { stats.state = s; onState(s); };

	function open() {
		const query = new URLSearchParams({ channel, ...params });
		if (lastId !== null) { query.delete('history'); query.set('since', lastId); }
		source = new EventSource(`/cgi-bin/sse.fcgi?${query}`);
		stats.requests++;
		source.onopen = () => setState('open');
		for (const [name, handle] of Object.entries(handlers)) {
			source.addEventListener(name, (e) => {
				lastId = e.lastEventId;
				stats.events++;
				stats.bytes += e.data.length + e.lastEventId.length + name.length + 20;
				handle(JSON.parse(e.data), e);
			});
		}
		source.onerror = () => {
			if (source.readyState === EventSource.CONNECTING) {
				stats.requests++;          // the browser reconnects, Last-Event-ID
				setState('reconnecting');
			} else if (!closed) {
				setState('closed');
				timer = setTimeout(open, 5000);
			}
		};
	}
	open();
	return {
		stats,
		close() { closed = true; clearTimeout(timer); source.close(); setState('closed'); },
	};
}

/*
 * A WebSocket on one channel that resumes with since=<last id> after a drop
 * (backing off 1, 2, 4 … 30 s) and drops ids it already delivered.
 * onMessage(msg) for each {"type":"message"} frame; send(obj) sends one
 * {"type":"send",...} frame (false while not open).  stats: frames, bytes,
 * reconnects, state, lastClose.
 */
export function openSocket({ channel, params = {}, onMessage, onState = () => {} }) {
	const stats = { frames: 0, bytes: 0, reconnects: 0, state: 'connecting', lastClose: '' };
	let ws = null, lastId = null, retryMs = 1000, closed = false, timer = null;
	const setState = (s) => { stats.state = s; onState(s, stats); };

	function open() {
		const query = new URLSearchParams({ channel, ...params });
		if (lastId !== null) { query.delete('history'); query.set('since', lastId); }
		const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
		ws = new WebSocket(`${scheme}://${location.host}/ws?${query}`);
		ws.onopen = () => { retryMs = 1000; setState('open'); };
		ws.onmessage = (e) => {
			stats.frames++;
			stats.bytes += e.data.length + 2;
			const frame = JSON.parse(e.data);
			if (frame.type !== 'message') return;
			if (lastId !== null && frame.message.id <= lastId) return;
			lastId = frame.message.id;
			onMessage(frame.message);
		};
		ws.onclose = (e) => {
			if (closed) return;
			stats.lastClose = describeCloseCode(e.code, e.reason);
			stats.reconnects++;
			setState('reconnecting');
			timer = setTimeout(open, retryMs);
			retryMs = Math.min(retryMs * 2, 30000);
		};
	}
	open();
	return {
		stats,
		send(obj) {
			if (!ws || ws.readyState !== WebSocket.OPEN) return false;
			ws.send(JSON.stringify({ type: 'send', ...obj }));
			return true;
		},
		close() { closed = true; clearTimeout(timer); ws.close(); setState('closed'); },
	};
}

/* The text of a message as JSON, or null when it is not (a stray chat line). */
export function parseText(msg) {
	try {
		const v = JSON.parse(msg.text);
		return v && typeof v === 'object' ? v : null;
	} catch {
		return null;
	}
}

/* A message's event name: the JSON carries it only when it is not message. */
export function eventOf(msg) {
	return msg.event || 'message';
}

/* Sets the text of every [data-figure=name] under root. */
export function setFigure(root, name, value) {
	for (const e of root.querySelectorAll(`[data-figure="${name}"]`)) e.textContent = value;
}

/*
 * Lines on a canvas: series is [{ color, points: [[x, y], ...] }], x in ms
 * (the last windowMs are shown, newest at the right), y scaled to fit.
 */
export function drawLines(canvas, series, { windowMs = 60000, now = Date.now(), label = '' } = {}) {
	const ratio = window.devicePixelRatio || 1;
	const w = Math.round(canvas.clientWidth * ratio), h = Math.round(canvas.clientHeight * ratio);
	if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
	const g = canvas.getContext('2d');
	g.clearRect(0, 0, w, h);
	const ys = series.flatMap((s) => s.points.map((p) => p[1]));
	if (!ys.length) return;
	let lo = Math.min(...ys), hi = Math.max(...ys);
	if (hi - lo < 1) { lo -= 0.5; hi += 0.5; }
	const pad = 14 * ratio;
	const x = (t) => w - ((now - t) / windowMs) * w;
	const y = (v) => h - pad / 2 - ((v - lo) / (hi - lo)) * (h - pad * 1.5);
	g.lineWidth = 1.5 * ratio;
	for (const s of series) {
		g.strokeStyle = s.color;
		g.beginPath();
		s.points.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
		g.stroke();
	}
	g.fillStyle = '#52606d';
	g.font = `${11 * ratio}px system-ui, sans-serif`;
	g.fillText(`${label}${lo.toFixed(1)} – ${hi.toFixed(1)}`, 4 * ratio, 12 * ratio);
}

/* A short random id for this tab (not secret: it tells our frames apart). */
export function tabId() {
	return Math.random().toString(36).slice(2, 10);
}
