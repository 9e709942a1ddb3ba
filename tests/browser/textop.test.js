// textop.test.js — public_html/js/textop.js, the collaborative editor's
// operational transformation, checked on many random edits (node alone, no
// browser): transform's promise (a then b' equals b then a'), compose,
// diff, transformIndex, and fromJSON refusing what is not an operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TextOp } from '../../public_html/js/textop.js';

// A small seeded generator, so a failure can be replayed.
function rng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = Math.imul(a ^ (a >>> 15), a | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}
const ALPHABET = 'abcXYZ é漢😀';
function randomText(r, max = 20) {
	let s = '';
	for (let n = Math.floor(r() * max); n > 0; n--) s += [...ALPHABET][Math.floor(r() * [...ALPHABET].length)];
	return s;
}
function randomOp(r, text) {
	const op = new TextOp();
	let left = text.length;
	while (left > 0) {
		const n = 1 + Math.floor(r() * left);
		const k = r();
		if (k < 0.4) op.retain(n);
		else if (k < 0.7) op.delete(n);
		else { op.insert(randomText(r, 4)); continue; }
		left -= n;
	}
	if (r() < 0.3) op.insert(randomText(r, 4));
	return op;
}

test('transform: a then b\' and b then a\' give the same text', () => {
	const r = rng(1);
	for (let i = 0; i < 2000; i++) {
		const text = randomText(r);
		const a = randomOp(r, text), b = randomOp(r, text);
		const [a1, b1] = TextOp.transform(a, b);
		assert.equal(b1.apply(a.apply(text)), a1.apply(b.apply(text)), `case ${i}`);
	}
});

test('transform: when both insert at one place, the first operation\'s text goes first', () => {
	const a = new TextOp().retain(2).insert('A').retain(1);
	const b = new TextOp().retain(2).insert('B').retain(1);
	const [a1, b1] = TextOp.transform(a, b);
	assert.equal(b1.apply(a.apply('xyz')), 'xyABz');
	assert.equal(a1.apply(b.apply('xyz')), 'xyABz');
});

test('compose: one operation doing a then b', () => {
	const r = rng(2);
	for (let i = 0; i < 2000; i++) {
		const text = randomText(r);
		const a = randomOp(r, text);
		const b = randomOp(r, a.apply(text));
		assert.equal(TextOp.compose(a, b).apply(text), b.apply(a.apply(text)), `case ${i}`);
	}
});

test('diff: the smallest edit, never half a surrogate pair', () => {
	const r = rng(3);
	for (let i = 0; i < 2000; i++) {
		const before = randomText(r), after = randomText(r);
		const op = TextOp.diff(before, after);
		assert.equal(op.apply(before), after);
		for (const piece of op.ops)
			if (typeof piece === 'string') assert.ok(piece.isWellFormed(), `lone surrogate in ${JSON.stringify(piece)}`);
	}
	// Two emoji sharing their first UTF-16 unit: the edit takes the whole pair.
	assert.deepEqual(TextOp.diff('a😀', 'a😁').ops, [1, '😁', -2]);
	assert.deepEqual(TextOp.diff('ab', 'aXb').ops, [1, 'X', 1]);
});

test('transformIndex follows a caret through inserts and deletes', () => {
	const op = new TextOp().retain(1).delete(2).insert('12345').retain(3);   // abcdef → a12345def
	assert.equal(op.apply('abcdef'), 'a12345def');
	assert.equal(op.transformIndex(0), 0);
	assert.equal(op.transformIndex(2), 6);    // inside the deleted "bc": to where it was
	assert.equal(op.transformIndex(4), 7);    // before "e"
	assert.equal(op.transformIndex(6), 9);    // the end
});

test('fromJSON takes operations and refuses anything else', () => {
	assert.deepEqual(TextOp.fromJSON([3, 'x', -1]).ops, [3, 'x', -1]);
	for (const bad of ['abc', [1.5], [0], [null], [{}], [true]])
		assert.throws(() => TextOp.fromJSON(bad), /operation|retain/);
	assert.throws(() => new TextOp().retain(3).apply('ab'), /text of 3/);
});
