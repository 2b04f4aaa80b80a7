"""The Python side of tooling/bench/grpo.ts.

  grpo_ref.py write-model <dir> <settings-json>   writes a small random Qwen3 (config.json,
                                                 model.safetensors, float32) that both sides load
  grpo_ref.py bench <dir> <settings-json>         times mlx-lm-lora's GRPO trainer (train_grpo) on
                                                 it and prints JSON

The benchmark drives mlx-lm-lora's own training loop (generation with mlx-lm's BatchGenerator,
rewards, group advantages, loss and gradients in micro-batches, optimizer update, evaluation of
the state) and reads its per-iteration report (steps_per_report = 1), so the timed code is the
library's, not a re-implementation of it.
"""
import json
import os
import sys
import tempfile
import time

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten, tree_map_with_path

from grpo_args import shared_trainer_args


def model_config(m):
    return {
        "model_type": "qwen3",
        "architectures": ["Qwen3ForCausalLM"],
        "hidden_size": m["hiddenSize"],
        "num_hidden_layers": m["numHiddenLayers"],
        "intermediate_size": m["intermediateSize"],
        "num_attention_heads": m["numAttentionHeads"],
        "num_key_value_heads": m["numKeyValueHeads"],
        "head_dim": m["headDim"],
        "rms_norm_eps": 1e-6,
        "vocab_size": m["vocabSize"],
        "max_position_embeddings": 4096,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "eos_token_id": m["eosTokenIds"],
    }


def write_model(folder, settings):
    from mlx_lm.models import qwen3

    config = model_config(settings["model"])
    mx.random.seed(settings["seed"])
    model = qwen3.Model(qwen3.ModelArgs.from_dict(config))

    # Small weights (HF's initializer_range 0.02) keep the next-token distribution close to
    # uniform over the vocabulary, so end-of-sequence is practically never sampled and every
    # completion on both sides runs to max_completion_length: equal work per step.
    def init(path, p):
        return mx.ones_like(p) if path.endswith("norm.weight") else 0.02 * mx.random.normal(p.shape)

    weights = dict(tree_flatten(tree_map_with_path(init, model.parameters())))
    mx.save_safetensors(os.path.join(folder, "model.safetensors"), weights, metadata={"format": "mlx"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def bench(folder, settings):
    import mlx.optimizers as optim
    from mlx_lm import load
    from mlx_lm.tuner.callbacks import TrainingCallback
    from mlx_lm.tuner.utils import linear_to_lora_layers
    from mlx_lm_lora.trainer import grpo_trainer
    from mlx_lm_lora.trainer.grpo_trainer import GRPOTrainingArgs, train_grpo

    s = settings
    mx.random.seed(s["seed"])
    np.random.seed(s["seed"])
    model, tokenizer = load(folder)
    if s["finetune"] == "lora":
        # What mlx-lm-lora's from_pretrained does: freeze the base, adapters on every linear
        # layer of every block (num_layers = -1).
        model.freeze()
        lora = s["lora"]
        linear_to_lora_layers(model, -1, {"rank": lora["rank"], "scale": lora["scale"], "dropout": lora["dropout"]})
    # mlx-lm-lora loads the reference as a second copy of the base model (load_reference_model).
    ref_model = load(folder)[0] if s["beta"] != 0 else None
    trainable = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

    dataset = [(tokenizer.encode(p["prompt"]), tokenizer.encode(p["answer"]), p["prompt"], p["answer"]) for p in s["prompts"]]

    def answer_reward(prompts, completions, answer, types=None):
        # The same reward as the JavaScript side: 1 when the gold answer appears, plus 0.01 per
        # character (so that the rewards of a group differ and the advantages are not all zero).
        return [(1.0 if a in c else 0.0) + 0.01 * len(c) for c, a in zip(completions, answer)]

    generation_seconds = []
    original_generate = grpo_trainer.generate_grpo

    def timed_generate(*args, **kwargs):
        t0 = time.perf_counter()
        out = original_generate(*args, **kwargs)
        mx.eval(out[0])
        generation_seconds.append(time.perf_counter() - t0)
        return out

    # train_grpo looks generate_grpo up in its module at call time
    grpo_trainer.generate_grpo = timed_generate

    reports = []

    class Collect(TrainingCallback):
        def on_train_loss_report(self, info):
            reports.append(info)

    adam = s["optimizer"]
    optimizer = optim.AdamW(
        learning_rate=s["learningRate"],
        betas=[adam["beta1"], adam["beta2"]],
        eps=adam["epsilon"],
        weight_decay=adam["weightDecay"],
        bias_correction=True,
    )
    iters = s["warmupSteps"] + s["steps"]
    with tempfile.TemporaryDirectory() as out:
        args = GRPOTrainingArgs(
            batch_size=s["promptsPerStep"],
            iters=iters,
            val_batches=0,
            steps_per_report=1,
            steps_per_eval=10**9,
            steps_per_save=10**9,
            adapter_file=os.path.join(out, "adapters.safetensors"),
            max_seq_length=2048,
            grad_checkpoint=False,
            group_size=s["numGenerations"],
            epsilon_high=s["epsilon"],
            gradient_accumulation_steps=1,
            importance_sampling_level="token",
            grpo_loss_type=s["lossType"],
            **shared_trainer_args(s),
        )
        # tqdm.write and the trainer's report go to stdout: keep stdout for the JSON result.
        stdout, sys.stdout = sys.stdout, sys.stderr
        try:
            train_grpo(
                model=model,
                ref_model=ref_model,
                tokenizer=tokenizer,
                optimizer=optimizer,
                train_dataset=dataset,
                reward_funcs=[answer_reward],
                args=args,
                training_callback=Collect(),
                end_answer_token="",
            )
        finally:
            sys.stdout = stdout

    timed = reports[s["warmupSteps"] :]
    step_seconds = [1.0 / r["iterations_per_second"] for r in timed]
    tokens = [r["tokens_per_second"] / r["iterations_per_second"] for r in timed]
    gen = generation_seconds[s["warmupSteps"] :]
    return {
        "step_ms": [round(x * 1000, 2) for x in step_seconds],
        "median_step_ms": round(float(np.median(step_seconds)) * 1000, 2),
        "mean_step_ms": round(float(np.mean(step_seconds)) * 1000, 2),
        "completion_tokens_per_step": [int(round(t)) for t in tokens],
        "tokens_per_s": round(sum(tokens) / sum(step_seconds), 2),
        "median_generation_ms": round(float(np.median(gen)) * 1000, 2),
        "mean_completion_length": round(float(np.mean([r["train_average_generated_tokens"] for r in timed])), 2),
        "mean_reward": round(float(np.mean([r["train_total_rewards_mean"] for r in timed])), 4),
        "trainable_parameters": int(trainable),
        "peak_memory_gb": round(max(r["peak_memory"] for r in timed), 3),
    }


if __name__ == "__main__":
    mode, folder, settings = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    mx.set_default_device(mx.cpu)
    if mode == "write-model":
        write_model(folder, settings)
    elif mode == "bench":
        print(json.dumps(bench(folder, settings)))
    else:
        raise SystemExit(f"unknown mode {mode!r}: use write-model or bench")
