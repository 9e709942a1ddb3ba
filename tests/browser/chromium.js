// chromium.js — the browser for the browser tests: Debian's chromium driven
// by playwright-core, headless, with a fresh throw-away profile each time.
import { chromium } from 'playwright-core';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
	'--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const RESULTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url));

// Returns { context, newPage(), close() }.  newPage() records the page's
// dialogs (alert() and friends) and uncaught errors in page.rtlabDialogs and
// page.rtlabErrors, so a test can assert that nothing ran that should not.
//   opts.tls: accept the self-signed certificate of a TLS=1 stack (pages,
//             fetch, EventSource and wss:// alike)
//   opts.args: more Chromium switches (e.g. --disable-http2: HTTP/1.1 only)
export async function launchBrowser(opts = {}) {
	const profile = await mkdtemp(join(tmpdir(), 'rtlab-chromium-'));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: process.env.RTLAB_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: [...ARGS, ...(opts.args ?? [])],
		ignoreHTTPSErrors: !!opts.tls,
		viewport: { width: 1400, height: 900 },
	});
	return {
		context,
		async newPage() {
			const page = await context.newPage();
			page.rtlabDialogs = [];
			page.rtlabErrors = [];
			page.on('dialog', (d) => { page.rtlabDialogs.push(d.message()); d.dismiss().catch(() => {}); });
			page.on('pageerror', (e) => page.rtlabErrors.push(e.message));
			return page;
		},
		async close() {
			await context.close().catch(() => {});
			await rm(profile, { recursive: true, force: true });
		},
	};
}

// The four technique pages, and what each page's log shows once its
// technique is connected.
export const PAGES = ['poll', 'longpoll', 'sse', 'ws'];
const READY = { poll: '→ 200', longpoll: '→ 200', sse: 'open:', ws: '101 Switching Protocols' };

// Opens each technique page on channel and waits until it is connected;
// returns { poll, longpoll, sse, ws } (the pages).
export async function openTechniquePages(browser, base, channel) {
	const pages = {};
	for (const name of PAGES) {
		const page = await browser.newPage();
		await page.goto(`${base}/${name}.html?channel=${channel}`);
		await page.waitForFunction((marker) =>
			document.getElementById('log').textContent.includes(marker),
		READY[name], { timeout: 30000 });
		pages[name] = page;
	}
	return pages;
}

export async function resultsDir() {
	await mkdir(RESULTS_DIR, { recursive: true });
	return RESULTS_DIR;
}

// Resolves once some element matching selector has exactly this textContent.
export function waitForText(page, selector, text, timeout = 30000) {
	return page.waitForFunction(([sel, t]) =>
		[...document.querySelectorAll(sel)].some((e) => e.textContent === t),
	[selector, text], { timeout });
}

// All textContents matching selector.
export function texts(page, selector) {
	return page.$$eval(selector, (els) => els.map((e) => e.textContent));
}

// Stores one message through send.fcgi, as a non-browser client would.
export async function send(base, channel, text, user = 'test') {
	const res = await fetch(`${base}/cgi-bin/send.fcgi`, {
		method: 'POST', body: new URLSearchParams({ channel, user, text }),
	});
	const body = await res.json();
	if (res.status !== 201) throw new Error(`send: ${res.status} ${JSON.stringify(body)}`);
	return body;
}

export function uniqueChannel(prefix) {
	return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
