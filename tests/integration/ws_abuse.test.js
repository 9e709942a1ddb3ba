// ws_abuse.test.js — load and abuse side by side (issue 11): one helper
// process holds, all at once, 1,000 idle WebSockets, 32 clients flooding
// pings (half of them never reading), 500 half-open TCP connections (half a
// request head, then silence) and 50 subscribers that never read their
// socket, while a normal client chats and a fast client reads.  The chat
// must arrive whole and in order at the chatter and at the fast client, and
// the helper's RSS must stay bounded.  Bounded in time (≈ 30 s).
//
// The RSS bound: about 5 MB at start; each idle WebSocket costs < 1 KiB;
// each half-open connection holds its 8 KiB request buffer (500 × 8 KiB =
// 4 MB); a pong flood holds at most one pong per client (§5.5.3); a slow
// reader's queue holds references to shared frames, and is cut at
// RT_WS_QUEUE_MAX (256 KiB here).  So the expected peak is ≈ 15 MB
// (measured: 5.0 MB at start, 11 MB peak with 1,584 connections); the test
// asserts a generous 64 MiB.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { openWs, messages, until, newDb } from '../lib/ws.js';
import { spawnHelper } from './wsd_spawn.js';

// Under the sanitizer pass (RT_TEST_ASAN=1) ASan's shadow memory and its
// quarantine of freed blocks add their own hundreds of MB: a looser bound.
const RSS_BOUND_KB = (process.env.RT_TEST_ASAN === '1' ? 1024 : 64) * 1024;

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const request = (query) => `GET /ws?${query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
  `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;

/** A masked ping frame with a 2-byte payload. */
const PING = Buffer.from([0x89, 0x82, 1, 2, 3, 4, 0x71 ^ 1, 0x72 ^ 2]);

function rssKb(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) : 0;
}

/** A raw client that completes the handshake; resolves once the 101 came.
 *  read: false pauses the socket after the 101 (a client that never reads). */
function rawClient(port, query, { read = true } = {}) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(request(query)));
    let head = '';
    const onData = (b) => {
      head += b.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onData);
      if (!/^HTTP\/1\.1 101 /.test(head)) { sock.destroy(); reject(new Error(head.split('\r\n')[0])); return; }
      if (read) sock.on('data', () => {});
      else sock.pause();
      resolve(sock);
    };
    sock.on('data', onData);
    sock.on('error', () => {});
  });
}

async function inBatches(n, size, make) {
  const all = [];
  for (let i = 0; i < n; i += size) {
    all.push(...await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => make(i + k))));
  }
  return all;
}

test('1,000 idle + 32 ping floods + 500 half-open + 50 slow readers: the chat goes on, RSS stays bounded', async () => {
  const h = await spawnHelper(['--db', newDb()], { RT_WS_QUEUE_MAX: '262144', RT_WS_SNDBUF: '16384' });
  const sockets = [];
  const timers = [];
  let peak = 0;
  const sampler = setInterval(() => { peak = Math.max(peak, rssKb(h.pid)); }, 100);
  try {
    const rss0 = rssKb(h.pid);
    // 1,000 idle WebSockets on channels of their own.
    sockets.push(...await inBatches(1000, 100, (i) => rawClient(h.port, `channel=idle${i % 50}&history=0`)));
    // 500 half-open TCP connections: half a request head, then nothing.
    sockets.push(...await inBatches(500, 100, () => new Promise((resolve) => {
      const sock = net.connect(h.port, '127.0.0.1', () => { sock.write('GET /ws HTTP/1.1\r\nHo'); resolve(sock); });
      sock.on('error', () => resolve(sock));
    })));
    // 32 ping floods, 50 pings every 20 ms each; the odd ones never read.
    const floods = await inBatches(32, 32, (i) => rawClient(h.port, 'channel=flood&history=0', { read: i % 2 === 0 }));
    sockets.push(...floods);
    const burst = Buffer.concat(Array(50).fill(PING));
    for (const sock of floods) {
      timers.push(setInterval(() => { if (sock.writableLength < 65536) sock.write(burst); }, 20));
    }
    // 50 subscribers of the chat channel that never read their socket.
    sockets.push(...await inBatches(50, 50, () => rawClient(h.port, 'channel=chat&history=0', { read: false })));

    // The chat: 150 messages of 3,000 bytes, one every 20 ms, read back by
    // their sender and by a fast reader.  The slow readers fall behind,
    // past the 256 KiB queue bound: they are closed (1008), nobody else is.
    const fast = await openWs(`${h.url}?channel=chat&history=0`);
    const chat = await openWs(`${h.url}?channel=chat&history=0`);
    const N = 150;
    const pad = 'x'.repeat(3000);
    for (let i = 0; i < N; i++) {
      chat.send(JSON.stringify({ type: 'send', user: 'chat', text: `${i} ${pad}` }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => messages(chat).length === N && messages(fast).length === N, 60000, 'the whole chat');
    const texts = messages(fast).map((m) => Number(m.text.split(' ')[0]));
    assert.deepEqual(texts, Array.from({ length: N }, (_, i) => i), 'the fast reader: all, in order');
    assert.deepEqual(messages(chat).map((m) => m.id), messages(fast).map((m) => m.id));
    assert.equal(fast.closeCode, null);
    assert.match(h.log, /client too slow/, 'the slow readers were cut, not buffered without bound');

    peak = Math.max(peak, rssKb(h.pid));
    console.log(`helper RSS: ${rss0} kB at start, peak ${peak} kB with ${sockets.length + 2} connections`);
    assert.ok(peak < RSS_BOUND_KB, `peak RSS ${peak} kB < ${RSS_BOUND_KB} kB`);
    assert.equal(h.exitCode, null, 'the helper is alive');
    fast.close();
    chat.close();
  } finally {
    clearInterval(sampler);
    for (const t of timers) clearInterval(t);
    for (const sock of sockets) sock.destroy();
    assert.equal(await h.stop(), 0);
  }
});
