"""The Python side of tooling/bench/generate.ts: mlx-lm on the same model folder and prompts.

It loads the model once, warms up every case, prints "ready", then answers one measurement per
case name read from stdin with a JSON line (prompt and generation tokens per second, peak
memory in bytes), so the benchmark can interleave both sides on a machine whose load changes.
Batch 1 is stream_generate; larger batches report the faster of batch_generate and a plain
batched greedy loop over mlx-lm's model that queues step n+1 before reading token n (as
generate_step does), with both in the line; `prefill` cases time one prompt's prefill. With a
draft folder, batch 1 decodes speculatively (stream_generate's draft_model)."""
import json
import sys
import time

import mlx.core as mx
from mlx_lm import batch_generate, load, stream_generate
from mlx_lm.models.cache import make_prompt_cache

args = json.loads(sys.argv[1])
model, tokenizer = load(args["folder"])
draft = {} if args.get("draft") is None else {"draft_model": load(args["draft"])[0], "num_draft_tokens": args["num_draft_tokens"]}
cases = {c["name"]: c for c in args["cases"]}


def single(prompt, n):
    last = None
    for r in stream_generate(model, tokenizer, prompt, max_tokens=n, **draft):
        last = r
    return {"prompt_tps": last.prompt_tps, "generation_tps": last.generation_tps, "generation_tokens": last.generation_tokens}


def greedy_step(tokens, cache):
    logits = model(tokens, cache=cache)
    return mx.argmax(logits[:, -1, :], axis=-1)[:, None]


def plain_loop(prompts, n):
    """The whole batch decoded greedily, step n+1 queued before token n is read."""
    cache = make_prompt_cache(model)
    tic = time.perf_counter()
    if len(prompts[0]) > 1:
        model(mx.array([p[:-1] for p in prompts]), cache=cache)
        mx.eval([c.state for c in cache])
    y = greedy_step(mx.array([[p[-1]] for p in prompts]), cache)
    mx.async_eval(y)
    t_first = None
    for i in range(n):
        nxt = greedy_step(y, cache) if i + 1 < n else None
        if nxt is not None:
            mx.async_eval(nxt)
        y.tolist()
        if i == 0:
            t_first = time.perf_counter()
            prompt_tps = len(prompts) * len(prompts[0]) / (t_first - tic)
        y = nxt
    gen_tps = len(prompts) * (n - 1) / (time.perf_counter() - t_first) if n > 1 else 0.0
    return prompt_tps, gen_tps


def batch(prompts, n):
    s = batch_generate(model, tokenizer, prompts, max_tokens=n, completion_batch_size=len(prompts), prefill_batch_size=len(prompts)).stats
    _, plain_tps = plain_loop(prompts, n)
    return {
        "prompt_tps": s.prompt_tps,
        "generation_tps": max(s.generation_tps, plain_tps),
        "batch_generate_tps": s.generation_tps,
        "plain_loop_tps": plain_tps,
        "generation_tokens": s.generation_tokens,
    }


def run(c, small=False):
    prompts = c["prompts"]
    n = c["tokens"]
    if small:
        prompts = [p[:64] for p in prompts]
        n = min(n, 8)
    if c["batch"] == 1:
        return single(prompts[0], n)
    return batch(prompts, n)


for c in cases.values():
    run(c, small=True)
print("ready", flush=True)

for line in sys.stdin:
    name = line.strip()
    if name not in cases:
        raise SystemExit(f"unknown case {name!r}")
    mx.clear_cache()
    mx.reset_peak_memory()
    out = run(cases[name])
    out["peak_memory"] = mx.get_peak_memory()
    print(json.dumps(out), flush=True)
