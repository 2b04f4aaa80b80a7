"""Is MLX's CUDA backend deterministic? Python MLX and mlx-lm alone, no @mlxn.

Two training runs of @mlxn on the GPU do not give bit-identical weights (docs/gpu.md). This
runs the same computation several times in one process on the GPU and reports, for each, whether
every repeat is bit-identical to the first:

  ops     single ops and their gradients on shapes of the tiny fixtures and larger ones
          (reductions, softmax, logsumexp, the fused norms, RoPE, attention, matmul, gather and
          scatter-add with repeated indices, cumsum, sort), with other work in between so buffers
          are reused with old contents
  model   mlx-lm's Qwen3 on tooling/fixtures/qwen3/dense: the loss and every parameter's gradient
          of a next-token cross-entropy, repeated; then two AdamW steps from the same start

On the GPU machine, after the parts a, b, c of tooling/bench/gpu are received:
  . tooling/bench/gpu/setup.sh && MLX_ENABLE_TF32=0 python3 tooling/gpu-suite/determinism-probe.py
"""
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.utils import load_model

REPEATS = int(__import__("os").environ.get("PROBE_REPEATS", "6"))
print(f"mlx {mx.__version__}; default device {mx.default_device()}; {REPEATS} repeats each")


def flat(out):
    if isinstance(out, (list, tuple)):
        return [x for o in out for x in flat(o)]
    if isinstance(out, dict):
        return [x for _, v in sorted(out.items()) for x in flat(v)]
    return [np.array(out.astype(mx.float32) if out.dtype == mx.bfloat16 else out)]


def churn():
    # Other work between repeats, so the allocator hands out buffers that held other values.
    junk = [mx.random.normal((n,)) * 3 + 7 for n in (1 << 10, 1 << 14, 1 << 18, 1 << 20)]
    mx.eval(junk)


def repeat(name, fn):
    first = None
    worst, differing = 0.0, 0
    for _ in range(REPEATS):
        churn()
        out = fn()
        mx.eval(out)
        got = flat(out)
        if first is None:
            first = got
            continue
        for a, b in zip(first, got):
            if not np.array_equal(a, b, equal_nan=True):
                differing += 1
                worst = max(worst, float(np.nanmax(np.abs(a.astype(np.float64) - b.astype(np.float64)))))
    verdict = "bit-identical" if differing == 0 else f"DIFFERS in {differing} output(s) of {REPEATS - 1} repeats, max {worst:.3g}"
    print(f"{name}: {verdict}")


