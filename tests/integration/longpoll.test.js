// longpoll.test.js — GET /cgi-bin/longpoll.fcgi through real Apache (mod_fcgid,
// mod_proxy_fcgi, mod_cgi) and real lighttpd, on free loopback ports.
//
// What must hold (issue 3, docs/protocol.md): a held long-poll answers soon after
// *another process* publishes; a message on another channel does not answer
// it early; it answers empty with the store's newest id after `timeout`;
// texts come back byte-identical; bad parameters get 400; the shipped
// configuration holds 32 clients at once.  Bounds are generous (a noisy
// shared machine): they catch "never" and "only at the timeout", not
// milliseconds.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, STACKS } from '../lib/servers.js';
import { curl } from '../lib/http.js';
import {
  TRICKY_TEXTS, freshChannel, publish, publishSql, lastId, sleep, until, busyPids, waitQuiet,
  recreateDb,
} from '../lib/held.js';

const LP = '/cgi-bin/longpoll.fcgi';

/** Starts a long-poll; the promise carries when it was answered. */
function hold(s, query, maxTime = 60) {
  const started = Date.now();
  // A failed curl becomes status 0 (and fails the assertions), never an
  // unhandled rejection after its test has ended.
  const p = curl(`${s.base}${LP}?${query}`, { maxTime })
    .catch((e) => ({ status: 0, headers: {}, body: String(e.message), json: () => ({}) }))
    .then((r) => {
      p.answered = true;
      return { ...r, elapsed: Date.now() - started };
    });
  p.answered = false;
  return p;
}

function assertJsonAnswer(r) {
  assert.equal(r.status, 200, r.body);
  assert.match(r.headers['content-type'], /^application\/json; charset=utf-8$/i);
  assert.equal(r.headers['cache-control'], 'no-store');
  return r.json();
}

