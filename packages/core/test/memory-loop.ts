// The flat-memory check of the CPU primitives' tests: a plain synchronous loop (compute, evaluate,
// dispose) must leave MLX's active memory where it was.
import * as mx from '@mlxn/core';

/**
 * How much active memory grew over 200 steps of `compute` (each result evaluated and disposed),
 * after 10 steps of warm-up.
 */
export function growthOverLoop(compute: () => mx.Array): number {
  const step = () => {
    const y = compute();
    mx.eval(y);
    y.dispose();
  };
  for (let i = 0; i < 10; i++) step();
  const before = mx.memory().active;
  for (let i = 0; i < 200; i++) step();
  return mx.memory().active - before;
}
