"""Golden values for @mlxn/nn's modules and layers, from Python MLX (mlx.nn) and mlx-lm
(rope_utils, LoRA) on fixed inputs and seeds.

    /tmp/pyref/bin/python tooling/reference/nn_golden.py   (from the repository root)
    or with the sampling venv (mlx + mlx-lm without deps): node tooling/reference/nn-env.mjs

Writes packages/nn/test/fixtures/nn_golden.safetensors: every input and output as a float32
(or packed uint32) tensor, named `<case>.<tensor>`. Random initialisations are captured with
fixed seeds: @mlxn/core's random key sequence follows MLX's, so they must match exactly.
"""
import importlib.util
import os
import sys
import types

import mlx.core as mx
import mlx.nn as nn
import numpy as np

# mlx_lm's package __init__ pulls in transformers; rope_utils and the LoRA layer need only mlx.
# Bare package entries (no __init__ run) let them import in the no-deps sampling venv too.
_spec = importlib.util.find_spec("mlx_lm")
if _spec is None or not _spec.submodule_search_locations:
    raise SystemExit("mlx-lm is not installed in this Python (see tooling/reference/sampling-env.mjs)")
_root = list(_spec.submodule_search_locations)[0]
for _name, _sub in (("mlx_lm", ""), ("mlx_lm.models", "models"), ("mlx_lm.tuner", "tuner")):
    if _name not in sys.modules:
        _m = types.ModuleType(_name)
        _m.__path__ = [os.path.join(_root, _sub)]
        sys.modules[_name] = _m
from mlx_lm.models.rope_utils import initialize_rope  # noqa: E402
from mlx_lm.tuner.lora import LoRALinear  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "packages", "nn", "test", "fixtures", "nn_golden.safetensors")
rng = np.random.default_rng(7)
G = {}


def arr(*shape):
    return mx.array(rng.standard_normal(shape).astype(np.float32))


# Activations on a fixed grid.
x = mx.linspace(-4, 4, 33)
G["act.x"] = x
acts = {
    "relu": nn.relu, "relu6": nn.relu6, "leaky_relu": nn.leaky_relu, "elu": nn.elu, "celu": nn.celu,
    "selu": nn.selu, "softplus": nn.softplus, "softsign": nn.softsign, "softshrink": nn.softshrink,
    "hard_tanh": nn.hard_tanh, "hard_swish": nn.hardswish, "log_sigmoid": nn.log_sigmoid,
    "silu": nn.silu, "mish": nn.mish, "gelu": nn.gelu, "gelu_approx": nn.gelu_approx,
    "gelu_fast_approx": nn.gelu_fast_approx, "sigmoid": nn.sigmoid, "tanh": nn.tanh,
    "relu_squared": lambda v: nn.relu(v) ** 2, "step": nn.step,
}
for k, f in acts.items():
    G[f"act.{k}"] = f(x)
g2 = arr(2, 6)
G["act.glu_in"] = g2
G["act.glu"] = nn.glu(g2)

# Seeded initialisation (exact: same key sequence) and forward passes.
mx.random.seed(42)
lin = nn.Linear(6, 5)
G["linear.weight"], G["linear.bias"] = lin.weight, lin.bias
xin = arr(3, 6)
G["linear.x"], G["linear.y"] = xin, lin(xin)
mx.random.seed(43)
emb = nn.Embedding(11, 4)
G["embedding.weight"] = emb.weight
G["embedding.ids"] = mx.array([[1, 0, 10], [3, 3, 7]], dtype=mx.int32)
G["embedding.y"] = emb(G["embedding.ids"])
G["embedding.as_linear"] = emb.as_linear(G["linear.x"][:, :4])

w = mx.zeros((4, 6))
mx.random.seed(5)
G["init.glorot_uniform"] = nn.init.glorot_uniform()(w)
mx.random.seed(6)
G["init.he_normal"] = nn.init.he_normal()(w)
mx.random.seed(7)
G["init.he_uniform_fan_out"] = nn.init.he_uniform()(w, mode="fan_out", gain=2.0)

mx.random.seed(9)
drop = nn.Dropout(0.25)
G["dropout.x"] = mx.ones((4, 8))
G["dropout.y"] = drop(G["dropout.x"])

