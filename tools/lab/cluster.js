// cluster.js — the config lab's experiments past one host (tools/lab.js
// runs them with the others; docs/scaling.md explains them):
//
//   17  two hosts, each its own SQLite: a message sent on one never reaches
//       the clients of the other (the problem);
//   18  the same two hosts on one Redis: it does, on every transport;
//   19  sticky vs non-sticky balancing for WebSockets and SSE: clients that
//       reconnect land on any host, and nothing is lost or repeated, because
//       rtlab's clients carry their cursor — no session lives on a host;
//   20  a host SIGKILLed under many clients: how many reconnect, how fast
//       they are back and caught up, lost and duplicated.
//
// Every figure is measured by the resuming clients of tests/lib/resume.js
// (the ones tests/integration/cluster.test.js trusts) against private
// servers started for the experiment and stopped by pid.

import { performance } from 'node:perf_hooks';
import {
	deliveryReport, longPollClient, sseClient, wsClient,
} from '../../tests/lib/resume.js';
import { startCluster, startStack } from '../../tests/lib/servers.js';
import { row, sleep } from './common.js';

const ms = (v) => (v == null ? '—' : `${Math.round(v)} ms`);
let seq = 0;
const channel = (p) => `${p}_${process.pid}_${++seq}`;

function percentile(values, p) {
	if (!values.length) return null;
	const v = [...values].sort((a, b) => a - b);
	return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))];
}

/* Sends one message; at: when the request started (performance.now()). */
async function post(base, ch, text) {
	const at = performance.now();
	const r = await fetch(`${base}/cgi-bin/send.fcgi`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify({ channel: ch, user: 'lab', text }),
	});
	if (r.status !== 201) throw new Error(`send.fcgi answered ${r.status}`);
	return { id: (await r.json()).id, at, node: r.headers.get('x-rtlab-node') };
}

async function newestId(base) {
	const r = await fetch(`${base}/cgi-bin/poll.fcgi?channel=${channel('x')}&limit=1`);
	return (await r.json()).last_id;
}

async function until(cond, limitMs) {
	const end = Date.now() + limitMs;
	while (!cond() && Date.now() < end) await sleep(20);
	return cond();
}

async function withCluster(opts, fn) {
	const c = await startCluster(opts);
	try {
		return await fn(c);
	} finally {
		await c.stop();
	}
}

/* One SSE, one long-poll, one WebSocket client of host `base`/`wsUrl`. */
function threeClients(base, wsUrl, ch, since) {
	return [
		{ kind: 'SSE', c: sseClient(base, ch, since) },
		{ kind: 'long-poll', c: longPollClient(base, ch, since, 10) },
		{ kind: 'WebSocket', c: wsClient(wsUrl, ch, since) },
	];
}

async function settle(clients) {
	await Promise.all(clients.filter((x) => x.kind !== 'long-poll').map((x) => x.c.connected));
	await sleep(300);           // the long-polls are held by now
}

// 17: two hosts that do not share their store.
export async function exp17() {
	const a = await startStack({ store: 'sqlite' });
	const b = await startStack({ store: 'sqlite' });
	try {
		const ch = channel('island');
		const onA = threeClients(a.base, a.wsUrl, ch, await newestId(a.base));
		const onB = threeClients(b.base, b.wsUrl, ch, await newestId(b.base));
		await settle([...onA, ...onB]);
		for (let i = 1; i <= 5; i++) await post(a.base, ch, `island ${i}`);
		await until(() => onA.every((x) => x.c.ids.length >= 5), 5000);
		await sleep(2000);         // ample time for host B to have heard of them
		const got = (xs) => xs.map((x) => `${x.kind} ${x.c.ids.length}`).join(', ');
		const bGot = onB.reduce((n, x) => n + x.c.ids.length, 0);
		for (const x of [...onA, ...onB]) x.c.stop();
		return [
			row(17, 'two hosts, each its own SQLite; 5 sent on host A', 'messages received by clients of host A; of host B (2 s later)',
				`A: ${got(onA)}; B: ${got(onB)}`,
				bGot === 0 ? 'islands: a message never leaves the host it was sent to' : 'host B heard of them (unexpected)', bGot),
		];
	} finally {
		await a.stop();
		await b.stop();
	}
}

