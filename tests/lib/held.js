// held.js — what the long-poll and SSE tests share: publishing from another
// process, a strict SSE stream reader, and a look at the server processes
// that hold requests.
//
//   const m = await publish(s, { channel, text });          // via send.fcgi
//   const m = await publishSql(s, { channel, text });       // via the sqlite3 CLI
//   const st = openStream(`${s.base}/cgi-bin/sse.fcgi?channel=x`, { 'Last-Event-ID': '4' });
//   await st.opened; await st.waitFor(() => st.events.length >= 2); st.close();
//   busyPids(s, 'sse.fcgi')   // processes of that program now inside a request

import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { createParser } from 'eventsource-parser';
import { curl } from './http.js';

/** Texts that must come back byte for byte on every transport. */
export const TRICKY_TEXTS = [
  'say "hi" and \\ back',
  'two\nlines',
  'a lone \r carriage return',
  'crlf\r\nline',
  '\n\nleading and trailing\n',
  '</script><script>alert(1)</script>',
  'emoji 😀🎉 and CJK 中文字, Ünïcödé',
  'data: not a field\nid: 999\nevent: evil\n: not a comment',
  "tab\there and 'single' quotes & <b>",
];

let channelSeq = 0;
/** A channel no other test uses. */
export function freshChannel(prefix = 't') {
  channelSeq += 1;
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${channelSeq}`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Publishes through the real send.fcgi (JSON body); returns the stored message. */
export async function publish(s, { channel = 'lobby', user = 'tester', text }) {
  const r = await curl(`${s.base}/cgi-bin/send.fcgi`, {
    headers: { 'Content-Type': 'application/json' },
    data: JSON.stringify({ channel, user, text }),
  });
  if (r.status !== 201) throw new Error(`send.fcgi answered ${r.status}: ${r.body}`);
  return r.json();
}

/**
 * Publishes with the sqlite3 command-line shell: a process that has nothing
 * to do with the web server.  As root it runs as www-data, the owner of the
 * database and its -wal/-shm files.  Returns the new id.
 */
export function publishSql(s, { channel = 'lobby', user = 'sqlite', text }) {
  const q = (v) => `'${String(v).replaceAll("'", "''")}'`;
  const sql = `INSERT INTO messages (channel, user, text, ts, via) VALUES (${q(channel)}, ${q(user)}, ${q(text)}, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), 'http'); SELECT last_insert_rowid();`;
  const argv = process.getuid?.() === 0
    ? ['setpriv', '--reuid=www-data', '--regid=www-data', '--clear-groups', 'sqlite3']
    : ['sqlite3'];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], [...argv.slice(1), '-cmd', '.timeout 5000', s.db, sql]);
    let out = '';
    let err = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { err += b; });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`sqlite3 failed (${code}): ${err}`));
      else resolve(Number(out.trim().split('\n').pop()));
    });
  });
}

/**
 * What an admin does to start afresh: delete the database (and its -wal and
 * -shm) and create it again from sql/schema.sql, as its owner (www-data when
 * run as root).  Ids start again from 1.
 */
export function recreateDb(s) {
  const schema = readFileSync(new URL('../../sql/schema.sql', import.meta.url));
  const argv = process.getuid?.() === 0
    ? ['setpriv', '--reuid=www-data', '--regid=www-data', '--clear-groups', 'sqlite3']
    : ['sqlite3'];
  return new Promise((resolve, reject) => {
    // .timeout: held processes open the new file as soon as it appears and
    // may hold a lock for a moment while the schema is still being written.
    const script = 'db=$1; shift; rm -f "$db" "$db-wal" "$db-shm" && exec "$@" -cmd ".timeout 5000" "$db"';
    const child = spawn('sh', ['-c', script, 'sh', s.db, ...argv], { stdio: ['pipe', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`recreating ${s.db} failed (${code})`))));
    child.stdin.end(schema);
  });
}

/** The store's newest id, from the server (a long-poll that answers at once). */
export async function lastId(s) {
  const r = await curl(`${s.base}/cgi-bin/longpoll.fcgi?channel=${freshChannel('x')}&limit=1`);
  if (r.status !== 200) throw new Error(`longpoll answered ${r.status}: ${r.body}`);
  return r.json().last_id;
}

/**
 * Polls cond() every 20 ms until it is true or ms pass; returns its last
 * value.  what (a string, or a function called at the timeout) names it in
 * the error.
 */
export async function until(cond, ms, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await sleep(20);
  }
}

