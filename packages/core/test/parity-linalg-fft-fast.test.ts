// Matrix products, mx.linalg, mx.fft, mx.fast and quantization: @mlxn/core against golden
// values from Python MLX (tooling/reference/core_golden.py -> test/fixtures/linalg_fft_fast.json).
// Each case mirrors the Python case of the same name. Factorizations whose output is unique only
// up to signs (qr, svd, eigh) are compared through canonical forms computed the same way on
// both sides (sign-fixed Q/R, reconstructions, |U^T U|, |V|).
// Tolerances: float32 rtol 1e-5 / atol 1e-6 by default; linalg rtol 1e-4 / atol 1e-5 (LAPACK
// builds may order floating-point work differently); fft and fast kernels atol 1e-5;
// quantized matmuls rtol 1e-4 / atol 1e-4. Quantized integers are compared exactly.
import { describe, expect, it } from 'vitest';
import * as mx from '../src/index.js';
import { type CaseSpec, loadFixture, parityCases, type Tol } from './parity-helpers.js';

const fx = loadFixture('linalg_fft_fast');
type A = mx.Array;
type I = Record<string, A>;
const { sl } = mx;
const LINALG: Tol = { rtol: 1e-4, atol: 1e-5 };
const FFT: Tol = { rtol: 1e-5, atol: 1e-5 };
const FAST: Tol = { rtol: 1e-5, atol: 1e-5 };
const QMM: Tol = { rtol: 1e-4, atol: 1e-4 };
const scale8 = 1 / Math.sqrt(8);
const cpu = <T>(fn: () => T): T => mx.withStream(mx.cpu, fn);
const withTol = (tol: Tol, fns: Record<string, (I: I) => unknown>): Record<string, CaseSpec> =>
  Object.fromEntries(Object.entries(fns).map(([k, fn]) => [k, { fn, tol }]));

const T: Record<string, CaseSpec> = {
  matmul_batched: (I: I) => mx.matmul(I.A3, I.B3),
  matmul_bcast_batch: (I: I) => mx.matmul(I.A4, I.B4),
  matmul_2d_batch: (I: I) => mx.matmul(I.A3, I.Bb),
  matmul_vec_mat: (I: I) => mx.matmul(I.v4, I.Dm),
  matmul_mat_vec: (I: I) => mx.matmul(I.Am, I.v4),
  matmul_vec_vec: (I: I) => mx.matmul(I.v4, I.w4),
  matmul_batched_vec: (I: I) => mx.matmul(I.A3, I.v4),
  matmul_int: () =>
    mx.matmul(
      mx.array([
        [1, 2],
        [3, 4],
      ]),
      mx.array([
        [5, -1],
        [0, 2],
      ]),
    ),
  addmm: (I: I) => mx.addmm(I.Cm, I.Am, I.Dm),
  addmm_alpha_beta: (I: I) => mx.addmm(I.Cm, I.Am, I.Dm, { alpha: 0.5, beta: -2 }),
  tensordot_1: (I: I) => mx.tensordot(I.A3, I.B3.index(0), 1),
  tensordot_2: (I: I) => mx.tensordot(I.T1, I.T2.transpose(1, 0, 2).reshape(3, 4, 2), 2),
  tensordot_lists: (I: I) =>
    mx.tensordot(I.T1, I.T2, [
      [1, 2],
      [1, 0],
    ]),
  einsum_mm: (I: I) => mx.einsum('ij,jk->ik', I.Am, I.Dm),
  einsum_bmm: (I: I) => mx.einsum('bij,bjk->bik', I.A3, I.B3),
  einsum_diag: (I: I) => mx.einsum('ii->i', I.Gm),
  einsum_trace: (I: I) => mx.einsum('ii', I.Gm),
  einsum_sum: (I: I) => mx.einsum('ij->', I.Am),
  einsum_outer: (I: I) => mx.einsum('i,j->ij', I.v4, I.w4),
  einsum_transpose: (I: I) => mx.einsum('ijk->kji', I.A3),
  einsum_three: (I: I) => mx.einsum('ij,jk,kl->il', I.Am, I.Dm, I.Cm.T),
  inner_vec: (I: I) => mx.inner(I.v4, I.w4),
  inner_mat: (I: I) => mx.inner(I.Am, I.Nm),
  outer: (I: I) => mx.outer(I.v4, I.Nv),
  kron: (I: I) =>
    mx.kron(
      I.Cm,
      mx.array(
        [
          [1, -1],
          [0.5, 2],
        ],
        'float32',
      ),
    ),
};

