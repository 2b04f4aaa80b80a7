// A small tour of @mlxn/core: arrays, broadcasting, autograd, compile and memory.
// Run: pnpm demo
import * as mx from '@mlxn/core';

const x = mx.array(
  [
    [1, 2],
    [3, 4],
  ],
  { dtype: 'float32' },
);
console.log('x =', x.toString());
console.log('x * 2 + 1 =', mx.add(mx.multiply(x, 2), 1).tolist());

// Gradient of a scalar loss with respect to a weight matrix.
const loss = (w: mx.Array) => mx.sum(mx.square(mx.matmul(x, w)));
const [value, grad] = mx.valueAndGrad(loss)(mx.ones([2, 2]));
console.log('loss =', value.item(), 'grad =', await grad.data());

// A compiled function gives the same values as the plain one.
const gelu = (v: mx.Array) => mx.multiply(mx.multiply(v, 0.5), mx.add(mx.erf(mx.divide(v, Math.SQRT2)), 1));
const fast = mx.compile(gelu);
const v = mx.linspace(-3, 3, 7);
console.log('gelu     =', Array.from(gelu(v).dataSync() as Float32Array, (n) => n.toFixed(4)).join(' '));
console.log('compiled =', Array.from(fast(v).dataSync() as Float32Array, (n) => n.toFixed(4)).join(' '));

// tidy() frees intermediates deterministically.
const before = mx.memory().active;
for (let i = 0; i < 1000; i++) mx.tidy(() => mx.eval(mx.sum(mx.exp(mx.random.normal([64, 64])))));
console.log('active bytes before/after 1000 tidy steps:', before, mx.memory().active);
console.log(`@mlxn/core ${mx.version} on MLX ${mx.mlxVersion}, default device ${mx.defaultDevice().type}`);
