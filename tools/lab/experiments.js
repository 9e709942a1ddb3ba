// experiments.js — the lab's table of experiments: number, title and the
// function that runs it, in the order `make lab` runs them.

import { exp1, exp2, exp3, exp4, exp16 } from './buffering.js';
import { exp5, exp6, exp7, exp8, exp9, exp11, exp12 } from './holding.js';
import { exp10, exp13, exp14, exp15 } from './requests.js';
import { CLUSTER_EXPERIMENTS } from './cluster.js';

export const EXPERIMENTS = [
	{ id: 1, title: 'SSE under mod_fcgid: FcgidOutputBufferSize', run: exp1 },
	{ id: 2, title: 'SSE under mod_proxy_fcgi: flushpackets', run: exp2 },
	{ id: 3, title: 'SSE under lighttpd: server.stream-response-body', run: exp3 },
	{ id: 4, title: 'SSE and mod_deflate', run: exp4 },
	{ id: 5, title: 'Long-poll vs FcgidIOTimeout', run: exp5 },
	{ id: 6, title: 'Endless SSE vs FcgidBusyTimeout; RT_SSE_MAX_AGE + reconnect', run: exp6 },
	{ id: 7, title: 'FcgidMaxProcessesPerClass 2, three SSE clients', run: exp7 },
	{ id: 8, title: 'mod_proxy_fcgi timeout= vs long-poll hold', run: exp8 },
	{ id: 9, title: 'MPM event vs prefork with held streams', run: exp9 },
	{ id: 10, title: 'Per-request cost: mod_cgi vs mod_fcgid vs mod_proxy_fcgi', run: exp10 },
	{ id: 11, title: 'Idle WebSocket through the proxy: Timeout and pings', run: exp11 },
	{ id: 12, title: 'Vanished SSE client: process held', run: exp12 },
	{ id: 13, title: 'HTTP/2 (h2c) vs six HTTP/1.1 connections', run: exp13 },
	{ id: 14, title: 'Polling with and without ETag/304', run: exp14 },
	{ id: 15, title: 'Chromium over TLS: 7 streams + a fetch, 7 tabs; HTTP/1.1 vs HTTP/2', run: exp15 },
	{ id: 16, title: 'SSE over HTTP/2 (TLS) per mode: streamed or buffered', run: exp16 },
	// 17-20: past one host (a Redis store, HAProxy): tools/lab/cluster.js.
	...CLUSTER_EXPERIMENTS,
];
