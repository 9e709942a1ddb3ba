// wsd_spawn.js — start a WebSocket helper of a test's own (not the stack's),
// on a free loopback port, e.g. with --echo, --max-conns or a database of
// its own, and stop exactly that process (SIGTERM, by its handle).  One
// worker process unless args name --workers (the default is one per core).
//
//   const h = await spawnHelper(['--echo'], { RT_WS_PING: '1' });
//   h.url (ws://127.0.0.1:PORT/ws), h.port, h.log (its stderr so far)
//   const exitCode = await h.stop();

import { spawn } from 'node:child_process';
import path from 'node:path';
import { BUILD, freePort } from '../lib/servers.js';

export async function spawnHelper(args, env = {}, port = null) {
  port ??= await freePort();
  const workers = args.includes('--workers') ? [] : ['--workers', '1'];
  const child = spawn(path.join(BUILD, 'ws', 'rtlab-wsd'), [...workers, ...args, '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  child.log = '';
  child.stderr.on('data', (b) => { child.log += b; });
  for (let i = 0; i < 200 && !/listening on/.test(child.log) && child.exitCode === null; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!/listening on/.test(child.log)) throw new Error(`rtlab-wsd did not start:\n${child.log}`);
  child.url = `ws://127.0.0.1:${port}/ws`;
  child.port = port;
  child.stop = async () => {
    if (child.exitCode !== null) return child.exitCode;
    const exited = new Promise((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    return exited;
  };
  return child;
}
