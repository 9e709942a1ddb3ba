// bench.test.js — the benchmark's tools on a tiny scenario, for correctness
// only (speed is `make bench`'s job, and this machine is shared).
//
// tools/loadgen against real Apache (mod_fcgid) + the helper, once per
// technique: every subscriber must get every message exactly once (it checks
// ids), and its CSV row must be well formed.  Two deliberately wrong
// subscribe URLs prove the checker can fail: one that ignores the cursor
// (every poll repeats old messages: duplicates) and one that only ever asks
// for the newest message (messages are skipped: lost).  Last, tools/bench.sh
// itself on a miniature run: its table, CSV and SVG; its plot from a CSV
// whose columns are in another order; and, when nginx + nchan are
// installed, the peer comparison (--peer) on a miniature run.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startStack, BUILD, ROOT, clusterTools } from '../lib/servers.js';

const LOADGEN = path.join(BUILD, 'tools', 'loadgen', 'loadgen');
const COLUMNS = [
  'label', 'technique', 'clients', 'held', 'interval_ms', 'messages', 'delivered',
  'lost', 'dup', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'req_per_s', 'req_per_msg',
  'bytes_per_msg', 'conns', 'srv_procs', 'srv_cpu_s', 'srv_cpu_pct', 'idle_cpu_pct',
  'srv_rss_kib', 'rss_per_conn_kib', 'errors', 'run_s', 'loadgen_cpu_s', 'pub_p50_ms',
  'fcgi_procs', 'fcgi_rss_kib', 'cpu_us_per_msg', 'srv_wakes', 'wakes_per_pub',
  'fcgi_rss_per_conn_kib',
];

function exec(file, args, opts = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 180_000, maxBuffer: 8 << 20, ...opts },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

/** Parses loadgen's --header output: exactly the header line and one row. */
function parseCsv(stdout) {
  const lines = stdout.trim().split('\n');
  assert.equal(lines.length, 2, `expected header + one row, got:\n${stdout}`);
  assert.deepEqual(lines[0].split(','), COLUMNS);
  const cells = lines[1].split(',');
  assert.equal(cells.length, COLUMNS.length, lines[1]);
  return Object.fromEntries(COLUMNS.map((c, i) => [c, cells[i]]));
}

/** Every column but the label and technique is a finite number. */
function assertWellFormed(row) {
  for (const c of COLUMNS.slice(2)) {
    assert.match(row[c], /^-?\d+(\.\d+)?$/, `${c} = ${row[c]}`);
  }
  const n = (c) => Number(row[c]);
  assert.ok(n('p50_ms') <= n('p90_ms') && n('p90_ms') <= n('p99_ms') &&
            n('p99_ms') <= n('max_ms'), 'percentiles out of order');
  assert.ok(n('p50_ms') >= 0);
}

