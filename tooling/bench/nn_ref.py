"""The Python side of tooling/bench/nn.ts: the same MLP training step (forward, backward, AdamW,
evaluation) with mlx.nn and mlx.optimizers. Prints JSON (milliseconds per step)."""
import json
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def mlp(dims):
    """Linear layers with a ReLU between each two (as nn.ts's)."""
    linears = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
    layers = [m for l in linears[:-1] for m in (l, nn.ReLU())] + linears[-1:]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm1 = nn.RMSNorm(c["dims"])
        self.attention = nn.MultiHeadAttention(c["dims"], c["heads"])
        self.norm2 = nn.RMSNorm(c["dims"])
        self.up = nn.Linear(c["dims"], c["mlpDims"])
        self.down = nn.Linear(c["mlpDims"], c["dims"])

    def __call__(self, x):
        n = self.norm1(x)
        h = x + self.attention(n, n, n, mask="causal")
        return h + self.down(nn.silu(self.up(self.norm2(h))))


def time_steps(model, loss, inputs, steps):
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3)
    loss_and_grad = nn.value_and_grad(model, loss)

    def step():
        l, grads = loss_and_grad(model, *inputs)
        opt.update(model, grads)
        mx.eval(l, model.parameters(), opt.state)

    for _ in range(10):  # MLX's buffer cache settles after a few steps
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) * 1000 / steps


def bench_block(c):
    mx.random.seed(0)
    x = mx.random.normal((c["batch"], c["length"], c["dims"]))
    target = mx.random.normal((c["batch"], c["length"], c["dims"]))
    return time_steps(Block(c), lambda m, a, b: nn.losses.mse_loss(m(a), b), [x, target], c["steps"])


def bench(cfg):
    mx.random.seed(0)
    x = mx.random.normal((cfg["batch"], cfg["dims"][0]))
    y = mx.random.randint(0, cfg["dims"][-1], (cfg["batch"],))
    return time_steps(mlp(cfg["dims"]), lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"), [x, y], cfg["steps"])


args = json.loads(sys.argv[1])
out = {f"{c['name']}_ms_per_step": round(bench(c), 4) for c in args["configs"]}
out[f"{args['block']['name']}_ms_per_step"] = round(bench_block(args["block"]), 4)
print(json.dumps(out))
