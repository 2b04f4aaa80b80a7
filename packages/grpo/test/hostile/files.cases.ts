// Non-regular files where the trainers read one: a dataset, a metrics file, a trainer state, a
// command-line config or JSONL file. A FIFO used to block the read forever and /dev/zero never
// ended; each must be an error naming the file, at once.
import { join } from 'node:path';
import { caseDir, type HostileCase, makeNonRegular, type NonRegularKind } from '@mlxn/test-support/hostile';
import { readTrainerState } from '../../src/checkpoint.js';
import { readJsonl, readRunConfig } from '../../src/cli/config-file.js';
import { PromptDataset, plot, readMetrics } from '../../src/index.js';

const TARGETS: { what: string; file: string; regression?: boolean; run(dir: string, path: string): unknown }[] = [
  { what: 'a JSONL dataset', file: 'train.jsonl', regression: true, run: (_, p) => PromptDataset.fromJsonl(p) },
  { what: 'a metrics file (plot)', file: 'metrics.jsonl', run: (d, p) => plot(p, { output: join(d, 'plot.png') }) },
  { what: 'a metrics file (readMetrics)', file: 'metrics.jsonl', run: (_, p) => readMetrics(p) },
  { what: 'a trainer state', file: 'trainer_state.json', run: (d) => readTrainerState(d) },
  { what: 'a command-line config file', file: 'run.json', run: (_, p) => readRunConfig('grpo', p) },
  { what: 'a command-line JSONL file', file: 'data.jsonl', run: (_, p) => readJsonl(p) },
];

export const cases = (): HostileCase[] =>
  TARGETS.flatMap((t) =>
    (['fifo', 'folder', 'device'] as NonRegularKind[]).map((kind) => ({
      name: `${kind} as ${t.what}`,
      class: 'files.nonregular',
      regression: kind === 'fifo' && t.regression === true,
      timeoutMs: 5_000,
      run() {
        const dir = caseDir('grpo');
        return t.run(dir, makeNonRegular(join(dir, t.file), kind));
      },
      error: (e: Error) => e.message.includes(t.file) && /not a regular file|is a folder|cannot read|Is a directory/.test(e.message),
    })),
  );
