"""Goldens for @mlxn/grpo's loss and advantages from TRL 1.16's OWN code (not a re-implementation).

Pinned: trl==1.16.0, transformers==5.17.0, torch==2.11.0 (accelerate as trl pulls it). CPU only.

    python -m venv /tmp/torch-ref && /tmp/torch-ref/bin/pip install torch==2.11.0 transformers==5.17.0 trl==1.16.0
    /tmp/torch-ref/bin/python tooling/reference/grpo_trl_golden.py      # from the repository root

Loss: a GRPOTrainer is made with `object.__new__` (no model, no dataset) and given the attributes
`GRPOTrainer.__init__` sets from a real `GRPOConfig` (the same assignments, copied below), a real
single-process `Accelerator`, and `_get_per_token_logps_and_entropies` replaced by a function that
returns fixed float64 leaf tensors (log-probabilities and entropies, `requires_grad`). Then TRL's
real `_compute_loss` runs micro-batch by micro-batch over gradient-accumulation windows
(`sync_gradients` set on the window's last micro-batch, as Accelerate does), so the entropy
controller's window bookkeeping is TRL's own. Recorded per micro-batch: the loss, d loss / d
log-probabilities, d loss / d entropies (when the loss depends on them) and the metrics TRL
appended to `self._metrics["train"]` during that call.

Grid (see `AXES`): every value of every axis appears, and every pair of values of any two axes
appears in at least one case (a greedy pairwise covering array, deterministic), plus the full
product loss type x importance-sampling level x KL setting with the other axes at TRL's
defaults. Inputs are float32-representable and chosen away from decision boundaries (clip
edges, the entropy quantile, the off-policy threshold, the entropy target), so float32 MLX and
float64 torch take the same branches.

Advantages: the advantage block of `_generate_and_score_completions` is taken verbatim from the
installed trl source (between the `unscorable_mask = ...` line and the `frac_reward_zero_std`
metric) and executed on fixed reward tables, for scale_rewards x aggregation x weights x None
rewards.

Through the model: for 9 configurations, TRL's real `_get_per_token_logps_and_entropies` runs the
tiny dense Qwen3 (tooling/fixtures/qwen3/dense, loaded by transformers in float64, TRL's
`add_fused_lm_head` at temperature 0.9) on left-padded prompts and right-padded completions;
recorded: the loss, the metrics, the per-token log-probabilities and entropies, and per weight
tensor Σg, Σ±g (fixed sign pattern) and Σg².

Writes packages/grpo/test/fixtures/grpo_trl_golden.json and grpo_trl_model_golden.json (floats to
10 significant digits, NaN as null).
"""
import inspect
import itertools
import json
import math
import os
import random
import tempfile
import textwrap
import warnings
from collections import defaultdict
from types import SimpleNamespace

import numpy as np
import torch
import transformers
import trl
from accelerate import Accelerator
from trl import GRPOConfig, GRPOTrainer
from trl.trainer import grpo_trainer as grpo_module

PINS = {"trl": "1.16.0", "transformers": "5.17.0", "torch": "2.11.0"}
for mod, want in (("trl", trl), ("transformers", transformers), ("torch", torch)):
    if not want.__version__.startswith(PINS[mod]):
        raise SystemExit(f"{mod} {want.__version__} is installed; this script pins {mod}=={PINS[mod]}")

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "grpo", "test", "fixtures", "grpo_trl_golden.json")
B, C = 4, 5  # completions per micro-batch, completion tokens
POOL = 12  # distinct micro-batches: max gradient accumulation (4) x max windows (3)
warnings.filterwarnings("ignore")
torch.set_default_dtype(torch.float64)


def r10(x):
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return float(f"{x:.10g}")


def mat(t):
    return [[r10(v) for v in row] for row in t.tolist()]


