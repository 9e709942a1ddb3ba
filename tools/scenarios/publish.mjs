// publish.mjs — what the scenario publishers share: their command line, and
// publishing one message through send.fcgi (HTTP, JSON body, so the named
// `event` travels with it) or over a WebSocket to the helper.
//
//   import { options, publishHttp, openPublisherSocket, sleep } from './publish.mjs';
//
// Publishers are ordinary clients of the endpoints (docs/protocol.md): they work against
// any rtlab server (make demo, a course server) and need nothing but node.
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/*
 * Parses argv with util.parseArgs.  spec: { name: { type, default, help } }.
 * --help prints usage (the header line, then one line per option) and exits.
 * Numbers are checked against [min, max] and exit 2 with a sentence if not.
 */
export function options(header, spec) {
	const parseSpec = { help: { type: 'boolean' } };
	for (const [name, o] of Object.entries(spec))
		parseSpec[name] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
	let values;
	try {
		({ values } = parseArgs({ options: parseSpec, strict: true }));
	} catch (err) {
		console.error(`${err.message}\n(--help for the options)`);
		process.exit(2);
	}
	if (values.help) {
		console.log(header);
		for (const [name, o] of Object.entries(spec))
			console.log(`  --${name.padEnd(12)} ${o.help}${o.default !== undefined ? ` (default ${o.default})` : ''}`);
		process.exit(0);
	}
	const out = {};
	for (const [name, o] of Object.entries(spec)) {
		const v = values[name] ?? o.default;
		if (o.type === 'number') {
			const n = Number(v);
			if (!Number.isFinite(n) || n < o.min || n > o.max) {
				console.error(`--${name} must be a number from ${o.min} to ${o.max}`);
				process.exit(2);
			}
			out[name] = n;
		} else {
			out[name] = v;
		}
	}
	return out;
}

/*
 * Stores one message through POST /cgi-bin/send.fcgi (keep-alive: node's
 * fetch reuses connections).  Resolves to the stored message; rejects with
 * the server's status and detail.
 */
export async function publishHttp(base, { channel, user, text, event }) {
	const res = await fetch(`${base}/cgi-bin/send.fcgi`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ channel, user, text, ...(event ? { event } : {}) }),
	});
	const answer = await res.json().catch(() => ({}));
	if (res.status !== 201)
		throw new Error(`send.fcgi answered ${res.status}: ${answer.detail ?? 'no detail'}`);
	return answer;
}

/*
 * A WebSocket to the helper on one channel, for publishing many messages
 * cheaply: send(obj) sends {"type":"send",...obj}.  Uses the ws package
 * installed for the tests (tests/node_modules), as tools/ws-latency.mjs
 * does; node 20 has no WebSocket of its own.  history=0: it only sends.
 */
export async function openPublisherSocket(base, channel) {
	let WebSocket;
	try {
		const require = createRequire(new URL('../../tests/package.json', import.meta.url));
		WebSocket = require('ws');
	} catch {
		throw new Error('publishing over WebSocket needs the ws package: cd tests && npm ci');
	}
	const url = `${base.replace(/^http/, 'ws')}/ws?channel=${encodeURIComponent(channel)}&history=0`;
	const ws = new WebSocket(url);
	await new Promise((resolve, reject) => {
		ws.once('open', resolve);
		ws.once('error', reject);
	});
	ws.on('error', () => {});
	return {
		send(obj) { ws.send(JSON.stringify({ type: 'send', ...obj })); },
		get buffered() { return ws.bufferedAmount; },
		close() { ws.close(); },
		socket: ws,
	};
}

/* A small seeded random generator (mulberry32): the same run for the same seed. */
export function seededRandom(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
