"""Golden vectors for @mlxn/sampling, produced by mlx-lm's sample_utils on fixed logits.

    node tooling/reference/sampling-env.mjs golden   (creates the reference venv, then runs this)

Writes packages/sampling/test/fixtures/sampling_golden.json (read by vitest); -inf is null.
"""
import json
import math
import os
import sys

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from sampling_mlx_lm import load_sample_utils  # noqa: E402

su = load_sample_utils()
out_dir = sys.argv[1]

B, V = 3, 16
rng = np.random.default_rng(1234)
# Distinct values (no ties), so argpartition-based filters have one answer.
logits_np = (rng.permutation(B * V).reshape(B, V).astype(np.float32) * 0.37 + rng.normal(size=(B, V)).astype(np.float32) * 0.05)
logits_np[1] *= 0.4  # a flatter row
logits_np[2] *= 2.5  # a peakier row
logits = mx.array(logits_np)
logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
mx.eval(logprobs)


def enc(a):
    return [[None if math.isinf(v) and v < 0 else float(v) for v in row] for row in np.array(a).tolist()]


filters = []


def add_filter(name, params, out):
    mx.eval(out)
    filters.append({"filter": name, "params": params, "output": enc(out)})


for k in (1, 3, 7):
    add_filter("topK", {"topK": k}, su.apply_top_k(logprobs, k))
for p in (0.3, 0.7, 0.95, 1.0):
    add_filter("topP", {"topP": p}, su.apply_top_p(logprobs, p))
for mp, keep in ((0.05, 1), (0.2, 1), (0.2, 4), (0.9, 2)):
    add_filter("minP", {"minP": mp, "minTokensToKeep": keep}, su.apply_min_p(logprobs, mp, keep))
for thr, special in ((0.1, []), (0.05, []), (0.05, [3, 9]), (0.5, [])):
    # probability 1: uniform() is in [0, 1), so the filter always applies.
    add_filter("xtc", {"xtcProbability": 1.0, "xtcThreshold": thr, "xtcSpecialTokens": special},
               su.apply_xtc(logprobs, 1.0, thr, special))

# Processors. mlx-lm applies one token history to every row; @mlxn also takes one history per
# row, so the per-row goldens run mlx-lm row by row.
histories = [[1, 5, 5, 2, 9, 5], [0, 0, 15, 7], [3]]
proc_cases = [
    {"logitBias": {"2": 1.5, "11": -3.0}},
    {"repetitionPenalty": 1.3, "repetitionContextSize": 4},
    {"repetitionPenalty": 0.7, "repetitionContextSize": 20},
    {"presencePenalty": 0.5, "presenceContextSize": 3},
    {"frequencyPenalty": 0.7, "frequencyContextSize": 5},
    {"logitBias": {"4": 2.0}, "repetitionPenalty": 1.1, "presencePenalty": 0.2, "frequencyPenalty": 0.3,
     "repetitionContextSize": 3, "presenceContextSize": 2, "frequencyContextSize": 6},
]
processors = []
for case in proc_cases:
    kw = {
        "logit_bias": {int(k): v for k, v in case["logitBias"].items()} if "logitBias" in case else None,
        "repetition_penalty": case.get("repetitionPenalty"),
        "repetition_context_size": case.get("repetitionContextSize", 20),
        "presence_penalty": case.get("presencePenalty"),
        "presence_context_size": case.get("presenceContextSize", 20),
        "frequency_penalty": case.get("frequencyPenalty"),
        "frequency_context_size": case.get("frequencyContextSize", 20),
    }
    procs = su.make_logits_processors(**kw)
    # mlx-lm's processors write into the logits they are given, so every run starts from a copy.
    shared = mx.array(logits_np)
    for p in procs:
        shared = p(mx.array(histories[0]), shared)
    rows = []
    for i in range(B):
        row = mx.array(logits_np[i : i + 1])
        for p in procs:
            row = p(mx.array(histories[i]), row)
        rows.append(row)
    processors.append({"params": case, "sharedHistory": enc(shared), "perRow": enc(mx.concatenate(rows, axis=0))})

# Sampled tokens with a fixed global seed: the random key sequence is MLX's, so the same seed
# and the same sampler must draw the same tokens.
sampler_cases = [
    {"temperature": 0.0},
    {"temperature": 1.0},
    {"temperature": 0.7, "topK": 5},
    {"temperature": 0.9, "topP": 0.8, "minP": 0.05, "topK": 6},
    {"temperature": 1.2, "topP": 0.9, "minP": 0.02, "minTokensToKeep": 3, "topK": 8,
     "xtcProbability": 0.5, "xtcThreshold": 0.1, "xtcSpecialTokens": [3]},
]
samples = []
for case in sampler_cases:
    s = su.make_sampler(
        temp=case["temperature"], top_p=case.get("topP", 0.0), min_p=case.get("minP", 0.0),
        min_tokens_to_keep=case.get("minTokensToKeep", 1), top_k=case.get("topK", 0),
        xtc_probability=case.get("xtcProbability", 0.0), xtc_threshold=case.get("xtcThreshold", 0.1),
        xtc_special_tokens=case.get("xtcSpecialTokens"),
    )
    mx.random.seed(42)
    draws = []
    for _ in range(8):
        t = s(logprobs)
        mx.eval(t)
        draws.append(np.array(t).tolist())
    samples.append({"params": case, "seed": 42, "tokens": draws})

golden = {
    "source": "mlx-lm sample_utils (mlx %s)" % mx.__version__,
    "logits": logits_np.tolist(),
    "logprobs": np.array(logprobs).tolist(),
    "histories": histories,
    "filters": filters,
    "processors": processors,
    "samples": samples,
}
with open(os.path.join(out_dir, "sampling_golden.json"), "w") as f:
    json.dump(golden, f, separators=(",", ":"))
    f.write("\n")

print("wrote", out_dir)
