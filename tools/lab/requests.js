// requests.js — experiments 10 and 13-15: what a request costs and how many
// share a connection: requests/s under mod_cgi, mod_fcgid and mod_proxy_fcgi
// (wrk), polling with ETag/304, and many SSE streams over HTTP/1.1 vs HTTP/2,
// from Node (h2c) and from Chromium over TLS (./browser.js).

import http from 'node:http';
import http2 from 'node:http2';
import { execFileSync } from 'node:child_process';
import { withStack } from './stack.js';
import { publish, seed, sseProbe, sseUrl, timedGet } from './probes.js';
import { sevenStreams, sevenTabs } from './browser.js';
import { row, sec, sleep, variant } from './common.js';

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
