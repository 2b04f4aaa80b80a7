/** Activation functions and their module forms, following mlx.nn's definitions. */
import * as mx from '@mlxn/core';
import { Module } from './module.js';

type A = mx.Array;

export const sigmoid = (x: A): A => mx.sigmoid(x);
export const tanh = (x: A): A => mx.tanh(x);
export const relu = (x: A): A => mx.maximum(x, 0);
/** `min(max(x, 0), 6)`. */
export const relu6 = (x: A): A => mx.minimum(mx.maximum(x, 0), 6);
/** `relu(x)²`. */
export const reluSquared = (x: A): A => mx.square(relu(x));
export const leakyRelu = (x: A, negativeSlope = 0.01): A => mx.maximum(mx.multiply(x, negativeSlope), x);
export const elu = (x: A, alpha = 1): A => mx.where(mx.greater(x, 0), x, mx.multiply(mx.expm1(x), alpha));
export const celu = (x: A, alpha = 1): A => mx.add(mx.maximum(x, 0), mx.multiply(mx.minimum(mx.expm1(mx.divide(x, alpha)), 0), alpha));
const SELU_SCALE = 1.0507009873554805;
const SELU_ALPHA = 1.6732632423543772;
export const selu = (x: A): A => mx.multiply(elu(x, SELU_ALPHA), SELU_SCALE);
/** `log(1 + exp(x))`, computed stably. */
export const softplus = (x: A): A => mx.logaddexp(x, 0);
export const softsign = (x: A): A => mx.divide(x, mx.add(mx.abs(x), 1));
export const softshrink = (x: A, lambd = 0.5): A =>
  mx.where(mx.greater(mx.abs(x), lambd), mx.subtract(x, mx.multiply(mx.sign(x), lambd)), 0);
export const hardShrink = (x: A, lambd = 0.5): A => mx.where(mx.greater(mx.abs(x), lambd), x, 0);
export const hardTanh = (x: A, minVal = -1, maxVal = 1): A => mx.minimum(mx.maximum(x, minVal), maxVal);
export const hardSwish = (x: A): A => mx.multiply(x, mx.divide(mx.minimum(mx.maximum(mx.add(x, 3), 0), 6), 6));
export const logSigmoid = (x: A): A => mx.negative(softplus(mx.negative(x)));
export const logSoftmax = (x: A, axis = -1): A => mx.logSoftmax(x, axis);
export const softmax = (x: A, axis = -1): A => mx.softmax(x, axis);
/** `x · sigmoid(x)` (also called swish). */
export const silu = (x: A): A => mx.multiply(x, mx.sigmoid(x));
const swigluOps = (gate: A, x: A): A => mx.multiply(silu(gate), x);
// One shapeless compiled function, as mlx-lm's `swiglu`: MLX fuses the element-wise passes into
// one kernel. Worth it only from this many elements (a prefill); below (a decode step), a
// compiled call's fixed cost on the JS side (about 25 µs) exceeds the work it saves.
const swigluFused = mx.compile(swigluOps, { shapeless: true });
const FUSE_SWIGLU_FROM = 1 << 16;
/** SwiGLU as gated MLPs use it: `silu(gate) · x`, fused into one kernel for large inputs. */
export const swiglu = (gate: A, x: A): A => (gate.size >= FUSE_SWIGLU_FROM ? swigluFused(gate, x) : swigluOps(gate, x));
/** Gated linear unit: halves of `x` along `axis`, `a · sigmoid(b)`. */
export function glu(x: A, axis = -1): A {
  const [a, b] = mx.split(x, 2, axis);
  return mx.multiply(a, mx.sigmoid(b));
}
/** `x · tanh(softplus(x))`. */
export const mish = (x: A): A => mx.multiply(x, mx.tanh(softplus(x)));
/** `x · Φ(x)` with the exact Gaussian CDF. */
export const gelu = (x: A): A => mx.divide(mx.multiply(x, mx.add(mx.erf(mx.divide(x, Math.SQRT2)), 1)), 2);
/** The tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`. */
export const geluApprox = (x: A): A =>
  mx.multiply(
    mx.multiply(x, 0.5),
    mx.add(mx.tanh(mx.multiply(mx.add(x, mx.multiply(mx.power(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1),
  );
/** The sigmoid approximation: `x · sigmoid(1.702·x)`. */
export const geluFastApprox = (x: A): A => mx.multiply(x, mx.sigmoid(mx.multiply(x, 1.702)));
/** `1` where `x ≥ threshold`, else `0`. */
export const step = (x: A, threshold = 0): A => mx.where(mx.greaterEqual(x, threshold), 1, 0);
/** Parametric ReLU with learned slope `alpha`. */
export const prelu = (x: A, alpha: A): A => mx.add(mx.maximum(x, 0), mx.multiply(alpha, mx.minimum(x, 0)));

/** An activation as a module (no parameters), for `Sequential`. */
class Activation extends Module {
  constructor(private readonly _fn: (x: A) => A) {
    super();
  }
  forward(x: A): A {
    return this._fn(x);
  }
}

export class ReLU extends Activation {
  constructor() {
    super(relu);
  }
}
export class ReLU6 extends Activation {
  constructor() {
    super(relu6);
  }
}
export class SiLU extends Activation {
  constructor() {
    super(silu);
  }
}
export class Sigmoid extends Activation {
  constructor() {
    super(sigmoid);
  }
}
export class Tanh extends Activation {
  constructor() {
    super(tanh);
  }
}
export class Softplus extends Activation {
  constructor() {
    super(softplus);
  }
}
export class Mish extends Activation {
  constructor() {
    super(mish);
  }
}
export class SELU extends Activation {
  constructor() {
    super(selu);
  }
}
export class HardSwish extends Activation {
  constructor() {
    super(hardSwish);
  }
}
export class LeakyReLU extends Activation {
  constructor(negativeSlope = 0.01) {
    super((x) => leakyRelu(x, negativeSlope));
  }
}
export class ELU extends Activation {
  constructor(alpha = 1) {
    super((x) => elu(x, alpha));
  }
}
export class GLU extends Activation {
  constructor(axis = -1) {
    super((x) => glu(x, axis));
  }
}

/** GELU; `approx`: `'none'` (exact), `'precise'` or `'tanh'` (tanh form), `'fast'` (sigmoid form). */
export class GELU extends Activation {
  constructor(approx: 'none' | 'precise' | 'tanh' | 'fast' = 'none') {
    if (!['none', 'precise', 'tanh', 'fast'].includes(approx)) {
      throw new TypeError(`GELU: approx must be 'none', 'precise', 'tanh' or 'fast', got '${approx}'`);
    }
    super(approx === 'none' ? gelu : approx === 'fast' ? geluFastApprox : geluApprox);
  }
}

/** PReLU with one learned slope per channel (`numParameters`), initialised to `init`. */
export class PReLU extends Module {
  weight: A;
  constructor(numParameters = 1, init = 0.25) {
    super();
    this.weight = mx.full([numParameters], init);
  }
  forward(x: A): A {
    return prelu(x, this.weight);
  }
}
