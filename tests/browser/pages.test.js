// pages.test.js — the four technique pages in real Chromium against a real
// Apache + FastCGI + helper stack: each page receives what another page sent,
// hostile text stays text, server errors show in words, long text wraps.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack } from '../lib/servers.js';
import { launchBrowser, waitForText, texts, uniqueChannel, PAGES, openTechniquePages } from './chromium.js';

let stack, browser;
const channel = uniqueChannel('pages');
let pages = {};

before(async () => {
	stack = await startStack({ server: 'apache', mode: 'fcgid' });
	browser = await launchBrowser();
	pages = await openTechniquePages(browser, stack.base, channel);
});

after(async () => {
	await browser?.close();
	await stack?.stop();
});

async function sendFrom(page, text) {
	await page.fill('#send input[name=text]', text);
	await page.click('#send button');
}

test('each technique page receives a message sent from another page', { timeout: 120000 }, async () => {
	for (let i = 0; i < PAGES.length; i++) {
		const sender = PAGES[(i + 1) % PAGES.length];
		const text = `to ${PAGES[i]} from ${sender}: héllo ✓`;
		await sendFrom(pages[sender], text);
		for (const name of PAGES)
			await waitForText(pages[name], '#messages .text', text);
	}
	// Each page showed each message once.
	for (const name of PAGES) {
		const shown = await texts(pages[name], '#messages .text');
		assert.equal(shown.length, new Set(shown).size, `${name} shows a message twice`);
		assert.equal(shown.length, PAGES.length, `${name}: ${JSON.stringify(shown)}`);
	}
});

test('a hostile message renders as text and runs nothing', { timeout: 60000 }, async () => {
	const payloads = [
		'<img src=x onerror=alert(1)>',
		'<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"><b>bold?</b>',
	];
	for (const text of payloads) await sendFrom(pages.ws, text);
	for (const name of PAGES) {
		const page = pages[name];
		for (const text of payloads) await waitForText(page, '#messages .text', text);
		await page.waitForTimeout(500);   // give an onerror handler the chance it must not use
		assert.deepEqual(page.rtlabDialogs, [], `${name}: a dialog opened`);
		assert.equal(await page.evaluate(() => window.__xss), undefined, `${name}: script ran`);
		assert.equal(await page.locator('#messages img, #messages script, #messages b').count(), 0,
			`${name}: markup from a message became elements`);
		assert.deepEqual(page.rtlabErrors, [], `${name}: page errors`);
	}
});

test('a refused send is explained in words', { timeout: 60000 }, async () => {
	const page = pages.poll;
	const cases = [
		['x'.repeat(5000), 'Not sent: 400', /malformed/],    // text over 4096 bytes
		['x'.repeat(20000), 'Not sent: 413', /too large/],   // body over 16 KiB
	];
	for (const [text, start, words] of cases) {
		await sendFrom(page, text);
		await page.waitForFunction((want) =>
			document.querySelector('#send .status').textContent.startsWith(want), start,
		{ timeout: 20000 });
		assert.match(await page.textContent('#send .status'), words);
	}
});

test('long and multi-byte messages wrap instead of widening the page', { timeout: 60000 }, async () => {
	const long = `${'ß'.repeat(300)}${'漢字'.repeat(200)}${'a'.repeat(900)}`;
	await sendFrom(pages.sse, long);
	for (const name of PAGES) {
		const page = pages[name];
		await waitForText(page, '#messages .text', long);
		const overflow = await page.evaluate(() =>
			document.documentElement.scrollWidth - document.documentElement.clientWidth);
		assert.ok(overflow <= 0, `${name}: page is ${overflow}px wider than the window`);
	}
});

test('a WebSocket closed by the helper is explained in words, then resumed', { timeout: 60000 }, async () => {
	const page = pages.ws;
	await sendFrom(page, 'a'.repeat(70000));   // one frame over 64 KiB: close 1009
	await page.waitForFunction(() =>
		document.getElementById('log').textContent.includes('WebSocket 1009: frame too big'), null,
	{ timeout: 20000 });
	await page.waitForFunction(() =>
		document.getElementById('log').textContent.match(/since=\d+.*101 Switching Protocols/s), null,
	{ timeout: 20000 });
	const text = 'after the 1009';
	await sendFrom(pages.longpoll, text);
	await waitForText(page, '#messages .text', text);
	const shown = await texts(page, '#messages .text');
	assert.equal(shown.length, new Set(shown).size, 'the reconnect showed a message twice');
});

test('a refused origin (403) is explained in words', { timeout: 90000 }, async () => {
	// A server that only accepts pages from another origin refuses our POST.
	const strict = await startStack({ server: 'apache', mode: 'fcgid',
		env: { RT_ALLOWED_ORIGINS: 'http://elsewhere.example' } });
	try {
		const page = await browser.newPage();
		await page.goto(`${strict.base}/poll.html?channel=${channel}`);
		await sendFrom(page, 'from the wrong origin');
		await page.waitForFunction(() =>
			document.querySelector('#send .status').textContent.startsWith('Not sent: 403'), null,
		{ timeout: 20000 });
		assert.match(await page.textContent('#send .status'), /origin is not allowed/);
		await page.close();
	} finally {
		await strict.stop();
	}
});
