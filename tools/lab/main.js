// main.js — the lab's command line (tools/lab.js runs it): --list, the
// experiments chosen by number (all by default), progress with the time left,
// and the results written to docs/lab-results.md unless --no-write.

import fs from 'node:fs';
import path from 'node:path';
import { EXPERIMENTS } from './experiments.js';
import { loadavg, renderResults, renderTable, versions } from './report.js';
import { LAB_DIR, ROOT, now, row } from './common.js';

// ---- progress ---------------------------------------------------------------
// Before each experiment: how far (k/N), the time so far, and the time left,
// estimated from how long each experiment took last time (kept in
// test-results/lab-times.json) or, for one never timed, this run's average.
const TIMES_FILE = path.join(ROOT, 'test-results', 'lab-times.json');

function readTimes() {
	try {
		return JSON.parse(fs.readFileSync(TIMES_FILE, 'utf8'));
	} catch {
		return {};
	}
}

function saveTime(times, id, seconds) {
	times[id] = Math.round(seconds);
	fs.mkdirSync(path.dirname(TIMES_FILE), { recursive: true });
	fs.writeFileSync(TIMES_FILE, `${JSON.stringify(times, null, 1)}\n`);
}

function hms(seconds) {
	const s = Math.round(seconds);
	return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** "~4m10s left", from the remaining experiments' last times or this run's pace. */
function timeLeft(remaining, times, doneSeconds) {
	const average = doneSeconds.length ? doneSeconds.reduce((a, b) => a + b, 0) / doneSeconds.length : null;
	let left = 0;
	for (const e of remaining) {
		const t = times[e.id] ?? average;
		if (t == null) return 'time left: known after the first experiment';
		left += t;
	}
	return `~${hms(left)} left`;
}

export async function main(argv) {
	if (argv.includes('--list')) {
		for (const e of EXPERIMENTS) console.log(`${String(e.id).padStart(2)}  ${e.title}`);
		const files = fs.readdirSync(LAB_DIR).filter((f) => f.endsWith('.conf')).sort();
		console.log(`\nvariant files in apache-conf/lab/: ${files.join(' ')}`);
		return 0;
	}
	const want = argv.filter((a) => /^\d+$/.test(a)).map(Number);
	const chosen = want.length ? EXPERIMENTS.filter((e) => want.includes(e.id)) : EXPERIMENTS;
	const t0 = now();
	const startLoad = loadavg();
	const rows = [];
	let failed = 0;
	const times = readTimes();
	const doneSeconds = [];
	for (const [i, e] of chosen.entries()) {
		const te = now();
		console.log(`lab: [${i + 1}/${chosen.length}] ${hms((te - t0) / 1000)} elapsed, ` +
			`${timeLeft(chosen.slice(i), times, doneSeconds)}`);
		process.stdout.write(`lab: ${String(e.id).padStart(2)} ${e.title} ... `);
		try {
			const got = await e.run();
			rows.push(...got);
			const took = (now() - te) / 1000;
			doneSeconds.push(took);
			saveTime(times, e.id, took);
			console.log(`${took.toFixed(0)} s`);
			for (const r of got) console.log(`      ${r.variant}: ${r.figure} — ${r.verdict}`);
		} catch (err) {
			failed++;
			console.log('ERROR');
			console.log(`      ${err.stack || err}`);
			rows.push(row(e.id, e.title, 'the experiment itself', 'error', `did not run: ${String(err.message || err).split('\n')[0]}`, 'error'));
		}
	}
	const seconds = (now() - t0) / 1000;
	console.log(`\n${renderTable(rows)}\n`);
	if (!argv.includes('--no-write')) {
		const file = path.join(ROOT, 'docs', 'lab-results.md');
		fs.writeFileSync(file, renderResults(rows, chosen.map((e) => e.id), seconds, versions(startLoad)));
		console.log(`lab: wrote ${path.relative(ROOT, file)} (${seconds.toFixed(0)} s)`);
	}
	return failed ? 1 : 0;
}
