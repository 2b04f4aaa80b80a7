#!/usr/bin/env bash
# Runs on the GPU machine, after the three `run.sh receive` calls (README.md here): issue #19's
# measurements of @mlxn/grpo against TRL 1.16 (tooling/bench/grpo-trl.ts), in one device call of
# about 9 minutes. Each run's result line and any error go to the output as they happen.
#
#   tooling/bench/gpu/grpo.sh
#
# bfloat16 weights with micro-batches of 8 (3 rounds), the same with one micro-batch of 64 (one
# round; the layout whose activations dominate TRL's memory), and float32 weights with bf16
# autocast (one round; the layout where both sides keep float32 optimizer state).
set -uo pipefail
R="$(dirname "$0")/run.sh"
filter() { grep -v 'Loading weights\|UserWarning\|warnings.warn' || true; }
GRPO_BENCH_ROUNDS=3 GRPO_BENCH_MICRO=8 "$R" bench grpo-trl 2>&1 | filter | tail -20
GRPO_BENCH_ROUNDS=1 GRPO_BENCH_MICRO=64 "$R" bench grpo-trl 2>&1 | filter | tail -40
GRPO_BENCH_ROUNDS=1 GRPO_BENCH_MICRO=8 GRPO_BENCH_DTYPE=float32 "$R" bench grpo-trl 2>&1 | filter | tail -20
