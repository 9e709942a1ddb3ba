// faults.test.js — what rtlab does when things break under it, and the one
// promise each test holds it to: nothing stored is lost or duplicated for a
// client that resumes from the last id it saw (docs/security.md).
//
//   - the disk fills (a 2 MiB tmpfs under the database; needs root to
//     mount): send answers 503 with Retry-After, reads go on, and service
//     resumes when space returns; a sender that retries stores each message
//     exactly once;
//   - the database is read-only: 503 with Retry-After, and writes resume
//     once it is writable again (no read-only -shm file left behind);
//   - the WebSocket helper is SIGKILLed in the middle of a fan-out to 1,000
//     clients and started again: every client resumes and ends with every
//     message exactly once, in order;
//   - Apache restarts gracefully (SIGUSR1) under held long-poll and SSE
//     clients: they resume exactly once;
//   - the FastCGI process behind an SSE stream is killed from outside: the
//     stream's client resumes exactly once.
// Real Apache (mod_fcgid), the real helper, real SQLite; nothing is mocked.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import {
  chmodSync, chownSync, closeSync, mkdtempSync, openSync, readFileSync, rmSync,
  unlinkSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { startStack, ROOT, helperBuilt } from '../lib/servers.js';
import { curl, curlMany } from '../lib/http.js';
import { busyPids, freshChannel, openStream, sleep, until } from '../lib/held.js';

const IS_ROOT = process.getuid() === 0;
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

function send(s, channel, text) {
  return curl(`${s.base}/cgi-bin/send.fcgi`, {
    method: 'POST', headers: FORM, data: new URLSearchParams({ channel, user: 'f', text }).toString(),
  });
}

