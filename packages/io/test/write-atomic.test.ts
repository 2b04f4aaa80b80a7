// The one atomic file writer (write-atomic.ts over crates/mlxn-io/src/atomic.rs): text and
// bytes, replacement, parent folders, no temporary left behind, and a failure that leaves the
// old file as it was.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/internal.js';

const dirs: string[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'mlxn-write-atomic-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes text as UTF-8 and bytes as given, replacing the old file, into new parent folders', () => {
    const d = dir();
    const file = join(d, 'a', 'b', 'state.json');
    writeFileAtomic(file, '{"ü": 1}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"ü": 1}\n');
    const bytes = new Uint8Array([0, 1, 2, 255, 254]);
    // A view into a larger buffer: only its own bytes are written.
    const view = new Uint8Array(new Uint8Array([9, ...bytes, 9]).buffer, 1, bytes.length);
    writeFileAtomic(file, view);
    expect([...readFileSync(file)]).toEqual([...bytes]);
    expect(readdirSync(join(d, 'a', 'b'))).toEqual(['state.json']);
  });

  it('fails with the path in its message and leaves the old file and no temporary file', () => {
    const d = dir();
    const file = join(d, 'x.txt');
    writeFileSync(file, 'old');
    // The target is a folder: the final rename fails.
    const folder = join(d, 'folder');
    mkdirSync(join(folder, 'inside'), { recursive: true });
    expect(() => writeFileAtomic(folder, 'new')).toThrow(/folder/);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(d).sort()).toEqual(['folder', 'x.txt']);
  });
});
