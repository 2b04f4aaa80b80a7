// config.json fields × absurd values, loaded with the tiny checkpoints' weights. A case passes
// when Qwen3.load fails with an error naming config.json (or the mismatch with the weights), or
// when the value is a valid one and the model loads with it. `num_hidden_layers: 1e7` used to
// build layers until memory ran out, before any weight was checked.
import { readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import { tinyQwen3Path } from '@mlxn/test-support/qwen3';
import { Qwen3 } from '../../src/index.js';

type Kind = 'dense' | 'moe' | 'dense-4bit';

/** A copy of a tiny checkpoint (weights linked) whose config.json has `key` set to `value`. */
function folderWith(kind: Kind, key: string, value: unknown): string {
  const src = tinyQwen3Path(kind);
  const dir = caseDir('config');
  for (const f of readdirSync(src)) if (f !== 'config.json') symlinkSync(join(src, f), join(dir, f));
  const config = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  config[key] = value;
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const ABSURD: unknown[] = [0, -1, 1, 2, 1.5, 1e7, 2 ** 31, 2 ** 53, 1e308, -1e308, '64', null, true, [], {}];

const positiveInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v > 0;
const positive = (v: unknown) => typeof v === 'number' && v > 0;
const tokenId = (v: unknown) => v === null || (typeof v === 'number' && Number.isInteger(v) && v >= 0);

/** Per field: the fixture, the valid file's value, and which other values make a valid model. */
const FIELDS: [Kind, string, unknown, ((v: unknown) => boolean)?][] = [
  ['dense', 'num_hidden_layers', 2],
  ['dense', 'hidden_size', 64],
  ['dense', 'intermediate_size', 128],
  ['dense', 'vocab_size', 512],
  ['dense', 'num_attention_heads', 4],
  ['dense', 'num_key_value_heads', 2],
  // null: computed as hidden_size / num_attention_heads, which is 16 again.
  ['dense', 'head_dim', 16, (v) => v === null],
  ['dense', 'max_position_embeddings', 4096, (v) => positiveInt(v) && (v as number) <= 16_777_216],
  ['dense', 'rms_norm_eps', 1e-6, positive],
  ['dense', 'rope_theta', 10000, positive],
  ['dense', 'bos_token_id', 1, tokenId],
  ['dense', 'eos_token_id', 2, (v) => tokenId(v) || (Array.isArray(v) && v.every(tokenId))],
  ['dense', 'tie_word_embeddings', true],
  // {}: no type, so the default (no scaling).
  ['dense', 'rope_scaling', null, (v) => v === null || JSON.stringify(v) === '{}'],
  ['moe', 'num_experts', 4],
  // transformers 5's name for num_experts: the same value or nothing (4 is what num_experts says).
  ['moe', 'num_local_experts', 4],
  ['moe', 'num_experts_per_tok', 2, (v) => positiveInt(v) && (v as number) <= 4],
  ['moe', 'moe_intermediate_size', 32],
  ['moe', 'decoder_sparse_step', 1],
  ['moe', 'mlp_only_layers', [], (v) => Array.isArray(v) && v.length === 0],
];

/** quantization (both keys, as mlx-community writes them) of the 4-bit checkpoint: bits × group size. */
function quantizationCases(): HostileCase[] {
  const out: HostileCase[] = [];
  for (const bits of [0, 1, 2, 3, 4, 5, 8, 9, 16, 1e7, 2 ** 31, 2 ** 53]) {
    for (const groupSize of [0, 1, 32, 64, 128, 1e7, 2 ** 31]) {
      const q = { bits, group_size: groupSize, mode: 'affine' };
      const valid = bits === 4 && groupSize === 64;
      out.push({
        name: `config dense-4bit quantization bits ${bits} group_size ${groupSize}`,
        class: 'config.fields',
        timeoutMs: 15_000,
        async run() {
          const dir = folderWith('dense-4bit', 'quantization', q);
          const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
          writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, quantization_config: q }));
          const model = await Qwen3.load(dir, { lazy: true });
          for (const [, a] of model.namedParameters()) a.dispose();
          return { loaded: true };
        },
        accept: () => (valid ? true : `loaded with bits ${bits}, group_size ${groupSize}, which the weights rule out`),
        // The config, or the weights' shapes that do not fit it, or MLX's own refusal of the
        // quantization parameters.
        error: /config\.json|Qwen3 config|weight\(s\)|bits|group/i,
      });
    }
  }
  return out;
}

export const cases = (): HostileCase[] => [...fieldCases(), ...quantizationCases()];

const fieldCases = (): HostileCase[] =>
  FIELDS.flatMap(([kind, key, original, valid]) => {
    const values = [original, ...ABSURD.filter((v) => JSON.stringify(v) !== JSON.stringify(original))];
    if (typeof original === 'number') values.push(original * 2, original + 1);
    const unique = [...new Map(values.map((v) => [JSON.stringify(v), v])).values()];
    return unique.map(
      (value): HostileCase => ({
        name: `config ${kind} ${key} = ${JSON.stringify(value)}`,
        class: 'config.fields',
        regression: key === 'num_hidden_layers' && value === 1e7,
        timeoutMs: 15_000,
        async run() {
          const model = await Qwen3.load(folderWith(kind, key, value), { lazy: true });
          const raw = model.config.raw[key];
          for (const [, a] of model.namedParameters()) a.dispose();
          return { value: raw };
        },
        accept: (r: { value: unknown }) => {
          const ok = JSON.stringify(value) === JSON.stringify(original) || (valid?.(value) ?? false);
          if (!ok) return `loaded with ${key} = ${JSON.stringify(value)}, which the weights or the limits rule out`;
          return JSON.stringify(r.value) === JSON.stringify(value) ? true : `config holds ${JSON.stringify(r.value)}`;
        },
        // The config named, or its mismatch with the weights, listed weight by weight.
        error: /config\.json|Qwen3 config|weight\(s\)/,
      }),
    );
  });
