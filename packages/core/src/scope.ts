/**
 * Explicit memory management: `tidy(fn)` disposes every array created inside `fn` except the
 * ones it returns (or that were `keep`-ed). The GC finalizer is only a backstop: native memory
 * is reported to V8, but deterministic release is what keeps long loops flat.
 */
import type { Array } from './array.js';
import { type NativeArray, native } from './native.js';

/** Frees many arrays with one native call (a release per array costs about as much as an op). */
function disposeAll(arrays: Iterable<Array>, skip: (a: Array) => boolean): void {
  const handles: NativeArray[] = [];
  for (const a of arrays) {
    if (skip(a)) continue;
    const h = a.detachHandle();
    if (h !== null) handles.push(h);
  }
  if (handles.length > 0) native.releaseMany(handles);
}

// A scope is a plain list (a push per op is the cheapest record); each array notes the scope
// that owns it in `a.scope`, so membership checks and `keep` need no search.
type Scope = Array[];
const scopes: Scope[] = [];

/**
 * The `scope` of an array claimed with `keep`: never an open scope, so no `tidy` disposes it, and
 * library code that frees arrays it owns (an optimizer replacing parameters) leaves it alone.
 */
export const KEPT: Scope = Object.freeze([]) as unknown as Scope;

/** Called for every array handed to user code; false when no `tidy` scope is open. */
export function track(a: Array): boolean {
  const top = scopes[scopes.length - 1];
  if (top === undefined) return false;
  top.push(a);
  a.scope = top;
  return true;
}

/**
 * Runs `fn` and disposes the arrays it created, except those in its result (any nesting of
 * arrays and plain objects) and those passed to `keep`. Nested tidies hand their results to the
 * enclosing scope. `fn` must be synchronous.
 *
 * @example
 * const y = mx.tidy(() => mx.add(mx.square(x), 1)); // the square is freed, y survives
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    disposeAll(scope, (a) => a.scope !== scope);
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    disposeAll(scope, (a) => a.scope !== scope);
    throw new TypeError('tidy(fn): fn must be synchronous (it returned a Promise)');
  }
  const survivors = new Set<Array>();
  collectArrays(result, survivors);
  const parent = scopes[scopes.length - 1];
  for (const a of survivors) {
    if (a.scope !== scope) continue; // made outside this scope, or kept
    if (parent !== undefined) {
      parent.push(a);
      a.scope = parent;
    } else {
      a.scope = null;
      a.finalizeWhenCollected(); // it now outlives every scope: the GC backstop takes over
    }
  }
  disposeAll(scope, (a) => a.scope !== scope);
  return result;
}

/**
 * Claims arrays for the caller: no enclosing `tidy` disposes them, and neither does library code
 * that frees the arrays it owns (an optimizer freeing the parameters it replaces). Dispose them
 * yourself (`dispose`) or leave them to the garbage collector. Returns its argument.
 */
export function keep<T>(value: T): T {
  const found = new Set<Array>();
  collectArrays(value, found);
  for (const a of found) a.claim();
  return value;
}

/** Disposes every array in a value (an array, or arrays nested in plain objects and lists). */
export function dispose(value: unknown): void {
  const found = new Set<Array>();
  collectArrays(value, found);
  for (const a of found) a.dispose();
}

let ArrayClass: (new (...args: never[]) => Array) | undefined;
export function registerArrayClass(c: new (...args: never[]) => Array): void {
  ArrayClass = c;
}

function collectArrays(value: unknown, out: Set<Array>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 64) return;
  if (ArrayClass && value instanceof ArrayClass) {
    out.add(value);
    return;
  }
  if (globalThis.Array.isArray(value)) {
    for (const v of value) collectArrays(v, out, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectArrays(v, out, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectArrays(v, out, depth + 1);
  }
}
