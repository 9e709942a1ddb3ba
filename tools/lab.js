// lab.js — the config lab: start a private Apache or lighttpd with one
// configuration variant at a time, measure what a client observes, and write
// the results table.
//
//   make lab                       every experiment, table to docs/lab-results.md
//   tools/lab.sh 1 3 5             only these experiments (table printed, and
//                                  written with the subset marked as such)
//   tools/lab.sh --list            the experiments and their variant files
//
// Each variant is a small commented file in apache-conf/lab/ that
// tools/serve.sh appends to the generated server config (EXTRA_CONF); the
// runtime knobs of the endpoints (RT_SSE_MAX_AGE, RT_SSE_HEARTBEAT,
// RT_WS_PING ...) are passed as environment.  docs/config-lab.md explains
// every experiment; this file only measures.
//
// Every figure is measured at run time with real clients (Node's http/http2/
// net, the `ws` client, wrk); nothing in the table is written by hand.  The
// verdicts are derived from the figures (classifyStream and each experiment's
// own test), with generous bounds: the machine is small and shared.
//
// The experiment functions are exported so tests/integration/lab.test.js can
// run a fast subset and assert the qualitative outcome.

import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import net from 'node:net';
import zlib from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { startStack } from '../tests/lib/servers.js';
import { sevenStreams, sevenTabs } from './lab/browser.js';
import { CLUSTER_EXPERIMENTS } from './lab/cluster.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LAB_DIR = path.join(ROOT, 'apache-conf', 'lab');

export const variant = (name) => path.join(LAB_DIR, name);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sec = (ms) => (ms == null ? '—' : `${(ms / 1000).toFixed(2)} s`);
const now = () => performance.now();

// ---- stacks -------------------------------------------------------------

// Under MODE=proxy-fcgi, serve.sh starts a spawn-fcgi pool per endpoint (40
// processes for the held ones); a lab client needs a few, and a small pool
// starts and stops in a fraction of the time (experiment 10 keeps the full one).
const SMALL_POOLS = { RTLAB_HELD_PROCS: '4', RTLAB_PROCS: '2' };

// Starts a stack, runs fn(stack), always stops it (by pid, in the harness,
// which also removes the run directory unless RTLAB_KEEP_RUNS=1).
export async function withStack(opts, fn) {
	const env = opts.mode === 'proxy-fcgi' && !opts.fullPools ? { ...SMALL_POOLS, ...(opts.env || {}) } : opts.env;
	const s = await startStack({ ws: false, ...opts, env });
	try {
		return await fn(s);
	} finally {
		await s.stop().catch(async (err) => {
			// Never leave a server behind: one more try, by the run dir's pids.
			await sleep(1000);
			try {
				execFileSync(path.join(ROOT, 'tools', 'serve.sh'), ['stop', s.runDir], { stdio: 'ignore' });
			} catch {
				throw err;
			}
		});
	}
}

// Every line of the stack's logs that matches re (the error log is where
// mod_fcgid, mod_proxy and lighttpd say why they cut a request).
export function logLines(s, re) {
	const dir = path.join(s.runDir, 'logs');
	let out = [];
	let names = [];
	try { names = fs.readdirSync(dir); } catch { return out; }
	for (const n of names) {
		let text = '';
		try { text = fs.readFileSync(path.join(dir, n), 'utf8'); } catch { continue; }
		out = out.concat(text.split('\n').filter((l) => re.test(l)));
	}
	return out;
}

// The part of a log line worth showing in a table: from the module's tag on.
function logGist(line) {
	if (!line) return 'none';
	const m = line.match(/(AH\d+:.*|mod_\w+:.*|\(gw_backend[^)]*\).*|\(mod_\w+[^)]*\).*)$/);
	return (m ? m[1] : line).replace(/\/tmp\/rtlab-[^/ ]+/g, '$RUN_DIR').replace(/\s+/g, ' ').slice(0, 110);
}

// ---- clients ------------------------------------------------------------

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

const sseUrl = (s, channel, extra = '') =>
	`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=5${extra}`;

// Environment for stream experiments: a known, finite stream length, so a
// buffered stream shows up as "everything at the end".
const STREAM_ENV = { RT_SSE_MAX_AGE: '4', RT_SSE_HEARTBEAT: '30' };

// One streaming measurement: seed three messages (the stream's history),
// open the stream, publish one live message a second later, classify.
// p.liveMs is how long the live message took from its publish to the reader.
// probeOpts.http2: read the stream over HTTP/2 (h2 by ALPN on a TLS=1 stack).
async function measureStream(opts, label, probeOpts = {}) {
	return withStack({ ...opts, env: { ...STREAM_ENV, ...(opts.env || {}) } }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		await seed(s.base, ch, 3);
		const arrivals = new Map();
		const session = probeOpts.http2 ? http2.connect(s.base, { rejectUnauthorized: false }) : null;
		session?.on('error', () => {});
		const probe = sseProbe(sseUrl(s, ch), { maxMs: 9000, ...probeOpts, http2session: session,
			onEvent: (id) => arrivals.set(id, now()) });
		await sleep(1000);
		const sent = now();
		const liveId = await publish(s.base, ch, 'live');
		const p = await probe;
		session?.close();
		p.liveMs = arrivals.has(liveId) ? arrivals.get(liveId) - sent : null;
		return { label, p, kind: classifyStream(p) };
	});
}

