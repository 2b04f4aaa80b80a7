"""Where a decode step's evaluation time goes on a GPU, measured with Python MLX alone.

It answers questions the design of @mlxn's decode step depends on, on the machine at hand:
  * what one graph node costs to encode (async_eval) by kind: an element-wise kernel, a matmul,
    a view that launches nothing, a custom kernel of precompiled PTX (MLX's `CustomKernel` hashes
    the whole PTX on every call: the same kernel padded with PTX comments to ~21 KB, about the
    size of @mlxn's fused kernels, tells what that costs);
  * how mlx-lm's Qwen3-0.6B decode step (random bf16 weights) changes when q/k/v and gate/up are
    fused into one matmul each, and when the residual additions ride on the matmuls (addmm);
  * how both respond to MLX's CUDA-graph settings (MLX_USE_CUDA_GRAPHS, MLX_MAX_OPS_PER_BUFFER),
    which MLX reads once per process: each setting runs in its own child process.

    python3 probe_decode.py            # every setting; one JSON line per setting
    python3 probe_decode.py --child    # the current environment only
    python3 probe_decode.py --micro    # the per-node costs only (seconds)
Timings are medians in milliseconds.
"""
import json
import os
import statistics
import subprocess
import sys
import time

# timing.py is one folder up in the repository and beside this script where stage.sh copies both.
sys.path.insert(1, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

SETTINGS = [
    {},
    {"MLX_USE_CUDA_GRAPHS": "0"},
    {"MLX_MAX_OPS_PER_BUFFER": "1000"},
    {"MLX_MAX_OPS_PER_BUFFER": "40"},
]


def probe_ptx():
    """PTX of a one-line kernel (y = x + 1), compiled with the NVRTC of MLX's CUDA build; None without it."""
    import ctypes

    lib = None
    for name in ("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        return None
    src = b'extern "C" __global__ void probe_add_one(const float* x, float* y, int n) { const int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = x[i] + 1.f; }'
    prog = ctypes.c_void_p()
    lib.nvrtcCreateProgram(ctypes.byref(prog), src, b"probe.cu", 0, None, None)
    opts = [b"--gpu-architecture=compute_80"]
    if lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts)) != 0:
        return None
    size = ctypes.c_size_t()
    lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetPTX(prog, buf)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return buf.value


