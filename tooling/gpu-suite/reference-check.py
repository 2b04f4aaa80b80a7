"""Python MLX and mlx-lm on the GPU against the CPU goldens the vitest suites compare with.

The suites' parity fixtures (tooling/fixtures/qwen3/*.expected.safetensors) were written by
mlx-lm on the CPU. Where @mlxn on the GPU differs from them, this tells whether MLX itself does
on the same machine and runtime: it runs mlx-lm's model on each tiny checkpoint on the GPU and
on the CPU and prints max |logits - golden| for both, then float32 matmul on the GPU against the
CPU (TF32-like rounding), and which ops MLX refuses on the GPU.

On the GPU machine, after the parts a, b, c of tooling/bench/gpu are received:
  . tooling/bench/gpu/setup.sh && python3 tooling/gpu-suite/reference-check.py
"""
import json
from pathlib import Path

import mlx.core as mx
from mlx_lm.utils import load_model

root = Path(__file__).resolve().parents[2]
fixtures = root / "tooling" / "fixtures" / "qwen3"
meta = json.loads((fixtures / "expected.json").read_text())
prompt = mx.array([meta["prompt"]], dtype=mx.int32)


def max_abs(a, b):
    return mx.max(mx.abs(a.astype(mx.float32) - b.astype(mx.float32))).item()


print(f"mlx {mx.__version__}; default device {mx.default_device()}")
for kind in ["dense", "moe", "dense-4bit", "moe-4bit"]:
    golden = mx.load(str(fixtures / f"{kind}.expected.safetensors"))["logits"]
    model, _ = load_model(fixtures / kind)
    row = []
    for device in [mx.gpu, mx.cpu]:
        with mx.stream(device):
            logits = model(prompt)
            mx.eval(logits)
        row.append(f"{device}: {max_abs(logits, golden):.3g}")
    print(f"mlx-lm {kind}: max |logits - CPU golden| on " + ", ".join(row))

key = mx.random.key(0)
a = mx.random.normal((64, 256), key=key)
b = mx.random.normal((256, 64), key=mx.random.split(key)[0])
with mx.stream(mx.cpu):
    ref = mx.matmul(a, b)
    mx.eval(ref)
with mx.stream(mx.gpu):
    got = mx.matmul(a, b)
    mx.eval(got)
print(f"float32 matmul 64x256 @ 256x64: max |GPU - CPU| {max_abs(got, ref):.3g}, max |CPU| {mx.max(mx.abs(ref)).item():.3g}")

checks = {
    "float64 add": lambda: mx.array([1.0], dtype=mx.float64) + 1,
    "linalg.inv": lambda: mx.linalg.inv(mx.eye(3)),
    "quantized_matmul float32 1x9x32 bits 8 group 32": lambda: mx.quantized_matmul(
        mx.ones((1, 9, 32)), *mx.quantize(mx.ones((4, 32)), group_size=32, bits=8), group_size=32, bits=8),
}
for name, build in checks.items():
    try:
        with mx.stream(mx.gpu):
            mx.eval(build())
        print(f"{name} on the GPU: runs")
    except Exception as e:  # noqa: BLE001 - the message is what is reported
        print(f"{name} on the GPU: {str(e).splitlines()[0][:160]}")