// ---- linalg ----
function qrCanon(a: A): A[] {
  const [q, r] = mx.linalg.qr(a);
  const s = mx.sign(mx.diagonal(r, 0, -2, -1));
  return [mx.multiply(q, s.index('...', null, sl())), mx.multiply(r, s.index('...', sl(), null)), mx.matmul(q, r)];
}
function svdCheck(a: A): A[] {
  const [u, s, vt] = mx.linalg.svd(a);
  const k = s.shape[s.ndim - 1];
  const uk = u.index('...', sl(), sl(null, k));
  const recon = mx.matmul(mx.multiply(uk, s.index('...', null, sl())), vt.index('...', sl(null, k), sl()));
  return [s, recon, mx.abs(mx.matmul(uk.T, uk))];
}
function eighCheck(a: A, uplo: 'L' | 'U' = 'L'): A[] {
  const [w, v] = mx.linalg.eigh(a, uplo);
  return [w, mx.matmul(mx.multiply(v, w.index(null, sl())), v.T), mx.abs(v)];
}
const vecOrds: [string, number][] = [
  ['1', 1],
  ['2', 2],
  ['3', 3],
  ['inf', Infinity],
  ['-inf', -Infinity],
  ['0', 0],
  ['0.5', 0.5],
];
const matOrds: [string, number][] = [
  ['1', 1],
  ['-1', -1],
  ['2', 2],
  ['-2', -2],
  ['inf', Infinity],
  ['-inf', -Infinity],
];
const linalg: Record<string, (I: I) => unknown> = {
  norm_vec_default: (I) => mx.linalg.norm(I.Nv),
  norm_mat_default: (I) => mx.linalg.norm(I.Nm),
  norm_mat_fro: (I) => mx.linalg.norm(I.Nm, 'fro'),
  norm_mat_nuc: (I) => mx.linalg.norm(I.Nm, 'nuc'),
  norm_axis: (I) => mx.linalg.norm(I.A3, null, 1),
  norm_axis_keep: (I) => mx.linalg.norm(I.A3, 1, -1, true),
  norm_axes_fro: (I) => mx.linalg.norm(I.A3, 'fro', [1, 2]),
  norm_axes_inf: (I) => mx.linalg.norm(I.A3, Infinity, [2, 1], true),
  inv: (I) => mx.linalg.inv(I.Gm),
  inv_batched: (I) => mx.linalg.inv(mx.stack([I.Gm, I.SPD])),
  cholesky: (I) => mx.linalg.cholesky(I.SPD),
  cholesky_upper: (I) => mx.linalg.cholesky(I.SPD, true),
  det: (I) => mx.linalg.det(I.Gm),
  pinv: (I) => mx.linalg.pinv(I.Rm),
  tri_inv: (I) => mx.linalg.triInv(mx.linalg.cholesky(I.SPD)),
  tri_inv_upper: (I) => mx.linalg.triInv(mx.linalg.cholesky(I.SPD, true), true),
  qr_square: (I) => qrCanon(I.Gm),
  qr_tall: (I) => qrCanon(I.Rm),
  svd_tall: (I) => svdCheck(I.Rm),
  svd_wide: (I) => svdCheck(I.Nm),
  svd_values_only: (I) => mx.linalg.svd(I.Gm, false)[0],
  eigh: (I) => eighCheck(I.SPD),
  eigh_upper: (I) => eighCheck(mx.add(mx.triu(I.SPD), mx.tril(I.Gm, -1)), 'U'),
  solve: (I) => mx.linalg.solve(I.Gm, I.rhs),
  solve_vec: (I) => mx.linalg.solve(I.SPD, I.rhsv),
};
for (const [n, o] of vecOrds) linalg[`norm_vec_ord_${n}`] = (I) => mx.linalg.norm(I.Nv, o);
for (const [n, o] of matOrds) linalg[`norm_mat_ord_${n}`] = (I) => mx.linalg.norm(I.Nm, o);
for (const [k, fn] of Object.entries(linalg)) T[k] = { fn: (I: I) => cpu(() => fn(I)), tol: LINALG };

