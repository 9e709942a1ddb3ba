// browser.js — the config lab's browser experiment: what Chromium itself
// does with many held requests to one host, over HTTP/1.1 and over HTTP/2.
//
//   sevenStreams(stack, { http2 })  one page (public_html/streams.html) opens
//                                   7 EventSources, then fetches poll.fcgi
//   sevenTabs(stack, { http2 })     7 tabs of the lab page (index.html)
//
// Both count the TCP connections the browser holds to the server from the
// server's side (ss(8) on the server port), so "one connection" is what the
// server saw, not what the browser claims.  HTTP/1.1 is Chromium with
// --disable-http2 against the same TLS server, so the protocol is the only
// difference.  Used by tools/lab.js (experiment 15) and
// tests/browser/http2.test.js; docs/http2.md explains the results.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { launchBrowser } from '../../tests/browser/chromium.js';
import { sleep } from './common.js';

/** Established TCP connections to 127.0.0.1:port right now, from the server's side. */
export function serverConnections(port) {
	const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${port} )`],
		{ encoding: 'utf8' });
	return out.split('\n').filter((l) => l.trim()).length;
}

/**
 * The TCP connections the requests for `channel` came on, from the server's
 * access log: its last field is the client port (%{remote}p in
 * httpd.conf.in and lighttpd.conf.in), one per connection.  A held request
 * is logged when it ends, so this waits (up to waitMs) until `requests`
 * lines for the channel are there.  Returns the number of distinct ports.
 */
export async function loggedConnections(stack, channel, requests, waitMs = 12000) {
	const file = path.join(stack.runDir, 'logs', 'access.log');
	const mark = new RegExp(`[?&]channel=${channel.replace(/\W/g, '\\$&')}[& ]`);
	let lines = [];
	for (const t0 = Date.now(); Date.now() - t0 < waitMs; await sleep(200)) {
		let text = '';
		try { text = readFileSync(file, 'utf8'); } catch { /* not yet */ }
		lines = text.split('\n').filter((l) => mark.test(l));
		if (lines.length >= requests) break;
	}
	return new Set(lines.map((l) => l.trim().split(' ').pop())).size;
}

// Samples serverConnections every 100 ms until stop() and keeps the most.
function connectionSampler(port) {
	let most = 0;
	let running = true;
	const loop = (async () => {
		while (running) {
			most = Math.max(most, serverConnections(port));
			await sleep(100);
		}
	})();
	return async () => { running = false; await loop; return most; };
}

/**
 * One page, n EventSource streams then a fetch.  Returns what the page
 * recorded (ms since it started the requests): per stream opened / first
 * event / ended, the fetch's answer time and protocol, the page's protocol,
 * (warm: quick requests the page makes first, see streams.html),
 * and the most connections the server saw.  Derived: how many streams opened
 * before the first stream ended, and whether the fetch did.  waitMs bounds
 * the run: choose it above RT_SSE_MAX_AGE so that a stalled request gets its
 * chance when a stream ends.
 */
export async function sevenStreams(stack, { http2 = true, n = 7, channel = 'lobby', warm = 0, waitMs = 15000 } = {}) {
	const browser = await launchBrowser({ tls: stack.tls, args: http2 ? [] : ['--disable-http2'] });
	const stop = connectionSampler(stack.port);
	try {
		const page = await browser.newPage();
		await page.goto(`${stack.base}/streams.html?n=${n}&warm=${warm}&channel=${encodeURIComponent(channel)}`);
		// Done when every stream has opened and the fetch has answered.
		await page.waitForFunction(() => {
			const r = window.rtlabStreams;
			return r && r.fetch && r.streams.every((s) => s.opened !== null);
		}, null, { timeout: waitMs, polling: 100 }).catch(() => {});
		const r = await page.evaluate(() => window.rtlabStreams);
		const ends = r.streams.map((s) => s.ended).filter((t) => t !== null);
		const firstEnd = ends.length ? Math.min(...ends) : null;
		const before = (t) => t !== null && t !== undefined && (firstEnd === null || t < firstEnd);
		const connections = await stop();
		await browser.close();
		return {
			...r,
			connections,
			// the page, its warm-up fetches, the first n streams, the fetch
			loggedConnections: await loggedConnections(stack, channel, 1 + warm + n + 1),
			firstEnd,
			openedBeforeFirstEnd: r.streams.filter((s) => before(s.opened)).length,
			fetchBeforeFirstEnd: before(r.fetch?.answered),
			lastOpened: Math.max(...r.streams.map((s) => s.opened ?? Infinity)),
		};
	} finally {
		await stop();
		await browser.close();
	}
}

/**
 * `tabs` tabs of the lab page on one channel (which must hold a message: every
 * pane shows it as soon as its technique got through), opened one after the
 * other.  After settleMs, counts per tab which panes show it.  A tab whose
 * document itself is still queued shows nothing at all.
 */
export async function sevenTabs(stack, { http2 = true, tabs = 7, channel = 'lobby', settleMs = 8000 } = {}) {
	const browser = await launchBrowser({ tls: stack.tls, args: http2 ? [] : ['--disable-http2'] });
	const stop = connectionSampler(stack.port);
	try {
		const pages = [];
		for (let i = 0; i < tabs; i++) {
			const page = await browser.newPage();
			pages.push(page);
			// Not awaited: a tab whose page cannot load is part of the result.
			page.goto(`${stack.base}/index.html?channel=${encodeURIComponent(channel)}`, { timeout: 0 })
				.catch(() => {});
			await sleep(300);
		}
		await sleep(settleMs);
		const panes = [];
		for (const page of pages) {
			panes.push(await page.evaluate(() => {
				const got = {};
				for (const p of document.querySelectorAll('[data-transport]')) {
					got[p.dataset.transport] = Number(p.querySelector('[data-figure=received]').textContent) > 0;
				}
				return got;
			}).catch(() => ({})));
		}
		const live = (t) => ['poll', 'longpoll', 'sse', 'ws'].every((k) => t[k]);
		return {
			panes,
			liveTabs: panes.filter(live).length,
			deadTabs: panes.filter((t) => !Object.values(t).some(Boolean)).length,
			connections: await stop(),
		};
	} finally {
		await stop();
		await browser.close();
	}
}
