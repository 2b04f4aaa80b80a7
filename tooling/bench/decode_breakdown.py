"""The mlx-lm side of tooling/bench/decode-breakdown.ts, on the same model folder.

For each batch size read from stdin it answers one JSON line: the graph ops of one decode step
by primitive (from mx.export_to_dot), the median time to build a step's graph and to evaluate it
(synchronously), and the step time of mlx-lm's own pipelined loops: stream_generate at batch 1;
at larger batches the faster of batch_generate and a plain batched greedy loop over mlx-lm's
model that queues step n+1 before reading token n, as generate_step does."""
import json
import os
import re
import sys
import tempfile
import time

import mlx.core as mx
from mlx_lm import batch_generate, load, stream_generate
from mlx_lm.models.cache import make_prompt_cache

from timing import PhaseTimer, timed_decode_steps

args = json.loads(sys.argv[1])
model, tokenizer = load(args["folder"])
context, steps, loop_tokens = args["context"], args["steps"], args["loopTokens"]
vocab = model.args.vocab_size


def prompt_ids(seed, n):
    """The LCG of qwen3-presets.ts, so both sides decode the same tokens."""
    s = seed & 0xFFFFFFFF
    out = []
    for _ in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(s % vocab)
    return out


def graph_ops(arrays):
    fd, path = tempfile.mkstemp(suffix=".dot")
    os.close(fd)
    try:
        mx.export_to_dot(path, *arrays)
        with open(path) as f:
            text = f.read()
    finally:
        os.unlink(path)
    counts = {}
    for name in re.findall(r'\[label ="([^"]+)", shape=rectangle\]', text):
        counts[name] = counts.get(name, 0) + 1
    return counts


def step(token, cache):
    logits = model(token, cache=cache)
    return mx.argmax(logits[:, -1, :], axis=-1)[:, None]


def measure(batch):
    prompts = [prompt_ids(10 + i, context) for i in range(batch)]
    cache = make_prompt_cache(model)
    model(mx.array(prompts), cache=cache)
    mx.eval([c.state for c in cache])
    token = mx.array([[p[-1]] for p in prompts])
    timer, ops = PhaseTimer(), {}
    for i in timer.steps(steps, warmup=5):
        nxt = step(token, cache)
        timer.end("build")
        if i == 5:
            ops = graph_ops([nxt] + [a for c in cache for a in (c.keys, c.values)])
        timer.end("graph_export")  # its own phase, so that it counts in neither of the others
        mx.eval(nxt)
        timer.end("eval")
        token = nxt
    return {"graph_ops_total": sum(ops.values()), "graph_ops": ops, "build_ms": timer.median_ms("build"), "eval_ms": timer.median_ms("eval")}


def primed(batch):
    """A cache holding each row's prompt but its last token, and that token's step scheduled."""
    prompts = [prompt_ids(10 + i, context + 1) for i in range(batch)]
    cache = make_prompt_cache(model)
    model(mx.array([p[:-1] for p in prompts]), cache=cache)
    mx.eval([c.state for c in cache])
    token = step(mx.array([[p[-1]] for p in prompts]), cache)
    mx.async_eval(token)
    return cache, token


def plain_batched_loop(batch):
    """Greedy decoding of the whole batch with step n+1 queued before token n is read."""
    cache, token = primed(batch)
    t_first = None
    for n in range(loop_tokens):
        nxt = step(token, cache)
        mx.async_eval(nxt)
        token.tolist()
        if n == 0:
            t_first = time.perf_counter()
        token = nxt
    token.tolist()
    return (time.perf_counter() - t_first) * 1000 / loop_tokens


def plain_loop_phases(batch):
    """The plain pipelined loop with each phase timed: building step n+1, scheduling it
    (async_eval: on a GPU this encodes its kernels on the calling thread), reading token n."""
    cache, token = primed(batch)
    token.tolist()
    timer, token = timed_decode_steps(lambda t: step(t, cache), token, loop_tokens - 5, warmup=5, read=lambda t, _: t.tolist())
    token.tolist()
    return {"step_ms": timer.median_ms("total"), **{f"{phase}_ms": timer.median_ms(phase) for phase in ("build", "schedule", "read")}}


def loop_ms(batch):
    if batch == 1:
        last = None
        for r in stream_generate(model, tokenizer, prompt_ids(10, context + 1), max_tokens=loop_tokens):
            last = r
        return {"loop_step_ms": 1000 / last.generation_tps}
    prompts = [prompt_ids(10 + i, context + 1) for i in range(batch)]
    stats = batch_generate(model, tokenizer, prompts, max_tokens=loop_tokens, completion_batch_size=batch, prefill_batch_size=batch).stats
    bg = 1000 * batch / stats.generation_tps
    plain = plain_batched_loop(batch)
    return {"loop_step_ms": min(bg, plain), "batch_generate_step_ms": bg, "plain_loop_step_ms": plain}


print("ready", flush=True)
for line in sys.stdin:
    b = int(line.strip())
    mx.clear_cache()
    out = measure(b)
    out.update(loop_ms(b))
    out["plain_loop"] = plain_loop_phases(b)
    print(json.dumps(out), flush=True)
