// lab.js — the config lab: start a private Apache or lighttpd with one
// configuration variant at a time, measure what a client observes, and write
// the results table.
//
//   make lab                       every experiment, table to docs/lab-results.md
//   tools/lab.sh 1 3 5             only these experiments (table printed, and
//                                  written with the subset marked as such)
//   tools/lab.sh --list            the experiments and their variant files
//
// Each variant is a small commented file in apache-conf/lab/ that
// tools/serve.sh appends to the generated server config (EXTRA_CONF); the
// runtime knobs of the endpoints (RT_SSE_MAX_AGE, RT_SSE_HEARTBEAT,
// RT_WS_PING ...) are passed as environment.  docs/config-lab.md explains
// every experiment; the lab only measures.
//
// Every figure is measured at run time with real clients (Node's http/http2/
// net, the `ws` client, wrk); nothing in the table is written by hand.  The
// verdicts are derived from the figures (classifyStream and each experiment's
// own test), with generous bounds: the machine is small and shared.
//
// The experiment functions are exported so tests/integration/lab.test.js can
// run a fast subset and assert the qualitative outcome.
//
// This file is the entry point (tools/lab.sh runs it); the lab lives in
// tools/lab/, one module per part:
//   common.js       paths, the row an experiment returns, small helpers
//   stack.js        starting and stopping a private server; its logs, its pids
//   probes.js       the measuring clients (GET, SSE, reconnecting, idle, vanishing)
//   buffering.js    experiments 1-4, 16: streamed or held back
//   holding.js      experiments 5-9, 11, 12: held requests vs timeouts and limits
//   requests.js     experiments 10, 13-15: cost per request, streams per connection
//   browser.js      drives Chromium for experiment 15 (and tests/browser/http2.test.js)
//   cluster.js      experiments 17-20: past one host
//   experiments.js  the table of experiments
//   report.js       the results table and docs/lab-results.md
//   main.js         the command line: --list, numbers, --no-write

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from './lab/main.js';

export { variant } from './lab/common.js';
export { busySsePids, logLines, withStack } from './lab/stack.js';
export { classifyStream, followWithReconnect, publish, seed, sseProbe, timedGet } from './lab/probes.js';
export { exp1, exp2, exp3, exp4, exp16 } from './lab/buffering.js';
export { exp5, exp6, exp7, exp8, exp9, exp11, exp12 } from './lab/holding.js';
export { exp10, exp13, exp14, exp15 } from './lab/requests.js';
export { EXPERIMENTS } from './lab/experiments.js';
export { renderTable } from './lab/report.js';

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	main(process.argv.slice(2)).then((code) => { process.exitCode = code; },
		(err) => { console.error(err); process.exitCode = 1; });
}
