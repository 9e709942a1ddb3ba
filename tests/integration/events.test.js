// events.test.js — the named `event` field of a message (docs/protocol.md,
// "Messages"), end to end through real servers: published by send.fcgi (form
// and JSON) and by the helper's {"type":"send"} frame; read on all four
// transports — SSE writes it as the `event:` line, poll, long-poll and the
// WebSocket carry "event" in the JSON only when it is not "message"; a bad
// name is refused everywhere; and a database made before the event column
// existed keeps its messages when a server starts on it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, chmodSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { startStack } from '../lib/servers.js';
import { curl } from '../lib/http.js';
import { freshChannel, openStream } from '../lib/held.js';

const require = createRequire(import.meta.url);
const WebSocket = require('ws');
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const JSON_CT = { 'Content-Type': 'application/json' };

function openWs(url) {
	const ws = new WebSocket(url);
	ws.frames = [];
	ws.on('message', (d) => ws.frames.push(JSON.parse(d)));
	return new Promise((resolve, reject) => { ws.once('open', () => resolve(ws)); ws.once('error', reject); });
}
async function until(cond, what, ms = 15000) {
	for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50)))
		if (cond()) return;
	throw new Error(`timed out waiting for ${what}`);
}
const poll = async (s, endpoint, channel) => {
	const extra = endpoint === 'longpoll' ? '&timeout=0' : '';
	const r = await curl(`${s.base}/cgi-bin/${endpoint}.fcgi?channel=${channel}&since=0${extra}`);
	assert.equal(r.status, 200, r.body);
	return r.json().messages;
};

