#!/usr/bin/env python3
"""Runs the fused decoding kernels of crates/mlxn-sys/src/shim/ alone, from Python, on the GPU
machine: each kernel's source assembled from the shim files in this checkout (as nvrtc-check.py
does), compiled by the NVRTC that MLX's CUDA build uses, and launched with MLX's
`mx.fast.precompiled_cuda_kernel` on Qwen3-0.6B's shapes (bfloat16, one row). A kernel's
design can so be tried on a GPU without building the addon. Run it with the kernel profiler
(run.sh: MLXN_KERNEL_PROFILE=1) to read each kernel's device time:

    tooling/bench/gpu/run.sh kernels [PATTERN ...]

PATTERN: `alone` (each kernel 100 times in a row, one evaluation each), `layer` (a layer's
kernels in turn, as a decoding step runs them, 100 times), `probe` (each product shape of a step
by a product kernel without prologue and by MLX's matmul), `all` the first two.
Settings: MLXN_KERNEL_CLUSTER (blocks per head of the attention from 512 keys, default 8),
MLXN_QKV_WARPS (the one-kernel q/k/v's warps per block, default 16), MLXN_KERNEL_UNROLL
(LOAD_UNROLL, default 1), MLXN_BENCH_KEYS (the attention's keys, default 160).
"""
import ctypes
import importlib.util
import os
import sys

import mlx.core as mx

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location('nvrtc_check', os.path.join(HERE, 'nvrtc-check.py'))
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

SRC = ''.join(open(f).read() for f in check.SHIM_FILES)
PART = {n: check.raw_string(SRC, n) for n in (
    'kPrelude', 'kCluster', 'kNormRows', 'kDotRows', 'kNormQkvHeads', 'kNormProduct', 'kSwigluValue', 'kRowsProduct',
    'kDecodeAttention', 'kBlockSum', 'kQkvHeads')}
NVRTC = ctypes.CDLL('libnvrtc.so.13')


def ptx(consts, *parts, rename=None):
    """PTX of the parts; `rename` (old, new) renames the kernel, so the profiler tells variants apart."""
    source = PART['kPrelude'] + 'typedef mlxn_bf16 T;\n' + check.constants(consts) + ''.join(PART[p] for p in parts)
    if rename:
        source = source.replace(f'void __launch_bounds__(WARPS * 32) {rename[0]}(', f'void __launch_bounds__(WARPS * 32) {rename[1]}(')
    code, log = check.compile_ptx(NVRTC, source, '90')
    if code is None:
        raise SystemExit(log)
    return code


# A product with no prologue (its rows are ones): the weight rows' loads and sums alone, to set
# against MLX's matmul on the same shape and against the kernels whose prologue (a norm, the
# SwiGLU) runs before the same loop.
PROBE = r"""
extern "C" __global__ void __launch_bounds__(WARPS * 32) mlxn_probe_rows(const T* w, T* y, int n_out) {
  __shared__ __align__(16) T xs[ROWS * K];
  uint4 pieces[COLS][SOURCES][PIECES];
  const bool whole = mlxn_columns_load(w, n_out, pieces);
  for (int i = threadIdx.x; i < ROWS * K; i += WARPS * 32) xs[i] = from_float<T>(1.f);
  __syncthreads();
  mlxn_columns_finish(xs, w, pieces, whole, y, n_out);
}
"""


def probes(kernel, r):
    """Each shape of a Qwen3-0.6B decoding step's products, by the probe and by MLX's matmul."""
    out = {}
    for k, n in ((1024, 4096), (2048, 1024), (1024, 6144), (3072, 1024), (1024, 151936)):
        w = r(n, k)
        x = r(1, k)
        mx.eval(w, x)
        for warps in (4, 8):
            source_ptx = ptx_source([('ROWS', 1), ('K', k), ('WARPS', warps), ('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', 0)],
                                    PART['kSwigluValue'] + PART['kDotRows'] + PROBE)
            out[f'probe K={k} N={n} warps={warps}'] = (lambda w=w, n=n, warps=warps, code=source_ptx: kernel(
                name='mlxn_probe_rows', compiled_source=code, inputs=[w], output_shapes=[(1, n)],
                output_dtypes=[mx.bfloat16], scalars=[n], grid=(n * 32, 1, 1), threadgroup=(warps * 32, 1, 1))[0])
        out[f'matmul K={k} N={n}'] = lambda w=w, x=x: x @ w.T
    return out


