#!/usr/bin/env node
// ws-idle.mjs — hold many idle WebSockets on the helper, then time one
// message to all of them.  A measuring tool (docs/websockets.md), not a test.
//
//   node tools/ws-idle.mjs --url ws://127.0.0.1:8081/ws --clients 100000 \
//        --procs 6 --pids $(pgrep -o rtlab-wsd)
//
// The clients are spread over --procs node processes (a process here may
// hold 20,000 open files) and over --srcs loopback source addresses
// (127.0.0.2, 127.0.0.3, …; default one per 5,000 clients): a socket bound
// to an address before connect() gets its port from about half of
// ip_local_port_range (Linux keeps the other half for connect()), ~14,000
// here, and ran out at ~15,000 clients per address.
// Each opens its share at most 200 handshakes at a time, so none waits past
// the helper's 10 s handshake deadline.  Then: the helper's RSS (every pid
// in --pids and its descendants, from /proc), one message sent by one more
// client, and the time until the last client has it.  The clients do not
// answer pings: run the helper with RT_WS_PING=3600 for a long hold.

import { fork } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const request = (u, query) => `GET ${u.pathname}?${query} HTTP/1.1\r\nHost: ${u.host}\r\n` +
  `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
  'Sec-WebSocket-Version: 13\r\n\r\n';

function args() {
  const a = { url: 'ws://127.0.0.1:8081/ws', clients: 1000, procs: 1, srcs: 0, pids: '', channel: `idle${process.pid}` };
  for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
  a.clients = Number(a.clients);
  a.procs = Number(a.procs);
  a.srcs = Number(a.srcs) || Math.max(a.procs, Math.ceil(a.clients / 5000));
  return a;
}

// ---- a child: its share of the clients ---------------------------------------

function openOne(u, query, localAddress, marker, onMarker) {
  return new Promise((resolve) => {
    const sock = net.connect({ port: Number(u.port), host: u.hostname, localAddress });
    let head = '', tail = '', open = false;
    sock.on('connect', () => sock.write(request(u, query)));
    sock.on('data', (b) => {
      const s = b.toString('latin1');
      if (!open) {
        head += s;
        if (!head.includes('\r\n\r\n')) return;
        open = /^HTTP\/1\.1 101 /.test(head);
        resolve(open ? sock : null);
        if (!open) sock.destroy();
        return;
      }
      tail = (tail + s).slice(-400);
      if (marker.value && tail.includes(marker.value)) { tail = ''; onMarker(Date.now()); }
    });
    // Refused, reset, or closed before the 101 (e.g. past the helper's
    // handshake deadline on a starved machine): counted as not held.
    sock.on('error', () => { if (!open) resolve(null); });
    sock.on('close', () => { if (!open) resolve(null); });
  });
}

async function child() {
  const { url, count, srcs, channel } = JSON.parse(process.env.WS_IDLE_CHILD);
  const u = new URL(url);
  const marker = { value: null };
  const socks = [];
  let arrived = 0, last = 0;
  process.on('message', (m) => { if (m.marker) marker.value = m.marker; });
  const onMarker = (t) => {
    arrived++;
    last = Math.max(last, t);
    if (arrived === socks.length) process.send({ arrived, last });
  };
  // At most 200 handshakes in flight; a failed one is tried again, twice.
  for (let tries = 0, want = count; tries < 3 && want > 0; tries++, want = count - socks.length) {
    for (let i = 0; i < want; i += 200) {
      const batch = Array.from({ length: Math.min(200, want - i) },
        (_, k) => openOne(u, `channel=${channel}&history=0`, srcs[(i + k) % srcs.length], marker, onMarker));
      for (const s of await Promise.all(batch)) if (s) socks.push(s);
    }
  }
  process.send({ held: socks.length });
}

// ---- the parent ---------------------------------------------------------------

function rssKb(pids) {
  const stats = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      stats.push({ pid: Number(name), ppid: Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch { /* gone */ }
  }
  const mine = new Set(pids);
  for (let changed = true; changed;) {
    changed = false;
    for (const st of stats) if (!mine.has(st.pid) && mine.has(st.ppid)) { mine.add(st.pid); changed = true; }
  }
  let kb = 0;
  for (const pid of mine) {
    try { kb += Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]); } catch { /* gone */ }
  }
  return kb;
}

async function parent() {
  const a = args();
  const pids = a.pids ? a.pids.split(',').map(Number) : [];
  const rss0 = rssKb(pids);
  const kids = [];
  const t0 = Date.now();
  for (let i = 0; i < a.procs; i++) {
    const count = Math.floor(a.clients / a.procs) + (i < a.clients % a.procs ? 1 : 0);
    const srcs = [];
    for (let k = i; k < a.srcs; k += a.procs) srcs.push(`127.0.0.${2 + k}`);
    const env = { ...process.env, WS_IDLE_CHILD: JSON.stringify({ url: a.url, count, srcs, channel: a.channel }) };
    const k = fork(process.argv[1], [], { env });
    k.result = new Promise((r) => k.once('message', r));
    kids.push(k);
  }
  const held = (await Promise.all(kids.map((k) => k.result))).reduce((n, m) => n + m.held, 0);
  const connectS = (Date.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 2000));
  const rss1 = rssKb(pids);
  console.log(`held ${held} of ${a.clients} WebSockets in ${connectS.toFixed(1)} s`);
  if (pids.length) {
    console.log(`helper RSS ${rss0} kB before, ${rss1} kB holding them: ` +
      `${((rss1 - rss0) * 1024 / held).toFixed(0)} bytes per connection`);
  }
  // One message to all: sent by one more client, timed until the last has it.
  const marker = `m${Date.now()}x${process.pid}`;
  for (const k of kids) { k.result = new Promise((r) => k.once('message', r)); k.send({ marker }); }
  const u = new URL(a.url);
  const pub = await openOne(u, `channel=${a.channel}&history=0`, '127.0.0.1', { value: null }, () => {});
  const text = JSON.stringify({ type: 'send', user: 'ws-idle', text: marker });
  const payload = Buffer.from(text);
  const len = payload.length < 126 ? [0x80 | payload.length] : [0x80 | 126, payload.length >> 8, payload.length & 255];
  const head = Buffer.from([0x81, ...len, 0, 0, 0, 0]);
  const sent = Date.now();
  pub.write(Buffer.concat([head, payload]));   // masked with a zero key: the bytes as they are
  const done = await Promise.race([
    Promise.all(kids.map((k) => k.result)),
    new Promise((r) => setTimeout(() => r(null), 120000)),
  ]);
  if (!done) console.log('not every client had the message within 120 s');
  else {
    const lastAt = Math.max(...done.map((m) => m.last));
    console.log(`one message to all ${done.reduce((n, m) => n + m.arrived, 0)}: ${lastAt - sent} ms until the last had it`);
  }
  pub.destroy();
  for (const k of kids) k.kill();
}

if (process.env.WS_IDLE_CHILD) child(); else parent();
