/**
 * Trees of arrays: arrays nested in plain objects and JS lists, as MLX's Python tree utilities
 * treat dicts, lists and tuples. Transforms flatten argument trees to a list of arrays and
 * rebuild results with the same structure.
 */
import { Array } from './array.js';

/** The arrays in a tree, in a stable order (object keys in insertion order). */
export function treeFlatten(tree: unknown): Array[] {
  const out: Array[] = [];
  visit(tree, (a) => out.push(a));
  return out;
}

function visit(tree: unknown, f: (a: Array) => void): void {
  if (tree instanceof Array) f(tree);
  else if (globalThis.Array.isArray(tree)) for (const t of tree) visit(t, f);
  else if (isPlainObject(tree)) for (const v of Object.values(tree)) visit(v, f);
}

/** Rebuilds `tree` with its arrays replaced, in flatten order, by `leaves`. */
export function treeUnflatten<T>(tree: T, leaves: Array[]): T {
  let i = 0;
  const build = (t: unknown): unknown => {
    if (t instanceof Array) {
      if (i >= leaves.length) throw new Error('treeUnflatten: not enough leaves');
      return leaves[i++];
    }
    if (globalThis.Array.isArray(t)) return t.map(build);
    // fromEntries defines keys: an own '__proto__' key (from JSON or a null-prototype
    // record) stays data instead of replacing the new object's prototype.
    if (isPlainObject(t)) return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, build(v)]));
    return t;
  };
  const out = build(tree) as T;
  if (i !== leaves.length) throw new Error(`treeUnflatten: ${leaves.length - i} leaves left over`);
  return out;
}

/** Applies `f` to every array of a tree (other leaves are kept). */
export function treeMap<T>(tree: T, f: (a: Array) => Array): T {
  return treeUnflatten(tree, treeFlatten(tree).map(f));
}

/** `[dotted.path, array]` pairs: `{ layers: [{ w }] }` gives `layers.0.w`. */
export function treeFlattenWithPaths(tree: unknown, prefix = ''): [string, Array][] {
  const out: [string, Array][] = [];
  const walk = (t: unknown, path: string) => {
    if (t instanceof Array) out.push([path, t]);
    else if (globalThis.Array.isArray(t))
      t.forEach((v, i) => {
        walk(v, path ? `${path}.${i}` : `${i}`);
      });
    else if (isPlainObject(t)) for (const [k, v] of Object.entries(t)) walk(v, path ? `${path}.${k}` : k);
  };
  walk(tree, prefix);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A JSON-like description of a tree's non-array leaves and shape, for cache keys. */
export function treeSignature(tree: unknown): string {
  return JSON.stringify(tree, (_k, v) => {
    if (v instanceof Array) return '\u0000array';
    if (typeof v === 'bigint') return `${v}n`;
    if (typeof v === 'function') return '\u0000fn';
    return v;
  });
}

const LEAF = Symbol('leaf');

/** The structure of a tree with its arrays replaced by a marker (holds no native memory). */
export function treeSkeleton(tree: unknown): unknown {
  if (tree instanceof Array) return LEAF;
  if (globalThis.Array.isArray(tree)) return tree.map(treeSkeleton);
  if (isPlainObject(tree)) return Object.fromEntries(Object.entries(tree).map(([k, v]) => [k, treeSkeleton(v)]));
  return tree;
}

/** Whether a skeleton is one bare array (the common result shape, filled without a walk). */
export function isLeafSkeleton(skeleton: unknown): boolean {
  return skeleton === LEAF;
}

/** Fills a skeleton's markers with `leaves`, in flatten order. */
export function fillSkeleton(skeleton: unknown, leaves: Array[]): unknown {
  let i = 0;
  const build = (t: unknown): unknown => {
    if (t === LEAF) return leaves[i++];
    if (globalThis.Array.isArray(t)) return t.map(build);
    if (isPlainObject(t)) return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, build(v)]));
    return t;
  };
  return build(skeleton);
}
