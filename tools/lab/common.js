// common.js — what every part of the config lab shares: where the tree and
// the variant files are, the row every experiment returns, and small helpers
// (sleep, seconds for a table, a clock, side-by-side runs, a deferred).

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const LAB_DIR = path.join(ROOT, 'apache-conf', 'lab');

export const variant = (name) => path.join(LAB_DIR, name);
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const sec = (ms) => (ms == null ? '—' : `${(ms / 1000).toFixed(2)} s`);
export const now = () => performance.now();

// Each experiment returns rows { exp, variant, measured, figure, verdict, outcome }:
// `outcome` is the machine-readable verdict the test asserts on.
export const row = (exp, variant, measured, figure, verdict, outcome) =>
	({ exp, variant, measured, figure, verdict, outcome });

// The variants of one experiment are independent servers on their own
// ports and databases, and their outcomes differ by seconds (buffered until
// the end vs at once; cut at 3 s vs answered at 6 s): they run side by side.
export const sideBySide = (items, fn) => Promise.all(items.map(fn));

export function deferred() {
	let resolve;
	const promise = new Promise((r) => { resolve = r; });
	return { promise, resolve };
}
