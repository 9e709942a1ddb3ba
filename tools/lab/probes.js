// probes.js — the lab's measuring clients: publishing, plain GETs and SSE
// streams with timestamps (Node's http/http2), an EventSource that
// reconnects, an idle keep-alive connection, an idle WebSocket, and a client
// that vanishes mid-stream.  They measure; the experiments judge.

import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import zlib from 'node:zlib';
import { busySsePids } from './stack.js';
import { now, sleep } from './common.js';

// POSTs one message (form-encoded) and returns its id.  An https:// base is
// a TLS=1 stack with a self-signed certificate, which the lab accepts.
export function publish(base, channel, text) {
	const body = new URLSearchParams({ channel, user: 'lab', text }).toString();
	const tls = base.startsWith('https:');
	return new Promise((resolve, reject) => {
		const req = (tls ? https : http).request(`${base}/cgi-bin/send.fcgi`, {
			method: 'POST', agent: false, rejectUnauthorized: !tls,
			headers: { 'Content-Type': 'application/x-www-form-urlencoded',
				'Content-Length': Buffer.byteLength(body) },
		}, (res) => {
			let data = '';
			res.setEncoding('utf8');
			res.on('data', (c) => { data += c; });
			res.on('end', () => {
				if (res.statusCode !== 201) return reject(new Error(`send: ${res.statusCode} ${data}`));
				try { resolve(JSON.parse(data).id); } catch (e) { reject(e); }
			});
		});
		req.on('error', reject);
		req.setTimeout(15000, () => req.destroy(new Error('send: timeout')));
		req.end(body);
	});
}

export async function seed(base, channel, n) {
	let id = 0;
	for (let i = 0; i < n; i++) id = await publish(base, channel, `seed ${i + 1} of ${n}`);
	return id;
}

// A plain GET that records status, time to headers and to the end, body.
export function timedGet(url, { headers = {}, maxMs = 15000, agent = false } = {}) {
	return new Promise((resolve) => {
		const t0 = now();
		const out = { status: 0, headersMs: null, endMs: null, body: '', bytes: 0, error: null, headers: {} };
		let done = false;
		const finish = (err) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			if (err) out.error = err;
			out.endMs = now() - t0;
			req.destroy();
			resolve(out);
		};
		const req = http.get(url, { headers, agent }, (res) => {
			out.status = res.statusCode;
			out.headers = res.headers;
			out.headersMs = now() - t0;
			res.on('data', (c) => { out.bytes += c.length; out.body += c.toString('utf8'); });
			res.on('end', () => finish(null));
			res.on('error', (e) => finish(e.code || e.message));
			res.on('aborted', () => finish('aborted'));
		});
		req.on('error', (e) => finish(e.code || e.message));
		const timer = setTimeout(() => finish('client timeout'), maxMs);
	});
}

// An SSE reader that timestamps what arrives: headers, the first body byte,
// the first event (a `data:` line), every event id, heartbeats, and how the
// stream ended ('ended' cleanly, 'reset', or 'client timeout' when we gave up
// at maxMs).  With gzip, the body is inflated as it comes (mod_deflate
// flushes with Z_SYNC_FLUSH, so inflated text can arrive before the end).
export function sseProbe(url, { headers = {}, maxMs = 8000, gzip = false, agent = false,
	http2session = null, onEvent = null, signal = null } = {}) {
	return new Promise((resolve) => {
		const t0 = now();
		const out = { status: 0, headersMs: null, firstByteMs: null, firstEventMs: null,
			endMs: null, end: null, events: [], heartbeats: 0, retry: null,
			encoding: null, bytes: 0, contentType: null };
		let buf = '';
		let done = false;
		let req = null;
		const finish = (how) => {
			if (done) return;
			done = true;
			clearTimeout(timer);
			out.end = how;
			out.endMs = now() - t0;
			try { if (req) (req.close ? req.close() : req.destroy()); } catch { /* gone */ }
			resolve(out);
		};
		const onText = (text) => {
			buf += text;
			let nl;
			while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
				const line = buf.slice(0, nl);
				buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
				const t = now() - t0;
				if (line.startsWith('data:')) {
					if (out.firstEventMs == null) out.firstEventMs = t;
					let id = null;
					try { id = JSON.parse(line.slice(5).trim()).id; } catch { /* not ours */ }
					out.events.push({ id, ms: t });
					if (onEvent) onEvent(id, t);
				} else if (line.startsWith(': heartbeat')) {
					out.heartbeats++;
				} else if (line.startsWith('retry:')) {
					out.retry = Number(line.slice(6).trim());
				}
			}
		};
		const onBody = (stream, raw) => {
			raw.on('data', (c) => {
				out.bytes += c.length;
				if (out.firstByteMs == null) out.firstByteMs = now() - t0;
			});
			stream.on('data', (c) => onText(c.toString('utf8')));
			stream.on('end', () => finish('ended'));
			stream.on('error', () => finish('reset'));
			raw.on('aborted', () => finish('reset'));
			raw.on('error', () => finish('reset'));
		};
		const onHeaders = (status, h) => {
			out.status = status;
			out.headersMs = now() - t0;
			out.encoding = h['content-encoding'] || null;
			out.contentType = h['content-type'] || null;
		};
		if (http2session) {
			const u = new URL(url);
			req = http2session.request({ ':path': u.pathname + u.search, ...headers });
			req.on('response', (h) => onHeaders(h[':status'], h));
			onBody(req, req);
			req.on('close', () => finish('ended'));
		} else {
			req = http.get(url, { headers, agent }, (res) => {
				onHeaders(res.statusCode, res.headers);
				const inflate = gzip && out.encoding === 'gzip'
					? res.pipe(zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH }))
					: res;
				onBody(inflate, res);
			});
			req.on('error', () => finish('reset'));
		}
		const timer = setTimeout(() => finish('client timeout'), maxMs);
		if (signal) signal.addEventListener('abort', () => finish('closed by us'));
	});
}

