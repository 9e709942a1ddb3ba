// links.test.js — the documentation stands on its own in a clone.
//
// Every relative link in the repository's Markdown (README.md, docs/*.md and
// every other tracked .md) must name a file or directory inside the
// repository, and a #fragment must name a heading of the page it points at
// (GitHub's rule: lower case, punctuation dropped, spaces become hyphens).
// No tracked file may mention ../shared, which only the developers'
// machines have.  Two planted broken links prove the checker can fail.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function trackedFiles() {
  return execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter((f) => f && existsSync(path.join(ROOT, f)));
}

/** The text outside fenced code blocks and `code spans` (links there are examples). */
function prose(markdown) {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`[^`\n]*`/g, '');
}

/** The anchors GitHub gives a page's headings. */
function anchors(markdown) {
  const seen = new Map();
  const out = new Set();
  for (const m of prose(markdown).matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    let slug = m[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    if (n > 0) slug += `-${n}`;
    out.add(slug);
  }
  return out;
}

/** Every broken relative link of one Markdown text, as "target: why". */
export function brokenLinks(file, markdown) {
  const bad = [];
  const text = prose(markdown);
  const targets = [
    ...[...text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
    ...[...text.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]),
  ];
  for (const target of targets) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;        // http:, mailto:, ...
    const [rel, fragment] = target.split('#');
    const abs = rel ? path.resolve(path.dirname(path.join(ROOT, file)), decodeURI(rel))
                    : path.join(ROOT, file);
    if (abs !== ROOT && !abs.startsWith(ROOT + path.sep)) {
      bad.push(`${target}: outside the repository`);
      continue;
    }
    if (!existsSync(abs)) {
      bad.push(`${target}: no such file`);
      continue;
    }
    if (fragment && abs.endsWith('.md') && statSync(abs).isFile() &&
        !anchors(readFileSync(abs, 'utf8')).has(fragment.toLowerCase())) {
      bad.push(`${target}: no heading #${fragment} there`);
    }
  }
  return bad;
}

describe('documentation links', () => {
  const files = trackedFiles();
  const pages = files.filter((f) => f.endsWith('.md'));

  it('finds the pages to check', () => {
    assert.ok(pages.includes('README.md'), 'README.md is tracked');
    assert.ok(pages.includes('docs/protocol.md'), 'docs/protocol.md is tracked');
  });

  for (const page of pages) {
    it(`every relative link in ${page} resolves inside the repository`, () => {
      assert.deepEqual(brokenLinks(page, readFileSync(path.join(ROOT, page), 'utf8')), []);
    });
  }

  it('the checker fails on a missing file, a missing heading and a way out', () => {
    const bad = brokenLinks('docs/x.md',
      '[a](nope.md) [b](protocol.md#no-such-heading) [c](../../outside.md) ' +
      '[ok](protocol.md#limits) [web](https://example.org/) `[code](ignored.md)`');
    assert.equal(bad.length, 3, bad.join('\n'));
  });

  it('no tracked file mentions ../shared (a clone does not have it)', () => {
    const self = path.relative(ROOT, fileURLToPath(import.meta.url));
    const mentions = [];
    for (const f of files) {
      if (f === self) continue;
      const buf = readFileSync(path.join(ROOT, f));
      if (buf.includes(0)) continue;                           // binary
      buf.toString('utf8').split('\n').forEach((line, i) => {
        if (line.includes('../shared')) mentions.push(`${f}:${i + 1}`);
      });
    }
    assert.deepEqual(mentions, []);
  });
});
