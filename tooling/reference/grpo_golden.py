"""Golden values for @mlxn/grpo's losses, advantages and LR schedules.

Written from the definitions in TRL 1.16's GRPOTrainer (per-token objectives, normalisers,
gradient-accumulation scaling, entropy mask, reward aggregation) and Hugging Face's
get_scheduler, in float64 numpy. It does not import TRL or torch.

    /tmp/pyref/bin/python tooling/reference/grpo_golden.py      # from the repository root

Writes packages/grpo/test/fixtures/grpo_golden.json. NaN is written as null.
"""
import json
import math
import os
import warnings

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "grpo", "test", "fixtures", "grpo_golden.json")
LOSS_TYPES = ["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo"]
MAX_COMPLETION_LENGTH = 6


# ----------------------------------------------------------------------------------------------
# Loss


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def entropy_mask(entropy, mask, top_quantile):
    """Tokens at or above the (1 - top_quantile) quantile of the counted tokens' entropies."""
    counted = entropy[mask > 0]
    if counted.size == 0:
        return np.zeros_like(mask, dtype=bool)
    threshold = np.quantile(counted, 1.0 - top_quantile)  # linear interpolation, as torch.quantile
    return ((entropy * mask) >= threshold) & (mask > 0)


def grpo_loss(lp, lp_detached, old, ref, adv, mask, entropy, cfg, ga=1, num_items=None, spg=None):
    """One micro-batch. `lp_detached` is the value of lp that gradients do not flow through
    (TRL's .detach()), so finite differences over `lp` alone give the autograd gradient."""
    spg = ga if spg is None else spg
    eps_low = cfg["epsilon"]
    eps_high = cfg["epsilonHigh"] if cfg.get("epsilonHigh") is not None else cfg["epsilon"]
    old_lp = lp_detached if old is None else old
    adv = adv[:, None]
    log_ratio = lp - old_lp
    if cfg["importanceSamplingLevel"] == "token":
        log_w = log_ratio
    else:
        log_w = ((log_ratio * mask).sum(-1) / np.maximum(mask.sum(-1), 1.0))[:, None]
    coef1 = np.exp(log_w)
    beta = cfg["beta"]
    kl = None
    if beta != 0.0:
        d = ref - lp
        kl = np.exp(d) - d - 1.0
        if cfg.get("useBiasCorrectionKl", True):
            kl = kl * coef1
    lt = cfg["lossType"]
    if lt == "cispo":
        if cfg["importanceSamplingLevel"] == "token":
            log_w_det = lp_detached - old_lp
        else:
            log_w_det = (((lp_detached - old_lp) * mask).sum(-1) / np.maximum(mask.sum(-1), 1.0))[:, None]
        clamped = np.minimum(np.exp(log_w_det), eps_high)
        ptl = -clamped * adv * lp
    elif lt == "sapo":
        t = np.where(adv > 0, cfg.get("sapoTemperaturePos", 1.0), cfg.get("sapoTemperatureNeg", 1.05))
        ptl = -(sigmoid(t * (coef1 - 1.0)) * 4.0 / t) * adv
    else:
        coef2 = np.clip(coef1, 1.0 - eps_low, 1.0 + eps_high)
        if cfg.get("delta") is not None:
            coef1 = np.minimum(coef1, cfg["delta"])
        ptl = -np.minimum(coef1 * adv, coef2 * adv)
    if cfg.get("topEntropyQuantile", 1.0) < 1.0:
        ptl = ptl * entropy_mask(entropy, mask, cfg["topEntropyQuantile"])
    if kl is not None:
        ptl = ptl + beta * kl
    masked = ptl * mask
    if lt in ("grpo", "sapo"):
        policy = (masked.sum(-1) / np.maximum(mask.sum(-1), 1.0)).mean()
        loss = policy / ga
    elif lt == "bnpo":
        policy = masked.sum() / max(mask.sum(), 1.0)
        loss = policy / ga
    elif lt == "dr_grpo":
        policy = masked.sum() / (lp.shape[0] * cfg["maxCompletionLength"])
        loss = policy / ga
    else:
        items = mask.sum() if num_items is None else num_items
        policy = masked.sum() / (max(items, 1.0) * ga / spg)
        loss = policy
    metrics = {}

    def gmean(x):
        if x.shape[1] == 1:
            return float(x.mean())
        return float((x * mask).sum() / max(mask.sum(), 1.0))

    def seq_mean(x):
        if x.shape[1] == 1:
            return x[:, 0]
        with np.errstate(invalid="ignore"):
            return (x * mask).sum(-1) / mask.sum(-1)

    def nan_reduce(x, f):
        x = x[~np.isnan(x)]
        return float(f(x)) if x.size else float("nan")

    if kl is not None:
        metrics["kl"] = gmean(kl)
    if entropy is not None:
        metrics["entropy"] = gmean(entropy)
    if lt == "cispo":
        metrics["cispo_clip_ratio"] = gmean(((coef1 > eps_high) & (adv > 0)).astype(float))
    elif lt != "sapo":
        low = ((coef1 < 1.0 - eps_low) & (adv < 0)).astype(float)
        high = ((coef1 > 1.0 + eps_high) & (adv > 0)).astype(float)
        metrics["clip_ratio/low_mean"] = gmean(low)
        metrics["clip_ratio/high_mean"] = gmean(high)
        metrics["clip_ratio/region_mean"] = gmean(np.maximum(low, high))
        metrics["clip_ratio/low_min"] = nan_reduce(seq_mean(low), np.min)
        metrics["clip_ratio/high_max"] = nan_reduce(seq_mean(high), np.max)
    return float(loss), float(policy), metrics


