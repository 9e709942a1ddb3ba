// ws_raw.test.js — the helper's framing rules seen from a raw TCP socket.
//
// Each case writes exact bytes (a handshake, then hand-made frames, some of
// them broken on purpose) and reads back every byte the server sends until
// it closes the connection; the answer must end with a close frame carrying
// the exact code RFC 6455 and docs/protocol.md call for.  Every case runs against
// `rtlab-wsd --echo` directly and through Apache's mod_proxy_wstunnel (which
// must pass the bytes through untouched).  A real client library would
// refuse to send most of these frames, hence node's `net`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startStack } from '../lib/servers.js';
import { spawnHelper } from './wsd_spawn.js';

// ---- a raw WebSocket client -------------------------------------------------

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';   // RFC 6455 §1.3

function handshake(pathAndQuery = '/ws', extra = '') {
  return `GET ${pathAndQuery} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

/** A client frame: masked with a fixed key unless mask === false. */
function frame(opcode, payload = Buffer.alloc(0), { fin = true, rsv = 0, mask = true, len } = {}) {
  const p = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const n = len ?? p.length;
  const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 255);
  else {
    head.push(m | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    head.push(...b);
  }
  const key = [0x37, 0xfa, 0x21, 0x3d];
  if (mask) head.push(...key);
  const body = Buffer.from(p);
  if (mask) for (let i = 0; i < body.length; i++) body[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), body]);
}

const close = (code, reason = Buffer.alloc(0)) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return frame(0x8, Buffer.concat([b, Buffer.from(reason)]));
};

/** Server frames (unmasked) from a byte stream. */
function parseFrames(buf) {
  const frames = [];
  let pos = 0;
  while (pos + 2 <= buf.length) {
    const b0 = buf[pos], b1 = buf[pos + 1];
    assert.equal(b1 & 0x80, 0, 'server frames are never masked');
    let len = b1 & 0x7f, h = 2;
    if (len === 126) { len = buf.readUInt16BE(pos + 2); h = 4; }
    else if (len === 127) { len = Number(buf.readBigUInt64BE(pos + 2)); h = 10; }
    if (pos + h + len > buf.length) break;
    const payload = buf.subarray(pos + h, pos + h + len);
    frames.push({ fin: !!(b0 & 0x80), opcode: b0 & 0x0f, payload,
      code: (b0 & 0x0f) === 8 && len >= 2 ? payload.readUInt16BE(0) : undefined });
    pos += h + len;
  }
  return { frames, rest: buf.length - pos };
}

/**
 * Connects, sends the handshake, then each of steps: a Buffer to write, or
 * a number of ms to wait.  Resolves when the server closes (or after
 * timeout ms) with { head, frames, ended, closedAt }.
 */
function session(url, steps, { timeout = 8000, request } = {}) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname);
    let data = Buffer.alloc(0);
    let ended = false;
    const events = [];   // [time, bytes so far] on each chunk received
    const writes = [];   // time of each step written
    const timer = setTimeout(() => finish(), timeout);
    function finish() {
      clearTimeout(timer);
      sock.destroy();
      const sep = data.indexOf('\r\n\r\n');
      const head = sep < 0 ? data.toString('latin1') : data.subarray(0, sep).toString('latin1');
      const body = sep < 0 ? Buffer.alloc(0) : data.subarray(sep + 4);
      resolve({ head, body, ended, events, writes, ...parseFrames(body) });
    }
    sock.on('data', (b) => { data = Buffer.concat([data, b]); events.push([Date.now(), data.length]); });
    sock.on('end', () => { ended = true; finish(); });
    sock.on('error', (e) => { if (e.code === 'ECONNRESET') { ended = true; finish(); } else reject(e); });
    sock.on('connect', async () => {
      sock.write(request ?? handshake());
      for (const s of steps) {
        if (typeof s === 'number') await new Promise((r) => setTimeout(r, s));
        else if (!sock.destroyed) { writes.push(Date.now()); sock.write(s); }
      }
    });
  });
}

function assertClosedWith(r, code, what) {
  assert.match(r.head, /^HTTP\/1\.1 101 /, `${what}: handshake`);
  assert.match(r.head, new RegExp(`Sec-WebSocket-Accept: ${ACCEPT.replace(/[+/]/g, '\\$&')}`, 'i'));
  const last = r.frames[r.frames.length - 1];
  assert.ok(last, `${what}: no frame came back`);
  assert.equal(last.opcode, 8, `${what}: the last frame is a close`);
  assert.equal(last.code, code, `${what}: close code`);
  assert.ok(r.ended, `${what}: the server closed the TCP connection`);
}

// ---- the cases ----------------------------------------------------------------

const CLOSE_CASES = [
  // reserved bits and opcodes (§5.2)
  ['RSV1 on a text frame', [frame(1, 'hi', { rsv: 4 })], 1002],
  ['RSV3 on a ping', [frame(9, '', { rsv: 1 })], 1002],
  ['reserved opcode 3', [frame(3, 'x')], 1002],
  ['reserved control opcode 0xB', [frame(0xb)], 1002],
  // masking (§5.1)
  ['unmasked client frame', [frame(1, 'hi', { mask: false })], 1002],
  // control frames (§5.5)
  ['ping of 126 bytes', [frame(9, Buffer.alloc(126, 0x61))], 1002],
  ['fragmented ping', [frame(9, 'a', { fin: false })], 1002],
  // fragmentation (§5.4)
  ['continuation without a start', [frame(0, 'x')], 1002],
  ['new text inside a fragmented message', [frame(1, 'a', { fin: false }), frame(1, 'b')], 1002],
  // UTF-8 (§8.1)
  ['invalid UTF-8 text', [frame(1, Buffer.from([0xce, 0xba, 0xff]))], 1007],
  ['UTF-8 split over fragments, then broken',
    [frame(1, Buffer.from([0xe2, 0x82]), { fin: false }), frame(0, Buffer.from([0x41]))], 1007],
  ['message ending inside a code point', [frame(1, Buffer.from([0x61, 0xe2, 0x82]))], 1007],
  // close frames (§5.5.1, §7.4)
  ['close with a 1-byte body', [frame(8, Buffer.from([0x03]))], 1002],
  ['close code 999', [close(999)], 1002],
  ['close code 1005 on the wire', [close(1005)], 1002],
  ['close code 1016', [close(1016)], 1002],
  ['close code 5000', [close(5000)], 1002],
  ['close reason not UTF-8', [close(1000, Buffer.from([0xff]))], 1007],
  // sizes (docs/protocol.md: 64 KiB)
  ['one frame over 64 KiB (header alone)', [frame(2, Buffer.alloc(0), { len: 65537 }).subarray(0, 14)], 1009],
  ['64-bit length with the top bit set',
    [Buffer.from([0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])], 1002],
  ['fragments adding up to 64 KiB + 1',
    [frame(2, Buffer.alloc(65536, 1), { fin: false }), frame(0, Buffer.alloc(1, 1))], 1009],
  // the peer's own close is echoed (§5.5.1)
  ['a normal close 1000', [close(1000, 'bye')], 1000],
  ['an application close 4000', [close(4000)], 4000],
];

let stack, echoHelper;
const targets = {};

before(async () => {
  // Apache in front, and our own helper in --echo mode on the port Apache
  // proxies /ws to, in place of the stack's own helper.
  stack = await startStack({ server: 'apache', mode: 'fcgid', ws: true });
  await stack.stopHelper();
  echoHelper = await spawnHelper(['--echo'], {}, stack.wsPort);
  targets.direct = echoHelper.url;
  targets.apache = stack.wsUrl;
});

after(async () => {
  await echoHelper?.stop();
  await stack?.stop();
});

for (const via of ['direct', 'apache']) {
  for (const [name, steps, code] of CLOSE_CASES) {
    test(`${via}: ${name} → close ${code}`, async () => {
      const r = await session(targets[via], steps);
      assertClosedWith(r, code, name);
    });
  }

  test(`${via}: an empty close is answered with an empty close`, async () => {
    const r = await session(targets[via], [frame(8)]);
    assert.match(r.head, /^HTTP\/1\.1 101 /);
    const last = r.frames.at(-1);
    assert.equal(last.opcode, 8);
    assert.equal(last.payload.length, 0);
    assert.ok(r.ended);
  });

  test(`${via}: echo of text, binary, fragments with a ping between, 16- and 64-bit lengths`, async () => {
    const big = Buffer.alloc(65536, 0x62);
    const r = await session(targets[via], [
      frame(1, 'héllo'),
      frame(2, Buffer.from([0, 1, 255])),
      frame(1, 'frag', { fin: false }), frame(9, 'p1'), frame(0, 'ment'),
      frame(1, Buffer.alloc(300, 0x61)),
      frame(2, big),
      frame(1, ''),
      close(1000),
    ]);
    const f = r.frames;
    assert.deepEqual(f.map((x) => x.opcode), [1, 2, 10, 1, 1, 2, 1, 8]);
    assert.equal(f[0].payload.toString(), 'héllo');
    assert.deepEqual([...f[1].payload], [0, 1, 255]);
    assert.equal(f[2].payload.toString(), 'p1', 'pong carries the ping payload');
    assert.equal(f[3].payload.toString(), 'fragment');
    assert.equal(f[4].payload.length, 300);
    assert.ok(f[5].payload.equals(big));
    assert.equal(f[6].payload.length, 0);
    assert.equal(f[7].code, 1000);
    assert.ok(r.ended);
  });

  test(`${via}: UTF-8 fails fast, before the frame is complete`, async () => {
    // A 40-byte text frame: we send its header and 13 bytes (kosme, then the
    // first bytes of U+110000), and hold the rest back for 6 s.  The close
    // must come while we wait (within 5 s, a bound for a loaded machine),
    // not after the frame's end.
    const payload = Buffer.concat([Buffer.from('κόσμε'), Buffer.from([0xf4, 0x90, 0x80, 0x80]),
      Buffer.alloc(25, 0x61)]);
    const whole = frame(1, payload);
    const cut = whole.length - payload.length + 13;
    const t0 = Date.now();
    const r = await session(targets[via], [whole.subarray(0, cut), 6000, whole.subarray(cut)],
      { timeout: 12000 });
    assertClosedWith(r, 1007, 'fail fast');
    // time from writing the bad bytes to the first frame back
    const closedAfter = (r.events.find(([, n]) => n > r.head.length + 4)?.[0] ?? Infinity) - r.writes[0];
    assert.ok(Date.now() - t0 < 12000);
    assert.ok(closedAfter < 5000, `close came ${closedAfter} ms after the bad bytes`);
  });

  test(`${via}: a frame header split byte by byte still parses`, async () => {
    const f = frame(1, 'slow');
    const steps = [];
    for (const b of f) steps.push(Buffer.from([b]), 20);
    steps.push(close(1000));
    const r = await session(targets[via], steps);
    assert.equal(r.frames[0].payload.toString(), 'slow');
    assert.equal(r.frames.at(-1).code, 1000);
  });
}

// ---- handshake refusals (plain-text HTTP answers) -------------------------------

const REFUSALS = [
  ['version 8 → 426 naming 13', handshake().replace('Version: 13', 'Version: 8'), 426, /Sec-WebSocket-Version: 13/i],
  ['a cross-origin page → 403', handshake('/ws', 'Origin: http://evil.example\r\n'), 403, null],
  ['a bad since → 400', handshake('/ws?since=abc'), 400, null],
  ['a NUL inside since → 400', handshake('/ws?since=5%00junk'), 400, null],
  ['a NUL inside history → 400', handshake('/ws?history=5%00'), 400, null],
  ['a bad channel → 400', handshake('/ws?channel=no%20spaces'), 400, null],
  ['history over 500 → 400', handshake('/ws?history=501'), 400, null],
  ['a key that is not 16 bytes → 400', handshake().replace(KEY, 'c2hvcnQ='), 400, null],
  ['no Upgrade header → 400', handshake().replace('Upgrade: websocket\r\n', ''), 400, null],
];

for (const [name, request, status, header] of REFUSALS) {
  test(`direct: ${name}`, async () => {
    const r = await session(targets.direct, [], { request });
    assert.match(r.head, new RegExp(`^HTTP/1\\.1 ${status} `));
    assert.match(r.head, /Content-Type: text\/plain/i);
    if (header) assert.match(r.head, header);
    assert.ok(r.body.length > 0, 'a plain-text reason');
    assert.ok(r.ended);
  });
}

test('direct: POST → 405 with Allow: GET', async () => {
  const r = await session(targets.direct, [], { request: handshake().replace(/^GET/, 'POST') });
  assert.match(r.head, /^HTTP\/1\.1 405 /);
  assert.match(r.head, /Allow: GET/);
});

test('apache: a cross-origin page is refused with 403 through the proxy too', async () => {
  const r = await session(targets.apache, [], { request: handshake('/ws', 'Origin: http://evil.example\r\n') });
  assert.match(r.head, /^HTTP\/1\.1 403 /);
});

// A forged X-Forwarded-Host list (issue 11 item 3): Apache appends its own
// entry after the client's ("evil.example, 127.0.0.1:PORT"), lighttpd
// replaces the header; the helper trusts only the last entry, the one our
// own proxy wrote.  Origin and the forged header both name the attacker's
// site: 403 on both servers.  A same-origin page with a forged header still
// gets its 101.
for (const server of ['apache', 'lighttpd']) {
  test(`${server}: a forged X-Forwarded-Host list does not pass the Origin check`, async () => {
    const s = server === 'apache' ? stack
      : await startStack({ server: 'lighttpd', mode: 'fastcgi', ws: true });
    const front = `127.0.0.1:${s.port}`;
    try {
      const forged = (origin) => handshake('/ws', `Origin: ${origin}\r\n` +
        `X-Forwarded-Host: evil.example, ${front}\r\n`).replace('Host: 127.0.0.1', `Host: ${front}`);
      const evil = await session(s.wsUrl, [], { request: forged('http://evil.example') });
      assert.match(evil.head, /^HTTP\/1\.1 403 /, 'evil Origin, forged list');
      const evil1 = await session(s.wsUrl, [], {
        request: handshake('/ws', 'Origin: http://evil.example\r\nX-Forwarded-Host: evil.example\r\n')
          .replace('Host: 127.0.0.1', `Host: ${front}`),
      });
      assert.match(evil1.head, /^HTTP\/1\.1 403 /, 'evil Origin, forged single entry');
      const same = await session(s.wsUrl, [close(1000)], { request: forged(`http://${front}`) });
      assert.match(same.head, /^HTTP\/1\.1 101 /, 'the real page, forged list');
    } finally {
      if (s !== stack) await s.stop();
    }
  });
}

