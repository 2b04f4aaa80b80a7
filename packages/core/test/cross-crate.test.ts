// One binary, one MLX runtime, across crates: mlxn-probe (a sibling crate linked into the same
// addon) takes arrays made by @mlxn/core and returns arrays that @mlxn/core accepts, within
// the same graphs, transforms, memory accounting and disposal rules.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCpuDevice } from '../../../tooling/test-support/devices.mjs';
import * as mx from '../src/index.js';
import { handleOf, native, VERSION, wrap } from '../src/internal.js';

// Probes float64 arrays, which MLX computes on the CPU only: the file runs there.
useCpuDevice(mx);

const pkg = JSON.parse(readFileSync(join(__dirname, '../package.json'), 'utf8')) as { version: string };
const probe = (a: mx.Array, factor: number) => wrap(native.probeScaleAndShift(handleOf(a), factor));

describe('cross-crate arrays', () => {
  it('arrays from core go into the probe crate, and its results go back into core ops', () => {
    const a = mx.array([1, 2, 3], 'float32');
    const p = probe(a, 3); // a * 3 + 1
    expect(p).toBeInstanceOf(mx.Array);
    expect(p.dtype).toBe('float32');
    expect(p.shape).toEqual([3]);
    expect(p.tolist()).toEqual([4, 7, 10]);
    const q = mx.add(mx.matmul(mx.reshape(p, [1, 3]), mx.ones([3, 1])), p);
    expect(q.tolist()).toEqual([[25, 28, 31]]);
    // And back into the probe again.
    expect(probe(q, 0.5).tolist()).toEqual([[13.5, 15, 16.5]]);
  });

  it('keeps the dtype across the crate boundary', () => {
    expect(probe(mx.array([1, 2], 'int32'), 2).tolist()).toEqual([3, 5]);
    const h = probe(mx.array([0.5, 1], 'float16'), 4);
    expect(h.dtype).toBe('float16');
    expect(h.tolist()).toEqual([3, 5]);
    expect(probe(mx.array([1], 'float64'), 0.1).tolist()).toEqual([1.1]);
  });

  it('shares lazy graphs: a lazy core array goes in, a lazy result comes out, core evaluates it', () => {
    const x = mx.exp(mx.zeros([2, 2])); // not evaluated yet
    expect(native.isAvailable(handleOf(x))).toBe(false);
    const y = probe(x, 2);
    expect(native.isAvailable(handleOf(y))).toBe(false);
    mx.eval(y);
    expect(y.tolist()).toEqual([
      [3, 3],
      [3, 3],
    ]);
  });

  it('probe ops inside core transforms are differentiated and vectorized (one graph)', () => {
    const x = mx.array([0.5, -1, 2], 'float32');
    const g = mx.grad((v: mx.Array) => mx.sum(mx.square(probe(v, 3))))(x);
    // d/dv sum((3v + 1)^2) = 6 (3v + 1)
    expect(g.tolist()).toEqual([15, -12, 42]);
    const vm = mx.vmap((row: mx.Array) => mx.sum(probe(row, 2)))(
      mx.array(
        [
          [1, 2],
          [3, 4],
        ],
        'float32',
      ),
    );
    expect(vm.tolist()).toEqual([8, 16]);
    const cf = mx.compile((v: mx.Array) => probe(mx.multiply(v, 2), 10));
    expect(cf(x).tolist()).toEqual([11, -19, 41]);
  });

  it('lists of arrays cross too (probeTotalBytes)', () => {
    expect(native.probeTotalBytes(handleOf(mx.zeros([3, 4])), handleOf(mx.zeros([5], 'float64')))).toBe(3 * 4 * 4 + 5 * 8);
  });

  it('probe results join tidy scopes like core arrays', () => {
    let inner: mx.Array | undefined;
    const out = mx.tidy(() => {
      inner = probe(mx.ones([2]), 5);
      return probe(inner, 1);
    });
    expect(inner!.disposed).toBe(true);
    expect(out.tolist()).toEqual([7, 7]);
  });

  it('one allocator: probe outputs show up in (and leave) core memory accounting', () => {
    const x = mx.ones([256, 256]);
    mx.eval(x);
    mx.clearCache();
    const before = mx.memory().active;
    const y = probe(x, 2);
    mx.eval(y);
    expect(mx.memory().active - before).toBe(256 * 256 * 4);
    y.dispose();
    expect(mx.memory().active).toBe(before);
  });

  it('a disposed array passed to the probe gives ERR_MLXN_DISPOSED', () => {
    const a = mx.ones([2]);
    const h = handleOf(a);
    a.dispose();
    expect(() => native.probeScaleAndShift(h, 2)).toThrow(expect.objectContaining({ code: 'ERR_MLXN_DISPOSED' }));
    expect(() => native.probeTotalBytes(handleOf(mx.ones([1])), h)).toThrow(expect.objectContaining({ code: 'ERR_MLXN_DISPOSED' }));
    expect(() => handleOf(a)).toThrow(expect.objectContaining({ code: 'ERR_MLXN_DISPOSED' }));
  });

  it('works for complex64 and bool arrays too (the probe builds its scalars in the input dtype)', () => {
    const c = probe(mx.ones([2], 'complex64'), 2);
    expect(c.dtype).toBe('complex64');
    expect(Array.from(c.dataSync() as Float32Array)).toEqual([3, 0, 3, 0]);
    const b = probe(mx.array([true, false]), 2); // true * x + true
    expect(b.dtype).toBe('bool');
    expect(b.tolist()).toEqual([true, true]);
  });
});

describe('one binary', () => {
  it('the binary version equals package.json and the exported version', () => {
    expect(native.bindingVersion()).toBe(pkg.version);
    expect(VERSION).toBe(pkg.version);
    expect(mx.version).toBe(pkg.version);
  });

  it('the MLX version is the pinned runtime, the same one the probe crate computes with', () => {
    const staged = readFileSync(join(__dirname, '../native/MLX_VERSION'), 'utf8').trim();
    expect(mx.mlxVersion).toBe(staged);
    expect(mx.mlxVersion).toMatch(/^0\.32\./);
  });

  it('every export lives in the one addon object (core and probe side by side)', () => {
    expect(typeof native.probeScaleAndShift).toBe('function');
    expect(typeof native.probeTotalBytes).toBe('function');
    expect(typeof native.binary).toBe('function');
    expect(typeof native.bindingVersion).toBe('function');
  });
});
