// @mlxn/nn and @mlxn/cache (which bring @mlxn/io, @mlxn/core and the platform package): a
// training step, a checkpoint round trip through io, and a cache update.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KVCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { load, save } from '@mlxn/io';
import { Linear, mseLoss, SGD, valueAndGrad } from '@mlxn/nn';
import whereNative from './where-native.cjs';

mx.random.seed(0);
const layer = new Linear(3, 1);
const x = mx.random.normal([8, 3]);
const y = mx.sum(x, { axis: -1, keepdims: true });
const step = valueAndGrad(layer, (a, b) => mseLoss(layer.forward(a), b));
const optimizer = new SGD({ learningRate: 0.1 });
const losses = [];
for (let i = 0; i < 5; i += 1) {
  const [loss, grads] = step(x, y);
  optimizer.update(layer, grads);
  mx.evaluate(layer.parameters(), optimizer.state);
  losses.push(loss.item());
}
assert.ok(losses[4] < losses[0], `loss did not fall: ${losses}`);

const file = join(process.cwd(), 'w.safetensors'); // inside the throwaway project
await save(file, { w: layer.weight });
const { arrays } = await load(file);
assert.deepEqual(arrays.w.tolist(), layer.weight.tolist());

const cache = new KVCache();
const kv = mx.ones([1, 2, 3, 4]);
const [k] = cache.updateAndFetch(kv, kv);
assert.deepEqual(k.shape, [1, 2, 3, 4]);
assert.equal(cache.offset, 3);

whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