test('direct: garbage instead of a handshake → 400, and the helper lives on', async () => {
  const r = await session(targets.direct, [], { request: '\x16\x03\x01\x02\x00garbage\r\n\r\n' });
  assert.match(r.head, /^HTTP\/1\.1 400 /);
  const ok = await session(targets.direct, [frame(1, 'still here'), close(1000)]);
  assert.equal(ok.frames[0].payload.toString(), 'still here');
});

// ---- limits and timers, on a second echo helper of our own ----------------------
// --max-conns 2 and a ping every second (RT_WS_PING=1), so the cap, the
// ping/pong rule and the handshake deadline can be seen within seconds.

test('the connection cap answers 503 with Retry-After, and frees slots on close', async () => {
  const h = await spawnHelper(['--echo', '--max-conns', '2']);
  try {
    const hold = [0, 1].map(() => session(h.url, [1500, close(1000)]));
    await new Promise((r) => setTimeout(r, 500));
    const third = await session(h.url, []);
    assert.match(third.head, /^HTTP\/1\.1 503 /);
    assert.match(third.head, /Retry-After: \d+/);
    for (const r of await Promise.all(hold)) assertClosedWith(r, 1000, 'held');
    const later = await session(h.url, [frame(1, 'room again'), close(1000)]);
    assert.equal(later.frames[0].payload.toString(), 'room again');
  } finally {
    assert.equal(await h.stop(), 0, 'clean exit on SIGTERM');
  }
});

