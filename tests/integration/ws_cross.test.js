// ws_cross.test.js — the WebSocket helper and the HTTP endpoints share one
// store: a message sent over a WebSocket reaches poll, long-poll and SSE;
// one sent with send.fcgi reaches WebSocket subscribers, in id order; a
// client that resumes with `since` after a helper restart gets exactly what
// it missed; and no bad input takes the helper down for its other clients.
// Real Apache (mod_fcgid) and the real helper; nothing is mocked.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startStack } from '../lib/servers.js';
import { spawnHelper } from './wsd_spawn.js';
import { openWs as open, messages, until, newDbPath, createDb } from '../lib/ws.js';
import { curl } from '../lib/http.js';

let s;

before(async () => {
  s = await startStack({ server: 'apache', mode: 'fcgid', env: { RT_SSE_HEARTBEAT: '1' } });
});
after(async () => { await s?.stop(); });

const tag = () => Math.random().toString(36).slice(2, 8);


async function post(channel, text, user = 'http') {
  const r = await curl(`${s.base}/cgi-bin/send.fcgi`, {
    data: new URLSearchParams({ channel, user, text }).toString(),
  });
  assert.equal(r.status, 201, r.body);
  return JSON.parse(r.body);
}

/** Reads an SSE stream until pred(events) holds; events are parsed data. */
function sseUntil(url, pred, ms = 15000) {
  return new Promise((resolve, reject) => {
    const events = [];
    let buf = '';
    const req = http.get(url, (res) => {
      assert.equal(res.statusCode, 200);
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buf += chunk;
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart());
          if (data.length) events.push(JSON.parse(data.join('\n')));
        }
        if (pred(events)) { clearTimeout(timer); req.destroy(); resolve(events); }
      });
    });
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
    const timer = setTimeout(() => { req.destroy(); reject(new Error('SSE: timed out')); }, ms);
  });
}

function helperPid() {
  const lines = readFileSync(path.join(s.runDir, 'pids'), 'utf8').split('\n');
  const line = lines.find((l) => / rtlab-wsd$/.test(l));
  return line ? Number(line.split(' ')[0]) : null;
}