// Reads one stream and classifies it.  'streamed': the first event came
// while the stream was still open (well before it ended or was given up);
// 'buffered': nothing came until the stream ended, then everything at once.
export function classifyStream(p) {
	if (p.firstEventMs == null) return p.status && p.status !== 200 ? `HTTP ${p.status}` : 'nothing';
	if (p.end === 'client timeout' || p.endMs - p.firstEventMs > 1000) return 'streamed';
	return 'buffered';
}

export const sseUrl = (s, channel, extra = '') =>
	`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=5${extra}`;

// What a browser's EventSource does: read the stream; when it ends, wait the
// `retry:` delay and reconnect with Last-Event-ID.  Meanwhile publish a
// message every everyMs.  Returns the counts.
export async function followWithReconnect(s, ch, windowMs, everyMs) {
	const published = [];
	const seen = new Map();
	let lastId = await seed(s.base, ch, 1);
	const t0 = now();
	let publishing = true;
	const pub = (async () => {
		while (publishing) {
			published.push(await publish(s.base, ch, `live ${published.length + 1}`));
			await sleep(everyMs);
		}
	})();
	let connections = 0;
	while (now() - t0 < windowMs) {
		connections++;
		const p = await sseProbe(`${s.base}/cgi-bin/sse.fcgi?channel=${ch}`, {
			headers: { 'Last-Event-ID': String(lastId) }, maxMs: windowMs - (now() - t0) + 500,
			onEvent: (id) => {
				if (id == null) return;
				seen.set(id, (seen.get(id) || 0) + 1);
				lastId = Math.max(lastId, id);
			} });
		if (p.end === 'client timeout') break;
		await sleep(p.retry ?? 2000);
	}
	publishing = false;
	await pub;
	// Whatever was published up to the end must come on one more resume.
	await sseProbe(`${s.base}/cgi-bin/sse.fcgi?channel=${ch}`, {
		headers: { 'Last-Event-ID': String(lastId) }, maxMs: 1500,
		onEvent: (id) => { if (id != null) seen.set(id, (seen.get(id) || 0) + 1); } });
	const lost = published.filter((id) => !seen.has(id)).length;
	const dups = [...seen.values()].filter((n) => n > 1).length;
	return { published: published.length, received: seen.size, lost, dups, connections };
}

// A browser-like idle keep-alive connection: one request answered, then the
// socket stays open doing nothing.
export function keepAliveIdle(base) {
	const u = new URL(base);
	return new Promise((resolve) => {
		const sock = net.connect(Number(u.port), u.hostname, () => {
			sock.write(`GET / HTTP/1.1\r\nHost: ${u.host}\r\nConnection: keep-alive\r\n\r\n`);
		});
		let got = '';
		const t = setTimeout(() => resolve(sock), 3000);
		sock.on('data', (c) => {
			got += c.toString('latin1');
			if (/\r\n\r\n/.test(got)) { clearTimeout(t); resolve(sock); }
		});
		sock.on('error', () => { clearTimeout(t); resolve(sock); });
	});
}

// Opens a WebSocket and stays silent (the ws client answers pings with
// pongs, as browsers do); reports when and how it was closed.
export function idleWebSocket(WebSocket, url, holdMs) {
	return new Promise((resolve) => {
		const t0 = now();
		let pings = 0;
		let opened = false;
		let failed = null;
		const ws = new WebSocket(url);
		const t = setTimeout(() => { ws.terminate(); resolve({ closedMs: null, heldMs: now() - t0, pings }); }, holdMs);
		ws.on('open', () => { opened = true; });
		ws.on('ping', () => { pings++; });
		ws.on('unexpected-response', (req, res) => { failed = `HTTP ${res.statusCode}`; ws.terminate(); });
		ws.on('error', (e) => { if (!opened) failed = failed || e.message; });
		ws.on('close', (code) => {
			clearTimeout(t);
			resolve(opened ? { closedMs: now() - t0, code, pings } : { failed: failed || 'closed', pings });
		});
	});
}

// Opens a stream, finds the sse.fcgi process serving it, closes the client's
// socket and returns how long (ms) until that process is back in accept();
// null if it is still busy after 6 s, undefined if it could not be found.
export async function vanishedClient(s) {
	const ch = `lab${Date.now() % 100000}`;
	await seed(s.base, ch, 1);
	const before = new Set(busySsePids(s));
	const req = http.get(sseUrl(s, ch), { agent: false });
	req.on('error', () => {});
	await new Promise((r) => { req.on('response', (res) => { res.once('data', r); }); setTimeout(r, 5000); });
	await sleep(500);
	const mine = busySsePids(s).filter((p) => !before.has(p));
	if (mine.length === 0) { req.destroy(); return undefined; }
	const t0 = now();
	req.destroy();     // the client vanishes (its socket is closed)
	while (now() - t0 < 6000) {
		const busy = new Set(busySsePids(s));
		if (mine.every((p) => !busy.has(p))) return now() - t0;
		await sleep(100);
	}
	return null;
}