test('a client that never answers pings is closed; one that answers stays', async () => {
  const h = await spawnHelper(['--echo'], { RT_WS_PING: '1' });
  try {
    // The raw session never sends a pong: the helper pings, waits one more
    // interval, then closes it (1008).  Generous bound: within 8 s.
    const silent = await session(h.url, [], { timeout: 8000 });
    assert.ok(silent.frames.some((f) => f.opcode === 9), 'it was pinged');
    assertClosedWith(silent, 1008, 'no pong');
    // One that answers each ping with a pong is still open after 4 s.
    const u = new URL(h.url);
    const alive = await new Promise((resolve) => {
      const sock = net.connect(Number(u.port), u.hostname, () => sock.write(handshake()));
      let buf = Buffer.alloc(0), head = true, pings = 0, closed = false;
      sock.on('data', (b) => {
        buf = Buffer.concat([buf, b]);
        if (head) { const e = buf.indexOf('\r\n\r\n'); if (e < 0) return; buf = buf.subarray(e + 4); head = false; }
        const { frames, rest } = parseFrames(buf);
        buf = buf.subarray(buf.length - rest);
        for (const f of frames) {
          if (f.opcode === 9) { pings++; sock.write(frame(10, f.payload)); }
          if (f.opcode === 8) closed = true;
        }
      });
      setTimeout(() => { sock.destroy(); resolve({ pings, closed }); }, 4000);
    });
    assert.ok(alive.pings >= 2, `pinged ${alive.pings} times`);
    assert.equal(alive.closed, false);
  } finally {
    await h.stop();
  }
});

