// Non-regular files in a model folder: a FIFO (which blocks a synchronous read forever), a folder
// or /dev/zero (which never ends) as config.json, a chat template, or a side file that save()
// copies. Each must be an error naming the file, at once.
import { readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { caseDir, type HostileCase, makeNonRegular, type NonRegularKind } from '@mlxn/test-support/hostile';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { Qwen3 } from '../../src/index.js';

/** The tiny dense checkpoint (files linked), with `file` made a non-regular file of `kind`. */
function folderWith(file: string, kind: NonRegularKind): string {
  const src = tinyQwen3Path('dense');
  const dir = caseDir('folder');
  for (const f of readdirSync(src)) if (f !== file) symlinkSync(join(src, f), join(dir, f));
  makeNonRegular(join(dir, file), kind);
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
      return model.save(join(caseDir('folder'), 'saved'));
    },
  },
];

export const cases = (): HostileCase[] =>
  TARGETS.flatMap((t) =>
    (['fifo', 'folder', 'device'] as NonRegularKind[]).map((kind) => ({
      name: `model folder with a ${kind} as ${t.file}`,
      class: 'files.nonregular',
      regression: kind === 'fifo' && t.regression === true,
      timeoutMs: 10_000,
      run: () => t.run(folderWith(t.file, kind)),
      error: (e: Error) => e.message.includes(t.file) && /not a regular file|cannot read/.test(e.message),
    })),
  );
