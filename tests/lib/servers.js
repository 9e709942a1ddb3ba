// servers.js — the test harness: start a real private web server (Apache in
// a given mode, or lighttpd) plus the WebSocket helper on free loopback
// ports, and stop exactly what was started.  All the work is done by
// tools/serve.sh (the same script `make demo` uses); this file only picks
// ports, calls it, and reads /proc for the pids.
//
//   import { startStack, freePort } from '../lib/servers.js';
//   const s = await startStack({ server: 'apache', mode: 'fcgid',
//                                env: { RT_SSE_HEARTBEAT: '1' } });
//   ... s.base, s.wsUrl, s.wsDirect, s.db, s.runDir, s.serverPids() ...
//   const t = await startStack({ server: 'lighttpd', tls: true });
//   ... t.base is https://, t.wsUrl wss://; t.cert the self-signed
//   certificate's path (trust it: curl --cacert, ca: in Node) ...
//   await s.stop();
//
// RTLAB_BUILD (environment) names the built tree whose binaries are staged
// (default: the repo root; the sanitizer pass sets it to build-asan).
// opts.env also reaches serve.sh itself, so its knobs work from a test:
// APACHE_DEFINES, RTLAB_HELD_PROCS / RTLAB_PROCS (spawn-fcgi pool sizes).
// RTLAB_KEEP_RUNS=1 keeps each run directory (config, logs) after stop().
// RTLAB_TEST_STORE=redis runs every stack on a private Redis instead of
// SQLite (serve.sh REDIS=1): the protocol tests then check the Redis store
// (s.store says which; tests of SQLite itself skip).  startCluster() starts
// N hosts on one Redis behind HAProxy (serve.sh CLUSTER=N, docs/scaling.md).

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUILD = process.env.RTLAB_BUILD ? path.resolve(process.env.RTLAB_BUILD) : ROOT;
const SERVE = path.join(ROOT, 'tools', 'serve.sh');

/** A TCP port on 127.0.0.1 that nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** True when the helper binary has been built (in RTLAB_BUILD). */
export function helperBuilt() {
  return existsSync(path.join(BUILD, 'ws', 'rtlab-wsd'));
}

