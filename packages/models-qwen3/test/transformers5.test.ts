// Checkpoints written by transformers 5.17's own save_pretrained (tooling/reference/
// transformers5_fixtures.py: a tiny Qwen3 and Qwen3-MoE, float32, with `rope_parameters`,
// `num_local_experts` and `dtype` in config.json) load and give transformers' logits.
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { loadSync } from '@mlxn/io';
import { describe, expect, it } from 'vitest';
import { Qwen3 } from '../src/index.js';
import { maxAbsDiff } from './helpers.js';

const fixtures = join(import.meta.dirname, '..', '..', '..', 'tooling', 'fixtures', 'transformers5');

describe('checkpoints saved by transformers 5.17', () => {
  for (const kind of ['dense', 'moe'] as const) {
    it(`${kind}: loads and matches transformers' logits within 1e-4`, async () => {
      const model = await Qwen3.load(join(fixtures, kind));
      expect(model.config.modelType).toBe(kind === 'dense' ? 'qwen3' : 'qwen3_moe');
      expect(model.config.ropeTheta).toBe(kind === 'dense' ? 10000 : 1000000);
      if (kind === 'moe') expect(model.config.numExperts).toBe(4);
      const expected = loadSync(join(fixtures, `${kind}.expected.safetensors`)).arrays;
      let compared = 0;
      for (let i = 0; `tokens_${i}` in expected; i++) {
        const logits = model.forward(expected[`tokens_${i}`]);
        expect(logits.shape).toEqual(expected[`logits_${i}`].shape);
        expect(maxAbsDiff(logits, expected[`logits_${i}`]), `sequence ${i}`).toBeLessThan(1e-4);
        // Not trivially small: the logits differ between tokens by far more than the tolerance.
        expect(mx.max(mx.abs(expected[`logits_${i}`])).item() as number).toBeGreaterThan(0.5);
        compared++;
      }
      expect(compared).toBe(3);
    });
  }
});
