#!/usr/bin/env node
// sse-cross-cost.mjs — what a commit on another channel costs held SSE
// streams, through a private Apache (mod_fcgid): N streams held on channel B,
// MSGS messages published on channel A with send.fcgi, and the CPU time
// (utime + stime from /proc/PID/stat, 10 ms ticks) of the N sse.fcgi
// processes meanwhile.  docs/store.md quotes it.
//
//   node tools/sse-cross-cost.mjs
//   RTLAB_BUILD=/path/to/another/build node tools/sse-cross-cost.mjs   (e.g. main's)

import { openStream, freshChannel, busyPids, until, sleep, cpuTicks, publish } from '../tests/lib/held.js';
import { startStack } from '../tests/lib/servers.js';
const N = 30, MSGS = 100;
const s = await startStack({ server: 'apache', mode: 'fcgid', env: { RT_SSE_HEARTBEAT: '15', RT_SSE_MAX_AGE: '200' } });
try {
  const B = freshChannel('B'), A = freshChannel('A');
  const streams = [];
  for (let i = 0; i < N; i++) { const st = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${B}&history=0`); await st.opened; streams.push(st); }
  const pids = await until(() => { const p = busyPids(s, 'sse.fcgi'); return p.length >= N ? p : null; }, 60000, 'busy');
  await sleep(1000);
  const t0 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  const w0 = Date.now();
  for (let i = 0; i < MSGS; i++) { await publish(s, { channel: A, text: `a${i}` }); await sleep(100); }
  const took = (Date.now() - w0) / 1000;
  const t1 = pids.reduce((a, p) => a + cpuTicks(p), 0);
  console.log(`${process.env.RTLAB_BUILD ?? 'this branch'}: ${N} SSE streams held on B, ${MSGS} messages on A over ${took.toFixed(1)} s: ` +
    `the ${pids.length} sse.fcgi processes used ${(t1 - t0) * 10} ms of CPU = ${((t1 - t0) * 10 / N / MSGS * 1000).toFixed(0)} µs per held stream per message`);
  for (const st of streams) st.close();
} finally { await s.stop(); }
