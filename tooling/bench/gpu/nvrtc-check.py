#!/usr/bin/env python3
"""Compiles the fused CUDA kernels of crates/mlxn-sys/src/shim/gpu_fused*.cc with NVRTC, without a GPU.

The shim assembles each kernel's whole source (its prelude, element type, constants, body: no
header) and compiles it with NVRTC on first use (gpu_kernel_compile.cc), on the GPU machine.
This assembles the same sources here for every dtype and variant the shim can ask for and
compiles them as the shim does, so a syntax or type error shows up before a device call is spent
on it, and prints how long each compile took and the PTX's size. It does not run the kernels
(tooling/bench/fused-parity.ts checks their numbers on a GPU).

    python3 tooling/bench/gpu/nvrtc-check.py [--arch 90]

NVRTC comes from PyPI's `nvidia-cuda-nvrtc` wheel (downloaded once into ~/.cache/mlxn/nvrtc-check).
"""
import argparse
import ctypes
import glob
import os
import re
import subprocess
import sys
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIM_FILES = [os.path.join(ROOT, 'crates/mlxn-sys/src/shim', f)
              for f in ('gpu_fused_common.h', 'gpu_fused.cc', 'gpu_fused_rows.cc')]


def nvrtc_library(cache):
    """NVRTC from PyPI's wheel, unpacked into `cache`."""
    lib = os.path.join(cache, 'nvidia/cu13/lib/libnvrtc.so.13')
    if not os.path.exists(lib):
        wheels = os.path.join(cache, 'wheels')
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d', wheels,
                        'nvidia-cuda-nvrtc==13.*'], check=True)
        for w in glob.glob(os.path.join(wheels, '*.whl')):
            zipfile.ZipFile(w).extractall(cache)
    return lib


def raw_string(src, name):
    m = re.search(r'constexpr const char\* ' + name + r' = R"\((.*?)\)";', src, re.S)
    if not m:
        raise SystemExit(f'{name} not found in {", ".join(SHIM_FILES)}')
    return m.group(1)


def constants(pairs):
    """As gpu_fused_common.h's int_constant / float_constant / typedef lines."""
    s = ''
    for k, v in pairs:
        if isinstance(v, str):
            s += f'typedef {v} {k};\n'
        elif isinstance(v, float):
            s += f'constexpr float {k} = {v:.9e}f;\n'
        else:
            s += f'constexpr int {k} = {int(v)};\n'
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--cache', default=os.path.expanduser('~/.cache/mlxn/nvrtc-check'))
    ap.add_argument('--arch', default='90', help='virtual architecture, as compute_<arch>')
    args = ap.parse_args()
    nvrtc = ctypes.CDLL(nvrtc_library(args.cache))
    src = ''.join(open(f).read() for f in SHIM_FILES)
    prelude, block_sum, qkv, add_norm, swiglu_value, swiglu, rows_product, attention, norm_rows, dot_rows, \
        norm_product, norm_qkv = (raw_string(src, n) for n in (
            'kPrelude', 'kBlockSum', 'kQkvHeads', 'kAddRmsNorm', 'kSwigluValue', 'kSwigluHalves', 'kRowsProduct',
            'kDecodeAttention', 'kNormRows', 'kDotRows', 'kNormProduct', 'kNormQkvHeads'))
    failed = 0

    def compile_one(label, t, consts, *parts):
        nonlocal failed
        source = prelude + f'typedef {t} T;\n' + constants(consts) + ''.join(parts)
        start = time.perf_counter()
        prog = ctypes.c_void_p()
        if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b'kernel.cu', 0, None, None) != 0:
            raise SystemExit('nvrtcCreateProgram failed')
        opts = [f'--gpu-architecture=compute_{args.arch}'.encode(), b'--std=c++17']
        result = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        ms = (time.perf_counter() - start) * 1000
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(prog, log)
        ptx_size = ctypes.c_size_t()
        if result == 0:
            nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(ptx_size))
        nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
        # The PTX's size matters on the GPU too: MLX hashes the whole PTX on every call of a kernel.
        print(f'{label}: {"ok" if result == 0 else "FAILED"} ({ms:.0f} ms, PTX {ptx_size.value} bytes)')
        if result != 0 or log.value.strip():
            failed += result != 0
            print(log.value.decode())

    for t in ('mlxn_bf16', 'mlxn_f16', 'float'):
        for traditional in (False, True):
            for per_row in (False, True):
                compile_one(f'qkv_heads[{t},traditional={traditional},per_row={per_row}]', t,
                            [('HEAD_DIM', 128), ('N_Q', 16), ('N_K', 8), ('Q_STRIDE', 4096), ('Q_COL', 0),
                             ('K_STRIDE', 4096), ('K_COL', 2048), ('V_STRIDE', 4096), ('V_COL', 3072),
                             ('TRADITIONAL', traditional), ('PER_ROW_OFFSET', per_row), ('Q_EPS', 1e-6),
                             ('K_EPS', 1e-6), ('LOG2_BASE', 19.93156815), ('ROPE_SCALE', 1.0)], block_sum, qkv)
        compile_one(f'add_rms_norm[{t}]', t, [('WIDTH', 1024), ('THREADS', 256), ('EPS', 1e-6)], block_sum, add_norm)
        compile_one(f'swiglu_halves[{t}]', t, [('HALF', 3072)], swiglu_value, swiglu)
        for rows in (1, 8):
            for k in (1024, 3072, 1000):
                for act in (False, True):
                    compile_one(f'rows_product[{t},rows={rows},K={k},swiglu={act}]', t,
                                [('ROWS', rows), ('K', k), ('WARPS', 8), ('SWIGLU', act), ('LOAD_UNROLL', 1)], swiglu_value, dot_rows,
                                rows_product)
        for rows in (1, 8):
            for k in (1024, 1000):
                for add in (False, True):
                    folded = [('ROWS', rows), ('K', k), ('ADD', add), ('EPS', 1e-6), ('LOAD_UNROLL', 4 if add else 1)]
                    compile_one(f'norm_product[{t},rows={rows},K={k},add={add}]', t, folded + [('WARPS', 8)],
                                norm_rows, dot_rows, norm_product)
                    for traditional in (False, True):
                        compile_one(f'norm_qkv_heads[{t},rows={rows},K={k},add={add},traditional={traditional}]', t,
                                    folded + [('WARPS', 16), ('HEAD_DIM', 128), ('N_Q', 16), ('N_K', 8),
                                              ('TRADITIONAL', traditional), ('PER_ROW_OFFSET', rows > 1),
                                              ('Q_EPS', 1e-6), ('K_EPS', 1e-6), ('LOG2_BASE', 19.93156815),
                                              ('ROPE_SCALE', 1.0)], norm_rows, dot_rows, norm_qkv)
        for mask in (None, 'unsigned char', t, 'float'):
            compile_one(f'decode_attention[{t},mask={mask}]', t,
                        [('HEAD_DIM', 128), ('N_Q', 16), ('N_KV', 8), ('WARPS', 16), ('HAS_MASK', mask is not None),
                         ('BOOL_MASK', mask == 'unsigned char'), ('SCALE', 0.08838834465), ('MT', mask or t)],
                        attention)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
