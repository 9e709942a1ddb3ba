// threads.test.js — RT_FCGI_THREADS: many held requests per FastCGI process
// (lib/http_held.c), through Apache mod_proxy_fcgi (spawn-fcgi pools) and
// lighttpd (bin-path pools), the two servers that hand one process several
// requests at once.
//
// What must hold (issue 15 item 3, docs/sse.md "Many held requests per
// process"): with RT_FCGI_THREADS=16, 40 SSE streams and 40 long-polls are
// held at once by the 4 processes of each pool (counted from the stack's own
// pids in /proc, the busy request threads by name); every client gets every
// message exactly once and in order, though the process read each commit
// once for all of them; a stream resumed with Last-Event-ID gets exactly what
// it missed; a publish on another channel reaches none of them; SIGTERM to
// the processes ends every stream cleanly and answers every held long-poll.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { startStack } from '../lib/servers.js';
import {
  freshChannel, publish, lastId, sleep, until, openStream, streamMessages,
  busyPids, programPids, threadIds, procInfo,
} from '../lib/held.js';

const THREADS = 16;
const ENV = { RT_FCGI_THREADS: String(THREADS), RT_SSE_HEARTBEAT: '1', RT_SSE_MAX_AGE: '120' };
const STACKS = [
  { server: 'apache', mode: 'proxy-fcgi' },
  { server: 'lighttpd', mode: 'fastcgi' },
];
const N = 40;          // streams, and long-polls, held at once
const POOL = 4;        // processes per held pool with RT_FCGI_THREADS (serve.sh)

/** One long-poll, answered: { status, body }. */
function longpoll(s, channel, since, timeout = 50) {
  const url = `${s.base}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${since}&timeout=${timeout}`;
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
    });
    req.on('error', reject);
  });
}

/** A long-poll client: polls until it has `want` messages; returns them. */
async function longpollClient(s, channel, since, want) {
  const got = [];
  while (got.length < want) {
    const r = await longpoll(s, channel, since);
    assert.equal(r.status, 200);
    got.push(...r.body.messages);
    since = r.body.last_id;
  }
  return got;
}

/** True once pid has exited (a zombie has too). */
function gone(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

const busy = (s) => busyPids(s, 'sse.fcgi').length + busyPids(s, 'longpoll.fcgi').length;

for (const { server, mode } of STACKS) {
  describe(`RT_FCGI_THREADS=${THREADS} via ${server}/${mode}`, { concurrency: false }, () => {
    let s;
    before(async () => { s = await startStack({ server, mode, env: ENV, ws: false }); });
    after(async () => { await s?.stop(); });

    it(`holds ${N} SSE streams and ${N} long-polls in ${POOL} processes each, every message once, in order`, async () => {
      const channel = freshChannel('thr');
      const other = freshChannel('thr_other');
      const since = await lastId(s);
      const streams = [];
      for (let i = 0; i < N; i++) streams.push(openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=0`));
      try {
        await until(() => streams.every((x) => x.retries.length === 1), 30_000, `all ${N} streams open`);
        const polls = [];
        for (let i = 0; i < N; i++) polls.push(longpollClient(s, channel, since, 3));
        // All 2N requests inside a request thread at once: each pool has
        // POOL processes of 1 + THREADS tasks, and nothing else serves them.
        await until(() => busy(s) === 2 * N, 30_000,
          () => `${2 * N} busy request threads, have ${busy(s)}`);
        for (const program of ['sse.fcgi', 'longpoll.fcgi']) {
          const pids = programPids(s, program);
          assert.ok(pids.length <= POOL, `${program}: ${pids.length} processes: ${procInfo(pids)}`);
          for (const pid of pids) assert.equal(threadIds(pid).length, THREADS + 1, `${program} ${pid} tasks`);
        }

        const noise = await publish(s, { channel: other, text: 'not for them' });
        const sent = [];
        for (const text of ['one', 'two', 'three']) sent.push(await publish(s, { channel, text }));
        await until(() => streams.every((x) => x.events.length >= 3), 30_000, 'three events on every stream');
        const answers = await Promise.all(polls);
        await sleep(500);                   // nothing more may come
        for (const x of streams) {
          assert.deepEqual(streamMessages(x), sent);
          assert.deepEqual(x.errors, []);
        }
        for (const got of answers) assert.deepEqual(got, sent);
        assert.ok(!streams.some((x) => x.raw.includes(noise.text)));

        // Resume: ten streams drop and come back with Last-Event-ID after
        // two more messages; the thirty that stayed get just those two.
        const lastSeen = sent[2].id;
        for (const x of streams.slice(0, 10)) x.close();
        const more = [await publish(s, { channel, text: 'four' }), await publish(s, { channel, text: 'five' })];
        const resumed = [];
        for (let i = 0; i < 10; i++) {
          resumed.push(openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}`, { 'Last-Event-ID': String(lastSeen) }));
        }
        streams.push(...resumed);
        await until(() => resumed.every((x) => x.events.length >= 2), 30_000, 'the missed two on every resumed stream');
        await until(() => streams.slice(10, N).every((x) => x.events.length >= 5), 30_000, 'five events on the streams that stayed');
        const six = await publish(s, { channel, text: 'six' });
        await until(() => resumed.every((x) => x.events.length >= 3), 30_000, 'the next event on the resumed streams');
        await sleep(500);
        for (const x of resumed) assert.deepEqual(streamMessages(x), [...more, six]);
        for (const x of streams.slice(10, N)) assert.deepEqual(streamMessages(x), [...sent, ...more, six]);
      } finally {
        for (const x of streams) x.close();
      }
    });

    it('SIGTERM to the processes ends every held stream cleanly and answers every held long-poll', async () => {
      const channel = freshChannel('thr_term');
      await until(() => busy(s) === 0, 30_000, () => `earlier requests to end: ${busy(s)} busy`);
      const since = await lastId(s);
      const streams = [];
      for (let i = 0; i < 20; i++) streams.push(openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=0`));
      const polls = [];
      for (let i = 0; i < 20; i++) polls.push(longpoll(s, channel, since));
      await until(() => busy(s) === 40, 30_000, () => `40 busy request threads, have ${busy(s)}`);
      const pids = [...programPids(s, 'sse.fcgi'), ...programPids(s, 'longpoll.fcgi')];
      for (const pid of pids) process.kill(pid, 'SIGTERM');
      // Well before RT_SSE_MAX_AGE and the long-polls' 50 s timeout.
      await until(() => streams.every((x) => x.done), 10_000, 'every stream to end');
      const answers = await Promise.all(polls);
      for (const x of streams) {
        assert.ok((await x.opened).complete, 'the stream ended with its proper end, not cut');
        assert.deepEqual(x.errors, []);
        assert.deepEqual(x.retries, [2000]);
        assert.deepEqual(x.events, []);
      }
      for (const r of answers) {
        assert.equal(r.status, 200);
        assert.deepEqual(r.body.messages, []);
        assert.equal(r.body.last_id, since);
      }
      await until(() => pids.every(gone), 10_000,
        () => `the processes to exit: ${procInfo(pids.filter((p) => !gone(p)))}`);
    });
  });
}