for (const server of ['apache', 'lighttpd']) describe(`named events via ${server}`, () => {
	let s;
	before(async () => { s = await startStack({ server }); });
	after(async () => { await s?.stop(); });

	it('form, JSON and WebSocket publish an event; poll, long-poll, SSE and WebSocket read it', async () => {
		const channel = freshChannel('ev');
		const sse = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=0`);
		await sse.opened;
		const sub = await openWs(`${s.wsUrl}?channel=${channel}&history=0`);

		const a = await curl(`${s.base}/cgi-bin/send.fcgi`, { data: `channel=${channel}&event=score&text=1-0`, headers: FORM });
		assert.equal(a.status, 201, a.body);
		assert.equal(a.json().event, 'score');
		const b = await curl(`${s.base}/cgi-bin/send.fcgi`,
			{ data: JSON.stringify({ channel, event: 'goal', text: '2-0' }), headers: JSON_CT });
		assert.equal(b.json().event, 'goal');
		const c = await curl(`${s.base}/cgi-bin/send.fcgi`, { data: `channel=${channel}&event=message&text=plain`, headers: FORM });
		assert.ok(!('event' in c.json()), `"message" is left out: ${c.body}`);
		const pub = await openWs(`${s.wsUrl}?channel=${channel}&history=0`);
		pub.send(JSON.stringify({ type: 'send', user: 'p1', event: 'position', text: '{"x":1}' }));
		await until(() => pub.frames.some((f) => f.message?.event === 'position'), 'the WebSocket echo');
		pub.close();

		const want = ['score', 'goal', undefined, 'position'];
		// Poll and long-poll: "event" in the JSON, only when named.
		for (const endpoint of ['poll', 'longpoll']) {
			const got = await poll(s, endpoint, channel);
			assert.deepEqual(got.map((m) => m.event), want, endpoint);
			assert.ok(!('event' in got[2]), `${endpoint}: a plain message has no event member`);
			assert.deepEqual(got.map((m) => m.text), ['1-0', '2-0', 'plain', '{"x":1}']);
		}
		// SSE: the event: line is the name ("message" for a plain one), the data the same JSON.
		await sse.waitFor((x) => x.events.length >= 4, 15000, 'four SSE events');
		assert.deepEqual(sse.events.map((e) => e.event), ['score', 'goal', 'message', 'position']);
		assert.deepEqual(sse.events.map((e) => JSON.parse(e.data).event), want);
		sse.close();
		assert.deepEqual(sse.errors, []);
		// WebSocket: the message frames carry the same JSON.
		await until(() => sub.frames.length >= 4, 'four WebSocket frames');
		assert.deepEqual(sub.frames.map((f) => f.message.event), want);
		sub.close();
	});

	it('a bad event name is refused: 400 on send.fcgi, an error frame on the WebSocket', async () => {
		const channel = freshChannel('evbad');
		const cases = [
			[{ data: `channel=${channel}&event=Goal&text=x`, headers: FORM }, /event must start/],
			[{ data: `channel=${channel}&event=a%0Adata:%20x&text=x`, headers: FORM }, /event may only/],
			[{ data: `channel=${channel}&event=${'a'.repeat(33)}&text=x`, headers: FORM }, /event is/],
			[{ data: `channel=${channel}&event=&text=x`, headers: FORM }, /event is empty/],
			[{ data: JSON.stringify({ channel, event: 7, text: 'x' }), headers: JSON_CT }, /event is not a string/],
			[{ data: JSON.stringify({ channel, event: 'has space', text: 'x' }), headers: JSON_CT }, /event may only/],
		];
		for (const [req, words] of cases) {
			const r = await curl(`${s.base}/cgi-bin/send.fcgi`, req);
			assert.equal(r.status, 400, `${req.data}: ${r.body}`);
			assert.match(r.json().detail, words);
		}
		const ws = await openWs(`${s.wsUrl}?channel=${channel}&history=0`);
		ws.send(JSON.stringify({ type: 'send', event: 'BAD', text: 'x' }));
		await until(() => ws.frames.length >= 1, 'the error frame');
		assert.equal(ws.frames[0].type, 'error');
		assert.equal(ws.frames[0].error, 'bad_request');
		assert.match(ws.frames[0].detail, /event/);
		// The connection stays open: the next, good frame is stored.
		ws.send(JSON.stringify({ type: 'send', event: 'ok', text: 'y' }));
		await until(() => ws.frames.length >= 2, 'the stored message');
		assert.equal(ws.frames[1].message.event, 'ok');
		ws.close();
		assert.deepEqual((await poll(s, 'poll', channel)).map((m) => m.text), ['y']);
	});
});

describe('a database made before the event column', () => {
	let s, dir;
	before(async () => {
		dir = mkdtempSync('/tmp/rtlab-oldschema-');
		chmodSync(dir, 0o777);                 // the server's user writes -wal/-shm beside it
		const db = path.join(dir, 'old.db');
		execFileSync('sqlite3', [db, `PRAGMA journal_mode = WAL;
			CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT,
			  channel TEXT NOT NULL CHECK (length(channel) BETWEEN 1 AND 64),
			  user TEXT NOT NULL CHECK (length(user) BETWEEN 1 AND 32),
			  text TEXT NOT NULL CHECK (length(CAST(text AS BLOB)) BETWEEN 1 AND 4096),
			  ts INTEGER NOT NULL, via TEXT NOT NULL CHECK (via IN ('http', 'ws')));
			CREATE INDEX messages_channel_id ON messages (channel, id);
			INSERT INTO messages (channel, user, text, ts, via) VALUES
			  ('old', 'alice', 'from last term', 1000, 'http'), ('old', 'bob', 'me too', 2000, 'ws');`]);
		chmodSync(db, 0o666);
		s = await startStack({ server: 'apache', env: { RT_DB: db } });
	});
	after(async () => {
		await s?.stop();
		if (dir) rmSync(dir, { recursive: true, force: true });
	});

	it('keeps its messages, as plain ones, and takes named events from then on', async () => {
		const before = await poll(s, 'poll', 'old');
		assert.deepEqual(before.map((m) => [m.id, m.user, m.text, m.event]),
			[[1, 'alice', 'from last term', undefined], [2, 'bob', 'me too', undefined]]);
		const r = await curl(`${s.base}/cgi-bin/send.fcgi`, { data: 'channel=old&event=news&text=new term', headers: FORM });
		assert.equal(r.status, 201, r.body);
		assert.equal(r.json().id, 3);
		assert.equal(r.json().event, 'news');
		const sse = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=old&since=0`);
		await sse.waitFor((x) => x.events.length >= 3, 15000, 'three SSE events');
		assert.deepEqual(sse.events.map((e) => [e.id, e.event]), [['1', 'message'], ['2', 'message'], ['3', 'news']]);
		sse.close();
		// The helper, started on the old file too, reads it all.
		const ws = await openWs(`${s.wsUrl}?channel=old&since=0`);
		await until(() => ws.frames.length >= 3, 'three WebSocket frames');
		assert.deepEqual(ws.frames.map((f) => f.message.id), [1, 2, 3]);
		ws.close();
	});
});
