/**
 * The gated activation Qwen3's MLPs use: `silu(gate) · x`. Large inputs (prefill) go through
 * one shapeless `mx.compile`d function so MLX fuses the three element-wise passes into one
 * kernel, as mlx-lm's compiled `swiglu`; small ones (a decode step) use the plain ops, where a
 * compiled call's fixed cost on the JS side (about 25 µs) would exceed the work it saves.
 */
import * as mx from '@mlxn/core';

const plain = (gate: mx.Array, x: mx.Array): mx.Array => mx.multiply(mx.multiply(gate, mx.sigmoid(gate)), x);
const fused = mx.compile(plain, { shapeless: true });

/** Elements from which fusing pays for the compiled call. */
const FUSE_FROM = 1 << 16;

/** `silu(gate) · x`. */
export function swiglu(gate: mx.Array, x: mx.Array): mx.Array {
  return gate.size >= FUSE_FROM ? fused(gate, x) : plain(gate, x);
}
