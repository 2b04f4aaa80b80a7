/**
 * Checkpoint keys ↔ property paths (crate mlxn-nn). Module property names mirror checkpoint
 * keys segment by segment (`selfAttn.qProj` ↔ `self_attn.q_proj`), so weights load by tree path.
 */
import { native } from '@mlxn/core/internal';

const toKey = new Map<string, string>();

/** `qProj` → `q_proj` for one path segment (memoised; the conversion lives in mlxn-nn). */
export function checkpointSegment(segment: string): string {
  let k = toKey.get(segment);
  if (k === undefined) {
    k = native.nnCheckpointKey(segment);
    toKey.set(segment, k);
  }
  return k;
}

/** Dotted property path → checkpoint key: `layers.0.selfAttn.qProj.weight` → `layers.0.self_attn.q_proj.weight`. */
export function checkpointKey(path: string): string {
  return path.split('.').map(checkpointSegment).join('.');
}

/** Checkpoint key → dotted property path (the inverse of `checkpointKey`). */
export function propertyPath(key: string): string {
  return native.nnPropertyPath(key);
}

export interface WeightReport {
  ok: boolean;
  message: string;
  missing: string[];
  unexpected: string[];
  mismatched: [string, number[], number[]][];
}

/** Compares expected and provided `[name, shape]` lists (mlxn-nn); never throws for mismatches. */
export function checkWeights(expected: [string, number[]][], provided: [string, number[]][], strict: boolean): WeightReport {
  return JSON.parse(native.nnCheckWeights(JSON.stringify(expected), JSON.stringify(provided), strict)) as WeightReport;
}
