"""Golden traces for @mlxn/cache, produced by mlx-lm's models/cache.py on fixed inputs.

    node tooling/reference/cache-env.mjs golden    (creates the reference venv, then runs this)
    node tooling/reference/cache-env.mjs check     (a file written by @mlxn/cache loads in mlx-lm)

`golden` writes into packages/cache/test/fixtures/:
  cache_golden.json         each scenario: the ops applied and, after each, what mlx-lm returned
  mlx_lm_prompt_cache.safetensors   a prompt-cache file written by mlx-lm's save_prompt_cache
  mlx_lm_empty_cache.safetensors    the same for empty caches and no metadata
`check FILE` loads FILE with mlx-lm's load_prompt_cache and compares it with the inputs
@mlxn/cache's writer (tooling/reference/cache_write_mlxn.ts) used; prints "ok" or raises.

Inputs are made from integers, identically in Python and TypeScript:
value(i) = ((i * 7919 + seed * 104729) % 1000) / 1000 - 0.5 for row-major index i, as float32.
"""
import json
import sys

import mlx.core as mx
import numpy as np

from mlx_lm.models import cache as C


def inputs(shape, seed):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.int64)
    v = ((i * 7919 + seed * 104729) % 1000) / 1000.0 - 0.5
    return mx.array(v.astype(np.float32).reshape(shape))


def enc(a):
    mx.eval(a)
    return {"dtype": str(a.dtype).replace("mlx.core.", ""), "shape": list(a.shape),
            "data": np.array(a.astype(mx.float32) if a.dtype in (mx.float16, mx.bfloat16) else a).reshape(-1).tolist()}


def kv_trace(cache, ops, B=1, H=2, D=4):
    """ops: ("update", L) | ("trim", n). Records the fetched keys/values and the counters."""
    steps = []
    seed = 0
    for op in ops:
        if op[0] == "update":
            seed += 1
            k = inputs((B, H, op[1], D), seed)
            v = inputs((B, H, op[1], D), seed + 500)
            ko, vo = cache.update_and_fetch(k, v)
            rec = {"op": "update", "L": op[1], "seed": seed, "keys": enc(ko), "values": enc(vo)}
        else:
            rec = {"op": "trim", "n": op[1], "trimmed": cache.trim(op[1])}
        rec["offset"] = cache.offset if isinstance(cache.offset, int) else enc(cache.offset)
        if hasattr(cache, "_idx"):
            rec["idx"] = cache._idx
        rec["trimmable"] = cache.is_trimmable()
        if isinstance(cache, C.RotatingKVCache):
            rec["mask2"] = mask_enc(cache.make_mask(2))
        steps.append(rec)
    return steps


def mask_enc(m):
    if m is None or isinstance(m, str):
        return m
    return enc(m)


scenarios = []
U = lambda n: ("update", n)  # noqa: E731
T = lambda n: ("trim", n)  # noqa: E731

scenarios.append({"cache": "KVCache", "options": {}, "B": 1,
                  "steps": kv_trace(C.KVCache(), [U(3), U(1), U(1), T(2), U(4), U(1)])})
for max_size, keep, ops, name in [
    (6, 2, [U(1)] * 11, "single"),
    (6, 2, [U(4), U(1), U(1), U(1), U(5), U(1), U(1), U(3), U(1)], "mixed"),
    (5, 0, [U(7), U(1), U(1), U(2), U(1)], "prefill-over"),
    (8, 4, [U(3), T(1), U(1), U(2), U(1), U(1), U(1), U(1), U(1)], "trim"),
]:
    scenarios.append({"cache": "RotatingKVCache", "name": name, "options": {"maxSize": max_size, "keep": keep}, "B": 1,
                      "steps": kv_trace(C.RotatingKVCache(max_size=max_size, keep=keep), ops)})

# Quantized: fetch returns (wq, scales, biases) triples.
qsteps = []
qc = C.QuantizedKVCache(group_size=32, bits=4)
for seed, L in [(1, 3), (2, 1), (3, 2)]:
    k = inputs((1, 2, L, 64), seed)
    v = inputs((1, 2, L, 64), seed + 500)
    ko, vo = qc.update_and_fetch(k, v)
    qsteps.append({"op": "update", "L": L, "seed": seed, "keys": [enc(x) for x in ko], "values": [enc(x) for x in vo],
                   "offset": qc.offset})
