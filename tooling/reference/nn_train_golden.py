"""Golden values for @mlxn/nn's losses, optimizers and schedules, from Python MLX (mlx.nn.losses,
mlx.optimizers) on fixed inputs.

    /tmp/pyref/bin/python tooling/reference/nn_train_golden.py   (from the repository root)

Writes packages/nn/test/fixtures/train_{losses,optimizers,schedules}.json. Floats are written as
the shortest decimal that round-trips the float32 value.
"""
import json
import os

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from golden_json import json_float as f32

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "nn", "test", "fixtures")
rng = np.random.default_rng(20240601)


def enc(a):
    a = mx.array(a)
    mx.eval(a)
    n = np.array(a.astype(mx.float32) if a.dtype in (mx.bfloat16, mx.float16) else a)
    if n.dtype.kind in "iub":
        data = [int(x) for x in n.reshape(-1).tolist()]
    else:
        data = [f32(x) for x in n.reshape(-1).tolist()]
    return {"dtype": str(a.dtype).replace("mlx.core.", ""), "shape": list(a.shape), "data": data}


def normal(*shape, scale=1.0):
    return mx.array((rng.normal(size=shape) * scale).astype(np.float32))


def write(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path)} bytes")


os.makedirs(OUT, exist_ok=True)
L = nn.losses

# ---------------------------------------------------------------- losses
inp = {
    "logits": normal(4, 5, scale=2.0),
    "labels": mx.array([0, 3, 4, 1], dtype=mx.int32),
    "ignored": mx.array([0, -100, 4, -100], dtype=mx.int32),
    "weights4": mx.array([0.5, 1.0, 2.0, 0.25]),
    "logits3": normal(2, 3, 5),
    "labels3": mx.array([[1, 0, 4], [2, 2, 3]], dtype=mx.int32),
    "logitsT": normal(5, 4),
    "bin_logits": normal(3, 4, scale=3.0),
    "bin_targets": mx.array(rng.integers(0, 2, size=(3, 4)).astype(np.float32)),
    "bin_probs": mx.array([[0.1, 0.9, 0.5, 1.0], [0.0, 0.3, 0.7, 0.999], [0.2, 0.4, 0.6, 0.8]]),
    "bin_weights": mx.array(rng.uniform(0, 2, size=(3, 4)).astype(np.float32)),
    "pred": normal(3, 4),
    "target": normal(3, 4),
    "vars": mx.array(rng.uniform(0.01, 2, size=(3, 4)).astype(np.float32)),
    "x1": normal(3, 4),
    "x2": mx.concatenate([normal(2, 4), mx.zeros((1, 4))]),
    "signs": mx.array([[1, -1, 1, -1], [-1, -1, 1, 1], [1, 1, -1, 1]], dtype=mx.float32),
    "neg": normal(3, 4),
}
inp["probs"] = mx.softmax(normal(4, 5), axis=-1)
inp["logp"] = (inp["logits"] - mx.logsumexp(inp["logits"], axis=-1, keepdims=True))
_q = normal(4, 5)
inp["logq"] = _q - mx.logsumexp(_q, axis=-1, keepdims=True)

I = inp
cases = {}
for red in ("none", "mean", "sum"):
    cases[f"crossEntropy_{red}"] = L.cross_entropy(I["logits"], I["labels"], reduction=red)
    cases[f"crossEntropy_smooth_{red}"] = L.cross_entropy(I["logits"], I["labels"], label_smoothing=0.1, reduction=red)
    cases[f"crossEntropy_probs_{red}"] = L.cross_entropy(I["logits"], I["probs"], reduction=red)
    cases[f"crossEntropy_weights_{red}"] = L.cross_entropy(I["logits"], I["labels"], weights=I["weights4"], reduction=red)
    cases[f"binaryCrossEntropy_logits_{red}"] = L.binary_cross_entropy(I["bin_logits"], I["bin_targets"], reduction=red)
    cases[f"binaryCrossEntropy_probs_{red}"] = L.binary_cross_entropy(I["bin_probs"], I["bin_targets"], with_logits=False, reduction=red)
    cases[f"nllLoss_{red}"] = L.nll_loss(I["logp"], I["labels"], reduction=red)
    cases[f"klDivLoss_{red}"] = L.kl_div_loss(I["logp"], I["logq"], reduction=red)
    cases[f"mseLoss_{red}"] = L.mse_loss(I["pred"], I["target"], reduction=red)
    cases[f"l1Loss_{red}"] = L.l1_loss(I["pred"], I["target"], reduction=red)
    cases[f"smoothL1Loss_{red}"] = L.smooth_l1_loss(I["pred"], I["target"], reduction=red)
    cases[f"cosineSimilarityLoss_{red}"] = L.cosine_similarity_loss(I["x1"], I["x2"], reduction=red)
    cases[f"huberLoss_{red}"] = L.huber_loss(I["pred"], I["target"], delta=0.7, reduction=red)
    cases[f"hingeLoss_{red}"] = L.hinge_loss(I["pred"], I["signs"], reduction=red)
