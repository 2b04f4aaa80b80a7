"""Tiny Qwen3 / Qwen3-MoE checkpoints and mlx-lm's outputs on them (the canonical test fixture).

  python qwen3_golden.py golden <fixtures-dir>        write the checkpoints + expected outputs
  python qwen3_golden.py check-saved <folder> <kind> <fixtures-dir>
                                                      load a folder @mlxn saved with mlx-lm and
                                                      compare its logits with the fixture's

Checkpoints (weights from fixed seeds, written the way the Hub / mlx-community write them):
  dense       qwen3, float32, tied embeddings (plus a redundant lm_head.weight, as some exports)
  moe         qwen3_moe, float32, untied, 4 experts top-2, norm_topk_prob, experts per expert
              (Hugging Face layout), sharded into two files with model.safetensors.index.json
  dense-4bit  the dense model quantized by mlx-lm's quantize_model (4 bits, group size 64)
  moe-4bit    the MoE model quantized the same way (router at 8 bits, per-layer config entry)

Expected outputs per checkpoint (expected.safetensors + expected.json), all from mlx-lm 0.32.2:
  logits            [1, 12, V]  one prompt, no cache
  logits_cached     [1, 12, V]  the same prompt through a KVCache: 8 tokens, then 1 at a time
  batch_logits      [3, 12, V]  three prompts of lengths 12, 7, 3 left-padded, BatchKVCache
  batch_decode      [3, 4, V]   4 more tokens per row, one step at a time, same BatchKVCache
  greedy            32 tokens of generate_step (argmax) after the prompt, with the top-two
                    logit margin at every step (ties below 1e-3 are not asserted by the tests)
"""

import json
import os
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from mlx_lm.generate import generate_step
from mlx_lm.models import qwen3, qwen3_moe
from mlx_lm.models.cache import BatchKVCache, make_prompt_cache
from mlx_lm.utils import load_model, quantize_model

BASE = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}

CONFIGS = {
    "dense": {**BASE, "model_type": "qwen3", "architectures": ["Qwen3ForCausalLM"], "tie_word_embeddings": True},
    "moe": {
        **BASE,
        "model_type": "qwen3_moe",
        "architectures": ["Qwen3MoeForCausalLM"],
        "tie_word_embeddings": False,
        "num_experts": 4,
        "num_experts_per_tok": 2,
        "moe_intermediate_size": 32,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
        "norm_topk_prob": True,
    },
}
SEEDS = {"dense": 7, "moe": 11}

PROMPT = [5, 17, 301, 44, 9, 250, 128, 77, 3, 410, 66, 12]
BATCH = [PROMPT, [88, 14, 200, 31, 7, 501, 42], [19, 260, 4]]
DECODE = [[33, 8, 120, 400], [6, 6, 250, 11], [499, 0, 73, 18]]
GREEDY_TOKENS = 32


def build(kind):
    cfg = CONFIGS[kind]
    mx.random.seed(SEEDS[kind])
    module = qwen3 if cfg["model_type"] == "qwen3" else qwen3_moe
    model = module.Model(module.ModelArgs.from_dict(cfg))
    # Spread the logits a little so greedy margins are rarely near-ties.
    model.update(
        {
            "model": {
                "norm": {"weight": mx.random.uniform(1.5, 2.5, (cfg["hidden_size"],))},
            }
        }
    )
    mx.eval(model.parameters())
    return model, cfg


def hf_weights(model, cfg):
    """Checkpoint keys as Hugging Face writes them (experts one by one)."""
    weights = dict(tree_flatten(model.parameters()))
    out = {}
    for k, v in weights.items():
        if ".switch_mlp." in k and not cfg.get("quantization"):
            prefix, rest = k.split(".switch_mlp.")
            for e in range(v.shape[0]):
                out[f"{prefix}.experts.{e}.{rest}"] = v[e]
        else:
            out[k] = v
    return out


def write_folder(folder, weights, cfg, shards=1):
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    names = sorted(weights)
    if shards == 1:
        mx.save_safetensors(os.path.join(folder, "model.safetensors"), {k: weights[k] for k in names}, metadata={"format": "pt"})
        return
    per = (len(names) + shards - 1) // shards
    index = {"metadata": {"total_size": sum(weights[k].nbytes for k in names)}, "weight_map": {}}
    for i in range(shards):
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = names[i * per : (i + 1) * per]
        mx.save_safetensors(os.path.join(folder, file), {k: weights[k] for k in part}, metadata={"format": "pt"})
        for k in part:
            index["weight_map"][k] = file
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


def top2_margin(logprobs):
    top = mx.sort(logprobs.astype(mx.float32))[-2:]
    return (top[1] - top[0]).item()


