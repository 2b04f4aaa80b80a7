"""Python MLX alone on the GPU: the behaviours behind the GPU suite's open failure classes.

Each probe does on the GPU what a failing @mlxn test does, with MLX's own Python API, and
prints what MLX itself gives (so a difference is MLX's, not ours, when MLX shows it too):

  grad       value_and_grad through Linear, layer_norm, gelu, Linear, rms_norm, softplus (the
             shapes of nn/test/grad.test.ts) against the CPU and central finite differences,
             and the same for each fused norm alone
  determinism  the same embedding + matmul gradient twice on the GPU: bit-identical or not
  random     a seeded normal draw on the GPU against the CPU's, bit for bit
  memory     active memory after creating and freeing arrays of known sizes

On the GPU machine, after the parts a, b, c of tooling/bench/gpu are received:
  . tooling/bench/gpu/setup.sh && MLX_ENABLE_TF32=0 python3 tooling/gpu-suite/mlx-gpu-probes.py
"""
import mlx.core as mx
import mlx.nn as nn
import numpy as np

print(f"mlx {mx.__version__}; default device {mx.default_device()}")


def on(device, fn):
    with mx.stream(device):
        out = fn()
        mx.eval(out)
        return out


def max_abs(a, b):
    return float(np.max(np.abs(np.array(a, dtype=np.float64) - np.array(b, dtype=np.float64))))


# --- grad: the model of nn/test/grad.test.ts ------------------------------------------------
mx.random.seed(1)
params = {
    "w1": mx.random.normal((6, 4)) * 0.5, "b1": mx.random.normal((6,)) * 0.1,
    "g1": mx.ones((6,)) + 0.1 * mx.random.normal((6,)), "c1": 0.1 * mx.random.normal((6,)),
    "w2": mx.random.normal((3, 6)) * 0.4, "b2": mx.random.normal((3,)) * 0.1,
    "g2": mx.ones((3,)) + 0.1 * mx.random.normal((3,)),
}
x = mx.random.normal((5, 4))
mx.eval(params, x)


def loss_fn(p):
    h = x @ p["w1"].T + p["b1"]
    h = mx.fast.layer_norm(h, p["g1"], p["c1"], 1e-5)
    h = nn.gelu(h)
    h = h @ p["w2"].T + p["b2"]
    h = mx.fast.rms_norm(h, p["g2"], 1e-5)
    return mx.sum(mx.square(nn.softplus(h)))