for (const { server, mode } of STACKS) {
  describe(`long-poll via ${server}/${mode}`, { concurrency: false }, () => {
    let s;
    before(async () => { s = await startStack({ server, mode }); });
    after(async () => { await s?.stop(); });

    it('answers at once without since, with the last `limit` messages', async () => {
      const channel = freshChannel('lp');
      const ids = [];
      for (const text of ['one', 'two', 'three']) ids.push((await publish(s, { channel, text })).id);
      const r = await hold(s, `channel=${channel}&limit=2&timeout=30`);
      const body = assertJsonAnswer(r);
      assert.ok(r.elapsed < 15_000, `took ${r.elapsed} ms: it was held`);
      assert.deepEqual(body.messages.map((m) => m.id), ids.slice(1));
      assert.equal(body.last_id, ids[2]);
      assert.equal(body.reset, undefined);
    });

    it('is held until another process (sqlite3) publishes, then answers with it', async (t) => {
      if (s.store === 'redis') { t.skip('the sqlite3 shell: SQLite only'); return; }
      const channel = freshChannel('lp');
      const since = await lastId(s);
      const p = hold(s, `channel=${channel}&since=${since}&timeout=50`);
      await sleep(800);
      assert.equal(p.answered, false, 'answered before anything was published');
      const id = await publishSql(s, { channel, text: 'from sqlite3' });
      const r = await p;
      const body = assertJsonAnswer(r);
      assert.deepEqual(body.messages.map((m) => [m.id, m.text]), [[id, 'from sqlite3']]);
      assert.equal(body.last_id, id);
      assert.ok(r.elapsed >= 700, `answered after ${r.elapsed} ms, before the publish`);
      assert.ok(r.elapsed < 20_000, `answered after ${r.elapsed} ms: not woken by the commit`);
    });

    it('is held until send.fcgi publishes, and hands over every message after since', async () => {
      const channel = freshChannel('lp');
      const first = await publish(s, { channel, text: 'before' });
      const p = hold(s, `channel=${channel}&since=${first.id}&timeout=50`);
      await sleep(500);
      assert.equal(p.answered, false, 'answered with nothing new');
      const m = await publish(s, { channel, text: 'after' });
      const body = assertJsonAnswer(await p);
      assert.deepEqual(body.messages, [m]);
      assert.equal(body.last_id, m.id);
    });

    it('is not answered early by a message on another channel', async () => {
      const channel = freshChannel('lp');
      const since = await lastId(s);
      const p = hold(s, `channel=${channel}&since=${since}&timeout=3`);
      await sleep(300);
      const other = await publish(s, { channel: freshChannel('other'), text: 'elsewhere' });
      const r = await p;
      const body = assertJsonAnswer(r);
      assert.deepEqual(body.messages, []);
      assert.ok(r.elapsed >= 2800, `answered after ${r.elapsed} ms, before its 3 s timeout`);
      assert.ok(body.last_id >= other.id, 'last_id is the store\'s newest id');
    });

    it('answers an empty list and the newest id after `timeout`', async () => {
      const channel = freshChannel('lp');
      const newest = await lastId(s);
      const r = await hold(s, `channel=${channel}&since=${newest}&timeout=1`);
      const body = assertJsonAnswer(r);
      assert.deepEqual(body.messages, []);
      assert.equal(body.last_id, newest);
      assert.ok(r.elapsed >= 900, `answered after ${r.elapsed} ms`);
      assert.ok(r.elapsed < 15_000, `answered after ${r.elapsed} ms`);
      const zero = await hold(s, `channel=${channel}&since=${newest}&timeout=0`);
      assert.deepEqual(assertJsonAnswer(zero).messages, []);
    });

    it('answers at once with reset when since is above the newest id', async () => {
      const newest = await lastId(s);
      const r = await hold(s, `since=${newest + 1000}&timeout=30`);
      const body = assertJsonAnswer(r);
      assert.ok(r.elapsed < 15_000, `took ${r.elapsed} ms`);
      assert.deepEqual(body.messages, []);
      assert.equal(body.reset, true);
      assert.equal(body.last_id, newest);
    });

    it('returns texts byte-identical (quotes, CR, LF, </script>, emoji, CJK)', async () => {
      const channel = freshChannel('lp');
      const since = await lastId(s);
      const p = hold(s, `channel=${channel}&since=${since}&timeout=30`);
      await sleep(200);
      for (const text of TRICKY_TEXTS) await publish(s, { channel, text });
      let got = (await p).json().messages;
      // The first answer may come before every message is in; read on.
      while (got.length < TRICKY_TEXTS.length) {
        const r = await hold(s, `channel=${channel}&since=${got.at(-1).id}&timeout=10`);
        got = got.concat(r.json().messages);
      }
      assert.equal(got.length, TRICKY_TEXTS.length);
      got.forEach((m, i) => {
        assert.ok(Buffer.from(m.text, 'utf8').equals(Buffer.from(TRICKY_TEXTS[i], 'utf8')),
          `text ${i} changed: ${JSON.stringify(m.text)}`);
      });
    });

    it('refuses bad parameters with 400 and other methods with 405', async () => {
      const bad = ['timeout=56', 'timeout=-1', 'timeout=1.5', 'timeout=abc', 'timeout=',
        'since=-1', 'since=abc', 'since=9223372036854775808', 'limit=0', 'limit=501',
        'channel=bad!', `channel=${'a'.repeat(65)}`, 'timeout=%zz'];
      for (const q of bad) {
        const r = await curl(`${s.base}${LP}?${q}`, { maxTime: 15 });
        assert.equal(r.status, 400, `${q}: ${r.status} ${r.body}`);
        assert.match(r.headers['content-type'], /^application\/json/);
        const e = r.json();
        assert.equal(typeof e.error, 'string', q);
        assert.equal(typeof e.detail, 'string', q);
      }
      // A NUL inside a number is malformed, not the digits before it
      // (lighttpd refuses a %00 in the URL itself, with its own page).
      for (const q of ['since=5%00junk', 'limit=5%00', 'timeout=5%00']) {
        const r = await curl(`${s.base}${LP}?${q}`, { maxTime: 15 });
        assert.equal(r.status, 400, `${q}: ${r.status} ${r.body}`);
        if (server !== 'lighttpd') assert.equal(r.json().error, 'bad_request', q);
      }
      const r = await curl(`${s.base}${LP}`, { method: 'POST', data: 'x=1' });
      assert.equal(r.status, 405);
      assert.match(r.headers.allow, /GET/);
    });

    it('holds 32 clients at once and answers them all on one publish', async () => {
      const channel = freshChannel('lp32');
      const since = await lastId(s);
      await waitQuiet(s, 'longpoll.fcgi');
      const polls = [];
      for (let i = 0; i < 32; i++) polls.push(hold(s, `channel=${channel}&since=${since}&timeout=55`, 90));
      // Every held client occupies a process of its own: wait until 32 are busy.
      await until(() => busyPids(s, 'longpoll.fcgi').length >= 32, 40_000,
        '32 busy long-poll processes');
      assert.equal(polls.filter((p) => p.answered).length, 0, 'answered before the publish');
      const m = await publish(s, { channel, text: 'to all 32' });
      const answers = await Promise.all(polls);
      for (const r of answers) assert.deepEqual(assertJsonAnswer(r).messages, [m]);
    });

    // Last: it replaces the stack's database (issue 11 item 6).
    it('answers a long-poll held while the database is recreated with reset', async (t) => {
      if (s.store === 'redis') { t.skip('a SQLite file recreated: SQLite only'); return; }
      const channel = freshChannel('lp');
      await publish(s, { channel, text: 'in the old database' });
      const since = await lastId(s);
      const p = hold(s, `channel=${channel}&since=${since}&timeout=50`);
      await sleep(800);
      assert.equal(p.answered, false, 'answered before the database was recreated');
      await recreateDb(s);
      const r = await p;
      const body = assertJsonAnswer(r);
      assert.deepEqual(body.messages, []);
      assert.equal(body.reset, true);
      assert.equal(body.last_id, 0, 'the new store\'s newest id');
      assert.ok(r.elapsed < 20_000, `answered after ${r.elapsed} ms: the reset went unnoticed`);
      // And the new store is served: its first message has id 1.
      const m = await publish(s, { channel, text: 'in the new database' });
      assert.equal(m.id, 1);
    });
  });
}