test('a message sent over WebSocket arrives on poll, long-poll and SSE', async () => {
  const channel = `x${tag()}`;
  const first = await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}`);
  const since = JSON.parse(first.body).last_id;
  // the long-poll and the SSE stream are already waiting when it is sent
  const held = curl(`${s.base}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${since}&timeout=20`, { maxTime: 30 });
  const sse = sseUntil(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&since=${since}`,
    (ev) => ev.some((m) => m.text === 'over ws'));
  await new Promise((r) => setTimeout(r, 500));
  const ws = await open(`${s.wsUrl}?channel=${channel}&history=0`);
  ws.send(JSON.stringify({ type: 'send', user: 'wsuser', text: 'over ws' }));
  await until(() => messages(ws).length === 1, 10000, 'the sender gets its own message');
  const sent = messages(ws)[0];
  assert.equal(sent.via, 'ws');

  const lp = JSON.parse((await held).body);
  assert.deepEqual(lp.messages.map((m) => m.id), [sent.id]);
  assert.deepEqual(lp.messages[0], sent, 'long-poll: the same JSON');
  const poll = JSON.parse((await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}&since=${since}`)).body);
  assert.deepEqual(poll.messages, [sent], 'poll: the same JSON');
  const ev = await sse;
  assert.deepEqual(ev.filter((m) => m.id === sent.id), [sent], 'SSE: the same JSON, once');
  ws.close();
});

test('messages from send.fcgi and from WebSockets reach a WebSocket in id order', async () => {
  const channel = `o${tag()}`;
  const sub = await open(`${s.wsUrl}?channel=${channel}&history=0`);
  const other = await open(`${s.wsUrl}?channel=other${tag()}&history=0`);
  const pub = await open(`${s.wsDirect}?channel=${channel}&history=0`);
  const ids = [];
  for (let i = 0; i < 5; i++) {
    ids.push((await post(channel, `http ${i}`)).id);
    pub.send(JSON.stringify({ type: 'send', user: 'ws', text: `ws ${i}` }));
  }
  await until(() => messages(sub).length >= 10, 15000, 'ten messages');
  await until(() => messages(pub).length >= 10, 15000, 'ten messages on the sender');
  const got = messages(sub);
  assert.equal(got.length, 10);
  for (let i = 1; i < got.length; i++) assert.ok(got[i].id > got[i - 1].id, 'ascending ids');
  for (const id of ids) assert.ok(got.some((m) => m.id === id), `http message ${id} delivered`);
  assert.deepEqual(got.filter((m) => m.via === 'ws').map((m) => m.text), [0, 1, 2, 3, 4].map((i) => `ws ${i}`));
  assert.deepEqual(messages(pub), got, 'the sender sees the same sequence');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(messages(other).length, 0, 'another channel gets nothing');
  for (const ws of [sub, other, pub]) ws.close();
});

test('history and since on connect replay first, then live', async () => {
  const channel = `h${tag()}`;
  const sent = [];
  for (let i = 0; i < 30; i++) sent.push(await post(channel, `m${i}`));
  const h = await open(`${s.wsUrl}?channel=${channel}`);            // default history 20
  const h5 = await open(`${s.wsUrl}?channel=${channel}&history=5`);
  const since = await open(`${s.wsUrl}?channel=${channel}&since=${sent[24].id}`);
  const future = await open(`${s.wsUrl}?channel=${channel}&since=999999999999`); // store "recreated"
  await until(() => messages(h).length >= 20 && messages(h5).length >= 5 && messages(since).length >= 5);
  assert.deepEqual(messages(h).map((m) => m.id), sent.slice(10).map((m) => m.id));
  assert.deepEqual(messages(h5).map((m) => m.id), sent.slice(25).map((m) => m.id));
  assert.deepEqual(messages(since).map((m) => m.id), sent.slice(25).map((m) => m.id));
  const live = await post(channel, 'live');
  await until(() => [h, h5, since, future].every((ws) => messages(ws).some((m) => m.id === live.id)));
  assert.deepEqual(messages(future).map((m) => m.id), [live.id], 'a since from the future starts at the end');
  for (const ws of [h, h5, since, future]) ws.close();
});

test('resume with since after a helper restart loses and duplicates nothing', async () => {
  const channel = `r${tag()}`;
  const ws = await open(`${s.wsUrl}?channel=${channel}&history=0`);
  const m1 = await post(channel, 'before');
  await until(() => messages(ws).length === 1);
  const lastId = messages(ws)[0].id;
  assert.equal(lastId, m1.id);

  await s.stopHelper();
  await until(() => ws.closeCode !== null, 10000, 'the close');
  assert.equal(ws.closeCode, 1001, 'SIGTERM closes clients with 1001');
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push((await post(channel, `while down ${i}`)).id);
  await s.startHelper();

  const again = await open(`${s.wsUrl}?channel=${channel}&since=${lastId}`);
  await until(() => messages(again).length >= 3, 10000, 'the missed messages');
  again.send(JSON.stringify({ type: 'send', user: 'back', text: 'after' }));
  await until(() => messages(again).length >= 4, 10000, 'the live one');
  await new Promise((r) => setTimeout(r, 500));
  const ids = messages(again).map((m) => m.id);
  assert.deepEqual(ids.slice(0, 3), missed);
  assert.equal(ids.length, 4, 'nothing twice');
  assert.ok(ids[3] > missed[2]);
  again.close();
});

/** Opens a raw socket, completes the handshake, then writes bytes. */
function raw(url, bytes, { vanish = false } = {}) {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = net.connect(Number(u.port), u.hostname, () => {
      sock.write('GET /ws?history=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      sock.write(bytes);
      if (vanish) { setTimeout(() => { sock.destroy(); resolve(); }, 100); }
    });
    sock.on('data', () => {});
    sock.on('close', resolve);
    sock.on('error', () => resolve());
    setTimeout(() => { sock.destroy(); resolve(); }, 5000);
  });
}

test('bad input never crashes the helper: other clients keep being served', async () => {
  const channel = `b${tag()}`;
  const pid = helperPid();
  assert.ok(pid);
  const good = await open(`${s.wsUrl}?channel=${channel}&history=0`);
  const randomBytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 255));
  await Promise.all([
    raw(s.wsDirect, randomBytes),                                        // garbage frames
    raw(s.wsUrl, randomBytes),                                           // the same through Apache
    raw(s.wsDirect, Buffer.from([0x81, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, 5, 6]), { vanish: true }), // mid-frame
    raw(s.wsDirect, Buffer.from([0x81]), { vanish: true }),              // mid-header
    raw(s.wsDirect, Buffer.from([0x81, 0x85, 0, 0, 0, 0, 0x7b, 0x7d, 0x5b, 0x5d, 0x22])), // bad JSON
    new Promise((resolve) => {                                           // half a handshake, then gone
      const sock = net.connect(s.wsPort, '127.0.0.1', () => { sock.write('GET /ws HTTP/1.1\r\nHo'); sock.destroy(); resolve(); });
      sock.on('error', resolve);
    }),
  ]);
  // bad JSON over a real client: closed with 1008, the others untouched
  const bad = await open(`${s.wsUrl}?channel=${channel}&history=0`);
  bad.send('{"type":"send","text":');
  await until(() => bad.closeCode !== null);
  assert.equal(bad.closeCode, 1008);

  const m = await post(channel, 'still served');
  await until(() => messages(good).some((x) => x.id === m.id), 10000, 'delivery after the abuse');
  assert.equal(good.readyState, WebSocket.OPEN);
  assert.equal(helperPid(), pid);
  assert.ok(s.serverPids().includes(pid), 'the same helper process is alive');
  good.close();
});

// ---- our own helper processes, on a database of their own ---------------------

function handshakeStatus(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => { ws.close(); resolve(101); });
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy(); });
    ws.on('error', (e) => { if (!/Unexpected server response/.test(e.message)) reject(e); });
  });
}

test('a store that is not there yet: 503 at the handshake, then served once it appears', async () => {
  const db = newDbPath();
  const h = await spawnHelper(['--db', db]);
  try {
    assert.equal(await handshakeStatus(`${h.url}?history=0`), 503);
    createDb(db);
    await until(() => /open, newest id/.test(h.log), 10000, 'the helper to open the store');
    const ws = await open(`${h.url}?channel=late&history=0`);
    ws.send(JSON.stringify({ type: 'send', user: 'u', text: 'stored at last' }));
    await until(() => messages(ws).length === 1);
    assert.equal(messages(ws)[0].text, 'stored at last');
    ws.close();
  } finally {
    assert.equal(await h.stop(), 0);
  }
});

test('a client too slow for its queue is closed with 1008 and resumes with since, losing nothing', async () => {
  const db = newDbPath();
  createDb(db);
  // A small queue and kernel send buffer, so a few hundred KB make it overflow.
  const h = await spawnHelper(['--db', db], { RT_WS_QUEUE_MAX: '65536', RT_WS_SNDBUF: '16384' });
  try {
    const channel = 'slow';
    // The slow client: a raw socket that completes the handshake and then
    // does not read, so the kernel buffers fill and the helper's queue grows.
    const u = new URL(h.url);
    const slow = net.connect(Number(u.port), u.hostname);
    slow.pause();
    await new Promise((r) => slow.once('connect', r));
    slow.write(`GET /ws?channel=${channel}&history=0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));

    const pub = await open(`${h.url}?channel=${channel}&history=0`);
    // The publisher reads its own copies as it goes (ten at a time), so it
    // never lags itself; the silent client falls behind.
    const big = 'x'.repeat(4000);
    for (let i = 0; i < 400; i += 10) {
      for (let k = i; k < i + 10; k++) pub.send(JSON.stringify({ type: 'send', user: 'p', text: `${k} ${big}` }));
      await until(() => messages(pub).length === i + 10, 20000, `the publisher's copies up to ${i + 10}`);
    }
    await until(() => /client too slow/.test(h.log), 10000, 'the helper to drop the slow client');

    // Now read everything the slow client was sent: messages, then close 1008.
    const bytes = await new Promise((resolve) => {
      const parts = [];
      slow.on('data', (b) => parts.push(b));
      slow.on('end', () => resolve(Buffer.concat(parts)));
      slow.on('error', () => resolve(Buffer.concat(parts)));
      slow.resume();
    });
    const body = bytes.subarray(bytes.indexOf('\r\n\r\n') + 4);
    const frames = [];
    for (let pos = 0; pos + 2 <= body.length;) {
      let len = body[pos + 1] & 0x7f, h2 = 2;
      if (len === 126) { len = body.readUInt16BE(pos + 2); h2 = 4; }
      if (pos + h2 + len > body.length) break;
      frames.push({ opcode: body[pos] & 0x0f, payload: body.subarray(pos + h2, pos + h2 + len) });
      pos += h2 + len;
    }
    const last = frames.at(-1);
    assert.equal(last.opcode, 8);
    assert.equal(last.payload.readUInt16BE(0), 1008);
    const got = frames.filter((f) => f.opcode === 1).map((f) => JSON.parse(f.payload).message);
    assert.ok(got.length < 400, `dropped before the end (${got.length} delivered)`);
    const all = messages(pub);
    assert.deepEqual(got.map((m) => m.id), all.slice(0, got.length).map((m) => m.id), 'a prefix, in order');

    // It resumes from the last id it saw and gets exactly the rest.
    const since = got.length ? got.at(-1).id : 0;
    const again = await open(`${h.url}?channel=${channel}&since=${since}`);
    await until(() => messages(again).length >= 400 - got.length, 30000, 'the rest');
    assert.deepEqual(messages(again).map((m) => m.id), all.slice(got.length).map((m) => m.id));
    again.close();
    pub.close();
  } finally {
    await h.stop();
  }
});

