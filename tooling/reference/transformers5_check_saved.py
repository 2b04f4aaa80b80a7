"""Checks that transformers 5.17 loads a folder @mlxn saved from one of the transformers-5
fixtures (tooling/fixtures/transformers5/<kind>) and computes the fixture's logits: the config
keys @mlxn writes (`rope_theta`, `num_experts`, `torch_dtype`) are read by transformers 5 as well
as by mlx-lm. Dev machine only (torch==2.11.0, transformers==5.17.0).

    cd examples && node --input-type=module -e "import { Qwen3 } from '@mlxn/models-qwen3'; \
      await (await Qwen3.load('../tooling/fixtures/transformers5/moe')).save('/tmp/moe-saved')"
    <venv>/bin/python ../tooling/reference/transformers5_check_saved.py /tmp/moe-saved moe
"""
import os
import sys

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

assert transformers.__version__ == "5.17.0", transformers.__version__

folder, kind = sys.argv[1], sys.argv[2]
fixtures = os.path.join(os.path.dirname(__file__), "..", "fixtures", "transformers5")
expected = load_file(os.path.join(fixtures, f"{kind}.expected.safetensors"))
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
worst = 0.0
with torch.no_grad():
    for i in range(3):
        logits = model(expected[f"tokens_{i}"].long()).logits
        worst = max(worst, (logits - expected[f"logits_{i}"]).abs().max().item())
print(f"{kind}: {type(model).__name__}, largest logit difference {worst}")
sys.exit(0 if worst <= 1e-4 else 1)
