#!/usr/bin/env bash
# Stages what the GPU machine needs to run the generation benchmarks (it has no Node, Rust or
# package registry), in three parts of at most ~50 MiB each, one per device call:
#
#   .gpu-stage/a, .gpu-stage/b   the libmlx.so and include/ of PyPI's mlx-cuda-13 wheel of the
#                                pinned MLX, as one xz tarball split in two
#   .gpu-stage/c                 Node's own binary (xz), the release .node (xz), the benchmarks
#                                bundled into single files, their Python sides, the Qwen3
#                                tokenizer, the mlx + mlx-lm wheels for the reference side and
#                                TRL's with what it needs beyond the machine's torch
#                                (and the kernel profiler with its libcupti)
#
# Usage (from the repository root, after `pnpm build`):
#   node tooling/build-native.mjs --release --out-dir /tmp/mlxn-release
#   tooling/bench/gpu/stage.sh [/tmp/mlxn-release/mlxn.linux-x64-gnu.node]
# then the device calls in tooling/bench/gpu/README.md. .gpu-stage/ is git-ignored.
set -euo pipefail
cd "$(dirname "$0")/../../.."
node_file=${1:-/tmp/mlxn-release/mlxn.linux-x64-gnu.node}
[ -f "$node_file" ] || { echo "stage: no release binary at $node_file (build it first)" >&2; exit 1; }
mlx_version=$(node -p "require('./tooling/mlx-runtime/pin.json').version")
mlx_lm_version=0.32.2
cache=${MLXN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlxn}/gpu-stage-$mlx_version
out=.gpu-stage
mkdir -p "$cache/wheels"

# The GPU machine runs Python 3.12 (x86-64, glibc 2.35).
pip_download() {
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_35_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$cache/wheels" "$@"
}
pip_download "mlx-cuda-13==$mlx_version" "mlx==$mlx_version" "mlx-lm==$mlx_lm_version"
# TRL for grpo-trl.ts's reference side, with the packages the GPU machine's Python lacks (it has
# torch 2.11, transformers 5.17, accelerate, pandas and pyarrow).
trl_wheels=(trl-1.16.0 datasets-5.2.0 dill-0.4.1 multiprocess-0.70.19)
pip_download trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19

rm -rf "$out" && mkdir -p "$out/a" "$out/b" "$out/c/wheels" "$out/c/bench"
if [ ! -f "$cache/mlx-cuda.tar.xz" ]; then
  tmp=$(mktemp -d)
  unzip -q "$cache/wheels"/mlx_cuda_13-"$mlx_version"-*.whl -d "$tmp"
  tar -C "$tmp" -cf - mlx mlx_cuda_13.libs | xz -9 -T0 > "$cache/mlx-cuda.tar.xz.tmp"
  mv "$cache/mlx-cuda.tar.xz.tmp" "$cache/mlx-cuda.tar.xz"
  rm -rf "$tmp"
fi
size=$(stat -c %s "$cache/mlx-cuda.tar.xz")
split -b $(( (size + 1) / 2 + 1 )) -d "$cache/mlx-cuda.tar.xz" "$cache/mlx-cuda.tar.xz.part-"
mv "$cache/mlx-cuda.tar.xz.part-00" "$out/a/"
mv "$cache/mlx-cuda.tar.xz.part-01" "$out/b/"

[ -f "$cache/node.xz" ] || xz -9 -T0 -c "$(command -v node)" > "$cache/node.xz"
cp "$cache/node.xz" "$out/c/node.xz"
xz -9 -T0 -c "$node_file" > "$out/c/mlxn.node.xz"
cp "$cache/wheels"/mlx-"$mlx_version"-cp312-*.whl "$cache/wheels"/mlx_lm-"$mlx_lm_version"-*.whl "$out/c/wheels/"
for w in "${trl_wheels[@]}"; do cp "$cache/wheels/$w"-*.whl "$out/c/wheels/"; done
node tooling/bench/gpu/bundle.mjs "$out/c/bench"
cp tooling/bench/generate_ref.py tooling/bench/decode_breakdown.py tooling/bench/grpo_trl.py tooling/bench/gpu/probe_decode.py \
  tooling/bench/timing.py tooling/bench/grpo_args.py "$out/c/bench/"
tok=$(node -e "import('./tooling/test-support/qwen3.mjs').then((m) => console.log(m.qwen3TokenizerDir()))")
tar -C "$tok" -cf - tokenizer.json tokenizer_config.json | xz -9 -T0 > "$out/c/tokenizer.tar.xz"
cp tooling/bench/gpu/run.sh tooling/bench/gpu/setup.sh "$out/c/"
# jemalloc, for the allocator comparison in docs/benchmarks.md (run.sh: MLXN_BENCH_PRELOAD=jemalloc).
# Debian's package; its library needs glibc 2.34, the GPU machine has 2.35.
if [ ! -f "$cache/libjemalloc.so.2" ] && command -v apt-get > /dev/null; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -q libjemalloc2 > /dev/null && dpkg-deb -x libjemalloc2_*.deb x) \
    && cp "$tmp"/x/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 "$cache/" || echo "stage: no jemalloc (apt-get download failed); MLXN_BENCH_PRELOAD=jemalloc will not work" >&2
  rm -rf "$tmp"
fi
if [ -f "$cache/libjemalloc.so.2" ]; then mkdir -p "$out/c/preload" && cp "$cache/libjemalloc.so.2" "$out/c/preload/"; fi
# The kernel profiler (kernel-profile.cc, run.sh: MLXN_KERNEL_PROFILE=1), built here against the
# CUPTI of CUDA 13.0 (the GPU machine's driver is 13.0; a newer CUPTI may refuse it), with that
# libcupti beside it.
if [ ! -f "$cache/kernel-profile/libkernel-profile.so" ] || [ tooling/bench/gpu/kernel-profile.cc -nt "$cache/kernel-profile/libkernel-profile.so" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps -d "$tmp" 'nvidia-cuda-cupti>=13.0,<13.1' 'nvidia-cuda-runtime>=13.0,<13.1' 'nvidia-cuda-crt>=13.0,<13.1'
  for w in "$tmp"/*.whl; do unzip -q -o "$w" -d "$tmp/x"; done
  inc="$tmp/x/nvidia/cu13/include"
  # The newest kernel record the headers define; the fields the profiler reads exist in all of them.
  record=$(grep -ho '} CUpti_ActivityKernel[0-9]\+;' "$inc/cupti_activity.h" | tr -d '}; ' | sort -V | tail -1)
  mkdir -p "$cache/kernel-profile"
  g++ -std=c++17 -O2 -shared -fPIC -DKERNEL_RECORD="$record" -I"$inc" tooling/bench/gpu/kernel-profile.cc \
    -o "$cache/kernel-profile/libkernel-profile.so" -L"$tmp/x/nvidia/cu13/lib" -l:libcupti.so.13 -Wl,--disable-new-dtags,-rpath,'$ORIGIN'
  cp "$tmp/x/nvidia/cu13/lib/libcupti.so.13" "$cache/kernel-profile/"
  rm -rf "$tmp"
fi
mkdir -p "$out/c/profile"
cp "$cache/kernel-profile/libkernel-profile.so" "$out/c/profile/"
xz -9 -T0 -c "$cache/kernel-profile/libcupti.so.13" > "$out/c/profile/libcupti.so.13.xz"
cp tooling/bench/gpu/kernel-profile.py "$out/c/profile/"
du -sh "$out"/*