test('a store recreated under the helper: clients are closed with 1012 and resume on the new one', async () => {
  const db = newDbPath();
  createDb(db);
  const h = await spawnHelper(['--db', db]);
  try {
    const ws = await open(`${h.url}?channel=re&history=0`);
    for (let i = 0; i < 3; i++) ws.send(JSON.stringify({ type: 'send', user: 'u', text: `old ${i}` }));
    await until(() => messages(ws).length === 3, 10000, 'the three old messages');
    const lastOld = messages(ws)[2].id;
    // What an admin does: remove the database and create it again.
    execFileSync('rm', ['-f', db, `${db}-wal`, `${db}-shm`]);
    createDb(db);
    await until(() => ws.closeCode !== null, 10000, 'the helper to close the client');
    assert.equal(ws.closeCode, 1012);
    assert.match(h.log, /was replaced/);
    await until(() => (h.log.match(/open, newest id 0/g) ?? []).length === 2, 10000,
      'the helper to reopen the new store');
    // The client resumes from its last id, above the new store's end: it
    // starts from the current end and gets the new messages, ids from 1.
    const again = await open(`${h.url}?channel=re&since=${lastOld}`);
    again.send(JSON.stringify({ type: 'send', user: 'u', text: 'new' }));
    await until(() => messages(again).length === 1, 10000, 'the new message');
    assert.deepEqual(messages(again).map((m) => [m.id, m.text]), [[1, 'new']]);
    again.close();
  } finally {
    assert.equal(await h.stop(), 0);
  }
});

