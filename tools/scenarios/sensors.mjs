#!/usr/bin/env node
// sensors.mjs — N simulated temperature sensors publishing readings, for the
// IoT dashboard (public_html/scenarios/iot.html, docs/scenarios.md).
//
//   node tools/scenarios/sensors.mjs --base http://127.0.0.1:8080 --sensors 4 --rate 1
//
// Each sensor publishes `event: reading` through send.fcgi, `rate` times a
// second, as user sensor-<n>:
//   {"sensor":"s1","value":21.37,"unit":"°C"}
// A value wanders around its own mean, with a slow daily-like wave.
// Prints one line a second to stderr (readings sent, failures) and, at the
// end, {"sent":N,"failed":N} on stdout.
import { options, publishHttp, seededRandom, sleep } from './publish.mjs';

const opt = options('sensors.mjs — N sensors publishing `reading` events', {
	base: { type: 'string', default: 'http://127.0.0.1:8080', help: 'the rtlab server' },
	channel: { type: 'string', default: 'iot', help: 'channel to publish on' },
	sensors: { type: 'number', default: 4, min: 1, max: 50, help: 'how many sensors' },
	rate: { type: 'number', default: 1, min: 0.1, max: 50, help: 'readings per second, per sensor' },
	duration: { type: 'number', default: 0, min: 0, max: 86400, help: 'seconds to run (0: until Ctrl-C)' },
	seed: { type: 'number', default: 1, min: 0, max: 4294967295, help: 'random seed' },
});

const random = seededRandom(opt.seed);
const started = Date.now();
const totals = { sent: 0, failed: 0 };
const running = () => opt.duration === 0 || Date.now() - started < opt.duration * 1000;

async function sensor(i) {
	const mean = 18 + random() * 6;
	let value = mean, due = Date.now() + random() * 1000 / opt.rate;   // spread the sensors out
	while (running()) {
		await sleep(Math.max(0, due - Date.now()));
		due += 1000 / opt.rate;
		value += (mean - value) * 0.05 + (random() - 0.5) * 0.4;
		const wave = Math.sin((Date.now() - started) / 20000 + i) * 0.8;
		try {
			await publishHttp(opt.base, {
				channel: opt.channel, user: `sensor-${i}`, event: 'reading',
				text: JSON.stringify({ sensor: `s${i}`, value: Number((value + wave).toFixed(2)), unit: '°C' }),
			});
			totals.sent++;
		} catch (err) {
			if (totals.failed++ === 0) console.error(`sensors.mjs: ${err.message}`);
		}
	}
}

const report = setInterval(() => console.error(`sensors.mjs: ${totals.sent} readings sent, ${totals.failed} failed`), 1000);
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
await Promise.all(Array.from({ length: opt.sensors }, (_, i) => sensor(i + 1)));
clearInterval(report);
console.log(JSON.stringify(totals));
process.exit(totals.failed ? 1 : 0);
