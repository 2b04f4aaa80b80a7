// @mlxn/sampling/js from CommonJS, with no @mlxn/core and no native binary.
'use strict';
const assert = require('node:assert/strict');
const { makeLogitsProcessors, makeSampler } = require('@mlxn/sampling/js');
const { loadedNativeFiles } = require('./where-native.cjs');

assert.throws(() => require.resolve('@mlxn/core'), { code: 'MODULE_NOT_FOUND' });
const logits = new Float32Array([0.5, 2, -1, 1.5]);
const greedy = makeSampler({ temperature: 0 });
const [repetition] = makeLogitsProcessors({ repetitionPenalty: 2 });
assert.deepEqual(greedy([logits, repetition([1], logits)]), [1, 3]);
assert.deepEqual(loadedNativeFiles(), []);
console.log('ok');