grads = {d: on(d, lambda: mx.value_and_grad(loss_fn)(params)[1]) for d in (mx.gpu, mx.cpu)}
for k in params:
    g_gpu, g_cpu = np.array(grads[mx.gpu][k]), np.array(grads[mx.cpu][k])
    flat = np.array(params[k]).ravel()
    worst_fd = 0.0
    for i in (0, flat.size // 2, flat.size - 1):
        def at(d):
            v = flat.copy()
            v[i] += d
            q = dict(params)
            q[k] = mx.array(v.reshape(params[k].shape))
            return on(mx.gpu, lambda: loss_fn(q)).item()
        fd = (at(1e-3) - at(-1e-3)) / 2e-3
        worst_fd = max(worst_fd, abs(fd - g_gpu.ravel()[i]))
    print(f"grad model {k}: max |GPU - CPU| {max_abs(g_gpu, g_cpu):.3g}; max |GPU grad - GPU finite difference| {worst_fd:.3g}")

for name, dims, f in [
    ("layer_norm", 6, lambda a, w: mx.fast.layer_norm(a, w, None, 1e-5)),
    ("rms_norm", 3, lambda a, w: mx.fast.rms_norm(a, w, 1e-5)),
    ("rms_norm", 64, lambda a, w: mx.fast.rms_norm(a, w, 1e-5)),
]:
    a = mx.random.normal((5, dims))
    w = mx.random.normal((dims,))
    ct = mx.random.normal((5, dims))
    res = {}
    for d in (mx.gpu, mx.cpu):
        res[d] = on(d, lambda: mx.vjp(lambda a_, w_: f(a_, w_), [a, w], [ct])[1])
    print(f"{name} ({dims}) vjp: max |GPU - CPU| input {max_abs(res[mx.gpu][0], res[mx.cpu][0]):.3g}, weight {max_abs(res[mx.gpu][1], res[mx.cpu][1]):.3g}")

# --- determinism: embedding (scatter-add in the backward) and a matmul ----------------------
emb = mx.random.normal((1000, 64))
ids = mx.random.randint(0, 1000, (8, 128))
proj = mx.random.normal((64, 64))
mx.eval(emb, ids, proj)


def emb_loss(e, p):
    return mx.sum(mx.square(e[ids] @ p))


runs = [on(mx.gpu, lambda: mx.grad(emb_loss, argnums=(0, 1))(emb, proj)) for _ in range(2)]
for i, name in enumerate(["embedding", "matmul weight"]):
    a, b = np.array(runs[0][i]), np.array(runs[1][i])
    print(f"determinism: {name} gradient twice on the GPU: {'bit-identical' if np.array_equal(a, b) else f'differs, max {max_abs(a, b):.3g}'}")

# --- random: seeded draws on both devices ---------------------------------------------------
key = mx.random.key(7)
draws = {d: np.array(on(d, lambda: mx.random.normal((4096,), key=key))) for d in (mx.gpu, mx.cpu)}
uni = {d: np.array(on(d, lambda: mx.random.uniform(shape=(4096,), key=key))) for d in (mx.gpu, mx.cpu)}
for name, r in [("normal", draws), ("uniform", uni)]:
    diff = np.count_nonzero(r[mx.gpu] != r[mx.cpu])
    print(f"random {name} (4,096 draws, same key): {diff} differ GPU vs CPU, max {max_abs(r[mx.gpu], r[mx.cpu]):.3g}")

# --- memory: active memory accounting for arrays of known sizes ------------------------------
mx.synchronize()
base = mx.get_active_memory()
for n in (1, 3, 1000, 1 << 20):
    a = on(mx.gpu, lambda: mx.zeros((n,), dtype=mx.float32) + 1)
    held = mx.get_active_memory() - base
    del a
    mx.synchronize()
    print(f"memory: float32[{n}] ({4 * n} bytes) raised active memory by {held}; after del {mx.get_active_memory() - base}")

# --- quantized attention shapes: the quantized KV cache's two quantized_matmuls ---------------
# scores = q @ k^T (transpose=True) and out = scores @ v (transpose=False), GQA layout
# [B, kv heads, repeats, L, D] against [B, kv heads, S, D] quantized along D.
failures = []
worst = 0.0
for dtype in (mx.float32,):
    for head_dim in (32, 64):
        for group in (32,):
            for bits in (8,):
                for length, cached in ((1, 9), (9, 9), (10, 10)):
                    q = mx.random.normal((1, 2, 2, length, head_dim)).astype(dtype)
                    kv = mx.random.normal((1, 2, cached, head_dim)).astype(dtype)
                    w, s, b = mx.quantize(kv, group_size=group, bits=bits)
                    sc = mx.random.normal((1, 2, 2, length, cached)).astype(dtype)
                    for transpose, x in ((True, q), (False, sc)):
                        name = f"{dtype} D={head_dim} group={group} bits={bits} L={length} S={cached} transpose={transpose}"
                        try:
                            got = on(mx.gpu, lambda: mx.quantized_matmul(x, w, s, b, transpose=transpose, group_size=group, bits=bits))
                            ref = on(mx.cpu, lambda: mx.quantized_matmul(x, w, s, b, transpose=transpose, group_size=group, bits=bits))
                            err = max_abs(got.astype(mx.float32), ref.astype(mx.float32)) / max(1e-6, float(np.max(np.abs(np.array(ref.astype(mx.float32))))))
                            worst = max(worst, err)
                            if not np.isfinite(err) or err > 5e-2:
                                failures.append(f"{name}: relative max |GPU - CPU| {err:.3g}")
                        except Exception as e:  # noqa: BLE001 - the message is what is reported
                            failures.append(f"{name}: {str(e).splitlines()[0][:120]}")
print(f"quantized_matmul attention shapes: {len(failures)} problems; worst relative GPU - CPU among the rest {worst:.3g}")
for f in failures[:40]:
    print("  " + f)

# --- the 4-bit fixtures: which layer of mlx-lm's model first differs on the GPU --------------
try:
    from pathlib import Path

    from mlx_lm.utils import load_model

    fixtures = Path(__file__).resolve().parents[2] / "tooling" / "fixtures" / "qwen3"
    model, _ = load_model(fixtures / "dense-4bit")
    tokens = mx.array([[1, 5, 9, 33, 100, 7, 2, 60, 3]])
    for name, fn in [
        ("embed_tokens", lambda: model.model.embed_tokens(tokens)),
        ("layer 0 q_proj", lambda: model.model.layers[0].self_attn.q_proj(model.model.embed_tokens(tokens))),
        ("layer 0 mlp", lambda: model.model.layers[0].mlp(model.model.embed_tokens(tokens))),
        ("lm head (tied, as_linear)", lambda: model.model.embed_tokens.as_linear(model.model.embed_tokens(tokens))),
        ("whole model", lambda: model(tokens)),
    ]:
        g, c = on(mx.gpu, fn), on(mx.cpu, fn)
        print(f"dense-4bit {name}: max |GPU - CPU| {max_abs(g, c):.3g} (max |CPU| {float(np.max(np.abs(np.array(c)))):.3g}), GPU finite: {bool(np.all(np.isfinite(np.array(g))))}")
    emb = model.model.embed_tokens
    x = on(mx.cpu, lambda: emb(tokens))
    for dims in [(9, 64), (1, 9, 64)]:
        xx = x.reshape(dims)
        g, c = (on(d, lambda: mx.quantized_matmul(xx, emb.weight, emb.scales, emb.biases, transpose=True, group_size=64, bits=4)) for d in (mx.gpu, mx.cpu))
        print(f"quantized_matmul {dims} @ [{emb.weight.shape[0]}, 64]^T 4-bit group 64: max |GPU - CPU| {max_abs(g, c):.3g}")
except Exception as e:  # noqa: BLE001 - the message is what is reported
    print(f"dense-4bit probe: {type(e).__name__}: {str(e).splitlines()[0][:200]}")

# --- layer_norm's input gradient by axis size (the CUDA VJP differed at 6) -------------------
bad = []
for dims in (2, 3, 4, 5, 6, 7, 8, 12, 16, 31, 32, 33, 64, 100, 128, 256, 1000, 1024, 4096):
    a = mx.random.normal((5, dims))
    w = mx.random.normal((dims,))
    bias = mx.random.normal((dims,))
    ct = mx.random.normal((5, dims))
    res = {d: on(d, lambda: mx.vjp(lambda a_, w_, b_: mx.fast.layer_norm(a_, w_, b_, 1e-5), [a, w, bias], [ct])[1]) for d in (mx.gpu, mx.cpu)}
    errs = [max_abs(res[mx.gpu][i], res[mx.cpu][i]) for i in range(3)]
    if max(errs) > 1e-3:
        bad.append(f"{dims} (input {errs[0]:.3g}, weight {errs[1]:.3g}, bias {errs[2]:.3g})")
print(f"layer_norm vjp GPU vs CPU by axis size: differs at {', '.join(bad) if bad else 'none'}")

# --- a synchronous training loop: active memory by step ---------------------------------------
import mlx.optimizers as optim  # noqa: E402


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(512, 2048), nn.Linear(2048, 512)]

    def __call__(self, x):
        return self.layers[1](nn.relu(self.layers[0](x)))


net = MLP()
opt = optim.AdamW(learning_rate=1e-3)
xb = mx.random.normal((64, 512))
loss_and_grad = nn.value_and_grad(net, lambda x: mx.mean(mx.square(net(x))))
seen = {}
for step in range(1, 61):
    loss, grads = loss_and_grad(xb)
    opt.update(net, grads)
    mx.eval(loss, net.parameters(), opt.state)
    del loss, grads
    if step in (10, 20, 40, 60):
        seen[step] = mx.get_active_memory()
print("training loop (8.4 MB of parameters) active memory by step: " + ", ".join(f"{k}: {v}" for k, v in seen.items()))
