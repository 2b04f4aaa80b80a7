// Function transforms: grad / valueAndGrad against central finite differences (float64 on the
// CPU), argnums, trees, aux outputs, vjp/jvp on known Jacobians, vmap axes, nesting,
// stopGradient, and compile (values, retracing, cache keys, shapeless, random numbers).
import { describe, expect, it } from 'vitest';
import { useCpuDevice } from '../../../tooling/test-support/devices.mjs';
import * as mx from '../src/index.js';

// Finite differences need float64, which MLX computes on the CPU only: the file runs there.
useCpuDevice(mx);

const f64 = (v: number[] | number[][]) => mx.array(v, 'float64');
const list = (a: mx.Array) => Array.from(a.dataSync() as Float64Array | Float32Array, Number);

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-6) {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    expect(Math.abs(got[i] - want[i]), `element ${i}: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(want[i])));
  }
}

/**
 * Central finite differences of a scalar function of one float64 array, evaluated with MLX.
 * (MLX's float64 exp/sin/sigmoid are float32-accurate, hence eps = 1e-3 and the tolerance
 * FD_TOL: truncation error ~eps^2, rounding ~1e-7 / eps.)
 */
const FD_TOL = 3e-4;
function finiteDiff(f: (x: mx.Array) => mx.Array, x: mx.Array, eps = 1e-3): number[] {
  const base = list(x);
  const shape = x.shape;
  return base.map((_, i) => {
    const at = (d: number) => {
      const v = base.slice();
      v[i] += d;
      return f(mx.reshape(mx.array(Float64Array.from(v), 'float64'), shape)).item() as number;
    };
    return (at(eps) - at(-eps)) / (2 * eps);
  });
}

const x0 = f64([-1.3, -0.2, 0.4, 0.9, 2.1]);

describe('grad and valueAndGrad against finite differences', () => {
  const cases: [string, (x: mx.Array) => mx.Array, ((x: number) => number) | null][] = [
    [
      'polynomial 3x^3 - 2x^2 + x - 5',
      (x) => mx.sum(mx.add(mx.subtract(mx.multiply(3, mx.power(x, 3)), mx.multiply(2, mx.square(x))), mx.subtract(x, 5))),
      (x) => 9 * x * x - 4 * x + 1,
    ],
    ['exp/log/tanh chain', (x) => mx.sum(mx.tanh(mx.log(mx.add(1, mx.exp(x))))), null],
    ['sigmoid times sin', (x) => mx.sum(mx.multiply(mx.sigmoid(x), mx.sin(mx.multiply(x, 2)))), null],
    ['mean of sqrt(x^2 + 1) / cosh(x)', (x) => mx.mean(mx.divide(mx.sqrt(mx.add(mx.square(x), 1)), mx.cosh(x))), null],
    ['logsumexp', (x) => mx.logsumexp(x), null],
  ];
  for (const [name, f, analytic] of cases) {
    it(name, () => {
      const g = mx.grad(f)(x0);
      expect(g.dtype).toBe('float64');
      expect(g.shape).toEqual([5]);
      expectClose(list(g), finiteDiff(f, x0), FD_TOL);
      if (analytic) expectClose(list(g), list(x0).map(analytic), 1e-12);
      const [v, g2] = mx.valueAndGrad(f)(x0);
      expect(v.item()).toBeCloseTo(f(x0).item() as number, 12);
      expectClose(list(g2), list(g), 0);
    });
  }

  it('a matmul least-squares loss: grad = 2 X^T (XW - Y) / n', () => {
    const X = f64([
      [1, 2, 0.5],
      [0, -1, 3],
      [2, 1, 1],
      [-1, 0.5, 2],
    ]);
    const Y = f64([
      [1, 0],
      [0, 1],
      [1, 1],
      [0.5, -0.5],
    ]);
    const W0 = f64([
      [0.1, -0.2],
      [0.3, 0.05],
      [-0.4, 0.2],
    ]);
    const loss = (W: mx.Array) => mx.divide(mx.sum(mx.square(mx.subtract(mx.matmul(X, W), Y))), 4);
    const g = mx.grad(loss)(W0);
    expect(g.shape).toEqual([3, 2]);
    const analytic = mx.divide(mx.multiply(2, mx.matmul(X.T, mx.subtract(mx.matmul(X, W0), Y))), 4);
    expectClose(list(g), list(analytic), 1e-12);
    expectClose(list(g), finiteDiff(loss, W0), 1e-9); // exact ops: tight
  });

  it('softmax cross-entropy: grad = (softmax(z) - onehot) / B', () => {
    const z0 = f64([
      [2, 1, 0.1],
      [0.5, 2.5, -1],
      [-0.3, 0.2, 0.9],
    ]);
    const onehot = f64([
      [1, 0, 0],
      [0, 0, 1],
      [0, 1, 0],
    ]);
    const ce = (z: mx.Array) => mx.negative(mx.mean(mx.sum(mx.multiply(onehot, mx.logSoftmax(z, -1)), -1)));
    const [loss, g] = mx.valueAndGrad(ce)(z0);
    const p = mx.softmax(z0, -1);
    expectClose(list(g), list(mx.divide(mx.subtract(p, onehot), 3)), 1e-6);
    expectClose(list(g), finiteDiff(ce, z0), FD_TOL);
    // The loss itself, by hand.
    const zs = list(z0);
    const rows = [0, 1, 2].map((r) => zs.slice(3 * r, 3 * r + 3));
    const want = -[0, 2, 1].reduce((s, c, r) => s + rows[r][c] - Math.log(rows[r].reduce((t, v) => t + Math.exp(v), 0)), 0) / 3;
    expect(loss.item()).toBeCloseTo(want, 6);
  });

  it('float32 inputs give float32 gradients within float32 tolerance', () => {
    const x = mx.array([0.5, -1, 2], 'float32');
    const g = mx.grad((v: mx.Array) => mx.sum(mx.exp(mx.multiply(v, 0.5))))(x);
    expect(g.dtype).toBe('float32');
    expectClose(
      list(g),
      [0.5, -1, 2].map((v) => 0.5 * Math.exp(0.5 * v)),
      1e-6,
    );
  });
});

describe('argnums, trees and aux outputs', () => {
  const a = f64([1, 2, 3]);
  const b = f64([0.5, -1, 2]);
  const f = (u: mx.Array, v: mx.Array) => mx.sum(mx.multiply(u, mx.square(v)));

  it('argnums as an integer picks one argument', () => {
    expect(list(mx.grad(f)(a, b))).toEqual([0.25, 1, 4]); // d/du = v^2
    expect(list(mx.grad(f, 1)(a, b))).toEqual([1, -4, 12]); // d/dv = 2uv
  });

  it('argnums as a list gives a list of gradients', () => {
    const gs = mx.grad(f, [1, 0])(a, b) as mx.Array[];
    expect(gs).toHaveLength(2);
    expect(list(gs[0])).toEqual([1, -4, 12]);
    expect(list(gs[1])).toEqual([0.25, 1, 4]);
    const [v, gs2] = mx.valueAndGrad(f, [0, 1])(a, b);
    expect(v.item()).toBe(0.25 + 2 + 12);
    expect((gs2 as mx.Array[]).map(list)).toEqual([
      [0.25, 1, 4],
      [1, -4, 12],
    ]);
  });

  it('trees of arrays in arguments give gradients with the same structure', () => {
    const params = {
      w: f64([
        [1, 2],
        [3, 4],
      ]),
      layers: [{ b: f64([1, -1]) }, { b: f64([0.5, 2]) }],
      name: 'mlp',
    };
    const x = f64([1, 1]);
    const loss = (p: typeof params, input: mx.Array) => {
      let h = mx.matmul(p.w, input);
      for (const l of p.layers) h = mx.multiply(mx.add(h, l.b), l.b);
      return mx.sum(h);
    };
    const g = mx.grad(loss)(params, x);
    expect(Object.keys(g)).toEqual(['w', 'layers', 'name']);
    expect(g.name).toBe('mlp');
    expect(g.layers).toHaveLength(2);
    // h1 = (Wx + b1) * b1 ; out = sum((h1 + b2) * b2)
    // d/dW = outer(b1 * b2, x); d/db1 = (Wx + 2 b1) * b2; d/db2 = h1 + 2 b2
    expect(list(g.w)).toEqual([0.5, 0.5, -2, -2]);
    expect(list(g.layers[0].b)).toEqual([(3 + 2) * 0.5, (7 - 2) * 2]);
    expect(list(g.layers[1].b)).toEqual([4 + 1, -6 + 4]);
    for (const [k, fd] of [
      ['w', list(g.w)],
      ['b0', list(g.layers[0].b)],
    ] as const) {
      const only =
        k === 'w'
          ? (w: mx.Array) => loss({ ...params, w }, x)
          : (b0: mx.Array) => loss({ ...params, layers: [{ b: b0 }, params.layers[1]] }, x);
      expectClose(fd, finiteDiff(only, k === 'w' ? params.w : params.layers[0].b), 1e-9);
    }
  });

  it('list arguments too, and a list of argnums over trees', () => {
    const loss = (ws: mx.Array[], s: { k: mx.Array }) => mx.sum(mx.multiply(mx.multiply(ws[0], ws[1]), s.k));
    const [gw, gs] = mx.grad(loss, [0, 1])([f64([2]), f64([3])], { k: f64([5]) }) as [mx.Array[], { k: mx.Array }];
    expect(gw.map(list)).toEqual([[15], [10]]);
    expect(list(gs.k)).toEqual([6]);
  });

  it('aux outputs: [loss, aux] is returned as the value; only the loss is differentiated', () => {
    const fn = (x: mx.Array) => {
      const y = mx.square(x);
      return [mx.sum(y), { y, count: 3 }] as const;
    };
    const [value, g] = mx.valueAndGrad(fn)(f64([1, 2, 3]));
    const [loss, aux] = value as unknown as [mx.Array, { y: mx.Array; count: number }];
    expect(loss.item()).toBe(14);
    expect(list(aux.y)).toEqual([1, 4, 9]);
    expect(aux.count).toBe(3);
    expect(list(g)).toEqual([2, 4, 6]);
  });
});

describe('vjp and jvp', () => {
  it('on a linear map: vjp = A^T c, jvp = A t', () => {
    const A = f64([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const x = f64([1, 0, -1]);
    const [outs, vjps] = mx.vjp((v) => mx.matmul(A, v), [x], [f64([1, -1])]);
    expect(list(outs[0])).toEqual([-2, -2]);
    expect(list(vjps[0])).toEqual([-3, -3, -3]);
    const [outs2, jvps] = mx.jvp((v) => mx.matmul(A, v), [x], [f64([0, 1, 2])]);
    expect(list(outs2[0])).toEqual([-2, -2]);
    expect(list(jvps[0])).toEqual([8, 17]);
  });

  it('with several primals and outputs (elementwise Jacobians)', () => {
    const x = f64([0.5, 1.5]);
    const y = f64([2, -1]);
    const fn = (u: mx.Array, v: mx.Array) => [mx.multiply(u, v), mx.sin(u)];
    const [outs, vjps] = mx.vjp(fn, [x, y], [f64([1, 1]), f64([10, 10])]);
    expect(list(outs[0])).toEqual([1, -1.5]);
    // d(uv)/du = v, d(sin u)/du = cos u ; d(uv)/dv = u
    expectClose(list(vjps[0]), [2 + 10 * Math.cos(0.5), -1 + 10 * Math.cos(1.5)], 1e-6);
    expect(list(vjps[1])).toEqual([0.5, 1.5]);
    const [, jvps] = mx.jvp(fn, [x, y], [f64([1, 0]), f64([0, 1])]);
    expect(list(jvps[0])).toEqual([2, 1.5]);
    expectClose(list(jvps[1]), [Math.cos(0.5), 0], 1e-6);
  });

  it('vjp agrees with the transposed jvp Jacobian of a nonlinear map', () => {
    const M = f64([
      [0.3, -1],
      [2, 0.7],
      [1, 1],
    ]);
    const fn = (v: mx.Array) => mx.tanh(mx.matmul(M, v));
    const x = f64([0.2, -0.4]);
    const J = [0, 1].map((i) =>
      list(
        mx.jvp(
          fn,
          [x],
          [
            mx.array(
              Float64Array.from([0, 1], (_, k) => (k === i ? 1 : 0)),
              'float64',
            ),
          ],
        )[1][0],
      ),
    );
    for (let r = 0; r < 3; r++) {
      const c = mx.array(
        Float64Array.from([0, 1, 2], (k) => (k === r ? 1 : 0)),
        'float64',
      );
      const row = list(mx.vjp(fn, [x], [c])[1][0]);
      expectClose(row, [J[0][r], J[1][r]], 1e-12);
    }
  });
});

describe('vmap', () => {
  const A = f64([
    [1, 2, 3],
    [4, 5, 6],
  ]);

  it('maps axis 0 by default', () => {
    expect(
      mx
        .vmap((r: mx.Array) => mx.sum(r))(A)
        .tolist(),
    ).toEqual([6, 15]);
  });

  it('in_axes per argument, with null for an unmapped argument', () => {
    const b = f64([10, 20, 30]);
    const out = mx.vmap((r: mx.Array, v: mx.Array) => mx.add(r, v), [0, null])(A, b);
    expect(out.tolist()).toEqual([
      [11, 22, 33],
      [14, 25, 36],
    ]);
    const cols = mx.vmap((c: mx.Array, v: mx.Array) => mx.multiply(c, v), [1, 0])(A, b);
    expect(cols.tolist()).toEqual([
      [10, 40],
      [40, 100],
      [90, 180],
    ]);
  });

  it('out_axes moves the mapped axis in the output', () => {
    const f = (r: mx.Array) => mx.multiply(r, 2);
    expect(mx.vmap(f, 0, 1)(A).tolist()).toEqual([
      [2, 8],
      [4, 10],
      [6, 12],
    ]);
    expect(mx.vmap(f, 1, 0)(A).tolist()).toEqual([
      [2, 8],
      [4, 10],
      [6, 12],
    ]);
  });

  it('negative in_axes and out_axes count from the end, as in Python MLX', () => {
    const f = (r: mx.Array) => mx.multiply(r, 2);
    expect(mx.vmap(f, -1)(A).tolist()).toEqual([
      [2, 8],
      [4, 10],
      [6, 12],
    ]); // over columns
    expect(mx.vmap(f, 0, -1)(A).tolist()).toEqual([
      [2, 8],
      [4, 10],
      [6, 12],
    ]);
    expect(mx.vmap(f, -2, -2)(A).tolist()).toEqual([
      [2, 4, 6],
      [8, 10, 12],
    ]);
    // -1 is an axis, not "unmapped": the second argument here is mapped over its last axis.
    const out = mx.vmap((u: mx.Array, v: mx.Array) => mx.add(u, v), [0, -1])(
      f64([1, 2, 3]),
      f64([
        [10, 20, 30],
        [40, 50, 60],
      ]),
    );
    expect(out.tolist()).toEqual([
      [11, 41],
      [22, 52],
      [33, 63],
    ]);
    expect(() => mx.vmap(f, 2)(A)).toThrow(/in_axes 2 is out of range/);
    expect(() => mx.vmap(f, -3)(A)).toThrow(/in_axes -3 is out of range/);
  });

  it('several outputs, one out axis each', () => {
    const [s, t] = mx.vmap((r: mx.Array) => [mx.sum(r), mx.multiply(r, -1)], 0, [0, 1])(A) as mx.Array[];
    expect(s.tolist()).toEqual([6, 15]);
    expect(t.tolist()).toEqual([
      [-1, -4],
      [-2, -5],
      [-3, -6],
    ]);
  });

  it('trees in arguments and results', () => {
    const out = mx.vmap((p: { a: mx.Array; b: mx.Array[] }) => ({ s: mx.add(p.a, p.b[0]) }))({ a: A, b: [mx.multiply(A, 10)] });
    expect(out.s.tolist()).toEqual([
      [11, 22, 33],
      [44, 55, 66],
    ]);
  });

  it('matches a loop over rows, and composes with grad (per-example gradients)', () => {
    const X = f64([
      [1, 2],
      [3, -1],
      [0.5, 0.5],
    ]);
    const w = f64([0.3, -0.7]);
    const perExample = mx.vmap(
      mx.grad((wv: mx.Array, xr: mx.Array) => mx.square(mx.sum(mx.multiply(wv, xr)))),
      [null, 0],
    )(w, X);
    const rows = X.tolist() as number[][];
    const want = rows.flatMap((r) => {
      const d = 0.3 * r[0] - 0.7 * r[1];
      return [2 * d * r[0], 2 * d * r[1]];
    });
    expectClose(list(perExample), want, 1e-12);
  });
});

describe('nesting and stopGradient', () => {
  it('grad of grad', () => {
    const s = (v: number) => mx.array(v, 'float64');
    const d2 = mx.grad(mx.grad((x: mx.Array) => mx.power(x, 3)));
    expect(d2(s(2)).item()).toBe(12);
    const sin2 = mx.grad(mx.grad(mx.sin));
    expect(sin2(s(0.7)).item()).toBeCloseTo(-Math.sin(0.7), 6);
    const d3 = mx.grad(mx.grad(mx.grad((x: mx.Array) => mx.exp(mx.multiply(x, 2)))));
    expect(d3(s(0.1)).item()).toBeCloseTo(8 * Math.exp(0.2), 5);
    // The gradient of a function of a vector, twice: the diagonal of the Hessian of sum(x^4).
    const h = mx.grad((x: mx.Array) => mx.sum(mx.grad((y: mx.Array) => mx.sum(mx.power(y, 4)))(x)));
    expect(list(h(f64([1, -2, 0.5])))).toEqual([12, 48, 3]);
  });

  it('jvp of grad (Hessian-vector product) matches the Hessian', () => {
    // f = sum(x0^2 x1 + x1^3) ; H = [[2 x1, 2 x0], [2 x0, 6 x1]]
    const g = mx.grad((x: mx.Array) => mx.sum(mx.add(mx.multiply(mx.square(x.index(0)), x.index(1)), mx.power(x.index(1), 3))));
    const x = f64([1.5, -2]);
    const [, hv] = mx.jvp((v) => g(v), [x], [f64([1, 0])]);
    expectClose(list(hv[0]), [2 * -2, 2 * 1.5], 1e-12);
  });

  it('stopGradient treats its input as a constant', () => {
    const x = f64([1, 2, 3]);
    expect(list(mx.grad((v: mx.Array) => mx.sum(mx.multiply(v, mx.stopGradient(v))))(x))).toEqual([1, 2, 3]);
    expect(list(mx.grad((v: mx.Array) => mx.sum(mx.multiply(v, v)))(x))).toEqual([2, 4, 6]);
    expect(list(mx.grad((v: mx.Array) => mx.sum(mx.stopGradient(mx.exp(v))))(x))).toEqual([0, 0, 0]);
  });
});

describe('compile', () => {
  const fn = (x: mx.Array, y: mx.Array) => mx.add(mx.multiply(mx.exp(x), y), mx.sin(mx.multiply(x, y)));

  it('gives the same values as the uncompiled function', () => {
    const x = mx.array([
      [0.1, 0.2],
      [-1, 3],
    ]);
    const y = mx.array([
      [2, 1],
      [0.5, -0.25],
    ]);
    const cf = mx.compile(fn);
    expectClose(list(cf(x, y)), list(fn(x, y)), 1e-6);
    expectClose(list(cf(y, x)), list(fn(y, x)), 1e-6);
  });

  it('traces once per input shape and dtype; later calls do not re-enter the JS body', () => {
    let calls = 0;
    const cf = mx.compile((x: mx.Array) => {
      calls++;
      return mx.multiply(mx.add(x, 1), 2);
    });
    expect(cf(mx.array([1, 2], 'float32')).tolist()).toEqual([4, 6]);
    expect(calls).toBe(1);
    expect(cf(mx.array([5, 6], 'float32')).tolist()).toEqual([12, 14]);
    expect(cf(mx.array([0, 0], 'float32')).tolist()).toEqual([2, 2]);
    expect(calls).toBe(1); // cached
    expect(cf(mx.array([1, 2, 3], 'float32')).tolist()).toEqual([4, 6, 8]);
    expect(calls).toBe(2); // new shape: retraced
    expect(cf(mx.array([1, 2], 'int32')).tolist()).toEqual([4, 6]);
    expect(calls).toBe(3); // new dtype: retraced
    expect(cf(mx.array([7, 7], 'float32')).tolist()).toEqual([16, 16]);
    expect(calls).toBe(3); // the first shape is still cached
  });

  it('non-array arguments are part of the cache key', () => {
    let calls = 0;
    const scale = mx.compile((x: mx.Array, opts: { k: number; mode: string }) => {
      calls++;
      return opts.mode === 'mul' ? mx.multiply(x, opts.k) : mx.add(x, opts.k);
    });
    const x = mx.array([1, 2]);
    expect(scale(x, { k: 2, mode: 'mul' }).tolist()).toEqual([2, 4]);
    expect(scale(x, { k: 3, mode: 'mul' }).tolist()).toEqual([3, 6]);
    expect(scale(x, { k: 3, mode: 'add' }).tolist()).toEqual([4, 5]);
    expect(calls).toBe(3);
    expect(scale(x, { k: 2, mode: 'mul' }).tolist()).toEqual([2, 4]);
    expect(calls).toBe(3);
  });

  it('shapeless: one trace serves every shape', () => {
    let calls = 0;
    const cf = mx.compile(
      (x: mx.Array) => {
        calls++;
        return mx.exp(mx.negative(mx.abs(x)));
      },
      { shapeless: true },
    );
    expectClose(list(cf(mx.array([1, -2], 'float32'))), [Math.exp(-1), Math.exp(-2)], 1e-6);
    expectClose(list(cf(mx.array([0.5, 1, -3, 0, 2], 'float32'))), [Math.exp(-0.5), Math.exp(-1), Math.exp(-3), 1, Math.exp(-2)], 1e-6);
    expect(cf(mx.zeros([7])).shape).toEqual([7]);
    expect(calls).toBe(1);
    // As in MLX, a different number of dimensions (or dtype) is a new trace...
    expectClose(
      list(
        cf(
          mx.array(
            [
              [0, 3],
              [-1, 0.5],
            ],
            'float32',
          ),
        ),
      ),
      [1, Math.exp(-3), Math.exp(-1), Math.exp(-0.5)],
      1e-6,
    );
    expect(calls).toBe(2);
    // ...and then both are cached.
    expect(cf(mx.zeros([3, 9])).shape).toEqual([3, 9]);
    expect(cf(mx.zeros([11])).shape).toEqual([11]);
    expect(calls).toBe(2);
  });

  it('trees in arguments and results', () => {
    const cf = mx.compile((p: { w: mx.Array; b: mx.Array[] }, x: mx.Array) => ({ y: mx.add(mx.matmul(x, p.w), p.b[0]), n: 2 }));
    const out = cf({ w: mx.array([[1], [2]], 'float32'), b: [mx.array([0.5])] }, mx.array([[3, 4]], 'float32'));
    expect(out.y.tolist()).toEqual([[11.5]]);
    expect(out.n).toBe(2);
  });

  it('compiles gradients: compile(grad(f)) equals grad(f)', () => {
    const f = (w: mx.Array) => mx.sum(mx.square(mx.tanh(w)));
    const w = mx.array([0.3, -1.2, 2]);
    expectClose(list(mx.compile(mx.grad(f))(w)), list(mx.grad(f)(w)), 1e-6);
  });

  it('random numbers inside a compiled function follow the global seed like uncompiled code', () => {
    const draw = (x: mx.Array) => mx.add(x, mx.random.uniform(0, 1, [4]));
    const noisy = (x: mx.Array) => mx.multiply(mx.random.normal([4]), x);
    const cdraw = mx.compile(draw);
    const cnoisy = mx.compile(noisy);
    const x = mx.ones([4]);
    const run = (d: typeof draw, n: typeof noisy) => {
      mx.random.seed(42);
      const out: number[][] = [];
      for (let i = 0; i < 3; i++) {
        out.push(list(d(x)));
        out.push(list(n(x)));
      }
      out.push(list(mx.random.uniform(0, 1, [2]))); // the global key advanced the same way
      return out;
    };
    const eager = run(draw, noisy);
    const compiled = run(cdraw, cnoisy);
    expect(compiled).toEqual(eager);
    // Draws differ across calls (the key advances), and the seed makes them reproducible.
    expect(eager[0]).not.toEqual(eager[2]);
    expect(run(cdraw, cnoisy)).toEqual(compiled);
  });

  it('a compiled function without random draws leaves the global key alone, between ones with them', () => {
    const plain = mx.compile((x: mx.Array) => mx.square(x));
    const noisy = mx.compile((x: mx.Array) => mx.add(x, mx.random.uniform(0, 1, [3])));
    const x = mx.array([1, 2, 3]);
    const run = (withPlain: boolean) => {
      mx.random.seed(7);
      const out: number[][] = [];
      for (let i = 0; i < 4; i++) {
        if (withPlain) expect(list(plain(x))).toEqual([1, 4, 9]);
        out.push(list(noisy(x)));
      }
      out.push(list(mx.random.uniform(0, 1, [2])));
      return out;
    };
    expect(run(true)).toEqual(run(false));
    // The same compiled function, given non-array arguments, is keyed by them too.
    const scaled = mx.compile((x: mx.Array, opts: { k: number }) => mx.multiply(x, opts.k));
    expect(list(scaled(x, { k: 2 }))).toEqual([2, 4, 6]);
    expect(list(scaled(x, { k: 3 }))).toEqual([3, 6, 9]);
  });

  it('setCompileEnabled(false) runs the body every call, with the same values', () => {
    let calls = 0;
    const cf = mx.compile((x: mx.Array) => {
      calls++;
      return mx.square(x);
    });
    const x = mx.array([3]);
    mx.setCompileEnabled(false);
    try {
      expect(cf(x).tolist()).toEqual([9]);
      expect(cf(x).tolist()).toEqual([9]);
      expect(calls).toBe(2);
    } finally {
      mx.setCompileEnabled(true);
    }
  });
});