test('a handshake not completed within 10 s is dropped', async () => {
  const h = await spawnHelper(['--echo']);
  try {
    const t0 = Date.now();
    const r = await session(h.url, [], { request: 'GET /ws HTTP/1.1\r\nHost: x\r\n', timeout: 20000 });
    const took = Date.now() - t0;
    assert.ok(r.ended, 'the helper closed it');
    assert.equal(r.head, '', 'without an answer');
    assert.ok(took >= 9000 && took < 19000, `after ${took} ms`);
  } finally {
    await h.stop();
  }
});

test('SIGTERM closes every client with 1001, then the helper exits 0', async () => {
  const h = await spawnHelper(['--echo']);
  const clients = [0, 1, 2].map(() => session(h.url, [], { timeout: 10000 }));
  await new Promise((r) => setTimeout(r, 500));
  const code = await h.stop();
  for (const r of await Promise.all(clients)) assertClosedWith(r, 1001, 'shutdown');
  assert.equal(code, 0);
});

// ---- the helper's limits (issue 11 item 5) ---------------------------------------

test('--max-conns counts connections still in the handshake: the fd reserve cannot run out', async () => {
  const h = await spawnHelper(['--echo', '--max-conns', '3']);
  const idle = [];
  try {
    // Three connections that never finish their handshake hold three slots.
    for (let i = 0; i < 3; i++) {
      const sock = net.connect(h.port, '127.0.0.1');
      sock.on('error', () => {});
      await new Promise((r) => sock.once('connect', r));
      idle.push(sock);
    }
    await new Promise((r) => setTimeout(r, 300));
    const over = await session(h.url, []);
    assert.match(over.head, /^HTTP\/1\.1 503 /, 'a fourth connection is refused');
    assert.match(over.head, /Retry-After: \d+/);
    for (const sock of idle) sock.destroy();
    let later;
    for (let i = 0; i < 50; i++) {   // the helper sees the three EOFs on its next turn
      later = await session(h.url, [frame(1, 'room again'), close(1000)]);
      if (/^HTTP\/1\.1 101 /.test(later.head)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(later.frames[0].payload.toString(), 'room again');
  } finally {
    for (const sock of idle) sock.destroy();
    assert.equal(await h.stop(), 0);
  }
});

test('a ping flood is answered with the latest pong only (RFC 6455 §5.5.3), not one pong per ping', async () => {
  const h = await spawnHelper(['--echo']);
  try {
    const pings = [];
    for (let i = 0; i < 2000; i++) pings.push(frame(9, `p${i}`));
    const r = await session(h.url, [Buffer.concat([...pings, close(1000)])], { timeout: 15000 });
    const pongs = r.frames.filter((f) => f.opcode === 10);
    assert.ok(pongs.length >= 1, 'answered');
    assert.ok(pongs.length <= 200, `${pongs.length} pongs for 2000 pings`);
    assert.equal(pongs.at(-1).payload.toString(), 'p1999', 'the last pong answers the last ping');
    assertClosedWith(r, 1000, 'after the flood');
  } finally {
    await h.stop();
  }
});

test('out of memory while queueing closes the client with 1011 instead of dropping a frame', async () => {
  // RT_WS_FAULT_QUEUE=4: every 4th queue allocation fails (fault injection).
  // The 101 is the 1st, echoes the 2nd and 3rd; the 4th echo cannot be
  // queued: the client must see 1011, not a silent gap before the 5th.
  const h = await spawnHelper(['--echo'], { RT_WS_FAULT_QUEUE: '4' });
  try {
    const r = await session(h.url, [frame(1, 'a'), frame(1, 'b'), frame(1, 'c'), frame(1, 'd'), frame(1, 'e')]);
    const texts = r.frames.filter((f) => f.opcode === 1).map((f) => f.payload.toString());
    assert.deepEqual(texts, ['a', 'b'], 'what was queued before the failure, nothing after');
    assertClosedWith(r, 1011, 'out of memory');
  } finally {
    await h.stop();
  }
});
