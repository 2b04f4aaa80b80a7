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

/** A weight's checkpoint name with its shape. */
export interface NamedShape {
  name: string;
  shape: number[];
}

/** Compares expected and provided weights (mlxn-nn); throws only for a name given twice. */
export function checkWeights(expected: NamedShape[], provided: NamedShape[], strict: boolean): { ok: boolean; message: string } {
  return native.nnCheckWeights(expected, provided, strict);
}
