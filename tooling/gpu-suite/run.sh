#!/usr/bin/env bash
# Runs the test suites on the GPU machine, in the repository root of a device call (see
# README.md here). After the benchmark parts a, b, c have been received (tooling/bench/gpu):
#
#   tooling/gpu-suite/run.sh receive t          copy part t into /tmp/mlxn-gpu/t
#   tooling/gpu-suite/run.sh vitest [DIR ...]   the vitest suites of DIR (default: packages/*
#                                               and examples)
#   tooling/gpu-suite/run.sh cargo              the crates' test binaries
#
# Logs, vitest's JSON reports and the summary come back as one file, $OUT/gpu-suite-MODE.tar.xz.
#
# Each run ends with tooling/gpu-suite/summarize.mjs over everything in $OUT: counts per suite,
# every failed test with the start of its error, then `N passed, N failed`.
#
# The CUDA runtime is laid out as `npx mlxn-runtime install cuda` lays it out (MLXN_CACHE_DIR),
# from the staged mlx-cuda-13 wheel and the machine's own NVIDIA packages, and @mlxn/core's loader
# finds it by itself (MLXN_MLX_BACKEND unset: automatic where a driver is present). Before any
# suite runs, a check fails the call unless the default device is the GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
S=/tmp/mlxn-gpu
case "${1:-}" in
  receive) mkdir -p "$S/$2" && cp -r ".gpu-stage/$2/." "$S/$2/" && ls -la "$S/$2"; exit 0 ;;
  vitest|cargo) mode=$1; shift ;;
  *) echo "usage: run.sh receive t | vitest [DIR ...] | cargo" >&2; exit 2 ;;
esac

. "$root/tooling/bench/gpu/setup.sh"
unset MLXN_NATIVE_PATH MLXN_MLX_BACKEND
export PATH="$S:$PATH" MLXN_SKIP_NETWORK_TESTS=1 CI=1
# MLX multiplies float32 matrices in TF32 on NVIDIA GPUs by default (MLX_ENABLE_TF32=1), about
# 1e-3 relative: Python MLX's own logits of the tiny fixtures move by 6e-3 on an H200. The
# suites' goldens are full float32, so they run with it off unless the caller sets it.
export MLX_ENABLE_TF32="${MLX_ENABLE_TF32:-0}"
mlx_version=$(cat "$root/tooling/mlx-runtime/pin.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

# The test runtime, unpacked into this working tree once (build outputs stay between calls).
if [ ! -f "$root/node_modules/.gpu-suite-ready" ]; then
  xz -dc "$S/t/test-runtime.tar.xz" | tar -x -C "$root"
  touch "$root/node_modules/.gpu-suite-ready"
fi

# The CUDA runtime in the installer's layout: the wheel's mlx/ and mlx_cuda_13.libs/, and the
# NVIDIA libraries (this machine's Python packages instead of the pinned wheels).
export MLXN_CACHE_DIR="$S/cache"
rt="$MLXN_CACHE_DIR/mlx-$mlx_version-linux-x64-cuda13"
if [ ! -f "$rt/.complete" ]; then
  rm -rf "$rt" && mkdir -p "$rt"
  cat "$S"/mlx-cuda.tar.xz.part-* | xz -dc | tar -x -C "$rt"
  # A tree of links to the machine's NVIDIA packages, completed with the pinned nvidia-cuda-crt
  # wheel that those packages lack (MLX's kernel compiler needs its include/crt/mma.h).
  cp -rs "$NVIDIA_DIR" "$rt/nvidia"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$S"/t/nvidia_cuda_crt-*.whl "$rt"
  echo "staged by tooling/gpu-suite/run.sh" > "$rt/.complete"
fi

(cd "$root" && node --input-type=module -e "
  const mx = await import('$root/packages/core/dist/index.js');
  const d = mx.defaultDevice();
  console.log('default device:', JSON.stringify(d), '| gpu available:', mx.isAvailable('gpu'));
  if (String(d.type ?? d) !== 'gpu') { console.error('gpu-suite: the default device is not the GPU'); process.exit(1); }
")

# Logs and reports go to a folder of their own, bundled into one file under $OUT at the end (a
# device call brings back at most 8 files).
OUT_DIR="${OUT:-/tmp/mlxn-gpu/out}"
OUT="$S/results/$mode"
rm -rf "$OUT" && mkdir -p "$OUT" "$OUT_DIR"
if [ "$mode" = vitest ]; then
  dirs=("$@")
  [ ${#dirs[@]} -gt 0 ] || dirs=(packages/cache packages/core packages/io packages/nn packages/sampling packages/models-qwen3 packages/grpo packages/server examples)
  for dir in "${dirs[@]}"; do
    name=$(echo "$dir" | tr / -)
    echo "== vitest $dir ($(date -u +%H:%M:%S))"
    # A suite that outlives its share of the call is stopped, so the call still reports.
    # MLXN_VITEST_FILES (space-separated test files or name filters) narrows every suite.
    # --testTimeout: on a fresh machine MLX compiles each CUDA kernel the first time it runs, and
    # a gradient test of the tiny Qwen3 took 69-93 s of that (with 60 s, the suites' own limit).
    # shellcheck disable=SC2086
    (cd "$root/$dir" && timeout --kill-after=10 "${MLXN_SUITE_TIMEOUT:-540}" node "$root/node_modules/vitest/vitest.mjs" run ${MLXN_VITEST_FILES:-} \
      --testTimeout="${MLXN_TEST_TIMEOUT:-300000}" \
      --reporter=verbose --reporter=json --outputFile="$OUT/vitest-$name.json" > "$OUT/vitest-$name.log" 2>&1) \
      || echo "   exit status $? (log: vitest-$name.log)"
  done
else
  manifest_root=$(cat "$S/t/cargo-root.txt")
  # The binaries find fixtures through the checkout path compiled into them.
  if [ ! -e "$manifest_root" ]; then mkdir -p "$(dirname "$manifest_root")" && ln -s "$root" "$manifest_root"; fi
  mkdir -p "$S/cargo-tests" && xz -dc "$S/t/cargo-tests.tar.xz" | tar -x -C "$S/cargo-tests"
  export LD_LIBRARY_PATH="$rt/mlx/lib:$rt/mlx_cuda_13.libs:$LD_LIBRARY_PATH"
  : > "$OUT/cargo.log"
  while read -r bin crate; do
    echo "== $crate: $bin" | tee -a "$OUT/cargo.log"
    (cd "$root/$crate" && timeout --kill-after=10 300 "$S/cargo-tests/$bin" >> "$OUT/cargo.log" 2>&1) || echo "   exit status $?" | tee -a "$OUT/cargo.log"
  done < "$S/t/cargo-tests.txt"
fi
node "$root/tooling/gpu-suite/summarize.mjs" "$OUT" | tee "$OUT/summary.txt"
tar -C "$S/results" -cf - "$mode" | xz -6 -T0 > "$OUT_DIR/gpu-suite-$mode.tar.xz"