// "first event 0.03 s, live +0.01 s, end 4.04 s"
const streamFigure = (p) =>
	`first ${sec(p.firstEventMs)}, live +${sec(p.liveMs)}, end ${sec(p.endMs)}`;
const STREAM_MEASURED = 'first event; live event after publish; stream end (max-age 4 s)';

// ---- the experiments ----------------------------------------------------
//
// Each returns rows { exp, variant, measured, figure, verdict, outcome }:
// `outcome` is the machine-readable verdict the test asserts on.

const row = (exp, variant, measured, figure, verdict, outcome) =>
	({ exp, variant, measured, figure, verdict, outcome });

// The variants of one experiment are independent servers on their own
// ports and databases, and their outcomes differ by seconds (buffered until
// the end vs at once; cut at 3 s vs answered at 6 s): they run side by side.
const sideBySide = (items, fn) => Promise.all(items.map(fn));

// 1. mod_fcgid: FcgidOutputBufferSize default (64 KiB) vs 0.
export async function exp1() {
	return sideBySide([['01-fcgid-buffer-default.conf', 'FcgidOutputBufferSize 65536 (default)'],
		['01-fcgid-buffer-0.conf', 'FcgidOutputBufferSize 0']], async ([file, label]) => {
		const r = await measureStream({ server: 'apache', mode: 'fcgid', extraConf: variant(file) }, label);
		return row(1, label, STREAM_MEASURED, streamFigure(r.p),
			r.kind === 'streamed' ? 'streamed: each event reaches the client at once'
				: `${r.kind}: events held back until the stream ended`, r.kind);
	});
}

// 2. mod_proxy_fcgi: flushpackets off / on / auto.
export async function exp2() {
	return sideBySide(['off', 'on', 'auto'], async (mode) => {
		const label = `flushpackets=${mode}`;
		const r = await measureStream({ server: 'apache', mode: 'proxy-fcgi',
			extraConf: variant(`02-proxy-fcgi-flushpackets-${mode}.conf`) }, label);
		return row(2, label, STREAM_MEASURED, streamFigure(r.p),
			r.kind === 'streamed' ? 'streamed' : `${r.kind}: small events wait in the core output filter`, r.kind);
	});
}

// 3. lighttpd: server.stream-response-body 0 / 1 / 2.
export async function exp3() {
	return sideBySide([0, 1, 2], async (n) => {
		const label = `server.stream-response-body = ${n}`;
		const r = await measureStream({ server: 'lighttpd',
			extraConf: variant(`03-lighttpd-stream-response-body-${n}.conf`) }, label);
		return row(3, label, STREAM_MEASURED, streamFigure(r.p),
			r.kind === 'streamed' ? 'streamed' : `${r.kind}: the whole response is collected first`, r.kind);
	});
}

// 4. mod_deflate on text/event-stream, with and without the no-gzip exclusion.
export async function exp4() {
	return sideBySide([['04-deflate-sse.conf', 'DEFLATE on text/event-stream'],
		['04-deflate-sse-no-gzip.conf', 'DEFLATE + no-gzip for sse.fcgi']], async ([file, label]) => {
		const r = await measureStream({ server: 'apache', mode: 'fcgid', extraConf: variant(file) }, label,
			{ headers: { 'Accept-Encoding': 'gzip' }, gzip: true });
		return row(4, label, `Content-Encoding; ${STREAM_MEASURED}`,
			`${r.p.encoding || 'identity'}; ${streamFigure(r.p)}`,
			`${r.kind}${r.p.encoding ? ', compressed' : ', uncompressed'}`,
			`${r.kind}:${r.p.encoding || 'identity'}`);
	});
}

// A long-poll held 6 s in silence, against a server timeout of the variant:
// the status the client gets, after how long, and the log line that says why.
async function measureHold(exp, stackOpts, file, label, logRe) {
	return withStack({ ...stackOpts, extraConf: variant(file) }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		const last = await seed(s.base, ch, 1);
		const r = await timedGet(`${s.base}/cgi-bin/longpoll.fcgi?channel=${ch}&since=${last}&timeout=6`,
			{ maxMs: 20000 });
		await sleep(300);
		const log = logLines(s, logRe).pop();
		const verdict = r.status === 200 ? 'the hold completes: 200, empty list, current last_id'
			: r.status === 504 ? 'gateway timeout: Apache stops waiting for the backend'
				: 'cut by the server before the long-poll answered';
		return row(exp, label, 'status after; error log',
			`${r.status || r.error} after ${sec(r.endMs)}; ${logGist(log)}`, verdict, r.status || r.error);
	});
}

