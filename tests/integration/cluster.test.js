// cluster.test.js — three web hosts on one private Redis, behind HAProxy
// (tools/serve.sh CLUSTER=3, docs/scaling.md): what one host cannot show.
//
//  1. a message sent through host 1 reaches poll, long-poll, SSE and
//     WebSocket clients held on hosts 2 and 3, the same bytes everywhere;
//     every answer names its host (X-Rtlab-Node);
//  2. host 2 SIGKILLed (web server, endpoints, helper) under clients that
//     came through the balancer: its clients reconnect through the balancer
//     to the other hosts and get every message exactly once, in order;
//  3. Redis stopped and started again (its AOF): sends answer 503 with
//     Retry-After meanwhile, WebSockets are closed with 1011, and every
//     client resumes with nothing lost.
// Correctness only; the times it prints are for docs/scaling.md, not asserted
// tightly (a shared, noisy machine).  Skipped when redis-server or haproxy is
// missing (tools/deps.sh cluster installs them).

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { curl } from '../lib/http.js';
import { freshChannel, openStream, sleep, streamMessages, until } from '../lib/held.js';
import {
  deliveryReport, longPollClient, pollClient, sseClient, wsClient,
} from '../lib/resume.js';
import { clusterTools, helperBuilt, startCluster } from '../lib/servers.js';

const skip = !clusterTools() ? 'redis-server or haproxy is not installed (tools/deps.sh cluster)'
  : !helperBuilt() ? 'the helper is not built (make)' : false;

async function send(base, channel, text) {
  const r = await curl(`${base}/cgi-bin/send.fcgi`, {
    headers: { 'Content-Type': 'application/json' },
    data: JSON.stringify({ channel, user: 'cluster', text }),
  });
  return r;
}

async function sendOk(base, channel, text) {
  const r = await send(base, channel, text);
  assert.equal(r.status, 201, `send.fcgi answered ${r.status}: ${r.body}`);
  return r;
}

async function lastIdOf(base) {
  const r = await curl(`${base}/cgi-bin/poll.fcgi?channel=${freshChannel('x')}&limit=1`);
  assert.equal(r.status, 200);
  return r.json().last_id;
}

/** Messages of one WebSocket, held on url; resolves once it is open. */
function wsCollect(url) {
  const c = { frames: [], node: null };
  c.ws = new WebSocket(url);
  c.ws.on('upgrade', (res) => { c.node = res.headers['x-rtlab-node']; });
  c.ws.on('message', (d) => c.frames.push(d.toString()));
  c.open = new Promise((resolve, reject) => {
    c.ws.on('open', resolve);
    c.ws.on('error', reject);
  });
  return c;
}

