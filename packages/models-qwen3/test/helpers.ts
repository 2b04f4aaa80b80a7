// Shared by the model tests: the canonical tiny fixtures and comparisons.
import * as mx from '@mlxn/core';
import { loadSync } from '@mlxn/io';
import { type TinyQwen3Kind, tinyQwen3Expected, tinyQwen3Path } from '@mlxn/test-support/qwen3';

export type { TinyQwen3Kind };
export { tinyQwen3Expected, tinyQwen3Path };

/** mlx-lm's arrays for a fixture: logits, logits_cached, batch_logits, batch_decode. */
export function expectedArrays(kind: TinyQwen3Kind): Record<string, mx.Array> {
  return loadSync(tinyQwen3Expected(kind).tensors).arrays;
}

/** max |a - b| as a number. */
export function maxAbsDiff(a: mx.Array, b: mx.Array): number {
  return mx.tidy(() => mx.max(mx.abs(mx.subtract(mx.astype(a, 'float32'), mx.astype(b, 'float32')))).item() as number);
}

/** `[rows]` int32 token ids, left-padded with `pad` to the longest row. */
export function leftPad(rows: number[][], pad = 0): { ids: mx.Array; padding: number[] } {
  const width = Math.max(...rows.map((r) => r.length));
  const padding = rows.map((r) => width - r.length);
  return {
    ids: mx.array(
      rows.map((r, i) => [...Array(padding[i]).fill(pad), ...r]),
      'int32',
    ),
    padding,
  };
}