// 5. A long-poll held longer than FcgidIOTimeout.
export async function exp5() {
	const fcgid = { server: 'apache', mode: 'fcgid' };
	return Promise.all([
		measureHold(5, fcgid, '05-fcgid-iotimeout-short.conf', 'FcgidIOTimeout 3 < hold 6 s', /mod_fcgid:.*timeout/i),
		measureHold(5, fcgid, '05-fcgid-iotimeout-long.conf', 'FcgidIOTimeout 15 > hold 6 s', /mod_fcgid:.*timeout/i),
	]);
}

// 6. An endless SSE stream vs FcgidBusyTimeout; RT_SSE_MAX_AGE + reconnect.
export async function exp6() {
	const conf = variant('06-fcgid-busytimeout.conf');
	const cut = withStack({ server: 'apache', mode: 'fcgid', extraConf: conf,
		env: { RT_SSE_MAX_AGE: '3600', RT_SSE_HEARTBEAT: '1' } }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		await seed(s.base, ch, 1);
		const p = await sseProbe(sseUrl(s, ch), { maxMs: 25000 });
		await sleep(300);
		const log = logLines(s, /server closed connection|busy timeout|kill/i).pop();
		return row(6, 'FcgidBusyTimeout 4, RT_SSE_MAX_AGE 3600', 'stream cut after; how; error log',
			`${sec(p.endMs)}; ${p.end}; ${logGist(log)}`,
			p.end === 'client timeout' ? 'not cut within 25 s' : 'the process is killed mid-stream',
			p.end === 'client timeout' ? 'open' : 'cut');
	});
	const resumed = withStack({ server: 'apache', mode: 'fcgid', extraConf: conf,
		env: { RT_SSE_MAX_AGE: '2', RT_SSE_HEARTBEAT: '1' } }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		const f = await followWithReconnect(s, ch, 10000, 400);
		return row(6, 'FcgidBusyTimeout 4, RT_SSE_MAX_AGE 2 + reconnect',
			'published / received / lost / duplicated / reconnects',
			`${f.published} / ${f.received} / ${f.lost} / ${f.dups} / ${f.connections - 1}`,
			f.lost === 0 && f.dups === 0 ? 'every message exactly once across clean reconnects'
				: 'messages lost or duplicated', f.lost === 0 && f.dups === 0 ? 'no loss' : 'loss');
	});
	return Promise.all([cut, resumed]);
}

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