describe('a cluster: 3 hosts, one Redis, HAProxy in front', { skip, timeout: 240_000 }, () => {
  let c;
  // Every resuming client of a test, stopped after it even when it failed
  // (a client left reconnecting would keep this process alive).
  const running = [];
  const track = (clients) => { running.push(clients); return clients; };
  afterEach(() => {
    for (const clients of running.splice(0)) for (const x of clients) x.c.stop();
  });

  before(async () => {
    c = await startCluster({ n: 3, env: { RT_SSE_HEARTBEAT: '2' } });
  });
  after(async () => {
    await c?.stop();
  });

  it('sends through host 1 reach poll, long-poll, SSE and WebSocket clients on hosts 2 and 3', async () => {
    const channel = freshChannel('cl');
    const since = await lastIdOf(c.nodes[0].base);
    const held = c.nodes.slice(1).map((node) => ({
      node,
      longpoll: curl(`${node.base}/cgi-bin/longpoll.fcgi?channel=${channel}&since=${since}&timeout=20`),
      sse: openStream(`${node.base}/cgi-bin/sse.fcgi?channel=${channel}&since=${since}`),
      ws: wsCollect(`${node.wsUrl}?channel=${channel}&since=${since}`),
    }));
    for (const h of held) {
      const res = await h.sse.opened;
      assert.equal(res.headers['x-rtlab-node'], h.node.name);
      await h.ws.open;
      assert.equal(h.ws.node, h.node.name, 'the helper names its host in the 101');
    }
    const r = await sendOk(c.nodes[0].base, channel, 'across "hosts" \\ é 😀\n');
    assert.equal(r.headers['x-rtlab-node'], 'node1');
    const json = r.body;                 // the stored message, as every transport must carry it
    const id = r.json().id;

    for (const h of held) {
      const lp = await h.longpoll;
      assert.equal(lp.status, 200);
      assert.equal(lp.headers['x-rtlab-node'], h.node.name);
      assert.deepEqual(lp.json().messages.map((m) => m.id), [id]);
      assert.ok(lp.body.includes(json), 'long-poll carries the same bytes');

      await h.sse.waitFor((st) => st.events.length >= 1, 10_000, `SSE on ${h.node.name}`);
      assert.equal(h.sse.events[0].data, json);
      assert.equal(h.sse.events[0].id, String(id));
      h.sse.close();

      await until(() => h.ws.frames.length >= 1, 10_000, `WebSocket on ${h.node.name}`);
      assert.equal(h.ws.frames[0], `{"type":"message","message":${json}}`);
      h.ws.ws.close();

      const p = await curl(`${h.node.base}/cgi-bin/poll.fcgi?channel=${channel}&since=${since}`);
      assert.equal(p.headers['x-rtlab-node'], h.node.name);
      assert.deepEqual(p.json().messages.map((m) => m.id), [id]);
    }
    // Through the balancer, round-robin: three polls, three hosts.
    const names = new Set();
    for (let i = 0; i < 3; i++) {
      names.add((await curl(`${c.base}/cgi-bin/poll.fcgi?channel=${channel}`)).headers['x-rtlab-node']);
    }
    assert.deepEqual([...names].sort(), ['node1', 'node2', 'node3']);
  });

  it('host 2 killed: its clients reconnect through the balancer and get every message once, in order', async () => {
    const channel = freshChannel('crash');
    const since = await lastIdOf(c.nodes[0].base);
    // One after another, so round-robin spreads them: 2 per host per kind.
    const clients = track([]);
    for (let i = 0; i < 6; i++) {
      const w = wsClient(c.wsUrl, channel, since);
      clients.push({ kind: 'ws', c: w });
      await w.connected;
    }
    for (let i = 0; i < 6; i++) {
      const s = sseClient(c.base, channel, since);
      clients.push({ kind: 'sse', c: s });
      await s.connected;
    }
    for (let i = 0; i < 3; i++) clients.push({ kind: 'longpoll', c: longPollClient(c.base, channel, since, 10) });
    clients.push({ kind: 'poll', c: pollClient(c.base, channel, since, 100) });
    // (A long-poll's first answer comes with the first message: its cursor
    // is all it needs, there is nothing to wait for.)
    const onNode2 = clients.filter((x) => x.c.nodes[0] === 'node2');
    assert.ok(onNode2.some((x) => x.kind === 'ws'), `a WebSocket on node2 (${clients.map((x) => x.c.nodes[0])})`);
    assert.ok(onNode2.some((x) => x.kind === 'sse'), 'an SSE stream on node2');

    const ids = [];
    let killedAt = 0;
    for (let i = 1; i <= 40; i++) {
      ids.push((await sendOk(c.nodes[0].base, channel, `m${i}`)).json().id);
      if (i === 10) {
        const pids = c.killNode(1);
        killedAt = Date.now();
        assert.ok(pids.length >= 2, 'host 2 had a web server and a helper to kill');
      }
      await sleep(25);
    }
    const last = ids[ids.length - 1];
    await until(() => clients.every((x) => x.c.last >= last), 30_000,
      () => `every client caught up (${clients.map((x) => `${x.kind}:${x.c.last}`).join(' ')})`);
    const caughtUp = Date.now();
    for (const x of clients) x.c.stop();

    for (const x of clients) {
      assert.deepEqual(deliveryReport(x.c.ids, ids), { lost: 0, duplicated: 0, outOfOrder: 0 },
        `${x.kind} client (hosts ${x.c.nodes.join(',')})`);
      assert.deepEqual(x.c.ids, ids);
    }
    for (const x of onNode2) {
      if (x.kind !== 'ws' && x.kind !== 'sse') continue;
      const later = x.c.nodes.slice(1);
      assert.ok(later.length >= 1, `${x.kind} client on node2 reconnected`);
      assert.ok(later.every((n) => n !== 'node2'), `${x.kind} client went elsewhere: ${later}`);
    }
    console.log(`# host 2 killed under ${clients.length} clients (${onNode2.length} on it): `
      + `all caught up ${caughtUp - killedAt} ms after the kill; 0 lost, 0 duplicated`);
  });

  it('Redis restarted: 503 with Retry-After meanwhile, WebSockets closed 1011, nothing lost', async () => {
    const channel = freshChannel('redis');
    // Host 2 is dead now: the others serve (the balancer knows).
    const live = c.nodes.filter((n) => n.name !== 'node2');
    const since = await lastIdOf(live[0].base);
    const clients = track([
      { kind: 'ws', c: wsClient(c.wsUrl, channel, since) },
      { kind: 'ws', c: wsClient(c.wsUrl, channel, since) },
      { kind: 'sse', c: sseClient(c.base, channel, since) },
      { kind: 'sse', c: sseClient(c.base, channel, since) },
      { kind: 'longpoll', c: longPollClient(c.base, channel, since, 10) },
    ]);
    await Promise.all(clients.filter((x) => x.kind !== 'longpoll').map((x) => x.c.connected));
    const ids = [];
    for (let i = 1; i <= 5; i++) ids.push((await sendOk(live[0].base, channel, `before ${i}`)).json().id);

    await c.stopRedis();
    const down = await send(live[1].base, channel, 'while Redis is away');
    assert.equal(down.status, 503, down.body);
    assert.ok(down.headers['retry-after'], 'a 503 says when to retry');
    assert.equal(down.json().error, 'unavailable');
    await until(() => clients.filter((x) => x.kind === 'ws').every((x) => x.c.closes.includes(1011)),
      10_000, 'the helpers closed their WebSockets with 1011');

    await c.startRedis();
    // A send that answered 503 stored nothing: sending again is safe.
    for (let i = 1; i <= 5; i++) {
      let r;
      await until(async () => (r = await send(live[i % 2].base, channel, `after ${i}`)).status === 201,
        15_000, 'a send to succeed once Redis is back');
      ids.push(r.json().id);
    }
    const last = ids[ids.length - 1];
    await until(() => clients.every((x) => x.c.last >= last), 30_000,
      () => `every client caught up (${clients.map((x) => `${x.kind}:${x.c.last}`).join(' ')})`);
    for (const x of clients) x.c.stop();
    for (const x of clients) {
      assert.deepEqual(x.c.ids, ids, `${x.kind} client: every message once, in order`);
    }
    // Ids went on from where they were: the AOF kept the sequence.
    assert.ok(ids[5] > ids[4]);
  });
});
