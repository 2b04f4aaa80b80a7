/** Keys and values stored quantized. Follows mlx-lm's `QuantizedKVCache` (models/cache.py). */
import * as mx from '@mlxn/core';
import { own, seqSlice } from './arrays.js';
import type { Cache, StateEntry } from './base.js';
import { checkKV, describeWithShape, trimCount } from './checks.js';
import { grownCapacity, STEP } from './growth.js';
import { type AttentionMask, attentionMask } from './mask.js';
import { checkStateLength, intEntry } from './state-entries.js';

/** A quantized tensor as `mx.quantize` returns it: `[packed uint32, scales, biases]`. */
export type QuantizedTriple = [mx.Array, mx.Array, mx.Array];

export interface QuantizedKVCacheOptions {
  /** Elements per quantization group (32, 64 or 128). Default 64. */
  groupSize?: number;
  /** Bits per element (2, 3, 4, 5, 6 or 8). Default 8. */
  bits?: number;
}

const GROUP_SIZES = [32, 64, 128];
const BITS = [2, 3, 4, 5, 6, 8];

/**
 * Stores keys and values as `mx.quantize` triples; `updateAndFetch` returns the triples, which
 * go straight into {@link quantizedScaledDotProductAttention} (MLX's quantized matmuls), so the
 * full-precision keys are never rebuilt. At 4 bits it takes under a third of the float16 memory.
 *
 * @example
 * const cache = new QuantizedKVCache({ groupSize: 64, bits: 4 });
 */
export class QuantizedKVCache implements Cache {
  readonly className = 'QuantizedKVCache' as const;
  static readonly step = STEP;
  #keys: QuantizedTriple | null = null;
  #values: QuantizedTriple | null = null;
  offset = 0;
  groupSize: number;
  bits: number;

  constructor(options: QuantizedKVCacheOptions = {}) {
    const groupSize = options.groupSize ?? 64;
    const bits = options.bits ?? 8;
    if (!GROUP_SIZES.includes(groupSize))
      throw new RangeError(`QuantizedKVCache: groupSize must be one of ${GROUP_SIZES.join(', ')}, got ${groupSize}`);
    if (!BITS.includes(bits)) throw new RangeError(`QuantizedKVCache: bits must be one of ${BITS.join(', ')}, got ${bits}`);
    this.groupSize = groupSize;
    this.bits = bits;
  }

