// A tiny random Qwen3 with the real Qwen3 tokenizer, for the generation tests: what is tested
// here is generation's semantics (stopping, caches, batching), not the network's numbers
// (those are the parity tests').
import * as mx from '@mlxn/core';
import { Tokenizer } from '@mlxn/io';
import { randomTinyQwen3 } from '@mlxn/test-support/qwen3';
import { parseQwen3Config } from '../src/config.js';
import { Qwen3 } from '../src/model.js';

/** A 2-layer Qwen3 (hidden 64, GQA 4/2 heads) with random weights from `seed`. */
export function tinyQwen3(seed = 0, overrides: Record<string, unknown> = {}): Qwen3 {
  return randomTinyQwen3({ mx, Tokenizer, Qwen3, parseQwen3Config }, seed, overrides);
}

/** Greedy logits margins (top-1 minus top-2) of the steps of a single-prompt run. */
function topTwoMargin(logits: mx.Array): number {
  const sorted = mx.sort(mx.reshape(logits, [-1]));
  const v = sorted.shape[0];
  const [a, b] = mx.index(sorted, mx.sl(v - 2)).tolist() as number[];
  return b - a;
}

/**
 * A logits processor that makes the model say `script` (token ids), one token per step, after
 * a prompt of `promptLength` tokens: deterministic replies for testing stopping and parsing.
 */
export function scripted(script: readonly number[], promptLength: number, vocabSize = 151936) {
  return (tokens: mx.Array | readonly number[] | readonly (readonly number[])[], logits: mx.Array): mx.Array => {
    const t = tokens instanceof mx.Array ? tokens.shape[tokens.ndim - 1] : (tokens as unknown[]).length;
    const k = t - promptLength;
    const target = script[Math.min(Math.max(k, 0), script.length - 1)];
    const hit = mx.equal(mx.arange(vocabSize), target);
    return mx.broadcastTo(mx.astype(mx.where(hit, 50, -50), logits.dtype), logits.shape);
  };
}

/** Single-prompt greedy logits `[T, V]` for each generated position (teacher-forced, no cache). */
export function greedyMargins(model: Qwen3, prompt: readonly number[], generated: readonly number[]): number[] {
  return mx.tidy(() => {
    const seq = [...prompt, ...generated];
    const logits = model.forward(mx.array([seq], 'int32'));
    const margins: number[] = [];
    for (let i = 0; i < generated.length; i++) margins.push(topTwoMargin(mx.index(logits, 0, prompt.length - 1 + i)));
    return margins;
  });
}