def grad_fd(fn, lp, h=1e-6):
    """Central finite differences of fn(lp) with the detached copy held at lp."""
    g = np.zeros_like(lp)
    for idx in np.ndindex(*lp.shape):
        up = lp.copy()
        up[idx] += h
        dn = lp.copy()
        dn[idx] -= h
        g[idx] = (fn(up) - fn(dn)) / (2 * h)
    return g


# Inputs: 4 completions of up to 6 tokens, one of them empty after masking, ratios far enough
# from 1 that every clipping branch is taken somewhere.
rng = np.random.default_rng(20261122)
B, C = 4, MAX_COMPLETION_LENGTH
lengths = [6, 3, 0, 5]
mask = np.array([[1.0 if t < n else 0.0 for t in range(C)] for n in lengths])
lp = -rng.uniform(0.05, 3.0, size=(B, C))
old = lp + rng.normal(0.0, 0.35, size=(B, C))
ref = lp + rng.normal(0.0, 0.3, size=(B, C))
adv = np.array([1.3, -0.7, 0.4, -1.1])
entropy = rng.uniform(0.0, 2.5, size=(B, C))

clip_settings = {
    "eps": {"epsilon": 0.2, "epsilonHigh": None, "delta": None},
    "epsHigh": {"epsilon": 0.2, "epsilonHigh": 0.28, "delta": None},
    "delta": {"epsilon": 0.2, "epsilonHigh": None, "delta": 1.25},
    "epsHighDelta": {"epsilon": 0.2, "epsilonHigh": 0.28, "delta": 1.25},
}
loss_cases = []


def add_case(name, cfg, old_used=True, ga=1, num_items=None, spg=None, m=None, with_grad=True):
    m = mask if m is None else m
    o = old if old_used else None
    loss, policy, metrics = grpo_loss(lp, lp, o, ref, adv, m, entropy, cfg, ga, num_items, spg)
    case = {"name": name, "config": cfg, "useOld": old_used, "mask": m.tolist(), "loss": loss,
            "policyLoss": policy, "metrics": metrics, "ga": ga, "numItemsInBatch": num_items, "spg": spg}
    if with_grad:
        case["grad"] = grad_fd(lambda x: grpo_loss(x, lp, o, ref, adv, m, entropy, cfg, ga, num_items, spg)[0], lp).tolist()
    loss_cases.append(case)


for lt in LOSS_TYPES:
    for level in ["token", "sequence"]:
        for clip_name, clip in clip_settings.items():
            if lt in ("cispo", "sapo") and clip_name in ("delta", "epsHighDelta"):
                continue  # delta only acts on the clipped-surrogate family
            for beta in [0.0, 0.04]:
                cfg = {"lossType": lt, "importanceSamplingLevel": level, "beta": beta,
                       "maxCompletionLength": MAX_COMPLETION_LENGTH, **clip}
                if lt == "cispo" and clip_name == "epsHigh":
                    cfg["epsilonHigh"] = 1.3  # cispo's epsilonHigh is the ratio cap itself
                add_case(f"{lt}/{level}/{clip_name}/beta={beta}", cfg)

# On-policy (numIterations 1): old log-probabilities are lp itself, detached.
for lt in LOSS_TYPES:
    add_case(f"{lt}/on-policy", {"lossType": lt, "importanceSamplingLevel": "token", "beta": 0.04,
                                 "epsilon": 0.2, "epsilonHigh": None, "delta": None,
                                 "maxCompletionLength": MAX_COMPLETION_LENGTH}, old_used=False)
# The KL without the importance-ratio correction.
add_case("grpo/kl-no-bias-correction", {"lossType": "grpo", "importanceSamplingLevel": "token", "beta": 0.1,
                                        "epsilon": 0.2, "epsilonHigh": None, "delta": None,
                                        "useBiasCorrectionKl": False, "maxCompletionLength": MAX_COMPLETION_LENGTH})
