"""The Python MLX side of tooling/bench/core-ops.ts: the same workloads, printed as JSON.
Run by the TypeScript benchmark in the same process tree so both use the same machine state."""
import json
import sys

import mlx.core as mx

from timing import best_of

cfg = json.loads(sys.argv[1])


def dispatch():
    a = mx.ones((4,))
    out = a
    for _ in range(cfg["dispatch_ops"]):
        out = out + a
    return out


def matmul():
    mx.eval(mx.matmul(m1, m2))


def chain(x):
    y = x
    for _ in range(cfg["chain_len"]):
        y = mx.tanh(y * 1.01 + 0.1) - 0.05
    return y


mx.random.seed(0)
m1 = mx.random.normal((cfg["matmul_n"], cfg["matmul_n"]))
m2 = mx.random.normal((cfg["matmul_n"], cfg["matmul_n"]))
mx.eval(m1, m2)
xs = mx.random.normal((cfg["chain_n"],))
mx.eval(xs)
compiled_chain = mx.compile(chain)
mx.eval(compiled_chain(xs))

dispatch()
res = {
    "dispatch_ns_per_op": best_of(dispatch, cfg["repeats"]) / cfg["dispatch_ops"] * 1e9,
    "matmul_ms": best_of(matmul, cfg["repeats"]) * 1e3,
    "chain_ms": best_of(lambda: mx.eval(chain(xs)), cfg["repeats"]) * 1e3,
    "compiled_chain_ms": best_of(lambda: mx.eval(compiled_chain(xs)), cfg["repeats"]) * 1e3,
    "mlx_version": mx.__version__,
}
print(json.dumps(res))
