#!/usr/bin/env node
// held-latency.mjs — publish-to-receive latency of long-poll and SSE, and
// the CPU an idle held request burns, through a private Apache (mod_fcgid by
// default) on loopback.  The figures in docs/long-polling.md and docs/sse.md
// come from here.  (The full load benchmark is tools/bench.sh.)
//
//   node tools/held-latency.mjs [--server apache|lighttpd] [--mode fcgid|proxy-fcgi|cgi]
//                               [--n 200] [--idle 30] [--nice -10]
//
// --nice N (root) renices this process and the stack it started (by pid; the
// processes they spawn later inherit it): on a machine shared with other
// work it measures the software rather than the scheduler's queue.
//
// Latency: one subscriber, messages published one at a time with send.fcgi
// over a keep-alive connection.  For each message: t0 just before the POST
// is written, t1 when its 201 arrives, t2 when the subscriber has parsed the
// message.  Two figures:
//   insert→receive  t2 (wall clock) - the message's ts, which store_insert()
//                   stamps just before its commit (ms, truncated: this
//                   overstates by up to 1 ms) — the wake + read + write +
//                   web server + client path;
//   POST→receive    t2 - t0: also counts send.fcgi's own request (an upper
//                   bound for "publish to receive"); the POST's round trip
//                   t1 - t0 is printed beside it.
//
// Idle CPU: a long-poll (timeout 55 s) and an SSE stream (default heartbeat,
// 15 s) are held with nothing published; utime + stime of the two serving
// processes (/proc/PID/stat) are read before and after --idle seconds.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startStack } from '../tests/lib/servers.js';
import { openStream, busyPids, cpuTicks, until, sleep } from '../tests/lib/held.js';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const server = args.server ?? 'apache';
const mode = args.mode ?? (server === 'apache' ? 'fcgid' : 'fastcgi');
const N = Number(args.n ?? 200);
const IDLE_S = Number(args.idle ?? 30);
const NICE = args.nice !== undefined ? Number(args.nice) : null;

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const now = () => performance.now();   // the clock openStream() stamps events with

function request(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body); else req.end();
  });
}

function publish(s, channel, text) {
  const t0 = now();
  return request(`${s.base}/cgi-bin/send.fcgi`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel, user: 'bench', text }),
  }).then((r) => {
    if (r.status !== 201) throw new Error(`send.fcgi ${r.status}: ${r.body}`);
    return { t0, t1: now(), msg: JSON.parse(r.body) };
  });
}

function pct(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}
const fmt = (xs) => `p50 ${pct(xs, 50).toFixed(2)} ms  p90 ${pct(xs, 90).toFixed(2)} ms  p99 ${pct(xs, 99).toFixed(2)} ms  max ${Math.max(...xs).toFixed(2)} ms`;