// 7. FcgidMaxProcessesPerClass 2 with three held SSE streams.
export async function exp7() {
	const conf = variant('07-fcgid-max-processes-2.conf');
	return sideBySide([['3600', 'endless streams (RT_SSE_MAX_AGE 3600)', 100000],
		['6', 'streams end after RT_SSE_MAX_AGE 6', 20000]], ([maxAge, label, wait]) =>
		withStack({ server: 'apache', mode: 'fcgid', extraConf: conf,
			env: { RT_SSE_MAX_AGE: maxAge, RT_SSE_HEARTBEAT: '2' } }, async (s) => {
			const ch = `lab${Date.now() % 100000}`;
			await seed(s.base, ch, 1);
			const held = [];
			const hang = new AbortController();
			for (let i = 0; i < 2; i++) {
				const opened = deferred();
				held.push(sseProbe(sseUrl(s, ch), { maxMs: wait + 5000, signal: hang.signal,
					onEvent: () => opened.resolve() }));
				await Promise.race([opened.promise, sleep(8000)]);
			}
			const third = await sseProbe(sseUrl(s, ch), { maxMs: wait });
			const log = logLines(s, /apply process slot|can't|busy/i).pop();
			const got = third.firstEventMs != null ? `stream after ${sec(third.firstEventMs)}`
				: `${third.status ? `HTTP ${third.status}` : third.end} after ${sec(third.headersMs ?? third.endMs)}`;
			hang.abort();
			await Promise.all(held);
			return row(7, `FcgidMaxProcessesPerClass 2, ${label}`, 'the third client gets; error log',
				`${got}; ${logGist(log)}`,
				third.firstEventMs != null ? 'waits in mod_fcgid until a process is free'
					: 'refused after mod_fcgid gives up waiting for a process slot',
				third.firstEventMs != null ? 'queued' : `refused:${third.status}`);
		}));
}

function deferred() {
	let resolve;
	const promise = new Promise((r) => { resolve = r; });
	return { promise, resolve };
}

// 8. mod_proxy_fcgi timeout= shorter than the long-poll hold.
export async function exp8() {
	const proxy = { server: 'apache', mode: 'proxy-fcgi' };
	const re = /AH01075|AH01068|AH00898|proxy_fcgi:.*(timeout|timed out)/i;
	return Promise.all([
		measureHold(8, proxy, '08-proxy-fcgi-timeout-short.conf', 'timeout=3 < hold 6 s', re),
		measureHold(8, proxy, '08-proxy-fcgi-timeout-long.conf', 'timeout=15 > hold 6 s', re),
	]);
}

// 9. MPM event vs prefork, MaxRequestWorkers 4: held streams, idle
//    keep-alive connections, and an ordinary static request beside them.
export async function exp9() {
	const rows = [];
	for (const mpm of ['event', 'prefork']) {
		for (const [streams, idle] of [[2, 2], [4, 0]]) {
			rows.push(await withStack({ server: 'apache', mode: 'fcgid', mpm, extraConf: variant('09-mpm-small.conf'),
				env: { RT_SSE_MAX_AGE: '6', RT_SSE_HEARTBEAT: '2' } }, async (s) => {
				const ch = `lab${Date.now() % 100000}`;
				await seed(s.base, ch, 1);
				const held = [];
				for (let i = 0; i < streams; i++) {
					const opened = deferred();
					held.push(sseProbe(sseUrl(s, ch), { maxMs: 12000, onEvent: () => opened.resolve() }));
					await Promise.race([opened.promise, sleep(5000)]);
				}
				const sockets = [];
				for (let i = 0; i < idle; i++) sockets.push(await keepAliveIdle(s.base));
				const r = await timedGet(`${s.base}/`, { maxMs: 15000 });
				for (const k of sockets) k.destroy();
				await Promise.all(held);
				return row(9, `${mpm}, MaxRequestWorkers 4: ${streams} SSE + ${idle} idle keep-alive`,
					'static GET / answered after', `${sec(r.headersMs)} (HTTP ${r.status || r.error})`,
					r.headersMs != null && r.headersMs < 1000 ? 'served at once'
						: 'waited for a free worker', r.headersMs != null && r.headersMs < 1000 ? 'fast' : 'waited');
			}));
		}
	}
	return rows;
}

// A browser-like idle keep-alive connection: one request answered, then the
// socket stays open doing nothing.
function keepAliveIdle(base) {
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

// 10. Requests/s of the same poll endpoint under mod_cgi, mod_fcgid, mod_proxy_fcgi.
export async function exp10() {
	const rows = [];
	for (const mode of ['cgi', 'fcgid', 'proxy-fcgi']) {
		rows.push(await withStack({ server: 'apache', mode, fullPools: true }, async (s) => {
			const ch = `lab${Date.now() % 100000}`;
			await seed(s.base, ch, 10);
			const url = `${s.base}/cgi-bin/poll.fcgi?channel=${ch}&limit=10`;
			await timedGet(url); // warm up: spawn the first process
			const out = execFileSync('wrk', ['-t1', '-c4', '-d4s', '--latency', url],
				{ encoding: 'utf8', timeout: 30000 });
			const rps = Number((out.match(/Requests\/sec:\s+([\d.]+)/) || [])[1] || 0);
			const p50 = (out.match(/^\s+50%\s+(\S+)/m) || [])[1] || '—';
			const non2xx = Number((out.match(/Non-2xx or 3xx responses:\s+(\d+)/) || [])[1] || 0);
			return row(10, `MODE=${mode}`, 'poll requests/s (wrk -c4 4 s); p50; non-2xx',
				`${rps.toFixed(0)} req/s; ${p50}; ${non2xx}`,
				mode === 'cgi' ? 'a new process per request (fork+exec+open the db)'
					: 'a persistent process serves request after request', rps);
		}));
	}
	const cgi = rows[0].outcome;
	for (const r of rows.slice(1)) r.verdict += cgi > 0 ? ` — ${(r.outcome / cgi).toFixed(1)}× mod_cgi` : '';
	return rows;
}

// 11. An idle WebSocket through the proxy with Timeout 3: mod_proxy_wstunnel
//     (which does not apply it to the tunnel) and mod_proxy_http
//     upgrade=websocket; the helper's pings off (one an hour) or every second.
export async function exp11() {
	const { default: WebSocket } = await import(pathToFileURL(path.join(ROOT, 'tests/node_modules/ws/wrapper.mjs')).href);
	const OFF = ['3600', 'helper pings off'];
	const ON = ['1', 'helper pings every 1 s'];
	const runs = [
		['11-ws-wstunnel-timeout.conf', '/lab/wstunnel', 'mod_proxy_wstunnel, Timeout 3', OFF],
		['11-ws-proxy-http-upgrade-timeout.conf', '/lab/upgrade', 'mod_proxy_http upgrade=websocket, Timeout 3', OFF],
		['11-ws-proxy-http-upgrade-timeout.conf', '/lab/upgrade', 'mod_proxy_http upgrade=websocket, Timeout 3', ON]];
	return sideBySide(runs, ([file, urlPath, label, [ping, pingLabel]]) =>
		withStack({ server: 'apache', mode: 'fcgid', ws: true, extraConf: variant(file),
			env: { RT_WS_PING: ping } }, async (s) => {
			const url = `${s.base.replace(/^http/, 'ws')}${urlPath}?channel=lab&history=0`;
			let r = await idleWebSocket(WebSocket, url, 7000);
			if (r.failed) r = await idleWebSocket(WebSocket, url, 7000); // one retry on a loaded machine
			const outcome = r.failed ? 'no handshake' : r.closedMs == null ? 'open' : 'cut';
			const figure = r.failed ? `handshake failed: ${r.failed}`
				: r.closedMs == null ? `still open at ${sec(r.heldMs)} (${r.pings} pings seen)`
					: `${sec(r.closedMs)}, close code ${r.code} (${r.pings} pings seen)`;
			const verdict = outcome === 'cut' ? 'cut by the proxy: 3 s without a byte either way'
				: outcome === 'no handshake' ? 'did not run'
					: r.pings > 0 ? 'kept open: every ping is traffic through the tunnel'
						: 'never cut: this tunnel has no idle limit';
			return row(11, `${label}, ${pingLabel}`, 'idle tunnel closed after', figure, verdict, outcome);
		}));
}

// Opens a WebSocket and stays silent (the ws client answers pings with
// pongs, as browsers do); reports when and how it was closed.
function idleWebSocket(WebSocket, url, holdMs) {
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

// 12. A vanished SSE client: how long its server process stays busy.
export async function exp12() {
	const rows = [];
	const stacks = [['apache', 'fcgid', 'Apache mod_fcgid'], ['apache', 'proxy-fcgi', 'Apache mod_proxy_fcgi'],
		['lighttpd', undefined, 'lighttpd']];
	for (const [server, mode, label] of stacks) {
		// With and without heartbeats side by side (two servers at once).
		rows.push(...await sideBySide([['1', 'heartbeat 1 s'], ['30', 'heartbeat 30 s']], ([hb, hbLabel]) =>
			withStack({ server, mode, env: { RT_SSE_HEARTBEAT: hb, RT_SSE_MAX_AGE: '3600' } }, async (s) => {
				const freedMs = await vanishedClient(s);
				return row(12, `${label}, ${hbLabel}`, 'server process busy after the client left',
					freedMs === undefined ? 'serving process not found' : freedMs == null ? '> 6 s (still busy)' : sec(freedMs),
					freedMs === undefined ? 'could not observe' : freedMs == null
						? 'nothing is written, so nobody notices the client is gone'
						: 'the next write fails and the loop ends',
					freedMs === undefined ? 'unobserved' : freedMs == null ? 'busy' : 'freed');
			})));
	}
	return rows;
}

// Opens a stream, finds the sse.fcgi process serving it, closes the client's
// socket and returns how long (ms) until that process is back in accept();
// null if it is still busy after 6 s, undefined if it could not be found.
async function vanishedClient(s) {
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

// The sse.fcgi processes of this stack that are in a request: a FastCGI
// process between requests blocks in accept(2) (libfcgi's FCGX_Accept), so
// any other system call in /proc/PID/syscall means it is serving someone.
const SYS_ACCEPT = new Set(process.arch === 'arm64'
	? ['202', '242']   // aarch64 accept, accept4
	: ['43', '288']);  // x86_64 accept, accept4
export function busySsePids(s) {
	const out = [];
	for (const pid of s.serverPids()) {
		let cmd = '';
		let sys = '';
		try {
			cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
			sys = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0].trim();
		} catch { continue; }
		if (!cmd.includes('sse.fcgi')) continue;
		if (!SYS_ACCEPT.has(sys)) out.push(pid);
	}
	return out;
}

// 13. HTTP/2 (h2c): many SSE streams over one connection vs a browser's six
//     HTTP/1.1 connections per host.  mod_http2 starts every connection
//     with a limit of 6 streams being worked on at once and doubles it each
//     time a stream completes well (h2_mplx.c, limit_active): held streams
//     never complete, so a cold connection is capped at 6 too; a page that
//     first loaded a few ordinary resources over it is not.
export async function exp13() {
	return withStack({ server: 'apache', mode: 'fcgid', mpm: 'event', extraConf: variant('13-http2-h2c.conf'),
		env: { RT_SSE_MAX_AGE: '5', RT_SSE_HEARTBEAT: '30' } }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		await seed(s.base, ch, 1);
		const N = 8;
		const live = (ps) => ps.filter((p) => p.firstEventMs != null && p.firstEventMs < 3000).length;
		const slowest = (ps) => Math.max(...ps.map((p) => p.firstEventMs ?? Infinity));
		const streams = (opts) => Promise.all(Array.from({ length: N }, () =>
			sseProbe(sseUrl(s, ch), { maxMs: 7000, ...opts })));
		const result = (label, ps, good, bad) => row(13, label, 'streams live within 3 s; slowest first event',
			`${live(ps)}/${N}; ${sec(slowest(ps))}`, live(ps) === N ? good : bad, `${live(ps)}/${N}`);
		const rows = [];

		// HTTP/1.1 with six connections per host, as browsers do.
		const agent = new http.Agent({ keepAlive: true, maxSockets: 6 });
		rows.push(result(`HTTP/1.1, 6 connections per host, ${N} streams`, await streams({ agent }),
			'all live', 'the 7th and 8th wait for a connection to free up'));
		agent.destroy();

		// HTTP/2 cleartext with prior knowledge: one connection, N streams.
		for (const warm of [0, 4]) {
			const session = http2.connect(s.base);
			session.on('error', () => {});
			for (let i = 0; i < warm; i++) {
				await sseProbe(`${s.base}/`, { http2session: session, maxMs: 3000 });
				await sleep(150);
			}
			const label = warm ? `HTTP/2 h2c, 1 connection after ${warm} quick requests, ${N} streams`
				: `HTTP/2 h2c, 1 fresh connection, ${N} streams`;
			rows.push(result(label, await streams({ http2session: session }),
				'all multiplexed on one connection',
				'mod_http2 works on 6 streams per fresh connection until some complete'));
			session.close();
		}
		return rows;
	});
}

// 15. The same question in Chromium over TLS (TLS=1): one page with 7
//     EventSources and then a fetch, and 7 tabs of the lab page, over
//     HTTP/1.1 (Chromium --disable-http2) and over HTTP/2, on Apache and
//     lighttpd.  Connections are counted by the server (access log client
//     ports; ss for the tabs).  tools/lab/browser.js does the measuring.
export async function exp15() {
	const rows = [];
	const s1 = (ms) => (ms == null || !Number.isFinite(ms) ? 'never' : sec(ms));
	for (const [server, label] of [['apache', 'Apache mod_fcgid'], ['lighttpd', 'lighttpd']]) {
		rows.push(...await withStack({ server, mode: server === 'apache' ? 'fcgid' : undefined, tls: true, ws: true,
			env: { RT_SSE_MAX_AGE: '5', RT_SSE_HEARTBEAT: '30' } }, async (s) => {
			const out = [];
			const runs = [[false, 0, 'HTTP/1.1'], [true, 0, 'HTTP/2, streams first on a fresh connection'],
				[true, 3, 'HTTP/2, after 3 quick requests']];
			for (const [http2, warm, what] of runs) {
				const ch = `lab15${http2 ? 'h2' : 'h1'}w${warm}${Date.now() % 100000}`;
				await publish(s.base, ch, 'seed');
				const r = await sevenStreams(s, { http2, warm, channel: ch, waitMs: 15000 });
				const stalled = !r.fetchBeforeFirstEnd;
				out.push(row(15, `${label}, ${what}: 7 EventSources, then a fetch`,
					'streams open before one ended; 7th opened; fetch asked → answered; connections (server log)',
					`${r.openedBeforeFirstEnd}/7; ${s1(r.lastOpened)}; ${s1(r.fetchStarted)} → ${s1(r.fetch?.answered)} over ${r.fetch?.protocol ?? '?'}; ${r.loggedConnections}`,
					stalled ? `the 7th stream and the fetch wait until a stream ends (RT_SSE_MAX_AGE 5 s)${http2 ? ', on one connection' : ''}`
						: 'all seven open and the fetch answers at once, on one connection',
					stalled ? 'stalled' : 'multiplexed'));
			}
			return out;
		}));
		rows.push(...await withStack({ server, mode: server === 'apache' ? 'fcgid' : undefined, tls: true, ws: true,
			env: { RT_SSE_MAX_AGE: '60', RT_SSE_HEARTBEAT: '30' } }, async (s) => {
			const out = [];
			for (const http2 of [false, true]) {
				const ch = `lab15tabs${http2 ? 'h2' : 'h1'}${Date.now() % 100000}`;
				await publish(s.base, ch, 'seed');
				const r = await sevenTabs(s, { http2, channel: ch });
				out.push(row(15, `${label}, ${http2 ? 'HTTP/2' : 'HTTP/1.1'}: 7 tabs of the lab page`,
					'tabs with all four panes live / with nothing at all, after 8 s; most TCP connections (ss)',
					`${r.liveTabs} / ${r.deadTabs}; ${r.connections}`,
					r.liveTabs === 7 ? 'every tab live' : `${7 - r.liveTabs} tabs wait for a free ${http2 ? 'stream' : 'connection'}`,
					`${r.liveTabs}/7`));
			}
			return out;
		}));
	}
	return rows;
}

// 16. SSE over HTTP/2 (TLS=1, h2 by ALPN) with each Apache mode and lighttpd:
//     does anything between the endpoint and the HTTP/2 stream hold events
//     back (H2OutputBuffering, H2StreamMaxMemSize; rtlab-tls.conf)?
export async function exp16() {
	return sideBySide([['apache', 'fcgid'], ['apache', 'proxy-fcgi'], ['apache', 'cgi'], ['lighttpd', undefined]],
		async ([server, mode]) => {
			const label = `HTTP/2 over TLS, ${server === 'apache' ? `Apache ${mode}` : 'lighttpd'}`;
			const r = await measureStream({ server, mode, tls: true }, label, { http2: true });
			return row(16, label, STREAM_MEASURED, streamFigure(r.p),
				r.kind === 'streamed' ? 'streamed: each event is a DATA frame at once' : `${r.kind}`, r.kind);
		});
}

// 14. Polling with and without ETag / If-None-Match.
export async function exp14() {
	return withStack({ server: 'apache', mode: 'fcgid' }, async (s) => {
		const ch = `lab${Date.now() % 100000}`;
		await seed(s.base, ch, 20);
		const url = `${s.base}/cgi-bin/poll.fcgi?channel=${ch}`;
		const N = 20;
		const run = async (revalidate) => {
			let etag = null;
			let bytes = 0;
			const codes = {};
			for (let i = 0; i < N; i++) {
				const r = await timedGet(url, { headers: revalidate && etag ? { 'If-None-Match': etag } : {} });
				etag = r.headers.etag || etag;
				bytes += r.bytes;
				codes[r.status] = (codes[r.status] || 0) + 1;
			}
			return { bytes, codes };
		};
		const plain = await run(false);
		const cond = await run(true);
		const fmt = (c) => Object.entries(c).map(([k, v]) => `${v}×${k}`).join(' ');
		return [
			row(14, `${N} polls, no If-None-Match`, 'statuses; body bytes', `${fmt(plain.codes)}; ${plain.bytes} B`,
				'the whole list every time', plain.bytes),
			row(14, `${N} polls, If-None-Match: <ETag>`, 'statuses; body bytes', `${fmt(cond.codes)}; ${cond.bytes} B`,
				(cond.codes[304] || 0) > 0 ? 'unchanged answers are 304 with no body' : 'no 304 seen', cond.bytes),
		];
	});
}

export const EXPERIMENTS = [
	{ id: 1, title: 'SSE under mod_fcgid: FcgidOutputBufferSize', run: exp1 },
	{ id: 2, title: 'SSE under mod_proxy_fcgi: flushpackets', run: exp2 },
	{ id: 3, title: 'SSE under lighttpd: server.stream-response-body', run: exp3 },
	{ id: 4, title: 'SSE and mod_deflate', run: exp4 },
	{ id: 5, title: 'Long-poll vs FcgidIOTimeout', run: exp5 },
	{ id: 6, title: 'Endless SSE vs FcgidBusyTimeout; RT_SSE_MAX_AGE + reconnect', run: exp6 },
	{ id: 7, title: 'FcgidMaxProcessesPerClass 2, three SSE clients', run: exp7 },
	{ id: 8, title: 'mod_proxy_fcgi timeout= vs long-poll hold', run: exp8 },
	{ id: 9, title: 'MPM event vs prefork with held streams', run: exp9 },
	{ id: 10, title: 'Per-request cost: mod_cgi vs mod_fcgid vs mod_proxy_fcgi', run: exp10 },
	{ id: 11, title: 'Idle WebSocket through the proxy: Timeout and pings', run: exp11 },
	{ id: 12, title: 'Vanished SSE client: process held', run: exp12 },
	{ id: 13, title: 'HTTP/2 (h2c) vs six HTTP/1.1 connections', run: exp13 },
	{ id: 14, title: 'Polling with and without ETag/304', run: exp14 },
	{ id: 15, title: 'Chromium over TLS: 7 streams + a fetch, 7 tabs; HTTP/1.1 vs HTTP/2', run: exp15 },
	{ id: 16, title: 'SSE over HTTP/2 (TLS) per mode: streamed or buffered', run: exp16 },
	// 17-20: past one host (a Redis store, HAProxy): tools/lab/cluster.js.
	...CLUSTER_EXPERIMENTS,
];

// ---- the table ----------------------------------------------------------

const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

function versions(startLoad) {
	// wrk prints its version and exits 1: read the output whatever the status.
	const first = (cmd, args) => {
		const r = spawnSync(cmd, args, { encoding: 'utf8' });
		if (r.error) return `${cmd}: not found`;
		return `${r.stdout}${r.stderr}`.split('\n')[0].trim();
	};
	return [
		first('apache2', ['-v']).replace(/^Server version:\s*/, ''),
		first('lighttpd', ['-v']),
		`node ${process.version}`,
		first('wrk', ['--version']).split(' [')[0],
		first('redis-server', ['--version']).split(' sha=')[0],
		first('haproxy', ['-v']).split(' - ')[0],
		`Linux ${first('uname', ['-r'])}, ${first('nproc', [])} cores; load average ${startLoad} at the start, ${loadavg()} at the end`,
	];
}

const cell = (v) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows) {
	const lines = ['| # | variant | measured | figure | verdict |', '| --- | --- | --- | --- | --- |'];
	for (const r of rows) lines.push(`| ${r.exp} | ${cell(r.variant)} | ${cell(r.measured)} | ${cell(r.figure)} | ${cell(r.verdict)} |`);
	return lines.join('\n');
}

function renderResults(rows, ran, seconds, vers) {
	const all = ran.length === EXPERIMENTS.length;
	const failed = rows.filter((r) => r.outcome === 'error').map((r) => r.exp);
	return `# Config lab — measured results

Written by \`make lab\` (\`tools/lab.sh\`), finished ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; every figure
below was measured in that run by real clients against a private server started
for it. Do not edit by hand: run \`make lab\` again. What each experiment asks,
and why the servers behave this way, is in [config-lab.md](config-lab.md).

${all ? 'All experiments' : `Experiments ${ran.join(', ')} only (a partial run)`}, ${seconds.toFixed(0)} s in all${failed.length ? `; experiment ${failed.join(', ')} did not run (see its row)` : ''}.

${vers.map((v) => `- ${v}`).join('\n')}

${renderTable(rows)}
`;
}

// ---- progress ---------------------------------------------------------------
// Before each experiment: how far (k/N), the time so far, and the time left,
// estimated from how long each experiment took last time (kept in
// test-results/lab-times.json) or, for one never timed, this run's average.
const TIMES_FILE = path.join(ROOT, 'test-results', 'lab-times.json');

function readTimes() {
	try {
		return JSON.parse(fs.readFileSync(TIMES_FILE, 'utf8'));
	} catch {
		return {};
	}
}

function saveTime(times, id, seconds) {
	times[id] = Math.round(seconds);
	fs.mkdirSync(path.dirname(TIMES_FILE), { recursive: true });
	fs.writeFileSync(TIMES_FILE, `${JSON.stringify(times, null, 1)}\n`);
}

function hms(seconds) {
	const s = Math.round(seconds);
	return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** "~4m10s left", from the remaining experiments' last times or this run's pace. */
function timeLeft(remaining, times, doneSeconds) {
	const average = doneSeconds.length ? doneSeconds.reduce((a, b) => a + b, 0) / doneSeconds.length : null;
	let left = 0;
	for (const e of remaining) {
		const t = times[e.id] ?? average;
		if (t == null) return 'time left: known after the first experiment';
		left += t;
	}
	return `~${hms(left)} left`;
}

async function main(argv) {
	if (argv.includes('--list')) {
		for (const e of EXPERIMENTS) console.log(`${String(e.id).padStart(2)}  ${e.title}`);
		const files = fs.readdirSync(LAB_DIR).filter((f) => f.endsWith('.conf')).sort();
		console.log(`\nvariant files in apache-conf/lab/: ${files.join(' ')}`);
		return 0;
	}
	const want = argv.filter((a) => /^\d+$/.test(a)).map(Number);
	const chosen = want.length ? EXPERIMENTS.filter((e) => want.includes(e.id)) : EXPERIMENTS;
	const t0 = now();
	const startLoad = loadavg();
	const rows = [];
	let failed = 0;
	const times = readTimes();
	const doneSeconds = [];
	for (const [i, e] of chosen.entries()) {
		const te = now();
		console.log(`lab: [${i + 1}/${chosen.length}] ${hms((te - t0) / 1000)} elapsed, ` +
			`${timeLeft(chosen.slice(i), times, doneSeconds)}`);
		process.stdout.write(`lab: ${String(e.id).padStart(2)} ${e.title} ... `);
		try {
			const got = await e.run();
			rows.push(...got);
			const took = (now() - te) / 1000;
			doneSeconds.push(took);
			saveTime(times, e.id, took);
			console.log(`${took.toFixed(0)} s`);
			for (const r of got) console.log(`      ${r.variant}: ${r.figure} — ${r.verdict}`);
		} catch (err) {
			failed++;
			console.log('ERROR');
			console.log(`      ${err.stack || err}`);
			rows.push(row(e.id, e.title, 'the experiment itself', 'error', `did not run: ${String(err.message || err).split('\n')[0]}`, 'error'));
		}
	}
	const seconds = (now() - t0) / 1000;
	console.log(`\n${renderTable(rows)}\n`);
	if (!argv.includes('--no-write')) {
		const file = path.join(ROOT, 'docs', 'lab-results.md');
		fs.writeFileSync(file, renderResults(rows, chosen.map((e) => e.id), seconds, versions(startLoad)));
		console.log(`lab: wrote ${path.relative(ROOT, file)} (${seconds.toFixed(0)} s)`);
	}
	return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	main(process.argv.slice(2)).then((code) => { process.exitCode = code; },
		(err) => { console.error(err); process.exitCode = 1; });
}
