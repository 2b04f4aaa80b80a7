"""The Python side of tooling/bench/generate.ts: mlx-lm's stream_generate (batch 1) and
batch_generate (batch 8) on the same model folder and prompts. It loads the model once, warms
up, prints "ready", then answers one measurement per line read from stdin ("batch1" or
"batch8") with a JSON line (prompt and generation tokens per second, peak memory in bytes), so
the benchmark can interleave both sides on a machine whose load changes."""
import json
import sys

import mlx.core as mx
from mlx_lm import batch_generate, load, stream_generate

args = json.loads(sys.argv[1])
model, tokenizer = load(args["folder"])
max_tokens = args["maxTokens"]


def single(prompt, n):
    last = None
    for r in stream_generate(model, tokenizer, prompt, max_tokens=n):
        last = r
    return last


def batch(prompts, n):
    return batch_generate(model, tokenizer, prompts, max_tokens=n).stats


# Warm-up: the same shapes once, small.
single(args["prompt"][:64], 8)
batch([p[:64] for p in args["prompts"]], 8)
print("ready", flush=True)

for line in sys.stdin:
    op = line.strip()
    mx.clear_cache()
    mx.reset_peak_memory()
    if op == "batch1":
        r = single(args["prompt"], max_tokens)
        out = {"prompt_tps": r.prompt_tps, "generation_tps": r.generation_tps, "peak_memory": mx.get_peak_memory(), "generation_tokens": r.generation_tokens}
    elif op == "batch8":
        s = batch(args["prompts"], max_tokens)
        out = {"prompt_tps": s.prompt_tps, "generation_tps": s.generation_tps, "peak_memory": mx.get_peak_memory(), "generation_tokens": s.generation_tokens}
    else:
        raise SystemExit(f"unknown measurement {op!r}")
    print(json.dumps(out), flush=True)
