#!/usr/bin/env bash
# Runs on the GPU machine, after the three `run.sh receive` calls (README.md here): issue #19's
# measurements of @mlxn/grpo against TRL 1.16 (tooling/bench/grpo-trl.ts). Each run's result
# line and any error go to the output as they happen. Two device calls of under 10 minutes:
#
#   tooling/bench/gpu/grpo.sh main     bfloat16 weights, one micro-batch of 64 per update, 3 rounds
#   tooling/bench/gpu/grpo.sh more     one round each: micro-batches of 8 (8 per update), and
#                                      float32 weights with bf16 autocast in one micro-batch of 64
#
# Both sides keep AdamW's moments and gradient sums in the weights' dtype (see grpo-trl.ts).
set -uo pipefail
R="$(dirname "$0")/run.sh"
filter() { grep -v 'Loading weights\|UserWarning\|warnings.warn' || true; }
case "${1:-main}" in
  main) GRPO_BENCH_ROUNDS=3 GRPO_BENCH_MICRO=64 "$R" bench grpo-trl 2>&1 | filter | tail -60 ;;
  more)
    GRPO_BENCH_ROUNDS=1 GRPO_BENCH_MICRO=8 "$R" bench grpo-trl 2>&1 | filter | tail -45
    GRPO_BENCH_ROUNDS=1 GRPO_BENCH_MICRO=64 GRPO_BENCH_DTYPE=float32 "$R" bench grpo-trl 2>&1 | filter | tail -45
    ;;
  *) echo "grpo.sh: main or more, got $1" >&2; exit 2 ;;
esac
