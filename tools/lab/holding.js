// holding.js — experiments 5-9, 11 and 12: held requests (long-polls, SSE
// streams, WebSockets) against the servers' timeouts and limits: FcgidIOTimeout,
// FcgidBusyTimeout, FcgidMaxProcessesPerClass, proxy timeout=, the MPM's
// workers, the proxy's idle tunnel, and a client that vanishes.

import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { logGist, logLines, withStack } from './stack.js';
import {
	followWithReconnect, idleWebSocket, keepAliveIdle, seed, sseProbe, sseUrl, timedGet, vanishedClient,
} from './probes.js';
import { ROOT, deferred, row, sec, sideBySide, sleep, variant } from './common.js';

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
