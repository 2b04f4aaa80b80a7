"""The mlx-lm side of tooling/bench/sampling.ts: the same sampler, shapes and timing loop,
printed as JSON. Loads only mlx-lm's sample_utils (see tooling/reference/sampling_mlx_lm.py)."""
import json
import os
import sys
import time

import mlx.core as mx

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
from sampling_mlx_lm import load_sample_utils  # noqa: E402

cfg = json.loads(sys.argv[1])
s = cfg["sampler"]
su = load_sample_utils()
sampler = su.make_sampler(
    temp=s["temperature"], top_p=s["topP"], min_p=s["minP"], min_tokens_to_keep=s["minTokensToKeep"],
    top_k=s["topK"], xtc_probability=s["xtcProbability"], xtc_threshold=s["xtcThreshold"],
    xtc_special_tokens=s["xtcSpecialTokens"],
)


def per_step(fn, steps, repeats):
    for _ in range(2):
        fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        best = min(best, (time.perf_counter() - t0) * 1e3 / steps)
    return best


out = {}
for b in cfg["batches"]:
    mx.random.seed(0)
    x = mx.random.normal((b, cfg["vocab"])) * 3
    logprobs = x - mx.logsumexp(x, axis=-1, keepdims=True)
    mx.eval(logprobs)
    out[f"b{b}_ms"] = per_step(lambda: mx.eval(sampler(logprobs)), cfg["steps"][str(b)], cfg["repeats"])
print(json.dumps(out))
