// generation_config.json fields × absurd values, beside the tiny dense checkpoint. A case passes
// when Qwen3.load fails with an error naming generation_config.json, or when the value is a
// valid one and the model loads with the defaults it implies.
import { readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { Qwen3 } from '../../src/index.js';

/** The dense fixture's vocabulary: a top_k at or past it cannot be applied. */
const VOCAB = 512;

function folderWith(generationConfig: Record<string, unknown>): string {
  const src = tinyQwen3Path('dense');
  const dir = caseDir('generation-config');
  for (const f of readdirSync(src)) symlinkSync(join(src, f), join(dir, f));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify(generationConfig));
  return dir;
}

const ABSURD: unknown[] = [0, -1, 1, 0.5, 1.5, 1e7, 2 ** 53, 1e308, -1e308, '0.7', null, true, false, [], {}, [1, 'x']];

const num = (v: unknown): v is number => typeof v === 'number';
const nonNegInt = (v: unknown) => num(v) && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

/** Per field: which values a valid file may hold (null: the field left unset). */
const FIELDS: [string, (v: unknown) => boolean][] = [
  ['do_sample', (v) => v === null || typeof v === 'boolean'],
  ['temperature', (v) => v === null || (num(v) && v >= 0 && Number.isFinite(v))],
  ['top_p', (v) => v === null || (num(v) && v > 0 && v <= 1)],
  ['top_k', (v) => v === null || (nonNegInt(v) && (v as number) < VOCAB)],
  ['min_p', (v) => v === null || (num(v) && v >= 0 && v <= 1)],
  ['repetition_penalty', (v) => v === null || (num(v) && v > 0 && Number.isFinite(v))],
  ['eos_token_id', (v) => v === null || nonNegInt(v) || (Array.isArray(v) && v.every(nonNegInt))],
];

export const cases = (): HostileCase[] =>
  FIELDS.flatMap(([key, valid]) =>
    ABSURD.map(
      (value): HostileCase => ({
        name: `generation_config ${key} = ${JSON.stringify(value)}`,
        class: 'generation-config.fields',
        timeoutMs: 15_000,
        async run() {
          // do_sample on, so the sampling fields are read and not ignored as greedy decoding does.
          const model = await Qwen3.load(folderWith({ do_sample: true, [key]: value }), { lazy: true });
          const out = { defaults: { ...model.generationDefaults }, eos: model.eosTokenIds };
          for (const [, a] of model.namedParameters()) a.dispose();
          return out;
        },
        accept: (r: { defaults: Record<string, unknown>; eos: number[] }) => {
          if (!valid(value)) return `loaded with ${key} = ${JSON.stringify(value)}`;
          for (const v of Object.values(r.defaults)) if (!num(v) || !Number.isFinite(v)) return `a default of ${JSON.stringify(v)}`;
          return r.eos.every(nonNegInt) ? true : `eos ids ${JSON.stringify(r.eos)}`;
        },
        error: /generation_config\.json/,
      }),
    ),
  );
