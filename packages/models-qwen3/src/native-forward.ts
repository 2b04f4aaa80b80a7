/**
 * The trunk of `Qwen3Model.forward` built in one native call (`qwen3Forward` in mlxn-qwen3).
 *
 * Building a decode step op by op from JS costs a few microseconds per op, about 1,500 ops for
 * Qwen3-0.6B: longer than a GPU takes to run the step. This file describes the network — its
 * parameters (by handle), settings and caches — in one `Float64Array`, and the Rust side
 * computes what the TypeScript layers compute, with fewer graph nodes (the parity tests hold
 * both paths to the same logits within 1e-5). The TypeScript classes stay the definition of the
 * network: whatever the
 * description cannot express exactly — a replaced or subclassed module, an instance `forward`,
 * MoE blocks, YaRN rope, active dropout, rotating or quantized caches — returns `undefined` and
 * the caller runs the TypeScript layers instead. Parameters are read from the modules on every
 * call, so updates, LoRA, freezing and tracing under `valueAndGrad` see the current arrays.
 */

import { BatchKVCache, type Cache, KVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { handleOf, native, quantizedProductNeedsDequantize, wrap } from '@mlxn/core/internal';
import { Dropout, Embedding, Linear, LoRALinear, QuantizedEmbedding, QuantizedLinear, RMSNorm, RoPE } from '@mlxn/nn';
import { type FusedGroup, fusedGroup } from './fused-projections.js';
import type { ForwardMask } from './model.js';

// Layout constants of crates/mlxn-qwen3/src/forward_desc.rs.
const VERSION = 4;
const HEADER_LEN = 13;
const PROJ_LEN = 11;
const NORM_LEN = 2;
const CACHE_LEN = 6;
const LAYER_LEN = 4 * NORM_LEN + 9 * PROJ_LEN + CACHE_LEN;
const MODES: Record<string, number> = { affine: 0, mxfp4: 1, nvfp4: 2, mxfp8: 3 };

let enabled = process.env.MLXN_NATIVE_FORWARD !== '0';

/**
 * Turns the native forward on or off for this process (on by default; `MLXN_NATIVE_FORWARD=0`
 * starts with it off). Off, `forward` always runs the TypeScript layers.
 *
 * @example
 * setNativeForward(false); // e.g. to compare against the TypeScript layers
 */
export function setNativeForward(on: boolean): void {
  enabled = on;
}

/** Whether `Qwen3Model.forward` may use the native forward (see `setNativeForward`). */
export function nativeForwardEnabled(): boolean {
  return enabled;
}

/** The shapes of the modules the description covers (structural, so model.ts need not be imported). */
interface AttentionLike {
  qProj: unknown;
  kProj: unknown;
  vProj: unknown;
  oProj: unknown;
  qNorm: unknown;
  kNorm: unknown;
  rope: unknown;
  readonly nHeads: number;
  readonly nKvHeads: number;
  readonly headDim: number;
  readonly scale: number;
}
interface LayerLike {
  selfAttn: AttentionLike;
  mlp: unknown;
  inputLayernorm: unknown;
  postAttentionLayernorm: unknown;
}
export interface NativeForwardModel {
  embedTokens: unknown;
  layers: LayerLike[];
  norm: unknown;
}
/** The exact classes a layer must have (its own, from model.ts). */
export interface LayerClasses {
  layer: Constructor;
  attention: Constructor;
  mlp: Constructor;
}

/** An instance of exactly `cls` whose `forward` is the class's own. */
/** Any class, whatever its constructor's arguments. */
type Constructor = abstract new (...args: never[]) => unknown;

function exactly(x: unknown, cls: Constructor): boolean {
  return typeof x === 'object' && x !== null && x.constructor === cls && !Object.hasOwn(x, 'forward');
}

let buffer = new Float64Array(0);

/**
 * Cache buffers this file made: their shapes and dtype follow from the model, so they skip the
 * fit check (reading a fresh array's shape is a native call, per layer and step).
 */
const madeHere = new WeakMap<mx.Array, string>();

class Writer {
  at = 0;
  constructor(readonly out: Float64Array) {}
  num(v: number): void {
    this.out[this.at++] = v;
  }
  arr(a: mx.Array | undefined | null): void {
    this.out[this.at++] = a == null ? -1 : handleOf(a);
  }
  norm(n: unknown): boolean {
    if (!exactly(n, RMSNorm)) return false;
    const r = n as RMSNorm;
    this.arr(r.weight);
    this.num(r.eps);
    return true;
  }
  proj(p: unknown): boolean {
    let base = p;
    let lora: LoRALinear | undefined;
    if (exactly(p, LoRALinear)) {
      lora = p as LoRALinear;
      const drop = lora.dropout;
      if (!exactly(drop, Dropout) || (drop.p !== 0 && drop.training)) return false;
      base = lora.linear;
    }
    const flag = lora ? 4 : 0;
    if (exactly(base, Linear)) {
      const l = base as Linear;
      this.num(1 + flag);
      this.arr(l.weight);
      this.num(-1);
      this.num(-1);
      this.arr(l.bias);
      this.num(0);
      this.num(0);
      this.num(0);
    } else if (exactly(base, QuantizedLinear)) {
      const q = base as QuantizedLinear;
      const mode = MODES[q.mode];
      if (mode === undefined || quantizedProductNeedsDequantize(q.weight, q)) return false;
      this.num(2 + flag);
      this.arr(q.weight);
      this.arr(q.scales);
      this.arr(q.biases);
      this.arr(q.bias);
      this.num(q.groupSize);
      this.num(q.bits);
      this.num(mode);
    } else {
      return false;
    }
    this.arr(lora?.loraA);
    this.arr(lora?.loraB);
    this.num(lora?.scale ?? 0);
    return true;
  }
  /** A stacked q/k/v or gate/up group (fused-projections.ts), or kind 0 when there is none. */
  fused(g: FusedGroup | undefined): void {
    if (g === undefined) {
      this.out.fill(0, this.at, this.at + PROJ_LEN);
      this.at += PROJ_LEN;
      return;
    }
    const s = g.stacked;
    this.num(g.kind === 'linear' ? 1 : 2);
    this.arr(s.weight);
    this.arr(s.scales);
    this.arr(s.biases);
    this.arr(s.bias);
    if (g.kind === 'quantized') {
      const q = g.members[0] as QuantizedLinear;
      this.num(q.groupSize);
      this.num(q.bits);
      this.num(MODES[q.mode]);
    } else {
      this.out.fill(0, this.at, this.at + 3);
      this.at += 3;
    }
    this.out.set([-1, -1, 0], this.at);
    this.at += 3;
  }
  embedding(e: unknown): boolean {
    if (exactly(e, Embedding)) {
      this.num(1);
      this.arr((e as Embedding).weight);
      // scales, biases, bias; group size, bits, mode; no LoRA.
      this.out.set([-1, -1, -1, 0, 0, 0, -1, -1, 0], this.at);
      this.at += PROJ_LEN - 2;
      return true;
    }
    if (exactly(e, QuantizedEmbedding)) {
      const q = e as QuantizedEmbedding;
      const mode = MODES[q.mode];
      if (mode === undefined || quantizedProductNeedsDequantize(q.weight, q)) return false;
      this.num(2);
      this.arr(q.weight);
      this.arr(q.scales);
      this.arr(q.biases);
      this.out.set([-1, q.groupSize, q.bits, mode, -1, -1, 0], this.at);
      this.at += PROJ_LEN - 4;
      return true;
    }
    return false;
  }
}

/**
 * Describes a cache for the native forward, or returns false when it must take the
 * TypeScript path (another cache class, or buffers that do not match these keys, so that
 * `updateAndFetch` reports the mismatch).
 */
function writeCache(
  w: Writer,
  c: Cache | undefined,
  batch: number,
  kvHeads: number,
  headDim: number,
  dtype: mx.Dtype,
  made: string,
): boolean {
  if (c === undefined) {
    w.out.set([0, -1, -1, 0, -1, 0], w.at);
    w.at += CACHE_LEN;
    return true;
  }
  const fits = (k: mx.Array | null) =>
    k === null ||
    madeHere.get(k) === made ||
    (k.shape[0] === batch && k.shape[1] === kvHeads && k.shape[3] === headDim && k.dtype === dtype);
  if (c.constructor === KVCache) {
    const [k, v, offset, reserved] = (c as KVCache).nativeState();
    if (!fits(k)) return false;
    w.num(1);
    w.arr(k);
    w.arr(v);
    w.num(offset);
    w.num(-1);
    w.num(reserved);
    return true;
  }
  if (c.constructor === BatchKVCache) {
    const [k, v, idx, rowOffset, reserved] = (c as BatchKVCache).nativeState();
    if (!fits(k) || rowOffset.shape[0] !== batch) return false;
    w.num(2);
    w.arr(k);
    w.arr(v);
    w.num(idx);
    w.arr(rowOffset);
    w.num(reserved);
    return true;
  }
  return false;
}

function activationDtype(e: unknown): mx.Dtype {
  return e instanceof QuantizedEmbedding ? e.scales.dtype : (e as Embedding).weight.dtype;
}

/**
 * The final-normed hidden states `[B, L, hidden]`, with every cache advanced, or `undefined`
 * when this model, its caches or the mask need the TypeScript layers.
 */
export function nativeForward(
  model: NativeForwardModel,
  classes: LayerClasses,
  inputs: mx.Array,
  mask: ForwardMask,
  cache: readonly Cache[] | undefined,
  prefill = false,
): mx.Array | undefined {
  if (!enabled) return undefined;
  const layers = model.layers;
  const n = layers.length;
  if (n === 0) return undefined;
  const first = layers[0].selfAttn;
  if (!exactly(first, classes.attention)) return undefined;
  const rope = first.rope;
  if (!exactly(rope, RoPE)) return undefined;
  const r = rope as RoPE;
  const len = HEADER_LEN + PROJ_LEN + n * LAYER_LEN + NORM_LEN;
  if (buffer.length < len) buffer = new Float64Array(len);
  const w = new Writer(buffer.subarray(0, len));
  w.num(VERSION);
  w.num(n);
  w.num(first.nHeads);
  w.num(first.nKvHeads);
  w.num(first.headDim);
  w.num(first.scale);
  w.num(r.dims);
  w.num(r.traditional ? 1 : 0);
  w.num(r.base);
  w.num(r.scale);
  if (mask === null) {
    w.num(0);
    w.num(-1);
  } else if (mask === 'causal') {
    w.num(1);
    w.num(-1);
  } else if (mask instanceof mx.Array) {
    w.num(2);
    w.arr(mask);
  } else {
    return undefined;
  }
  // A prefill is evaluated layer by layer as it is built (`Pacer` in forward.rs).
  w.num(prefill ? 1 : 0);
  if (!w.embedding(model.embedTokens)) return undefined;
  const [batch, steps] = inputs.shape;
  const dtype = activationDtype(model.embedTokens);
  const made = `${batch} ${dtype}`;
  for (let i = 0; i < n; i++) {
    const layer = layers[i];
    if (!exactly(layer, classes.layer) || !exactly(layer.mlp, classes.mlp)) return undefined;
    const att = layer.selfAttn;
    const mlp = layer.mlp as { gateProj: unknown; upProj: unknown; downProj: unknown };
    // Every layer must match the first one's settings, which the header carries once.
    if (
      !exactly(att, classes.attention) ||
      att.nHeads !== first.nHeads ||
      att.nKvHeads !== first.nKvHeads ||
      att.headDim !== first.headDim ||
      att.scale !== first.scale
    )
      return undefined;
    const ar = att.rope as RoPE;
    if (!exactly(ar, RoPE) || ar.dims !== r.dims || ar.traditional !== r.traditional || ar.base !== r.base || ar.scale !== r.scale)
      return undefined;
    const ok =
      w.norm(layer.inputLayernorm) &&
      w.norm(layer.postAttentionLayernorm) &&
      w.norm(att.qNorm) &&
      w.norm(att.kNorm) &&
      w.proj(att.qProj) &&
      w.proj(att.kProj) &&
      w.proj(att.vProj) &&
      w.proj(att.oProj) &&
      w.proj(mlp.gateProj) &&
      w.proj(mlp.upProj) &&
      w.proj(mlp.downProj);
    if (!ok) return undefined;
    // Stacked groups serve decode steps (one token per row, with caches) only. Training and
    // scoring must not depend on whether a generation ran before them (a stacked matmul may
    // round differently from separate ones: a BLAS picks kernels by shape), and a prompt's
    // many tokens amortise the per-kernel cost that stacking saves, while slicing its larger
    // outputs costs copies and memory.
    const decoding = cache !== undefined && steps === 1;
    w.fused(decoding ? fusedGroup(att, [att.qProj, att.kProj, att.vProj]) : undefined);
    w.fused(decoding ? fusedGroup(mlp, [mlp.gateProj, mlp.upProj]) : undefined);
    const cached = writeCache(w, cache?.[i], batch, att.nKvHeads, att.headDim, dtype, made);
    if (!cached) return undefined;
  }
  if (!w.norm(model.norm)) return undefined;
  const handles = native.qwen3Forward(w.out, handleOf(inputs));
  const hidden = wrap(handles[0]);
  if (cache !== undefined) {
    const l = inputs.shape[1];
    for (let i = 0; i < n; i++) {
      const keys = wrap(handles[1 + 2 * i]);
      const values = wrap(handles[2 + 2 * i]);
      // Same batch and dtype as this call's inputs: the next call may skip the fit check.
      madeHere.set(keys, made);
      const c = cache[i];
      // Both kinds keep their offsets on the host (a BatchKVCache's per-row ones are idx - padding).
      (c as KVCache | BatchKVCache).adoptNative(keys, values, l);
    }
  }
  return hidden;
}
