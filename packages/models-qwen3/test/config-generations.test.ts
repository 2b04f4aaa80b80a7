// config.json as transformers 4 and as transformers 5 write it: the same model either way,
// conflicting keys refused, and saving in the keys every reader knows.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseQwen3Config, Qwen3 } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Expected, tinyQwen3Path } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-qwen3-gen-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const OLD = {
  model_type: 'qwen3',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  rope_theta: 5e5,
  rope_scaling: { type: 'yarn', factor: 4, original_max_position_embeddings: 32768 },
  torch_dtype: 'bfloat16',
};
// What transformers 5.23's save_pretrained writes for OLD (checked against its Qwen3Config).
const NEW = {
  model_type: 'qwen3',
  hidden_size: 64,
  intermediate_size: 128,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  rope_parameters: { rope_type: 'yarn', factor: 4, original_max_position_embeddings: 32768, rope_theta: 5e5 },
  dtype: 'bfloat16',
};
const MOE = {
  model_type: 'qwen3_moe',
  hidden_size: 64,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_experts_per_tok: 2,
  moe_intermediate_size: 32,
};

/** The parsed fields a model is built from (everything but the raw object). */
function fields(raw: object) {
  const { raw: _raw, ...rest } = parseQwen3Config(raw);
  return {
    ...rest,
    ropeScaling: { ...rest.ropeScaling, type: undefined, rope_type: rest.ropeScaling?.type ?? rest.ropeScaling?.rope_type },
  };
}

/** A copy of a fixture folder (weights linked) with its config.json edited. */
function withConfig(kind: 'dense' | 'moe', name: string, edit: (c: Record<string, unknown>) => Record<string, unknown>): string {
  const src = tinyQwen3Path(kind);
  const dir = join(work, name);
  mkdirSync(dir);
  for (const f of readdirSync(src)) if (f !== 'config.json') symlinkSync(join(src, f), join(dir, f));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(edit(JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')))));
  return dir;
}

/** transformers 5's keys for a fixture config, the older ones removed. */
function toV5(c: Record<string, unknown>): Record<string, unknown> {
  const { rope_theta, rope_scaling, num_experts, torch_dtype, ...rest } = c;
  const scaling = (rope_scaling ?? {}) as Record<string, unknown>;
  const { type, ...scalingRest } = scaling;
  return {
    ...rest,
    rope_parameters: { rope_type: type ?? scaling.rope_type ?? 'default', ...scalingRest, rope_theta },
    dtype: torch_dtype,
    ...(num_experts === undefined ? {} : { num_local_experts: num_experts }),
  };
}

describe('config.json of transformers 4 and 5', () => {
  it('both generations of keys parse to the same model', () => {
    expect(fields(NEW)).toEqual(fields(OLD));
    expect(parseQwen3Config(NEW).ropeTheta).toBe(5e5);
    expect(parseQwen3Config({ ...MOE, num_local_experts: 8 })).toMatchObject({ numExperts: 8, numExpertsPerTok: 2 });
    // Both generations at once, agreeing (as a converter that keeps the old keys writes them).
    expect(fields({ ...OLD, ...NEW })).toEqual(fields(OLD));
    expect(parseQwen3Config({ ...MOE, num_experts: 8, num_local_experts: 8 }).numExperts).toBe(8);
  });

  it('old and new keys that disagree are an error naming both', () => {
    expect(() => parseQwen3Config({ ...NEW, rope_theta: 1e6 })).toThrow(
      /rope_theta \(1000000\) and rope_parameters\.rope_theta \(500000\) disagree/,
    );
    expect(() => parseQwen3Config({ ...NEW, rope_scaling: { type: 'yarn', factor: 8, original_max_position_embeddings: 32768 } })).toThrow(
      /rope_scaling\.factor \(8\) and rope_parameters\.factor \(4\) disagree/,
    );
    expect(() =>
      parseQwen3Config({ ...NEW, rope_scaling: { type: 'linear', factor: 4, original_max_position_embeddings: 32768 } }),
    ).toThrow(/rope_scaling\.rope_type \("linear"\) and rope_parameters\.rope_type \("yarn"\) disagree/);
    expect(() => parseQwen3Config({ ...MOE, num_experts: 8, num_local_experts: 4 })).toThrow(
      /num_experts \(8\) and num_local_experts \(4\) disagree/,
    );
    expect(() => parseQwen3Config({ ...NEW, torch_dtype: 'float16' })).toThrow(
      /dtype \("bfloat16"\) and torch_dtype \("float16"\) disagree/,
    );
    expect(() => parseQwen3Config({ ...MOE, num_local_experts: 5000 })).toThrow(/num_local_experts = 5000 exceeds the limit of 4096/);
    expect(() => parseQwen3Config({ ...NEW, rope_parameters: { rope_type: 'yarn', rope_theta: 5e5 } })).toThrow(/needs a numeric 'factor'/);
  });

  it.each(['dense', 'moe'] as const)(
    '%s: a transformers 5 config.json loads to the same logits, and saves in the older keys',
    async (kind) => {
      const prompt = mx.array([tinyQwen3Expected(kind).prompt], 'int32');
      const old = await Qwen3.load(tinyQwen3Path(kind));
      const v5 = await Qwen3.load(withConfig(kind, `${kind}-v5`, toV5));
      expect(maxAbsDiff(v5.forward(prompt), old.forward(prompt))).toBe(0);
      const out = join(work, `${kind}-v5-saved`);
      await v5.save(out);
      const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
      expect(saved).not.toHaveProperty('rope_parameters');
      expect(saved).not.toHaveProperty('num_local_experts');
      expect(saved).not.toHaveProperty('dtype');
      expect(saved).toMatchObject({
        rope_theta: old.config.ropeTheta,
        torch_dtype: 'float32',
        ...(kind === 'moe' ? { num_experts: 4 } : {}),
      });
      const back = await Qwen3.load(out);
      expect(maxAbsDiff(back.forward(prompt), old.forward(prompt))).toBe(0);
    },
  );

  it('rope scaling under rope_parameters is applied as rope_scaling is', async () => {
    const yarn = { type: 'yarn', factor: 4, original_max_position_embeddings: 8 };
    const prompt = mx.array([[...tinyQwen3Expected('dense').prompt, ...tinyQwen3Expected('dense').prompt]], 'int32');
    const plain = await Qwen3.load(tinyQwen3Path('dense'));
    const old = await Qwen3.load(withConfig('dense', 'yarn-old', (c) => ({ ...c, rope_scaling: yarn })));
    const v5 = await Qwen3.load(withConfig('dense', 'yarn-v5', (c) => toV5({ ...c, rope_scaling: yarn })));
    // The scaling changes the logits (so the comparison below is not between two unscaled models).
    expect(maxAbsDiff(old.forward(prompt), plain.forward(prompt))).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(v5.forward(prompt), old.forward(prompt))).toBe(0);
  });
});