def ptx_source(consts, body):
    PART['_body'] = body
    return ptx(consts, '_body')


def main():
    patterns = sys.argv[1:] or ['all']
    if 'all' in patterns:
        patterns = ['alone', 'layer']
    cluster = int(os.environ.get('MLXN_KERNEL_CLUSTER', '8'))
    keys = int(os.environ.get('MLXN_BENCH_KEYS', '160'))
    K, NQ, NK, D, FF, CAP = 1024, 16, 8, 128, 3072, 512
    bf = mx.bfloat16
    r = lambda *s: (mx.random.normal(s) * 0.05).astype(bf)
    residual, delta, norm_w = r(1, K), r(1, K), r(K) + 1
    w_qkv, q_w, k_w = r((NQ + 2 * NK) * D, K), r(D) + 1, r(D) + 1
    offset = mx.array([keys - 1], dtype=mx.int32)
    kc, vc = r(1, NK, CAP, D), r(1, NK, CAP, D)
    w_o, w_gu, w_down = r(K, NQ * D), r(2 * FF, K), r(K, FF)
    gate_up = r(1, 2 * FF)
    mx.eval(residual, delta, norm_w, w_qkv, q_w, k_w, offset, kc, vc, w_o, w_gu, w_down, gate_up)

    unroll = int(os.environ.get('MLXN_KERNEL_UNROLL', '1'))
    folded = [('ROWS', 1), ('K', K), ('ADD', 1), ('EPS', 1e-6), ('LOAD_UNROLL', unroll)]
    qkv_warps = int(os.environ.get('MLXN_QKV_WARPS', '16'))
    # The one-kernel q/k/v of more than two rows (a block per head).
    qkv_one_ptx = ptx(folded + [('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', 0), ('WARPS', qkv_warps),
                                ('HEAD_DIM', D), ('N_Q', NQ), ('N_K', NK), ('TRADITIONAL', 0), ('PER_ROW_OFFSET', 0),
                                ('Q_EPS', 1e-6), ('K_EPS', 1e-6), ('LOG2_BASE', 19.93156815), ('ROPE_SCALE', 1.0)],
                      'kSwigluValue', 'kNormRows', 'kDotRows', 'kNormQkvHeads')
    # One or two rows: the norm and product (norm_product), then qkv_heads.
    norm_product_ptx = ptx(folded + [('WARPS', 8), ('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', 0)],
                           'kSwigluValue', 'kNormRows', 'kDotRows', 'kNormProduct')
    heads_ptx = ptx([('HEAD_DIM', D), ('N_Q', NQ), ('N_K', NK), ('Q_STRIDE', (NQ + 2 * NK) * D), ('Q_COL', 0),
                     ('K_STRIDE', (NQ + 2 * NK) * D), ('K_COL', NQ * D), ('V_STRIDE', (NQ + 2 * NK) * D),
                     ('V_COL', (NQ + NK) * D), ('TRADITIONAL', 0), ('PER_ROW_OFFSET', 0), ('Q_EPS', 1e-6),
                     ('K_EPS', 1e-6), ('LOG2_BASE', 19.93156815), ('ROPE_SCALE', 1.0)], 'kBlockSum', 'kQkvHeads')
    mlp_ptx = ptx(folded + [('WARPS', 8), ('COLS', 1), ('PAIRED', 1), ('HELD_ROWS', 0)],
                  'kSwigluValue', 'kNormRows', 'kDotRows', 'kNormProduct', rename=('mlxn_norm_product', 'mlxn_norm_swiglu'))
    down_ptx = ptx([('ROWS', 1), ('K', FF), ('WARPS', 8), ('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', 1), ('SWIGLU', 0),
                    ('LOAD_UNROLL', unroll)], 'kSwigluValue', 'kDotRows', 'kRowsProduct')
    attn_cluster = cluster if keys >= 512 else 1
    attn_ptx = ptx([('CLUSTER', attn_cluster), ('KEYS_AT_ONCE', 4), ('HEAD_DIM', D), ('N_Q', NQ), ('N_KV', NK),
                    ('WARPS', 16), ('HAS_MASK', 0), ('BOOL_MASK', 0), ('SCALE', 0.08838834465), ('MT', 'mlxn_bf16')],
                   'kCluster', 'kDecodeAttention')
    kernel = mx.fast.precompiled_cuda_kernel

    def qkv_one():
        return kernel(name='mlxn_norm_qkv_heads', compiled_source=qkv_one_ptx,
                      inputs=[residual, delta, norm_w, w_qkv, q_w, k_w, offset],
                      output_shapes=[(1, K), (1, NQ, 1, D), (1, NK, 1, D), (1, NK, 1, D)], output_dtypes=[bf] * 4,
                      scalars=[], grid=((NQ + 2 * NK) * qkv_warps * 32, 1, 1), threadgroup=(qkv_warps * 32, 1, 1))

    def norm_product(x, w, n_out):
        return kernel(name='mlxn_norm_product', compiled_source=norm_product_ptx, inputs=[residual, x, norm_w, w],
                      output_shapes=[(1, K), (1, n_out)], output_dtypes=[bf, bf], scalars=[n_out],
                      grid=(n_out // 8 * 256, 1, 1), threadgroup=(256, 1, 1))

    def heads(qkv):
        return kernel(name='mlxn_qkv_heads', compiled_source=heads_ptx, inputs=[qkv, qkv, qkv, q_w, k_w, offset],
                      output_shapes=[(1, NQ, 1, D), (1, NK, 1, D), (1, NK, 1, D)], output_dtypes=[bf] * 3,
                      scalars=[1], grid=((NQ + 2 * NK) * 64, 1, 1), threadgroup=(64, 1, 1))

    def qkv():
        s, raw = norm_product(delta, w_qkv, (NQ + 2 * NK) * D)
        return (s, *heads(raw))

    def attention(q):
        return kernel(name='mlxn_decode_attention', compiled_source=attn_ptx, inputs=[q, kc, vc, q],
                      output_shapes=[(1, NQ * D)], output_dtypes=[bf], scalars=[keys, CAP, 0, 0],
                      grid=(NQ * attn_cluster * 512, 1, 1), threadgroup=(512, 1, 1))[0]

    def mlp(x):
        return kernel(name='mlxn_norm_swiglu', compiled_source=mlp_ptx, inputs=[residual, x, norm_w, w_gu],
                      output_shapes=[(1, K), (1, FF)], output_dtypes=[bf, bf], scalars=[FF],
                      grid=(FF // 8 * 256, 1, 1), threadgroup=(256, 1, 1))

    def down(x):
        return kernel(name='mlxn_rows_product', compiled_source=down_ptx, inputs=[x, w_down],
                      output_shapes=[(1, K)], output_dtypes=[bf], scalars=[K],
                      grid=(K // 8 * 256, 1, 1), threadgroup=(256, 1, 1))[0]

    q0 = qkv()[1]
    o0 = attention(q0)
    act0 = mlp(delta)[1]
    mx.eval(q0, o0, act0)
    steps = {
        'qkv (one kernel)': qkv_one,
        'qkv (norm_product, qkv_heads)': qkv,
        'attention': lambda: attention(q0),
        'o_proj (MLX matmul)': lambda: o0 @ w_o.T,
        'norm, gate/up and SwiGLU': lambda: mlp(delta),
        'down': lambda: down(act0),
    }
    for pattern in patterns:
        if pattern == 'probe':
            for name, step in probes(kernel, r).items():
                for _ in range(100):
                    mx.eval(step())
                print(name, flush=True)
        elif pattern == 'alone':
            for name, step in steps.items():
                for _ in range(100):
                    mx.eval(step())
        elif pattern == 'layer':
            for _ in range(100):
                s, q, k, v = qkv()
                a = attention(q)
                o = a @ w_o.T
                _, act = mlp(o)
                y = down(act)
                mx.eval(s, k, v, y)
        else:
            raise SystemExit(f'unknown pattern {pattern}')
        print(f'{pattern}: done', flush=True)


if __name__ == '__main__':
    main()
