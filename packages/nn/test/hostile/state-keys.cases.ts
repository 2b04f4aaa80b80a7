// Hostile cases for optimizer-state files and parameter trees whose tensor names would reach
// Object.prototype (`__proto__.x`, `constructor.prototype.x`, ...). Each case checks that the
// load gives a clear error and that no object in the process gained a property.
import { join } from 'node:path';
import * as mx from '@mlxn/core';
import { saveSync } from '@mlxn/io';
import { caseDir, type HostileCase } from '@mlxn/test-support/hostile';
import * as nn from '../../src/index.js';

const polluted = () => Object.getOwnPropertyNames(Object.prototype).filter((k) => k.startsWith('mlxnPwned') || k === 'x');

/** The error must be clear and nothing may have reached Object.prototype. */
const cleanError = (re: RegExp) => (e: Error) =>
  re.test(e.message) && polluted().length === 0 && ({} as { toString: unknown }).toString === Object.prototype.toString;

function stateFile(names: string[]): string {
  const file = join(caseDir('state'), 'optimizer.safetensors');
  const arrays: Record<string, mx.Array> = Object.create(null);
  arrays.step = mx.array(1, 'uint64');
  for (const n of names) arrays[n] = mx.zeros([2]);
  saveSync(file, arrays, { metadata: { optimizer: 'Adam' } });
  return file;
}

const HOSTILE_NAMES = [
  '__proto__.x',
  '__proto__.mlxnPwned',
  'a.__proto__.mlxnPwned',
  'constructor.prototype.mlxnPwned',
  'prototype.mlxnPwned',
  '__proto__',
  'constructor',
  '__proto__.toString',
  'layers.0.__proto__.mlxnPwned',
  'a.constructor.mlxnPwned',
];

const stateCases: HostileCase[] = HOSTILE_NAMES.map((name, i) => ({
  name: `optimizer state: tensor '${name}'`,
  class: 'optimizer-state',
  regression: i === 0,
  run: () => {
    const opt = new nn.Adam({ learningRate: 0.1 });
    opt.loadStateSync(stateFile([name]));
    return polluted();
  },
  // Refused either by the path check (reserved name) or, for a bare name, by the state check.
  error: cleanError(/reserved name|is not an entry of this optimizer/),
}));

// update() with a tree from a file: own keys only, so `__proto__` cannot walk into Object.prototype.
const treeCases: HostileCase[] = ['__proto__', 'constructor', 'toString'].map((k) => ({
  name: `module update: tree key '${k}'`,
  class: 'optimizer-state',
  run: () => {
    const model = new nn.Linear(2, 2);
    const tree = JSON.parse(`{"${k}": {"toString": 1, "mlxnPwned": 1}}`) as Record<string, unknown>;
    Object.defineProperty(tree[k], 'toString', { value: mx.zeros([2]), enumerable: true });
    model.update(tree, false);
    return [polluted(), ({} as { toString: unknown }).toString === Object.prototype.toString];
  },
  accept: (r) => {
    const [p, clean] = r as [string[], boolean];
    return (p.length === 0 && clean) || JSON.stringify(r);
  },
  error: cleanError(/update:/),
}));

export const cases: HostileCase[] = [...stateCases, ...treeCases];