// 18: the same two hosts on one Redis.
export async function exp18() {
	return withCluster({ n: 2 }, async (c) => {
		const ch = channel('shared');
		const [n1, n2] = c.nodes;
		const onB = threeClients(n2.base, n2.wsUrl, ch, await newestId(n1.base));
		await settle(onB);
		const sent = [];
		for (let i = 1; i <= 20; i++) {
			sent.push(await post(n1.base, ch, `shared ${i}`));
			await sleep(50);
		}
		const ids = sent.map((s) => s.id);
		await until(() => onB.every((x) => x.c.ids.length >= ids.length), 10_000);
		const lat = (x) => percentile(x.c.ids.map((id, i) => x.c.at[i] - sent[ids.indexOf(id)].at)
			.filter((v) => v >= 0), 50);
		const report = onB.map((x) => ({ kind: x.kind, ...deliveryReport(x.c.ids, ids), got: x.c.ids.length }));
		for (const x of onB) x.c.stop();
		const ok = report.every((r) => r.got === ids.length && r.lost + r.duplicated === 0);
		return [
			row(18, 'two hosts on one Redis; 20 sent on host 1', 'received by clients of host 2 (of 20); p50 from the send on host 1 to the client on host 2',
				onB.map((x, i) => `${x.kind} ${report[i].got} (${ms(lat(x))})`).join(', '),
				ok ? 'shared: every message reaches every host, once, in order' : 'messages missing on host 2', ok ? 1 : 0),
		];
	});
}

// 19: sticky or not, for clients that reconnect.
async function bounceRun(sticky) {
	return withCluster({ n: 3, sticky }, async (c) => {
		const ch = channel(sticky ? 'sticky' : 'rr');
		const since = await newestId(c.nodes[0].base);
		const clients = [];
		for (let i = 0; i < 6; i++) clients.push({ kind: 'ws', c: wsClient(c.wsUrl, ch, since) });
		for (let i = 0; i < 6; i++) clients.push({ kind: 'sse', c: sseClient(c.base, ch, since) });
		await Promise.all(clients.map((x) => x.c.connected));
		const ids = [];
		for (let round = 0; round < 4; round++) {
			for (let i = 0; i < 5; i++) ids.push((await post(c.nodes[0].base, ch, `r${round} m${i}`)).id);
			if (round < 3) {
				// Mid-stream, every client loses its connection and resumes
				// through the balancer with its cursor.
				for (const x of clients) x.c.bounce();
				await sleep(400);
			}
		}
		await until(() => clients.every((x) => x.c.last >= ids[ids.length - 1]), 10_000);
		for (const x of clients) x.c.stop();
		const hosts = clients.map((x) => new Set(x.c.nodes).size);
		const conns = clients.reduce((n, x) => n + x.c.nodes.length, 0);
		const bad = clients.map((x) => deliveryReport(x.c.ids, ids))
			.reduce((t, r) => ({ lost: t.lost + r.lost, duplicated: t.duplicated + r.duplicated }), { lost: 0, duplicated: 0 });
		return { hosts, conns, bad, n: clients.length, msgs: ids.length };
	});
}

export async function exp19() {
	const out = [];
	for (const sticky of [false, true]) {
		const r = await bounceRun(sticky);
		const avg = r.hosts.reduce((a, b) => a + b, 0) / r.hosts.length;
		out.push(row(19, sticky ? 'STICKY=1 (cookie), 6 WebSocket + 6 SSE clients' : 'round-robin, 6 WebSocket + 6 SSE clients',
			`${r.conns} connections (each client dropped 3 times); hosts per client; lost, duplicated of ${r.msgs}×${r.n}`,
			`${avg.toFixed(1)} hosts per client (max ${Math.max(...r.hosts)}); lost ${r.bad.lost}, duplicated ${r.bad.duplicated}`,
			r.bad.lost + r.bad.duplicated === 0
				? `${sticky ? 'each client stays on its host' : 'clients wander between hosts'}; nothing breaks: the cursor, not the host, holds the client's place`
				: 'messages lost or repeated', r.bad.lost + r.bad.duplicated));
	}
	return out;
}

