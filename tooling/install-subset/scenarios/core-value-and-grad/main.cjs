// @mlxn/core alone from CommonJS: require() of the ESM package loads the platform binary.
'use strict';
const assert = require('node:assert/strict');
const mx = require('@mlxn/core');
const { squaredMatmulGradient } = require('./value-and-grad.cjs');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

assert.deepEqual(squaredMatmulGradient(mx).tolist(), [
  [48, 48],
  [68, 68],
]);
assert.equal(mx.version, require('@mlxn/core/package.json').version);
assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
