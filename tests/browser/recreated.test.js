// recreated.test.js — public_html/js/rtclient.js in Chromium while the
// database is deleted and created again under it (docs/store.md, "What a
// client gets after the database is recreated").  The new database's ids
// start again from 1, below the id the client saw last; the client must take
// them as a new start, not as duplicates: every message sent after the
// recreation is shown, once, in order.
//   SSE:       the stream is held across the recreation and goes on with
//              the new database's ids on the same connection.
//   WebSocket: the helper closes with 1012; the client reconnects with its
//              old since, above the new newest id, and the helper starts it
//              from the current end.
//   long-poll: the held request is answered with "reset": true.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/servers.js';
import { recreateDb } from '../lib/held.js';
import { launchBrowser, send, uniqueChannel, waitForText } from './chromium.js';

// Short backoff so the WebSocket comes back quickly after its 1012; the
// connect timeout stays generous for a loaded machine.
const OPTIONS = 'connectTimeoutMs=8000&backoffBaseMs=200&backoffMaxMs=2000&longpollTimeoutS=10';
const OLD = 8;    // messages before the recreation: the client's last id is 8
const NEW = 10;   // after it: ids 1..8 are at or below that, 9 and 10 above

let stack, browser;

before(async () => {
	// Every test recreates the database: this file has a stack of its own.
	stack = await startStack({ server: 'apache', mode: 'fcgid', store: 'sqlite' });
	browser = await launchBrowser();
});

after(async () => {
	await browser?.close();
	await stack?.stop();
});

const rtlab = (page) => page.evaluate(() => ({
	received: window.rtlab.received,
	states: window.rtlab.states,
	stats: { ...window.rtlab.client.stats },
}));

// Resolves once the client has been open on its transport count times.
function waitOpened(page, count) {
	return page.waitForFunction((n) => window.rtlab.states
		.filter((s) => s.state === 'open').length >= n, count, { timeout: 30000 });
}

async function sendAll(channel, label, count) {
	const ids = [];
	for (let i = 0; i < count; i++) ids.push((await send(stack.base, channel, `${label} ${i}`)).id);
	return ids;
}

// Each test starts on a fresh database, so the ids are known: 1..OLD.
async function throughRecreation(transport, { heldAcross }) {
	await recreateDb(stack);
	const channel = uniqueChannel(`re-${transport}`);
	const page = await browser.newPage();
	await page.goto(`${stack.base}/client.html?channel=${channel}&transports=${transport}&${OPTIONS}`);
	await waitOpened(page, 1);
	const old = await sendAll(channel, 'old', OLD);
	assert.deepEqual(old, Array.from({ length: OLD }, (_, i) => i + 1), 'a fresh database');
	await waitForText(page, '#chat .text', `old ${OLD - 1}`);

	await recreateDb(stack);
	// What is stored before a connection meets the new database, the client
	// cannot ask for (its cursor is a number from the old one), so wait for
	// that first: the WebSocket closed (1012) and open again; the long-poll
	// answered "reset" (the client then holds the new newest id, 0).  The SSE
	// stream goes on from the new database's first message whenever it looks.
	if (transport === 'ws') await waitOpened(page, 2);
	if (transport === 'longpoll') {
		await page.waitForFunction((n) => window.rtlab.client.lastId < n, OLD, { timeout: 30000 });
	}
	const fresh = await sendAll(channel, 'new', NEW);
	assert.equal(fresh[0], 1, 'the new database starts again from 1');
	await waitForText(page, '#chat .text', `new ${NEW - 1}`);
	await page.waitForTimeout(500);   // a late duplicate would show up now

	const { received, states, stats } = await rtlab(page);
	assert.deepEqual(received, [...old, ...fresh], 'every message once, in order, none dropped');
	assert.equal(stats.resets, 1, 'the start-over is counted once');
	assert.equal(stats.duplicatesDropped, 0);
	assert.equal(stats.transport, transport);
	const opens = states.filter((s) => s.state === 'open').length;
	if (heldAcross) assert.equal(opens, 1, `the ${transport} connection was held across, not reopened`);
	else assert.equal(opens, 2, `the ${transport} connection was reopened once`);
	const log = await page.textContent('#log');
	assert.match(log, /the message store started over/, 'the page says so');
	assert.deepEqual(page.rtlabErrors, []);
	await page.close();
}

test('SSE held across a recreated database: the new ids 1.. are shown, none dropped',
	{ timeout: 120000 }, () => throughRecreation('sse', { heldAcross: true }));

test('WebSocket closed with 1012 by a recreated database: after the reconnect the new ids are shown',
	{ timeout: 120000 }, () => throughRecreation('ws', { heldAcross: false }));

test('long-poll answered with reset by a recreated database: the new ids are shown',
	{ timeout: 120000 }, () => throughRecreation('longpoll', { heldAcross: true }));
