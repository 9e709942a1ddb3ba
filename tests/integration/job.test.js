// job.test.js — cgi-bin/job.c through real web servers: POST starts a job
// that outlives the request (the 202 comes while the job still runs, under
// FastCGI and under plain CGI, whose stdout pipe the job must not hold), the
// job publishes progress and then a SHA-256 that this test recomputes, at
// most four run at once, and every bad request gets its status (docs/protocol.md).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startStack, STACKS } from '../lib/servers.js';
import { curl } from '../lib/http.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const MIB = 1024 * 1024;

// The job's bytes: xorshift64* seeded with (id as a number) | 1, each
// 64-bit output stored little-endian (cgi-bin/job.c fill_bytes on x86-64).
function expectedSha256(id, size) {
	const mask = (1n << 64n) - 1n;
	let x = BigInt(`0x${id}`) | 1n;
	const hash = createHash('sha256');
	const chunk = Buffer.alloc(64 * 1024);
	for (let done = 0; done < size; done += chunk.length) {
		for (let i = 0; i < chunk.length; i += 8) {
			x ^= x >> 12n;
			x = (x ^ (x << 25n)) & mask;
			x ^= x >> 27n;
			chunk.writeBigUInt64LE((x * 0x2545F4914F6CDD1Dn) & mask, i);
		}
		hash.update(chunk);
	}
	return hash.digest('hex');
}

for (const { server, mode } of STACKS) describe(`job.fcgi: ${server}/${mode}`, () => {
	let s;
	before(async () => { s = await startStack({ server, mode, ws: false }); });
	after(async () => { await s?.stop(); });

	const start = (data, headers = FORM) => curl(`${s.base}/cgi-bin/job.fcgi`, { data, headers });
	const messages = async (channel) => {
		const r = await curl(`${s.base}/cgi-bin/poll.fcgi?channel=${channel}&since=0&limit=500`);
		assert.equal(r.status, 200, r.body);
		return r.json().messages.map((m) => ({ ...JSON.parse(m.text), event: m.event ?? 'message' }));
	};

	test('the answer comes at once; the job publishes progress, then a hash that is right', { timeout: 60000 }, async () => {
		const r = await start('size=2&rate=1');          // 2 MiB at 1 MiB/s: about 2 s
		assert.equal(r.status, 202, r.body);
		const job = r.json();
		assert.match(job.job, /^[0-9a-f]{16}$/);
		assert.equal(job.channel, `job-${job.job}`);
		assert.equal(job.size, 2 * MIB);
		assert.equal(r.headers.location, `/cgi-bin/sse.fcgi?channel=${job.channel}&history=1`);
		// Answered while the job runs: the store has its 0 % and no end yet.
		const early = await messages(job.channel);
		assert.ok(early.length >= 1 && !early.some((m) => m.state === 'done'), JSON.stringify(early));
		assert.deepEqual(early[0], { job: job.job, state: 'running', done: 0, total: 2 * MIB, pct: 0, event: 'progress' });

		let all;
		for (let i = 0; i < 100; i++) {
			all = await messages(job.channel);
			if (all.at(-1).state !== 'running') break;
			await new Promise((res) => setTimeout(res, 200));
		}
		const end = all.at(-1);
		assert.equal(end.state, 'done', JSON.stringify(end));
		assert.equal(end.event, 'done');
		assert.equal(end.pct, 100);
		assert.equal(end.sha256, expectedSha256(job.job, 2 * MIB));
		// Progress only grows, in percent steps.
		const pcts = all.slice(0, -1).map((m) => m.pct);
		assert.deepEqual(pcts, [...pcts].sort((a, b) => a - b));
		assert.equal(new Set(pcts).size, pcts.length);
		assert.ok(all.slice(0, -1).every((m) => m.event === 'progress'));
	});

	test('at most four jobs run at once; the fifth gets 503 with Retry-After', { timeout: 60000 }, async () => {
		const running = [];
		for (let i = 0; i < 4; i++) {
			const r = await start('size=3&rate=1');
			assert.equal(r.status, 202, `job ${i + 1}: ${r.body}`);
			running.push(r.json().channel);
		}
		const r = await start('size=1&rate=0');
		assert.equal(r.status, 503, r.body);
		assert.equal(r.json().error, 'unavailable');
		assert.match(r.json().detail, /jobs are running/);
		assert.match(r.headers['retry-after'] ?? '', /^\d+$/);
		// When they end, a slot is free again.
		for (const channel of running) {
			for (let i = 0; i < 100 && (await messages(channel)).at(-1).state === 'running'; i++)
				await new Promise((res) => setTimeout(res, 200));
		}
		assert.equal((await start('size=1&rate=0')).status, 202);
	});

	test('bad requests get their status and a sentence', { timeout: 60000 }, async () => {
		const cases = [
			[await start('size=0'), 400, /size/],
			[await start('size=257'), 400, /size/],
			[await start('size=abc'), 400, /size/],
			[await start('rate=-1'), 400, /rate/],
			[await start('rate=1025'), 400, /rate/],
			[await start('size=256&rate=0'), 202, null],        // unpaced: allowed
			[await start('size=256&rate=1'), 400, /120 s/],    // planned for 256 s
			[await start('{"size":1}', { 'Content-Type': 'application/json' }), 415, /form/],
			[await start('size=1', { ...FORM, Origin: 'http://elsewhere.example' }), 403, /cross-origin/],
			[await curl(`${s.base}/cgi-bin/job.fcgi`), 405, /POST/],
		];
		for (const [r, status, words] of cases) {
			assert.equal(r.status, status, `${status}: ${r.body}`);
			if (status === 405) assert.equal(r.headers.allow, 'POST');
			if (words) assert.match(r.json().detail, words);
		}
	});
});