# Normalisation with non-trivial weights.
nx = arr(2, 3, 8)
G["norm.x"] = nx
rms = nn.RMSNorm(8, eps=1e-5)
rms.weight = arr(8)
G["rms.weight"], G["rms.y"] = rms.weight, rms(nx)
ln = nn.LayerNorm(8, eps=1e-5)
ln.weight, ln.bias = arr(8), arr(8)
G["ln.weight"], G["ln.bias"], G["ln.y"] = ln.weight, ln.bias, ln(nx)
G["ln_plain.y"] = nn.LayerNorm(8, affine=False)(nx)

# Rotary embeddings: [B, H, L, D].
rx = arr(1, 2, 5, 16)
G["rope.x"] = rx
G["rope.default"] = nn.RoPE(16)(rx, offset=3)
G["rope.traditional"] = nn.RoPE(16, traditional=True, base=500.0)(rx, offset=2)
G["rope.partial_scaled"] = nn.RoPE(8, scale=0.5)(rx)
G["rope.linear"] = initialize_rope(16, 10000.0, False, {"rope_type": "linear", "factor": 4.0})(rx, offset=1)
yarn_cfg = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}
G["rope.yarn"] = initialize_rope(16, 1000000.0, False, yarn_cfg, 131072)(rx, offset=7)
G["rope.yarn_mscale"] = initialize_rope(8, 10000.0, False, {"type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "mscale": 0.707, "mscale_all_dim": 0.3, "beta_fast": 16, "beta_slow": 2}, 512)(rx, offset=0)

# Multi-head attention (mlx.nn) with an additive causal mask.
mx.random.seed(11)
mha = nn.MultiHeadAttention(8, 2, bias=True)
for name in ["query_proj", "key_proj", "value_proj", "out_proj"]:
    G[f"mha.{name}.weight"] = getattr(mha, name).weight
    G[f"mha.{name}.bias"] = getattr(mha, name).bias
q, kv = arr(2, 4, 8), arr(2, 4, 8)
G["mha.q"], G["mha.kv"] = q, kv
G["mha.y"] = mha(q, kv, kv, mask=nn.MultiHeadAttention.create_additive_causal_mask(4))
# Grouped-query attention written out with repeated key/value heads (4 query heads, 2 kv heads).
B, L, H, KV, D = 1, 3, 4, 2, 4
gq, gk, gv = arr(B, H, L, D), arr(B, KV, L, D), arr(B, KV, L, D)
G["gqa.q"], G["gqa.k"], G["gqa.v"] = gq, gk, gv
kk, vv = mx.repeat(gk, H // KV, axis=1), mx.repeat(gv, H // KV, axis=1)
s = (gq * D**-0.5) @ kk.transpose(0, 1, 3, 2)
s = s + mx.triu(mx.full((L, L), -mx.inf), k=1)
G["gqa.y"] = mx.softmax(s, axis=-1) @ vv

# Quantized linear from fixed weights (affine 4- and 8-bit) and its forward.
qw = arr(8, 64)
G["quant.w"], G["quant.x"] = qw, arr(3, 64)
for bits in (4, 8):
    ql = nn.QuantizedLinear.from_linear(nn.Linear(64, 8, bias=False), group_size=32, bits=bits)
    ql.weight, ql.scales, ql.biases = mx.quantize(qw, group_size=32, bits=bits)
    G[f"quant{bits}.weight"], G[f"quant{bits}.scales"], G[f"quant{bits}.biases"] = ql.weight, ql.scales, ql.biases
    G[f"quant{bits}.y"] = ql(G["quant.x"])
qe = nn.QuantizedEmbedding(8, 64, group_size=32, bits=4)
qe.weight, qe.scales, qe.biases = mx.quantize(qw, group_size=32, bits=4)
G["qemb.y"] = qe(mx.array([2, 0, 7]))

# LoRA over a linear: forward with given adapters, and the fused weight.
base = nn.Linear(6, 5, bias=True)
base.weight, base.bias = G["linear.weight"], G["linear.bias"]
lora = LoRALinear.from_base(base, r=3, scale=2.0)
lora.lora_a, lora.lora_b = arr(6, 3), arr(3, 5)
G["lora.a"], G["lora.b"] = lora.lora_a, lora.lora_b
G["lora.y"] = lora(xin)
G["lora.fused_weight"] = lora.fuse().weight

mx.eval(G)
out = {k: (v if v.dtype in (mx.uint32, mx.int32) else v.astype(mx.float32)) for k, v in G.items()}
mx.save_safetensors(OUT, out, metadata={"mlx": mx.__version__})
print(f"wrote {len(out)} tensors to {os.path.normpath(OUT)}")
