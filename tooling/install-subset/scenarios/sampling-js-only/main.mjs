// @mlxn/sampling alone, through its plain-JS entry: no @mlxn/core, no native binary.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { applyTopK, makeLogitsProcessors, makeSampler } from '@mlxn/sampling/js';
import whereNative from './where-native.cjs';

const require = createRequire(import.meta.url);
assert.throws(() => require.resolve('@mlxn/core'), { code: 'MODULE_NOT_FOUND' });

const logits = new Float32Array([0.5, 2, -1, 1.5]);
const greedy = makeSampler({ temperature: 0 });
assert.equal(greedy(logits), 1);
const [repetition] = makeLogitsProcessors({ repetitionPenalty: 2 });
assert.equal(greedy(repetition([1], logits)), 3); // token 1's logit halved: 1.5 now wins
assert.deepEqual(greedy([logits, repetition([1], logits)]), [1, 3]);

const sample = makeSampler({ temperature: 0.8, topK: 2, seed: 1 });
for (let i = 0; i < 20; i += 1) assert.ok([1, 3].includes(sample(logits)));
assert.equal(applyTopK(logits, 1).filter(Number.isFinite).length, 1);

assert.deepEqual(whereNative.loadedNativeFiles(), []);
console.log('ok');
