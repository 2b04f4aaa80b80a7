/** Counting helpers of the decode breakdown (tooling/bench/decode-breakdown.ts). */
import type * as mx from '@mlxn/core';
import { handleOf, native } from '@mlxn/core/internal';

/** Counts every call into the native binding until `stop()`, which restores it and returns the count. */
export function countNativeCalls(): { stop(): number } {
  const binding = native as unknown as Record<string, unknown>;
  const saved = new Map<string, (...args: unknown[]) => unknown>();
  let calls = 0;
  for (const [name, fn] of Object.entries(binding)) {
    if (typeof fn !== 'function' || /^[A-Z]/.test(name)) continue; // classes stay as they are
    const original = fn as (...args: unknown[]) => unknown;
    saved.set(name, original);
    binding[name] = (...args: unknown[]) => {
      calls++;
      return original(...args);
    };
  }
  return {
    stop() {
      for (const [name, fn] of saved) binding[name] = fn;
      return calls;
    },
  };
}

/** The unevaluated graph behind `arrays`, as op counts by MLX primitive name. */
export function graphOps(arrays: readonly mx.Array[]): Record<string, number> {
  const out: Record<string, number> = Object.create(null);
  for (const line of native.graphOps(arrays.map((a) => handleOf(a))).split('\n')) {
    if (!line) continue;
    const [name, n] = line.split('\t');
    out[name] = Number(n);
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