qsteps.append({"op": "trim", "n": 2, "trimmed": qc.trim(2), "offset": qc.offset})
scenarios.append({"cache": "QuantizedKVCache", "options": {"groupSize": 32, "bits": 4}, "D": 64, "steps": qsteps})

# Batch: left padding, updates, mask, filter, extend.
bsteps = []
bc = C.BatchKVCache([1, 3, 0])
def bupdate(c, L, seed, B):
    k = inputs((B, 2, L, 4), seed)
    v = inputs((B, 2, L, 4), seed + 500)
    ko, vo = c.update_and_fetch(k, v)
    return {"op": "update", "L": L, "seed": seed, "B": B, "keys": enc(ko), "values": enc(vo)}
def bstate(c, rec, n_mask=1):
    rec["offset"] = enc(c.offset)
    rec["leftPadding"] = enc(c.left_padding)
    rec["idx"] = c._idx
    rec["mask"] = enc(c.make_mask(n_mask, return_array=True))
    return rec
bsteps.append(bstate(bc, bupdate(bc, 4, 1, 3), 2))
bsteps.append(bstate(bc, bupdate(bc, 1, 2, 3)))
bc.filter(mx.array([0, 1]))
bsteps.append(bstate(bc, {"op": "filter", "rows": [0, 1]}))
other = C.BatchKVCache([2, 0])
bsteps.append({**bupdate(other, 3, 3, 2), "op": "other-update"})
bc.extend(other)
bsteps.append(bstate(bc, {"op": "extend"}))
bsteps.append(bstate(bc, bupdate(bc, 1, 4, 4)))
bsteps.append(bstate(bc, {"op": "trim", "n": 1, "trimmed": bc.trim(1)}))
bc.filter(mx.array([3, 1]))
bsteps.append(bstate(bc, {"op": "filter", "rows": [3, 1]}))
scenarios.append({"cache": "BatchKVCache", "options": {"leftPadding": [1, 3, 0]}, "steps": bsteps})

# right-padded prompts: prepare(right_padding) before the prefill, finalize() after it.
rp = C.BatchKVCache([1, 0, 0])
rp.prepare(right_padding=[0, 2, 1])
rk, rv = rp.update_and_fetch(inputs((3, 2, 4, 4), 70), inputs((3, 2, 4, 4), 570))
rp.finalize()
fk, fv = rp.keys_and_values()
scenarios.append({"cache": "BatchKVCache.finalize", "leftPadding": [1, 0, 0], "rightPadding": [0, 2, 1],
                  "keys": enc(fk), "values": enc(fv), "offset": enc(rp.offset), "leftPaddingAfter": enc(rp.left_padding),
                  "idx": rp._idx, "mask": enc(rp.make_mask(1, return_array=True))})

# merge single-sequence KVCaches into a batch (an empty one included), then extract a row.
singles = []
for seed, L in [(60, 3), (61, 1), (62, 0), (63, 2)]:
    c = C.KVCache()
    if L:
        c.update_and_fetch(inputs((1, 2, L, 4), seed), inputs((1, 2, L, 4), seed + 500))
    singles.append(c)
merged = C.BatchKVCache.merge(singles)
mk, mv = merged.keys_and_values()
extracted = merged.extract(3)
scenarios.append({"cache": "BatchKVCache.merge", "singles": [[60, 3], [61, 1], [62, 0], [63, 2]],
                  "keys": enc(mk), "values": enc(mv), "offset": enc(merged.offset), "leftPadding": enc(merged.left_padding),
                  "idx": merged._idx, "extract3": {"keys": enc(extracted.keys), "offset": extracted.offset}})