# SAPO's temperatures.
add_case("sapo/temperatures", {"lossType": "sapo", "importanceSamplingLevel": "token", "beta": 0.0, "epsilon": 0.2,
                               "epsilonHigh": None, "delta": None, "sapoTemperaturePos": 0.7,
                               "sapoTemperatureNeg": 2.0, "maxCompletionLength": MAX_COMPLETION_LENGTH})
# Entropy mask (top 40 % of tokens by entropy).
for lt in ["grpo", "dapo", "cispo"]:
    for level in ["token", "sequence"]:
        add_case(f"{lt}/{level}/entropy-top-0.4", {"lossType": lt, "importanceSamplingLevel": level, "beta": 0.04,
                                                   "epsilon": 0.2, "epsilonHigh": None, "delta": None,
                                                   "topEntropyQuantile": 0.4,
                                                   "maxCompletionLength": MAX_COMPLETION_LENGTH})
entropy_masks = {str(q): entropy_mask(entropy, mask, q).astype(int).tolist() for q in [1.0, 0.5, 0.4, 0.2, 0.0]}

# Truncated completions: rows 0 and 3 end without EOS and are zeroed, as maskTruncatedCompletions does.
truncated = [True, False, False, True]
mask_trunc = mask * (~np.array(truncated))[:, None]
for lt in LOSS_TYPES:
    add_case(f"{lt}/truncated-masked", {"lossType": lt, "importanceSamplingLevel": "token", "beta": 0.04,
                                        "epsilon": 0.2, "epsilonHigh": None, "delta": None,
                                        "maxCompletionLength": MAX_COMPLETION_LENGTH}, m=mask_trunc)

# Gradient accumulation: the batch as two micro-batches of 2 (GA = stepsPerGeneration = 2),
# each loss scaled as TRL scales it; the accumulated loss/gradient is their sum.
accumulation = []
total_items = float(mask.sum())
for lt in LOSS_TYPES:
    cfg = {"lossType": lt, "importanceSamplingLevel": "token", "beta": 0.04, "epsilon": 0.2,
           "epsilonHigh": 0.28, "delta": None, "maxCompletionLength": MAX_COMPLETION_LENGTH}
    halves = []
    grads = []
    for sl in [slice(0, 2), slice(2, 4)]:
        args = (old[sl], ref[sl], adv[sl], mask[sl], entropy[sl], cfg, 2, total_items, 2)

        def f(x, sl=sl, args=args):
            return grpo_loss(x, lp[sl], *args)[0]

        halves.append(f(lp[sl]))
        grads.append(grad_fd(f, lp[sl]))
    full = grpo_loss(lp, lp, old, ref, adv, mask, entropy, cfg)[0]
    full_grad = grad_fd(lambda x: grpo_loss(x, lp, old, ref, adv, mask, entropy, cfg)[0], lp)
    accumulation.append({
        "lossType": lt, "config": cfg, "numItemsInBatch": total_items, "halves": halves,
        "accumulated": sum(halves), "accumulatedGrad": np.concatenate(grads).tolist(),
        "full": full, "fullGrad": full_grad.tolist(),
        "equalsFullBatch": bool(abs(sum(halves) - full) < 1e-9 and np.allclose(np.concatenate(grads), full_grad, atol=1e-7)),
    })

# ----------------------------------------------------------------------------------------------
# Advantages (sum_then_normalize and normalize_then_sum), with None as NaN