/** Every message of a channel, read page by page with poll. */
async function readAll(s, channel) {
  const all = [];
  let since = 0;
  for (;;) {
    const r = await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}&since=${since}&limit=500`);
    assert.equal(r.status, 200, r.body);
    const { messages, last_id: lastId } = r.json();
    all.push(...messages);
    if (messages.length === 0) return all;
    since = lastId;
  }
}

/** ids is exactly want: the same ids, each once, in increasing order. */
function assertExactlyOnce(ids, want, who) {
  const dup = ids.filter((id, i) => ids.indexOf(id) !== i);
  assert.deepEqual(dup, [], `${who}: duplicated ids`);
  const missing = want.filter((id) => !ids.includes(id));
  assert.deepEqual(missing, [], `${who}: lost ids`);
  assert.deepEqual(ids, want, `${who}: exactly the stored ids, in order`);
}

/**
 * A database of the test's own in dir, from sql/schema.sql, owned by the
 * user the servers run as (www-data when we are root).
 */
function makeDb(dir) {
  const db = path.join(dir, 'rtlab.db');
  execFileSync('sqlite3', [db], { input: readFileSync(path.join(ROOT, 'sql', 'schema.sql')) });
  if (IS_ROOT) {
    const { uid, gid } = wwwData();
    for (const f of [dir, db]) chownSync(f, uid, gid);
  }
  return db;
}

function wwwData() {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('www-data:'));
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// ---- the disk fills --------------------------------------------------------

describe('faults: the disk under the database fills, then space returns', {
  skip: IS_ROOT ? false : 'needs root to mount a tmpfs (run the tests as root to include it)',
}, () => {
  let s;
  let mnt;
  let mounted = false;
  const filler = () => path.join(mnt, 'filler');

  before(async () => {
    mnt = mkdtempSync('/tmp/rtlab-fault-disk-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0755', 'rtlab-fault', mnt]);
    mounted = true;
    const db = makeDb(mnt);
    s = await startStack({ server: 'apache', mode: 'fcgid', ws: false, env: { RT_DB: db } });
  });
  after(async () => {
    try {
      await s?.stop();
    } finally {
      // Never leave a mount behind: the stack is stopped, so nothing holds
      // a file there; a lazy unmount is the last resort.
      if (mounted) {
        try { execFileSync('umount', [mnt]); } catch { execFileSync('umount', ['-l', mnt]); }
      }
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  test('send answers 503 with Retry-After while the disk is full; a retrying sender stores each message once', async () => {
    const channel = freshChannel('full');
    const pad = 'x'.repeat(3000);
    // Fill all but ~256 KiB: the WAL soon needs a page it cannot get.
    const { bavail, bsize } = (await import('node:fs')).statfsSync(mnt);
    const fd = openSync(filler(), 'w');
    const chunk = Buffer.alloc(64 * 1024, 1);
    let left = bavail * bsize - 256 * 1024;
    try {
      while (left > 0) left -= writeSync(fd, chunk, 0, Math.min(chunk.length, left));
    } finally {
      closeSync(fd);
    }

    const acked = [];
    let full = null;
    let readsWhileFull = null;
    for (let i = 0; i < 120; i++) {
      const text = `m${i} ${pad}`;
      for (let attempt = 0; ; attempt++) {
        const r = await send(s, channel, text);
        if (r.status === 201) {
          acked.push(r.json());
          break;
        }
        assert.equal(r.status, 503, `message ${i}: ${r.status} ${r.body}`);
        assert.ok(r.headers['retry-after'], 'a 503 says when to retry');
        assert.equal(r.json().error, 'unavailable');
        assert.ok(attempt < 50, `message ${i}: still 503 after space returned`);
        if (full === null) {
          full = i;
          // Reads go on while the disk is full.
          readsWhileFull = await readAll(s, channel);
          unlinkSync(filler());            // space returns
        }
        await sleep(100);
      }
      if (full !== null && i >= full + 5) break;
    }
    assert.notEqual(full, null, 'the disk filled up within 120 messages of 3 KB');
    assert.deepEqual(readsWhileFull.map((m) => m.id), acked.slice(0, full).map((m) => m.id),
      'while the disk was full, poll served every message stored before');
    const stored = await readAll(s, channel);
    assertExactlyOnce(stored.map((m) => m.id), acked.map((m) => m.id), 'the channel');
    assert.deepEqual(stored.map((m) => m.text.split(' ')[0]), acked.map((_, i) => `m${i}`),
      'each message once, the one refused included');
    assert.doesNotMatch(s.log(), /\[fcgid:warn\].*(segfault|exit\(communication error\))/);
  });
});

// ---- a read-only database --------------------------------------------------

describe('faults: a read-only database', () => {
  let s;
  let dir;
  let db;

  before(async () => {
    dir = mkdtempSync('/tmp/rtlab-fault-ro-');
    chmodSync(dir, 0o755);
    db = makeDb(dir);
    s = await startStack({ server: 'apache', mode: 'fcgid', ws: false, env: { RT_DB: db } });
  });
  after(async () => {
    await s?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('503 with Retry-After on send while the file is read-only; writes resume after it', async () => {
    const channel = freshChannel('ro');
    const first = await send(s, channel, 'before');
    assert.equal(first.status, 201, first.body);
    // The process that answered keeps its read-write descriptor: a fresh
    // one opens the file read-only.  Stop send.fcgi's processes by pid so
    // that the next request starts a new one (mod_fcgid respawns on demand).
    chmodSync(db, 0o444);
    for (const pid of sendPids(s)) process.kill(pid, 'SIGTERM');
    await until(() => sendPids(s).length === 0, 10_000, 'send.fcgi processes to exit');
    for (let i = 0; i < 2; i++) {
      const r = await send(s, channel, `refused ${i}`);
      assert.equal(r.status, 503, r.body);
      assert.ok(r.headers['retry-after'], 'Retry-After');
      assert.equal(r.json().error, 'unavailable');
    }
    // A fresh poll process refuses the store too (lib/store.c says why:
    // opened read-only, SQLite would leave a read-only -shm file behind
    // that kept failing every write after the spell).
    const p = await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}&since=0`);
    assert.ok([200, 503].includes(p.status), `poll: ${p.status} ${p.body}`);
    if (p.status === 200) assert.deepEqual(p.json().messages.map((m) => m.text), ['before']);
    else assert.ok(p.headers['retry-after'], 'poll: Retry-After');
    chmodSync(db, 0o644);
    const after1 = await send(s, channel, 'after');
    assert.equal(after1.status, 201, after1.body);
    assert.deepEqual((await readAll(s, channel)).map((m) => m.text), ['before', 'after']);
  });
});

function sendPids(s) {
  return s.serverPids().filter((pid) => {
    try { return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'send.fcgi'; } catch { return false; }
  });
}

// ---- clients that resume ---------------------------------------------------

/** The pid serve.sh recorded last for `what` (e.g. 'rtlab-wsd'), if alive. */
function recordedPid(s, what) {
  const lines = readFileSync(path.join(s.runDir, 'pids'), 'utf8').split('\n').filter(Boolean);
  const line = lines.reverse().find((l) => l.split(' ')[2] === what);
  return line ? Number(line.split(' ')[0]) : null;
}

