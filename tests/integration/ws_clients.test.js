// ws_clients.test.js — strict, widely used clients talk to the helper:
// npm `ws` with its default options, and Debian's python3-websockets
// (tests/integration/ws_client.py), directly, through Apache
// (mod_fcgid stack; mod_proxy_wstunnel's ws:// form and the 2.4.47+
// upgrade=websocket form) and through lighttpd (mod_proxy with the upgrade
// header).  Both libraries check the handshake's accept
// value and every frame they get, so any framing mistake fails here.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startStack } from '../lib/servers.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
// The helper pings every second here, so the tests also see pings answered
// by the clients and the connections survive them.
const ENV = { RT_WS_PING: '1' };

/** Opens a WebSocket and collects its frames as parsed JSON. */
function open(url, opts) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.frames = [];
    ws.pings = 0;
    ws.on('message', (d) => ws.frames.push(JSON.parse(d.toString())));
    ws.on('ping', () => ws.pings++);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

async function until(pred, ms = 10000, what = 'condition') {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function closeAndWait(ws, code = 1000) {
  return new Promise((resolve) => {
    ws.once('close', (c) => resolve(c));
    ws.close(code, 'bye');
  });
}

function python(url, user, text) {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [path.join(HERE, 'ws_client.py'), url, user, text],
      { timeout: 30000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

let apache, lighttpd;
const targets = [];

// The 2.4.47+ form of apache-conf/rtlab-ws.conf, mounted beside the classic
// one so both are exercised: mod_proxy_http tunnels the upgrade itself.
const UPGRADE_CONF = `ProxyPass "/up/ws" "http://127.0.0.1:\${RTLAB_WS_PORT}/ws" upgrade=websocket\n`;

before(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'rtlab-wsconf-'));
  writeFileSync(path.join(dir, 'upgrade.conf'), UPGRADE_CONF);
  apache = await startStack({ server: 'apache', mode: 'fcgid', env: ENV,
    extraConf: path.join(dir, 'upgrade.conf') });
  lighttpd = await startStack({ server: 'lighttpd', mode: 'fastcgi', env: ENV });
  // Same origin means the same host:port as the URL the page connects to:
  // the helper's own port when it is reached directly.
  targets.push(['direct', apache.wsDirect, `http://127.0.0.1:${apache.wsPort}`]);
  targets.push(['apache', apache.wsUrl, apache.base]);
  targets.push(['apache upgrade=websocket', `${apache.base.replace('http:', 'ws:')}/up/ws`, apache.base]);
  targets.push(['lighttpd', lighttpd.wsUrl, lighttpd.base]);
});

after(async () => {
  await apache?.stop();
  await lighttpd?.stop();
});

const tick = () => Math.random().toString(36).slice(2, 8);

test('npm ws (default options): send, fan-out to a second client, pings, close 1000', async () => {
  for (const [via, url, base] of targets) {
    const channel = `c${tick()}`;
    // a browser-like client sends its page's Origin: same host, so allowed
    const a = await open(`${url}?channel=${channel}&history=0`, { origin: base });
    const b = await open(`${url}?channel=${channel}&history=0`);
    const text = `hello ${via} ✓ ${tick()}`;
    a.send(JSON.stringify({ type: 'send', user: 'ålice', text }));
    await until(() => a.frames.length >= 1 && b.frames.length >= 1, 10000, `${via}: delivery`);
    for (const ws of [a, b]) {
      const f = ws.frames[0];
      assert.equal(f.type, 'message', via);
      assert.equal(f.message.text, text);
      assert.equal(f.message.user, 'ålice');
      assert.equal(f.message.channel, channel);
      assert.equal(f.message.via, 'ws');
      assert.ok(Number.isInteger(f.message.id) && f.message.id > 0);
      assert.ok(Math.abs(f.message.ts - Date.now()) < 60000);
    }
    assert.deepEqual(a.frames[0], b.frames[0], `${via}: both got the same frame`);
    // the helper pings every second; the connection must survive pings
    await until(() => a.pings >= 2, 10000, `${via}: pings`);
    assert.equal(a.readyState, WebSocket.OPEN, `${via}: still open after pings`);
    assert.equal(await closeAndWait(a), 1000, `${via}: close echoed`);
    assert.equal(await closeAndWait(b, 4000), 4000, `${via}: application code echoed`);
  }
});

test('npm ws: a bad field earns an error frame, the connection stays usable', async () => {
  for (const [via, url] of targets) {
    const ws = await open(`${url}?channel=e${tick()}&history=0`);
    ws.send(JSON.stringify({ type: 'send', user: 'x', text: '' }));
    ws.send(JSON.stringify({ type: 'send', user: 'x'.repeat(33), text: 'hi' }));
    ws.send(JSON.stringify({ type: 'send', text: 'defaults' }));
    await until(() => ws.frames.length >= 3, 10000, `${via}: answers`);
    assert.equal(ws.frames[0].type, 'error');
    assert.equal(ws.frames[0].error, 'bad_request');
    assert.match(ws.frames[0].detail, /text/);
    assert.equal(ws.frames[1].type, 'error');
    assert.match(ws.frames[1].detail, /user/);
    assert.equal(ws.frames[2].type, 'message');
    assert.equal(ws.frames[2].message.user, 'anon');
    await closeAndWait(ws);
  }
});

test('npm ws: not JSON, an unknown type, a binary frame → close 1008', async () => {
  for (const [via, url] of targets) {
    for (const bad of ['not json', '{"type":"dance"}', '[1,2]', Buffer.from('{"type":"send"}')]) {
      const ws = await open(`${url}?history=0`);
      const code = await new Promise((resolve) => {
        ws.once('close', resolve);
        ws.send(bad);
      });
      assert.equal(code, 1008, `${via}: ${bad}`);
    }
  }
});

test('npm ws: a cross-origin page is refused at the handshake with 403', async () => {
  for (const [via, url] of targets) {
    await assert.rejects(open(url, { origin: 'http://evil.example' }), /HTTP 403/, via);
  }
});

test('python3-websockets: ping, send, receive through the store, close 1000', async () => {
  for (const [via, url] of targets) {
    const text = `from python ${via} ${tick()}`;
    const r = await python(`${url}?channel=py${tick()}&history=0`, 'py', text);
    assert.equal(r.code, 0, `${via}: ${r.stderr}`);
    const m = JSON.parse(r.stdout);
    assert.equal(m.text, text);
    assert.equal(m.via, 'ws');
  }
});
