// http2.test.js — the six-connection limit, seen in real Chromium over TLS
// (TLS=1), and HTTP/2 lifting it, on Apache (mod_fcgid) and lighttpd.
//
// public_html/streams.html opens 7 EventSources and, once six are open, one
// fetch of poll.fcgi.  Streams end after RT_SSE_MAX_AGE (8 s), so a waiting
// request gets its turn then.  Asserted by the order of events and by the
// connections the server logged (client ports), never by tight timings:
//   HTTP/1.1 (Chromium --disable-http2, same server): at most six streams
//     open before the first one ends, the seventh and the fetch only after
//     that, over six connections;
//   HTTP/2: all seven open and the fetch answered before any stream ends,
//     over one connection.  The page first makes three quick requests, as a
//     page loading its scripts does: Apache's mod_http2 works on only six
//     streams of a fresh connection until some complete (docs/http2.md;
//     `make lab` experiment 15 shows the cold case too).
// tools/lab/browser.js does the driving (the lab's experiment 15 uses it).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/servers.js';
import { publish } from '../../tools/lab.js';
import { sevenStreams } from '../../tools/lab/browser.js';
import { uniqueChannel } from './chromium.js';

const STACKS = [{ server: 'apache', mode: 'fcgid' }, { server: 'lighttpd' }];

for (const stack of STACKS) {
	describe(`seven streams and a fetch in Chromium: ${stack.server}`, () => {
		let s;
		before(async () => {
			s = await startStack({ ...stack, tls: true, ws: false,
				env: { RT_SSE_MAX_AGE: '8', RT_SSE_HEARTBEAT: '30' } });
		});
		after(async () => { await s?.stop(); });

		// A channel with one message: every stream's first event is known.
		async function run(http2) {
			const channel = uniqueChannel(http2 ? 'h2' : 'h1');
			await publish(s.base, channel, 'seed');
			return sevenStreams(s, { http2, warm: 3, channel, waitMs: 25000 });
		}

		it('HTTP/1.1: six streams hold six connections; the seventh and the fetch wait for one to end', { timeout: 120000 }, async () => {
			const r = await run(false);
			assert.equal(r.protocol, 'http/1.1', 'the page came over HTTP/1.1');
			assert.ok(r.streams.every((st) => st.opened !== null), `a stream never opened: ${JSON.stringify(r.streams)}`);
			assert.ok(r.firstEnd !== null, 'no stream ended within the run');
			assert.ok(r.openedBeforeFirstEnd <= 6, `${r.openedBeforeFirstEnd} streams open at once over HTTP/1.1`);
			// At or after: the seventh takes the connection the first stream
			// left, often within the same millisecond (times are whole ms).
			assert.ok(r.lastOpened >= r.firstEnd, 'the seventh stream opened before any stream ended');
			assert.equal(r.fetch?.status, 200, `fetch: ${JSON.stringify(r.fetch)}`);
			assert.equal(r.fetchBeforeFirstEnd, false,
				`the fetch was answered (${r.fetch.answered} ms) before a stream ended (${r.firstEnd} ms)`);
			assert.equal(r.loggedConnections, 6, 'connections the server saw');
		});

		it('HTTP/2: all seven open and the fetch answers before any stream ends, over one connection', { timeout: 120000 }, async () => {
			const r = await run(true);
			assert.equal(r.protocol, 'h2', 'the page came over HTTP/2');
			assert.equal(r.openedBeforeFirstEnd, 7, `streams: ${JSON.stringify(r.streams)}`);
			assert.equal(r.fetch?.status, 200, `fetch: ${JSON.stringify(r.fetch)}`);
			assert.equal(r.fetch.protocol, 'h2');
			assert.equal(r.fetchBeforeFirstEnd, true,
				`the fetch (${r.fetch.answered} ms) waited for a stream to end (${r.firstEnd} ms)`);
			assert.equal(r.loggedConnections, 1, 'connections the server saw');
		});
	});
}
