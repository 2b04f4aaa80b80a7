// No Rust panic may unwind out of a native export: it would abort the process. Every `#[napi]`
// function and method is declared `catch_unwind` (napi-rs then catches the panic and throws it
// as a JS Error), and no Cargo profile may switch to `panic = "abort"`, which would make the
// catching a no-op. This scans the sources, so a new export without the attribute fails here
// before it ships. (panic-safety.test.ts checks the behaviour itself, in a child process.)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../../..');
const crates = join(root, 'crates');

function rustFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return rustFiles(p);
    return p.endsWith('.rs') ? [p] : [];
  });
}

const NAPI_ATTR = /^\s*#\[(?:napi_derive::)?napi(?:\((.*)\))?\]\s*$/;
const FN = /^\s*(?:pub(?:\([a-z]+\))?\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)/;

/** `file:line name` of every `#[napi]` function or method whose attribute lacks catch_unwind. */
function unprotectedExports(files: { name: string; text: string }[]): string[] {
  const missing: string[] = [];
  for (const { name, text } of files) {
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const attr = NAPI_ATTR.exec(line);
      if (!attr) return;
      // The item the attribute applies to: skip further attributes, doc comments, blank lines.
      let j = i + 1;
      while (j < lines.length && /^\s*(#\[|\/\/|$)/.test(lines[j]!)) j += 1;
      const fn = FN.exec(lines[j] ?? '');
      if (fn && !/\bcatch_unwind\b/.test(attr[1] ?? '')) missing.push(`${name}:${i + 1} ${fn[1]}`);
    });
  }
  return missing;
}

describe('native exports are panic-safe', () => {
  const files = readdirSync(crates).flatMap((c) => {
    const src = join(crates, c, 'src');
    try {
      return rustFiles(src).map((p) => ({ name: relative(root, p), text: readFileSync(p, 'utf8') }));
    } catch {
      return [];
    }
  });

  it('finds the exports (the scan itself works)', () => {
    const exports = files.flatMap((f) => f.text.split('\n').filter((l) => NAPI_ATTR.test(l)));
    expect(exports.length).toBeGreaterThan(150);
    // The scan recognises what it must: a bare attribute, one with arguments, a method.
    expect(unprotectedExports([{ name: 'a.rs', text: '#[napi]\npub fn a() {}\n#[napi(js_name = "b")]\n/// doc\nfn b() {}\n' }])).toEqual([
      'a.rs:1 a',
      'a.rs:3 b',
    ]);
    expect(
      unprotectedExports([
        { name: 'm.rs', text: '    #[napi]\n    pub fn push(&mut self) {}\n    #[napi(object)]\n    pub struct S {}\n' },
      ]),
    ).toEqual(['m.rs:1 push']);
    expect(
      unprotectedExports([{ name: 'ok.rs', text: '#[napi(js_name = "c", catch_unwind)]\npub fn c() {}\n#[napi]\nimpl X {}\n' }]),
    ).toEqual([]);
  });

  it('every #[napi] function and method is declared catch_unwind', () => {
    expect(unprotectedExports(files)).toEqual([]);
  });

  it('no Cargo profile aborts on panic (catch_unwind would then catch nothing)', () => {
    const manifests = [
      join(root, 'Cargo.toml'),
      join(root, '.cargo/config.toml'),
      ...readdirSync(crates).map((c) => join(crates, c, 'Cargo.toml')),
    ];
    for (const m of manifests) {
      let text: string;
      try {
        text = readFileSync(m, 'utf8');
      } catch {
        continue;
      }
      expect(text, m).not.toMatch(/^\s*panic\s*=\s*["']abort["']|panic=abort/m);
    }
  });
});
