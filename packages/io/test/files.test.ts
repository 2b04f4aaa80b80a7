// Reading untrusted files: regular files only, bounded in size (the battery in hostile.test.ts
// tries FIFOs, devices and sockets at every read site, each in a child process).
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonDepth, readConfig, readTextFile, readTextFileSync } from '../src/index.js';
import { tmp } from './helpers.js';

const limits = { maxBytes: 4, what: 'test files' };

describe('readTextFileSync / readTextFile', () => {
  it('reads a regular file up to the limit, and names the limit past it', async () => {
    const file = join(tmp(), 'a.json');
    writeFileSync(file, '{}');
    expect(readTextFileSync(file, limits)).toBe('{}');
    expect(await readTextFile(file, limits)).toBe('{}');
    writeFileSync(file, '{"a":1}');
    expect(() => readTextFileSync(file, limits)).toThrow(`${file}: 7 bytes exceeds the limit of 4 bytes for test files`);
    await expect(readTextFile(file, limits)).rejects.toThrow(`${file}: 7 bytes exceeds the limit of 4 bytes for test files`);
  });

  it('refuses a folder and a device, and keeps ENOENT for a missing file', async () => {
    const dir = tmp();
    expect(() => readTextFileSync(dir, limits)).toThrow(`${dir}: is a folder, not a regular file`);
    const zero = join(dir, 'zero.json');
    symlinkSync('/dev/zero', zero);
    expect(() => readTextFileSync(zero, limits)).toThrow(`${zero}: is a character device, not a regular file`);
    await expect(readTextFile(zero, limits)).rejects.toThrow(/is a character device/);
    expect(() => readTextFileSync(join(dir, 'nope'), limits)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

describe('jsonDepth', () => {
  it('counts nesting outside strings only', () => {
    expect(jsonDepth('1')).toBe(0);
    expect(jsonDepth('{"a":[1,{"b":[]}]}')).toBe(4);
    expect(jsonDepth('{"a":"[[[[\\"]]"}')).toBe(1);
  });
});

describe('readConfig limits', () => {
  it('size and nesting are bounded, and the options raise the bounds', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ a: [[[[1]]]] }));
    await expect(readConfig(dir, { maxDepth: 4 })).rejects.toThrow(
      `${join(dir, 'config.json')}: nested 5 levels deep, past the limit of 4 (readConfig option maxDepth)`,
    );
    expect((await readConfig(dir, { maxDepth: 5 })).config).toEqual({ a: [[[[1]]]] });
    await expect(readConfig(dir, { maxBytes: 10 })).rejects.toThrow(/config\.json: cannot read \(\d+ bytes exceeds the limit of 10 bytes/);
    writeFileSync(join(dir, 'config.json'), `{"a":${'['.repeat(100)}${']'.repeat(100)}}`);
    await expect(readConfig(dir)).rejects.toThrow(/nested 101 levels deep, past the limit of 64/);
    mkdirSync(join(dir, 'sub'));
    mkdirSync(join(dir, 'sub', 'config.json'));
    await expect(readConfig(join(dir, 'sub'))).rejects.toThrow(/config\.json: cannot read \(is a folder, not a regular file\)/);
  });
});
