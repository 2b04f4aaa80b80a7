#!/usr/bin/env node
// Counts every place where the tree silences a checker — lint/type suppressions in source
// files, rules switched off in biome.jsonc, ignore lists in knip.jsonc, lints allowed in Rust —
// and fails when one gives no reason or when there are more than the budget (docs/building.md,
// "Lint and format"). A suppression is a debt someone has to re-read; the budget keeps them few.
//
//   node tooling/count-suppressions.mjs        prints each one and a total; exit 1 on a problem
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUPPRESSION_BUDGET = 20;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Generated files: their directives come from the generator, not from us. */
const GENERATED = new Set(['packages/core/src/binding.d.ts']);
/** This file names the directives in its own comments. */
const SELF = 'tooling/count-suppressions.mjs';

/** Source-level directives and how each one must state its reason. */
const SOURCE_RULES = [
  // `// biome-ignore lint/rule: reason` — Biome's own syntax puts the reason after the colon.
  { name: 'biome-ignore', find: /biome-ignore(?:-all|-start)?\s+([^:\n]*)(?::\s*(.*))?/, reason: (m) => m[2] },
  // `// @ts-expect-error: reason`
  { name: '@ts-expect-error', find: /@ts-(?:expect-error|ignore)\b[:\s-]*(.*)/, reason: (m) => m[1] },
  { name: 'eslint-disable', find: /eslint-disable\S*\s*(.*)/, reason: () => '' },
];

/** `#[allow(clippy::x, reason = "...")]`, also `expect` and crate-wide `#![...]`; rustfmt may spread one over lines. */
const RUST_ALLOW = /#!?\[(?:allow|expect)\(([\s\S]*?)\)\]/g;

/** Every tracked (or new, not ignored) file a directive could sit in. */
function sourceFiles() {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return out
    .split('\n')
    .filter((f) => /\.(ts|mts|cts|js|mjs|cjs|rs)$/.test(f) && !f.startsWith('docs/api/') && !GENERATED.has(f) && f !== SELF)
    .filter((f) => existsSync(join(root, f)));
}

/** Rules switched off in biome.jsonc, each of which must sit below a comment saying why. */
function biomeConfigEntries() {
  const file = 'biome.jsonc';
  if (!existsSync(join(root, file))) return [];
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const found = [];
  lines.forEach((line, i) => {
    for (const m of line.matchAll(/"(no[A-Za-z]+|use[A-Za-z]+)"\s*:\s*"off"/g)) {
      // The reason is the comment block inside the override that holds this line, or just above it.
      let j = i - 1;
      while (j >= 0 && !/^\s*\/\//.test(lines[j])) j--;
      const block = [];
      for (; j >= 0 && /^\s*\/\//.test(lines[j]); j--) block.unshift(lines[j].replace(/^\s*\/\/\s*/, ''));
      const reason = block.join(' ');
      found.push({ where: `${file}:${i + 1}`, what: `biome rule ${m[1]} off`, reason });
    }
  });
  return found;
}

/**
 * Entries of knip.jsonc's ignore lists (places where knip's report is silenced). An entry's
 * reason is a comment on its line, or the nearest comment above it in its list, or above the
 * list; the entries of one list under one reason (the system tools knip cannot find, say) count
 * as one suppression.
 */
function knipConfigEntries() {
  const file = ['knip.jsonc', 'knip.json'].find((f) => existsSync(join(root, f)));
  if (!file) return [];
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const commentAbove = (i) => {
    const block = [];
    for (let j = i - 1; j >= 0 && /^\s*\/\//.test(lines[j]); j--) block.unshift(lines[j].replace(/^\s*\/\/\s*/, ''));
    return block.join(' ');
  };
  const found = [];
  let list = null; // { key, reason } while inside an `"ignore...": [` list
  lines.forEach((line, i) => {
    const open = /"(ignore\w*)"\s*:\s*\[(.*)$/.exec(line);
    if (open) {
      list = { key: open[1], reason: commentAbove(i) };
      line = open[2];
    }
    if (list === null) return;
    // A comment inside the list speaks for the entries that follow it.
    if (/^\s*\/\//.test(line) && !/^\s*\/\//.test(lines[i + 1] ?? '')) list.reason = commentAbove(i + 1);
    for (const m of line.replace(/\/\/.*$/, '').matchAll(/"((?:\\.|[^"\\])*)"/g)) {
      const reason = /\/\/\s*(.+)$/.exec(line)?.[1] || list.reason;
      // Entries of one list that share one reason are one decision, counted once.
      const same = found.find((f) => f.list === list && f.reason === reason && reason !== '');
      if (same) same.what += `, "${m[1]}"`;
      else found.push({ where: `${file}:${i + 1}`, what: `knip ${list.key} "${m[1]}"`, reason, list });
    }
    if (line.includes(']')) list = null;
  });
  return found;
}

export function findSuppressions() {
  const found = [];
  for (const file of sourceFiles()) {
    const text = readFileSync(join(root, file), 'utf8');
    if (file.endsWith('.rs')) {
      for (const m of text.matchAll(RUST_ALLOW)) {
        const line = text.slice(0, m.index).split('\n').length;
        const reason = /reason\s*=\s*"([^"]+)"/.exec(m[1])?.[1] ?? '';
        found.push({ where: `${file}:${line}`, what: 'rust allow', reason });
      }
      continue;
    }
    text.split('\n').forEach((line, i) => {
      for (const rule of SOURCE_RULES) {
        const m = rule.find.exec(line);
        // A directive is only a directive inside a comment.
        if (m && /\/\/|\/\*|^\s*\*/.test(line.slice(0, m.index + 1))) {
          found.push({ where: `${file}:${i + 1}`, what: rule.name, reason: (rule.reason(m) ?? '').trim() });
        }
      }
    });
  }
  return [...found, ...biomeConfigEntries(), ...knipConfigEntries()];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const found = findSuppressions();
  let problems = 0;
  for (const s of found) {
    const missing = !s.reason;
    if (missing) problems += 1;
    console.log(`${missing ? 'NO REASON ' : ''}${s.where}  ${s.what}${s.reason ? `  — ${s.reason}` : ''}`);
  }
  console.log(`${found.length} suppressions (budget ${SUPPRESSION_BUDGET}), ${problems} without a reason`);
  if (found.length > SUPPRESSION_BUDGET) {
    console.error(`count-suppressions: ${found.length} is over the budget of ${SUPPRESSION_BUDGET}`);
    problems += 1;
  }
  process.exit(problems === 0 ? 0 : 1);
}
