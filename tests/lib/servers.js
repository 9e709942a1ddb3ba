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
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME ?? '/tmp',
      LANG: process.env.LANG ?? 'C.UTF-8',
      PORT: String(port),
      WS_PORT: String(wsPort),
      SERVER: server,
      MODE: mode,
      MPM: opts.mpm ?? 'event',
      RUN_DIR: runDir,
      WS: ws ? '1' : '0',
      RTLAB_BUILD: BUILD,
      TLS: opts.tls ? '1' : '0',
    };
    for (const [k, v] of Object.entries(process.env)) {
      if (/^(RT_|ASAN_|UBSAN_|LSAN_)/.test(k)) env[k] = v;
    }
    if (opts.extraConf) env.EXTRA_CONF = path.resolve(opts.extraConf);
    for (const [k, v] of Object.entries(opts.env ?? {})) env[k] = String(v);
    const r = await run(['start'], env);
    if (r.code === 0) return makeStack({ server, mode, port, wsPort, runDir, env, ws, tls: !!opts.tls });
    lastErr = `${r.stderr}${r.stdout}`;
    await run(['stop', runDir], env);
    if (runPids(runDir).length === 0) rmSync(runDir, { recursive: true, force: true });
    if (!/already in use|did not start listening|Address already in use/.test(lastErr)) break;
  }
  throw new Error(`startStack(${server}/${mode}) failed:\n${lastErr}`);
}

function makeStack({ server, mode, port, wsPort, runDir, env, ws, tls }) {
  let stopped = false;
  const db = env.RT_DB ?? path.join(runDir, 'db', 'rtlab.db');
  return {
    server,
    mode,
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
