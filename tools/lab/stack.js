// stack.js — starting and stopping the lab's private servers (one stack per
// variant, through tests/lib/servers.js and tools/serve.sh), and reading what
// a running stack shows: the lines of its logs, the sse.fcgi processes busy
// in a request.

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { startStack } from '../../tests/lib/servers.js';
import { ROOT, sleep } from './common.js';

// Under MODE=proxy-fcgi, serve.sh starts a spawn-fcgi pool per endpoint (40
// processes for the held ones); a lab client needs a few, and a small pool
// starts and stops in a fraction of the time (experiment 10 keeps the full one).
const SMALL_POOLS = { RTLAB_HELD_PROCS: '4', RTLAB_PROCS: '2' };

// Starts a stack, runs fn(stack), always stops it (by pid, in the harness,
// which also removes the run directory unless RTLAB_KEEP_RUNS=1).
export async function withStack(opts, fn) {
	const env = opts.mode === 'proxy-fcgi' && !opts.fullPools ? { ...SMALL_POOLS, ...(opts.env || {}) } : opts.env;
	const s = await startStack({ ws: false, ...opts, env });
	try {
		return await fn(s);
	} finally {
		await s.stop().catch(async (err) => {
			// Never leave a server behind: one more try, by the run dir's pids.
			await sleep(1000);
			try {
				execFileSync(path.join(ROOT, 'tools', 'serve.sh'), ['stop', s.runDir], { stdio: 'ignore' });
			} catch {
				throw err;
			}
		});
	}
}

// Every line of the stack's logs that matches re (the error log is where
// mod_fcgid, mod_proxy and lighttpd say why they cut a request).
export function logLines(s, re) {
	const dir = path.join(s.runDir, 'logs');
	let out = [];
	let names = [];
	try { names = fs.readdirSync(dir); } catch { return out; }
	for (const n of names) {
		let text = '';
		try { text = fs.readFileSync(path.join(dir, n), 'utf8'); } catch { continue; }
		out = out.concat(text.split('\n').filter((l) => re.test(l)));
	}
	return out;
}

// The part of a log line worth showing in a table: from the module's tag on.
export function logGist(line) {
	if (!line) return 'none';
	const m = line.match(/(AH\d+:.*|mod_\w+:.*|\(gw_backend[^)]*\).*|\(mod_\w+[^)]*\).*)$/);
	return (m ? m[1] : line).replace(/\/tmp\/rtlab-[^/ ]+/g, '$RUN_DIR').replace(/\s+/g, ' ').slice(0, 110);
}

// The sse.fcgi processes of this stack that are in a request: a FastCGI
// process between requests blocks in accept(2) (libfcgi's FCGX_Accept), so
// any other system call in /proc/PID/syscall means it is serving someone.
const SYS_ACCEPT = new Set(process.arch === 'arm64'
	? ['202', '242']   // aarch64 accept, accept4
	: ['43', '288']);  // x86_64 accept, accept4
export function busySsePids(s) {
	const out = [];
	for (const pid of s.serverPids()) {
		let cmd = '';
		let sys = '';
		try {
			cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
			sys = fs.readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0].trim();
		} catch { continue; }
		if (!cmd.includes('sse.fcgi')) continue;
		if (!SYS_ACCEPT.has(sys)) out.push(pid);
	}
	return out;
}