/**
 * A WebSocket client that resumes: on any close it reconnects after
 * 100-300 ms with since = the last id it saw, until stop().
 */
function resumingWs(url, channel, onMessage = () => {}) {
  const c = { ids: [], closes: 0, stopped: false, ws: null };
  const connect = () => {
    if (c.stopped) return;
    const since = c.ids.length ? c.ids[c.ids.length - 1] : 0;
    const ws = new WebSocket(`${url}?channel=${channel}&since=${since}`, { perMessageDeflate: false });
    c.ws = ws;
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'message') {
        c.ids.push(f.message.id);
        onMessage();
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      c.closes += 1;
      setTimeout(connect, 100 + Math.random() * 200);
    });
  };
  c.opened = new Promise((resolve) => {
    connect();
    c.ws.once('open', resolve);
  });
  c.stop = () => { c.stopped = true; c.ws?.terminate(); };
  return c;
}

/**
 * A long-poll client that resumes: one request after another with since =
 * the last_id of the previous answer; after an error (the server went
 * away, a 5xx) it waits 200 ms and asks again with the same since.
 */
function resumingLongpoll(s, channel) {
  const c = { ids: [], errors: 0, stopped: false, req: null };
  let since = 0;
  const ask = () => {
    if (c.stopped) return;
    c.req = http.get(`${s.base}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${since}&timeout=20`,
      { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (b) => { body += b; });
        res.on('end', () => {
          let answer = null;
          if (res.statusCode === 200) { try { answer = JSON.parse(body); } catch { answer = null; } }
          if (answer === null) { c.errors += 1; setTimeout(ask, 200); return; }
          for (const m of answer.messages) c.ids.push(m.id);
          since = answer.last_id;
          setImmediate(ask);
        });
        res.on('error', () => {});
      });
    c.req.on('error', () => { c.errors += 1; setTimeout(ask, 200); });
  };
  ask();
  c.stop = () => { c.stopped = true; c.req?.destroy(); };
  return c;
}

/**
 * An SSE client that resumes as EventSource does: when the stream ends it
 * opens a new one with Last-Event-ID = the last id it saw (200 ms later).
 */
function resumingSse(s, channel) {
  const c = { ids: [], streams: 0, stopped: false, st: null, errors: [] };
  const open = () => {
    if (c.stopped) return;
    const last = c.ids.length ? c.ids[c.ids.length - 1] : null;
    const url = `${s.base}/cgi-bin/sse.fcgi?channel=${channel}${last === null ? '&since=0' : ''}`;
    const st = openStream(url, last === null ? {} : { 'Last-Event-ID': String(last) });
    c.st = st;
    c.streams += 1;
    let seen = 0;
    const take = () => {
      for (; seen < st.events.length; seen++) {
        if (st.events[seen].event === 'message') c.ids.push(JSON.parse(st.events[seen].data).id);
      }
    };
    const timer = setInterval(take, 20);
    st.opened.catch(() => {});
    st.ended.then(() => {
      clearInterval(timer);
      take();
      c.errors.push(...st.errors);
      setTimeout(open, 200);
    });
  };
  open();
  c.stop = () => { c.stopped = true; c.st?.close(); };
  return c;
}

// ---- the helper, Apache and a FastCGI process die under clients -----------