def write_prompt_cache(path):
    kv = C.KVCache()
    kv.update_and_fetch(inputs((1, 2, 5, 4), 1).astype(mx.float16), inputs((1, 2, 5, 4), 2).astype(mx.float16))
    rot = C.RotatingKVCache(max_size=4, keep=1)
    for s in range(6):
        rot.update_and_fetch(inputs((1, 2, 1, 4), 10 + s), inputs((1, 2, 1, 4), 20 + s))
    q = C.QuantizedKVCache(group_size=32, bits=8)
    q.update_and_fetch(inputs((1, 1, 3, 32), 30), inputs((1, 1, 3, 32), 31))
    b = C.BatchKVCache([2, 0])
    b.update_and_fetch(inputs((2, 1, 3, 4), 40), inputs((2, 1, 3, 4), 41))
    C.save_prompt_cache(path, [kv, rot, q, b], {"model": "tiny", "tokens": "5"})
    fetched = {"kv": kv.state[0][..., :kv.offset, :], "rot": rot.keys, "rotIdx": rot._idx}
    return fetched


def main():
    if sys.argv[1] == "golden":
        out_dir = sys.argv[2]
        with open(f"{out_dir}/cache_golden.json", "w") as f:
            json.dump({"mlx_lm_cache": "mlx_lm.models.cache", "scenarios": scenarios}, f, separators=(",", ":"))
        write_prompt_cache(f"{out_dir}/mlx_lm_prompt_cache.safetensors")
        # Empty caches (state entries None) and no user metadata.
        C.save_prompt_cache(f"{out_dir}/mlx_lm_empty_cache.safetensors", [C.KVCache(), C.QuantizedKVCache(group_size=64, bits=4)])
        # mlx-lm reads its own file back (sanity for the fixture).
        caches, meta = C.load_prompt_cache(f"{out_dir}/mlx_lm_prompt_cache.safetensors", return_metadata=True)
        assert [type(c).__name__ for c in caches] == ["KVCache", "RotatingKVCache", "QuantizedKVCache", "BatchKVCache"]
        assert meta == {"model": "tiny", "tokens": "5"}, meta
        print("wrote", out_dir)
    elif sys.argv[1] == "check":
        check(sys.argv[2])


def check(path):
    """The file cache_write_mlxn.ts writes: KVCache (7 tokens), RotatingKVCache(maxSize 4, keep 1)
    after 6 single steps, QuantizedKVCache(32, 4) with 3 tokens, BatchKVCache([1, 0]) with 2 steps."""
    caches, meta = C.load_prompt_cache(path, return_metadata=True)
    assert [type(c).__name__ for c in caches] == ["KVCache", "RotatingKVCache", "QuantizedKVCache", "BatchKVCache"], caches
    assert meta == {"writer": "@mlxn/cache"}, meta
    kv, rot, q, b = caches
    assert kv.offset == 7
    k, _ = kv.update_and_fetch(inputs((1, 2, 1, 4), 2), inputs((1, 2, 1, 4), 3))
    assert np.array_equal(np.array(k[..., :7, :]), np.array(inputs((1, 2, 7, 4), 1)))
    ref = C.RotatingKVCache(max_size=4, keep=1)
    for s in range(6):
        ref.update_and_fetch(inputs((1, 2, 1, 4), 10 + s), inputs((1, 2, 1, 4), 20 + s))
    assert (rot.offset, rot._idx, rot.keep, rot.max_size) == (ref.offset, ref._idx, ref.keep, ref.max_size)
    a = rot.update_and_fetch(inputs((1, 2, 1, 4), 99), inputs((1, 2, 1, 4), 98))[0]
    e = ref.update_and_fetch(inputs((1, 2, 1, 4), 99), inputs((1, 2, 1, 4), 98))[0]
    assert np.array_equal(np.array(a), np.array(e))
    assert (q.offset, q.group_size, q.bits) == (3, 32, 4)
    qk = q.keys_and_values()[0]
    rk = mx.quantize(inputs((1, 1, 3, 32), 30), group_size=32, bits=4)
    assert np.array_equal(np.array(qk[0]), np.array(rk[0]))
    assert np.allclose(np.array(qk[1]), np.array(rk[1]), atol=1e-6)
    assert b._idx == 2 and b.offset.tolist() == [1, 2] and b.left_padding.tolist() == [1, 0]
    mask = b.make_mask(1, return_array=True)
    assert mask.tolist() == [[[[False, True, True]]], [[[True, True, True]]]], mask.tolist()
    print("ok: mlx-lm loaded the @mlxn/cache file", path)


if __name__ == "__main__":
    main()
