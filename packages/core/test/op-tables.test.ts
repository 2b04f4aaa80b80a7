// The TS op tables and the Rust bridge's shared enums must list ops in the same order:
// the position is the code that crosses the FFI.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DTYPES } from '../src/dtype.js';
import * as codes from '../src/ops/codes.js';

const bridge = readFileSync(join(__dirname, '../../../crates/mlxn-sys/src/lib.rs'), 'utf8');
const shim = readFileSync(join(__dirname, '../../../crates/mlxn-sys/src/shim/array.cc'), 'utf8');

function rustEnum(name: string): string[] {
  const m = bridge.match(new RegExp(`enum ${name} \\{([^}]*)\\}`));
  if (!m) throw new Error(`enum ${name} not found`);
  return m[1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

describe('op tables', () => {
  it.each([
    ['UnaryOp', codes.UNARY],
    ['BinaryOp', codes.BINARY],
    ['ReduceOp', codes.REDUCE],
    ['ScanOp', codes.SCAN],
    ['SortOp', codes.SORT],
    ['ScatterMode', codes.SCATTER],
    ['LinalgOp', codes.LINALG],
    ['FftOp', codes.FFT],
  ] as const)('%s matches the bridge', (name, table) => {
    expect([...table]).toEqual(rustEnum(name));
  });

  it('dtype codes match the C++ shim', () => {
    const m = shim.match(/kDtypes\[\] = \{([^}]*)\}/);
    const names = m![1].split(',').map((s) => s.trim().replace('mx::', '').replace('bool_', 'bool'));
    expect(names).toEqual([...DTYPES]);
  });
});
