/*
 * textop.js — operational transformation for plain text, as small as it can
 * be: the collaborative-editing scenario's one piece of theory
 * (public_html/scenarios/editor.html, docs/scenarios.md).
 *
 * An operation walks the whole old text once, left to right:
 *   a positive number n   retain: keep the next n characters
 *   a string s            insert s here
 *   a negative number -n  delete the next n characters
 * so [3, 'X', -2, 5] turns "abcdefghij" into "abcXfghij".  Lengths are in
 * JavaScript string units (UTF-16), the same in every browser.
 *
 * Two operations made at the same time on the same text, a and b, are
 * reconciled by transform(a, b) → [a', b']: applying a then b', or b then
 * a', gives the same text.  When both insert at the same place, a's text
 * goes first.  This is the algorithm of ot.js (Tim Baumann, MIT licence),
 * which follows Jupiter (Nichols et al., UIST 1995): one central order —
 * here, the store's message ids — and each operation transformed against
 * the ones it did not know about.
 */

const isRetain = (op) => typeof op === 'number' && op > 0;
const isDelete = (op) => typeof op === 'number' && op < 0;
const isInsert = (op) => typeof op === 'string';

export class TextOp {
	constructor() {
		this.ops = [];
		this.baseLength = 0;     // length of the text it applies to
		this.targetLength = 0;   // length of the text it produces
	}

	retain(n) {
		if (n <= 0) return this;
		this.baseLength += n;
		this.targetLength += n;
		if (isRetain(this.ops.at(-1))) this.ops[this.ops.length - 1] += n;
		else this.ops.push(n);
		return this;
	}

	insert(s) {
		if (!s) return this;
		const ops = this.ops;
		this.targetLength += s.length;
		if (isInsert(ops.at(-1))) {
			ops[ops.length - 1] += s;
		} else if (isDelete(ops.at(-1))) {
			// Keep inserts before deletes, so equal operations look equal.
			if (isInsert(ops.at(-2))) ops[ops.length - 2] += s;
			else ops.splice(ops.length - 1, 0, s);
		} else {
			ops.push(s);
		}
		return this;
	}

	delete(n) {
		n = Math.abs(n);
		if (n === 0) return this;
		this.baseLength += n;
		if (isDelete(this.ops.at(-1))) this.ops[this.ops.length - 1] -= n;
		else this.ops.push(-n);
		return this;
	}

	/* The operation as it travels in a message, and back. */
	toJSON() {
		return this.ops;
	}

	static fromJSON(ops) {
		if (!Array.isArray(ops)) throw new Error('an operation is an array');
		const op = new TextOp();
		for (const o of ops) {
			if (isRetain(o) && Number.isInteger(o)) op.retain(o);
			else if (isDelete(o) && Number.isInteger(o)) op.delete(o);
			else if (isInsert(o)) op.insert(o);
			else throw new Error(`not a retain, insert or delete: ${JSON.stringify(o)}`);
		}
		return op;
	}

	apply(text) {
		if (text.length !== this.baseLength)
			throw new Error(`operation is for a text of ${this.baseLength}, not ${text.length}`);
		const out = [];
		let at = 0;
		for (const op of this.ops) {
			if (isRetain(op)) { out.push(text.slice(at, at + op)); at += op; }
			else if (isInsert(op)) out.push(op);
			else at -= op;
		}
		return out.join('');
	}

	/* Where index i of the old text is in the new one (a caret, a selection). */
	transformIndex(i) {
		let oldAt = 0, newAt = i;
		for (const op of this.ops) {
			if (oldAt > i) break;
			if (isRetain(op)) oldAt += op;
			else if (isInsert(op)) newAt += op.length;
			else { newAt -= Math.min(i - oldAt, -op); oldAt -= op; }
		}
		return newAt;
	}

