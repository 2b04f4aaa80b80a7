// @mlxn/core alone: autograd through the native binary of the platform package.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as mx from '@mlxn/core';
import whereNative from './where-native.cjs';

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
assert.deepEqual(Array.from(await grad.data()), [48, 48, 68, 68]);

const installed = JSON.parse(readFileSync('node_modules/@mlxn/core/package.json', 'utf8'));
assert.equal(mx.version, installed.version);
assert.equal(typeof mx.mlxVersion, 'string');
whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
