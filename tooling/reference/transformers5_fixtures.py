"""Checkpoints written by transformers 5's own save_pretrained, for
packages/models-qwen3/test/transformers5.test.ts: a tiny Qwen3 and a tiny Qwen3-MoE (random
init, fixed seed, float32) and the logits transformers computes for a few token sequences.

transformers 5 writes `rope_parameters` (not `rope_theta`), `num_local_experts` (not
`num_experts`) and `dtype` (not `torch_dtype`): the loader must read that generation of the format.

Pinned (the dev machine's torch reference venv; never needed by CI, which reads the fixtures):
    torch==2.11.0 transformers==5.17.0 safetensors
Generated on CPU (float32; the GPU would give the same reference within the tolerance).

Run from the repository root:
    <venv>/bin/python tooling/reference/transformers5_fixtures.py
Writes tooling/fixtures/transformers5/{dense,moe}/ (config.json, generation_config.json,
model.safetensors) and tooling/fixtures/transformers5/{dense,moe}.expected.safetensors
(`tokens_<i>` int32 [1, T], `logits_<i>` float32 [1, T, vocab]).
"""
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen3Config, Qwen3ForCausalLM, Qwen3MoeConfig, Qwen3MoeForCausalLM

assert transformers.__version__ == "5.17.0", transformers.__version__
assert torch.__version__.split("+")[0] == "2.11.0", torch.__version__

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "transformers5")
VOCAB = 96
SEQUENCES = [[1, 5, 9, 2, 44, 95], [7], [3, 3, 3, 80, 12, 61, 0, 17, 29, 50, 50, 8]]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
    bos_token_id=1,
    eos_token_id=2,
)


def build(kind):
    if kind == "dense":
        config = Qwen3Config(**COMMON, intermediate_size=48, tie_word_embeddings=False,
                             rope_parameters={"rope_type": "default", "rope_theta": 10000.0})
        return Qwen3ForCausalLM(config)
    config = Qwen3MoeConfig(**COMMON, intermediate_size=48, moe_intermediate_size=16, num_experts=4,
                            num_experts_per_tok=2, norm_topk_prob=True, decoder_sparse_step=1,
                            mlp_only_layers=[], tie_word_embeddings=True,
                            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    return Qwen3MoeForCausalLM(config)


def main():
    for i, kind in enumerate(["dense", "moe"]):
        torch.manual_seed(1234 + i)
        model = build(kind).to(torch.float32).eval()
        # Random init draws small weights; spread them so the logits differ visibly per token.
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "norm" in name:
                    p.copy_(1.0 + 0.1 * torch.randn_like(p))
                else:
                    p.copy_(0.2 * torch.randn_like(p))
        folder = os.path.join(OUT, kind)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder)
        expected = {}
        with torch.no_grad():
            for j, seq in enumerate(SEQUENCES):
                tokens = torch.tensor([seq], dtype=torch.int64)
                expected[f"tokens_{j}"] = tokens.to(torch.int32)
                expected[f"logits_{j}"] = model(tokens).logits.to(torch.float32).contiguous()
        save_file(expected, os.path.join(OUT, f"{kind}.expected.safetensors"))
        with open(os.path.join(folder, "config.json")) as f:
            config = json.load(f)
        size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
        print(kind, sorted(os.listdir(folder)), size, "bytes; config keys:", sorted(config))


main()
