#!/usr/bin/env python3
"""Compiles the fused CUDA kernels of crates/mlxn-sys/src/shim/gpu_fused*.cc with NVRTC, without a GPU.

The shim assembles each kernel's whole source (its prelude, element type, constants, body: no
header) and compiles it with NVRTC on first use (gpu_kernel_compile.cc), on the GPU machine.
This assembles the same sources here for every dtype and variant the shim can ask for and
compiles them as the shim does, so a syntax or type error shows up before a device call is spent
on it, and prints how long each compile took and the PTX's size. It does not run the kernels
(tooling/bench/fused-parity.ts checks their numbers on a GPU).

    python3 tooling/bench/gpu/nvrtc-check.py [--arch 90] [--ptxas]

NVRTC comes from PyPI's `nvidia-cuda-nvrtc` wheel (downloaded once into ~/.cache/mlxn/nvrtc-check).
With --ptxas each PTX is also assembled for sm_<arch> by the `ptxas` of PyPI's `nvidia-cuda-nvcc`
wheel (as the driver does on the GPU: inline PTX the assembler rejects shows up here), and the
registers and spills of each kernel are printed.
"""
import argparse
import ctypes
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHIM_FILES = [os.path.join(ROOT, 'crates/mlxn-sys/src/shim', f)
              for f in ('gpu_fused_common.h', 'gpu_fused.cc', 'gpu_fused_rows.cc')]


def wheel_file(cache, requirement, path):
    """`path` of PyPI's wheel `requirement`, downloaded and unpacked into `cache` once."""
    target = os.path.join(cache, path)
    if not os.path.exists(target):
        wheels = os.path.join(cache, 'wheels-' + requirement.split('=')[0])
        subprocess.run([sys.executable, '-m', 'pip', 'download', '--quiet', '--no-deps', '-d', wheels, requirement],
                       check=True)
        for w in glob.glob(os.path.join(wheels, '*.whl')):
            zipfile.ZipFile(w).extractall(cache)
    return target


def nvrtc_library(cache):
    """NVRTC from PyPI's wheel."""
    return wheel_file(cache, 'nvidia-cuda-nvrtc==13.*', 'nvidia/cu13/lib/libnvrtc.so.13')


def ptxas_binary(cache):
    """ptxas from PyPI's nvcc wheel (zip files keep no file modes)."""
    exe = wheel_file(cache, 'nvidia-cuda-nvcc==13.*', 'nvidia/cu13/bin/ptxas')
    os.chmod(exe, 0o755)
    return exe


def compile_ptx(nvrtc, source, arch):
    """(PTX or None, NVRTC's log) for `source`, compiled as the shim compiles it."""
    prog = ctypes.c_void_p()
    if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b'kernel.cu', 0, None, None) != 0:
        raise SystemExit('nvrtcCreateProgram failed')
    try:
        opts = [f'--gpu-architecture=compute_{arch}'.encode(), b'--std=c++17']
        result = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(prog, log)
        if result != 0:
            return None, log.value.decode()
        nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetPTX(prog, ptx)
        return ptx.raw, log.value.decode()
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))


