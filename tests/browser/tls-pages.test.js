// tls-pages.test.js — the four technique pages in Chromium over HTTPS
// (TLS=1): each page receives what another page sent, the pages come over
// HTTP/2 (Performance nextHopProtocol), and the server's access log shows
// which protocol the WebSocket really used:
//   Apache (default): /ws as an HTTP/1.1 Upgrade ("GET /ws ... HTTP/1.1" 101)
//     on a connection of its own — rtlab-tls.conf leaves H2WebSockets off;
//   Apache -D RTLAB_H2_WEBSOCKETS and lighttpd: RFC 8441, the WebSocket is a
//     stream of the page's HTTP/2 connection ("... /ws ... HTTP/2.0"), and
//     the same helper serves it.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startStack } from '../lib/servers.js';
import { until } from '../lib/held.js';
import { launchBrowser, waitForText, texts, uniqueChannel, PAGES, openTechniquePages } from './chromium.js';
const STACKS = [
	{ server: 'apache', mode: 'fcgid', wsOverH2: false },
	{ server: 'apache', mode: 'fcgid', wsOverH2: true, env: { APACHE_DEFINES: 'RTLAB_H2_WEBSOCKETS' } },
	{ server: 'lighttpd', mode: 'fastcgi', wsOverH2: true },
];

for (const stack of STACKS) {
	const name = `${stack.server}${stack.env ? ' -D RTLAB_H2_WEBSOCKETS' : ''}`;
	describe(`the pages over HTTPS: ${name}`, () => {
		let s, browser;
		const channel = uniqueChannel('tlspages');
		let pages = {};

		before(async () => {
			s = await startStack({ server: stack.server, mode: stack.mode, tls: true, env: stack.env });
			browser = await launchBrowser({ tls: true });
			pages = await openTechniquePages(browser, s.base, channel);
		});
		after(async () => {
			await browser?.close();
			await s?.stop();
		});

		it('every page came over HTTP/2 and receives what another page sent', { timeout: 120000 }, async () => {
			for (const page of PAGES) {
				const protocol = await pages[page].evaluate(() =>
					performance.getEntriesByType('navigation')[0].nextHopProtocol);
				assert.equal(protocol, 'h2', `${page}.html`);
			}
			for (let i = 0; i < PAGES.length; i++) {
				const sender = pages[PAGES[(i + 1) % PAGES.length]];
				const text = `over TLS to ${PAGES[i]} ✓`;
				await sender.fill('#send input[name=text]', text);
				await sender.click('#send button');
				for (const page of PAGES) await waitForText(pages[page], '#messages .text', text);
			}
			for (const page of PAGES) {
				const shown = await texts(pages[page], '#messages .text');
				assert.equal(shown.length, PAGES.length, `${page}: ${JSON.stringify(shown)}`);
				assert.deepEqual(pages[page].rtlabErrors, [], `${page}: page errors`);
			}
		});

		it(`the WebSocket went ${stack.wsOverH2 ? 'over HTTP/2 (RFC 8441)' : 'over its own HTTP/1.1 connection'}, to the same helper`, { timeout: 60000 }, async () => {
			await pages.ws.close();   // the access log line is written when it ends
			const wsLine = () => readFileSync(`${s.runDir}/logs/access.log`, 'utf8').split('\n')
				.find((l) => l.includes(`/ws?channel=${channel}`));
			const line = await until(wsLine, 20000, 'the /ws line in the access log');
			assert.match(line, stack.wsOverH2 ? / HTTP\/2\.0" (200|101) / : / HTTP\/1\.1" 101 /, line);
			assert.match(readFileSync(`${s.runDir}/logs/helper.log`, 'utf8'), new RegExp(`open channel=${channel} `));
		});
	});
}