/**
 * Opens an SSE stream with node's own HTTP client and reads it with
 * eventsource-parser.  Every parse error is kept in st.errors (the tests
 * assert it stays empty): a malformed field is a failure, not noise.
 *   st.opened   resolves with the response (status, headers)
 *   st.raw      every byte of the body so far, as text
 *   st.events   [{ id, event, data, at }]      st.comments, st.retries
 *               (at: performance.now() when it was parsed)
 *   st.ended    resolves when the server ends the stream
 *   st.waitFor(cond, ms)   st.close()  (drops the TCP connection)
 */
export function openStream(url, headers = {}) {
  const st = {
    raw: '', events: [], comments: [], retries: [], errors: [], done: false,
  };
  const parser = createParser({
    onEvent: (e) => st.events.push({ ...e, at: performance.now() }),
    onComment: (c) => st.comments.push({ text: c, at: performance.now() }),
    onRetry: (ms) => st.retries.push(ms),
    onError: (err) => st.errors.push(`${err.type}: ${err.message} (${JSON.stringify(err.line)})`),
  });
  let endResolve;
  st.ended = new Promise((r) => { endResolve = r; });
  st.opened = new Promise((resolve, reject) => {
    st.req = http.get(url, { headers, agent: false }, (res) => {
      res.setEncoding('utf8');           // a multi-byte character split across chunks stays whole
      res.on('data', (chunk) => { st.raw += chunk; parser.feed(chunk); });
      res.on('end', () => { st.done = true; endResolve(); });
      res.on('error', () => { st.done = true; endResolve(); });
      res.on('close', () => { st.done = true; endResolve(); });
      resolve(res);
    });
    st.req.on('error', (e) => { st.done = true; endResolve(); reject(e); });
  });
  st.waitFor = (cond, ms = 10_000, what = 'stream condition') => until(() => cond(st), ms, what);
  st.close = () => { st.req.destroy(); };
  return st;
}

/** The messages of a stream's events, parsed. */
export function streamMessages(st) {
  return st.events.map((e) => JSON.parse(e.data));
}

// Linux system call numbers (x86-64, arm64): a FastCGI process that sits in
// accept(2)/accept4(2) is idle, waiting for its next request; one that sits
// in poll(2)/ppoll(2) is in store_wait(), i.e. holding a request (libfcgi and
// SQLite never poll, so nothing else puts our programs there).
const SYSCALLS = {
  x64: { accept: [43, 288], poll: [7, 271] },
  arm64: { accept: [202, 242], poll: [73] },
}[process.arch];

function syscallOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]);
  } catch {
    return null;                         // gone
  }
}

export function programPids(s, program) {
  return s.serverPids().filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === program.slice(0, 15);
    } catch {
      return false;
    }
  });
}

/**
 * Pids of the run's processes running `program` (e.g. 'sse.fcgi') that hold
 * a request right now: blocked in the store's change wait.  Read from /proc
 * (/proc/PID/syscall needs the same user or root).
 */
export function busyPids(s, program) {
  if (!SYSCALLS) throw new Error(`no system call table for ${process.arch}`);
  return programPids(s, program).flatMap((pid) => {
    const tids = threadIds(pid);
    if (tids.length <= 1) return SYSCALLS.poll.includes(syscallOf(pid)) ? [pid] : [];
    // RT_FCGI_THREADS: one entry per request thread that holds a request
    // (lib/http_held.c names them); kill(2) of one signals its process.
    return tids.filter((tid) => threadName(tid) === THREAD_BUSY);
  });
}

const THREAD_BUSY = 'rtlab-busy';
const THREAD_IDLE = 'rtlab-idle';

/** The thread ids of a process ([] once it is gone). */
export function threadIds(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [];
  }
}

function threadName(tid) {
  try {
    return readFileSync(`/proc/${tid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Waits until no process of `program` holds a request (streams and polls of
 * earlier tests can take a heartbeat or two, or their timeout, to end).
 */
export function waitQuiet(s, program, ms = 20_000) {
  return until(() => busyPids(s, program).length === 0, ms,
    () => `earlier ${program} requests to end: ${procInfo(busyPids(s, program))}`);
}

/** True once pid has exited or waits in accept() for its next request. */
export function isFree(pid) {
  const name = threadName(pid);
  if (name === THREAD_IDLE || name === THREAD_BUSY) return name === THREAD_IDLE;
  const nr = syscallOf(pid);
  return nr === null || SYSCALLS.accept.includes(nr);
}

/** utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat). */
export function cpuTicks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** "pid comm syscall wchan" of each pid, for an error message. */
export function procInfo(pids) {
  return pids.map((pid) => {
    const read = (f) => { try { return readFileSync(`/proc/${pid}/${f}`, 'utf8').trim(); } catch { return '-'; } };
    return `${pid} ${read('comm')} syscall=${read('syscall').split(' ')[0]} wchan=${read('wchan')}`;
  }).join('; ');
}