// ---- the helper's limits (issue 11 item 5), on databases of their own ----------

test('a field of the wrong type is answered like an empty field (error frame); not-JSON and unknown types close 1008', async () => {
  const h = await spawnHelper(['--db', createDb(newDbPath())]);
  try {
    const ws = await open(`${h.url}?channel=types&history=0`);
    ws.send(JSON.stringify({ type: 'send', user: 'u', text: 5 }));
    ws.send(JSON.stringify({ type: 'send', user: 'u', text: '' }));
    ws.send(JSON.stringify({ type: 'send', user: ['u'], text: 'x' }));
    ws.send(JSON.stringify({ type: 'send', user: 'u', text: 'fine' }));
    await until(() => ws.frames.length >= 4, 10000, 'three errors and the message');
    const errors = ws.frames.filter((f) => f.type === 'error');
    assert.deepEqual(errors.map((e) => [e.error, e.detail]), [
      ['bad_request', 'text is not a string'],
      ['bad_request', 'text is empty'],
      ['bad_request', 'user is not a string'],
    ]);
    assert.deepEqual(messages(ws).map((m) => m.text), ['fine'], 'still open, still served');
    assert.equal(ws.closeCode, null);
    ws.send(JSON.stringify({ type: 5, text: 'x' }));
    await until(() => ws.closeCode !== null, 10000, 'the close');
    assert.equal(ws.closeCode, 1008, 'a type that is not a string is not a known type');
    const ws2 = await open(`${h.url}?channel=types&history=0`);
    ws2.send('{"type":"send","text":');
    await until(() => ws2.closeCode !== null, 10000, 'the close');
    assert.equal(ws2.closeCode, 1008, 'not JSON');
  } finally {
    assert.equal(await h.stop(), 0);
  }
});

