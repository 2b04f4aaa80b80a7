// Loads @mlxn/core, runs one op, and prints which binary and libmlx.so the process mapped.
import { readFileSync } from 'node:fs';
import * as mx from '@mlxn/core';

const maps = readFileSync('/proc/self/maps', 'utf8')
  .split('\n')
  .map((l) => l.trim().split(/\s+/)[5])
  .filter(Boolean);
const sum = mx.sum(mx.array([1, 2, 3, 4], { dtype: 'float32' })).item();
console.log(
  JSON.stringify({
    sum,
    node: maps.find((p) => p.endsWith('.node') && p.includes('mlxn')),
    libmlx: maps.find((p) => p.endsWith('/libmlx.so')),
  }),
);