// 20: a host crash under many clients.
export async function exp20({ clients: nWs = Number(process.env.RTLAB_LAB_CLIENTS) || 1000 } = {}) {
	return withCluster({ n: 3 }, async (c) => {
		const ch = channel('crash');
		const since = await newestId(c.nodes[0].base);
		const clients = [];
		for (let i = 0; i < nWs; i += 50) {         // in batches: a handshake storm is not the point
			const batch = [];
			for (let j = i; j < Math.min(nWs, i + 50); j++) batch.push({ kind: 'ws', c: wsClient(c.wsUrl, ch, since) });
			await Promise.all(batch.map((x) => x.c.connected));
			clients.push(...batch);
		}
		for (let i = 0; i < 12; i++) {
			const s = sseClient(c.base, ch, since);
			await s.connected;
			clients.push({ kind: 'sse', c: s });
		}
		for (let i = 0; i < 6; i++) clients.push({ kind: 'longpoll', c: longPollClient(c.base, ch, since, 10) });
		await sleep(500);
		const sent = [];
		let killAt = null;
		let firstAfter = null;
		for (let i = 0; i < 70; i++) {               // 7 s at 10 messages a second
			if (i === 20) {
				c.killNode(1);
				killAt = performance.now();
			}
			const s = await post(c.nodes[0].base, ch, `crash ${i}`);
			sent.push(s);
			if (killAt != null && firstAfter == null) firstAfter = s.id;
			await sleep(Math.max(0, 100 - (performance.now() - s.at)));
		}
		const ids = sent.map((s) => s.id);
		const last = ids[ids.length - 1];
		await until(() => clients.every((x) => x.c.last >= last), 30_000);
		for (const x of clients) x.c.stop();
		const onNode2 = clients.filter((x) => x.c.nodes[0] === 'node2');
		// A WebSocket or an SSE stream is one connection to one host: after
		// the kill it must be on another.  (A long-poll's requests land
		// anywhere anyway, one by one.)
		const held = onNode2.filter((x) => x.kind !== 'longpoll');
		const reconnected = held.filter((x) => x.c.nodes.length >= 2 && x.c.nodes.slice(1).every((n) => n !== 'node2'));
		// Back and caught up: the first message sent after the kill has
		// arrived (in order and exactly once — checked below — so with it
		// everything before it).
		const caught = onNode2.map((x) => {
			const i = x.c.ids.indexOf(firstAfter);
			return i < 0 ? null : x.c.at[i] - killAt;
		});
		const done = caught.filter((v) => v != null);
		const totals = clients.map((x) => deliveryReport(x.c.ids, ids))
			.reduce((t, r) => ({ lost: t.lost + r.lost, duplicated: t.duplicated + r.duplicated,
				outOfOrder: t.outOfOrder + r.outOfOrder }), { lost: 0, duplicated: 0, outOfOrder: 0 });
		const kinds = (xs) => ['ws', 'sse', 'longpoll'].map((k) => `${xs.filter((x) => x.kind === k).length} ${k}`).join(' + ');
		const ok = totals.lost + totals.duplicated + totals.outOfOrder === 0 && done.length === onNode2.length
			&& reconnected.length === held.length;
		return [
			row(20, `3 hosts, ${clients.length} clients (${kinds(clients)}); host 2 SIGKILLed mid-stream, 10 msg/s`,
				'clients on host 2; its WebSockets and SSE streams back on another host; kill → caught up p50 / max; lost, duplicated, out of order (all clients)',
				`${onNode2.length} (${kinds(onNode2)}); ${reconnected.length} of ${held.length}; ${ms(percentile(done, 50))} / ${ms(done.length ? Math.max(...done) : null)}; `
				+ `${totals.lost}, ${totals.duplicated}, ${totals.outOfOrder}`,
				ok ? 'every client of the dead host back elsewhere, nothing lost or repeated' : 'some clients did not come back whole', ok ? 1 : 0),
		];
	});
}

export const CLUSTER_EXPERIMENTS = [
	{ id: 17, title: 'Two hosts, each its own SQLite: islands', run: exp17 },
	{ id: 18, title: 'Two hosts on one Redis: shared', run: exp18 },
	{ id: 19, title: 'Sticky vs round-robin balancing, clients that reconnect', run: exp19 },
	{ id: 20, title: 'A host crash under many clients', run: exp20 },
];
