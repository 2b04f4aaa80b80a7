// @mlxn/core alone from CommonJS: require() of the ESM package loads the platform binary.
'use strict';
const assert = require('node:assert/strict');
const mx = require('@mlxn/core');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

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
assert.deepEqual(grad.tolist(), [
  [48, 48],
  [68, 68],
]);
assert.equal(mx.version, require('@mlxn/core/package.json').version);
assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
