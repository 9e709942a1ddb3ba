#!/usr/bin/env node
// match.mjs — plays a football match into a channel, for the live-scores
// scenario (public_html/scenarios/scores.html, docs/scenarios.md).
//
//   node tools/scenarios/match.mjs --base http://127.0.0.1:8080
//   node tools/scenarios/match.mjs --minute-ms 100 --goals 3 --seed 7   # 9 s, for tests
//
// Every match minute it publishes `event: score`, and at each goal
// `event: goal`, through send.fcgi.  Every message carries the whole state
//   {"home":"Lions","away":"Tigers","h":1,"a":0,"minute":23,"status":"live"}
// (a goal adds "team" and "scorer"), so whoever opens the page late reads
// the current score from the newest message in the store's history.
// Each stored message is printed as one JSON line on stdout.
import { options, publishHttp, seededRandom, sleep } from './publish.mjs';

const opt = options('match.mjs — plays a match: `score` every minute, `goal` at each goal', {
	base: { type: 'string', default: 'http://127.0.0.1:8080', help: 'the rtlab server' },
	channel: { type: 'string', default: 'match', help: 'channel to publish on' },
	home: { type: 'string', default: 'Lions', help: 'home team' },
	away: { type: 'string', default: 'Tigers', help: 'away team' },
	'minute-ms': { type: 'number', default: 1000, min: 10, max: 60000, help: 'real milliseconds per match minute' },
	goals: { type: 'number', default: -1, min: -1, max: 20, help: 'exactly this many goals (-1: random, about 2.7 a match)' },
	seed: { type: 'number', default: Date.now() % 1e9, min: 0, max: 4294967295, help: 'random seed: the same match again' },
	loop: { type: 'boolean', help: 'play another match after full time, for ever' },
});

const PLAYERS = {
	home: ['Okafor', 'Lindqvist', 'Moreau', 'Tanaka', 'Silva'],
	away: ['Novak', 'Haddad', 'Kowalski', 'Obi', 'Ferreira'],
};

async function playMatch(random) {
	// When the goals fall: a fixed count at random minutes, or a chance each minute.
	const goalMinutes = new Set();
	if (opt.goals >= 0) while (goalMinutes.size < opt.goals) goalMinutes.add(1 + Math.floor(random() * 90));
	const state = { home: opt.home, away: opt.away, h: 0, a: 0, minute: 0, status: 'kick-off' };
	const send = async (event, extra = {}) => {
		const msg = await publishHttp(opt.base, {
			channel: opt.channel, user: 'referee', event,
			text: JSON.stringify({ ...state, ...extra }),
		});
		console.log(JSON.stringify(msg));
	};
	await send('score');
	for (let minute = 1; minute <= 90; minute++) {
		await sleep(opt['minute-ms']);
		state.minute = minute;
		state.status = 'live';
		const goal = opt.goals >= 0 ? goalMinutes.has(minute) : random() < 2.7 / 90;
		if (goal) {
			const team = random() < 0.5 ? 'home' : 'away';
			if (team === 'home') state.h++; else state.a++;
			await send('goal', { team, scorer: PLAYERS[team][Math.floor(random() * 5)] });
		} else {
			if (minute === 45) state.status = 'half-time';
			await send('score');
		}
	}
	state.status = 'full-time';
	await send('score');
	return state;
}

const random = seededRandom(opt.seed);
try {
	do {
		const end = await playMatch(random);
		console.error(`match.mjs: full time, ${end.home} ${end.h} : ${end.a} ${end.away}`);
		if (opt.loop) await sleep(10 * opt['minute-ms']);
	} while (opt.loop);
} catch (err) {
	console.error(`match.mjs: ${err.message}`);
	process.exit(1);
}