	/*
	 * The smallest operation from `before` to `after`: keep the common start
	 * and end, replace the middle — what one keystroke, cut or paste in a
	 * textarea does.  Never splits a UTF-16 surrogate pair (the inserted text
	 * must be valid UTF-8 once it reaches the server).
	 */
	static diff(before, after) {
		let start = 0;
		const max = Math.min(before.length, after.length);
		while (start < max && before[start] === after[start]) start++;
		if (start > 0 && isHighSurrogate(before.charCodeAt(start - 1))) start--;
		let end = 0;
		while (end < max - start &&
		       before[before.length - 1 - end] === after[after.length - 1 - end]) end++;
		if (end > 0 && isLowSurrogate(before.charCodeAt(before.length - end))) end--;
		return new TextOp().retain(start)
			.delete(before.length - start - end)
			.insert(after.slice(start, after.length - end))
			.retain(end);
	}

	/* a then b as one operation (b must apply to a's result). */
	static compose(a, b) {
		if (a.targetLength !== b.baseLength) throw new Error('compose: lengths differ');
		const out = new TextOp();
		const A = a.ops, B = b.ops;
		let i = 0, j = 0, op1 = A[i++], op2 = B[j++];
		for (;;) {
			if (op1 === undefined && op2 === undefined) return out;
			if (isDelete(op1)) { out.delete(op1); op1 = A[i++]; continue; }
			if (isInsert(op2)) { out.insert(op2); op2 = B[j++]; continue; }
			if (op1 === undefined || op2 === undefined) throw new Error('compose: too short');
			if (isRetain(op1) && isRetain(op2)) {
				const n = Math.min(op1, op2);
				out.retain(n);
				[op1, op2] = [op1 - n || A[i++], op2 - n || B[j++]];
			} else if (isInsert(op1) && isDelete(op2)) {
				const n = Math.min(op1.length, -op2);
				[op1, op2] = [op1.slice(n) || A[i++], op2 + n || B[j++]];
			} else if (isInsert(op1) && isRetain(op2)) {
				const n = Math.min(op1.length, op2);
				out.insert(op1.slice(0, n));
				[op1, op2] = [op1.slice(n) || A[i++], op2 - n || B[j++]];
			} else {                                  // retain, delete
				const n = Math.min(op1, -op2);
				out.delete(n);
				[op1, op2] = [op1 - n || A[i++], op2 + n || B[j++]];
			}
		}
	}

	/* [a', b'] with b' = b after a, a' = a after b; a's inserts go first. */
	static transform(a, b) {
		if (a.baseLength !== b.baseLength) throw new Error('transform: lengths differ');
		const a1 = new TextOp(), b1 = new TextOp();
		const A = a.ops, B = b.ops;
		let i = 0, j = 0, op1 = A[i++], op2 = B[j++];
		for (;;) {
			if (op1 === undefined && op2 === undefined) return [a1, b1];
			if (isInsert(op1)) { a1.insert(op1); b1.retain(op1.length); op1 = A[i++]; continue; }
			if (isInsert(op2)) { a1.retain(op2.length); b1.insert(op2); op2 = B[j++]; continue; }
			if (op1 === undefined || op2 === undefined) throw new Error('transform: too short');
			if (isRetain(op1) && isRetain(op2)) {
				const n = Math.min(op1, op2);
				a1.retain(n); b1.retain(n);
				[op1, op2] = [op1 - n || A[i++], op2 - n || B[j++]];
			} else if (isDelete(op1) && isDelete(op2)) {   // both deleted it: nothing left to do
				const n = Math.min(-op1, -op2);
				[op1, op2] = [op1 + n || A[i++], op2 + n || B[j++]];
			} else if (isDelete(op1)) {                      // a deletes what b keeps
				const n = Math.min(-op1, op2);
				a1.delete(n);
				[op1, op2] = [op1 + n || A[i++], op2 - n || B[j++]];
			} else {                                         // a keeps what b deletes
				const n = Math.min(op1, -op2);
				b1.delete(n);
				[op1, op2] = [op1 - n || A[i++], op2 + n || B[j++]];
			}
		}
	}
}

function isHighSurrogate(c) { return c >= 0xd800 && c <= 0xdbff; }
function isLowSurrogate(c) { return c >= 0xdc00 && c <= 0xdfff; }
