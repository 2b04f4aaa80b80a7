/**
 * Log-probabilities of a prompt's own tokens, for `/v1/completions` with `echo` and `logprobs`:
 * what evaluation harnesses send to score text (`echo: true, max_tokens: 0, logprobs: k`).
 *
 * Token i ≥ 1 is scored by the model's distribution after tokens 0 … i−1, at temperature 1 and
 * before any sampling option, as OpenAI's legacy API reports prompt tokens; the first token has
 * no score. The prompt runs through the model in chunks of positions over a KV cache of its own,
 * so full-vocabulary logits exist for one chunk at a time (about 64 MiB of float32), and each
 * chunk is awaited, so the scheduler's running batch keeps stepping in between.
 */
import * as mx from '@mlxn/core';
import type { GenerationModel } from '@mlxn/models-qwen3';

export interface PromptLogprobs {
  /** For tokens 1 … n−1: the log-probability of each given what precedes it. */
  logprobs: number[];
  /** For the same tokens, the `top` most likely ids and their log-probabilities, best first. */
  top: Array<Array<[number, number]>> | null;
}

const CHUNK_BYTES = 64 * 2 ** 20;

export async function promptLogprobs(
  model: GenerationModel,
  tokens: readonly number[],
  top: number,
  signal?: AbortSignal,
): Promise<PromptLogprobs> {
  const vocab = model.config.vocabSize;
  const chunk = Math.max(1, Math.floor(CHUNK_BYTES / (4 * vocab)));
  const out: PromptLogprobs = { logprobs: [], top: top > 0 ? [] : null };
  const cache = model.makeCache();
  try {
    // The last position scores nothing (no token follows it), so it is never fed.
    for (let s = 0; s < tokens.length - 1 && !signal?.aborted; s += chunk) {
      const e = Math.min(tokens.length - 1, s + chunk);
      const arrays = mx.tidy(() => {
        const logits = mx.astype(model.forward(mx.array([tokens.slice(s, e)], 'int32'), { cache }), 'float32');
        const lp = mx.subtract(logits, mx.logsumexp(logits, -1, true)); // [1, L, V]
        const next = mx.array([tokens.slice(s + 1, e + 1)], 'int32');
        const chosen = mx.reshape(mx.takeAlongAxis(lp, mx.expandDims(next, -1), -1), [-1]);
        if (top === 0) return [chosen];
        const idx = mx.index(mx.argpartition(mx.negative(lp), top - 1, -1), '...', mx.sl(0, top));
        return [chosen, mx.reshape(idx, [-1, top]), mx.reshape(mx.takeAlongAxis(lp, idx, -1), [-1, top])];
      });
      try {
        // The cache's arrays are evaluated with the chunk, so the next chunk builds on values.
        await mx.asyncEval(
          arrays,
          cache.map((c) => c.state),
        );
        out.logprobs.push(...(arrays[0].dataSync() as Float32Array));
        if (out.top !== null) {
          const ids = arrays[1].dataSync() as Int32Array | Uint32Array;
          const vals = arrays[2].dataSync() as Float32Array;
          for (let r = 0; r < e - s; r++) {
            const pairs: Array<[number, number]> = [];
            for (let k = 0; k < top; k++) pairs.push([Number(ids[r * top + k]), vals[r * top + k]]);
            out.top.push(pairs.sort((a, b) => b[1] - a[1] || a[0] - b[0]));
          }
        }
      } finally {
        mx.dispose(arrays);
      }
    }
  } finally {
    for (const c of cache) c.dispose();
  }
  return out;
}