def assemble(ptxas, arch, ptx):
    """ptxas's verdict on `ptx`: registers and spill bytes, or its errors."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'kernel.ptx')
        with open(path, 'wb') as f:
            f.write(ptx)
        cubin = os.path.join(tmp, 'kernel.cubin')
        r = subprocess.run([ptxas, f'-arch=sm_{arch}', '-v', path, '-o', cubin], capture_output=True, text=True)
        if r.returncode != 0:
            return False, r.stderr.strip()
        # The machine code's size (the .text sections of the ELF cubin): what each multiprocessor
        # fetches into its instruction cache when the kernel runs.
        sections = subprocess.run(['readelf', '-S', '-W', cubin], capture_output=True, text=True).stdout
        code = sum(int(m.group(1), 16) for m in re.finditer(r'\.text\.\S+\s+PROGBITS\s+\S+\s+\S+\s+(\S+)', sections))
    regs = re.findall(r'Used (\d+) registers', r.stderr)
    spills = re.findall(r'(\d+) bytes spill stores', r.stderr)
    return True, f'{",".join(regs)} registers, {max(map(int, spills or [0]))} bytes spilled, SASS {code} bytes'


def raw_string(src, name):
    m = re.search(r'constexpr const char\* ' + name + r' = R"\((.*?)\)";', src, re.S)
    if not m:
        raise SystemExit(f'{name} not found in {", ".join(SHIM_FILES)}')
    return m.group(1)


def constants(pairs):
    """As gpu_fused_common.h's int_constant / float_constant / typedef lines."""
    s = ''
    for k, v in pairs:
        if k == 'CLUSTER':  # as cluster_constants()
            s += f'constexpr int CLUSTER = {v};\n#define CLUSTER_DIMS' + (f' __cluster_dims__({v}, 1, 1)\n' if v > 1 else '\n')
        elif isinstance(v, str):
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
    ap.add_argument('--ptxas', action='store_true', help='also assemble each PTX (registers, spills)')
    args = ap.parse_args()
    ptxas = ptxas_binary(args.cache) if args.ptxas else None
    nvrtc = ctypes.CDLL(nvrtc_library(args.cache))
    src = ''.join(open(f).read() for f in SHIM_FILES)
    prelude, block_sum, qkv, add_norm, swiglu_value, swiglu, rows_product, attention, norm_rows, dot_rows, \
        norm_product, norm_qkv, cluster = (raw_string(src, n) for n in (
            'kPrelude', 'kBlockSum', 'kQkvHeads', 'kAddRmsNorm', 'kSwigluValue', 'kSwigluHalves', 'kRowsProduct',
            'kDecodeAttention', 'kNormRows', 'kDotRows', 'kNormProduct', 'kNormQkvHeads', 'kCluster'))
    failed = 0

    def compile_one(label, t, consts, *parts):
        nonlocal failed
        source = prelude + f'typedef {t} T;\n' + constants(consts) + ''.join(parts)
        start = time.perf_counter()
        ptx, log = compile_ptx(nvrtc, source, args.arch)
        ms = (time.perf_counter() - start) * 1000
        assembled = ''
        if ptx is not None and ptxas:
            ok, assembled = assemble(ptxas, args.arch, ptx.rstrip(b'\0'))
            if not ok:
                log = assembled
            assembled = ', ' + assembled if ok else ', ptxas FAILED'
        good = ptx is not None and not assembled.endswith('FAILED')
        # The PTX's size mattered on the GPU too while MLX hashed the whole PTX on every call.
        print(f'{label}: {"ok" if good else "FAILED"} ({ms:.0f} ms, PTX {len(ptx or b"")} bytes{assembled})')
        if not good or log.strip():
            failed += not good
            print(log)

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
        size = 4 if t == 'float' else 2
        for rows in (1, 8):
            for k in (1024, 3072, 1000):
                for act in (False, True):
                    if rows * k * size > 46 * 1024:
                        continue  # gpu_rows_product runs MLX's matmul: the rows would not fit in shared memory
                    compile_one(f'rows_product[{t},rows={rows},K={k},swiglu={act}]', t,
                                [('ROWS', rows), ('K', k), ('WARPS', 8), ('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', rows <= 2),
                                 ('SWIGLU', act), ('LOAD_UNROLL', 1)], swiglu_value, dot_rows,
                                rows_product)
        for rows in (1, 8):
            for k in (1024, 1000):
                for add in (False, True):
                    folded = [('ROWS', rows), ('K', k), ('ADD', add), ('EPS', 1e-6), ('LOAD_UNROLL', 4 if add else 1)]
                    for paired in (False, True):
                        compile_one(f'norm_product[{t},rows={rows},K={k},add={add},swiglu={paired}]', t,
                                    folded + [('WARPS', 8), ('COLS', 1 if rows <= 2 else 2), ('PAIRED', paired),
                                              ('HELD_ROWS', 0)], swiglu_value, norm_rows, dot_rows, norm_product)
                    for traditional in (False, True):
                        compile_one(f'norm_qkv_heads[{t},rows={rows},K={k},add={add},traditional={traditional}]', t,
                                    folded + [('COLS', 1), ('PAIRED', 0), ('HELD_ROWS', 0), ('WARPS', 16), ('HEAD_DIM', 128),
                                              ('N_Q', 16), ('N_K', 8), ('TRADITIONAL', traditional),
                                              ('PER_ROW_OFFSET', rows > 1), ('Q_EPS', 1e-6), ('K_EPS', 1e-6),
                                              ('LOG2_BASE', 19.93156815), ('ROPE_SCALE', 1.0)],
                                    swiglu_value, norm_rows, dot_rows, norm_qkv)
        for mask in (None, 'unsigned char', t, 'float'):
            for clusters, head_dim in ((1, 128), (8, 128), (4, 64)):
                compile_one(f'decode_attention[{t},mask={mask},cluster={clusters},head_dim={head_dim}]', t,
                            [('CLUSTER', clusters), ('KEYS_AT_ONCE', 4), ('HEAD_DIM', head_dim), ('N_Q', 16),
                             ('N_KV', 8), ('WARPS', 16), ('HAS_MASK', mask is not None),
                             ('BOOL_MASK', mask == 'unsigned char'), ('SCALE', 0.08838834465), ('MT', mask or t)],
                            cluster, attention)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