// ---- fft ----
Object.assign(
  T,
  withTol(FFT, {
    fft: (I) => mx.fft.fft(I.fr),
    fft_n_crop: (I) => mx.fft.fft(I.fr, 6),
    fft_n_pad: (I) => mx.fft.fft(I.fr, 10),
    fft_axis0: (I) => mx.fft.fft(I.fr2, undefined, 0),
    fft_complex: (I) => mx.fft.fft(I.fc),
    ifft_complex: (I) => mx.fft.ifft(I.fc),
    ifft_roundtrip: (I) => mx.fft.ifft(mx.fft.fft(I.fr2)),
    rfft: (I) => mx.fft.rfft(I.fr),
    rfft_odd: (I) => mx.fft.rfft(I.fr7),
    rfft_2d: (I) => mx.fft.rfft(I.fr2),
    irfft: (I) => mx.fft.irfft(mx.fft.rfft(I.fr)),
    irfft_n_odd: (I) => mx.fft.irfft(mx.fft.rfft(I.fr7), 7),
    irfft_complex_in: (I) => mx.fft.irfft(I.fc),
    fftn: (I) => mx.fft.fftn(I.fm),
    fftn_axes: (I) => mx.fft.fftn(I.f3, undefined, [0, 2]),
    fftn_s: (I) => mx.fft.fftn(I.fm, [3, 8], [0, 1]),
    ifftn: (I) => mx.fft.ifftn(mx.fft.fftn(I.f3)),
    rfftn: (I) => mx.fft.rfftn(I.fm),
    irfftn: (I) => mx.fft.irfftn(mx.fft.rfftn(I.fm), [4, 6], [0, 1]),
    fft2: (I) => mx.fft.fft2(I.f3),
  }),
);