def nanstd(x, axis=None, keepdims=False):
    mean = np.nanmean(x, axis=axis, keepdims=True)
    var = np.nanmean((x - mean) ** 2, axis=axis, keepdims=True)
    count = np.sum(~np.isnan(x), axis=axis, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(count > 1, count / (count - 1), np.nan)
    std = np.sqrt(var * corr)
    return std if keepdims else np.squeeze(std, axis=axis) if axis is not None else std.reshape(())


def advantages(rpf, weights, g, scale, aggregation):
    rpf = np.array(rpf, dtype=float)
    w = np.array(weights, dtype=float)
    unscorable = np.isnan(rpf).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of an all-NaN slice is NaN, as in torch
        if aggregation == "sum_then_normalize":
            r = np.nansum(rpf * w[None, :], axis=1)
            r[unscorable] = np.nan
            grouped = r.reshape(-1, g)
            mean = np.repeat(np.nanmean(grouped, axis=1), g)
            if scale in ("group", "none"):
                std = np.repeat(nanstd(grouped, axis=1), g)
            else:
                std = np.full_like(r, float(nanstd(r)))
            a = r - mean
            if scale != "none":
                a = a / (std + 1e-4)
        else:
            grouped = rpf.reshape(-1, g, rpf.shape[1])
            mk = np.nanmean(grouped, axis=1, keepdims=True)
            sk = nanstd(grouped, axis=1, keepdims=True)
            rk = ((grouped - mk) / (sk + 1e-4)).reshape(-1, rpf.shape[1])
            r = np.nansum(rk * w[None, :], axis=1)
            r[unscorable] = np.nan
            std = np.full_like(r, float(nanstd(r)))
            a = (r - np.nanmean(r)) / (std + 1e-4)
        is_std_zero = np.isclose(std, 0.0)
        a = np.nan_to_num(a, nan=0.0)
        logged = np.nansum(rpf * w[None, :], axis=1)
        logged[unscorable] = np.nan
        metrics = {
            "perFunction": [{"mean": float(np.nanmean(rpf[:, i])), "std": float(nanstd(rpf[:, i]))}
                            for i in range(rpf.shape[1])],
            "reward": float(np.nanmean(logged)),
            "rewardStd": float(nanstd(logged)),
            "fracRewardZeroStd": float(is_std_zero.mean()),
        }
    return a, metrics


NaN = float("nan")
# 3 groups of 3 completions and 3 reward functions; function 2 applies to some rows only, group 2
# has equal rewards (zero std), row 8 is unscorable (every function None).
rewards_per_func = [
    [1.0, 0.5, NaN], [0.0, 0.25, NaN], [1.0, 1.0, 2.0],
    [0.0, 0.5, NaN], [0.0, 0.5, NaN], [0.0, 0.5, NaN],
    [1.0, 0.0, 0.5], [0.0, 0.75, NaN], [NaN, NaN, NaN],
]
reward_weights = [1.0, 0.5, 2.0]
advantage_cases = []
for aggregation in ["sum_then_normalize", "normalize_then_sum"]:
    for scale in ["group", "batch", "none"]:
        if aggregation == "normalize_then_sum" and scale != "group":
            continue  # scaleRewards does not enter normalize_then_sum
        a, m = advantages(rewards_per_func, reward_weights, 3, scale, aggregation)
        advantage_cases.append({"aggregation": aggregation, "scaleRewards": scale, "advantages": a.tolist(), "metrics": m})

# ----------------------------------------------------------------------------------------------
# Learning-rate schedules (Hugging Face get_scheduler), step = optimizer steps already taken


def hf_lr(step, kind, lr, warmup, total):
    if kind == "constant":
        return lr
    if step < warmup:
        return lr * step / max(1, warmup)
    if kind == "constant_with_warmup":
        return lr
    progress_den = max(1, total - warmup)
    if kind == "linear":
        return lr * max(0.0, (total - step) / progress_den)
    progress = (step - warmup) / progress_den
    return lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


schedules = []
for kind in ["constant", "constant_with_warmup", "linear", "cosine"]:
    for warmup_steps, warmup_ratio in [(0, 0.0), (3, 0.0), (0, 0.15)]:
        total = 20
        warmup = warmup_steps if warmup_steps > 0 else math.ceil(total * warmup_ratio)
        schedules.append({"lrSchedulerType": kind, "warmupSteps": warmup_steps, "warmupRatio": warmup_ratio,
                          "learningRate": 2e-5, "totalSteps": total,
                          "values": [hf_lr(s, kind, 2e-5, warmup, total) for s in range(total + 1)]})


def clean(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x


fixture = {
    "about": "Golden values from TRL 1.16's GRPO definitions (numpy float64); written by tooling/reference/grpo_golden.py",
    "inputs": {"logprobs": lp.tolist(), "oldLogprobs": old.tolist(), "refLogprobs": ref.tolist(),
               "advantages": adv.tolist(), "completionMask": mask.tolist(), "entropy": entropy.tolist(),
               "truncated": truncated, "maxCompletionLength": MAX_COMPLETION_LENGTH},
    "losses": loss_cases,
    "entropyMasks": entropy_masks,
    "accumulation": accumulation,
    "advantages": {"rewardsPerFunc": rewards_per_func, "rewardWeights": reward_weights, "numGenerations": 3,
                   "cases": advantage_cases},
    "schedules": schedules,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT + ".tmp", "w") as f:
    json.dump(clean(fixture), f, separators=(",", ":"))
os.replace(OUT + ".tmp", OUT)
print(f"wrote {os.path.relpath(OUT)}: {os.path.getsize(OUT)} bytes, {len(loss_cases)} loss cases")
for a in accumulation:
    print(f"  accumulation {a['lossType']}: equals full batch = {a['equalsFullBatch']}")
