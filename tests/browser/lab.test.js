// lab.test.js — the side-by-side lab page, behind Apache and behind lighttpd:
// one send shows in all four panes, their figures move, a burst arrives
// complete and in order everywhere, and a screenshot is kept in test-results/
// for a human to look at.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startStack } from '../lib/servers.js';
import { launchBrowser, resultsDir, uniqueChannel } from './chromium.js';

const TRANSPORTS = ['poll', 'longpoll', 'sse', 'ws'];
for (const server of ['apache', 'lighttpd']) describe(`lab page behind ${server}`, () => {
	let stack, browser, page;
	const channel = uniqueChannel(`lab-${server}`);

	before(async () => {
		stack = await startStack({ server });
		browser = await launchBrowser();
		page = await browser.newPage();
		// The URL `make demo` prints: the lab page is the directory index.
		await page.goto(`${stack.base}/?channel=${channel}`);
		await page.waitForFunction(() =>
			[...document.querySelectorAll('.pane .state')].filter((e) => e.textContent === 'open').length === 4,
		null, { timeout: 30000 });
	});

	after(async () => {
		await browser?.close();
		await stack?.stop();
	});

	const pane = (t) => `.pane[data-transport=${t}]`;
	const paneTexts = (t) => page.$$eval(`${pane(t)} .messages .text`, (els) => els.map((e) => e.textContent));
	const figure = (t, name) => page.textContent(`${pane(t)} [data-figure=${name}]`);

	test('one send appears in all four panes and their figures update', { timeout: 90000 }, async () => {
		const text = 'hello, four panes';
		await page.fill('#send input[name=text]', text);
		await page.click('#send button:not([type])');
		for (const t of TRANSPORTS) {
			await page.waitForFunction(([sel, want]) =>
				[...document.querySelectorAll(sel)].some((e) => e.textContent === want),
			[`${pane(t)} .messages .text`, text], { timeout: 30000 });
		}
		// Figures are redrawn a few times a second.
		await page.waitForFunction(() =>
			[...document.querySelectorAll('[data-figure=received]')].every((e) => e.textContent === '1'),
		null, { timeout: 10000 });
		for (const t of TRANSPORTS) {
			assert.equal(await figure(t, 'received'), '1', t);
			assert.match(await figure(t, 'latency'), /^\d+ \/ \d+ ms$/, t);
			assert.ok(Number(await figure(t, 'requests')) >= 1, `${t} requests`);
			assert.match(await figure(t, 'bytes'), /^[1-9][\d.]* (B|KiB)$/, `${t} bytes`);
			assert.match(await figure(t, 'reconnects'), /^\d+$/, t);   // a slow machine may cause one
			assert.equal(await figure(t, 'resets'), '0', `${t}: no store restart`);
		}
		// Polling keeps asking while the others wait: its request count grows.
		const before = Number(await figure('poll', 'requests'));
		await page.waitForFunction((b) =>
			Number(document.querySelector('.pane[data-transport=poll] [data-figure=requests]').textContent) > b + 1,
		before, { timeout: 20000 });
	});

	test('a burst arrives complete, in order and once in every pane', { timeout: 120000 }, async () => {
		await page.fill('#burst-count', '20');
		await page.click('#burst');
		await page.waitForFunction(() =>
			document.querySelector('#send .status').textContent.startsWith('20 messages sent'), null,
		{ timeout: 60000 });
		for (const t of TRANSPORTS) {
			await page.waitForFunction((sel) => document.querySelectorAll(sel).length >= 21,
				`${pane(t)} .messages .text`, { timeout: 60000 });
		}
		// Messages were stored in some order; every pane shows that same order.
		const orders = {};
		for (const t of TRANSPORTS) {
			const shown = (await paneTexts(t)).slice(1);
			assert.equal(shown.length, 20, `${t}: ${shown.length} burst messages`);
			assert.deepEqual([...shown].sort(), Array.from({ length: 20 }, (_, i) => `burst ${i + 1}/20`).sort(), t);
			orders[t] = shown;
		}
		for (const t of TRANSPORTS) assert.deepEqual(orders[t], orders.ws, `${t} order differs from ws`);
		const ids = await page.$$eval(`${pane('poll')} .messages li`, (els) => els.map((e) => Number(e.dataset.id)));
		assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids in increasing order');

		await page.waitForTimeout(700);   // let the charts redraw with the burst
		const file = join(await resultsDir(), `lab-page-${server}.png`);
		await page.screenshot({ path: file, fullPage: true });
		assert.deepEqual(page.rtlabErrors, []);
	});
});
