// ws_coalesce.test.js — the helper's "latest wins" rule for a client that
// falls behind (docs/scenarios.md, "Design: latest wins in the helper"):
// a `position` from a user replaces that user's position still waiting in
// the client's queue; every other message is delivered.  The slow client is
// tests/integration/ws_slow_client.py: a raw socket with a 4 KiB receive
// buffer that reads nothing while a bot publishes thousands of positions,
// straight to the helper (RT_WS_SNDBUF=4096 keeps the helper's kernel
// buffer small too, so what piles up is in the helper's queue).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack } from '../lib/servers.js';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const HERE = path.dirname(fileURLToPath(import.meta.url));
const USERS = ['ann', 'bob', 'cat'];
const MOVES = 1000;                 // per user
const CHAT_EVERY = 100;             // a plain message every 100 moves of ann

let stack;
before(async () => { stack = await startStack({ server: 'apache', env: { RT_WS_SNDBUF: '4096' } }); });
after(async () => { await stack?.stop(); });

function slowClient(channel) {
	const child = spawn('/usr/bin/python3', [path.join(HERE, 'ws_slow_client.py'), '127.0.0.1',
		String(stack.wsPort), `/ws?channel=${channel}&history=0`], { stdio: ['pipe', 'pipe', 'pipe'] });
	const lines = createInterface({ input: child.stdout });
	const next = () => new Promise((resolve, reject) => {
		lines.once('line', resolve);
		child.once('exit', (code) => reject(new Error(`ws_slow_client exited ${code}`)));
	});
	let err = '';
	child.stderr.on('data', (d) => { err += d; });
	return { child, next, stderr: () => err };
}

test('a slow client gets each player\'s latest position, every other message, in id order', { timeout: 120000 }, async () => {
	const channel = `coalesce${process.pid}`;
	const slow = slowClient(channel);
	assert.equal(await slow.next(), 'ready', slow.stderr());

	const bot = new WebSocket(`${stack.wsDirect}?channel=${channel}&history=0`);
	await new Promise((resolve, reject) => { bot.once('open', resolve); bot.once('error', reject); });
	const ended = new Promise((resolve) => bot.on('message', (d) => {
		const f = JSON.parse(d);
		if (f.type === 'message' && f.message.text === 'end') resolve();
	}));
	const chats = [];
	for (let n = 1; n <= MOVES; n++) {
		for (const user of USERS)
			bot.send(JSON.stringify({ type: 'send', event: 'position', user, text: JSON.stringify({ x: n, y: n, n }) }));
		if (n % CHAT_EVERY === 0) {
			chats.push(`chat ${n}`);
			bot.send(JSON.stringify({ type: 'send', user: 'ann', text: `chat ${n}` }));
		}
	}
	bot.send(JSON.stringify({ type: 'send', user: 'ann', text: 'end' }));
	await ended;                     // everything is stored and fanned out
	bot.close();

	const result = slow.next();
	slow.child.stdin.end('go\n');
	const got = JSON.parse(await result);

	const ids = got.map((m) => m.id);
	assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'id order');
	assert.equal(new Set(ids).size, ids.length, 'no duplicates');
	// Plain messages are never replaced.
	assert.deepEqual(got.filter((m) => m.event === undefined || m.event === null).map((m) => m.text),
		[...chats, 'end']);
	const positions = got.filter((m) => m.event === 'position');
	for (const user of USERS) {
		const mine = positions.filter((m) => m.user === user).map((m) => JSON.parse(m.text).n);
		assert.equal(mine.at(-1), MOVES, `${user}: the latest position arrives`);
		assert.deepEqual(mine, [...mine].sort((a, b) => a - b), `${user}: never an older one after a newer`);
	}
	// Not a backlog: most of the 3,000 moves were replaced before they were sent.
	assert.ok(positions.length < (USERS.length * MOVES) / 4,
		`${positions.length} of ${USERS.length * MOVES} positions delivered`);
	console.log(`# slow client: ${positions.length} of ${USERS.length * MOVES} positions delivered, ` +
		`${got.length - positions.length} other messages`);
});
