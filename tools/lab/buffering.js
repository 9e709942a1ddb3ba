// buffering.js — experiments 1-4 and 16: does an SSE event reach the client
// at once, or does something between the endpoint and the client hold it
// back (mod_fcgid's output buffer, mod_proxy_fcgi's flushpackets, lighttpd's
// stream-response-body, mod_deflate, HTTP/2)?

import http2 from 'node:http2';
import { withStack } from './stack.js';
import { classifyStream, publish, seed, sseProbe, sseUrl } from './probes.js';
import { now, row, sec, sideBySide, sleep, variant } from './common.js';

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