cases["crossEntropy_smooth_weights_probs_mean"] = L.cross_entropy(I["logits"], I["probs"], weights=I["weights4"], label_smoothing=0.2, reduction="mean")
cases["crossEntropy_3d_none"] = L.cross_entropy(I["logits3"], I["labels3"])
cases["crossEntropy_axis0_none"] = L.cross_entropy(I["logitsT"], I["labels"], axis=0)
cases["binaryCrossEntropy_logits_weights_mean"] = L.binary_cross_entropy(I["bin_logits"], I["bin_targets"], weights=I["bin_weights"])
cases["nllLoss_3d_mean"] = L.nll_loss((I["logits3"] - mx.logsumexp(I["logits3"], axis=-1, keepdims=True)), I["labels3"], reduction="mean")
cases["klDivLoss_axis0_none"] = L.kl_div_loss(I["logp"], I["logq"], axis=0)
cases["smoothL1Loss_beta05_none"] = L.smooth_l1_loss(I["pred"], I["target"], beta=0.5, reduction="none")
cases["cosineSimilarityLoss_axis0_mean"] = L.cosine_similarity_loss(I["x1"], I["neg"], axis=0, reduction="mean")
cases["logCoshLoss_none"] = L.log_cosh_loss(I["pred"], I["target"])
cases["gaussianNllLoss_mean"] = L.gaussian_nll_loss(I["pred"], I["target"], I["vars"])
cases["gaussianNllLoss_full_sum"] = L.gaussian_nll_loss(I["pred"], I["target"], I["vars"], full=True, reduction="sum")
cases["marginRankingLoss_none"] = L.margin_ranking_loss(I["pred"], I["target"], I["signs"], margin=0.3)
cases["tripletLoss_none"] = L.triplet_loss(I["x1"], I["pred"], I["neg"])
cases["tripletLoss_p1_mean"] = L.triplet_loss(I["x1"], I["pred"], I["neg"], p=1, margin=0.5, reduction="mean")

# ignoreIndex (not in MLX): masked per-target loss, 'mean' over the kept targets.
mask = I["ignored"] != -100
per = L.cross_entropy(I["logits"], mx.where(mask, I["ignored"], 0), weights=I["weights4"]) * mask
cases["crossEntropy_ignore_weights_none"] = per
cases["crossEntropy_ignore_weights_sum"] = per.sum()
cases["crossEntropy_ignore_weights_mean"] = per.sum() / mx.maximum(mask.sum(), 1)

# Gradients through the losses (stop_gradient on the max shift).
cases["grad_crossEntropy_smooth_mean"] = mx.grad(lambda z: L.cross_entropy(z, I["labels"], label_smoothing=0.1, reduction="mean"))(I["logits"])
cases["grad_binaryCrossEntropy_logits_mean"] = mx.grad(lambda z: L.binary_cross_entropy(z, I["bin_targets"]))(I["bin_logits"])
cases["grad_cosineSimilarityLoss_mean"] = mx.grad(lambda z: L.cosine_similarity_loss(z, I["neg"], reduction="mean"))(I["x1"])

write("train_losses.json", {"inputs": {k: enc(v) for k, v in I.items()}, "cases": {k: enc(v) for k, v in cases.items()}})

# ---------------------------------------------------------------- schedules
sched_cases = {
    "exponentialDecay": (optim.exponential_decay(0.1, 0.9), {"fn": "exponentialDecay", "args": [0.1, 0.9]}),
    "stepDecay": (optim.step_decay(0.1, 0.9, 3), {"fn": "stepDecay", "args": [0.1, 0.9, 3]}),
    "cosineDecay": (optim.cosine_decay(0.1, 10), {"fn": "cosineDecay", "args": [0.1, 10]}),
    "cosineDecay_end": (optim.cosine_decay(1e-3, 7, 1e-5), {"fn": "cosineDecay", "args": [1e-3, 7, 1e-5]}),
    "linearSchedule": (optim.linear_schedule(0.0, 0.1, 8), {"fn": "linearSchedule", "args": [0.0, 0.1, 8]}),
    "linearSchedule_down": (optim.linear_schedule(3e-4, 1e-5, 5), {"fn": "linearSchedule", "args": [3e-4, 1e-5, 5]}),
    "joinSchedules": (
        optim.join_schedules([optim.linear_schedule(0.0, 0.1, 4), optim.cosine_decay(0.1, 10)], [4]),
        {"fn": "joinSchedules", "schedules": [{"fn": "linearSchedule", "args": [0.0, 0.1, 4]}, {"fn": "cosineDecay", "args": [0.1, 10]}], "boundaries": [4]},
    ),
    "joinSchedules_three": (
        optim.join_schedules([optim.linear_schedule(1e-4, 1e-2, 3), optim.exponential_decay(1e-2, 0.8), optim.step_decay(5e-3, 0.5, 2)], [3, 9]),
        {"fn": "joinSchedules", "schedules": [{"fn": "linearSchedule", "args": [1e-4, 1e-2, 3]}, {"fn": "exponentialDecay", "args": [1e-2, 0.8]}, {"fn": "stepDecay", "args": [5e-3, 0.5, 2]}], "boundaries": [3, 9]},
    ),
}
steps = list(range(0, 16)) + [100, 1000]
sched_out = {}
for name, (fn, spec) in sched_cases.items():
    vals = [fn(mx.array(s, dtype=mx.uint64)) for s in steps]
    sched_out[name] = {"spec": spec, "values": [f32(v.item()) for v in vals], "dtypes": sorted({str(v.dtype).replace("mlx.core.", "") for v in vals})}
