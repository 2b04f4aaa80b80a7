// The autograd both programs check, written once: each passes the @mlxn/core it imported its
// own way (import or require), which is what the scenario tests.
'use strict';
const assert = require('node:assert/strict');

/** Asserts the value of f(w) = sum((x w)²) at w = ones and returns its gradient, for the caller to read. */
function squaredMatmulGradient(mx) {
  const x = mx.array(
    [
      [1, 2],
      [3, 4],
    ],
    { dtype: 'float32' },
  );
  const f = (w) => mx.sum(mx.square(mx.matmul(x, w)));
  const [loss, grad] = mx.valueAndGrad(f)(mx.ones([2, 2]));
  assert.equal(loss.item(), 116);
  return grad;
}

module.exports = { squaredMatmulGradient };