describe('loadgen against Apache mod_fcgid + helper', () => {
  let s;
  before(async () => { s = await startStack({ server: 'apache', mode: 'fcgid' }); });
  after(async () => { await s?.stop(); });

  const CLIENTS = 5;
  const MESSAGES = 8;
  const cases = [
    { name: 'poll', args: ['-t', 'poll', '-i', '300'] },
    { name: 'longpoll', args: ['-t', 'longpoll'] },
    { name: 'sse', args: ['-t', 'sse'] },
    { name: 'ws through Apache', args: ['-t', 'ws'] },
    { name: 'ws to the helper', args: ['-t', 'ws'], direct: true },
    { name: 'ws, published over a WebSocket', args: ['-t', 'ws'], direct: true, pubWs: true },
    { name: 'sse, published over a WebSocket', args: ['-t', 'sse'], pubWs: true },
    // Three subscriber processes on 127.0.0.2-4: one report, the same checks.
    { name: 'ws to the helper from 3 processes', args: ['-t', 'ws', '--procs', '3'], direct: true },
    { name: 'sse from 2 processes', args: ['-t', 'sse', '--procs', '2'] },
  ];
  for (const c of cases) {
    it(`${c.name}: every message once to every client, a well-formed row`, async () => {
      const args = ['--header', '-q', '--label', 'test', '--base', s.base,
        '--pid-file', path.join(s.runDir, 'pids'),
        '-c', String(CLIENTS), '-m', String(MESSAGES), '-r', '20',
        '--settle', '200', ...c.args];
      if (c.direct) args.push('--ws-base', s.wsDirect.replace(/\/ws$/, ''));
      if (c.pubWs) args.push('--pub-ws', `${s.wsDirect}?channel={channel}&history=0`);
      const r = await exec(LOADGEN, args);
      assert.equal(r.code, 0, `loadgen failed:\n${r.stdout}${r.stderr}`);
      const row = parseCsv(r.stdout);
      assertWellFormed(row);
      assert.equal(row.technique, c.args[1]);
      assert.equal(Number(row.clients), CLIENTS);
      assert.equal(Number(row.held), CLIENTS);
      assert.equal(Number(row.messages), MESSAGES);
      assert.equal(Number(row.delivered), CLIENTS * MESSAGES);
      assert.equal(Number(row.lost), 0);
      assert.equal(Number(row.dup), 0);
      assert.equal(Number(row.errors), 0);
      assert.ok(Number(row.bytes_per_msg) > 0);
      assert.ok(Number(row.req_per_msg) > 0);
      // The server side was found in /proc: the web server (and helper).
      assert.ok(Number(row.srv_procs) >= 1, 'no server process found');
      assert.ok(Number(row.srv_rss_kib) > 0);
      assert.ok(Number(row.conns) >= CLIENTS, `conns ${row.conns}`);
    });
  }

  /** loadgen with a deliberately wrong subscribe URL: it must exit 1. */
  async function wrongSubscriber(subUrl, args) {
    const r = await exec(LOADGEN, ['--header', '-q', '--base', s.base, '-t', 'poll',
      '-c', '2', '--settle', '0', '--drain', '2', '--sub-url', subUrl, ...args]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    return parseCsv(r.stdout);
  }

  it('a subscriber that ignores its cursor is caught duplicating', async () => {
    const row = await wrongSubscriber(`${s.base}/cgi-bin/poll.fcgi?channel={channel}&since=0`,
      ['-i', '200', '-m', '4', '-r', '10']);
    assert.ok(Number(row.dup) > 0, `dup ${row.dup}`);
    assert.equal(Number(row.lost), 0);
  });

  it('a subscriber that skips messages is caught losing them', async () => {
    // limit=1 without since: each poll sees only the newest message, while
    // 20 are published in one second and the client polls every 400 ms.
    const row = await wrongSubscriber(`${s.base}/cgi-bin/poll.fcgi?channel={channel}&limit=1`,
      ['-i', '400', '-m', '20', '-r', '20']);
    assert.ok(Number(row.lost) > 0, `lost ${row.lost}`);
    assert.ok(Number(row.delivered) < 40);
  });

  it('refuses a bad option with exit status 2', async () => {
    const r = await exec(LOADGEN, ['-c', 'many']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--clients/);
  });
});

describe('tools/bench.sh on a miniature run', () => {
  let out;
  before(() => { out = mkdtempSync('/tmp/rtlab-bench-test-'); });
  after(() => { if (out) rmSync(out, { recursive: true, force: true }); });

  it('prints the machine, the table and the sweep; writes CSV and SVG', async () => {
    const r = await exec(path.join(ROOT, 'tools', 'bench.sh'),
      ['-t', 'ws,sse', '-c', '3', '-d', '1', '--sweep', '2', '--sweep-duration', '1',
        '--held-max', '2', '--no-scale', '--no-peer', '--no-models', '--no-store', '--out', out], { timeout: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^cpu: +\d+ cores/m);
    assert.match(r.stdout, /^kernel: +Linux/m);
    assert.match(r.stdout, /^apache: +Apache\/2\.4/m);
    assert.match(r.stdout, /label +technique +T_ms +clients +held +msgs +lost +dup +p50_ms/);

    const table = readFileSync(path.join(out, 'comparison.csv'), 'utf8').trim().split('\n');
    assert.deepEqual(table[0].split(','), COLUMNS);
    // sse, ws through Apache, ws to the helper (published by HTTP and by WebSocket)
    assert.deepEqual(table.slice(1).map((l) => l.split(',').slice(0, 2).join(' ')).sort(),
      ['apache-fcgid sse', 'apache-fcgid ws', 'helper ws', 'helper-wspub ws']);
    for (const line of table.slice(1)) {
      const row = Object.fromEntries(COLUMNS.map((c, i) => [c, line.split(',')[i]]));
      assertWellFormed(row);
      assert.equal(Number(row.lost), 0, line);
      assert.equal(Number(row.dup), 0, line);
      assert.equal(Number(row.held), 3, line);
    }
    const sweep = readFileSync(path.join(out, 'sweep.csv'), 'utf8').trim().split('\n');
    assert.equal(sweep.length, 1 + 2, sweep.join('\n'));   // 2 clients × sse, ws
    const svg = readFileSync(path.join(out, 'sweep.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4);  // 2 techniques × 2 panels
    assert.match(svg, /<\/svg>\s*$/);
    assert.ok(existsSync(path.join(out, 'machine.txt')));
  });
});

describe('tools/bench.sh --plot reads CSV columns by name', () => {
  let dir;
  before(() => { dir = mkdtempSync('/tmp/rtlab-plot-test-'); });
  after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

  // Two techniques at 10 and 100 clients: p50 1 → 10 ms, CPU 1 → 10 %.
  const rows = [
    { label: 'apache-fcgid', technique: 'sse', clients: '10', interval_ms: '0', p50_ms: '1.000', srv_cpu_pct: '1.0' },
    { label: 'apache-fcgid', technique: 'sse', clients: '100', interval_ms: '0', p50_ms: '10.000', srv_cpu_pct: '10.0' },
    { label: 'helper', technique: 'ws', clients: '10', interval_ms: '0', p50_ms: '2.000', srv_cpu_pct: '1.0' },
    { label: 'helper', technique: 'ws', clients: '100', interval_ms: '0', p50_ms: '3.000', srv_cpu_pct: '2.0' },
  ];
  function csv(columns) {
    return [columns.join(','), ...rows.map((r) => columns.map((c) => r[c] ?? '7').join(','))].join('\n') + '\n';
  }
  async function plot(name, columns) {
    const file = path.join(dir, name);
    writeFileSync(file, csv(columns));
    const r = await exec(path.join(ROOT, 'tools', 'bench.sh'), ['--plot', file]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }

  it('gives the same SVG whatever the column order, extra columns included', async () => {
    const svg = await plot('loadgen-order.csv', COLUMNS);
    // Reversed, and a column loadgen does not write (yet).
    const other = await plot('other-order.csv', ['future_col', ...COLUMNS.slice().reverse()]);
    assert.equal(other, svg);
    // The first panel: x is 10 → 100 clients over 360 px from x = 70; y is
    // p50 on an axis from 10^0 to 10^2 ms, 300 px from y = 340 up to y = 40.
    assert.match(svg, /<circle cx="70\.0" cy="340\.0" r="3" fill="#1f77b4"\/>/);
    assert.match(svg, /<circle cx="430\.0" cy="190\.0" r="3" fill="#1f77b4"\/>/);
    assert.equal((svg.match(/<polyline /g) ?? []).length, 4);
    assert.match(svg, />sse<\/text>/);
    assert.match(svg, />ws \(helper\)<\/text>/);
  });
});

const NCHAN = '/usr/lib/nginx/modules/ngx_nchan_module.so';
describe('tools/bench.sh --peer: rtlab and nginx + nchan side by side',
  { skip: !existsSync(NCHAN) && 'libnginx-mod-nchan is not installed' }, () => {
    let out;
    before(() => { out = mkdtempSync('/tmp/rtlab-peer-test-'); });
    after(() => { if (out) rmSync(out, { recursive: true, force: true }); });

    it('starts a private nchan, runs each row against both, prints the ratios and the goals', async () => {
      // 2 clients, so that the long-poll row is there; 3 threaded clients;
      // the huge pair at 5 WebSockets on 2 workers.
      const r = await exec(path.join(ROOT, 'tools', 'bench.sh'),
        ['--peer', '-t', 'longpoll,sse,ws', '-c', '2', '-d', '1', '--scale-ws', '3',
          '--peer-threads', '3', '--huge-ws', '5', '--huge-workers', '2', '--out', out],
        { timeout: 300_000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const lines = readFileSync(path.join(out, 'peer.csv'), 'utf8').trim().split('\n');
      assert.deepEqual(lines[0].split(','), COLUMNS);
      const rows = lines.slice(1).map((l) => Object.fromEntries(COLUMNS.map((c, i) => [c, l.split(',')[i]])));
      assert.deepEqual(rows.map((x) => `${x.label} ${x.technique} ${x.clients}`), [
        'apache-fcgid sse 1', 'nchan sse 1', 'apache-fcgid sse 2', 'apache-fcgid longpoll 2',
        'nchan sse 2', 'apache-fcgid:cross sse 2', 'nchan:cross sse 2', 'threads sse 3',
        'nchan sse 3', 'helper ws 2', 'nchan ws 2', 'helper ws 3', 'nchan ws 3',
        'helper ws 5', 'nchan ws 5']);
      const LATENCY = ['p50_ms', 'p90_ms', 'p99_ms', 'max_ms'];
      for (const x of rows) {
        // The cross-channel rows publish elsewhere: nothing arrives, so
        // they have no latency.
        if (x.label.endsWith(':cross')) {
          for (const c of LATENCY) assert.equal(x[c], 'nan', `${x.label} ${c}`);
          assertWellFormed({ ...x, ...Object.fromEntries(LATENCY.map((c) => [c, '0'])) });
        } else {
          assertWellFormed(x);
        }
        assert.equal(x.held, x.clients, `${x.label} ${x.technique}: held`);
        assert.equal(Number(x.lost), 0);
        assert.equal(Number(x.dup), 0);
        // nginx's master and workers were found from the recorded pid.
        assert.ok(Number(x.srv_procs) >= 2, `${x.label}: procs ${x.srv_procs}`);
        // Every server thread that slept after a wake is counted.
        assert.ok(Number(x.srv_wakes) > 0, `${x.label}: wakes ${x.srv_wakes}`);
        if (x.label.endsWith(':cross')) assert.equal(Number(x.delivered), 0, x.label);
        else assert.equal(Number(x.delivered), Number(x.held) * Number(x.messages), x.label);
      }
      // The ratio table: one line per rtlab row, each with three ratios;
      // the long-poll row is set against nchan's SSE.
      const ratios = r.stdout.split('rtlab / nchan')[1].split('the goals')[0].split('\n')
        .filter((l) => /^(sse|longpoll|ws) +\d+ +\d+ +\S+ /.test(l));
      assert.equal(ratios.length, 8, r.stdout);
      assert.match(ratios.find((l) => l.startsWith('longpoll')), /^longpoll +2 +\d+ +apache-fcgid +nchan\/sse /);
      for (const l of ratios.filter((x) => !/:cross/.test(x))) {
        assert.match(l, /^(\S+ +){7}\d+\.\d\d +(\S+ +){2}\d+\.\d\d /, l);
      }
      // The goals: one line each, met or not, none missing.
      const goals = r.stdout.split('the goals')[1].split('\n').filter((l) => /(met|NOT MET|not run)$/.test(l));
      assert.equal(goals.length, 7, r.stdout);
      for (const g of goals) assert.doesNotMatch(g, /not run$/, g);
    });
  });

describe('tools/bench.sh --only models: the three concurrency models', () => {
  let out;
  before(() => { out = mkdtempSync('/tmp/rtlab-models-test-'); });
  after(() => { if (out) rmSync(out, { recursive: true, force: true }); });

  it('a process per client, threads in a few processes, one event loop', async () => {
    // 3 clients and 4 threaded processes: every client is held even where
    // the endpoints serve one request per process.
    const r = await exec(path.join(ROOT, 'tools', 'bench.sh'),
      ['--only', 'models', '--models', '3', '--model-procs', '4', '-d', '1', '--out', out],
      { timeout: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = readFileSync(path.join(out, 'models.csv'), 'utf8').trim().split('\n');
    const rows = lines.slice(1).map((l) => Object.fromEntries(COLUMNS.map((c, i) => [c, l.split(',')[i]])));
    assert.deepEqual(rows.map((x) => `${x.label} ${x.technique}`),
      ['process-per-client sse', 'threads sse', 'event-loop ws']);
    for (const x of rows) {
      assertWellFormed(x);
      assert.equal(Number(x.held), 3, x.label);
      assert.equal(Number(x.lost), 0, x.label);
    }
    const [fcgid, threads, loop] = rows.map((x) => Number(x.fcgi_procs));
    assert.ok(fcgid >= 4, `mod_fcgid: a process per held client + send.fcgi, got ${fcgid}`);
    assert.ok(threads >= 4, `spawn-fcgi pools of 4, got ${threads}`);
    assert.ok(loop >= 1 && loop < fcgid, `the helper holds its clients itself, got ${loop}`);
    assert.match(r.stdout, /model +clients +held +procs +fcgi_procs +RSS\/client_KiB +CPU\/msg_µs +p50_ms +p99_ms +lost/);
  });
});

describe('tools/bench.sh --only store: SQLite, Redis, three hosts on one Redis',
  { skip: clusterTools() ? false : 'redis-server or haproxy is not installed (tools/deps.sh cluster)' }, () => {
  let out;
  before(() => { out = mkdtempSync('/tmp/rtlab-store-bench-test-'); });
  after(() => { if (out) rmSync(out, { recursive: true, force: true }); });

  it('the same rows on each store, nothing lost', async () => {
    const r = await exec(path.join(ROOT, 'tools', 'bench.sh'),
      ['--only', 'store', '-t', 'sse,ws', '-c', '3', '-d', '1', '--out', out], { timeout: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const lines = readFileSync(path.join(out, 'store.csv'), 'utf8').trim().split('\n');
    const rows = lines.slice(1).map((l) => Object.fromEntries(COLUMNS.map((c, i) => [c, l.split(',')[i]])));
    assert.deepEqual(rows.map((x) => `${x.label} ${x.technique}`),
      ['sqlite sse', 'sqlite ws', 'redis sse', 'redis ws', 'cluster3-redis sse', 'cluster3-redis ws']);
    for (const x of rows) {
      assertWellFormed(x);
      assert.equal(Number(x.held), 3, x.label);
      assert.equal(Number(x.lost), 0, x.label);
      assert.equal(Number(x.dup), 0, x.label);
    }
  });
});

describe('tools/bench/cpu-split.sh: a run\'s server CPU by program', () => {
  const script = path.join(ROOT, 'tools', 'bench', 'cpu-split.sh');

  it('splits a small SSE run by the stack\'s own programs, every message delivered', async () => {
    const r = await exec(script, ['-t', 'sse', '-c', '10', '-r', '10', '-d', '2'], { timeout: 240_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /delivered 200 of 200, lost 0, duplicated 0/);
    const rows = [...r.stdout.matchAll(/^ {2}(\S+) +(\d+\.\d\d) +(\d+\.\d)$/gm)]
      .map(([, name, s, us]) => ({ name, s: Number(s), us: Number(us) }));
    assert.equal(rows.at(-1)?.name, 'all', r.stdout);
    // Only this run's programs: the web server, its endpoints, the helper.
    for (const { name } of rows.slice(0, -1))
      assert.ok(['apache2', 'sse.fcgi', 'send.fcgi', 'rtlab-wsd', '(exited)'].includes(name), name);
    const sum = rows.slice(0, -1).reduce((a, x) => a + x.s, 0);
    assert.ok(Math.abs(sum - rows.at(-1).s) < 0.02 * rows.length, `the rows add up to all: ${r.stdout}`);
  });

  it('refuses an unknown technique', async () => {
    const r = await exec(script, ['-t', 'carrier-pigeon']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /-t takes sse, longpoll or ws/);
  });
});