# Learning rate seen by an optimizer after n updates (schedule evaluated before each step).
opt = optim.SGD(learning_rate=optim.cosine_decay(0.1, 10))
lrs = []
for _ in range(6):
    opt.update({}, {})
    lrs.append(f32(opt.learning_rate.item()))
write("train_schedules.json", {"steps": steps, "schedules": sched_out, "sgdCosineLearningRates": lrs})

# ---------------------------------------------------------------- optimizers
params0 = {"w": normal(3, 4), "b": normal(4), "layers": [{"w": normal(2, 3)}, {"w": normal(2, 2, 2)}]}
NSTEPS = 4
grads = [{"w": normal(3, 4), "b": normal(4), "layers": [{"w": normal(2, 3)}, {"w": normal(2, 2, 2, scale=0.01)}]} for _ in range(NSTEPS)]

SCHEDS = {"cosine": (optim.cosine_decay(0.05, 3), {"fn": "cosineDecay", "args": [0.05, 3]}),
          "warmup": (optim.join_schedules([optim.linear_schedule(0.0, 0.01, 2), optim.exponential_decay(0.01, 0.5)], [2]),
                     {"fn": "joinSchedules", "schedules": [{"fn": "linearSchedule", "args": [0.0, 0.01, 2]}, {"fn": "exponentialDecay", "args": [0.01, 0.5]}], "boundaries": [2]})}

configs = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"learning_rate": "cosine", "momentum": 0.5}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "betas": [0.8, 0.99], "bias_correction": True}),
    ("Adam", {"learning_rate": "warmup"}),
    ("AdamW", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.1, "bias_correction": True, "eps": 1e-6}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.01, "relative_step": False, "beta_1": 0.9, "weight_decay": 0.01}),
    ("Adafactor", {"warmup_init": True, "scale_parameter": False, "clip_threshold": 0.5}),
    ("Lion", {"learning_rate": 0.01}),
    ("Lion", {"learning_rate": 0.01, "betas": [0.8, 0.9], "weight_decay": 0.1}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "alpha": 0.9, "eps": 1e-6}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("AdaDelta", {"learning_rate": 1.0, "rho": 0.9}),
]


def camel(k):
    parts = k.split("_")
    s = parts[0] + "".join(p.title() for p in parts[1:])
    return {"beta1": "beta1"}.get(s, s)


opt_cases = []
for cls, kw in configs:
    kw2 = dict(kw)
    spec_kw = {camel(k): v for k, v in kw.items()}
    if isinstance(kw.get("learning_rate"), str):
        fn, spec = SCHEDS[kw["learning_rate"]]
        kw2["learning_rate"] = fn
        spec_kw["learningRate"] = spec
    if "betas" in kw2:
        kw2["betas"] = list(kw2["betas"])
    opt = getattr(optim, cls)(**kw2)
    params = params0
    traj = []
    for g in grads:
        params = opt.apply_gradients(g, params)
        mx.eval(params, opt.state)
        traj.append({k: enc(v) for k, v in tree_flatten(params)})
    state = {k: enc(v) for k, v in tree_flatten(opt.state)}
    opt_cases.append({"optimizer": cls, "options": spec_kw, "params": traj, "state": state})

clip_cases = []
for max_norm in (1.0, 100.0, 0.0):
    c, n = optim.clip_grad_norm(grads[0], max_norm)
    clip_cases.append({"maxNorm": max_norm, "norm": f32(n.item()), "clipped": {k: enc(v) for k, v in tree_flatten(c)}})
gh = {"a": mx.array([300.0, -200.0], dtype=mx.float16), "b": mx.array([[1.5, 2.5]], dtype=mx.bfloat16)}
c, n = optim.clip_grad_norm(gh, 10.0)
clip_cases.append({"maxNorm": 10.0, "half": True, "norm": f32(n.item()), "clipped": {k: enc(v) for k, v in tree_flatten(c)}})

write("train_optimizers.json", {
    "params0": {k: enc(v) for k, v in tree_flatten(params0)},
    "grads": [{k: enc(v) for k, v in tree_flatten(g)} for g in grads],
    "cases": opt_cases,
    "clip": clip_cases,
})
