/**
 * Function transforms over JS functions: `grad`, `valueAndGrad`, `vjp`, `jvp`, `vmap`,
 * `compile`. Arguments and results may be arrays nested in plain objects and lists. The user's
 * exceptions inside a transformed function are rethrown unchanged after MLX unwinds.
 */
import { Array, wrap } from './array.js';
import { type NativeArray, native } from './native.js';
import { getRandomState, restoreRandomState, saveRandomState, setRandomState } from './ops/random.js';
import { moveaxis } from './ops/shape.js';
import { fillSkeleton, isLeafSkeleton, treeFlatten, treeSignature, treeSkeleton, treeUnflatten } from './tree.js';

// biome-ignore lint: transforms accept any function
type Fn = (...args: any[]) => any;

/** Runs a native transform; if the traced JS function threw, rethrows that exception. */
function runTraced<T>(call: (flat: (xs: NativeArray[]) => NativeArray[] | null) => T, body: (xs: NativeArray[]) => NativeArray[]): T {
  let failed = false;
  let error: unknown;
  const flat = (xs: NativeArray[]) => {
    try {
      return body(xs);
    } catch (e) {
      failed = true;
      error = e;
      return null;
    }
  };
  try {
    return call(flat);
  } catch (e) {
    if (failed) throw error;
    throw e;
  }
}

function checkFn(fn: unknown, what: string): asserts fn is Fn {
  if (typeof fn !== 'function') throw new TypeError(`${what}: expected a function, got ${typeof fn}`);
}

function argnumList(argnums: number | number[], what: string): number[] {
  const nums = typeof argnums === 'number' ? [argnums] : argnums;
  if (!globalThis.Array.isArray(nums) || nums.length === 0 || !nums.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new TypeError(`${what}: argnums must be a non-negative integer or a non-empty list of them`);
  }
  if (new Set(nums).size !== nums.length) throw new TypeError(`${what}: argnums has duplicates`);
  return nums;
}

/**
 * Returns a function computing `[value, grads]` of `fn`. `fn` returns the scalar loss, or a
 * list whose first element is the loss (the rest is carried along, not differentiated).
 * `grads` has the structure of argument `argnums` (or a list of them when `argnums` is a list).
 *
 * @example
 * const [loss, g] = mx.valueAndGrad((w) => mx.sum(mx.square(mx.matmul(x, w))))(w0);
 */
export function valueAndGrad<F extends Fn>(fn: F, argnums: number | number[] = 0) {
  checkFn(fn, 'valueAndGrad');
  const nums = argnumList(argnums, 'valueAndGrad');
  // biome-ignore lint/suspicious/noExplicitAny: the gradients mirror whichever arguments `argnums` picks at run time, which a type cannot follow; callers index them freely
  return (...args: Parameters<F>): [ReturnType<F>, any] => {
    for (const n of nums) {
      if (n >= args.length) throw new TypeError(`valueAndGrad: argnum ${n} is out of range for ${args.length} argument(s)`);
    }
    const segs = nums.map((n) => {
      const leaves = treeFlatten(args[n]);
      if (leaves.length === 0) throw new TypeError(`valueAndGrad: argument ${n} holds no arrays to differentiate`);
      return leaves;
    });
    const inputs = segs.flat().map((a) => a.handle);
    let outSkeleton: unknown;
    const [vals, grads] = runTraced(
      (flat) =>
        native.valueAndGrad(
          flat,
          inputs,
          inputs.map((_, i) => i),
        ),
      (xs) => {
        const newArgs = [...args];
        let off = 0;
        nums.forEach((n, k) => {
          newArgs[n] = treeUnflatten(args[n], xs.slice(off, off + segs[k].length).map(wrap));
          off += segs[k].length;
        });
        const out = fn(...newArgs);
        const first = globalThis.Array.isArray(out) ? out[0] : out;
        if (!(first instanceof Array)) {
          throw new TypeError('valueAndGrad: fn must return an array (the loss) or a list whose first element is the loss');
        }
        outSkeleton = treeSkeleton(out);
        return treeFlatten(out).map((a) => a.handle);
      },
    );
    const value = fillSkeleton(outSkeleton, vals.map(wrap)) as ReturnType<F>;
    let off = 0;
    const trees = nums.map((n, k) => {
      const t = treeUnflatten(args[n], grads.slice(off, off + segs[k].length).map(wrap));
      off += segs[k].length;
      return t;
    });
    return [value, typeof argnums === 'number' ? trees[0] : trees];
  };
}

