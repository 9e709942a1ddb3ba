// resume.js — clients that resume from their cursor, the way a real client
// must when its host goes away: one per transport, each keeping every id it
// received (so a test can check "exactly once, in order") and the host that
// served each of its connections (the X-Rtlab-Node header).
//
//   const c = wsClient(url, channel, since);      // or sseClient, longPollClient, pollClient
//   await c.connected;                            // the first connection is up
//   c.ids        every message id received, in order (c.at: when, performance.now())
//   c.nodes      the host of each connection, in order ('?' when unknown)
//   c.closes     close codes (WebSocket) / end reasons seen
//   c.last       the cursor: the newest id received (or the start)
//   c.stop()     ends it (no more reconnecting)
//   c.bounce()   drops the connection (WebSocket, SSE): it reconnects and resumes
//   c.cookie     the balancer's stickiness cookie, sent back like a browser
//                would (HAProxy with STICKY=1 sets it on the first answer)
//
// Used by tests/integration/cluster.test.js and tools/lab.js.  Reconnecting
// waits RETRY_MS, the same for every transport (rtclient.js waits longer,
// with backoff: a test wants to see the reconnect, not wait for it).

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import WebSocket from 'ws';

const RETRY_MS = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function base(since) {
  return {
    ids: [], at: [], nodes: [], closes: [], last: since, stopped: false, errors: [], cookie: null,
    take(msg) {
      this.ids.push(msg.id);
      this.at.push(performance.now());
      if (msg.id > this.last) this.last = msg.id;
    },
    /* An answer's headers: its host, and a cookie to send back. */
    answered(headers) {
      this.nodes.push(headers['x-rtlab-node'] ?? '?');
      const set = headers['set-cookie'];
      if (set && set.length) this.cookie = set[0].split(';')[0];
    },
    headers(more = {}) {
      return this.cookie ? { ...more, Cookie: this.cookie } : more;
    },
  };
}

/** A WebSocket client: on close, reconnects with since = the last id it got. */
export function wsClient(url, channel, since) {
  const c = base(since);
  let ws;
  let firstResolve;
  c.connected = new Promise((r) => { firstResolve = r; });
  const open = () => {
    if (c.stopped) return;
    ws = new WebSocket(`${url}?channel=${channel}&since=${c.last}`, { headers: c.headers() });
    ws.on('upgrade', (res) => c.answered(res.headers));
    ws.on('open', () => firstResolve());
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'message') c.take(f.message);
    });
    // A refused handshake (503 while the store is away) is an 'error'
    // ("Unexpected server response: 503"), then a 'close' (1006).
    ws.on('error', (e) => c.errors.push(e.message));
    ws.on('close', (code) => {
      c.closes.push(code);
      if (!c.stopped) setTimeout(open, RETRY_MS);
    });
  };
  open();
  c.stop = () => { c.stopped = true; ws?.terminate(); };
  c.bounce = () => ws?.terminate();
  return c;
}

/** An SSE client: when the stream ends or fails, reopens it with Last-Event-ID. */
export function sseClient(baseUrl, channel, since) {
  const c = base(since);
  let req;
  let firstResolve;
  c.connected = new Promise((r) => { firstResolve = r; });
  const open = () => {
    if (c.stopped) return;
    let done = false;
    const again = (why) => {
      if (done) return;
      done = true;
      c.closes.push(why);
      if (!c.stopped) setTimeout(open, RETRY_MS);
    };
    const parser = createParser({
      onEvent: (e) => c.take(JSON.parse(e.data)),
      onError: (err) => c.errors.push(err.message),
    });
    req = http.get(`${baseUrl}/cgi-bin/sse.fcgi?channel=${channel}`,
      { headers: c.headers({ 'Last-Event-ID': String(c.last) }), agent: false }, (res) => {
        c.answered(res.headers);
        if (res.statusCode !== 200) {
          res.resume();
          again(`http ${res.statusCode}`);
          return;
        }
        firstResolve();
        res.setEncoding('utf8');
        res.on('data', (chunk) => parser.feed(chunk));
        res.on('end', () => again('end'));
        res.on('error', () => again('error'));
        res.on('close', () => again('close'));
      });
    req.on('error', () => again('error'));
  };
  open();
  c.stop = () => { c.stopped = true; req?.destroy(); };
  c.bounce = () => req?.destroy();
  return c;
}

/** GETs url with node's http client: { status, headers, body }, or throws. */
function get(url, timeoutMs, headers) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/* The loop of poll and long-poll: ask after the cursor, take, ask again. */
function askingClient(url, c, pauseMs) {
  let firstResolve;
  c.connected = new Promise((r) => { firstResolve = r; });
  (async () => {
    while (!c.stopped) {
      try {
        const r = await get(url(c.last), 60_000, c.headers());
        c.answered(r.headers);
        if (r.status === 200) {
          firstResolve();
          for (const m of JSON.parse(r.body).messages) if (!c.stopped) c.take(m);
        } else {
          c.closes.push(`http ${r.status}`);
          await sleep(RETRY_MS);
        }
      } catch (e) {
        c.closes.push(e.message);
        await sleep(RETRY_MS);
      }
      if (pauseMs) await sleep(pauseMs);
    }
  })();
  return c;
}

/** A long-poll client (timeout s per request). */
export function longPollClient(baseUrl, channel, since, timeout = 10) {
  const c = base(since);
  c.stop = () => { c.stopped = true; };
  return askingClient((last) =>
    `${baseUrl}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${last}&timeout=${timeout}`, c, 0);
}

/** A short-poll client, every everyMs. */
export function pollClient(baseUrl, channel, since, everyMs = 200) {
  const c = base(since);
  c.stop = () => { c.stopped = true; };
  return askingClient((last) =>
    `${baseUrl}/cgi-bin/poll.fcgi?channel=${channel}&since=${last}`, c, everyMs);
}

/**
 * What went wrong with a client's ids against the ids it should have, in
 * order: { lost, duplicated, outOfOrder } (counts).
 */
export function deliveryReport(ids, expected) {
  const seen = new Map();
  let outOfOrder = 0;
  for (let i = 0; i < ids.length; i++) {
    seen.set(ids[i], (seen.get(ids[i]) ?? 0) + 1);
    if (i > 0 && ids[i] <= ids[i - 1]) outOfOrder += 1;
  }
  let duplicated = 0;
  for (const n of seen.values()) if (n > 1) duplicated += n - 1;
  const lost = expected.filter((id) => !seen.has(id)).length;
  return { lost, duplicated, outOfOrder };
}