// ---- fast ----
const fast: Record<string, (I: I) => unknown> = {
  rms_norm: (I) => mx.fast.rmsNorm(I.x_norm, I.g_norm, 1e-5),
  rms_norm_noweight: (I) => mx.fast.rmsNorm(I.x_norm, null, 1e-6),
  layer_norm: (I) => mx.fast.layerNorm(I.x_norm, I.g_norm, I.b_norm, 1e-5),
  layer_norm_noaffine: (I) => mx.fast.layerNorm(I.x_norm, null, null, 1e-5),
  layer_norm_weight_only: (I) => mx.fast.layerNorm(I.x_norm, I.g_norm, null, 1e-5),
  rope_freqs: (I) => mx.fast.rope(I.x_rope, 8, { traditional: false, scale: 1, offset: 1, freqs: mx.array([1, 0.5, 0.25, 0.125]) }),
  sdpa: (I) => mx.fast.scaledDotProductAttention(I.q, I.k, I.v, { scale: scale8 }),
  sdpa_causal: (I) => mx.fast.scaledDotProductAttention(I.q, I.k, I.v, { scale: scale8, mask: 'causal' }),
  sdpa_causal_square: (I) => mx.fast.scaledDotProductAttention(I.q, I.k3, I.v3, { scale: scale8, mask: 'causal' }),
  sdpa_additive_mask: (I) => mx.fast.scaledDotProductAttention(I.q, I.k, I.v, { scale: scale8, mask: I.madd }),
  sdpa_bool_mask: (I) => mx.fast.scaledDotProductAttention(I.q, I.k, I.v, { scale: 0.5, mask: I.mbool }),
  sdpa_mha: (I) => mx.fast.scaledDotProductAttention(I.q, mx.repeat(I.k, 2, 1), mx.repeat(I.v, 2, 1), { scale: scale8 }),
  // The same causal GQA attention spelled out with ops: q heads (0, 1) share kv head 0, (2, 3) kv head 1,
  // and query i (of 3) sees keys 0..i+2 (of 5).
  sdpa_ref_causal: (I) => {
    const scores = mx.multiply(mx.matmul(I.q.reshape(1, 2, 2, 3, 8), I.k.index(sl(), sl(), null).swapaxes(-1, -2)), scale8);
    const allowed = mx.lessEqual(mx.arange(5).index(null, sl()), mx.add(mx.arange(3).index(sl(), null), 2));
    return mx.matmul(mx.softmax(mx.add(scores, mx.where(allowed, 0, -Infinity)), -1), I.v.index(sl(), sl(), null));
  },
};
for (const trad of [false, true]) {
  const t = Number(trad);
  fast[`rope_t${t}`] = (I) => mx.fast.rope(I.x_rope, 8, { traditional: trad, base: 10000, scale: 1, offset: 0 });
  fast[`rope_t${t}_offset`] = (I) => mx.fast.rope(I.x_rope, 8, { traditional: trad, base: 10000, scale: 1, offset: 3 });
  fast[`rope_t${t}_partial`] = (I) => mx.fast.rope(I.x_rope, 4, { traditional: trad, base: 500, scale: 0.5, offset: 2 });
  fast[`rope_t${t}_offset_arr`] = (I) => mx.fast.rope(I.x_rope, 8, { traditional: trad, base: 10000, scale: 1, offset: mx.array(4) });
  fast[`rope_t${t}_offset_batch`] = (I) => mx.fast.rope(I.x_rope_b, 8, { traditional: trad, base: 10000, scale: 1, offset: I.off_b });
}
Object.assign(T, withTol(FAST, fast));
T.rms_norm_f16 = (I: I) => mx.fast.rmsNorm(I.x_norm.astype('float16'), I.g_norm.astype('float16'), 1e-5);

// ---- quantization (affine) ----
for (const bits of [4, 8]) {
  const q = { groupSize: 64, bits };
  T[`quantize_b${bits}`] = (I: I) => mx.quantize(I.W, q);
  T[`dequantize_b${bits}`] = (I: I) => {
    const [wq, s, b] = mx.quantize(I.W, q);
    return mx.dequantize(wq, s, b, q);
  };
  T[`qmm_b${bits}`] = {
    fn: (I: I) => {
      const [wq, s, b] = mx.quantize(I.W, q);
      return mx.quantizedMatmul(I.xq, wq, s, b, { ...q, transpose: true });
    },
    tol: QMM,
  };
  T[`qmm_nt_b${bits}`] = {
    fn: (I: I) => {
      const [wq, s, b] = mx.quantize(I.Wt, q);
      return mx.quantizedMatmul(I.xqt, wq, s, b, { ...q, transpose: false });
    },
    tol: QMM,
  };
}
T.quantize_g32_b4 = (I: I) => {
  const [wq, s, b] = mx.quantize(I.W, { groupSize: 32, bits: 4 });
  return mx.dequantize(wq, s, b, { groupSize: 32, bits: 4 });
};

describe('matmul, linalg, fft, fast and quantization parity with Python MLX', () => {
  parityCases(fx, T);
});

describe('linalg: properties', () => {
  it('inv(a) @ a is the identity', () => {
    const I = fx.inputs;
    const a = mx.array(Float32Array.from(I.Gm.data as number[])).reshape(4, 4);
    const prod = cpu(() => mx.matmul(mx.linalg.inv(a), a));
    expect(mx.allclose(prod, mx.eye(4), { atol: 1e-5 }).item()).toBe(true);
  });
});
