// loadgen_tls.test.js — tools/loadgen's TLS client (tools/loadgen/tls.c,
// `--tls`) against real servers started with TLS=1, for correctness only
// (what TLS costs is `TLS=1 make bench`'s job).
//
// On Apache (mod_fcgid) and lighttpd over HTTPS: every technique delivers
// every message exactly once to every client, with no connect, reset or
// protocol error, whether TLS comes from --tls on an http:// base or from an
// https:// base.  Two mismatches prove the client can fail: --tls against a
// plain server (the handshake fails: connect errors, nobody held) and plain
// HTTP against the TLS server (no valid response: nobody held).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startStack, BUILD } from '../lib/servers.js';

const LOADGEN = path.join(BUILD, 'tools', 'loadgen', 'loadgen');

function loadgen(args) {
  return new Promise((resolve) => {
    execFile(LOADGEN, ['--header', '-q', '-c', '4', '-m', '6', '-r', '20', '--settle', '200',
      '--ready-timeout', '15', '--drain', '5', ...args], { timeout: 120_000 },
    (err, stdout, stderr) => {
      const [head, line] = stdout.trim().split('\n');
      const row = head && line
        ? Object.fromEntries(head.split(',').map((k, i) => [k, line.split(',')[i]])) : null;
      resolve({ code: err ? (err.code ?? 1) : 0, row, stderr });
    });
  });
}

for (const stack of [{ server: 'apache', mode: 'fcgid' }, { server: 'lighttpd' }]) {
  describe(`loadgen over TLS: ${stack.server}`, () => {
    let s;
    before(async () => { s = await startStack({ ...stack, tls: true }); });
    after(async () => { await s?.stop(); });

    const http = () => s.base.replace(/^https:/, 'http:');
    const cases = [
      ['poll', ['-t', 'poll', '-i', '300']],
      ['longpoll', ['-t', 'longpoll']],
      ['sse', ['-t', 'sse']],
      ['ws (wss:// through the server)', ['-t', 'ws']],
    ];
    for (const [name, args] of cases) {
      it(`${name}: every message once to every client, over --tls and over https://`, async () => {
        for (const base of [['--base', http(), '--tls'], ['--base', s.base]]) {
          const r = await loadgen([...base, ...args, '--pid-file', path.join(s.runDir, 'pids')]);
          assert.equal(r.code, 0, `${base.join(' ')}: exit ${r.code}: ${r.stderr}`);
          assert.equal(r.row.held, '4');
          assert.equal(r.row.lost, '0');
          assert.equal(r.row.dup, '0');
          assert.equal(r.row.errors, '0');
        }
      });
    }

    it('plain HTTP against the TLS server is refused: nobody is held', async () => {
      const r = await loadgen(['--base', http(), '-t', 'sse', '--ready-timeout', '3']);
      assert.notEqual(r.code, 0);
      assert.equal(r.row?.held ?? '0', '0');
    });
  });
}

describe('loadgen --tls against a plain server', () => {
  let s;
  before(async () => { s = await startStack({ server: 'apache', mode: 'fcgid', ws: false }); });
  after(async () => { await s?.stop(); });

  it('the handshake fails: connect errors, nobody held, exit 1', async () => {
    const r = await loadgen(['--base', s.base, '--tls', '-t', 'poll', '-i', '300', '--ready-timeout', '3']);
    assert.notEqual(r.code, 0);
    assert.equal(r.row?.held ?? '0', '0');
    assert.ok(Number(r.row?.errors ?? 1) > 0, `errors: ${r.row?.errors}`);
  });
});