function run(args, env, timeoutMs = 90_000) {
  return new Promise((resolve) => {
    execFile(SERVE, args, { env, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

// /proc/PID/stat: "pid (comm) state ppid pgrp session ..." — comm may hold
// spaces and parentheses, so split after the last ')'.
function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { pid: Number(pid), state: f[0], ppid: Number(f[1]), sid: Number(f[3]), start: f[19] };
  } catch {
    return null;
  }
}

/**
 * The live pids of a run: those serve.sh recorded in RUN_DIR/pids (checked
 * by start time, so a reused pid is never taken), every process of a session
 * one of them leads (Apache and lighttpd; mod_fcgid's children stay in
 * Apache's session) and every descendant.  Zombies are left out.
 */
export function runPids(runDir) {
  let lines;
  try {
    lines = readFileSync(path.join(runDir, 'pids'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
  const leaders = new Set();
  const mine = new Set();
  for (const line of lines) {
    const [pid, start] = line.split(' ');
    leaders.add(Number(pid));
    const st = procStat(pid);
    if (st && st.start === start) mine.add(Number(pid));
  }
  const all = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(name);
    if (st) all.push(st);
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (const st of all) {
      if (mine.has(st.pid)) continue;
      if (mine.has(st.ppid) || leaders.has(st.sid)) {
        mine.add(st.pid);
        changed = true;
      }
    }
  }
  const zombies = new Set(all.filter((st) => st.state === 'Z').map((st) => st.pid));
  return [...mine].filter((pid) => !zombies.has(pid)).sort((a, b) => a - b);
}

/* serve.sh's environment: ours (PATH, RT_*, sanitizers), vars, then extra. */
function serveEnv(vars, extra = {}) {
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME ?? '/tmp',
    LANG: process.env.LANG ?? 'C.UTF-8',
    RTLAB_BUILD: BUILD,
    ...vars,
  };
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RT_|ASAN_|UBSAN_|LSAN_)/.test(k)) env[k] = v;
  }
  for (const [k, v] of Object.entries(extra ?? {})) env[k] = String(v);
  return env;
}

/**
 * Starts a private web server (+ helper) and returns a handle.
 *   server: 'apache' | 'lighttpd'           mode: 'fcgid' | 'proxy-fcgi' | 'cgi'
 *   env: RT_* for every endpoint and the helper
 *   extraConf: file appended to the generated config   mpm: 'event' | 'prefork'
 *   ws: start the helper (default: true if built)
 *   tls: HTTPS + HTTP/2 on the port, self-signed certificate (serve.sh TLS=1)
 */
export async function startStack(opts = {}) {
  const server = opts.server ?? 'apache';
  const mode = opts.mode ?? 'fcgid';
  const ws = opts.ws ?? helperBuilt();
  let lastErr = '';
  // Another test (or engineer) may grab a "free" port before the server
  // binds it: try a few times with new ports.
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    let wsPort = await freePort();
    while (wsPort === port) wsPort = await freePort();
    const runDir = mkdtempSync('/tmp/rtlab-test-');
    chmodSync(runDir, 0o755);
    const env = serveEnv({
      PORT: String(port),
      WS_PORT: String(wsPort),
      SERVER: server,
      MODE: mode,
      MPM: opts.mpm ?? 'event',
      RUN_DIR: runDir,
      WS: ws ? '1' : '0',
      TLS: opts.tls ? '1' : '0',
    }, opts.env);
    if (opts.extraConf) env.EXTRA_CONF = path.resolve(opts.extraConf);
    const store = opts.store ?? (process.env.RTLAB_TEST_STORE === 'redis' &&
      !opts.env?.RT_DB && !opts.env?.RT_STORE ? 'redis' : 'sqlite');
    if (store === 'redis') env.REDIS = '1';
    const r = await run(['start'], env);
    if (r.code === 0) return makeStack({ server, mode, port, wsPort, runDir, env, ws, store, tls: !!opts.tls });
    lastErr = `${r.stderr}${r.stdout}`;
    await run(['stop', runDir], env);
    if (runPids(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
    if (!/already in use|did not start listening|Address already in use/.test(lastErr)) break;
  }
  throw new Error(`startStack(${server}/${mode}) failed:\n${lastErr}`);
}

function makeStack({ server, mode, port, wsPort, runDir, env, ws, store, tls }) {
  let stopped = false;
  const db = env.RT_DB ?? path.join(runDir, 'db', 'rtlab.db');
  return {
    server,
    mode,
    store,
    port,
    wsPort,
    tls,
    base: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    wsUrl: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`,
    cert: tls ? path.join(runDir, 'conf', 'tls', 'cert.pem') : null,
    wsDirect: `ws://127.0.0.1:${wsPort}/ws`,
    db,
    runDir,
    helper: ws,
    serverPids: () => runPids(runDir),
    async stopHelper() {
      const r = await run(['stop-helper', runDir], env);
      if (r.code !== 0) throw new Error(`stop-helper failed: ${r.stderr}`);
    },
    async startHelper() {
      const r = await run(['start-helper', runDir], env);
      if (r.code !== 0) throw new Error(`start-helper failed: ${r.stderr}`);
    },
    log(name = 'error.log') {
      try {
        return readFileSync(path.join(runDir, 'logs', name), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const r = await run(['stop', runDir], env);
      if (r.code !== 0) throw new Error(`stop failed: ${r.stderr}`);
      // The run directory goes too, unless RTLAB_KEEP_RUNS=1 (to read its
      // logs after a failure).
      if (process.env.RTLAB_KEEP_RUNS !== '1' && runPids(runDir).length === 0) {
        rmSync(runDir, { recursive: true, force: true });
      }
    },
  };
}

/** Every (server, mode) pair the foundation supports, for table-driven tests. */
export const STACKS = [
  { server: 'apache', mode: 'fcgid' },
  { server: 'apache', mode: 'proxy-fcgi' },
  { server: 'apache', mode: 'cgi' },
  { server: 'lighttpd', mode: 'fastcgi' },
];

/** Whether redis-server and haproxy are installed (the cluster tests need them). */
export function clusterTools() {
  const has = (cmd) => (process.env.PATH ?? '').split(':').some((d) => existsSync(path.join(d, cmd)));
  return has('redis-server') && has('haproxy');
}

/**
 * Starts N web hosts (each with its helper) on one private Redis, behind
 * HAProxy (tools/serve.sh with CLUSTER=N), and returns a handle:
 *   c.base, c.wsUrl          the balancer
 *   c.nodes[k]               { name, runDir, port, base, wsUrl, pids() }  (k = 0 .. N-1)
 *   c.killNode(k)            SIGKILL every process of host k (web server, endpoints, helper)
 *   c.stopRedis(), c.startRedis()   the store goes away, and comes back on its data
 *   c.stop()
 * opts: { n: 3, server, mode, sticky, env }.
 */
export async function startCluster(opts = {}) {
  const n = opts.n ?? 3;
  let lastErr = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const runDir = mkdtempSync('/tmp/rtlab-cluster-test-');
    chmodSync(runDir, 0o755);
    const env = serveEnv({
      PORT: String(port),
      SERVER: opts.server ?? 'apache',
      MODE: opts.mode ?? 'fcgid',
      RUN_DIR: runDir,
      CLUSTER: String(n),
      STICKY: opts.sticky ? '1' : '0',
    }, opts.env);
    delete env.RT_STORE;                 // the cluster's own Redis, always
    delete env.RT_DB;
    const r = await run(['start'], env, 180_000);
    if (r.code === 0) return makeCluster({ port, runDir, env });
    lastErr = `${r.stderr}${r.stdout}`;
    await run(['stop', runDir], env);
    rmSync(runDir, { recursive: true, force: true });
    if (!/already in use|did not start listening|Address already in use|port clash/.test(lastErr)) break;
  }
  throw new Error(`startCluster failed:\n${lastErr}`);
}

function makeCluster({ port, runDir, env }) {
  const info = readFileSync(path.join(runDir, 'info'), 'utf8');
  const nodes = info.split('\n').filter((l) => l.startsWith('NODE ')).map((l) => {
    const [, name, dir, p, wsPort] = l.split(' ');
    return {
      name,
      runDir: dir,
      port: Number(p),
      wsPort: Number(wsPort),
      base: `http://127.0.0.1:${p}`,
      wsUrl: `ws://127.0.0.1:${p}/ws`,
      pids: () => runPids(dir),
    };
  });
  const redisPort = Number(/^REDIS_PORT=(\d+)/m.exec(info)[1]);
  let stopped = false;
  return {
    port,
    runDir,
    nodes,
    redisPort,
    store: `redis://127.0.0.1:${redisPort}/0`,
    base: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    /** SIGKILL every live process of host k, by the pids its run recorded. */
    killNode(k) {
      const pids = runPids(nodes[k].runDir);
      for (const pid of pids) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
      }
      return pids;
    },
    async stopRedis() {
      const r = await run(['redis-stop', runDir], env);
      if (r.code !== 0) throw new Error(`redis-stop failed: ${r.stderr}`);
    },
    async startRedis() {
      const r = await run(['redis-start', runDir], env);
      if (r.code !== 0) throw new Error(`redis-start failed: ${r.stderr}`);
    },
    log(k, name = 'error.log') {
      try {
        return readFileSync(path.join(k === null ? runDir : nodes[k].runDir, 'logs', name), 'utf8');
      } catch {
        return '';
      }
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      const r = await run(['stop', runDir], env, 120_000);
      if (r.code !== 0) throw new Error(`stop failed: ${r.stderr}`);
      if (process.env.RTLAB_KEEP_RUNS !== '1') rmSync(runDir, { recursive: true, force: true });
    },
  };
}
