// ws_workers.test.js — `rtlab-wsd --workers 2`: two worker processes on one
// port (SO_REUSEPORT) under a supervising parent.  Clients spread over both
// workers; a message published through a client of one worker reaches the
// clients of the other exactly once and in order (through the store, like
// any other writer's); a worker that dies is restarted; SIGTERM closes every
// client of every worker with 1001 and the parent exits 0.
// Real helper processes on a database of their own; nothing is mocked.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openWs as open, messages, until, newDb } from '../lib/ws.js';
import { spawnHelper } from './wsd_spawn.js';

/** Which worker ("w1", "w2") logged the open of the client on localPort. */
function workerOf(h, localPort) {
  const m = h.log.match(new RegExp(`rtlab-wsd (w\\d+): #\\d+ 127\\.0\\.0\\.1:${localPort} open`));
  return m ? m[1] : null;
}

/** Opens clients until both workers hold at least `each` of them. */
async function spreadClients(h, url, each) {
  const by = { w1: [], w2: [] };
  for (let i = 0; i < 200 && (by.w1.length < each || by.w2.length < each); i++) {
    const ws = await open(url);
    await until(() => workerOf(h, ws.localPort), 10000, 'the open line in the log');
    by[workerOf(h, ws.localPort)].push(ws);
  }
  return by;
}

test('--workers 2: clients spread over both, a message crosses workers exactly once and in order', async () => {
  const h = await spawnHelper(['--workers', '2', '--db', newDb()]);
  try {
    assert.match(h.log, /listening on .* with 2 workers/);
    await until(() => /w1: store .* open/.test(h.log) && /w2: store .* open/.test(h.log),
      10000, 'both workers to open the store');
    const by = await spreadClients(h, `${h.url}?channel=cross&history=0`, 3);
    assert.ok(by.w1.length >= 3 && by.w2.length >= 3,
      `clients on both workers (w1 ${by.w1.length}, w2 ${by.w2.length})`);
    // Publish through a client of worker 1; read on every client of both.
    const pub = by.w1[0];
    const N = 40;
    for (let i = 0; i < N; i++) pub.send(JSON.stringify({ type: 'send', user: 'w1', text: `m${i}` }));
    const all = [...by.w1, ...by.w2];
    await until(() => all.every((ws) => messages(ws).length >= N), 20000, `${N} messages on every client`);
    await new Promise((r) => setTimeout(r, 500));   // room for a duplicate to show up
    const want = messages(pub).map((m) => m.id);
    assert.deepEqual(messages(pub).map((m) => m.text), Array.from({ length: N }, (_, i) => `m${i}`));
    for (let i = 1; i < want.length; i++) assert.ok(want[i] > want[i - 1], 'ascending ids');
    for (const ws of by.w2) {
      assert.deepEqual(messages(ws).map((m) => m.id), want, 'worker 2: each once, in order');
    }
    for (const ws of by.w1) assert.deepEqual(messages(ws).map((m) => m.id), want);
    for (const ws of all) ws.close();
  } finally {
    assert.equal(await h.stop(), 0, 'the parent exits 0 on SIGTERM');
  }
});

test('--workers 2: SIGTERM closes the clients of every worker with 1001; one log line per event, worker named', async () => {
  const h = await spawnHelper(['--workers', '2', '--echo']);
  const by = await spreadClients(h, h.url, 2);
  const all = [...by.w1, ...by.w2];
  const code = await h.stop();
  await until(() => all.every((ws) => ws.closeCode !== null), 10000, 'every close');
  assert.deepEqual(all.map((ws) => ws.closeCode), all.map(() => 1001));
  assert.equal(code, 0);
  assert.match(h.log, /rtlab-wsd: stopping on .*: telling 2 workers/);
  assert.match(h.log, /rtlab-wsd w1: stopping on/);
  assert.match(h.log, /rtlab-wsd w2: stopping on/);
  for (const line of h.log.trim().split('\n')) {
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ rtlab-wsd( w\d+)?: \S/, `one event per line: ${line}`);
  }
});

test('--workers 2: a worker that dies is restarted, and the port keeps serving', async () => {
  const h = await spawnHelper(['--workers', '2', '--echo']);
  try {
    const pid = Number(h.log.match(/worker 1 started \(pid (\d+)\)/)[1]);
    process.kill(pid, 'SIGKILL');   // a worker of the helper this test started
    await until(() => /worker 1 \(pid \d+\) killed by Killed/.test(h.log), 10000, 'the supervisor to see it');
    await until(() => (h.log.match(/worker 1 started/g) ?? []).length === 2, 10000, 'the restart');
    // New clients are served again, on whichever worker they land.
    const by = await spreadClients(h, h.url, 1);
    assert.ok(by.w1.length >= 1, 'the restarted worker 1 accepts clients');
    const ws = by.w1[0];
    ws.send(JSON.stringify({ echo: 'after the restart' }));
    await until(() => ws.frames.length === 1, 10000, 'the echo');
    assert.deepEqual(ws.frames[0], { echo: 'after the restart' });
    for (const ws of [...by.w1, ...by.w2]) ws.close();
  } finally {
    assert.equal(await h.stop(), 0);
  }
});
