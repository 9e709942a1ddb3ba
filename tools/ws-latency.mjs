// ws-latency.mjs — publish-to-receive latency of the WebSocket helper, as a
// browser would see it: one client sends {"type":"send"} frames, another
// client on the same channel receives them (both through the same URL, e.g.
// Apache's /ws), one message at a time, so each figure is a clean round:
//   frame in → helper → SQLite commit → fan-out → frame out → client.
//
//   node tools/ws-latency.mjs ws://127.0.0.1:8080/ws [messages=300]
//
// Prints p50/p90/p99/max in milliseconds.  Uses npm ws from tests/.
import { createRequire } from 'node:module';
const require = createRequire(new URL('../tests/package.json', import.meta.url));
const WebSocket = require('ws');

const url = process.argv[2] ?? 'ws://127.0.0.1:8080/ws';
const count = Number(process.argv[3] ?? 300);
const channel = `lat${process.pid}`;
const open = (u) => new Promise((res, rej) => {
  const ws = new WebSocket(u);
  ws.once('open', () => res(ws));
  ws.once('error', rej);
});
const sub = await open(`${url}?channel=${channel}&history=0`);
const pub = await open(`${url}?channel=${channel}&history=0`);
const lat = [];
for (let i = 0; i < count; i++) {
  const text = `m${i}`;
  const got = new Promise((res) => {
    const on = (d) => {
      const f = JSON.parse(d.toString());
      if (f.type === 'message' && f.message.text === text) { sub.off('message', on); res(); }
    };
    sub.on('message', on);
  });
  const t0 = process.hrtime.bigint();
  pub.send(JSON.stringify({ type: 'send', user: 'lat', text }));
  await got;
  lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  await new Promise((r) => setTimeout(r, 5));
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(3);
console.log(`${url}: ${count} messages, latency ms p50 ${q(0.5)} p90 ${q(0.9)} p99 ${q(0.99)} max ${lat.at(-1).toFixed(3)}`);
sub.close();
pub.close();
