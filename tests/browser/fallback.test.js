// fallback.test.js — public_html/js/rtclient.js in Chromium: with the
// WebSocket helper stopped it settles on SSE; with SSE blocked as well, on
// long polling; when the helper returns it moves back to WebSocket; a helper
// that freezes (silent connection) is detected; and through all of it every
// message is shown exactly once, in order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { startStack } from '../lib/servers.js';
import { launchBrowser, send, uniqueChannel } from './chromium.js';

// Short timers so the test does not wait for the production defaults.
// connectTimeoutMs stays generous: on a loaded machine a new FastCGI process
// may take seconds to answer, and a slow SSE must not count as a failed one.
const OPTIONS = 'connectTimeoutMs=8000&probeMs=1500&backoffBaseMs=200&backoffMaxMs=2000' +
	'&silenceMs=3000&pollIntervalMs=500&longpollTimeoutS=10';

let stack, browser;

before(async () => {
	stack = await startStack({ server: 'apache', mode: 'fcgid' });
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await stack?.stop();
});

async function openClient(channel, setup) {
	const page = await browser.newPage();
	if (setup) await setup(page);
	await page.goto(`${stack.base}/client.html?channel=${channel}&${OPTIONS}`);
	return page;
}

// Resolves once the client is open on transport (or on one of a list).
function waitOpenOn(page, transport, timeout = 30000) {
	return page.waitForFunction((wanted) => {
		const s = window.rtlab && window.rtlab.client.stats;
		return s && wanted.includes(s.transport) && s.state === 'open';
	}, [transport].flat(), { timeout });
}

// Sends count messages, spaced by gapMs; resolves to their ids.
async function sendSome(channel, count, label, gapMs = 0) {
	const ids = [];
	for (let i = 0; i < count; i++) {
		ids.push((await send(stack.base, channel, `${label} ${i}`)).id);
		if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
	}
	return ids;
}

async function waitReceived(page, ids, timeout = 30000) {
	await page.waitForFunction((want) => want.every((id) => window.rtlab.received.includes(id)),
		ids, { timeout });
}

const received = (page) => page.evaluate(() => window.rtlab.received);

// Starts the helper while messages keep coming: the client must move up to
// WebSocket and receive them all.  Appends their ids to sent.
async function helperReturns(page, channel, sent) {
	const during = sendSome(channel, 10, 'during the switch', 150);
	await stack.startHelper();
	await waitOpenOn(page, 'ws');
	sent.push(...await during);
	sent.push(...await sendSome(channel, 3, 'on ws'));
	await waitReceived(page, sent);
}

async function assertExactlyOnce(page, sent) {
	await page.waitForTimeout(500);   // a late duplicate would show up now
	assert.deepEqual(await received(page), sent, 'every message exactly once, in order');
	// The overlap of two transports is duplicates, never a store that started over.
	assert.equal(await page.evaluate(() => window.rtlab.client.stats.resets), 0, 'no start-over');
}
const transportsUsed = (page) => page.evaluate(() =>
	[...new Set(window.rtlab.states.filter((s) => s.state === 'open').map((s) => s.transport))]);

test('helper stopped: ends on SSE; helper back: upgrades to WebSocket, nothing lost or doubled',
	{ timeout: 180000 }, async () => {
	const channel = uniqueChannel('fb-sse');
	await stack.stopHelper();
	const page = await openClient(channel);
	await waitOpenOn(page, 'sse');
	const sent = await sendSome(channel, 5, 'while on sse');
	await waitReceived(page, sent);

	await helperReturns(page, channel, sent);

	// The helper goes away under an open WebSocket (close 1001) and comes back.
	const gone = sendSome(channel, 10, 'helper restarting', 150);
	await stack.stopHelper();
	await waitOpenOn(page, 'sse');
	sent.push(...await gone);
	await helperReturns(page, channel, sent);
	await assertExactlyOnce(page, sent);
	assert.deepEqual(page.rtlabErrors, []);
	await page.close();
});

test('WebSocket and SSE both blocked: ends on long polling, then back up to SSE and WebSocket',
	{ timeout: 180000 }, async () => {
	const channel = uniqueChannel('fb-lp');
	await stack.stopHelper();
	const blocked = [];
	const page = await openClient(channel, (p) => p.route('**/cgi-bin/sse.fcgi*', (route) => {
		blocked.push(route.request().url());
		return route.abort();
	}));
	await waitOpenOn(page, 'longpoll');
	assert.ok(blocked.length >= 1, 'the client tried SSE first');
	const sent = await sendSome(channel, 10, 'while on long-poll', 50);
	await waitReceived(page, sent);
	assert.deepEqual(await transportsUsed(page), ['longpoll']);

	// SSE comes back first: the client moves up one step, then to WebSocket.
	const during = sendSome(channel, 10, 'sse unblocked', 150);
	await page.unroute('**/cgi-bin/sse.fcgi*');
	await waitOpenOn(page, 'sse');
	sent.push(...await during);
	await helperReturns(page, channel, sent);
	await assertExactlyOnce(page, sent);
	await page.close();
});

test('frames that arrive twice (a repeating proxy) are shown once', { timeout: 120000 }, async () => {
	const channel = uniqueChannel('fb-dup');
	const page = await openClient(channel, (p) => p.routeWebSocket('**/ws?*', (ws) => {
		const server = ws.connectToServer();
		server.onMessage((frame) => { ws.send(frame); ws.send(frame); });
	}));
	await waitOpenOn(page, 'ws');
	const sent = await sendSome(channel, 6, 'twice');
	await waitReceived(page, sent);
	await assertExactlyOnce(page, sent);
	const dropped = await page.evaluate(() => window.rtlab.client.stats.duplicatesDropped);
	assert.equal(dropped, sent.length, 'each repeated frame was dropped');
	await page.close();
});

// The helper's processes among the stack's, by their name in /proc: the
// parent and its workers (rtlab-wsd --workers, one per core by default).
async function helperPids() {
	const pids = [];
	for (const pid of stack.serverPids()) {
		const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
		if (comm.trim() === 'rtlab-wsd') pids.push(pid);
	}
	if (!pids.length) throw new Error('no rtlab-wsd among the stack\'s processes');
	return pids;
}

test('a silent WebSocket (frozen helper) is detected and the client moves on',
	{ timeout: 180000 }, async () => {
	const channel = uniqueChannel('fb-silent');
	const page = await openClient(channel);
	await waitOpenOn(page, 'ws');
	const sent = await sendSome(channel, 2, 'before the freeze');
	await waitReceived(page, sent);

	// SIGSTOP: the helper's sockets stay open but nothing moves — exactly
	// what a dead network path looks like from the browser.
	const pids = await helperPids();
	for (const pid of pids) process.kill(pid, 'SIGSTOP');
	try {
		sent.push(...await sendSome(channel, 3, 'while frozen'));
		await waitOpenOn(page, ['sse', 'longpoll'], 60000);
		await waitReceived(page, sent);
	} finally {
		for (const pid of pids) process.kill(pid, 'SIGCONT');
	}
	await waitOpenOn(page, 'ws', 60000);
	sent.push(...await sendSome(channel, 2, 'thawed'));
	await waitReceived(page, sent);
	await assertExactlyOnce(page, sent);
	await page.close();
});
