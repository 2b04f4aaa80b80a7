/**
 * Who frees an array, when a library call replaces it. JavaScript cannot count references, so
 * the rules are explicit (see the README's "Memory and ownership"):
 *
 * - A module owns the arrays in its tree. An optimizer's `update(model, grads)` disposes the
 *   parameters it replaces, unless they are still somewhere in the model or the user claimed
 *   them with `mx.keep`.
 * - An optimizer owns its state and disposes the state arrays it replaces (same exceptions).
 * - `Module.update(tree)` only assigns: it is also how code swaps parameters in and out.
 */
import * as mx from '@mlxn/core';

/**
 * Takes the arrays of `value` out of every enclosing `tidy` scope without claiming them (unlike
 * `mx.keep`), so the library may dispose them when it replaces them. Returns its argument.
 */
export function untrack<T>(value: T): T {
  for (const a of mx.treeFlatten(value)) a.untrack();
  return value;
}

/** Disposes each of `replaced` unless the user claimed it (`mx.keep`) or it is in `inUse`. */
export function disposeReplaced(replaced: Iterable<mx.Array>, inUse: ReadonlySet<mx.Array> = new Set()): void {
  for (const a of replaced) if (!a.kept && !inUse.has(a)) a.dispose();
}
