// Checks an optimizer state read from a file before it replaces the optimizer's own: a state
// file is untrusted, and a wrong-shaped or NaN moment or an absurd step count would otherwise be
// accepted silently and surface (if ever) as a broken training run much later.
import * as mx from '@mlxn/core';
import type { ParamState } from './optimizer.js';

export interface StateCheckOptions {
  /**
   * The parameter tree the state is for (e.g. `model.trainableParameters()`): every per-parameter
   * entry must belong to one of them and have the shape and dtype the optimizer gives it, and
   * (once the step count is past 0) every parameter must have its state.
   */
  parameters?: unknown;
  /** The step count the state must have (e.g. the optimizer updates a trainer has done). */
  step?: number;
}

/** The largest step count accepted (integers above 2^53 are not exact in JavaScript). */
const MAX_STEP = Number.MAX_SAFE_INTEGER;

/**
 * Throws an Error naming `path` and the entry when `flat` (entry name → array, as in a state
 * file) is not a sound state. `expected(p)` gives the state the optimizer would create for
 * parameter `p` (arrays are lazy: nothing is computed for it).
 */
export function checkOptimizerState(
  path: string,
  name: string,
  flat: Record<string, mx.Array>,
  expected: (parameter: mx.Array) => ParamState,
  scalars: ReadonlySet<string>,
  options: StateCheckOptions,
): void {
  const bad = (entry: string, why: string) => new Error(`${path}: invalid ${name} state: '${entry}' ${why}`);
  const step = flat.step;
  if (!(step instanceof mx.Array)) throw new Error(`${path}: not an optimizer state (no 'step' tensor)`);
  if (step.ndim !== 0 || !mx.isInteger(step.dtype))
    throw bad('step', `must be an integer scalar, got ${step.dtype} of shape [${step.shape.join(', ')}]`);
  const stepValue = Number(step.item());
  if (!Number.isSafeInteger(stepValue) || stepValue < 0 || stepValue > MAX_STEP)
    throw bad('step', `must be a count of updates, got ${stepValue}`);
  if (options.step !== undefined && stepValue !== options.step) {
    throw bad('step', `is ${stepValue}, but ${options.step} updates were made (the state belongs to another run or step)`);
  }

  // Every array must hold finite numbers: one pass, all arrays evaluated together.
  const checked = Object.entries(flat).filter(([, a]) => mx.isInexact(a.dtype));
  const finite = checked.map(([, a]) => mx.all(mx.isfinite(a)));
  try {
    mx.eval(...finite);
    checked.forEach(([k], i) => {
      if (!finite[i].item()) throw bad(k, 'holds NaN or infinite values');
    });
  } finally {
    mx.dispose(finite);
  }

  for (const [k, a] of Object.entries(flat)) {
    if (k.includes('.')) continue;
    if (k !== 'step' && !scalars.has(k)) throw bad(k, 'is not an entry of this optimizer');
    if (a.ndim !== 0) throw bad(k, `must be a scalar, got shape [${a.shape.join(', ')}]`);
  }
  if (options.parameters === undefined) return;

  const params = new Map(mx.treeFlattenWithPaths(options.parameters));
  const byParam = new Map<string, Map<string, mx.Array>>();
  for (const [k, a] of Object.entries(flat)) {
    const dot = k.lastIndexOf('.');
    if (dot < 0) continue;
    const owner = k.slice(0, dot);
    if (!params.has(owner)) throw bad(k, 'belongs to no trainable parameter of the model');
    let m = byParam.get(owner);
    if (m === undefined) {
      m = new Map();
      byParam.set(owner, m);
    }
    m.set(k.slice(dot + 1), a);
  }
  for (const [p, value] of params) {
    const got = byParam.get(p);
    if (got === undefined) {
      if (stepValue > 0) throw bad(`${p}.*`, `is missing: the state has ${stepValue} updates but none for this parameter`);
      continue;
    }
    const want = expected(value);
    try {
      for (const [s, w] of Object.entries(want)) {
        const g = got.get(s);
        if (g === undefined) throw bad(`${p}.${s}`, 'is missing');
        if (g.dtype !== w.dtype) throw bad(`${p}.${s}`, `has dtype ${g.dtype}, expected ${w.dtype}`);
        if (g.shape.length !== w.shape.length || g.shape.some((d, i) => d !== w.shape[i])) {
          throw bad(
            `${p}.${s}`,
            `has shape [${g.shape.join(', ')}], expected [${w.shape.join(', ')}] (parameter shape [${value.shape.join(', ')}])`,
          );
        }
      }
      for (const s of got.keys()) if (!(s in want)) throw bad(`${p}.${s}`, 'is not an entry this optimizer keeps');
    } finally {
      mx.dispose(Object.values(want));
    }
  }
}
