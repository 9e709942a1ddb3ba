// http.js — HTTP requests for the tests, made by the real curl (what the
// protocol's users run), not by a library that might smooth over a bad answer.
//
//   const r = await curl(`${s.base}/cgi-bin/poll.fcgi?since=0`,
//                        { method: 'GET', headers: { 'If-None-Match': etag },
//                          data: 'text=hi', maxTime: 10 });
//   r.status (number), r.headers (lower-case keys; repeated ones joined
//   with ", "), r.body (string), r.raw (Buffer), r.json() (parsed body)
//
// Over TLS (a TLS=1 stack): { cacert: s.cert } trusts its self-signed
// certificate, { http: '2' } or { http: '1.1' } picks the protocol curl
// offers by ALPN; r.version is the one the answer came in ('2', '1.1').
//
// data (string or Buffer) is sent exactly as given, from stdin, with
// --data-binary; without a Content-Type header curl sends
// application/x-www-form-urlencoded.  "Expect: 100-continue" is turned off
// so a 413 is the server's answer to the body, not to the handshake.

import { spawn } from 'node:child_process';

// The options every request shares: method, no "Expect: 100-continue",
// the caller's headers.
function requestArgs(method, headers, maxTime) {
  const args = ['-sS', '--max-time', String(maxTime), '-X', method, '-H', 'Expect:'];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  return args;
}

// Runs curl with args, feeding stdin (Buffer/string, or nothing).
// Resolves to { code, out (Buffer), err (string) }.
function runCurl(args, stdin) {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => { err += b; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out: Buffer.concat(out), err }));
    child.stdin.on('error', () => {});   // the server may answer before reading it all
    child.stdin.end(stdin);
  });
}

export async function curl(url, opts = {}) {
  const { headers = {}, data, maxTime = 30 } = opts;
  const method = opts.method ?? (data !== undefined ? 'POST' : 'GET');
  const args = ['-i', ...requestArgs(method, headers, maxTime)];
  if (data !== undefined) args.push('--data-binary', '@-');
  if (opts.compressed) args.push('--compressed');
  if (opts.http10) args.push('--http1.0');
  if (opts.cacert) args.push('--cacert', opts.cacert);
  if (opts.http) args.push(opts.http === '2' ? '--http2' : `--http${opts.http}`);
  args.push('--', url);
  const { code, out, err } = await runCurl(args, data);
  if (code !== 0 && out.length === 0) {
    throw new Error(`curl ${method} ${url} failed (exit ${code}): ${err.trim()}`);
  }
  return parseResponse(out, code, err);
}

// "HTTP/1.1 200 OK\r\nName: value\r\n...\r\n\r\nbody" — the last header
// block wins (a proxy may send an interim 1xx first).
export function parseResponse(raw, exitCode = 0, stderr = '') {
  let rest = raw;
  let head = '';
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) { head = rest.toString('latin1'); rest = Buffer.alloc(0); break; }
    head = rest.subarray(0, end).toString('latin1');
    rest = rest.subarray(end + 4);
    if (!/^HTTP\/\S+ 1\d\d/.test(head)) break;
  }
  const lines = head.split('\r\n');
  const [, version = '', code = 0] = lines[0].match(/^HTTP\/(\S+) (\d{3})/) || [];
  const status = Number(code);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const k = line.slice(0, i).trim().toLowerCase();
    const v = line.slice(i + 1).trim();
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  const body = rest.toString('utf8');
  return {
    status,
    version,
    headers,
    body,
    raw: rest,
    exitCode,
    stderr,
    json() { return JSON.parse(body); },
  };
}

// Many requests made by ONE curl process (joined with --next, so they share
// a keep-alive connection when they can): on a loaded machine a process
// start per request dominates a 1000-request test.  Each request is
// { url, method, headers, data } (data as a string, sent with --data-raw).
// Resolves to [{ status, headers, body, json() }] in request order; headers
// as in curl() (lower-case keys, repeated ones joined with ", ").
const MARK = '\n<<rtlab-end ';
const MARK_END = '>>rtlab\n';
export async function curlMany(requests, { maxTime = 120 } = {}) {
  const args = [];
  requests.forEach((req, i) => {
    if (i > 0) args.push('--next');
    const method = req.method ?? (req.data !== undefined ? 'POST' : 'GET');
    args.push(...requestArgs(method, req.headers ?? {}, maxTime),
      '-w', `${MARK}%{http_code} %{header_json}${MARK_END}`);
    if (req.data !== undefined) args.push('--data-raw', String(req.data));
    // No "--" here: after it curl takes every later argument, --next
    // included, as a URL.
    args.push('--url', req.url);
  });
  const { code, out, err } = await runCurl(args);
  const results = [];
  let rest = out.toString('utf8');
  for (;;) {
    const at = rest.indexOf(MARK);
    if (at < 0) break;
    const end = rest.indexOf(MARK_END, at);
    const tail = rest.slice(at + MARK.length, end);
    const space = tail.indexOf(' ');
    const headers = {};
    for (const [k, v] of Object.entries(JSON.parse(tail.slice(space + 1) || '{}'))) {
      headers[k.toLowerCase()] = [].concat(v).join(', ');
    }
    const body = rest.slice(0, at);
    results.push({ status: Number(tail.slice(0, space)), headers, body, json: () => JSON.parse(body) });
    rest = rest.slice(end + MARK_END.length);
  }
  if (results.length !== requests.length) {
    throw new Error(`curl (exit ${code}) answered ${results.length} of ${requests.length} requests: ${err.trim()}`);
  }
  return results;
}
