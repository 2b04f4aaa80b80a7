// `mlxn-train grpo` config files: the `tools` entries (modules exporting tools).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTools } from '../src/cli/tools.js';
import { cleanup, tempDir } from './trainer-fixture.js';

afterAll(cleanup);

describe('config file tools', () => {
  const dir = tempDir('mlxn-grpo-cli-tools-');
  writeFileSync(
    join(dir, 'math.mjs'),
    [
      "export const add = { name: 'add', description: 'Adds.', parameters: { type: 'object' }, handler: ({ a, b }) => a + b };",
      "export const mul = { name: 'mul', handler: ({ a, b }) => a * b };",
      'export const notATool = 3;',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'list.mjs'), "export default [{ name: 'echo', handler: (x) => x }];");
  writeFileSync(join(dir, 'none.mjs'), 'export const x = 1;');
  writeFileSync(join(dir, 'again.mjs'), "export const add2 = { name: 'add', handler: () => 0 };");

  it('loads every exported tool, default-exported lists, or the named ones', async () => {
    expect((await resolveTools(['./math.mjs', 'list.mjs'], dir)).map((t) => t.name)).toEqual(['add', 'mul', 'echo']);
    const picked = await resolveTools([{ module: './math.mjs', export: 'mul' }], dir);
    expect(picked.map((t) => t.name)).toEqual(['mul']);
    expect(picked[0].handler({ a: 3, b: 4 }, { signal: new AbortController().signal })).toBe(12);
  });

  it('names what is wrong', async () => {
    await expect(resolveTools('./math.mjs', dir)).rejects.toThrow(/"tools" must be a list/);
    await expect(resolveTools(['./missing.mjs'], dir)).rejects.toThrow(/tools\[0\]: tool module .*missing\.mjs does not exist/);
    await expect(resolveTools(['./none.mjs'], dir)).rejects.toThrow(/exports no tools/);
    await expect(resolveTools([{ module: './math.mjs', export: 'notATool' }], dir)).rejects.toThrow(/no exported tool 'notATool'/);
    await expect(resolveTools([{ module: './math.mjs', exports: 'add' }], dir)).rejects.toThrow(/unknown key "exports"/);
    await expect(resolveTools(['./math.mjs', './again.mjs'], dir)).rejects.toThrow(/'add' is used twice/);
  });
});