mx.random.seed(0)
k = mx.random.key(0)
keys = mx.random.split(k, 8)
big = mx.random.normal((4096, 1024), key=keys[0])
logits = mx.random.normal((64, 151936 // 16), key=keys[1])
x3 = mx.random.normal((8, 64, 256), key=keys[2])
w256 = mx.random.normal((256,), key=keys[3])
q = mx.random.normal((2, 8, 64, 64), key=keys[4])
kk = mx.random.normal((2, 4, 64, 64), key=keys[5])
v = mx.random.normal((2, 4, 64, 64), key=keys[6])
table = mx.random.normal((1000, 256), key=keys[7])
w64 = mx.random.normal((1024, 64), key=keys[0])
ids = mx.random.randint(0, 50, (16, 128))  # few distinct rows: many repeats per row
mx.eval(big, logits, x3, w256, q, kk, v, table, w64, ids)
mask = mx.triu(mx.full((64, 64), -mx.inf), k=1)
ct = mx.random.normal(x3.shape)


def vjp(f, *args):
    return lambda: mx.vjp(f, list(args), [mx.ones_like(f(*args))])[1]


ops = {
    "sum all (4M)": lambda: mx.sum(big),
    "sum axis 0 (4096x1024)": lambda: mx.sum(big, axis=0),
    "sum axis 1": lambda: mx.sum(big, axis=1),
    "mean all": lambda: mx.mean(big),
    "logsumexp rows (64x9496)": lambda: mx.logsumexp(logits, axis=-1),
    "softmax rows": lambda: mx.softmax(logits, axis=-1),
    "softmax vjp": vjp(lambda a: mx.softmax(a, axis=-1) * logits, logits),
    "cross-entropy + grad": lambda: mx.grad(lambda a: mx.mean(nn.losses.cross_entropy(a, ids[:4, :16].reshape(-1)[:64])))(logits),
    "rms_norm fwd": lambda: mx.fast.rms_norm(x3, w256, 1e-6),
    "rms_norm vjp": lambda: mx.vjp(lambda a, w: mx.fast.rms_norm(a, w, 1e-6), [x3, w256], [ct])[1],
    "layer_norm vjp": lambda: mx.vjp(lambda a, w: mx.fast.layer_norm(a, w, None, 1e-5), [x3, w256], [ct])[1],
    "rope vjp": lambda: mx.vjp(lambda a: mx.fast.rope(a, 64, traditional=False, base=1e6, scale=1.0, offset=0), [q], [q])[1],
    "sdpa causal fwd": lambda: mx.fast.scaled_dot_product_attention(q, kk, v, scale=0.125, mask="causal"),
    "sdpa array mask fwd": lambda: mx.fast.scaled_dot_product_attention(q, kk, v, scale=0.125, mask=mask),
    "sdpa causal vjp": lambda: mx.vjp(lambda a, b, c: mx.fast.scaled_dot_product_attention(a, b, c, scale=0.125, mask="causal"), [q, kk, v], [q])[1],
    "sdpa array mask vjp": lambda: mx.vjp(lambda a, b, c: mx.fast.scaled_dot_product_attention(a, b, c, scale=0.125, mask=mask), [q, kk, v], [q])[1],
    "matmul 4096x1024 @ 1024x256": lambda: big @ w64,
    "matmul vjp (weight grad, K=4096)": lambda: mx.vjp(lambda w: big @ w, [w64], [mx.ones((4096, 64))])[1],
    "gather rows (embedding)": lambda: table[ids],
    "gather vjp = scatter-add, repeated ids": lambda: mx.vjp(lambda t: t[ids], [table], [mx.ones((16, 128, 256))])[1],
    "take_along_axis vjp": lambda: mx.vjp(lambda a: mx.take_along_axis(a, ids[:, :1] % 64, axis=-1), [logits[:16]], [mx.ones((16, 1))])[1],
    "cumsum": lambda: mx.cumsum(big, axis=0),
    "sort / argsort": lambda: (mx.sort(logits, axis=-1), mx.argsort(logits, axis=-1)),
    "argmax": lambda: mx.argmax(logits, axis=-1),
}
for name, fn in ops.items():
    try:
        repeat(name, fn)
    except Exception as e:  # noqa: BLE001 - report and go on
        print(f"{name}: error {e}")

# --- mlx-lm's Qwen3 on the tiny dense fixture ------------------------------------------------
root = Path(__file__).resolve().parents[2]
model, _ = load_model(root / "tooling" / "fixtures" / "qwen3" / "dense")
model.set_dtype(mx.float32)
tokens = mx.random.randint(0, 200, (4, 33))
mx.eval(tokens)


def loss_fn(m):
    out = m(tokens[:, :-1])
    return mx.mean(nn.losses.cross_entropy(out, tokens[:, 1:]))


grad_fn = nn.value_and_grad(model, loss_fn)
names = [n for n, _ in tree_flatten(model.trainable_parameters())]
runs = []
for _ in range(REPEATS):
    churn()
    loss, grads = grad_fn(model)
    mx.eval(loss, grads)
    runs.append((np.array(loss), {n: np.array(g) for n, g in tree_flatten(grads)}))
diff_params = {}
for loss, grads in runs[1:]:
    if not np.array_equal(loss, runs[0][0]):
        diff_params["<loss>"] = max(diff_params.get("<loss>", 0.0), float(abs(loss - runs[0][0])))
    for n in names:
        if not np.array_equal(grads[n], runs[0][1][n]):
            diff_params[n] = max(diff_params.get(n, 0.0), float(np.max(np.abs(grads[n] - runs[0][1][n]))))
if diff_params:
    print(f"mlx-lm Qwen3 dense loss+grad: DIFFERS in {len(diff_params)} of {len(names) + 1} values:")
    for n, d in sorted(diff_params.items()):
        print(f"  {n}: max {d:.3g}")
else:
    print(f"mlx-lm Qwen3 dense loss+grad: bit-identical ({len(names)} gradients, {REPEATS} runs)")

start = {n: mx.array(p) for n, p in tree_flatten(model.parameters())}
digests = []
for _ in range(3):
    model.load_weights(list(start.items()))
    opt = optim.AdamW(learning_rate=1e-2)
    for _ in range(2):
        churn()
        _, grads = grad_fn(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    digests.append(b"".join(np.array(p).tobytes() for _, p in sorted(tree_flatten(model.parameters()))))
print(f"mlx-lm Qwen3 dense, two AdamW steps, 3 runs: {'bit-identical' if len(set(digests)) == 1 else f'{len(set(digests))} different results'}")
