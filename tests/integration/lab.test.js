// lab.test.js — a fast subset of the config lab (`make lab`), run by
// `make test`: experiments 1, 3 and 5 through real Apache and lighttpd, with
// the variant files of apache-conf/lab/ appended to the generated config.
//
// It asserts the qualitative outcome each variant file promises, never a
// timing: the measuring code is tools/lab.js itself, so the lab's table and
// this test cannot drift apart.
//   1. mod_fcgid, FcgidOutputBufferSize default → SSE buffered; 0 → streamed
//   3. lighttpd, server.stream-response-body 0 → buffered; 1, 2 → streamed
//   5. long-poll held 6 s: FcgidIOTimeout 3 → 500 (and the log line);
//      FcgidIOTimeout 15 → 200 with an empty list
//  17. two hosts with their own SQLite: host B's clients get nothing
//  18. two hosts on one Redis: host 2's clients get every message
//  19. sticky or round-robin: clients that reconnect lose and repeat nothing
//      (tools/lab/cluster.js; skipped without redis-server and haproxy)
//
// The sanitizer pass (RT_TEST_ASAN=1) skips this file: it tests server
// configuration, which the ordinary pass already covers, and the endpoints'
// own tests run under the sanitizers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exp1, exp3, exp5 } from '../../tools/lab.js';
import { exp17, exp18, exp19 } from '../../tools/lab/cluster.js';
import { clusterTools } from '../lib/servers.js';

const skip = process.env.RT_TEST_ASAN === '1' ? 'configuration only: covered by the ordinary pass' : false;

const byVariant = (rows) => Object.fromEntries(rows.map((r) => [r.variant, r]));

test('lab 1: mod_fcgid buffers SSE with the default FcgidOutputBufferSize, streams with 0', { skip, timeout: 120_000 }, async () => {
	const rows = byVariant(await exp1());
	const dflt = rows['FcgidOutputBufferSize 65536 (default)'];
	const zero = rows['FcgidOutputBufferSize 0'];
	assert.equal(dflt.outcome, 'buffered', `default buffer: ${dflt.figure}`);
	assert.equal(zero.outcome, 'streamed', `buffer 0: ${zero.figure}`);
});

test('lab 3: lighttpd buffers SSE with stream-response-body 0, streams with 1 and 2', { skip, timeout: 150_000 }, async () => {
	const rows = byVariant(await exp3());
	assert.equal(rows['server.stream-response-body = 0'].outcome, 'buffered', rows['server.stream-response-body = 0'].figure);
	assert.equal(rows['server.stream-response-body = 1'].outcome, 'streamed', rows['server.stream-response-body = 1'].figure);
	assert.equal(rows['server.stream-response-body = 2'].outcome, 'streamed', rows['server.stream-response-body = 2'].figure);
});

test('lab 5: a long-poll held past FcgidIOTimeout gets 500 and a log line; under it, 200', { skip, timeout: 120_000 }, async () => {
	const rows = byVariant(await exp5());
	const short = rows['FcgidIOTimeout 3 < hold 6 s'];
	const long = rows['FcgidIOTimeout 15 > hold 6 s'];
	assert.equal(short.outcome, 500, `short timeout: ${short.figure}`);
	assert.match(short.figure, /read data timeout/, 'mod_fcgid logs why it cut the request');
	assert.equal(long.outcome, 200, `long timeout: ${long.figure}`);
});

const skipCluster = skip || (!clusterTools() && 'redis-server or haproxy is not installed (tools/deps.sh cluster)');

test('lab 17-18: two hosts are islands on their own SQLite, one store on Redis', { skip: skipCluster, timeout: 120_000 }, async () => {
	const [islands] = await exp17();
	assert.equal(islands.outcome, 0, `host B received: ${islands.figure}`);
	const [shared] = await exp18();
	assert.equal(shared.outcome, 1, `host 2 received: ${shared.figure}`);
});

test('lab 19: sticky or round-robin, reconnecting clients lose and repeat nothing', { skip: skipCluster, timeout: 120_000 }, async () => {
	for (const r of await exp19()) assert.equal(r.outcome, 0, `${r.variant}: ${r.figure}`);
});