/** Returns a function computing the gradient(s) of `fn` (see `valueAndGrad`). */
export function grad<F extends Fn>(fn: F, argnums: number | number[] = 0) {
  const vg = valueAndGrad(fn, argnums);
  return (...args: Parameters<F>) => vg(...args)[1];
}

function outputsOf(out: unknown, what: string): Array[] {
  const list = out instanceof Array ? [out] : out;
  if (!globalThis.Array.isArray(list) || !list.every((a) => a instanceof Array)) {
    throw new TypeError(`${what}: fn must return an array or a list of arrays`);
  }
  return list as Array[];
}

function arrayList(v: unknown, what: string): Array[] {
  if (!globalThis.Array.isArray(v) || !v.every((a) => a instanceof Array)) {
    throw new TypeError(`${what} must be a list of arrays`);
  }
  return v as Array[];
}

/** `[outputs, vjps]`: `fn(...primals)` and the cotangents pulled back through it. */
export function vjp(fn: Fn, primals: Array[], cotangents: Array[]): [Array[], Array[]] {
  checkFn(fn, 'vjp');
  const p = arrayList(primals, 'vjp: primals').map((a) => a.handle);
  const c = arrayList(cotangents, 'vjp: cotangents').map((a) => a.handle);
  const [outs, vjps] = runTraced(
    (flat) => native.vjp(flat, p, c),
    (xs) => outputsOf(fn(...xs.map(wrap)), 'vjp').map((a) => a.handle),
  );
  return [outs.map(wrap), vjps.map(wrap)];
}

/** `[outputs, jvps]`: `fn(...primals)` and the tangents pushed forward through it. */
export function jvp(fn: Fn, primals: Array[], tangents: Array[]): [Array[], Array[]] {
  checkFn(fn, 'jvp');
  const p = arrayList(primals, 'jvp: primals').map((a) => a.handle);
  const t = arrayList(tangents, 'jvp: tangents').map((a) => a.handle);
  const [outs, jvps] = runTraced(
    (flat) => native.jvp(flat, p, t),
    (xs) => outputsOf(fn(...xs.map(wrap)), 'jvp').map((a) => a.handle),
  );
  return [outs.map(wrap), jvps.map(wrap)];
}

type Axis = number | null;

/**
 * Vectorizes `fn` over an axis of its inputs. `inAxes`: one axis (or `null`, not mapped) for
 * every argument, or one per argument (applied to all arrays inside that argument). `outAxes`:
 * one axis for every output, or one per output array.
 */
export function vmap<F extends Fn>(fn: F, inAxes: Axis | Axis[] = 0, outAxes: number | number[] = 0) {
  checkFn(fn, 'vmap');
  let knownOutputs = -1;
  return (...args: Parameters<F>): ReturnType<F> => {
    const perArg = globalThis.Array.isArray(inAxes) ? inAxes : args.map(() => inAxes);
    if (perArg.length !== args.length) {
      throw new TypeError(`vmap: got ${perArg.length} in_axes for ${args.length} argument(s)`);
    }
    const leaves = args.map((a) => treeFlatten(a));
    const inputs = leaves.flat().map((a) => a.handle);
    // The native vmap uses -1 for "not mapped": negative axes (which Python MLX accepts) are
    // made positive here, or a -1 would silently leave an argument unmapped.
    const flatAxes = leaves.flatMap((ls, i) => ls.map((leaf) => inAxisFor(perArg[i], leaf.ndim)));
    let outSkeleton: unknown;
    let outCount = -1;
    const call = (outs: number[]) =>
      runTraced(
        (flat) => native.vmap(flat, inputs, flatAxes, outs),
        (xs) => {
          let off = 0;
          const newArgs = args.map((a, i) => {
            const part = xs.slice(off, off + leaves[i].length).map(wrap);
            off += leaves[i].length;
            return treeUnflatten(a, part);
          });
          const out = fn(...newArgs);
          outSkeleton = treeSkeleton(out);
          const flat = treeFlatten(out);
          outCount = flat.length;
          return flat.map((a) => a.handle);
        },
      );
    // Negative out axes count from the end of the batched output, whose rank the native side
    // cannot know in advance: map those outputs to axis 0 and move the axis afterwards.
    const requested = (n: number) => (typeof outAxes === 'number' ? globalThis.Array.from({ length: n }, () => outAxes) : outAxes);
    const outList = (n: number) => requested(n).map((ax) => (Number.isInteger(ax) && ax < 0 ? 0 : ax));
    let result: NativeArray[];
    try {
      result = call(outList(knownOutputs > 0 ? knownOutputs : 1));
    } catch (e) {
      // A single out axis stands for every output; learn their number from the trace and retry.
      if (typeof outAxes !== 'number' || outCount <= 1 || outCount === knownOutputs) throw e;
      knownOutputs = outCount;
      result = call(outList(outCount));
    }
    if (outCount > 0) knownOutputs = outCount;
    const want = requested(result.length);
    const outs = result.map((h, k) => {
      const a = wrap(h);
      if (!(want[k] < 0)) return a;
      const moved = moveaxis(a, 0, want[k]);
      a.dispose();
      return moved;
    });
    return fillSkeleton(outSkeleton, outs) as ReturnType<F>;
  };
}

