// tokenLogprobs / model.logprobs: values against a direct log-softmax of the full logits,
// chunking, temperature, entropy, padding invariance, and gradients.
import * as mx from '@mlxn/core';
import { valueAndGrad } from '@mlxn/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseQwen3Config, Qwen3, tokenLogprobs } from '../src/index.js';
import { maxAbsDiff, tinyQwen3Path } from './helpers.js';

let dense: Qwen3;
let moe: Qwen3;
beforeAll(async () => {
  dense = await Qwen3.load(tinyQwen3Path('dense'));
  moe = await Qwen3.load(tinyQwen3Path('moe'));
});

const IDS = [
  [5, 17, 301, 44, 9, 250, 128, 77, 3, 410, 66, 12, 400, 2],
  [88, 14, 200, 31, 7, 501, 42, 19, 260, 4, 33, 8, 120, 6],
];

/** The obvious computation: log_softmax(logits / T) at every position, gathered. */
function direct(model: Qwen3, ids: mx.Array, start: number, temperature = 1): { lp: mx.Array; ent: mx.Array } {
  const t = ids.shape[1];
  const logits = mx.divide(model.forward(ids).index(mx.sl(), mx.sl(start - 1, t - 1)), temperature);
  const logp = mx.logSoftmax(logits, -1);
  const lp = mx.squeeze(mx.takeAlongAxis(logp, mx.expandDims(ids.index(mx.sl(), mx.sl(start, t)), -1), -1), -1);
  const ent = mx.negative(mx.sum(mx.multiply(mx.exp(logp), logp), -1));
  return { lp, ent };
}

