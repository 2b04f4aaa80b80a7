// @mlxn/core alone: autograd through the native binary of the platform package.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as mx from '@mlxn/core';
import valueAndGrad from './value-and-grad.cjs';
import whereNative from './where-native.cjs';

const grad = valueAndGrad.squaredMatmulGradient(mx);
assert.deepEqual(Array.from(await grad.data()), [48, 48, 68, 68]);

const installed = JSON.parse(readFileSync('node_modules/@mlxn/core/package.json', 'utf8'));
assert.equal(mx.version, installed.version);
assert.equal(typeof mx.mlxVersion, 'string');
whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