  /** Quantizes and appends; returns the stored `[keys, values]` triples cut to `offset`. */
  updateAndFetch(keys: mx.Array, values: mx.Array): [QuantizedTriple, QuantizedTriple] {
    checkKV(keys, values, 'QuantizedKVCache.updateAndFetch');
    for (const [a, name] of [
      [keys, 'keys'],
      [values, 'values'],
    ] as const) {
      if (a.shape[3] % this.groupSize !== 0) {
        throw new Error(
          `QuantizedKVCache.updateAndFetch: ${name} head dimension ${a.shape[3]} is not a multiple of groupSize ${this.groupSize}`,
        );
      }
      if (!mx.isFloating(a.dtype)) throw new Error(`QuantizedKVCache.updateAndFetch: ${name} must be floating point, got ${a.dtype}`);
    }
    const [b, h, l] = keys.shape;
    // Quantize first: the packed widths come from MLX itself, whatever the bit width.
    const qk = mx.quantize(keys, { groupSize: this.groupSize, bits: this.bits });
    const qv = mx.quantize(values, { groupSize: this.groupSize, bits: this.bits });
    if (this.#keys !== null && this.#values !== null) {
      const stored = [...this.#keys, ...this.#values];
      const incoming = [...qk, ...qv];
      const fits = stored.every(
        (x, i) => x.shape[0] === b && x.shape[1] === h && x.shape[3] === incoming[i].shape[3] && x.dtype === incoming[i].dtype,
      );
      if (!fits) {
        for (const a of incoming) a.dispose();
        const [sb, sh] = this.#keys[0].shape;
        throw new Error(
          `QuantizedKVCache.updateAndFetch: keys [${keys.shape}] ${keys.dtype} do not match the cache (B ${sb}, heads ${sh}, ${this.#keys[1].dtype})`,
        );
      }
    }
    const prev = this.offset;
    const capacity = this.#keys?.[0].shape[2] ?? 0;
    const grown = grownCapacity(capacity, prev, l, STEP);
    let kb: mx.Array[] | null = this.#keys;
    let vb: mx.Array[] | null = this.#values;
    if (grown !== null) {
      const extra = grown - prev;
      const init = (q: mx.Array[]): mx.Array[] => q.map((x) => mx.zeros([b, h, extra, x.shape[3]], x.dtype));
      const expand = (x: mx.Array): mx.Array =>
        mx.concatenate([prev < x.shape[2] ? seqSlice(x, 0, prev) : x, mx.zeros([b, h, extra, x.shape[3]], x.dtype)], 2);
      if (kb !== null && vb !== null) {
        kb = kb.map(expand);
        vb = vb.map(expand);
      } else {
        kb = init(qk);
        vb = init(qv);
      }
    }
    // An empty cache has capacity 0 and always grows, so both buffers exist by now.
    if (kb === null || vb === null) throw new Error('QuantizedKVCache.updateAndFetch: no buffers after growth');
    this.offset += l;
    const write = (buf: mx.Array[], q: mx.Array[], old: QuantizedTriple | null): QuantizedTriple =>
      buf.map((x, i) => own(old?.[i] ?? null, mx.sliceUpdate(x, q[i], [0, 0, prev, 0]))) as QuantizedTriple;
    this.#keys = write(kb, qk, this.#keys);
    this.#values = write(vb, qv, this.#values);
    for (const a of [...qk, ...qv]) a.dispose();
    return this.keysAndValues();
  }

  keysAndValues(): [QuantizedTriple, QuantizedTriple] {
    if (this.#keys === null || this.#values === null) throw new Error('QuantizedKVCache: the cache is empty');
    const cut = (t: QuantizedTriple): QuantizedTriple => t.map((x) => seqSlice(x, 0, this.offset)) as QuantizedTriple;
    return [cut(this.#keys), cut(this.#values)];
  }

  size(): number {
    return this.offset;
  }

  empty(): boolean {
    return this.#keys === null;
  }

  get nbytes(): number {
    let n = 0;
    for (const t of [this.#keys, this.#values]) for (const x of t ?? []) n += x.nbytes;
    return n;
  }

  /** `[keysTriple, valuesTriple, offset, groupSize, bits]`, triples cut to `offset`. */
  get state(): StateEntry[] {
    if (this.#keys === null) return [null, null, this.offset, this.groupSize, this.bits];
    const [k, v] = this.keysAndValues();
    return [k, v, this.offset, this.groupSize, this.bits];
  }

  set state(v: StateEntry[]) {
    checkStateLength(v, 5, 'QuantizedKVCache');
    const triple = (x: StateEntry, what: string): QuantizedTriple | null => {
      if (x === null) return null;
      if (globalThis.Array.isArray(x) && x.length === 3 && x.every((a) => a instanceof mx.Array && a.ndim === 4))
        return x as QuantizedTriple;
      throw new Error(`QuantizedKVCache.state ${what}: expected [packed, scales, biases] 4-D arrays or null, got ${describeWithShape(x)}`);
    };
    const keys = triple(v[0], 'keys');
    const values = triple(v[1], 'values');
    const offset = intEntry(v[2], 'QuantizedKVCache.state offset');
    const groupSize = intEntry(v[3], 'QuantizedKVCache.state groupSize');
    const bits = intEntry(v[4], 'QuantizedKVCache.state bits');
    if (!GROUP_SIZES.includes(groupSize) || !BITS.includes(bits))
      throw new Error(`QuantizedKVCache.state: unsupported groupSize ${groupSize} / bits ${bits}`);
    if ((keys === null) !== (values === null)) throw new Error('QuantizedKVCache.state: keys and values must both be triples or both null');
    if (keys !== null && (offset < 0 || offset > keys[0].shape[2]))
      throw new Error(`QuantizedKVCache.state: offset ${offset} is outside the stored ${keys[0].shape[2]} tokens`);
    if (keys === null && offset !== 0) throw new Error(`QuantizedKVCache.state: offset ${offset} with no keys`);
    const adopt = (t: QuantizedTriple | null, old: QuantizedTriple | null): QuantizedTriple | null => {
      for (const x of old ?? []) own(x, null);
      return t === null ? null : (t.map((x) => own(null, mx.array(x))) as QuantizedTriple);
    };
    this.#keys = adopt(keys, this.#keys);
    this.#values = adopt(values, this.#values);
    Object.assign(this, { offset, groupSize, bits });
  }

  isTrimmable(): boolean {
    return true;
  }

  trim(n: number): number {
    const t = trimCount(this.offset, n, 'QuantizedKVCache.trim');
    this.offset -= t;
    return t;
  }

  makeMask(n: number, options: { returnArray?: boolean; windowSize?: number } = {}): AttentionMask {
    return attentionMask(n, this.offset, options);
  }

  dispose(): void {
    for (const t of [this.#keys, this.#values]) for (const x of t ?? []) own(x, null);
    this.#keys = null;
    this.#values = null;
  }

  static fromState(state: StateEntry[]): QuantizedKVCache {
    const c = new QuantizedKVCache();
    c.state = state;
    return c;
  }
}

export interface QuantizedAttentionOptions {
  scale: number;
  mask?: AttentionMask;
  groupSize?: number;
  bits?: number;
}

/**
 * Attention over quantized keys and values (`[B, kvHeads, L, *]` triples from a
 * {@link QuantizedKVCache}) with `mx.quantizedMatmul` (which dequantizes on a GPU, where MLX
 * 0.32.4's batched quantized kernels are wrong), grouped-query heads included; the same
 * computation as mlx-lm's `quantized_scaled_dot_product_attention`.
 */
export function quantizedScaledDotProductAttention(
  queries: mx.Array,
  qKeys: QuantizedTriple,
  qValues: QuantizedTriple,
  options: QuantizedAttentionOptions,
): mx.Array {
  const groupSize = options.groupSize ?? 64;
  const bits = options.bits ?? 8;
  const [b, nQ, l, d] = queries.shape;
  const nKv = qKeys[0].shape[1];
  if (nQ % nKv !== 0) throw new Error(`quantizedScaledDotProductAttention: ${nQ} query heads is not a multiple of ${nKv} key heads`);
  const repeats = nQ / nKv;
  let q = mx.multiply(queries, options.scale);
  let k: mx.Array[] = qKeys;
  let v: mx.Array[] = qValues;
  if (repeats > 1) {
    q = mx.reshape(q, [b, nKv, repeats, l, d]);
    k = k.map((x) => mx.expandDims(x, -3));
    v = v.map((x) => mx.expandDims(x, -3));
  }
  let scores = mx.quantizedMatmul(q, k[0], k[1], k[2], { transpose: true, groupSize, bits });
  let mask = options.mask ?? null;
  if (mask !== null) {
    if (mask === 'causal') {
      const qL = scores.shape[scores.ndim - 2];
      const kL = scores.shape[scores.ndim - 1];
      mask = mx.greaterEqual(mx.arange(kL - qL, kL).index(mx.sl(), null), mx.arange(kL).index(null));
    }
    if (repeats > 1 && mask.ndim > 3) mask = mx.expandDims(mask, -3);
    scores = mask.dtype === 'bool' ? mx.where(mask, scores, mx.array(minFinite(scores.dtype), scores.dtype)) : mx.add(scores, mask);
  }
  scores = mx.softmax(scores, -1, { precise: true });
  let out = mx.quantizedMatmul(scores, v[0], v[1], v[2], { transpose: false, groupSize, bits });
  if (repeats > 1) out = mx.reshape(out, [b, nQ, l, out.shape[out.ndim - 1]]);
  return out;
}

function minFinite(dtype: mx.Dtype): number {
  if (dtype === 'float16') return -65504;
  if (dtype === 'bfloat16') return -3.3895313892515355e38;
  return -3.4028234663852886e38;
}
