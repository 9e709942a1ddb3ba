// retention.test.js — RT_KEEP and RT_MAX_CHANNELS hold through real web
// servers, whatever the process model: under mod_cgid every insert is its
// own process (retention used to run on every 64th insert of one process,
// so it never ran there: RT_KEEP=5, 100 messages → 100 kept), and under
// mod_fcgid the inserts of interleaved channels are spread over several
// processes (one channel kept 48 with RT_KEEP=5).  docs/store.md,
// "Retention", states the rule these tests hold it to.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startStack } from '../lib/servers.js';
import { curl, curlMany } from '../lib/http.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

for (const stack of [{ server: 'apache', mode: 'cgi' }, { server: 'apache', mode: 'fcgid' }]) {
  describe(`retention: ${stack.server}/${stack.mode}`, () => {
    let s;
    before(async () => {
      s = await startStack({ ...stack, ws: false, env: { RT_KEEP: '5', RT_MAX_CHANNELS: '8' } });
    });
    after(async () => { await s?.stop(); });

    const sendAll = async (list) => {
      // Four publishers at once, so that under mod_fcgid the inserts of one
      // channel land in different processes.
      const parts = [0, 1, 2, 3].map((k) => list.filter((_, i) => i % 4 === k));
      const answers = (await Promise.all(parts.map((part) => curlMany(part.map(([channel, text]) => ({
        url: `${s.base}/cgi-bin/send.fcgi`, headers: FORM, data: `channel=${channel}&text=${text}`,
      })))))).flat();
      answers.forEach((r) => assert.equal(r.status, 201, r.body));
      return answers.map((r) => r.json());
    };
    const stored = async (channel) => {
      const r = await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}&since=0&limit=500`);
      assert.equal(r.status, 200, r.body);
      return r.json().messages;
    };

    test('RT_KEEP=5 holds per channel with three channels interleaved', async () => {
      const channels = ['keep_a', 'keep_b', 'keep_c'];
      const acks = await sendAll(Array.from({ length: 60 }, (_, i) => [channels[i % 3], `m${i}`]));
      for (const channel of channels) {
        const newest = acks.filter((m) => m.channel === channel).map((m) => m.id)
          .sort((a, b) => a - b).slice(-5);
        // keep 5 has no slack (keep / 8 = 0): exactly the newest five.
        assert.deepEqual((await stored(channel)).map((m) => m.id), newest, channel);
      }
    });

    test('RT_MAX_CHANNELS=8: many one-message channels evict the idle longest', async () => {
      const names = Array.from({ length: 20 }, (_, i) => `one_${i}`);
      // One after another, so "idle longest" is well defined.
      for (const name of names) await sendAll([[name, 'x']]);
      const left = execFileSync('sqlite3', [s.db, 'SELECT name FROM channels ORDER BY last_id'])
        .toString().trim().split('\n');
      assert.deepEqual(left, names.slice(-8), 'the eight most recently used channels');
      assert.deepEqual(await stored('one_0'), [], 'an evicted channel has no messages');
      assert.equal((await stored('one_19')).length, 1);
    });
  });
}