function inAxisFor(axis: Axis | undefined, ndim: number): number {
  if (axis === null || axis === undefined) return -1;
  if (!Number.isInteger(axis)) throw new TypeError(`vmap: in_axes must be integers or null, got ${JSON.stringify(axis)}`);
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new TypeError(`vmap: in_axes ${axis} is out of range for an input with ${ndim} dimension(s)`);
  return a;
}

/** Whether every argument is an array (the common case: a cheap cache key, no JSON). */
function allArrays(args: unknown[]): boolean {
  for (const a of args) if (!(a instanceof Array)) return false;
  return true;
}

let nextCompileId = 1;
const compiledCaches = new FinalizationRegistry<number[]>((ids) => {
  for (const id of ids) native.compileErase(id);
});

export interface CompileOptions {
  /** Reuse one compiled graph for all input shapes (only for shape-independent functions). */
  shapeless?: boolean;
}

/**
 * Compiles `fn` into a fused graph that MLX caches per input shapes and dtypes, so later calls
 * skip tracing. Arrays that `fn` reads from its closure are captured as constants (pass
 * changing state as arguments). Random draws inside `fn` advance the global key exactly as the
 * uncompiled function would; non-array arguments are part of the cache key.
 */
export function compile<F extends Fn>(fn: F, options: CompileOptions = {}): F {
  checkFn(fn, 'compile');
  const shapeless = options.shapeless ?? false;
  const ids = new Map<string, number>();
  const idList: number[] = [];
  const skeletons = new Map<number, unknown>();
  // Graphs whose trace drew no random numbers: their key output is the key input, so the
  // global key is left as it is instead of being replaced by an identical new handle.
  const randomFree = new Set<number>();
  // The call in progress, read by `traced` when MLX traces (a cache miss). The traced function
  // is made once here rather than per call: a compiled call is on the per-token path.
  let callArgs: unknown[] = [];
  let callId = 0;
  let failed = false;
  let error: unknown;
  const traced = (xs: NativeArray[]): NativeArray[] | null => {
    const outer = saveRandomState();
    try {
      setRandomState(xs[0]);
      const out = fn(...treeUnflatten(callArgs, xs.slice(1).map(wrap)));
      skeletons.set(callId, treeSkeleton(out));
      const key = getRandomState();
      if (key === xs[0]) randomFree.add(callId);
      else randomFree.delete(callId);
      return [key, ...treeFlatten(out).map((a) => a.handle)];
    } catch (e) {
      failed = true;
      error = e;
      return null;
    } finally {
      restoreRandomState(outer);
    }
  };
  const compiled = (...args: Parameters<F>): ReturnType<F> => {
    const inputs = [getRandomState()];
    let signature: string;
    if (allArrays(args)) {
      signature = `#${args.length}`; // JSON never starts with '#'
      for (const a of args as Array[]) inputs.push(a.handle);
    } else {
      signature = treeSignature(args);
      for (const a of treeFlatten(args)) inputs.push(a.handle);
    }
    let id = ids.get(signature);
    if (id === undefined) {
      id = nextCompileId++;
      ids.set(signature, id);
      idList.push(id);
    }
    const [prevArgs, prevId] = [callArgs, callId];
    callArgs = args;
    callId = id;
    failed = false;
    let outs: NativeArray[];
    try {
      outs = native.compileCall(traced, id, shapeless, inputs);
    } catch (e) {
      if (failed) {
        const userError = error;
        error = undefined;
        throw userError;
      }
      throw e;
    } finally {
      callArgs = prevArgs;
      callId = prevId;
    }
    if (randomFree.has(id)) native.release(outs[0]);
    else setRandomState(outs[0]);
    const skeleton = skeletons.get(id);
    if (isLeafSkeleton(skeleton)) return wrap(outs[1]) as ReturnType<F>;
    return fillSkeleton(skeleton, outs.slice(1).map(wrap)) as ReturnType<F>;
  };
  compiledCaches.register(compiled, idList);
  return compiled as F;
}

/** Turns compilation off (or back on) globally; compiled functions then run eagerly. */
export function setCompileEnabled(enabled: boolean): void {
  native.setCompileEnabled(enabled);
}
