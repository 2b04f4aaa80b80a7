// @mlxn/sampling on MLX arrays from @mlxn/core, both installed from tarballs.
import assert from 'node:assert/strict';
import * as mx from '@mlxn/core';
import { applyTopK, makeLogitsProcessors, makeSampler } from '@mlxn/sampling';
import whereNative from './where-native.cjs';

const logits = mx.array([
  [0.1, 3, 0.2, -1],
  [2, 0, 5, 1],
]);
assert.deepEqual(makeSampler({ temperature: 0 })(mx.logSoftmax(logits)).tolist(), [1, 2]);

mx.random.seed(0);
const sample = makeSampler({ temperature: 1, topK: 1 }); // one candidate left per row
assert.deepEqual(sample(mx.logSoftmax(logits)).tolist(), [1, 2]);

const [bias] = makeLogitsProcessors({ logitBias: { 0: 10 } });
assert.deepEqual(makeSampler({ temperature: 0 })(bias([[], []], logits)).tolist(), [0, 0]);
const kept = applyTopK(mx.logSoftmax(logits), 2).tolist().flat().filter(Number.isFinite);
assert.equal(kept.length, 4);

whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