describe('faults: processes die under clients that resume', () => {
  let s;
  before(async () => {
    s = await startStack({ server: 'apache', mode: 'fcgid', env: { RT_SSE_HEARTBEAT: '1' } });
  });
  after(async () => { await s?.stop(); });

  test('SIGKILL of the helper in the middle of a fan-out to 1,000 clients: each resumes exactly once', {
    skip: helperBuilt() ? false : 'the helper is not built',
  }, async () => {
    const channel = freshChannel('fan');
    const clients = [];
    const pid = recordedPid(s, 'rtlab-wsd');
    assert.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'rtlab-wsd');
    // SIGKILL from inside the message handler, the moment 20,000 frames
    // have arrived: in the middle of the fan-out, not after it.
    let delivered = 0;
    let atKill = null;
    const onMessage = () => {
      delivered += 1;
      if (atKill === null && delivered >= 20_000) {
        process.kill(pid, 'SIGKILL');
        atKill = delivered;
      }
    };
    // Connected directly to the helper: 1,000 tunnels through Apache would
    // need 1,000 of its workers, which is not what this test is about.
    for (let i = 0; i < 1000; i += 100) {
      const batch = Array.from({ length: 100 }, () => resumingWs(s.wsDirect, channel, onMessage));
      await Promise.all(batch.map((c) => c.opened));
      clients.push(...batch);
    }
    const total = 150;
    const publishing = curlMany(Array.from({ length: total }, (_, i) => ({
      url: `${s.base}/cgi-bin/send.fcgi`, headers: FORM,
      data: `channel=${channel}&user=fan&text=m${i}`,
    })));
    await until(() => atKill !== null, 60_000, () => `20,000 deliveries (${delivered})`);
    await until(() => { try { readFileSync(`/proc/${pid}/stat`); return false; } catch { return true; } },
      10_000, 'the helper to be gone');
    await s.startHelper();
    const acks = await publishing;
    acks.forEach((r, i) => assert.equal(r.status, 201, `message ${i}: ${r.status} ${r.body}`));
    const want = acks.map((r) => r.json().id).sort((a, b) => a - b);
    try {
      await until(() => clients.every((c) => c.ids.length >= total), 90_000,
        () => `every client to have ${total} messages (slowest: ${Math.min(...clients.map((c) => c.ids.length))})`);
    } finally {
      clients.forEach((c) => c.stop());
    }
    assert.ok(atKill < 1000 * total, 'the helper died before the fan-out was over');
    clients.forEach((c, i) => {
      assert.ok(c.closes >= 1, `client ${i} lost its connection`);
      assertExactlyOnce(c.ids, want, `client ${i}`);
    });
  });

  test('Apache graceful restart (SIGUSR1) under held long-poll and SSE clients: they resume exactly once', async () => {
    const channel = freshChannel('graceful');
    const polls = Array.from({ length: 3 }, () => resumingLongpoll(s, channel));
    const streams = Array.from({ length: 3 }, () => resumingSse(s, channel));
    const all = [...polls, ...streams];
    const want = [];
    const sendSome = async (n, tag) => {
      for (let i = 0; i < n; i++) {
        const r = await send(s, channel, `${tag}${i}`);
        assert.equal(r.status, 201, r.body);
        want.push(r.json().id);
      }
    };
    const restarts = () => (s.log().match(/resuming normal operations/g) ?? []).length;
    try {
      await until(() => streams.every((c) => c.st && c.st.events !== undefined) && busyPids(s, 'sse.fcgi').length >= 3,
        20_000, 'the SSE streams to be held');
      await sendSome(3, 'before');
      await until(() => all.every((c) => c.ids.length >= 3), 20_000, 'the first messages everywhere');
      const before1 = restarts();
      const apache = Number(readFileSync(path.join(s.runDir, 'run', 'httpd.pid'), 'utf8').trim());
      process.kill(apache, 'SIGUSR1');
      await sendSome(2, 'during');
      await until(() => restarts() > before1, 30_000, 'Apache to restart');
      await sendSome(3, 'after');
      await until(() => all.every((c) => c.ids.length >= want.length), 60_000,
        () => `every client to have ${want.length} messages: ${all.map((c) => c.ids.length).join(' ')}`);
    } finally {
      all.forEach((c) => c.stop());
    }
    polls.forEach((c, i) => assertExactlyOnce(c.ids, want, `long-poll client ${i}`));
    streams.forEach((c, i) => {
      assertExactlyOnce(c.ids, want, `SSE client ${i}`);
      assert.deepEqual(c.errors, [], `SSE client ${i}: a well-formed stream`);
    });
  });

  test('the FastCGI process of a held SSE stream is SIGKILLed: its client resumes exactly once', async () => {
    const channel = freshChannel('killed');
    const c = resumingSse(s, channel);
    const want = [];
    try {
      for (let i = 0; i < 3; i++) want.push((await send(s, channel, `a${i}`)).json().id);
      await until(() => c.ids.length >= 3, 20_000, 'the first messages');
      // The process holding the stream waits in the store (poll(2)); a
      // heartbeat may catch it elsewhere for an instant, so look again.
      const held = await until(() => { const p = busyPids(s, 'sse.fcgi'); return p.length ? p : null; },
        10_000, 'an sse.fcgi process to hold the stream');
      const streamsBefore = c.streams;
      for (const pid of held) process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 3; i++) want.push((await send(s, channel, `b${i}`)).json().id);
      await until(() => c.ids.length >= want.length, 30_000,
        () => `the client to resume (${c.ids.length} of ${want.length})`);
      assert.ok(c.streams > streamsBefore, 'the client opened a new stream');
    } finally {
      c.stop();
    }
    assertExactlyOnce(c.ids, want, 'the SSE client');
  });
});
