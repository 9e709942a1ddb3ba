// cluster.test.js — the pages, unchanged, through HAProxy in front of three
// hosts on one Redis (tools/serve.sh CLUSTER=3, docs/scaling.md): three
// client.html pages in Chromium (public_html/js/rtclient.js) on WebSocket,
// one host SIGKILLed while messages flow, and every page still shows every
// message exactly once, in order.  Skipped without redis-server or haproxy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { clusterTools, startCluster } from '../lib/servers.js';
import { launchBrowser, send, uniqueChannel } from './chromium.js';

const OPTIONS = 'connectTimeoutMs=8000&probeMs=1500&backoffBaseMs=200&backoffMaxMs=2000' +
	'&silenceMs=3000&pollIntervalMs=500&longpollTimeoutS=10';
const skip = clusterTools() ? false : 'redis-server or haproxy is not installed (tools/deps.sh cluster)';

let cluster, browser;

before(async () => {
	if (skip) return;
	cluster = await startCluster({ n: 3 });
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await cluster?.stop();
});

test('pages through the balancer: a host killed, every message once, in order', { skip, timeout: 180_000 }, async () => {
	const channel = uniqueChannel('cluster');
	const pages = [];
	for (let i = 0; i < 3; i++) {       // round-robin: one per host
		const page = await browser.newPage();
		await page.goto(`${cluster.base}/client.html?channel=${channel}&${OPTIONS}`);
		await page.waitForFunction(() => {
			const s = window.rtlab && window.rtlab.client.stats;
			return s && s.transport === 'ws' && s.state === 'open';
		}, null, { timeout: 30_000 });
		pages.push(page);
	}
	const sent = [];
	for (let i = 0; i < 30; i++) {
		sent.push((await send(cluster.nodes[0].base, channel, `m${i}`)).id);
		if (i === 10) cluster.killNode(1);
		await new Promise((r) => setTimeout(r, 100));
	}
	for (const page of pages) {
		await page.waitForFunction((want) => want.every((id) => window.rtlab.received.includes(id)),
			sent, { timeout: 60_000 });
		await page.waitForTimeout(300);    // a late duplicate would show up now
		assert.deepEqual(await page.evaluate(() => window.rtlab.received), sent,
			'every message exactly once, in order');
		assert.deepEqual(page.rtlabErrors, []);
	}
	// At least one page was on the killed host and had to come back.
	const reopened = await Promise.all(pages.map((p) => p.evaluate(() =>
		window.rtlab.states.filter((s) => s.state === 'open').length)));
	assert.ok(reopened.some((n) => n >= 2), `a page reconnected (opens per page: ${reopened})`);
});