describe('tokenLogprobs', () => {
  it.each([1, 3, 5, undefined])('equals the direct log-softmax (chunkSize %s), with entropy', (chunkSize) => {
    for (const model of [dense, moe]) {
      const ids = mx.array(IDS, 'int32');
      const r = tokenLogprobs(model, ids, { start: 4, chunkSize, withEntropy: true });
      const d = direct(model, ids, 4);
      expect(r.logprobs.shape).toEqual([2, IDS[0].length - 4]);
      expect(r.logprobs.dtype).toBe('float32');
      expect(maxAbsDiff(r.logprobs, d.lp)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(r.entropy!, d.ent)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('divides the logits by the temperature', () => {
    const ids = mx.array(IDS, 'int32');
    const r = tokenLogprobs(dense, ids, { start: 1, temperature: 0.7, chunkSize: 4 });
    expect(maxAbsDiff(r.logprobs, direct(dense, ids, 1, 0.7).lp)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(r.logprobs, direct(dense, ids, 1, 1).lp)).toBeGreaterThan(1e-2);
    expect(r.entropy).toBeUndefined();
  });

  it('a left-padded row with its padding mask scores as the unpadded row', () => {
    for (const model of [dense, moe]) {
      const row = IDS[1].slice(0, 9);
      const alone = tokenLogprobs(model, mx.array([row], 'int32'), { start: 3 }).logprobs;
      const pad = 5;
      const padded = mx.array([[...Array(pad).fill(0), ...row], IDS[0]], 'int32');
      const mask = mx.array([[...Array(pad).fill(0), ...Array(row.length).fill(1)], Array(IDS[0].length).fill(1)], 'int32');
      const both = tokenLogprobs(model, padded, { start: 3 + pad, mask }).logprobs;
      expect(maxAbsDiff(both.index(0), alone.index(0))).toBeLessThanOrEqual(1e-4);
      // The second, unpadded row is unaffected by the first row's padding.
      const second = tokenLogprobs(model, mx.array([IDS[0]], 'int32'), { start: 3 + pad }).logprobs;
      expect(maxAbsDiff(both.index(1), second.index(0))).toBeLessThanOrEqual(1e-4);
    }
  });

  it('is differentiable: gradients equal those of the direct computation', () => {
    const ids = mx.array(IDS, 'int32');
    const weights = mx.array(
      [
        [1, 0.5, -2, 1, 0, 3, 1, 1, -1, 2],
        [0.2, 1, 1, -1, 1, 1, 0, 2, 1, 1],
      ],
      'float32',
    );
    const loss = (lp: mx.Array) => mx.sum(mx.multiply(lp, weights));
    const [v1, g1] = valueAndGrad(moe, () => loss(tokenLogprobs(moe, ids, { start: 4, chunkSize: 3, temperature: 0.9 }).logprobs))();
    const [v2, g2] = valueAndGrad(moe, () => loss(direct(moe, ids, 4, 0.9).lp))();
    expect(Math.abs((v1.item() as number) - (v2.item() as number))).toBeLessThan(1e-3);
    const flat1 = mx.treeFlattenWithPaths(g1) as [string, mx.Array][];
    const flat2 = new Map(mx.treeFlattenWithPaths(g2) as [string, mx.Array][]);
    expect(flat1.length).toBeGreaterThan(10);
    for (const [k, g] of flat1) expect(maxAbsDiff(g, flat2.get(k)!), k).toBeLessThanOrEqual(1e-4);
    // And the gradient is not trivially zero.
    expect(Math.max(...flat1.map(([, g]) => mx.max(mx.abs(g)).item() as number))).toBeGreaterThan(1e-3);
  });

  it('never holds float32 logits for every position at once', () => {
    // Vocabulary 32000, batch 8 × 257 tokens: full float32 logits would take 8·256·32000·4 B ≈ 262 MB.
    mx.random.seed(5);
    const big = new Qwen3(
      parseQwen3Config({
        model_type: 'qwen3',
        vocab_size: 32000,
        hidden_size: 32,
        intermediate_size: 64,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        head_dim: 16,
        rope_theta: 10000,
        tie_word_embeddings: true,
      }),
    );
    mx.eval(big.parameters());
    const ids = mx.random.randint(0, 32000, [8, 257], { dtype: 'int32' });
    mx.eval(ids);
    const full = 8 * 256 * 32000 * 4;
    const peakOf = (f: () => mx.Array) => {
      mx.resetPeakMemory();
      const before = mx.memory().active;
      const out = f();
      mx.eval(out);
      const peak = mx.memory().peak - before;
      out.dispose();
      return peak;
    };
    const chunked = peakOf(() => tokenLogprobs(big, ids, { start: 1, chunkSize: 16 }).logprobs);
    expect(chunked).toBeLessThan(full / 4);
    // The direct computation does hold them (so the bound above is a real one).
    const direct = peakOf(() => mx.logsumexp(big.forward(ids), -1));
    expect(direct).toBeGreaterThan(full);
  });

  it('bad arguments', () => {
    const ids = mx.array(IDS, 'int32');
    expect(() => tokenLogprobs(dense, ids, { start: 0 })).toThrow(/start must be an integer in \[1, 13\]/);
    expect(() => tokenLogprobs(dense, ids, { start: 14 })).toThrow(/start must be/);
    expect(() => tokenLogprobs(dense, ids, { start: 2, temperature: 0 })).toThrow(/temperature must be a positive number/);
    expect(() => tokenLogprobs(dense, ids, { start: 2, chunkSize: 0 })).toThrow(/chunkSize must be a positive integer/);
    expect(() => tokenLogprobs(dense, ids, { start: 2, mask: mx.ones([2, 3]) })).toThrow(/mask must be an mx.Array \[2, 14\]/);
    expect(() => tokenLogprobs(dense, mx.array([1, 2, 3], 'int32'), { start: 1 })).toThrow(/inputIds must be an mx.Array \[B, T\]/);
    expect(() => tokenLogprobs(dense, mx.ones([2, 4]), { start: 1 })).toThrow(/integer token ids/);
  });
});

describe('model.logprobs (left-padded prompts, right-padded completions)', () => {
  it('scores each completion as scoring its row alone', () => {
    const prompts = [
      [5, 17, 301, 44],
      [88, 14],
    ];
    const completions = [
      [9, 250, 128],
      [7, 501],
    ];
    const width = 4;
    const promptTokens = mx.array(
      prompts.map((p) => [...Array(width - p.length).fill(0), ...p]),
      'int32',
    );
    const promptMask = mx.array(
      prompts.map((p) => [...Array(width - p.length).fill(0), ...Array(p.length).fill(1)]),
      'int32',
    );
    const completionTokens = mx.array(
      completions.map((c) => [...c, ...Array(3 - c.length).fill(0)]),
      'int32',
    );
    const completionMask = mx.array(
      completions.map((c) => [...Array(c.length).fill(1), ...Array(3 - c.length).fill(0)]),
      'int32',
    );
    for (const model of [dense, moe]) {
      const r = model.logprobs(promptTokens, completionTokens, { promptMask, completionMask, withEntropy: true });
      expect(r.logprobs.shape).toEqual([2, 3]);
      for (let i = 0; i < 2; i++) {
        const ids = mx.array([[...prompts[i], ...completions[i]]], 'int32');
        const alone = tokenLogprobs(model, ids, { start: prompts[i].length }).logprobs;
        expect(maxAbsDiff(r.logprobs.index(i, mx.sl(0, completions[i].length)), alone.index(0)), `row ${i}`).toBeLessThanOrEqual(1e-4);
      }
      // Completion padding scores 0.
      expect(r.logprobs.index(1, 2).item()).toBe(0);
      expect(r.entropy!.index(1, 2).item()).toBe(0);
    }
  });

  it('without masks it is tokenLogprobs over the concatenation', () => {
    const p = mx.array([[5, 17, 301]], 'int32');
    const c = mx.array([[44, 9]], 'int32');
    const r = dense.logprobs(p, c, { temperature: 1.3 });
    const ref = tokenLogprobs(dense, mx.array([[5, 17, 301, 44, 9]], 'int32'), { start: 3, temperature: 1.3 });
    expect(maxAbsDiff(r.logprobs, ref.logprobs)).toBe(0);
  });

  it('shape errors name the argument', () => {
    const p = mx.array([[5, 17, 301]], 'int32');
    expect(() => dense.logprobs(p, mx.array([[1], [2]], 'int32'))).toThrow(/promptTokens has 1 rows but completionTokens has 2/);
    expect(() => dense.logprobs(p, mx.array([[1]], 'int32'), { promptMask: mx.ones([1, 2]) })).toThrow(
      /promptMask must be an mx.Array \[1,3\]/,
    );
  });
});