async function sseLatency(s) {
  const channel = `bench_sse_${process.pid}`;
  const st = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${channel}&history=0`);
  await st.opened;
  await st.waitFor((x) => x.retries.length > 0, 15_000, 'retry');
  const lat = [];
  const rtt = [];
  const commit = [];
  for (let i = 0; i < N; i++) {
    const before = st.events.length;
    const p = publish(s, channel, `sse ${i}`);
    await st.waitFor((x) => x.events.length > before, 15_000, `event ${i}`);
    const t2 = st.events[before].at;
    const { t0, t1, msg } = await p;
    lat.push(t2 - t0);
    rtt.push(t1 - t0);
    commit.push(performance.timeOrigin + t2 - msg.ts);
    await sleep(10);
  }
  st.close();
  return { lat, rtt, commit };
}

async function longpollLatency(s) {
  const channel = `bench_lp_${process.pid}`;
  const first = await request(`${s.base}/cgi-bin/longpoll.fcgi?channel=${channel}`);
  let since = JSON.parse(first.body).last_id;
  const lat = [];
  const rtt = [];
  const commit = [];
  for (let i = 0; i < N; i++) {
    let t2 = 0;
    const held = request(`${s.base}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${since}&timeout=30`)
      .then((r) => { t2 = now(); return JSON.parse(r.body); });
    await sleep(30);                    // let it reach store_wait()
    const { t0, t1, msg } = await publish(s, channel, `lp ${i}`);
    const body = await held;
    if (body.messages.length !== 1 || body.messages[0].id !== msg.id) {
      throw new Error(`long-poll answered ${JSON.stringify(body)}`);
    }
    since = body.last_id;
    lat.push(t2 - t0);
    rtt.push(t1 - t0);
    commit.push(performance.timeOrigin + t2 - msg.ts);
  }
  return { lat, rtt, commit };
}

async function idleCpu(s) {
  const lpChannel = `bench_idle_lp_${process.pid}`;
  const newest = JSON.parse((await request(`${s.base}/cgi-bin/longpoll.fcgi?channel=${lpChannel}`)).body).last_id;
  // The streams of the latency run may still be held (a closed SSE stream is
  // noticed at its next heartbeat): look for the processes that are new.
  const before = new Set([...busyPids(s, 'longpoll.fcgi'), ...busyPids(s, 'sse.fcgi')]);
  const newBusy = (program) => () => {
    const b = busyPids(s, program).filter((p) => !before.has(p));
    return b.length === 1 ? b : null;
  };
  const lp = http.get(`${s.base}/cgi-bin/longpoll.fcgi?channel=${lpChannel}&since=${newest}&timeout=55`, { agent: false });
  lp.on('error', () => {});
  const st = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=bench_idle_sse_${process.pid}&history=0`);
  await st.opened;
  const [lpPid] = await until(newBusy('longpoll.fcgi'), 15_000, 'the long-poll process');
  const [ssePid] = await until(newBusy('sse.fcgi'), 15_000, 'the SSE process');
  const hz = 100;   // USER_HZ on Linux
  const a = [cpuTicks(lpPid), cpuTicks(ssePid)];
  const wallStart = now();
  await sleep(IDLE_S * 1000);
  const b = [cpuTicks(lpPid), cpuTicks(ssePid)];
  const wall = (now() - wallStart) / 1000;
  const status = (pid) => readFileSync(`/proc/${pid}/status`, 'utf8').match(/voluntary_ctxt_switches:\s+(\d+)/)[1];
  st.close();
  lp.destroy();
  return {
    wall,
    longpoll: { pid: lpPid, ticks: b[0] - a[0], ms: ((b[0] - a[0]) * 1000) / hz, ctxsw: status(lpPid) },
    sse: { pid: ssePid, ticks: b[1] - a[1], ms: ((b[1] - a[1]) * 1000) / hz, heartbeats: st.comments.length, ctxsw: status(ssePid) },
  };
}

const s = await startStack({ server, mode, ws: false });
try {
  if (NICE !== null) {
    execFileSync('renice', ['-n', String(NICE), '-p', String(process.pid), ...s.serverPids().map(String)], { stdio: 'ignore' });
  }
  console.log(`held-latency: ${server}/${mode}, ${N} messages each${NICE !== null ? `, nice ${NICE}` : ''}, loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  // Warm up: processes spawned, SQLite pages cached.
  await publish(s, 'warmup', 'x');
  const sse = await sseLatency(s);
  console.log(`SSE       insert→receive ${fmt(sse.commit)}`);
  console.log(`          POST→receive   ${fmt(sse.lat)}`);
  console.log(`          (send.fcgi POST round trip ${fmt(sse.rtt)})`);
  const lp = await longpollLatency(s);
  console.log(`long-poll insert→receive ${fmt(lp.commit)}`);
  console.log(`          POST→receive   ${fmt(lp.lat)}`);
  console.log(`          (send.fcgi POST round trip ${fmt(lp.rtt)})`);
  if (IDLE_S > 0) {
    const idle = await idleCpu(s);
    console.log(`idle ${idle.wall.toFixed(1)} s: long-poll pid ${idle.longpoll.pid} used ${idle.longpoll.ms} ms CPU (${idle.longpoll.ticks} ticks); ` +
      `SSE pid ${idle.sse.pid} used ${idle.sse.ms} ms CPU (${idle.sse.ticks} ticks) over ${idle.sse.heartbeats} heartbeats`);
  }
} finally {
  agent.destroy();
  await s.stop();
}
