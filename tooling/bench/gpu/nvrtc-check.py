#!/usr/bin/env python3
"""Compiles the fused CUDA kernels of crates/mlxn-sys/src/shim/gpu_fused.cc with NVRTC, without a GPU.

MLX's `fast::cuda_kernel` assembles each kernel's source (its device header, ours, the signature
it derives from the inputs and outputs, the template constants, the body) and compiles it with
NVRTC on first use, on the GPU machine. This does the same here for every dtype and variant the
shim can ask for, so a syntax or type error shows up before a device call is spent on it. It
does not run the kernels (tooling/bench/fused-parity.ts checks their numbers on a GPU).

    python3 tooling/bench/gpu/nvrtc-check.py --mlx-src <MLX source tree at the pinned version>

MLX embeds its device headers (`mlx/backend/cuda/device/*.cuh`) in libmlx.so rather than
shipping them in the wheel, so a source tree of the pinned MLX must be given. NVRTC and the CUDA
headers come from PyPI's `nvidia-cuda-nvrtc`, `nvidia-cuda-runtime` and `nvidia-cuda-cccl`
wheels (downloaded once into ~/.cache/mlxn/nvrtc-check).
"""
import argparse
import ctypes
import glob
import os
import re
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIM = os.path.join(ROOT, 'crates/mlxn-sys/src/shim/gpu_fused.cc')


def toolkit(cache):
    """NVRTC and the CUDA headers from PyPI's wheels, unpacked into `cache`."""
    lib = os.path.join(cache, 'nvidia/cu13/lib/libnvrtc.so.13')
    if not os.path.exists(lib):
        wheels = os.path.join(cache, 'wheels')
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d', wheels,
                        'nvidia-cuda-nvrtc==13.*', 'nvidia-cuda-runtime==13.*', 'nvidia-cuda-cccl==13.*'], check=True)
        for w in glob.glob(os.path.join(wheels, '*.whl')):
            zipfile.ZipFile(w).extractall(cache)
    return lib, os.path.join(cache, 'nvidia/cu13/include')


def raw_string(src, name):
    m = re.search(r'constexpr const char\* ' + name + r' = R"\((.*?)\)";', src, re.S)
    if not m:
        raise SystemExit(f'{name} not found in {SHIM}')
    return m.group(1)


def assemble(name, header, body, inputs, outputs, consts):
    """The source MLX's build_kernel makes (mlx/backend/cuda/custom_kernel.cpp)."""
    s = '#include "mlx/backend/cuda/device/utils.cuh"\n\n#include <cooperative_groups.h>\n\n' + header
    s += 'namespace mlx::core::cu {\n\nnamespace cg = cooperative_groups;\n\n'
    s += f'__global__ void {name}(\n'
    for n, t in inputs:
        s += f'    const {t}* {n},\n'
        # MLX passes shape and strides of an input whose name_shape / name_strides the body uses.
        if f'{n}_shape' in body:
            s += f'    const __grid_constant__ Shape {n}_shape,\n'
        if f'{n}_strides' in body:
            s += f'    const __grid_constant__ Strides {n}_strides,\n'
    s += ',\n'.join(f'    {t}* {n}' for n, t in outputs) + ') {\n'
    for k, v in consts:
        if isinstance(v, bool):
            s += f'  constexpr bool {k} = {"true" if v else "false"};\n'
        elif isinstance(v, int):
            s += f'  constexpr int {k} = {v};\n'
        else:
            s += f'  using {k} = {v};\n'
    return s + '\n' + body + '\n}\n\n} // namespace mlx::core::cu\n'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--mlx-src', required=True, help='MLX source tree (holds mlx/backend/cuda/device)')
    ap.add_argument('--cache', default=os.path.expanduser('~/.cache/mlxn/nvrtc-check'))
    ap.add_argument('--arch', default='compute_90a')
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.mlx_src, 'mlx/backend/cuda/device/utils.cuh')):
        raise SystemExit(f'{args.mlx_src} has no mlx/backend/cuda/device/utils.cuh')
    lib, include = toolkit(args.cache)
    nvrtc = ctypes.CDLL(lib)
    src = open(SHIM).read()
    block_sum, qk, add_norm, attention = (raw_string(src, n) for n in ('kBlockSum', 'kQkNormRope', 'kAddRmsNorm', 'kMaskedDecodeAttention'))
    includes = [args.mlx_src, include, os.path.join(include, 'cccl')]
    failed = 0

    def compile_one(name, source):
        nonlocal failed
        prog = ctypes.c_void_p()
        if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), f'{name}.cu'.encode(), 0, None, None) != 0:
            raise SystemExit('nvrtcCreateProgram failed')
        opts = [b'--device-as-default-execution-space', f'--gpu-architecture={args.arch}'.encode()]
        opts += [f'--include-path={p}'.encode() for p in includes]
        result = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(prog, log)
        print(f'{name}: {"ok" if result == 0 else "FAILED"}')
        if result != 0:
            failed += 1
            print(log.value.decode())

    rope = block_sum + ''.join(f'constexpr float {k} = {v};\n' for k, v in
                               [('Q_EPS', '1.0e-06f'), ('K_EPS', '1.0e-06f'), ('LOG2_BASE', '1.993156815e+01f'), ('ROPE_SCALE', '1.0f')])
    for t in ('__nv_bfloat16', '__half', 'float'):
        for traditional in (False, True):
            for per_row in (False, True):
                compile_one(f'qk_norm_rope[{t},traditional={traditional},per_row={per_row}]', assemble(
                    'custom_kernel_mlxn_qk_norm_rope', rope, qk,
                    [('q_src', t), ('k_src', t), ('q_weight', t), ('k_weight', t), ('offset', 'int32_t')],
                    [('q_out', t), ('k_out', t)],
                    [('T', t), ('HEAD_DIM', 128), ('N_Q', 16), ('N_K', 8), ('Q_STRIDE', 4096), ('Q_COL', 0),
                     ('K_STRIDE', 4096), ('K_COL', 2048), ('TRADITIONAL', traditional), ('PER_ROW_OFFSET', per_row)]))
        compile_one(f'add_rms_norm[{t}]', assemble(
            'custom_kernel_mlxn_add_rms_norm', block_sum + 'constexpr float EPS = 1.0e-06f;\n', add_norm,
            [('residual', t), ('delta', t), ('weight', t)], [('sum', t), ('normed', t)],
            [('T', t), ('WIDTH', 1024), ('THREADS', 256)]))
        for mask in ('bool', t):
            compile_one(f'masked_decode_attention[{t},mask={mask}]', assemble(
                'custom_kernel_mlxn_masked_decode_attention', 'constexpr float SCALE = 8.838834465e-02f;\n', attention,
                [('q', t), ('k', t), ('v', t), ('mask', mask)], [('out', t)],
                [('T', t), ('HEAD_DIM', 128), ('WARPS', 8), ('BOOL_MASK', mask == 'bool')]))
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
