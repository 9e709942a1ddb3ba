// foundation.test.js — send and poll through real web servers.
//
// For each stack (Apache with mod_fcgid, with mod_proxy_fcgi + spawn-fcgi,
// with mod_cgi(d); lighttpd with mod_fastcgi) on free loopback ports:
//   - the happy path: form and JSON posts, read back with poll, in order;
//   - every error status of docs/protocol.md: 400 (each kind of bad input), 403
//     cross-origin POST, 405 with Allow, 413, 415, and 503 with Retry-After
//     when the store cannot be opened;
//   - a declared Content-Length over 16 KiB is refused at once (413), and a
//     body that stops short is cut by mod_reqtimeout (Apache);
//   - ETag / If-None-Match → 304;
//   - 20 parallel publishers × 50 messages: 1000 distinct ids, none lost,
//     none duplicated, all readable in id order (20 × 15 under mod_cgi).
// Every request goes through curl; nothing is mocked.

import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { startStack, STACKS } from '../lib/servers.js';
import { curl, curlMany } from '../lib/http.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const JSON_CT = { 'Content-Type': 'application/json' };
const ALLOWED = 'http://allowed.example';

function assertJsonHeaders(r, cacheControl = 'no-store') {
  assert.match(r.headers['content-type'] ?? '', /^application\/json; charset=utf-8$/i);
  assert.equal(r.headers['cache-control'], cacheControl);
}

function assertError(r, status, what) {
  assert.equal(r.status, status, `${what}: expected ${status}, got ${r.status} ${r.body}`);
  // The whole answer arrived: an endpoint that answers without reading the
  // request body can have its answer cut by a connection reset (curl exit
  // 18 or 52), e.g. under mod_cgid.
  if (r.exitCode !== undefined) assert.equal(r.exitCode, 0, `${what}: curl exit ${r.exitCode} ${r.stderr}`);
  assertJsonHeaders(r);
  const e = r.json();
  assert.equal(typeof e.error, 'string', `${what}: error code`);
  assert.ok(e.error.length > 0);
  assert.equal(typeof e.detail, 'string', `${what}: detail`);
  assert.ok(e.detail.length > 0);
}

// Reads a channel from `since` to the end, page by page (limit ≤ 500).
async function readAll(base, channel, since = 0) {
  const all = [];
  for (;;) {
    const r = await curl(`${base}/cgi-bin/poll.fcgi?channel=${channel}&since=${since}&limit=500`);
    assert.equal(r.status, 200, r.body);
    const { messages, last_id: lastId } = r.json();
    all.push(...messages);
    if (messages.length === 0) return all;
    assert.equal(lastId, messages[messages.length - 1].id, 'last_id is the last message id');
    since = lastId;
  }
}

