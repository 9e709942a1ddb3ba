#!/usr/bin/env node
// ticker.mjs — price ticks for the trading-ticker scenario
// (public_html/scenarios/ticker.html, docs/scenarios.md): `rate` ticks a
// second in all, spread over `symbols` symbols, each symbol on its own
// channel tick-<SYM>, as `event: tick`:
//   {"s":"ACME","p":101.23,"q":17,"n":57,"r":"k3x9","t":1795830491671}
// n counts the symbol's ticks (1, 2, 3 …) within this run r, so a
// subscriber can check that they arrive in order; t is when the tick was
// made (this machine's clock), for tick-to-screen latency.
//
//   node tools/scenarios/ticker.mjs --base http://127.0.0.1:8080 --rate 120
//   node tools/scenarios/ticker.mjs --ws --rate 1000     # over WebSockets to the helper
//
// Over HTTP each symbol's ticks are POSTed one after another (the next
// after the previous one's 201), so the store's order is the tick order;
// over a WebSocket they go in order on one connection per symbol.  Prints
// one line a second to stderr (ticks sent, and how far behind the
// schedule) and, at the end, {"sent":{"ACME":N,...}} on stdout.
import { options, publishHttp, openPublisherSocket, seededRandom, sleep } from './publish.mjs';

const SYMBOLS = ['ACME', 'BOLT', 'CRUX', 'DYNA', 'EMBR', 'FLUX', 'GRID', 'HELX'];
const opt = options('ticker.mjs — price ticks at a rate across symbols, one channel per symbol', {
	base: { type: 'string', default: 'http://127.0.0.1:8080', help: 'the rtlab server' },
	rate: { type: 'number', default: 120, min: 1, max: 5000, help: 'ticks per second, all symbols together' },
	symbols: { type: 'number', default: 8, min: 1, max: SYMBOLS.length, help: 'how many symbols (ACME, BOLT, …)' },
	duration: { type: 'number', default: 0, min: 0, max: 86400, help: 'seconds to run (0: until Ctrl-C)' },
	ws: { type: 'boolean', help: 'publish over WebSockets to the helper instead of POSTs' },
	seed: { type: 'number', default: 1, min: 0, max: 4294967295, help: 'random seed for the prices' },
});

const run = Math.random().toString(36).slice(2, 6);
const random = seededRandom(opt.seed);
const started = Date.now();
const sent = {};
let behindMs = 0, failed = 0, stopping = false;
const running = () => !stopping && (opt.duration === 0 || Date.now() - started < opt.duration * 1000);

async function symbol(sym, index) {
	const interval = 1000 * opt.symbols / opt.rate;
	const socket = opt.ws ? await openPublisherSocket(opt.base, `tick-${sym}`) : null;
	let price = 50 + index * 25 + random() * 10, n = 0;
	let due = Date.now() + (interval * index) / opt.symbols;
	sent[sym] = 0;
	while (running()) {
		const wait = due - Date.now();
		if (wait > 0) await sleep(wait);
		else behindMs = Math.max(behindMs, -wait);
		due += interval;
		price = Math.max(1, price * (1 + (random() - 0.5) * 0.002));
		const tick = { s: sym, p: Number(price.toFixed(2)), q: 1 + Math.floor(random() * 100), n: ++n, r: run, t: Date.now() };
		const msg = { channel: `tick-${sym}`, user: 'ticker', event: 'tick', text: JSON.stringify(tick) };
		try {
			if (socket) {
				if (socket.buffered > 1 << 20) { n--; continue; }   // the helper is not reading: skip, keep order
				socket.send(msg);
			} else {
				await publishHttp(opt.base, msg);
			}
			sent[sym]++;
		} catch (err) {
			n--;
			if (failed++ === 0) console.error(`ticker.mjs: ${err.message}`);
		}
	}
	if (socket) {
		while (socket.buffered > 0 && socket.socket.readyState === socket.socket.OPEN) await sleep(10);
		await sleep(200);
		socket.close();
	}
}

let last = 0;
const report = setInterval(() => {
	const total = Object.values(sent).reduce((a, b) => a + b, 0);
	console.error(`ticker.mjs: ${total - last} ticks/s, ${total} in all, ${failed} failed, at most ${behindMs} ms behind schedule`);
	last = total;
	behindMs = 0;
}, 1000);
// A signal ends the run: the loops stop, and the process exits within a
// second even if the server is already gone.
const stop = () => { stopping = true; setTimeout(() => process.exit(0), 1000).unref(); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await Promise.all(SYMBOLS.slice(0, opt.symbols).map(symbol)).catch((err) => {
	console.error(`ticker.mjs: ${err.message}`);
	process.exit(1);
});
clearInterval(report);
console.log(JSON.stringify({ run, sent }));
process.exit(failed ? 1 : 0);