def run_reference(model):
    """Everything the tests compare against, computed by mlx-lm."""
    out = {}
    prompt = mx.array([PROMPT])
    out["logits"] = model(prompt).astype(mx.float32)

    cache = make_prompt_cache(model)
    parts = [model(prompt[:, :8], cache=cache)]
    for t in range(8, len(PROMPT)):
        parts.append(model(prompt[:, t : t + 1], cache=cache))
    out["logits_cached"] = mx.concatenate(parts, axis=1).astype(mx.float32)

    width = max(len(p) for p in BATCH)
    padding = [width - len(p) for p in BATCH]
    padded = mx.array([[0] * pad + p for p, pad in zip(BATCH, padding)])
    cache = [BatchKVCache(left_padding=padding) for _ in model.layers]
    out["batch_logits"] = model(padded, cache=cache).astype(mx.float32)
    steps = []
    for t in range(len(DECODE[0])):
        steps.append(model(mx.array([[row[t]] for row in DECODE]), cache=cache))
    out["batch_decode"] = mx.concatenate(steps, axis=1).astype(mx.float32)

    tokens, margins = [], []
    for token, logprobs in generate_step(prompt[0], model, max_tokens=GREEDY_TOKENS):
        tokens.append(int(token))
        margins.append(top2_margin(logprobs))
    mx.eval(out)
    return out, {"tokens": tokens, "margins": margins}


def golden(root):
    meta = {
        "mlx": mx.__version__,
        "mlx_lm": __import__("mlx_lm").__version__,
        "prompt": PROMPT,
        "batch": BATCH,
        "batch_left_padding": [max(len(p) for p in BATCH) - len(p) for p in BATCH],
        "decode": DECODE,
        "models": {},
    }
    for kind in ["dense", "moe"]:
        model, cfg = build(kind)
        weights = hf_weights(model, cfg)
        if kind == "dense":
            # A redundant head in a tied checkpoint (mlx-lm's sanitize drops it; so must we).
            weights["lm_head.weight"] = weights["model.embed_tokens.weight"]
        write_folder(os.path.join(root, kind), weights, cfg, shards=2 if kind == "moe" else 1)
        variants = [(kind, model, cfg)]
        qmodel, _ = build(kind)
        qmodel, qcfg = quantize_model(qmodel, dict(cfg), group_size=64, bits=4)
        qcfg["torch_dtype"] = "float32"
        write_folder(os.path.join(root, f"{kind}-4bit"), dict(tree_flatten(qmodel.parameters())), qcfg)
        variants.append((f"{kind}-4bit", qmodel, qcfg))
        for name, m, _ in variants:
            # Reload through mlx-lm's own loader, so the fixture is what mlx-lm reads from disk.
            loaded, _ = load_model(Path(root) / name)
            arrays, info = run_reference(loaded)
            mx.save_safetensors(os.path.join(root, f"{name}.expected.safetensors"), arrays)
            near = sum(1 for x in info["margins"] if x <= 1e-3)
            meta["models"][name] = {**info, "near_ties": near}
            print(f"{name}: greedy {info['tokens'][:8]}... near-ties {near}")
    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    total = 0
    for dirpath, _, files in os.walk(root):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"fixtures: {total / 1e6:.2f} MB in {root}")


def check_saved(folder, kind, root):
    model, _ = load_model(Path(folder))
    expected = mx.load(os.path.join(root, f"{kind}.expected.safetensors"))
    logits = model(mx.array([PROMPT])).astype(mx.float32)
    diff = mx.max(mx.abs(logits - expected["logits"])).item()
    print(f"mlx-lm loaded {folder} ({kind}): max |logits - fixture| = {diff:.3g}")
    if not diff <= 1e-4:
        sys.exit(1)
    if not kind.endswith("4bit"):
        # transformers (without PyTorch only its config and key layout can be checked): the
        # config must parse, and the tensor names must be exactly the Hugging Face ones the
        # fixture was written with (experts one by one; a tied head absent).
        from transformers import AutoConfig

        cfg = AutoConfig.from_pretrained(folder)
        names = set()
        for f in os.listdir(folder):
            if f.endswith(".safetensors"):
                names |= set(mx.load(os.path.join(folder, f)).keys())
        source = set()
        for f in os.listdir(os.path.join(root, kind)):
            if f.endswith(".safetensors"):
                source |= set(mx.load(os.path.join(root, kind, f)).keys())
        if cfg.tie_word_embeddings:
            source.discard("lm_head.weight")
        if names != source:
            print(f"tensor names differ from the Hugging Face layout: {sorted(names ^ source)[:10]}")
            sys.exit(1)
        print(f"transformers {cfg.model_type} config parsed; {len(names)} tensor names match the Hugging Face layout")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "golden":
        golden(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "check-saved":
        check_saved(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
