#!/usr/bin/env node
// sse-freeing.mjs — how soon each web server lets an SSE process go after its
// client vanished, in heartbeats.  The table in docs/sse.md comes from here.
//
//   node tools/sse-freeing.mjs [--heartbeat 2] [--rounds 3]
//
// For every stack (Apache mod_fcgid, mod_proxy_fcgi, mod_cgid; lighttpd
// mod_fastcgi) on free loopback ports: open a stream, wait for a heartbeat,
// close the client 100 ms after it (the worst phase: a whole heartbeat
// period before the next write), and time until the serving process is back
// in accept() (FastCGI) or has exited (CGI).

import { openStream, freshChannel, busyPids, isFree, until, sleep, waitQuiet } from '../tests/lib/held.js';
import { startStack, STACKS } from '../tests/lib/servers.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const HEARTBEAT = arg('heartbeat', 2);
const ROUNDS = arg('rounds', 3);

for (const { server, mode } of STACKS) {
  const s = await startStack({ server, mode, env: { RT_SSE_HEARTBEAT: String(HEARTBEAT), RT_SSE_MAX_AGE: '120' } });
  const took = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      await waitQuiet(s, 'sse.fcgi', 60_000);
      const st = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=${freshChannel('free')}&history=0`);
      await st.opened;
      const [pid] = await until(() => {
        const now = busyPids(s, 'sse.fcgi');
        return now.length === 1 ? now : null;
      }, 15_000, 'the serving process');
      const n = st.comments.length;
      await st.waitFor((x) => x.comments.length > n, 3 * HEARTBEAT * 1000, 'a heartbeat');
      await sleep(100);
      st.close();
      const t0 = Date.now();
      await until(() => isFree(pid), 20 * HEARTBEAT * 1000, `process ${pid} to be free`);
      took.push((Date.now() - t0) / 1000);
    }
  } finally {
    await s.stop();
  }
  const beats = took.map((t) => (t / HEARTBEAT).toFixed(2));
  console.log(`${server}/${mode}: freed after ${took.map((t) => t.toFixed(2)).join(', ')} s` +
    ` = ${beats.join(', ')} heartbeats of ${HEARTBEAT} s`);
}
