/**
 * q/k/v and gate/up weights held as one stacked array each, so a decode step runs one matmul
 * for each group instead of three and two.
 *
 * On a GPU, the host time MLX spends encoding a matmul is several times that of an element-wise
 * kernel (cuBLAS setup, a graph node), and a Qwen3 layer has seven of them: measured with
 * tooling/bench/gpu/probe_decode.py on an H200, mlx-lm's own model encodes a batch-64 decode
 * step about 20% faster with these two groups fused. Stacking copies weights, so to keep memory
 * flat the stacked array becomes the storage: each projection's parameter moves into a view of
 * its rows (a slice that shares the stacked buffer). The parameter objects themselves stay, so
 * the parameter tree keeps the checkpoint's layout, names and values, and a reference a user
 * holds to a weight stays valid (generating on a GPU must not dispose arrays a CPU run keeps).
 * `native-forward.ts` uses the stacked arrays for decode steps (one token per row, with caches;
 * training and scoring keep separate matmuls, whose rounding must not depend on what ran before,
 * and prompts amortise the kernels anyway), and only while the projections still hold exactly
 * those arrays: once anything replaces a parameter (an optimizer step, `update`, loading
 * weights) the layer falls back to separate matmuls until `fuseProjections` runs again
 * (`Qwen3.makeCache` calls it, so every generation does).
 */
import * as mx from '@mlxn/core';
import { Linear, QuantizedLinear } from '@mlxn/nn';

/** The array fields a projection of one kind stacks (same order as the native description). */
type Field = 'weight' | 'scales' | 'biases' | 'bias';
const FIELDS: readonly Field[] = ['weight', 'scales', 'biases', 'bias'];

/** A stacked group: its arrays by field, and the views each member projection must still hold. */
export interface FusedGroup {
  readonly kind: 'linear' | 'quantized';
  readonly stacked: Readonly<Partial<Record<Field, mx.Array>>>;
  readonly members: readonly Linear[] | readonly QuantizedLinear[];
  readonly views: ReadonlyArray<Readonly<Partial<Record<Field, mx.Array>>>>;
}

const groups = new WeakMap<object, FusedGroup>();

function fieldsOf(p: Linear | QuantizedLinear): Partial<Record<Field, mx.Array>> {
  const out: Partial<Record<Field, mx.Array>> = {};
  for (const f of FIELDS) {
    const a = (p as unknown as Record<string, unknown>)[f];
    if (a instanceof mx.Array) out[f] = a;
  }
  return out;
}

/** The stacked group of `owner` when its projections still hold exactly its views, else undefined. */
export function fusedGroup(owner: object, projections: readonly unknown[]): FusedGroup | undefined {
  const g = groups.get(owner);
  if (g === undefined || g.members.length !== projections.length) return undefined;
  for (let i = 0; i < projections.length; i++) {
    const p = projections[i] as Record<string, unknown>;
    if ((p as object) !== g.members[i]) return undefined;
    const v = g.views[i];
    for (const f of FIELDS) if (p[f] !== v[f]) return undefined;
  }
  return g;
}

/** Whether `projections` can share one matmul: the same exact class, settings, dtypes and input size. */
function stackable(projections: readonly unknown[]): 'linear' | 'quantized' | undefined {
  const first = projections[0];
  const cls = (first as object | null)?.constructor;
  if (cls !== Linear && cls !== QuantizedLinear) return undefined;
  const shapeOf = (a: mx.Array | undefined) => (a === undefined ? undefined : a.shape.slice(1).join(','));
  const f0 = fieldsOf(first as Linear);
  for (const p of projections) {
    if ((p as object).constructor !== cls || Object.hasOwn(p as object, 'forward')) return undefined;
    const f = fieldsOf(p as Linear);
    for (const k of FIELDS) {
      const a = f[k];
      const a0 = f0[k];
      if ((a === undefined) !== (a0 === undefined)) return undefined;
      if (a !== undefined && a0 !== undefined && (a.dtype !== a0.dtype || shapeOf(a) !== shapeOf(a0))) return undefined;
    }
    if (cls === QuantizedLinear) {
      const q = p as QuantizedLinear;
      const q0 = first as QuantizedLinear;
      if (q.groupSize !== q0.groupSize || q.bits !== q0.bits || q.mode !== q0.mode) return undefined;
    }
  }
  return cls === Linear ? 'linear' : 'quantized';
}

/**
 * Stacks `projections` (owned by `owner`) into one group unless they already are one, moving
 * each parameter's storage into a view of the stacked array. Returns whether it stacked.
 */
function fuse(owner: object, projections: readonly unknown[]): boolean {
  if (fusedGroup(owner, projections) !== undefined) return false;
  // A stale group's stacked arrays are ours: their handles go now (views still in use keep the
  // buffer alive); waiting for the garbage collector could hold a copy of the weights.
  const stale = groups.get(owner);
  if (stale !== undefined) {
    groups.delete(owner);
    for (const a of Object.values(stale.stacked)) a.dispose();
  }
  const kind = stackable(projections);
  if (kind === undefined) return false;
  const members = projections as Linear[];
  const stacked: Partial<Record<Field, mx.Array>> = {};
  const views: Partial<Record<Field, mx.Array>>[] = members.map(() => ({}));
  for (const f of FIELDS) {
    const found = members.map((p) => fieldsOf(p)[f]);
    if (found[0] === undefined) continue;
    // canFuse checked that every member has the field when the first has it.
    const parts = found as mx.Array[];
    const all = mx.concatenate(parts, 0);
    all.untrack();
    stacked[f] = all;
    let at = 0;
    const cuts = parts.slice(0, -1).map((a) => {
      at += a.shape[0];
      return at;
    });
    const pieces = mx.split(all, cuts, 0);
    members.forEach((_p, i) => {
      // The old buffer stays alive in the stacked array's graph until that is evaluated.
      parts[i].adoptStorage(pieces[i]);
      views[i][f] = parts[i];
    });
  }
  groups.set(owner, { kind, stacked, members, views });
  return true;
}

/** What `fuseProjections` needs of a decoder layer (structural, so model.ts need not be imported). */
export interface FusableLayer {
  selfAttn: { qProj: unknown; kProj: unknown; vProj: unknown };
  mlp: unknown;
}

/**
 * Lays out each layer's q/k/v and (dense MLP) gate/up as stacked groups where they are not
 * already, evaluating each layer's new storage before the next so that memory peaks at the
 * weights plus one layer's groups. Layers with LoRA, replaced projections or mixed settings are
 * left as they are.
 */
export function fuseProjections(layers: readonly FusableLayer[]): void {
  for (const layer of layers) {
    const a = layer.selfAttn;
    let changed = fuse(a, [a.qProj, a.kProj, a.vProj]);
    const mlp = layer.mlp as { gateProj?: unknown; upProj?: unknown } | null;
    if (mlp && mlp.gateProj !== undefined && mlp.upProj !== undefined) changed = fuse(mlp, [mlp.gateProj, mlp.upProj]) || changed;
    if (!changed) continue;
    const made: mx.Array[] = [];
    for (const owner of [a, mlp]) {
      const g = owner ? groups.get(owner) : undefined;
      if (g) made.push(...Object.values(g.stacked));
    }
    // Evaluating the stacked arrays detaches their graphs, which release the old buffers.
    mx.eval(made);
  }
}
