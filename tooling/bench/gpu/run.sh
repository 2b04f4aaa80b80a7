#!/usr/bin/env bash
# Runs on the GPU machine, in the repository root of the device call (see README.md here).
#
#   tooling/bench/gpu/run.sh receive a|b|c     copy one staged part into /tmp/mlxn-gpu
#   tooling/bench/gpu/run.sh use DIR           put the release .node of .gpu-stage/DIR/mlxn.node.xz in
#                                              place (after the first bench: an A/B comparison of two
#                                              builds on one machine carries the second as DIR)
#   tooling/bench/gpu/run.sh bench NAME ...    set up (once per machine) and run benchmark NAME
#                                              (generate | breakdown | attention | fused-parity | server | scheduler | grpo-trl) with the environment given;
#                                              its JSON goes to $OUT/NAME-<n>.json (n counts runs
#                                              on this machine)
#                                              (MLXN_KERNEL_PROFILE=1: each kernel's device time,
#                                              both sides, through CUPTI: kernel-profile.cc)
#   tooling/bench/gpu/run.sh kernels [PATTERN]  the fused kernels alone from Python (kernel-bench.py),
#                                              with each kernel's device time
#   tooling/bench/gpu/run.sh python FILE ...   run a staged Python script (bench/probe_decode.py)
#                                              with mlx and mlx-lm on the CUDA libmlx.so
#
# The one-time setup is setup.sh (shared with tooling/gpu-suite/run.sh).
set -euo pipefail
S=/tmp/mlxn-gpu
case "${1:-}" in
  receive)
    mkdir -p "$S"
    cp -r ".gpu-stage/$2/." "$S/"
    ls -la "$S"
    exit 0
    ;;
  use)
    [ -f "$S/.ready" ] || { echo "run.sh use: run a bench first (the setup places the staged .node)" >&2; exit 2; }
    xz -dc ".gpu-stage/$2/mlxn.node.xz" > "$S/site/mlx/lib/mlxn.linux-x64-gnu.node"
    echo "using the .node of .gpu-stage/$2"
    exit 0
    ;;
  bench|python|kernels) mode=$1; shift ;;
  *) echo "usage: run.sh receive a|b|c | use DIR | bench generate|breakdown|attention|server|scheduler|fused-parity ... | kernels [alone|layer] | python FILE [ARGS]" >&2; exit 2 ;;
esac

repo=$(pwd)
. "$(dirname "$0")/setup.sh"
export MLXN_NATIVE_PATH="$S/site/mlx/lib/mlxn.linux-x64-gnu.node"
cd "$S"
if [ "$mode" = kernels ]; then
  # The fused kernels alone (kernel-bench.py), one process per pattern, each kernel's device time
  # per repeat from the kernel profiler.
  for pattern in ${@:-alone layer}; do
    dir="$S/profiles/kernels-$pattern-$$" && rm -rf "$dir" && mkdir -p "$dir"
    CUDA_INJECTION64_PATH="$S/profile/libkernel-profile.so" MLXN_KERNEL_PROFILE_DIR="$dir" \
      python3 "$repo/tooling/bench/gpu/kernel-bench.py" "$pattern"
    python3 profile/kernel-profile.py "$dir" --per-step 100 --top "${MLXN_KERNEL_PROFILE_TOP:-8}"
  done
  exit
fi
if [ "$mode" = python ]; then
  # A staged Python script (e.g. bench/probe_decode.py) on the reference side's MLX.
  file=$1; shift
  python3 "$file" "$@"
  exit
fi
for name in "$@"; do
  n=$(( $(cat .runs 2>/dev/null || echo 0) + 1 )); echo "$n" > .runs
  file="bench/$name.mjs"
  [ "$name" = breakdown ] && file=bench/decode-breakdown.mjs
  echo "== $name ($(date -u +%H:%M:%S)) MLX_CUDA_USE_CUDNN_SDPA=${MLX_CUDA_USE_CUDNN_SDPA:-} MLXN_NATIVE_FORWARD=${MLXN_NATIVE_FORWARD:-} MLXN_EVAL_THREAD=${MLXN_EVAL_THREAD:-} MLXN_FUSED_PROJECTIONS=${MLXN_FUSED_PROJECTIONS:-} MLXN_BENCH_PRELOAD=${MLXN_BENCH_PRELOAD:-} MLXN_BENCH_CASES=${MLXN_BENCH_CASES:-} MLXN_CHECKPOINT_PACE=${MLXN_CHECKPOINT_PACE:-}"
  # MLXN_BENCH_PRELOAD=jemalloc: both sides (the Python side inherits it) on jemalloc instead of glibc's malloc.
  preload=${MLXN_BENCH_PRELOAD:+$S/preload/lib$MLXN_BENCH_PRELOAD.so.2}
  # MLXN_KERNEL_PROFILE=1: every process of the run (ours and the Python side) records its kernels'
  # device time through CUPTI (kernel-profile.cc); the tables are summarized after the run, divided
  # by MLXN_KERNEL_PROFILE_STEPS when given.
  profile_dir=
  if [ "${MLXN_KERNEL_PROFILE:-0}" = 1 ]; then
    profile_dir="$S/profiles/$n" && mkdir -p "$profile_dir"
    export CUDA_INJECTION64_PATH="$S/profile/libkernel-profile.so" MLXN_KERNEL_PROFILE_DIR="$profile_dir"
  fi
  LD_PRELOAD=${preload:-${LD_PRELOAD:-}} ./node "$file" > "${OUT:-/tmp}/$name-$n.json" || { echo "$name failed"; continue; }
  if [ -n "$profile_dir" ]; then
    unset CUDA_INJECTION64_PATH
    python3 profile/kernel-profile.py "$profile_dir" --top "${MLXN_KERNEL_PROFILE_TOP:-20}" --per-step "${MLXN_KERNEL_PROFILE_STEPS:-0}"
  fi
  python3 -c "import json,sys; print(json.dumps({k: v for k, v in json.load(open(sys.argv[1])).items() if k in ('results','ratios_mlxn_over_mlx_lm','levels','ratios','ours_batching_gain','summary','ratios_trl_over_mlxn')}))" "${OUT:-/tmp}/$name-$n.json" | cut -c1-6000
done
