"""What the reference sides of the GRPO benchmarks (grpo_ref.py for mlx-lm-lora, grpo_trl.py for
TRL) pass alike to their trainers (run as scripts: this folder is on sys.path)."""


def shared_trainer_args(settings):
    """The settings of grpo.ts and grpo-trl.ts (their names) that mlx-lm-lora's GRPOTrainingArgs
    and TRL's GRPOConfig both take under the same keyword: how completions are sampled, and the
    KL coefficient and clipping range of the loss."""
    s = settings
    return {
        "max_completion_length": s["maxCompletionLength"],
        "temperature": s["temperature"],
        "top_p": s["topP"],
        "top_k": s["topK"],
        "min_p": s["minP"],
        "beta": s["beta"],
        "epsilon": s["epsilon"],
    }
