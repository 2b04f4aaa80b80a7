// The fused layout of the native forward (crates/mlxn-qwen3/src/fused_kernels.rs) on the CPU.
// Its CUDA kernels cannot run here (tooling/bench/fused-parity.ts checks them on a GPU), so
// setting 2 runs their layout — each block after the attention norms what follows it, the
// next layer's input or the final norm, and the block before the attention takes its input
// normed — with the separate ops, held to the plain layout's logits; setting 4 the folded layout,
// where each block before the attention adds and norms its own input (the products' kernels
// fold the norms in on a GPU) and only the final norm follows the last block.

import { BatchKVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { handleOf, native } from '@mlxn/core/internal';
import { afterEach, describe, expect, it } from 'vitest';
import { graphOpCounts } from '../../../tooling/test-support/graph-ops.mjs';
import { Qwen3 } from '../src/index.js';
import { tinyQwen3Path } from './helpers.js';

afterEach(() => native.qwen3SetFusedKernels(0));

interface Run {
  logits: Float32Array[];
  /** The graph of the first layer's keys after the first decoding step. */
  firstKeysOps: Record<string, number>;
  /** The graph of the first decoding step's logits. */
  logitsOps: Record<string, number>;
}

/** A prompt then single tokens through `makeCache`'s caches, and a left-padded batch. */
function run(model: Qwen3, setting: number): Run {
  native.qwen3SetFusedKernels(setting);
  const logits: Float32Array[] = [];
  const read = (a: mx.Array) => logits.push(mx.astype(a, 'float32').dataSync() as Float32Array);
  const cache = model.makeCache();
  let firstKeysOps: Record<string, number> = {};
  let logitsOps: Record<string, number> = {};
  mx.tidy(() => read(model.forward(mx.array([[1, 2, 3, 4, 5, 6, 7, 8]], 'int32'), { cache })));
  // A decoding step's graph: on the CPU a prompt's block before the attention is not compiled
  // (forward.rs, `pre_attention`), so only a step's tells the layouts apart.
  mx.tidy(() => {
    const out = model.forward(mx.array([[9]], 'int32'), { cache });
    firstKeysOps = graphOpCounts({ native, handleOf }, cache[0].state[0] as mx.Array);
    logitsOps = graphOpCounts({ native, handleOf }, out);
    read(out);
  });
  for (const t of [10, 11, 12, 13]) mx.tidy(() => read(model.forward(mx.array([[t]], 'int32'), { cache })));
  for (const c of cache) c.dispose();
  // Rows of 6, 3 and 1 prompt tokens: per-row offsets and an explicit mask at every step.
  const caches = model.layers.map(() => new BatchKVCache({ leftPadding: [0, 3, 5] }));
  mx.tidy(() =>
    read(
      model.forward(
        mx.array(
          [
            [1, 2, 3, 4, 5, 6],
            [0, 0, 0, 7, 8, 9],
            [0, 0, 0, 0, 0, 10],
          ],
          'int32',
        ),
        { cache: caches },
      ),
    ),
  );
  for (const t of [11, 12, 13]) mx.tidy(() => read(model.forward(mx.array([[t], [t + 1], [t + 2]], 'int32'), { cache: caches })));
  for (const c of caches) c.dispose();
  return { logits, firstKeysOps, logitsOps };
}

describe('the fused layout (separate ops in place of the CUDA kernels)', () => {
  for (const kind of ['dense', 'dense-4bit'] as const) {
    it(`gives the plain layout's logits with KVCache and a padded BatchKVCache (${kind})`, async () => {
      const model = await Qwen3.load(tinyQwen3Path(kind));
      const plain = run(model, 0);
      const fused = run(model, 2);
      const folded = run(model, 4);
      // The layouts did run: the first layer's keys depend on an RMS norm outside the compiled
      // blocks (its input norm, on the CPU composed of plain ops) only in the fused layout, and
      // the logits on one (the final norm) everywhere but in the folded layout, where the last
      // block applies it.
      expect(plain.firstKeysOps.Rsqrt).toBeUndefined();
      expect(fused.firstKeysOps.Rsqrt).toBe(1);
      expect(folded.firstKeysOps.Rsqrt).toBeUndefined();
      expect(plain.logitsOps.Rsqrt).toBe(1);
      expect(folded.logitsOps.Rsqrt).toBeUndefined();
      for (const other of [fused, folded]) {
        expect(other.logits.length).toBe(plain.logits.length);
        plain.logits.forEach((p, i) => {
          let diff = 0;
          for (let j = 0; j < p.length; j++) diff = Math.max(diff, Math.abs(p[j] - other.logits[i][j]));
          expect(diff).toBeLessThan(1e-5);
        });
      }
    });
  }

  it('refuses settings other than 0 to 4', () => {
    expect(() => native.qwen3SetFusedKernels(5)).toThrow('expected 0 to 4, got 5');
  });
});
