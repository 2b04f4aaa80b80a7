/**
 * Walks over parameter and gradient trees (nested objects and lists of arrays, as `Module.parameters()`
 * gives them) that keep their structure: the trainers cast, sum and free whole trees at a time.
 */
import * as mx from '@mlxn/core';

/** `tree` with `fn` applied to each array (given its dotted path); the structure is kept. */
export function mapTree<T>(tree: T, fn: (a: mx.Array, path: string) => mx.Array, prefix = ''): T {
  if (tree instanceof mx.Array) return fn(tree, prefix) as T;
  if (Array.isArray(tree)) return tree.map((v, i) => mapTree(v, fn, prefix ? `${prefix}.${i}` : `${i}`)) as T;
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = mapTree(v, fn, prefix ? `${prefix}.${k}` : k);
    return out as T;
  }
  return tree;
}

/** `fn` of the arrays at the same places of two trees of one structure. */
export function zipTrees<T>(a: T, b: T, fn: (x: mx.Array, y: mx.Array) => mx.Array): T {
  if (a instanceof mx.Array) return fn(a, b as mx.Array) as T;
  if (Array.isArray(a)) return a.map((v, i) => zipTrees(v, (b as unknown[])[i], fn)) as T;
  if (a !== null && typeof a === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) out[k] = zipTrees(v, (b as Record<string, unknown>)[k], fn);
    return out as T;
  }
  return a;
}

/** Disposes the arrays of `tree` that are not in `keep`. */
export function disposeExcept(tree: unknown, keep: unknown): void {
  const kept = new Set(mx.treeFlattenWithPaths(keep).map(([, a]) => a));
  for (const [, a] of mx.treeFlattenWithPaths(tree)) if (!kept.has(a)) a.dispose();
}
