// report.js — the lab's results: the markdown table of rows, and the page
// docs/lab-results.md with the software versions and the machine's load.

import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { EXPERIMENTS } from './experiments.js';

export const loadavg = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

export function versions(startLoad) {
	// wrk prints its version and exits 1: read the output whatever the status.
	const first = (cmd, args) => {
		const r = spawnSync(cmd, args, { encoding: 'utf8' });
		if (r.error) return `${cmd}: not found`;
		return `${r.stdout}${r.stderr}`.split('\n')[0].trim();
	};
	return [
		first('apache2', ['-v']).replace(/^Server version:\s*/, ''),
		first('lighttpd', ['-v']),
		`node ${process.version}`,
		first('wrk', ['--version']).split(' [')[0],
		first('redis-server', ['--version']).split(' sha=')[0],
		first('haproxy', ['-v']).split(' - ')[0],
		`Linux ${first('uname', ['-r'])}, ${first('nproc', [])} cores; load average ${startLoad} at the start, ${loadavg()} at the end`,
	];
}

const cell = (v) => String(v).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderTable(rows) {
	const lines = ['| # | variant | measured | figure | verdict |', '| --- | --- | --- | --- | --- |'];
	for (const r of rows) lines.push(`| ${r.exp} | ${cell(r.variant)} | ${cell(r.measured)} | ${cell(r.figure)} | ${cell(r.verdict)} |`);
	return lines.join('\n');
}

export function renderResults(rows, ran, seconds, vers) {
	const all = ran.length === EXPERIMENTS.length;
	const failed = rows.filter((r) => r.outcome === 'error').map((r) => r.exp);
	return `# Config lab — measured results

Written by \`make lab\` (\`tools/lab.sh\`), finished ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}; every figure
below was measured in that run by real clients against a private server started
for it. Do not edit by hand: run \`make lab\` again. What each experiment asks,
and why the servers behave this way, is in [config-lab.md](config-lab.md).

${all ? 'All experiments' : `Experiments ${ran.join(', ')} only (a partial run)`}, ${seconds.toFixed(0)} s in all${failed.length ? `; experiment ${failed.join(', ')} did not run (see its row)` : ''}.

${vers.map((v) => `- ${v}`).join('\n')}

${renderTable(rows)}
`;
}