def f32(a):
    """float32-representable float64 values (the MLX side computes in float32)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# Grid

AXES = {
    "lossType": ["grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"],
    "importanceSamplingLevel": ["token", "sequence"],
    # off: beta 0; bc: beta 0.04 with use_bias_correction_kl; plain: beta 0.04 without it
    "kl": ["off", "bc", "plain"],
    "delta": [None, 1.4],
    "epsilonHigh": [None, 0.28],
    # whether old_per_token_logps is given (off-policy micro-batch) or None (TRL uses the detached log-probs)
    "old": [False, True],
    "offPolicyMaskThreshold": [None, 0.02],
    "topEntropyQuantile": [1.0, 0.5, 0.0],
    # off | static | adaptive (target inside the range of window entropies) | adaptive_clamped (bounds hit)
    "entropyBonus": ["off", "static", "adaptive", "adaptive_clamped"],
    "vespo": ["default", "custom"],
    # (gradient_accumulation_steps, steps_per_generation)
    "schedule": [(1, 1), (2, 2), (2, 4), (4, 2)],
}
DEFAULTS = {
    "lossType": "dapo", "importanceSamplingLevel": "token", "kl": "off", "delta": None, "epsilonHigh": None,
    "old": False, "offPolicyMaskThreshold": None, "topEntropyQuantile": 1.0, "entropyBonus": "off",
    "vespo": "default", "schedule": (1, 1),
}


def pairwise_rows(axes, seed=0):
    """A greedy pairwise covering array (AETG-style): every value pair of every two axes appears."""
    names = list(axes)
    uncovered = set()
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        for va in range(len(axes[a])):
            for vb in range(len(axes[b])):
                uncovered.add((i, va, j, vb))
    rng = random.Random(seed)
    rows = []
    while uncovered:
        best, best_gain = None, -1
        for _ in range(60):
            # start from an uncovered pair, fill the other axes greedily in random order
            i, va, j, vb = rng.choice(sorted(uncovered))
            row = [None] * len(names)
            row[i], row[j] = va, vb
            order = [k for k in range(len(names)) if row[k] is None]
            rng.shuffle(order)
            for k in order:
                scores = []
                for v in range(len(axes[names[k]])):
                    s = sum(
                        1
                        for m in range(len(names))
                        if row[m] is not None and ((min(k, m), v if k < m else row[m], max(k, m), row[m] if k < m else v) in uncovered)
                    )
                    scores.append((s, rng.random(), v))
                row[k] = max(scores)[2]
            gain = sum(1 for (p, q) in itertools.combinations(range(len(names)), 2) if (p, row[p], q, row[q]) in uncovered)
            if gain > best_gain:
                best, best_gain = row, gain
        rows.append({names[k]: axes[names[k]][best[k]] for k in range(len(names))})
        for p, q in itertools.combinations(range(len(names)), 2):
            uncovered.discard((p, best[p], q, best[q]))
    return rows


def all_cases():
    cases = []
    for lt, lvl, kl in itertools.product(AXES["lossType"], AXES["importanceSamplingLevel"], AXES["kl"]):
        cases.append({**DEFAULTS, "lossType": lt, "importanceSamplingLevel": lvl, "kl": kl, "old": True})
    cases += pairwise_rows(AXES)
    return cases


def trl_args(axes):
    """The GRPOConfig keyword arguments (TRL names) of one grid point."""
    ga, spg = axes["schedule"]
    a = {
        "loss_type": axes["lossType"],
        "importance_sampling_level": axes["importanceSamplingLevel"],
        "beta": 0.0 if axes["kl"] == "off" else 0.04,
        "use_bias_correction_kl": axes["kl"] != "plain",
        "delta": axes["delta"],
        "epsilon_high": axes["epsilonHigh"],
        "off_policy_mask_threshold": axes["offPolicyMaskThreshold"],
        "top_entropy_quantile": axes["topEntropyQuantile"],
        "gradient_accumulation_steps": ga,
        "steps_per_generation": spg,
    }
    eb = axes["entropyBonus"]
    if eb == "static":
        a["entropy_coef"] = 0.05
    elif eb == "adaptive":
        a.update(entropy_coef=0.02, use_adaptive_entropy=True, entropy_target=0.8, entropy_coef_delta=0.01,
                 entropy_coef_min=0.0, entropy_coef_max=0.1)
    elif eb == "adaptive_clamped":
        a.update(entropy_coef=0.04, use_adaptive_entropy=True, entropy_target=0.8, entropy_coef_delta=0.03,
                 entropy_coef_min=0.02, entropy_coef_max=0.05)
    if axes["vespo"] == "custom":
        a.update(vespo_k_pos=1.5, vespo_lambda_pos=2.5, vespo_k_neg=2.5, vespo_lambda_neg=1.5)
    return a


# ----------------------------------------------------------------------------------------------
# Inputs: a pool of micro-batches


def make_pool(seed=1):
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(POOL):
        lengths = rng.integers(1, C + 1, size=B)
        if i in (3, 8):
            lengths[rng.integers(0, B)] = 0  # a completion without counted tokens (masked out entirely)
        mask = (np.arange(C)[None, :] < lengths[:, None]).astype(np.float64)
        lp = -rng.gamma(1.5, 0.8, size=(B, C))
        if i % 2 == 1:
            # off-policy drift: some tokens far from the sampling policy (ratios outside [0.8, 1.28])
            drift = rng.normal(0.0, 0.35, size=(B, C))
        else:
            drift = rng.normal(0.0, 0.06, size=(B, C))
        old = lp - drift
        ref = lp + rng.normal(0.0, 0.3, size=(B, C))
        # window entropies differ (micro-batches alternate between low- and high-entropy pairs)
        scale = 0.45 if (i // 2) % 2 == 0 else 1.2
        ent = scale * rng.uniform(0.2, 1.8, size=(B, C))
        adv = rng.normal(0.0, 1.0, size=B)
        adv[rng.integers(0, B)] = 0.0 if i % 3 == 0 else adv[0]
        pool.append({
            "logprobs": f32(lp), "oldLogprobs": f32(old), "refLogprobs": f32(ref), "entropy": f32(ent),
            "mask": mask, "advantages": f32(adv),
        })
    return pool


def check_margins(pool, eps_values=(0.2, 0.28)):
    """Ratios away from clip edges (float32 vs float64 must take the same branch)."""
    for i, p in enumerate(pool):
        lr = p["logprobs"] - p["oldLogprobs"]
        m = p["mask"]
        seq = (lr * m).sum(-1) / np.maximum(m.sum(-1), 1)
        for ratio in (np.exp(lr[m > 0]), np.exp(seq)):
            for e in eps_values:
                for edge in (1 - e, 1 + e, 1.4, e, 5.0):
                    if np.any(np.abs(ratio - edge) < 1e-4):
                        raise SystemExit(f"pool {i}: an importance ratio is within 1e-4 of {edge}; change the seed")
        kl = ((p["oldLogprobs"] - p["logprobs"]) * m).sum(-1) / np.maximum(m.sum(-1), 1)
        if np.any(np.abs(kl - 0.02) < 1e-4):
            raise SystemExit(f"pool {i}: a sequence KL is within 1e-4 of the off-policy threshold; change the seed")


# ----------------------------------------------------------------------------------------------
# TRL's trainer without a model

TMP = tempfile.mkdtemp()
ACCELERATOR = None  # made after each GRPOConfig (TrainingArguments resets Accelerate's shared state)


def make_trainer(args_kw):
    args = GRPOConfig(output_dir=TMP, use_cpu=True, report_to=[], bf16=False, per_device_train_batch_size=B,
                      num_generations=2, max_completion_length=C, **args_kw)
    global ACCELERATOR
    ACCELERATOR = Accelerator(cpu=True)
    t = object.__new__(GRPOTrainer)
    t.args = args
    t.accelerator = ACCELERATOR
    t.model = SimpleNamespace(training=True)  # `mode` = "train"
    t.current_gradient_accumulation_steps = args.gradient_accumulation_steps
    # The assignments of GRPOTrainer.__init__ that _compute_loss reads (trl 1.16.0, in its order).
    t.max_completion_length = args.max_completion_length
    t.use_vllm = args.use_vllm
    t.vllm_importance_sampling_correction = args.vllm_importance_sampling_correction
    t.loss_type = args.loss_type
    t.aux_loss_enabled = False  # not a Mixture-of-Experts model
    t.importance_sampling_level = args.importance_sampling_level
    t.off_policy_mask_threshold = args.off_policy_mask_threshold
    t.top_entropy_quantile = args.top_entropy_quantile
    t.entropy_coef = args.entropy_coef
    t.use_adaptive_entropy = args.use_adaptive_entropy
    t._entropy_bonus_enabled = t.entropy_coef != 0.0 or t.use_adaptive_entropy
    t._last_world_entropy = float("inf")
    t._entropy_window_stats = None
    t.epsilon_low = args.epsilon
    t.epsilon_high = args.epsilon_high if args.epsilon_high is not None else args.epsilon
    t.beta = args.beta
    t._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    return t


def check_init_assignments():
    """The copied assignments above must still be what GRPOTrainer.__init__ does."""
    src = inspect.getsource(GRPOTrainer.__init__)
    for line in [
        "self._entropy_bonus_enabled = self.entropy_coef != 0.0 or self.use_adaptive_entropy",
        'self._last_world_entropy = float("inf")',
        "self._entropy_window_stats = None",
        "self.epsilon_low = args.epsilon",
        "self.epsilon_high = args.epsilon_high if args.epsilon_high is not None else args.epsilon",
        "self.off_policy_mask_threshold = args.off_policy_mask_threshold",
        "self.top_entropy_quantile = args.top_entropy_quantile",
    ]:
        if line not in src:
            raise SystemExit(f"GRPOTrainer.__init__ no longer contains: {line}")


def run_case(axes, pool):
    kw = trl_args(axes)
    t = make_trainer(kw)
    ga, spg = axes["schedule"]
    windows = 3 if axes["entropyBonus"].startswith("adaptive") else 1
    steps = []
    for w in range(windows):
        for k in range(ga):
            i = w * ga + k
            p = pool[i]
            g0 = (i // spg) * spg  # the generation batch this micro-batch belongs to
            num_items = float(sum(pool[j]["mask"].sum() for j in range(g0, g0 + spg)))
            lp = torch.tensor(p["logprobs"], requires_grad=True)
            ent = torch.tensor(p["entropy"], requires_grad=True)
            t._get_per_token_logps_and_entropies = lambda *a, _lp=lp, _ent=ent, **kw_: (_lp, _ent, None)
            mask = torch.tensor(p["mask"])
            inputs = {
                "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
                "prompt_mask": torch.ones(B, 1, dtype=torch.long),
                "completion_ids": torch.zeros(B, C, dtype=torch.long),
                "completion_mask": mask,
                "advantages": torch.tensor(p["advantages"]),
                "num_items_in_batch": torch.tensor(num_items),
            }
            if axes["old"]:
                inputs["old_per_token_logps"] = torch.tensor(p["oldLogprobs"])
            if kw["beta"] != 0.0:
                inputs["ref_per_token_logps"] = torch.tensor(p["refLogprobs"])
            sync = k == ga - 1
            ACCELERATOR.gradient_state._set_sync_gradients(sync)
            before = {key: len(v) for key, v in t._metrics["train"].items()}
            loss = t._compute_loss(None, inputs)
            loss.backward()
            metrics = {}
            for key, v in t._metrics["train"].items():
                new = v[before.get(key, 0):]
                if len(new) > 1:
                    raise SystemExit(f"{key} logged {len(new)} times in one call")
                if new:
                    metrics[key] = r10(new[0])
            steps.append({
                "pool": i,
                "numItemsInBatch": num_items,
                "sync": sync,
                "loss": r10(loss.item()),
                "grad": mat(lp.grad),
                "entropyGrad": None if ent.grad is None else mat(ent.grad),
                "metrics": metrics,
            })
            if sync and t.use_adaptive_entropy:
                target = t.args.entropy_target
                if abs(t._last_world_entropy - target) < 1e-3:
                    raise SystemExit(f"window entropy {t._last_world_entropy} is too close to the target {target}")
    ACCELERATOR.gradient_state._set_sync_gradients(True)
    name = "/".join(f"{k}={v}" for k, v in axes.items() if v != DEFAULTS[k] or k in ("lossType", "importanceSamplingLevel", "kl"))
    return {
        "name": name,
        "axes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in axes.items()},
        "trl": {k: v for k, v in kw.items()},
        "steps": steps,
        "final": {"entropyCoef": r10(t.entropy_coef), "lastWorldEntropy": r10(t._last_world_entropy)},
    }


# ----------------------------------------------------------------------------------------------
# Advantages: TRL's own block, executed


def advantage_block():
    src = inspect.getsource(grpo_module.GRPOTrainer._generate_and_score_completions)
    lines = src.splitlines()
    start = next(i for i, l in enumerate(lines) if "unscorable_mask = torch.isnan(rewards_per_func).all(dim=1)" in l)
    end = next(i for i, l in enumerate(lines) if 'self._metrics[mode]["frac_reward_zero_std"]' in l)
    block = textwrap.dedent("\n".join(lines[start:end + 1]))
    return compile(block, "trl/trainer/grpo_trainer.py:_generate_and_score_completions", "exec")


ADVANTAGE_CODE = advantage_block()


def run_advantages(rewards, names, weights, num_generations, scale, aggregation):
    table = torch.tensor([[math.nan if v is None else v for v in row] for row in rewards], dtype=torch.float32)
    self = SimpleNamespace(
        multi_objective_aggregation=aggregation, scale_rewards=scale, reward_func_names=names,
        reward_weights=torch.tensor(weights if weights is not None else [1.0] * len(names), dtype=torch.float32),
        reward_funcs=names, accelerator=SimpleNamespace(process_index=0), _metrics={"train": defaultdict(list)},
    )
    env = {
        "self": self, "torch": torch, "nanstd": grpo_module.nanstd, "rewards_per_func": table, "device": "cpu",
        "num_generations": num_generations, "mode": "train", "prompts": [None] * len(rewards),
    }
    exec(ADVANTAGE_CODE, env)
    return {
        "advantages": [r10(v) for v in env["advantages"].tolist()],
        "metrics": {k: r10(v[0]) for k, v in self._metrics["train"].items()},
    }


def advantage_cases():
    rng = np.random.default_rng(7)
    tables = {}
    g = 4
    base = f32(rng.normal(0, 1, size=(12, 2))).tolist()
    tables["two_funcs"] = base
    one = f32(rng.integers(0, 3, size=(12, 1)).astype(float)).tolist()
    tables["one_func_ties"] = one  # equal rewards in some groups (zero std)
    nones = [list(r) for r in base]
    nones[1][0] = None
    nones[5][1] = None
    nones[6] = [None, None]  # unscorable completion
    nones[9][0] = None
    nones[10][0] = None
    nones[11][0] = None  # a group where one function scored only one completion
    tables["with_none"] = nones
    three = f32(rng.uniform(0, 1, size=(8, 3))).tolist()
    three[2][2] = None
    tables["three_funcs"] = three
    out = []
    for tname, rows in tables.items():
        k = len(rows[0])
        names = [f"r{j}" for j in range(k)]
        ng = 2 if tname == "three_funcs" else g
        for scale in ("group", "batch", "none"):
            for agg in ("sum_then_normalize", "normalize_then_sum"):
                for weights in (None, [round(0.5 + 0.75 * j, 2) for j in range(k)] if k > 1 else [2.0]):
                    res = run_advantages(rows, names, weights, ng, scale, agg)
                    out.append({
                        "name": f"{tname}/{scale}/{agg}/{'weighted' if weights else 'equal'}",
                        "rewards": rows, "names": names, "weights": weights, "numGenerations": ng,
                        "scaleRewards": scale, "multiObjectiveAggregation": agg, **res,
                    })
    return out


# ----------------------------------------------------------------------------------------------
# Through the model: TRL's real _get_per_token_logps_and_entropies on the tiny dense Qwen3

MODEL_DIR = os.path.join(os.path.dirname(__file__), "..", "fixtures", "qwen3", "dense")
MODEL_OUT = os.path.join(os.path.dirname(OUT), "grpo_trl_model_golden.json")
PROMPT_LENGTHS = [3, 7, 5, 2]  # left-padded to 7
COMPLETION_LENGTHS = [6, 4, 1, 5]  # right-padded to 6
MODEL_TEMPERATURE = 0.9
MODEL_CASES = [
    ("dapo", {}, False),
    ("grpo/sequence/kl=bc", {"loss_type": "grpo", "importance_sampling_level": "sequence", "beta": 0.04}, True),
    ("bnpo/delta/epsilonHigh/kl=plain", {"loss_type": "bnpo", "delta": 1.4, "epsilon_high": 0.28, "beta": 0.04, "use_bias_correction_kl": False}, True),
    ("luspo/sequence", {"loss_type": "luspo", "importance_sampling_level": "sequence"}, True),
    ("vespo/offPolicyMask", {"loss_type": "vespo", "off_policy_mask_threshold": 0.02}, True),
    ("cispo/epsilonHigh=5", {"loss_type": "cispo", "epsilon_high": 5.0}, True),
    ("sapo", {"loss_type": "sapo"}, True),
    ("dr_grpo/topEntropyQuantile=0.5/entropyCoef", {"loss_type": "dr_grpo", "top_entropy_quantile": 0.5, "entropy_coef": 0.3}, False),
    ("grpo/ga=2/entropyCoef/gradientCheckpointing", {"loss_type": "grpo", "gradient_accumulation_steps": 2, "entropy_coef": 0.3}, True),
]


def sign_pattern(n):
    """±1 by index, reproducible in JS: the top bit of (i · 2654435761) mod 2^32."""
    i = np.arange(n, dtype=np.uint64)
    return np.where(((i * np.uint64(2654435761)) & np.uint64(0xFFFFFFFF)) >> np.uint64(31), -1.0, 1.0)


def grad_stats(g):
    v = g.detach().reshape(-1).double().numpy()
    return {"n": int(v.size), "sum": r10(v.sum()), "dot": r10((v * sign_pattern(v.size)).sum()), "sq": r10((v * v).sum())}


def model_inputs(rng):
    P, C = max(PROMPT_LENGTHS), max(COMPLETION_LENGTHS)
    prompt_ids = np.zeros((len(PROMPT_LENGTHS), P), dtype=np.int64)
    prompt_mask = np.zeros_like(prompt_ids)
    completion_ids = np.zeros((len(PROMPT_LENGTHS), C), dtype=np.int64)
    completion_mask = np.zeros((len(PROMPT_LENGTHS), C))
    for i, (p, c) in enumerate(zip(PROMPT_LENGTHS, COMPLETION_LENGTHS)):
        prompt_ids[i, P - p:] = rng.integers(3, 512, size=p)
        prompt_mask[i, P - p:] = 1
        completion_ids[i, :c] = rng.integers(3, 512, size=c)
        completion_mask[i, :c] = 1
    return prompt_ids, prompt_mask, completion_ids, completion_mask


def run_model_cases():
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    rng = np.random.default_rng(11)
    prompt_ids, prompt_mask, completion_ids, completion_mask = model_inputs(rng)
    advantages = f32([0.9, -1.3, 0.4, -0.2])
    model = AutoModelForCausalLM.from_pretrained(MODEL_DIR, dtype=torch.float64)
    model.train()
    add_fused_lm_head(model, temperature=MODEL_TEMPERATURE, outputs=("log_probs", "entropy"))
    ids = torch.tensor(np.concatenate([prompt_ids, completion_ids], 1))
    att = torch.tensor(np.concatenate([prompt_mask, completion_mask.astype(np.int64)], 1))
    # The current policy's log-probabilities, to perturb into fixed "old" and reference ones.
    with torch.no_grad():
        labels = ids.masked_fill(att == 0, -100)
        labels[:, : -completion_ids.shape[1]] = -100
        cur = model(input_ids=ids, attention_mask=att, labels=labels, fused_lm_head=True).log_probs[:, -completion_ids.shape[1]:].numpy()
    old = f32(cur + rng.normal(0, 0.15, size=cur.shape))
    ref = f32(cur + rng.normal(0, 0.3, size=cur.shape))
    cases = []
    for name, kw, use_old in MODEL_CASES:
        kw = {"gradient_accumulation_steps": 1, **kw}
        kw["steps_per_generation"] = kw["gradient_accumulation_steps"]
        t = make_trainer({**kw, "temperature": MODEL_TEMPERATURE})
        t.model = model
        t.max_completion_length = completion_ids.shape[1]
        # t._get_per_token_logps_and_entropies is TRL's own method here (not replaced): through the model
        model.zero_grad(set_to_none=True)
        inputs = {
            "prompt_ids": torch.tensor(prompt_ids), "prompt_mask": torch.tensor(prompt_mask),
            "completion_ids": torch.tensor(completion_ids), "completion_mask": torch.tensor(completion_mask),
            "advantages": torch.tensor(advantages), "num_items_in_batch": torch.tensor(float(completion_mask.sum())),
        }
        if use_old:
            inputs["old_per_token_logps"] = torch.tensor(old)
        if t.beta != 0.0:
            inputs["ref_per_token_logps"] = torch.tensor(ref)
        ACCELERATOR.gradient_state._set_sync_gradients(True)
        loss = t._compute_loss(model, inputs)
        loss.backward()
        grads = {n: grad_stats(p.grad) for n, p in model.named_parameters() if p.grad is not None}
        metrics = {k: r10(v[-1]) for k, v in t._metrics["train"].items()}
        cases.append({"name": name, "trl": kw, "useOld": use_old, "loss": r10(loss.item()), "metrics": metrics, "grads": grads})
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=att, labels=labels, fused_lm_head=True)
    C = completion_ids.shape[1]
    return {
        "about": "TRL 1.16's own _compute_loss through the tiny dense Qwen3 (tooling/fixtures/qwen3/dense, float64); written by tooling/reference/grpo_trl_golden.py",
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
        "temperature": MODEL_TEMPERATURE,
        "promptIds": prompt_ids.tolist(), "promptMask": prompt_mask.tolist(),
        "completionIds": completion_ids.tolist(), "completionMask": completion_mask.tolist(),
        "advantages": advantages.tolist(), "oldLogprobs": old.tolist(), "refLogprobs": ref.tolist(),
        "logprobs": mat(out.log_probs[:, -C:] * torch.tensor(completion_mask)),
        "entropy": mat(out.entropy[:, -C:] * torch.tensor(completion_mask)),
        "cases": cases,
    }


def main():
    check_init_assignments()
    model_doc = run_model_cases()
    text = json.dumps(model_doc, separators=(",", ":"), allow_nan=False)
    with open(MODEL_OUT, "w") as f:
        f.write(text)
    print(f"{len(model_doc['cases'])} model cases; {os.path.relpath(MODEL_OUT)}: {len(text) / 1024:.0f} KiB")
    pool = make_pool()
    check_margins(pool)
    cases = [run_case(a, pool) for a in all_cases()]
    pairs = pairwise_rows(AXES)
    applied = sum(1 for c in cases for s in c["steps"] if s["entropyGrad"] is not None and any(any(v != 0 for v in r) for r in s["entropyGrad"]))
    doc = {
        "about": "TRL 1.16's own GRPOTrainer._compute_loss and advantage code on fixed inputs; written by tooling/reference/grpo_trl_golden.py",
        "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
        "design": {
            "axes": {k: [list(v) if isinstance(v, tuple) else v for v in vals] for k, vals in AXES.items()},
            "defaults": {k: (list(v) if isinstance(v, tuple) else v) for k, v in DEFAULTS.items()},
            "pairwiseCases": len(pairs),
            "productCases": len(cases) - len(pairs),
        },
        "shape": [B, C],
        "pool": [{k: (v.tolist()) for k, v in p.items()} for p in pool],
        "cases": cases,
        "advantages": advantage_cases(),
    }
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"{len(cases)} loss cases ({len(pairs)} pairwise), {sum(len(c['steps']) for c in cases)} micro-batches, "
          f"{applied} with a non-zero entropy gradient, {len(doc['advantages'])} advantage cases; "
          f"{os.path.relpath(OUT)}: {len(text) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
