// Non-regular files in a model folder: a FIFO (which blocks a synchronous read forever), a folder
// or /dev/zero (which never ends) as config.json, a chat template, or a side file that save()
// copies. Each must be an error naming the file, at once.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostileCase } from '@mlxn/test-support/hostile';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { Qwen3 } from '../../src/index.js';

let counter = 0;
let root: string | undefined;
function caseDir(): string {
  if (root === undefined) {
    const d = mkdtempSync(join(tmpdir(), 'mlxn-hostile-folder-'));
    root = d;
    process.on('exit', () => rmSync(d, { recursive: true, force: true }));
  }
  const d = join(root, String(counter++));
  mkdirSync(d);
  return d;
}

type Kind = 'fifo' | 'folder' | 'device';

/** The tiny dense checkpoint (files linked), with `file` made a non-regular file of `kind`. */
function folderWith(file: string, kind: Kind): string {
  const src = tinyQwen3Path('dense');
  const dir = caseDir();
  for (const f of readdirSync(src)) if (f !== file) symlinkSync(join(src, f), join(dir, f));
  const path = join(dir, file);
  if (kind === 'fifo') {
    if (spawnSync('mkfifo', [path]).status !== 0) throw new Error('test setup: mkfifo failed');
  } else if (kind === 'folder') mkdirSync(path);
  else symlinkSync('/dev/zero', path);
  return dir;
}

const TARGETS: { file: string; regression?: boolean; run(dir: string): Promise<unknown> }[] = [
  { file: 'config.json', regression: true, run: (d) => Qwen3.load(d, { lazy: true }) },
  { file: 'chat_template.jinja', regression: true, run: (d) => Qwen3.load(d, { lazy: true }) },
  { file: 'chat_template.json', run: (d) => Qwen3.load(d, { lazy: true }) },
  {
    // Loads fine (the file is not read at load); saving copies it beside the weights.
    file: 'special_tokens_map.json',
    async run(d) {
      const model = await Qwen3.load(d, { lazy: true });
      return model.save(join(caseDir(), 'saved'));
    },
  },
];

export const cases = (): HostileCase[] =>
  TARGETS.flatMap((t) =>
    (['fifo', 'folder', 'device'] as Kind[]).map((kind) => ({
      name: `model folder with a ${kind} as ${t.file}`,
      class: 'files.nonregular',
      regression: kind === 'fifo' && t.regression === true,
      timeoutMs: 10_000,
      run: () => t.run(folderWith(t.file, kind)),
      error: (e: Error) => e.message.includes(t.file) && /not a regular file|cannot read/.test(e.message),
    })),
  );
