// @mlxn/nn, @mlxn/cache and @mlxn/io from CommonJS through require().
'use strict';
const assert = require('node:assert/strict');
const mx = require('@mlxn/core');
const { KVCache } = require('@mlxn/cache');
const { inspectSafetensors, saveSync } = require('@mlxn/io');
const { Linear } = require('@mlxn/nn');
const { join } = require('node:path');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

const layer = new Linear(3, 2);
assert.deepEqual(layer.forward(mx.ones([4, 3])).shape, [4, 2]);
const file = join(process.cwd(), 'w.safetensors'); // inside the throwaway project
saveSync(file, { w: layer.weight });
assert.deepEqual(
  inspectSafetensors(file).tensors.map((t) => t.name),
  ['w'],
);
const cache = new KVCache();
cache.updateAndFetch(mx.ones([1, 2, 5, 4]), mx.ones([1, 2, 5, 4]));
assert.equal(cache.offset, 5);
assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
