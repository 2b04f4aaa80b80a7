// @mlxn/sampling with @mlxn/core from CommonJS: require() of the ESM packages and the loader.
'use strict';
const assert = require('node:assert/strict');
const mx = require('@mlxn/core');
const { makeSampler } = require('@mlxn/sampling');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

const logits = mx.array([
  [0.1, 3, 0.2, -1],
  [2, 0, 5, 1],
]);
mx.random.seed(0);
assert.deepEqual(makeSampler({ temperature: 1, topK: 1 })(mx.logSoftmax(logits)).tolist(), [1, 2]);
assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
