#!/usr/bin/env bash
# Runs on the GPU machine, after the three `run.sh receive` calls (README.md here): every GPU
# measurement that issue #13's goals name, in one device call (about 5 minutes), then the
# summary of each result.
#
#   tooling/bench/gpu/goals.sh
#
# Qwen3-0.6B shapes in bfloat16 (`qwen3-0.6b`), 3 repeats, both sides interleaved: the fused
# kernels' parity (and in float32), decoding at batch 1, 8 and 64 with cuDNN's attention off on
# both sides, and a 2,048-token prefill with it off and on (the faster setting differs by phase).
set -uo pipefail
R="$(dirname "$0")/run.sh"
export MLXN_BENCH_PRESET=qwen3-0.6b
MLX_CUDA_USE_CUDNN_SDPA=0 "$R" bench fused-parity > /dev/null
MLXN_BENCH_PRESET=small-float32 MLX_CUDA_USE_CUDNN_SDPA=0 "$R" bench fused-parity > /dev/null
MLX_CUDA_USE_CUDNN_SDPA=0 MLXN_BENCH_CASES=b1-p32-n256,b8-p32-n256,b64-p32-n256 "$R" bench generate > /dev/null
MLX_CUDA_USE_CUDNN_SDPA=0 MLXN_BENCH_CASES=prefill-2048 "$R" bench generate > /dev/null
MLX_CUDA_USE_CUDNN_SDPA=1 MLXN_BENCH_CASES=prefill-2048 "$R" bench generate > /dev/null
python3 "$(dirname "$0")/summary.py" "${OUT:-/tmp}"
