"""TRL's side of tooling/bench/grpo-trl.ts: TRL 1.16's GRPOTrainer on the model folder that
grpo-trl.ts wrote, with the settings it passes as JSON; prints one JSON line.

    python tooling/bench/grpo_trl.py MODEL_DIR SETTINGS_JSON

Needs torch, transformers and trl (the GPU machine's torch and transformers, with trl and the
few packages it lacks installed by tooling/bench/gpu/setup.sh). Times each optimizer step
between consecutive ends of steps, synchronising the device, and splits it into: generating the
rollouts (`_generate`), the rest of `_generate_and_score_completions` (rewards, advantages,
log-probabilities when needed), the loss with its backward pass (the rest of `training_step`),
and the optimizer with the loop around it (what is left of the step). Peak memory is torch's
`max_memory_allocated` over the timed steps (after the warm-up).
"""
import json
import os
import statistics
import sys
import tempfile
import time

import torch
import transformers
import trl
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from grpo_args import shared_trainer_args

folder, s = sys.argv[1], json.loads(sys.argv[2])
device = "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    if device == "cuda":
        torch.cuda.synchronize()


def reward(completions, answer, **_):
    # The reward of grpo-task.ts's arithmeticReward.
    return [(1.0 if a in c else 0.0) + 0.01 * len(c) for c, a in zip(completions, answer)]


tokenizer = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, s["dtype"])).to(device)
dataset = Dataset.from_list([{"prompt": p["prompt"], "answer": p["answer"]} for p in s["prompts"]])
out_dir = tempfile.mkdtemp(prefix="grpo-trl-bench-")
total_steps = s["warmupSteps"] + s["steps"]
config = GRPOConfig(
    output_dir=out_dir,
    per_device_train_batch_size=s["perDeviceTrainBatchSize"],
    gradient_accumulation_steps=s["gradientAccumulationSteps"],
    num_generations=s["numGenerations"],
    learning_rate=s["learningRate"],
    lr_scheduler_type="constant",
    adam_beta1=s["optimizer"]["beta1"],
    adam_beta2=s["optimizer"]["beta2"],
    adam_epsilon=s["optimizer"]["epsilon"],
    weight_decay=s["optimizer"]["weightDecay"],
    max_grad_norm=s["maxGradNorm"],
    loss_type=s["lossType"],
    num_iterations=1,
    gradient_checkpointing=s["gradientCheckpointing"],
    bf16=s["bf16"] and device == "cuda",
    max_steps=total_steps,
    logging_steps=1,
    save_strategy="no",
    report_to=[],
    seed=s["seed"],
    disable_tqdm=True,
    dataloader_num_workers=0,
    **shared_trainer_args(s),
)

phases = {"rollout": 0.0, "score": 0.0, "training_step": 0.0}


def timed(name, fn):
    def wrapper(*args, **kwargs):
        sync()
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            sync()
            phases[name] += time.perf_counter() - t0

    return wrapper


class StepTimer(TrainerCallback):
    """Step times between consecutive step ends; the phases of each timed step."""

    def __init__(self):
        self.last = None
        self.steps = []

    def on_train_begin(self, args, state, control, **kwargs):
        sync()
        self.last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        sync()
        now = time.perf_counter()
        step = {"ms": (now - self.last) * 1000, **{k: v * 1000 for k, v in phases.items()}}
        self.last = now
        for k in phases:
            phases[k] = 0.0
        if state.global_step > s["warmupSteps"]:
            self.steps.append(step)
        elif state.global_step == s["warmupSteps"] and device == "cuda":
            torch.cuda.reset_peak_memory_stats()


timer = StepTimer()
logs = []


class Logs(TrainerCallback):
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "completions/mean_length" in logs and state.global_step > s["warmupSteps"]:
            globals()["logs"].append(dict(logs))


trainer = GRPOTrainer(
    model=model,
    reward_funcs=[reward],
    args=config,
    train_dataset=dataset,
    processing_class=tokenizer,
    callbacks=[timer, Logs()],
)
# The generation and scoring phases, timed where TRL calls them (inside training_step).
score = trainer._generate_and_score_completions
generate = trainer._generate
trainer._generate_and_score_completions = timed("score", score)
trainer._generate = timed("rollout", generate)
trainer.training_step = timed("training_step", trainer.training_step)
trainer.train()

completions = s["promptsPerStep"] * s["numGenerations"]
prompt_tokens = statistics.mean(len(tokenizer(p["prompt"])["input_ids"]) for p in s["prompts"])
rows = []
for step, log in zip(timer.steps, logs):
    completion_tokens = log["completions/mean_length"] * completions
    rollout = step["rollout"]
    loss_backward = step["training_step"] - step["score"]
    rows.append(
        {
            "step_ms": step["ms"],
            "rollout_ms": rollout,
            "rewards_and_logprobs_ms": step["score"] - rollout,
            "loss_and_backward_ms": loss_backward,
            "optimizer_and_loop_ms": step["ms"] - step["training_step"],
            "completion_tokens": completion_tokens,
            "rollout_tokens_per_s": completion_tokens / (rollout / 1000),
            "training_tokens_per_s": (completion_tokens + prompt_tokens * completions) / (loss_backward / 1000),
        }
    )
print(
    json.dumps(
        {
            "versions": {"trl": trl.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
            "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "steps": rows,
            "peak_memory": torch.cuda.max_memory_allocated() if device == "cuda" else None,
            "peak_reserved": torch.cuda.max_memory_reserved() if device == "cuda" else None,
            "mean_completion_length": statistics.mean(log["completions/mean_length"] for log in logs) if logs else None,
            "parameter_dtype": str(next(model.parameters()).dtype),
        }
    ),
    flush=True,
)
os._exit(0)