test('a held write lock does not freeze the helper: pings are answered meanwhile, the message is stored after', async () => {
  const db = createDb(newDbPath());
  const h = await spawnHelper(['--db', db]);
  const locker = spawn('python3', ['-c', [
    'import sqlite3, sys, time',
    'c = sqlite3.connect(sys.argv[1], isolation_level=None)',
    "c.execute('BEGIN IMMEDIATE')",
    "print('locked', flush=True)",
    'time.sleep(4)',
    "c.execute('COMMIT')",
    "print('released', flush=True)",
  ].join('\n'), db]);
  try {
    let out = '';
    let releasedAt = null;
    locker.stdout.on('data', (b) => { out += b; if (/released/.test(out) && !releasedAt) releasedAt = Date.now(); });
    const ws = await open(`${h.url}?channel=lock&history=0`);
    await until(() => /locked/.test(out), 10000, 'the lock');
    // A burst of 200 from one client: the helper holds its input past 32
    // waiting (TCP flow control), refuses none, loses none.
    const burst = await open(`${h.url}?channel=lock&history=0`);
    for (let i = 0; i < 200; i++) burst.send(JSON.stringify({ type: 'send', user: 'b', text: `burst ${i}` }));
    ws.send(JSON.stringify({ type: 'send', user: 'u', text: 'while locked' }));
    await new Promise((r) => setTimeout(r, 300));   // the inserts now wait for the lock
    const pongAt = await new Promise((resolve) => { ws.once('pong', () => resolve(Date.now())); ws.ping('x'); });
    assert.equal(releasedAt, null, 'the pong came while the lock was still held');
    await until(() => messages(ws).length === 201, 30000, 'the messages, once the lock is gone');
    assert.ok(releasedAt && pongAt < releasedAt);
    assert.deepEqual(messages(ws).filter((m) => m.user === 'b').map((m) => m.text),
      Array.from({ length: 200 }, (_, i) => `burst ${i}`), 'the burst, whole and in order');
    assert.ok(messages(ws).some((m) => m.text === 'while locked'));
    assert.deepEqual(burst.frames.filter((f) => f.type === 'error'), [], 'nothing refused');
    burst.close();
    ws.close();
  } finally {
    locker.kill();
    assert.equal(await h.stop(), 0);
  }
});

test('out of memory while queueing closes with 1011, and the client resumes with since, losing nothing', async () => {
  const db = createDb(newDbPath());
  // Fault injection: every 5th queue allocation of the helper fails.
  const h = await spawnHelper(['--db', db], { RT_WS_FAULT_QUEUE: '5' });
  try {
    const channel = 'oom';
    const got = [];
    let closes1011 = 0;
    let since = null;
    let ws = await open(`${h.url}?channel=${channel}&history=0`);
    const rows = Array.from({ length: 12 }, (_, i) =>
      `INSERT INTO messages (channel, user, text, ts, via) VALUES ('${channel}', 'sql', 'm${i}', 0, 'http');`);
    execFileSync('sqlite3', ['-cmd', '.timeout 5000', db, rows.join('\n')]);
    const ids = execFileSync('sqlite3', [db, `SELECT id FROM messages WHERE channel = '${channel}' ORDER BY id`])
      .toString().trim().split('\n').map(Number);
    for (let round = 0; round < 30 && got.length < ids.length; round++) {
      await until(() => ws.closeCode !== null || got.length + messages(ws).length >= ids.length, 10000, 'delivery or close');
      await new Promise((r) => setTimeout(r, 100));
      got.push(...messages(ws));
      if (ws.closeCode === null) break;
      assert.equal(ws.closeCode, 1011, 'the only close is 1011');
      closes1011++;
      since = got.length ? got.at(-1).id : ids[0] - 1;
      ws = await open(`${h.url}?channel=${channel}&since=${since}`);
    }
    assert.ok(closes1011 >= 1, 'the fault closed the client with 1011');
    assert.deepEqual(got.map((m) => m.id), ids, 'every row exactly once, in order');
    ws.close();
  } finally {
    await h.stop();
  }
});