for (const stack of STACKS) {
  describe(`foundation: ${stack.server}/${stack.mode}`, () => {
    let s;
    const send = (data, headers = FORM, extra = {}) =>
      curl(`${s.base}/cgi-bin/send.fcgi`, { method: 'POST', data, headers, ...extra });
    const poll = (qs, headers = {}) => curl(`${s.base}/cgi-bin/poll.fcgi?${qs}`, { headers });
    // A declared body over 16 KiB is refused by the web server from its
    // headers (apache-conf/rtlab-limits.conf, lighttpd-rtlab.conf) with the
    // same JSON; lighttpd's refusal comes before mod_setenv, so it has no
    // Cache-Control (docs/security.md).
    const assertTooLarge = (r, what) => {
      if (stack.server !== 'lighttpd') return assertError(r, 413, what);
      assert.equal(r.status, 413, `${what}: expected 413, got ${r.status} ${r.body}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json; charset=utf-8$/i);
      assert.deepEqual(r.json(), { error: 'too_large', detail: 'body is over 16 KiB' });
    };

    before(async () => {
      // RT_ALLOWED_ORIGINS reaches send.fcgi only if the stack passes the
      // caller's RT_* through (FcgidInitialEnv/PassEnv, spawn-fcgi's
      // environment, CGI env, lighttpd bin-environment): the 403 test
      // below depends on it.
      s = await startStack({ ...stack, ws: false, env: { RT_ALLOWED_ORIGINS: `${ALLOWED} http://other.example` } });
    });
    after(async () => {
      await s?.stop();
    });

    test('form and JSON posts are stored and read back with poll', async () => {
      const a = await send('channel=happy&user=alice&text=hello%20world');
      assert.equal(a.status, 201, a.body);
      assertJsonHeaders(a);
      const ma = a.json();
      assert.equal(ma.channel, 'happy');
      assert.equal(ma.user, 'alice');
      assert.equal(ma.text, 'hello world');
      assert.equal(ma.via, 'http');
      assert.ok(Number.isInteger(ma.id) && ma.id > 0);
      assert.ok(Math.abs(ma.ts - Date.now()) < 10 * 60_000, 'ts is milliseconds since the epoch');

      const text = 'ünïcödé "quoted" <b> \\ \n line 2 ✓ 😀';
      const b = await send(JSON.stringify({ channel: 'happy', user: 'bøb', text }), JSON_CT);
      assert.equal(b.status, 201, b.body);
      const mb = b.json();
      assert.equal(mb.text, text);
      assert.equal(mb.user, 'bøb');
      assert.ok(mb.id > ma.id);

      const d = await send('text=defaults');
      assert.equal(d.status, 201, d.body);
      assert.equal(d.json().channel, 'lobby');
      assert.equal(d.json().user, 'anon');

      const r = await poll('channel=happy&since=0');
      assert.equal(r.status, 200);
      assertJsonHeaders(r, 'no-cache');
      const body = r.json();
      assert.deepEqual(body.messages, [ma, mb]);
      assert.equal(body.last_id, mb.id);

      // since = the last id: nothing new, last_id stays a safe cursor.
      const empty = (await poll(`channel=happy&since=${mb.id}`)).json();
      assert.deepEqual(empty.messages, []);
      assert.ok(empty.last_id >= mb.id);

      // Without since: the last `limit` messages, oldest first.
      const last = (await poll('channel=happy&limit=1')).json();
      assert.deepEqual(last.messages, [mb]);

      // A since beyond the store's newest id: the store was recreated.
      const reset = (await poll('channel=happy&since=999999999')).json();
      assert.equal(reset.reset, true);
      assert.deepEqual(reset.messages, []);
    });

    test('ETag and If-None-Match give 304', async () => {
      await send('channel=etag&text=one');
      const r1 = await poll('channel=etag&since=0');
      assert.equal(r1.status, 200);
      const etag = r1.headers.etag;
      assert.ok(etag, 'poll answers with an ETag');
      const r2 = await poll('channel=etag&since=0', { 'If-None-Match': etag });
      assert.equal(r2.status, 304, r2.body);
      assert.equal(r2.body, '');
      await send('channel=etag&text=two');
      const r3 = await poll('channel=etag&since=0', { 'If-None-Match': etag });
      assert.equal(r3.status, 200, 'a new message changes the ETag');
      assert.notEqual(r3.headers.etag, etag);
      assert.equal(r3.json().messages.length, 2);
    });

    test('400 for every kind of bad input, and the store is unchanged', async () => {
      const before = (await poll('channel=bad&since=0')).json();
      const sendUrl = `${s.base}/cgi-bin/send.fcgi`;
      const form = (what, data) => [what, { url: sendUrl, headers: FORM, data }];
      const json = (what, data) => [what, { url: sendUrl, headers: JSON_CT, data }];
      const get = (qs) => [`poll ${qs}`, { url: `${s.base}/cgi-bin/poll.fcgi?${qs}` }];
      const cases = [
        form('empty text', 'channel=bad&text='),
        form('missing text', 'channel=bad&user=x'),
        form('text over 4096 bytes', `channel=bad&text=${'a'.repeat(4097)}`),
        form('text of 4096 two-byte characters', `channel=bad&text=${'%C3%A9'.repeat(2049)}`),
        form('user over 32 characters', `channel=bad&user=${'u'.repeat(33)}&text=x`),
        form('empty user', 'channel=bad&user=&text=x'),
        form('channel with a bad character', 'channel=b%20d&text=x'),
        form('channel over 64 bytes', `channel=${'c'.repeat(65)}&text=x`),
        form('invalid UTF-8 in text', 'channel=bad&text=%C3%28'),
        form('overlong UTF-8', 'channel=bad&text=%C0%AF'),
        form('a raw 0xFF byte', 'channel=bad&text=a%FFb'),
        form('a NUL character', 'channel=bad&text=a%00b'),
        form('bad percent escape', 'channel=bad&text=%zz'),
        json('malformed JSON', '{"text":'),
        json('JSON that is not an object', '["text"]'),
        json('text that is not a string', '{"channel":"bad","text":42}'),
        json('empty JSON text', '{"channel":"bad","text":""}'),
        json('bad channel in JSON', '{"channel":"a/b","text":"x"}'),
        get('since=-1'), get('since=abc'), get('since=1e3'), get('since=%20'),
        get('limit=0'), get('limit=501'), get('limit=x'),
        get('channel=b%20d'), get(`channel=${'c'.repeat(65)}`),
      ];
      const answers = await curlMany(cases.map(([, req]) => req));
      answers.forEach((r, i) => assertError(r, 400, cases[i][0]));
      // One name per status on every endpoint (lib/http_status.c).
      answers.forEach((r, i) => assert.equal(r.json().error, 'bad_request', cases[i][0]));
      // A NUL inside a number is malformed, not the digits before it.
      // lighttpd refuses a %00 anywhere in the URL itself (its own 400 page,
      // server.http-parseopts url-ctrls-reject); Apache passes it to us.
      for (const qs of ['since=5%00junk', 'limit=5%00', 'since=%005']) {
        const r = await poll(`channel=bad&${qs}`);
        if (stack.server === 'lighttpd' && !/json/.test(r.headers['content-type'] ?? '')) {
          assert.equal(r.status, 400, `${qs}: lighttpd's own refusal`);
          continue;
        }
        assertError(r, 400, `poll ${qs}`);
        assert.equal(r.json().error, 'bad_request', qs);
      }
      // Raw invalid UTF-8 bytes in a JSON body (not expressible in argv).
      const raw = Buffer.concat([Buffer.from('{"channel":"bad","text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
      assertError(await send(raw, JSON_CT), 400, 'invalid UTF-8 in JSON');
      const afterRead = (await poll('channel=bad&since=0')).json();
      assert.deepEqual(afterRead.messages, before.messages, 'nothing was stored by bad requests');
    });

    test('403 for an Origin not in RT_ALLOWED_ORIGINS; listed and absent Origins pass', async () => {
      assertError(await send('channel=origin&text=x', { ...FORM, Origin: 'http://evil.example' }), 403, 'cross-origin');
      // With a list set, even the server's own origin must be on it.
      assertError(await send('channel=origin&text=x', { ...FORM, Origin: s.base }), 403, 'not listed');
      const listed = await send('channel=origin&text=listed', { ...FORM, Origin: ALLOWED });
      assert.equal(listed.status, 201, listed.body);
      const none = await send('channel=origin&text=none');
      assert.equal(none.status, 201, none.body);
      const msgs = (await poll('channel=origin&since=0')).json().messages.map((m) => m.text);
      assert.deepEqual(msgs, ['listed', 'none']);
    });

    test('405 with Allow for a wrong method', async () => {
      const g = await curl(`${s.base}/cgi-bin/send.fcgi`);
      assertError(g, 405, 'GET send');
      assert.match(g.headers.allow ?? '', /\bPOST\b/);
      for (const method of ['PUT', 'DELETE']) {
        const r = await curl(`${s.base}/cgi-bin/send.fcgi`, { method, data: 'text=x', headers: FORM });
        assertError(r, 405, `${method} send`);
        assert.match(r.headers.allow ?? '', /\bPOST\b/);
      }
      const p = await curl(`${s.base}/cgi-bin/poll.fcgi`, { method: 'POST', data: 'x=1', headers: FORM });
      assertError(p, 405, 'POST poll');
      assert.match(p.headers.allow ?? '', /\bGET\b/);
    });

    test('413 for a body over 16 KiB, 415 for another content type', async () => {
      const big = `channel=big&text=${'a'.repeat(16 * 1024 + 10)}`;
      assertTooLarge(await send(big), 'form over 16 KiB');
      assertTooLarge(await send(JSON.stringify({ text: 'b'.repeat(17 * 1024) }), JSON_CT), 'JSON over 16 KiB');
      assertError(await send('text=x', { 'Content-Type': 'text/plain' }), 415, 'text/plain');
      assertError(await send('<text>x</text>', { 'Content-Type': 'application/xml' }), 415, 'xml');
      // The process that refused goes on serving.
      const ok = await send('channel=big&text=after');
      assert.equal(ok.status, 201, ok.body);
    });

    // A client that declares a huge body and sends 30 bytes used to hold the
    // connection until the server's Timeout (70 s): the server waited for
    // the body before running send.fcgi.  Now the server refuses it from
    // the headers (apache-conf/rtlab-limits.conf, lighttpd-rtlab.conf).
    test('413 at once for a declared Content-Length over 16 KiB that never comes', async () => {
      for (const length of ['999999999', '16385']) {
        const r = await send('channel=liar&text=never-stored', { ...FORM, 'Content-Length': length }, { maxTime: 20 });
        assertTooLarge(r, `Content-Length ${length}`);
      }
      // job.fcgi takes a form body too, under the same rule.
      const job = await curl(`${s.base}/cgi-bin/job.fcgi`, {
        method: 'POST', data: 'size=1', headers: { ...FORM, 'Content-Length': '999999999' }, maxTime: 20,
      });
      assertTooLarge(job, 'job.fcgi, Content-Length 999999999');
      assert.deepEqual((await poll('channel=liar&since=0')).json().messages, []);
    });

    // mod_reqtimeout (apache-conf/httpd.conf.in): a body that stops short of
    // its Content-Length is cut after 10 s, not after Timeout (70 s).
    // mod_fcgid answers 500 for any failed body read, the others 408.
    if (stack.server === 'apache' && stack.mode === 'fcgid') {
      test('a body that stops short of its Content-Length is cut within 30 s', async () => {
        const r = await send('channel=slow&text=never-stored', { ...FORM, 'Content-Length': '1000' }, { maxTime: 30 });
        assert.ok([408, 500].includes(r.status), `${r.status} ${r.body}`);
        assert.deepEqual((await poll('channel=slow&since=0')).json().messages, []);
      });
    }

    // Under mod_cgi every request is a fork+exec and a fresh SQLite open:
    // the same race with fewer messages keeps the file fast on a busy
    // machine; the persistent modes take the full 1000.
    const perPublisher = stack.mode === 'cgi' ? 15 : 50;
    const total = 20 * perPublisher;
    test(`20 parallel publishers × ${perPublisher} messages: ${total} distinct ids, in order`, async () => {
      const channel = `load${Date.now() % 100000}`;
      // 20 publishers at once, each one curl process posting its messages
      // one after another.
      const byPublisher = Array.from({ length: 20 }, (_, p) =>
        Array.from({ length: perPublisher }, (__, i) => ({ p, i })));
      const acks = (await Promise.all(byPublisher.map(async (list) => {
        const answers = await curlMany(list.map(({ p, i }) => ({
          url: `${s.base}/cgi-bin/send.fcgi`, headers: FORM,
          data: `channel=${channel}&user=p${p}&text=${p}-${i}`,
        })));
        return answers.map((r, k) => {
          assert.equal(r.status, 201, `publisher ${list[k].p} message ${list[k].i}: ${r.status} ${r.body}`);
          return JSON.parse(r.body);
        });
      }))).flat();
      assert.equal(acks.length, total);
      const ids = new Set(acks.map((m) => m.id));
      assert.equal(ids.size, total, 'every message got its own id');
      // Each publisher saw its own ids increase.
      for (let p = 0; p < 20; p++) {
        const mine = acks.filter((m) => m.user === `p${p}`).map((m) => m.id);
        assert.deepEqual(mine, [...mine].sort((a, b) => a - b));
      }
      const stored = await readAll(s.base, channel);
      assert.equal(stored.length, total, 'none lost');
      const storedIds = stored.map((m) => m.id);
      assert.deepEqual(storedIds, [...storedIds].sort((a, b) => a - b), 'in id order');
      assert.equal(new Set(storedIds).size, total, 'none duplicated');
      assert.deepEqual(new Set(storedIds), ids, 'the acknowledged ids are the stored ids');
      assert.deepEqual(new Set(stored.map((m) => m.text)), new Set(acks.map((m) => m.text)));
    });

    test('the FastCGI processes are the run\'s, and stop() ends every one of them', async () => {
      const pids = s.serverPids();
      const exe = (pid) => { try { return readlinkSync(`/proc/${pid}/exe`); } catch { return ''; } };
      const uid = (pid) => {
        try { return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)[1]); } catch { return -1; }
      };
      if (stack.mode !== 'cgi') {   // CGI processes live for one request only
        const endpoints = pids.filter((pid) => exe(pid).startsWith(`${s.runDir}/cgi-bin/`));
        assert.ok(endpoints.length > 0, `serverPids() includes the FastCGI processes: ${pids.join(' ')}`);
        if (process.getuid() === 0) {
          for (const pid of endpoints) assert.equal(uid(pid), 33, `endpoint ${pid} runs as www-data`);
        }
      }
      await s.stop();
      const alive = pids.filter((pid) => {
        try { return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
      });
      assert.deepEqual(alive, [], 'nothing the run started is left');
      assert.deepEqual(s.serverPids(), []);
    });
  });
}

// The store cannot be opened (its directory does not exist): send and poll
// answer 503 with Retry-After and a JSON error, and keep serving.
for (const stack of [STACKS[0], STACKS[3]]) {
  describe(`foundation: ${stack.server}/${stack.mode} with the store unavailable`, () => {
    let s;
    before(async () => {
      const dir = `/tmp/rtlab-missing-${process.pid}-${Date.now()}`;
      s = await startStack({ ...stack, ws: false, env: { RT_DB: `${dir}/nowhere/rtlab.db` } });
    });
    after(async () => {
      await s?.stop();
    });

    test('503 with Retry-After on send and poll', async () => {
      for (let i = 0; i < 2; i++) {
        const a = await curl(`${s.base}/cgi-bin/send.fcgi`, { method: 'POST', data: 'text=x', headers: FORM });
        assertError(a, 503, 'send without a store');
        assert.ok(a.headers['retry-after'], 'send: Retry-After');
        const b = await curl(`${s.base}/cgi-bin/poll.fcgi?since=0`);
        assertError(b, 503, 'poll without a store');
        assert.ok(b.headers['retry-after'], 'poll: Retry-After');
        assert.equal(a.json().error, 'unavailable', 'send: the 503 code');
        assert.equal(b.json().error, 'unavailable', 'poll: the 503 code');
      }
    });

    test('without RT_ALLOWED_ORIGINS the server\'s own origin passes, another is refused', async () => {
      const post = (origin) => curl(`${s.base}/cgi-bin/send.fcgi`,
        { method: 'POST', data: 'text=x', headers: { ...FORM, Origin: origin } });
      assertError(await post('http://evil.example'), 403, 'cross-origin');
      assertError(await post(s.base), 503, 'same origin gets as far as the store');
    });
  });
}