def child(micro_only=False):
    import mlx.core as mx
    import mlx.nn as nn
    from mlx_lm.models import qwen3
    from mlx_lm.models.cache import make_prompt_cache
    from timing import timed_decode_steps

    med = statistics.median

    def per_node(make, n=400, reps=15):
        """Encode time per node of a chain of n nodes, and the whole evaluation per node."""
        enc, tot = [], []
        for _ in range(reps):
            x = make(None)
            mx.eval(x)
            y = x
            for _ in range(n):
                y = make(y)
            t0 = time.perf_counter()
            mx.async_eval(y)
            t1 = time.perf_counter()
            mx.eval(y)
            t2 = time.perf_counter()
            enc.append((t1 - t0) * 1e6 / n)
            tot.append((t2 - t0) * 1e6 / n)
        return {"encode_us": round(med(enc), 2), "total_us": round(med(tot), 2)}

    w = mx.random.normal((1024, 1024)).astype(mx.bfloat16) * 0.01
    mx.eval(w)
    micro = {
        "add": per_node(lambda y: mx.zeros((1, 1024), mx.bfloat16) if y is None else y + 1),
        "matmul_1x1024x1024": per_node(lambda y: mx.ones((1, 1024), mx.bfloat16) if y is None else y @ w),
        "reshape_view": per_node(lambda y: mx.zeros((2, 512), mx.bfloat16) if y is None else y.reshape(512, 2) if y.shape[0] == 2 else y.reshape(2, 512)),
    }
    ptx = probe_ptx()
    if ptx is not None:
        padded = ptx + b"\n" + (b"// " + b"p" * 96 + b"\n") * 200

        def kernel(source):
            def make(y):
                if y is None:
                    return mx.zeros((1, 1024), mx.float32)
                return mx.fast.precompiled_cuda_kernel(
                    name="probe_add_one", compiled_source=source, inputs=[y], output_shapes=[y.shape],
                    output_dtypes=[y.dtype], scalars=[y.size], grid=(y.size, 1, 1), threadgroup=(256, 1, 1))[0]
            return make

        micro[f"custom_kernel_ptx_{len(ptx)}b"] = per_node(kernel(ptx))
        micro[f"custom_kernel_ptx_{len(padded)}b"] = per_node(kernel(padded))
    if micro_only:
        print(json.dumps({"env": {k: v for k, v in os.environ.items() if k.startswith("MLX_")}, "micro_per_node": micro}), flush=True)
        return

    args = qwen3.ModelArgs(
        model_type="qwen3", hidden_size=1024, num_hidden_layers=int(os.environ.get("MLXN_PROBE_LAYERS", "28")), intermediate_size=3072,
        num_attention_heads=16, rms_norm_eps=1e-6, vocab_size=int(os.environ.get("MLXN_PROBE_VOCAB", "151936")), num_key_value_heads=8,
        max_position_embeddings=40960, head_dim=128, tie_word_embeddings=True, rope_theta=1e6,
    )
    mx.random.seed(0)
    model = qwen3.Model(args)
    model.set_dtype(getattr(mx, os.environ.get("MLXN_PROBE_DTYPE", "bfloat16")))
    mx.eval(model.parameters())

    def fuse(model, addmm):
        """q/k/v and gate/up as one weight each; optionally residual additions inside addmm."""
        for layer in model.model.layers:
            a, m = layer.self_attn, layer.mlp
            a.wqkv = mx.concatenate([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).T
            m.wgu = mx.concatenate([m.gate_proj.weight, m.up_proj.weight]).T
            a.wo = a.o_proj.weight.T
            m.wd = m.down_proj.weight.T
            mx.eval(a.wqkv, m.wgu)
        hq, hk, d, inter = args.num_attention_heads, args.num_key_value_heads, args.head_dim, args.intermediate_size

        def layer_call(self, x, mask=None, cache=None):
            a, m = self.self_attn, self.mlp
            B, L, D = x.shape
            y = (self.input_layernorm(x) @ a.wqkv).reshape(B, L, hq + 2 * hk, d)
            q, k, v = y[:, :, :hq], y[:, :, hq:hq + hk], y[:, :, hq + hk:]
            q = a.rope(a.q_norm(q).transpose(0, 2, 1, 3), offset=cache.offset)
            k = a.rope(a.k_norm(k).transpose(0, 2, 1, 3), offset=cache.offset)
            k, v = cache.update_and_fetch(k, v.transpose(0, 2, 1, 3))
            o = mx.fast.scaled_dot_product_attention(q, k, v, scale=a.scale, mask=mask)
            o = o.transpose(0, 2, 1, 3).reshape(B, L, -1)
            h = mx.addmm(x, o, a.wo) if addmm else x + o @ a.wo
            gu = self.post_attention_layernorm(h) @ m.wgu
            g, u = gu[..., :inter], gu[..., inter:]
            act = nn.silu(g) * u
            return mx.addmm(h, act, m.wd) if addmm else h + act @ m.wd

        return layer_call

    stock_call = qwen3.TransformerBlock.__call__
    variants = {"stock": stock_call, "fused": fuse(model, False), "fused_addmm": fuse(model, True)}

    def step(token, cache):
        return mx.argmax(model(token, cache=cache)[:, -1, :], axis=-1)[:, None]

    def measure(batch, context=32, steps=int(os.environ.get("MLXN_PROBE_STEPS", "60"))):
        cache = make_prompt_cache(model)
        prompt = mx.random.randint(0, args.vocab_size, (batch, context))
        model(prompt, cache=cache)
        mx.eval([c.state for c in cache])
        token = prompt[:, -1:]
        next_of = lambda t: step(t, cache)
        # Each step waited for before the next is built (the encoding alone is `schedule`).
        synced, token = timed_decode_steps(next_of, token, steps - 10, warmup=10, read=lambda _, nxt: mx.eval(nxt))
        # The pipelined loop: step n+1 queued before token n is read.
        token = step(token, cache)
        mx.async_eval(token)
        read = (lambda t, _: t.item()) if batch == 1 else (lambda t, _: t.tolist())
        pipelined, token = timed_decode_steps(next_of, token, steps, warmup=10, read=read)
        token.tolist()
        return {
            "build_ms": round(synced.median_ms("build"), 3),
            "encode_ms": round(synced.median_ms("schedule"), 3),
            "sync_step_ms": round(synced.median_ms("total"), 3),
            "pipelined_step_ms": round(pipelined.median_ms("total"), 3),
        }

    out = {"env": {k: v for k, v in os.environ.items() if k.startswith("MLX_")}, "micro_per_node": micro, "decode": {}}
    ref_logits = None
    for name, call in variants.items():
        qwen3.TransformerBlock.__call__ = call
        # Same numbers as the stock model (bf16: a few ulps apart).
        c = make_prompt_cache(model)
        logits = model(mx.array([[1, 2, 3, 4]]), cache=c)
        if ref_logits is None:
            ref_logits = logits
        diff = mx.abs(logits.astype(mx.float32) - ref_logits.astype(mx.float32)).max().item()
        for b in (1, 64):
            for _ in range(2):  # warm-up pass then the measured one
                m = measure(b)
            out["decode"][f"{name}_b{b}"] = dict(m, max_logit_diff_vs_stock=round(diff, 4))
    qwen3.TransformerBlock.__call__ = stock_call
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if "--child" in sys.argv or "--micro" in sys.argv:
        child(micro_only="--micro" in sys.argv)
    else:
        for s in SETTINGS:
            env = dict(os.environ, **s)
            r = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True)
            print(r.stdout.strip() or json.dumps({"env": s, "error": r.stderr[-2000:]}), flush=True)
