#!/usr/bin/env python3
"""Golden values for @mlxn/core's parity tests, computed with Python MLX (mlx.core).

Writes small JSON fixtures into packages/core/test/fixtures/. Each fixture holds the fixed
inputs (`inputs`) and, per named case, the result MLX gives (`cases`). The vitest files
packages/core/test/parity-*.test.ts rebuild the same inputs, run the same op through
@mlxn/core (one JS function per case name) and compare.

Array encoding: {"dtype": "float32", "shape": [2, 3], "data": [...]} with the data flattened
in row-major order. Floats are the shortest decimal that round-trips the stored value (float16
and bfloat16 values are written as float32), NaN/Inf as the strings "nan", "inf", "-inf";
64-bit integers beyond 2**53 as decimal strings; complex64 as [re, im] pairs; bools as JSON
booleans. An op that raises is recorded as {"error": "message"}; several outputs as
{"list": [...]}.

Usage (see README.md): python tooling/reference/core_golden.py
"""
import json
import math
import os
import sys

import numpy as np
import mlx.core as mx

from golden_json import json_float

EXPECTED_MLX = "0.32.4"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "..", "..", "packages", "core", "test", "fixtures")

DTYPE_NAMES = [
    "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
    "float16", "bfloat16", "float32", "float64", "complex64",
]
DT = {n: getattr(mx, "bool_" if n == "bool" else n) for n in DTYPE_NAMES}


def dname(d):
    return str(d).split(".")[-1]


# ---- encoding ---------------------------------------------------------------------------

def enc_f32(x):
    return json_float(x)


def enc_f64(x):
    return json_float(x, float32=False)


def enc_int(v):
    v = int(v)
    return v if abs(v) <= 2**53 else str(v)


def enc(a):
    if not isinstance(a, mx.array):
        a = mx.array(a)
    d = dname(a.dtype)
    shape = list(a.shape)
    if d == "complex64":
        flat = np.array(a).reshape(-1)
        data = [[enc_f32(z.real), enc_f32(z.imag)] for z in flat]
    elif d in ("float16", "bfloat16", "float32"):
        data = [enc_f32(v) for v in np.array(a.astype(mx.float32)).reshape(-1)]
    elif d == "float64":
        data = [enc_f64(v) for v in np.array(a, copy=True).reshape(-1)]
    elif d == "bool":
        data = [bool(v) for v in np.array(a).reshape(-1)]
    else:
        data = [enc_int(v) for v in np.array(a).reshape(-1)]
    return {"dtype": d, "shape": shape, "data": data}


def enc_out(out):
    if isinstance(out, (list, tuple)):
        return {"list": [enc_out(o) for o in out]}
    return enc(out)


def run(fn):
    try:
        out = fn()
        mx.eval(out)
        return enc_out(out)
    except Exception as e:  # recorded: the JS side must throw too
        return {"error": str(e)}


def run_small(fn, shape=True):
    """Compact form for the promotion tables: [dtype, shape, data] ([dtype, data] when the
    shape is that of the input), or null when MLX raises."""
    r = run(fn)
    if "error" in r:
        return None
    return [r["dtype"], r["shape"], r["data"]] if shape else [r["dtype"], r["data"]]


class Fixture:
    def __init__(self, name):
        self.name = name
        self.inputs = {}
        self.cases = {}

    def inp(self, name, a):
        """Registers a fixed input (an mx.array) and returns it."""
        assert name not in self.inputs, name
        self.inputs[name] = enc(a)
        return a

    def case(self, name, fn):
        assert name not in self.cases, f"duplicate case {name}"
        self.cases[name] = run(fn)

    def write(self, extra=None):
        body = {"mlx": mx.__version__, "inputs": self.inputs, "cases": self.cases}
        if extra:
            body.update(extra)
        path = os.path.join(OUT_DIR, f"{self.name}.json")
        with open(path, "w") as f:
            json.dump(body, f, separators=(",", ":"), allow_nan=False)
            f.write("\n")
        return path, os.path.getsize(path)


rng = np.random.default_rng(20240601)


def rnd(shape, lo=-2.0, hi=2.0, dec=3):
    return mx.array(np.round(rng.uniform(lo, hi, shape), dec).astype(np.float32))


# ---- 1. dtype promotion ----------------------------------------------------------------

def one(d, v):
    return mx.array([v], dtype=DT[d])


def promotion():
    fx = Fixture("promotion")
    binary_ops = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
                  "maximum", "equal", "logical_and", "bitwise_and", "left_shift", "arctan2",
                  "logaddexp"]
    binary = {}
    for op in binary_ops:
        f = getattr(mx, op)
        table = []
        for da in DTYPE_NAMES:
            row = []
            for db in DTYPE_NAMES:
                a = one(da, 3 if da != "bool" else True)
                b = one(db, 2 if db != "bool" else True)
                row.append(run_small(lambda: f(a, b), False))
            table.append(row)
        binary[op] = table

    # Weakly typed Python scalars next to an array of each dtype, on both sides.
    scalars = [1, 1.5, True, -1, 300, 2**40, -2.5]
    weak_ops = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power",
                "maximum", "minimum", "less", "equal"]
    # weak[op][dtype][i] = [array op scalars[i], scalars[i] op array]
    weak = {}
    for op in weak_ops:
        f = getattr(mx, op)
        weak[op] = {}
        for d in DTYPE_NAMES:
            a = one(d, 3 if d != "bool" else True)
            weak[op][d] = [[run_small(lambda: f(a, s), False), run_small(lambda: f(s, a), False)] for s in scalars]

    # where/clip take weak scalars too: [where(c, a, s), where(c, s, a)], [clip(a, s, None), clip(a, None, s)].
    weak["where"], weak["clip"] = {}, {}
    for d in DTYPE_NAMES:
        a = mx.array([3, 1], dtype=DT[d]) if d != "bool" else mx.array([True, False])
        c = mx.array([True, False])
        weak["where"][d] = [[run_small(lambda: mx.where(c, a, s), False), run_small(lambda: mx.where(c, s, a), False)]
                             for s in scalars]
        weak["clip"][d] = [[run_small(lambda: mx.clip(a, s, None), False), run_small(lambda: mx.clip(a, None, s), False)]
                            for s in scalars]

    # Result dtypes (and values) of unary ops and reductions for every input dtype.
    unary_ops = {
        "negative": mx.negative, "abs": mx.abs, "sign": mx.sign, "sqrt": mx.sqrt, "exp": mx.exp,
        "log": mx.log, "sin": mx.sin, "floor": mx.floor, "ceil": mx.ceil, "round": mx.round,
        "square": mx.square, "reciprocal": mx.reciprocal, "sigmoid": mx.sigmoid, "erf": mx.erf,
        "logical_not": mx.logical_not, "bitwise_invert": mx.bitwise_invert, "isnan": mx.isnan,
        "sum": mx.sum, "prod": mx.prod, "mean": mx.mean, "max": mx.max, "argmax": mx.argmax,
        "all": mx.all, "any": mx.any, "var": mx.var, "logsumexp": mx.logsumexp,
        "cumsum": mx.cumsum, "cumprod": mx.cumprod, "sort": mx.sort, "softmax": mx.softmax,
        "median": mx.median, "real": mx.real, "imag": mx.imag,
    }
    unary = {}
    for name, f in unary_ops.items():
        unary[name] = {}
        for d in DTYPE_NAMES:
            a = mx.array([3, 1], dtype=DT[d]) if d != "bool" else mx.array([True, False])
            unary[name][d] = run_small(lambda: f(a))

    # astype between every pair of dtypes, on values that every conversion defines
    # (out-of-range float -> int conversions are undefined behaviour in C++, so left out).
    src = {
        "bool": mx.array([True, False, True]),
        "float_small": mx.array([0.0, 0.5, 1.5, 2.5, 3.7, 100.25, 127.9], dtype=mx.float32),
        "float_signed": mx.array([-2.7, -1.5, -0.5, -0.0, 0.5, 1.5, 2.5, -100.75], dtype=mx.float32),
        "float_special": mx.array([float("nan"), float("inf"), float("-inf"), 70000.5, 1.00390625,
                                   65519.0, 1e-8, -3.3e38], dtype=mx.float32),
        "int": mx.array([-300, -129, -1, 0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1],
                        dtype=mx.int32),
        "int64_big": mx.array([2**62 + 1, -(2**62) - 3, 2**53 + 1, -1], dtype=mx.int64),
        "uint64_big": mx.array(np.array([2**64 - 1, 2**63, 2**32 + 7, 5], dtype=np.uint64)),
    }
    targets = {
        "bool": DTYPE_NAMES,
        "float_small": DTYPE_NAMES,
        "float_signed": ["bool", "int8", "int16", "int32", "int64", "float16", "bfloat16",
                         "float32", "float64", "complex64"],
        "float_special": ["bool", "float16", "bfloat16", "float32", "float64", "complex64"],
        "int": DTYPE_NAMES,
        "int64_big": DTYPE_NAMES,
        "uint64_big": DTYPE_NAMES,
    }
    astype = {}
    for k, a in src.items():
        fx.inp("astype_" + k, a)
        astype[k] = {d: run_small(lambda: a.astype(DT[d]), False) for d in targets[k]}
    # Every dtype (small values) to every dtype.
    base = mx.array([0, 1, 2, 7], dtype=mx.int32)
    for d in DTYPE_NAMES:
        a = base.astype(DT[d])
        astype["from_" + d] = {t: run_small(lambda: a.astype(DT[t]), False) for t in DTYPE_NAMES}

    # dtype inference from Python lists (JS nested lists of the same values).
    infer_cases = [[1, 2, 3], [1.5, 2], [True, False], [True, 2], [True, 2.5], [1, 2**40],
                   [2**31], [-(2**31)], [2**31 - 1], [[1], [2]], 7, 2.5, True, 2**40, [[1.5, -2]]]
    infer = [[v, run_small(lambda: mx.array(v))] for v in infer_cases]
    return fx, {"scalars": scalars, "binary": binary, "weak": weak, "unary": unary,
                "astype": astype, "infer": infer}


# ---- 2. elementwise ops, reductions, scans, sorting ------------------------------------

def ops():
    fx = Fixture("ops")
    I = fx.inp
    X = I("X", rnd([2, 3, 4]))
    P = I("P", rnd([2, 3, 4], 0.05, 4.0))
    U = I("U", rnd([3, 4], -0.95, 0.95))
    G = I("G", rnd([3, 4], 1.05, 5.0))
    Y = I("Y", rnd([3, 4]))
    row = I("row", rnd([4]))
    col = I("col", rnd([3, 1], 0.5, 2.0))
    SP = I("SP", mx.array([float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1.0, -1.0, 0.5, 1e-7,
                           -88.5, 89.0], dtype=mx.float32))
    R = I("R", mx.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 1.235, 1.245, -1.2345, 123.456, 0.049,
                         -0.051, 1e6 + 0.5], dtype=mx.float32))
    Ia = I("Ia", mx.array([[-7, -3, -1, 0], [1, 3, 7, 8], [-8, 5, -5, 9]], dtype=mx.int32))
    Ib = I("Ib", mx.array([[2, -2, 3, -3], [2, -2, 3, -3], [4, 4, -4, -4]], dtype=mx.int32))
    Fa = I("Fa", mx.array([-7.5, -3.0, -1.0, 0.0, 1.0, 3.0, 7.5, 8.25, -0.0, 5.5], dtype=mx.float32))
    Fb = I("Fb", mx.array([2.0, -2.0, 3.0, -3.0, 2.5, -2.5, 0.75, -0.75, 3.0, 1.0], dtype=mx.float32))
    Na = I("Na", mx.array([1.0, float("nan"), 3.0, float("nan"), -1.0, float("inf")], dtype=mx.float32))
    Nb = I("Nb", mx.array([float("nan"), 2.0, float("nan"), float("nan"), -2.0, 0.0], dtype=mx.float32))
    Ba = I("Ba", mx.array([[True, False, True, False], [True, True, False, False]]))
    Bb = I("Bb", mx.array([[True, True, False, False], [False, True, False, True]]))
    Ua = I("Ua", mx.array([0, 1, 7, 128, 200, 255, 85, 170], dtype=mx.uint8))
    Ub = I("Ub", mx.array([255, 3, 2, 127, 56, 15, 170, 85], dtype=mx.uint8))
    Sh = I("Sh", mx.array([0, 1, 2, 3, 4, 7, 1, 5], dtype=mx.uint8))
    Ji = I("Ji", mx.array([-1024, -7, -1, 0, 1, 7, 1000, 2**30], dtype=mx.int32))
    Js = I("Js", mx.array([1, 2, 0, 3, 31, 4, 3, 1], dtype=mx.int32))
    Pb = I("Pb", mx.array([[2, 3, 0, 1], [5, 1, 2, 3], [0, 1, 4, 2]], dtype=mx.int32))
    Bi = I("Bi", mx.array([[[True, False, True], [True, True, True]],
                           [[False, False, False], [True, False, False]]]))
    T = I("T", mx.array([[3.0, 1.0, 2.0, 5.0, 4.0, 0.5], [-1.0, -3.0, 7.0, 2.0, 0.0, 6.5]], dtype=mx.float32))
    Q = I("Q", rnd([3, 7]))
    C = fx.case

    # unary math
    unary = ["exp", "expm1", "sin", "cos", "tan", "arctan", "sinh", "cosh", "tanh", "arcsinh",
             "erf", "sigmoid", "floor", "ceil", "abs", "sign", "square", "negative", "reciprocal",
             "degrees", "radians", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
             "logical_not"]
    for op in unary:
        f = getattr(mx, op)
        C(f"{op}_X", lambda f=f: f(X))
        C(f"{op}_SP", lambda f=f: f(SP))
    for op in ["log", "log2", "log10", "log1p", "sqrt", "rsqrt"]:
        f = getattr(mx, op)
        C(f"{op}_P", lambda f=f: f(P))
        C(f"{op}_SP", lambda f=f: f(SP))
    for op in ["arcsin", "arccos", "arctanh", "erfinv"]:
        f = getattr(mx, op)
        C(f"{op}_U", lambda f=f: f(U))
        C(f"{op}_SP", lambda f=f: f(SP))
    C("arccosh_G", lambda: mx.arccosh(G))
    for dec in [0, 1, 2, -1]:
        C(f"round_{dec}", lambda dec=dec: mx.round(R, dec))
    C("round_int", lambda: mx.round(Ia, -1))
    C("abs_int", lambda: mx.abs(Ia))
    C("sign_int", lambda: mx.sign(Ia))
    C("square_int", lambda: mx.square(Ia))
    C("negative_int", lambda: mx.negative(Ia))
    C("exp_f16", lambda: mx.exp(X.astype(mx.float16)))
    C("sigmoid_bf16", lambda: mx.sigmoid(X.astype(mx.bfloat16)))
    C("nan_to_num", lambda: mx.nan_to_num(SP, nan=-1.0, posinf=100.0))
    C("stop_gradient", lambda: mx.stop_gradient(X))
    C("isclose", lambda: mx.isclose(Na, mx.array([1.0 + 1e-6, float("nan"), 3.1, 0.0, -1.0, float("inf")])))
    C("isclose_equal_nan", lambda: mx.isclose(Na, Na, rtol=0.0, atol=0.5, equal_nan=True))
    C("allclose", lambda: mx.allclose(X, X + 1e-7))
    C("allclose_false", lambda: mx.allclose(X, X + 1e-3, atol=1e-4))
    C("array_equal", lambda: mx.array_equal(Ia, Ia.astype(mx.float32)))
    C("array_equal_nan", lambda: mx.array_equal(Na, Na, equal_nan=True))
    C("view_f32_i32", lambda: mx.view(Fa, mx.int32))
    C("view_i32_u8", lambda: mx.view(Ji, mx.uint8))
    C("view_u8_i16", lambda: mx.view(Ua, mx.int16))

    # float64 and int64 keep full precision for Python scalars
    D = I("D", mx.array([1.0, -2.5, 1e-300, 3.141592653589793], dtype=mx.float64))
    L = I("L", mx.array([1, -2, 2**40, -(2**62)], dtype=mx.int64))
    C("f64_add_scalar", lambda: D + 0.1)
    C("f64_mul_scalar_first", lambda: 1e-10 * D)
    C("f64_where_scalar", lambda: mx.where(D > 0, D, 0.1))
    C("f64_clip_scalar", lambda: mx.clip(D, 0.1, 3.0000000001))
    C("f64_ops", lambda: [mx.exp(D[:2]), mx.sqrt(mx.abs(D)), mx.sum(D), D / 3])
    C("i64_add_big", lambda: L + 2**60)
    C("i64_sub_scalar_first", lambda: 2**50 - L)
    C("i64_ops", lambda: [L * 3, L // 7, L % 7, mx.sum(L), mx.max(L), mx.cumsum(L), L >> 3])

    # complex
    Cx = I("Cx", mx.array([1 + 2j, -0.5 + 0j, 0 - 3j, 2.5 + 1.5j], dtype=mx.complex64))
    Cy = I("Cy", mx.array([2 - 1j, 1 + 1j, -1 + 0.5j, 0.25 + 0j], dtype=mx.complex64))
    C("complex_mul", lambda: Cx * Cy)
    C("complex_div", lambda: Cx / Cy)
    C("complex_add_scalar", lambda: Cx + 1.5)
    C("complex_abs", lambda: mx.abs(Cx))
    C("complex_conj", lambda: mx.conjugate(Cx))
    C("complex_real_imag", lambda: [mx.real(Cx), mx.imag(Cx)])
    C("complex_exp", lambda: mx.exp(Cx))
    C("complex_sum", lambda: mx.sum(Cx))
    C("complex_from_float", lambda: X[0].astype(mx.complex64) * Cx)

    # binary
    for op in ["add", "subtract", "multiply", "divide", "maximum", "minimum", "arctan2", "logaddexp",
               "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]:
        f = getattr(mx, op)
        C(f"{op}_XY", lambda f=f: f(X, Y))
        C(f"{op}_Xrow", lambda f=f: f(X, row))
        C(f"{op}_colrow", lambda f=f: f(col, row))
    for op in ["add", "subtract", "multiply", "divide", "floor_divide", "remainder"]:
        f = getattr(mx, op)
        C(f"{op}_int", lambda f=f: f(Ia, Ib))
        C(f"{op}_float", lambda f=f: f(Fa, Fb))
    C("divmod_int", lambda: mx.divmod(Ia, Ib))
    C("divmod_float", lambda: mx.divmod(Fa, Fb))
    C("floor_divide_scalar", lambda: mx.floor_divide(Ia, -3))
    C("remainder_scalar", lambda: mx.remainder(Ia, -3))
    C("remainder_float_scalar", lambda: mx.remainder(Fa, 2.5))
    C("power_float", lambda: mx.power(P, X))
    C("power_int", lambda: mx.power(Ia, Pb))
    C("power_scalar", lambda: mx.power(X, 2))
    C("power_scalar_half", lambda: mx.power(P, 0.5))
    C("rpower_scalar", lambda: mx.power(2, Pb))
    for op in ["maximum", "minimum", "logaddexp", "equal", "not_equal", "less", "greater_equal", "add"]:
        f = getattr(mx, op)
        C(f"{op}_nan", lambda f=f: f(Na, Nb))
    C("logaddexp_inf", lambda: mx.logaddexp(mx.array([float("-inf"), float("-inf"), 1.0]),
                                            mx.array([float("-inf"), 2.0, float("inf")])))
    for op in ["logical_and", "logical_or"]:
        f = getattr(mx, op)
        C(f"{op}_bool", lambda f=f: f(Ba, Bb))
    C("logical_and_float", lambda: mx.logical_and(X > 0, Y < 0.5))
    for op in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
        f = getattr(mx, op)
        C(f"{op}_u8", lambda f=f: f(Ua, Ub))
        C(f"{op}_i32", lambda f=f: f(Ji, Js))
        C(f"{op}_bool", lambda f=f: f(Ba, Bb))
    C("bitwise_invert_u8", lambda: mx.bitwise_invert(Ua))
    C("bitwise_invert_i32", lambda: mx.bitwise_invert(Ji))
    C("left_shift_u8", lambda: mx.left_shift(Ua, Sh))
    C("right_shift_u8", lambda: mx.right_shift(Ua, Sh))
    C("left_shift_i32", lambda: mx.left_shift(Ji, Js))
    C("right_shift_i32", lambda: mx.right_shift(Ji, Js))
    C("left_shift_scalar", lambda: mx.left_shift(Ji, 2))
    C("right_shift_scalar", lambda: mx.right_shift(Ua, 1))
    C("add_scalar_int", lambda: mx.add(Ia, 5))
    C("add_scalar_float", lambda: mx.add(Ia, 0.25))
    C("subtract_scalar_first", lambda: mx.subtract(10, Ia))
    C("divide_scalar_first", lambda: mx.divide(1.5, Fb))
    C("multiply_f16_scalar", lambda: mx.multiply(X.astype(mx.float16), 1.5))
    C("add_int8_f32", lambda: mx.add(Ia.astype(mx.int8), X[0, :, :]))
    C("add_u8_i8", lambda: mx.add(Ua, Ub.astype(mx.int8)))
    C("add_bf16_f16", lambda: mx.add(X.astype(mx.bfloat16), X.astype(mx.float16)))

    # where / clip / softmax
    C("where", lambda: mx.where(X > 0, X, Y))
    C("where_scalar", lambda: mx.where(Ba, 1.5, -2))
    C("where_int_scalar", lambda: mx.where(Ia > 0, Ia, 0.5))
    C("clip_scalars", lambda: mx.clip(X, -0.5, 1.25))
    C("clip_min_only", lambda: mx.clip(X, 0, None))
    C("clip_max_only", lambda: mx.clip(Ia, None, 2))
    C("clip_arrays", lambda: mx.clip(X, row - 1, row + 1))
    C("softmax_last", lambda: mx.softmax(X, axis=-1))
    C("softmax_all", lambda: mx.softmax(X))
    C("softmax_axes", lambda: mx.softmax(X, axis=[0, 2]))
    C("softmax_precise_f16", lambda: mx.softmax(X.astype(mx.float16), axis=-1, precise=True))
    C("softmax_inf", lambda: mx.softmax(mx.array([[float("-inf"), 0.0, 1.0], [2.0, float("-inf"), 2.0]])))
    C("log_softmax_ref", lambda: X - mx.logsumexp(X, axis=-1, keepdims=True))

    # reductions
    axes_variants = {"all": None, "a1": 1, "a02": (0, 2), "aneg1": -1}
    for op in ["sum", "mean", "prod", "max", "min", "logsumexp"]:
        f = getattr(mx, op)
        for an, ax in axes_variants.items():
            C(f"{op}_{an}", lambda f=f, ax=ax: f(X, axis=ax))
        C(f"{op}_a1_keep", lambda f=f: f(X, axis=1, keepdims=True))
    for op in ["var", "std"]:
        f = getattr(mx, op)
        C(f"{op}_all", lambda f=f: f(X))
        C(f"{op}_a2", lambda f=f: f(X, axis=2))
        C(f"{op}_a2_ddof1", lambda f=f: f(X, axis=2, ddof=1))
        C(f"{op}_a01_keep_ddof1", lambda f=f: f(X, axis=(0, 1), keepdims=True, ddof=1))
    C("sum_int", lambda: mx.sum(Ia, axis=0))
    C("sum_bool", lambda: mx.sum(Ba))
    C("sum_u8", lambda: mx.sum(Ua))
    C("mean_int", lambda: mx.mean(Ia, axis=1))
    C("prod_int", lambda: mx.prod(Ib, axis=1))
    C("max_int", lambda: mx.max(Ia, axis=1, keepdims=True))
    C("max_nan", lambda: mx.max(Na))
    C("min_nan", lambda: mx.min(Na))
    C("sum_nan", lambda: mx.sum(Na))
    for op in ["argmax", "argmin"]:
        f = getattr(mx, op)
        C(f"{op}_all", lambda f=f: f(X))
        C(f"{op}_a1", lambda f=f: f(X, axis=1))
        C(f"{op}_a2_keep", lambda f=f: f(X, axis=2, keepdims=True))
        C(f"{op}_ties", lambda f=f: f(mx.array([[1, 3, 3, 0], [2, 2, 0, 0]]), axis=1))
        C(f"{op}_int", lambda f=f: f(Ia, axis=0))
    for op in ["all", "any"]:
        f = getattr(mx, op)
        C(f"{op}_all", lambda f=f: f(Bi))
        C(f"{op}_a2", lambda f=f: f(Bi, axis=2))
        C(f"{op}_a01_keep", lambda f=f: f(Bi, axis=(0, 1), keepdims=True))
        C(f"{op}_float", lambda f=f: f(mx.array([[0.0, 1.5], [0.0, 0.0]]), axis=1))
    C("median_all", lambda: mx.median(X))
    C("median_a1", lambda: mx.median(X, axis=1))
    C("median_a2_keep", lambda: mx.median(X, axis=2, keepdims=True))
    C("median_odd", lambda: mx.median(Q, axis=1))

    # scans
    for op in ["cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"]:
        f = getattr(mx, op)
        C(f"{op}_flat", lambda f=f: f(X))
        for rev in [False, True]:
            for inc in [True, False]:
                if op in ("cummax", "cummin") and not inc:
                    continue  # exclusive cummax/cummin is not defined by MLX
                C(f"{op}_a1_r{int(rev)}_i{int(inc)}", lambda f=f, rev=rev, inc=inc: f(X, axis=1, reverse=rev, inclusive=inc))
    C("cumsum_int", lambda: mx.cumsum(Ia, axis=1))
    C("cumsum_bool", lambda: mx.cumsum(Ba, axis=1))
    C("cumprod_int_rev", lambda: mx.cumprod(Ib, axis=1, reverse=True))
    C("cummax_int", lambda: mx.cummax(Ia, axis=0))

    # sorting and selection
    C("sort_last", lambda: mx.sort(X))
    C("sort_a0", lambda: mx.sort(X, axis=0))
    C("sort_flat", lambda: mx.sort(X, axis=None))
    C("sort_int", lambda: mx.sort(Ia, axis=1))
    C("sort_nan", lambda: mx.sort(Na))
    C("argsort_last", lambda: mx.argsort(X))
    C("argsort_a1", lambda: mx.argsort(X, axis=1))
    C("argsort_flat", lambda: mx.argsort(X, axis=None))
    for k in [0, 2, 5]:
        C(f"partition_k{k}", lambda k=k: [mx.sort(mx.partition(T, k), axis=-1), mx.partition(T, k)[:, k]])
        C(f"argpartition_k{k}", lambda k=k: mx.take_along_axis(T, mx.argpartition(T, k), axis=-1)[:, k])
    C("partition_a0", lambda: mx.partition(Q, 1, axis=0)[1])
    C("topk_3", lambda: mx.sort(mx.topk(T, 3), axis=-1))
    C("topk_a0", lambda: mx.sort(mx.topk(Q, 2, axis=0), axis=0))
    C("topk_flat", lambda: mx.sort(mx.topk(X, 4, axis=None)))
    return fx, None


# ---- 3. shapes and indexing -------------------------------------------------------------

def shape_index():
    fx = Fixture("shape_index")
    I = fx.inp
    A = I("A", mx.arange(24, dtype=mx.float32).reshape(2, 3, 4) * 0.5 - 3)
    A4 = I("A4", mx.arange(120, dtype=mx.int32).reshape(2, 3, 4, 5))
    M = I("M", mx.arange(20, dtype=mx.int32).reshape(4, 5))
    V = I("V", mx.array([10, 20, 30, 40, 50, 60], dtype=mx.int32))
    B = I("B", rnd([2, 3]))
    S1 = I("S1", rnd([1, 3, 1, 2]))
    idx1 = I("idx1", mx.array([2, 0, -1, 1], dtype=mx.int32))
    idx2 = I("idx2", mx.array([[0, 1], [2, 0]], dtype=mx.int32))
    idxr = I("idxr", mx.array([0, 2, 1], dtype=mx.int32))
    idxc = I("idxc", mx.array([3, 0, 2], dtype=mx.int32))
    idxu = I("idxu", mx.array([1, 0], dtype=mx.uint32))
    idxb = I("idxb", mx.array([[0, 1], [1, 1], [-1, 0]], dtype=mx.int32))
    tai = I("tai", mx.array([[[0, 3], [1, 1], [2, 0]], [[3, 3], [0, 1], [2, 2]]], dtype=mx.int32))
    pav = I("pav", rnd([2, 3, 2]))
    dup = I("dup", mx.array([0, 2, 0, 3], dtype=mx.int32))
    upd = I("upd", rnd([4, 5]))
    su = I("su", mx.array([[100, 101], [102, 103]], dtype=mx.int32))
    C = fx.case

    C("reshape", lambda: mx.reshape(A, (4, -1)))
    C("reshape_scalar", lambda: mx.reshape(mx.array([7.5]), ()))
    C("flatten", lambda: mx.flatten(A, 1, 2))
    C("transpose_default", lambda: mx.transpose(A))
    C("transpose_axes", lambda: mx.transpose(A, (1, 0, 2)))
    C("transpose_neg", lambda: mx.transpose(A, (-1, 0, 1)))
    C("swapaxes", lambda: mx.swapaxes(A, 0, 2))
    C("moveaxis", lambda: mx.moveaxis(A, 0, -1))
    C("moveaxis2", lambda: mx.moveaxis(A, 2, 0))
    C("squeeze_all", lambda: mx.squeeze(S1))
    C("squeeze_axis", lambda: mx.squeeze(S1, 2))
    C("squeeze_axes", lambda: mx.squeeze(S1, (0, 2)))
    C("expand_dims", lambda: mx.expand_dims(B, 1))
    C("expand_dims_multi", lambda: mx.expand_dims(B, (0, 3)))
    C("expand_dims_neg", lambda: mx.expand_dims(B, -1))
    C("broadcast_to", lambda: mx.broadcast_to(mx.array([1.0, 2.0, 3.0]), (2, 3)))
    C("concatenate_a0", lambda: mx.concatenate([B, B * 2], axis=0))
    C("concatenate_a1", lambda: mx.concatenate([B, B[:, :1]], axis=1))
    C("concatenate_none", lambda: mx.concatenate([B, A[0]], axis=None))
    C("concatenate_mixed_dtype", lambda: mx.concatenate([M[:1], B[:1, :1].astype(mx.float16) * mx.ones((1, 5), dtype=mx.float16)], axis=0))
    C("stack_a0", lambda: mx.stack([B, -B]))
    C("stack_a1", lambda: mx.stack([B, -B, B], axis=1))
    C("stack_neg", lambda: mx.stack([B, -B], axis=-1))
    C("split_sections", lambda: mx.split(V, 3))
    C("split_indices", lambda: mx.split(V, [1, 4]))
    C("split_axis1", lambda: mx.split(M, [2, 3], axis=1))
    C("split_sections_axis1", lambda: mx.split(A, 2, axis=2))
    C("tile", lambda: mx.tile(B, (2, 1)))
    C("tile_more", lambda: mx.tile(mx.array([1, 2], dtype=mx.int32), (2, 3)))
    C("repeat_axis", lambda: mx.repeat(B, 2, axis=1))
    C("repeat_flat", lambda: mx.repeat(B, 3))
    C("pad_constant", lambda: mx.pad(B, ((1, 0), (2, 1)), constant_values=-1.5))
    C("pad_scalar_width", lambda: mx.pad(M, 1))
    C("pad_pair", lambda: mx.pad(B, (1, 2)))
    C("pad_edge", lambda: mx.pad(B, ((1, 2), (0, 3)), mode="edge"))
    C("pad_int_float_value", lambda: mx.pad(M, ((0, 1), (1, 0)), constant_values=2))
    C("roll_flat", lambda: mx.roll(V, 2))
    C("roll_neg", lambda: mx.roll(V, -1))
    C("roll_axis", lambda: mx.roll(M, 1, axis=1))
    C("roll_axes", lambda: mx.roll(A, (1, -2), axis=(0, 2)))
    C("roll_2d_flat", lambda: mx.roll(M, 3))
    for k in [0, 1, -1, 2]:
        C(f"tril_{k}", lambda k=k: mx.tril(M, k))
        C(f"triu_{k}", lambda k=k: mx.triu(M, k))
    C("diagonal", lambda: mx.diagonal(M))
    C("diagonal_offset", lambda: mx.diagonal(M, 1))
    C("diagonal_neg_offset", lambda: mx.diagonal(M, -2))
    C("diagonal_axes", lambda: mx.diagonal(A, 0, 1, 2))
    C("diag_vector", lambda: mx.diag(mx.array([1, 2, 3], dtype=mx.int32)))
    C("diag_vector_k", lambda: mx.diag(mx.array([1.5, 2.5]), 1))
    C("diag_matrix", lambda: mx.diag(M, -1))
    C("flip_all", lambda: mx.flip(A))
    C("flip_axis", lambda: mx.flip(A, axis=1))
    C("flip_axes", lambda: mx.flip(A, axis=[0, 2]))
    C("tri", lambda: mx.tri(3, 4, 1))
    C("eye", lambda: mx.eye(3, 4, -1))
    C("arange_float", lambda: mx.arange(0.5, 3.0, 0.75))
    C("arange_neg_step", lambda: mx.arange(5, -3, -2))
    C("linspace", lambda: mx.linspace(-1, 1, 7))
    C("full_int", lambda: mx.full((2, 3), 7))
    C("full_float", lambda: mx.full((2,), 2.5))
    C("ones_like_int", lambda: mx.ones_like(M))
    C("pad_float_into_int", lambda: mx.pad(M, 1, constant_values=2.5))
    C("linspace_int", lambda: mx.linspace(0, 10, 4, dtype=mx.int32))
    C("arange_f16", lambda: mx.arange(0, 5, 1.5, dtype=mx.float16))
    C("arange_float_step_int_dtype", lambda: mx.arange(0, 5, 1.5, dtype=mx.int32))
    C("full_float_dtype", lambda: mx.full((2, 2), 3, dtype=mx.float16))

    # basic indexing (the JS side spells each one with a.index(...))
    C("ix_int", lambda: A[1])
    C("ix_neg_int", lambda: A[-1, -2])
    C("ix_slice", lambda: A[:, 1:3])
    C("ix_step", lambda: M[::2, 1::2])
    C("ix_neg_step", lambda: M[::-1])
    C("ix_neg_step2", lambda: M[3:0:-2, ::-3])
    C("ix_neg_bounds", lambda: M[-3:-1, -4:])
    C("ix_out_of_range_slice", lambda: M[2:100, -100:2])
    C("ix_empty_slice", lambda: M[3:1])
    C("ix_newaxis", lambda: B[None])
    C("ix_newaxis_mid", lambda: B[:, None, 1:])
    C("ix_ellipsis", lambda: A[..., 1])
    C("ix_ellipsis_mid", lambda: A[0, ..., ::2])
    C("ix_ellipsis_newaxis", lambda: A[..., None, 2])
    C("ix_scalar_all", lambda: A[1, 2, 3])
    # integer-array (advanced) indexing
    C("ix_arr", lambda: V[idx1])
    C("ix_arr2d", lambda: V[idx2])
    C("ix_arr_axis1", lambda: M[:, idxc])
    C("ix_arr_uint", lambda: M[idxu])
    C("ix_two_arrays", lambda: M[idxr, idxc])
    C("ix_two_arrays_bcast", lambda: M[idxr[:, None], idxc[None, :]])
    C("ix_arr_int", lambda: A[idxu, 1])
    C("ix_int_arr", lambda: A[1, :, idxc])
    C("ix_arrays_adjacent", lambda: A[:, idxr[:2], idxc[:2]])
    C("ix_arrays_separated", lambda: A[idxu, :, idxc[:2]])
    C("ix_arr_slice", lambda: A[idxu, 1:, ::2])
    # integer indices next to array indices count as advanced indices (numpy's placement rule)
    C("ix4_arr_slice_int", lambda: A4[:, idxr, :, 1])
    C("ix4_int_slice_arrs", lambda: A4[1, :, idxr, idxc])
    C("ix4_int_arr_adjacent", lambda: A4[:, 1, idxr, :])
    C("ix4_arr_int_arr", lambda: A4[:, idxu, 2, idxc[:2]])
    C("ix4_arr2d_slice_int", lambda: A4[idxb, :, 1])
    # explicit gathers
    C("take_flat", lambda: mx.take(M, idx1))
    C("take_axis0", lambda: mx.take(M, idxr, axis=0))
    C("take_axis1_2d", lambda: mx.take(M, idx2, axis=1))
    C("take_neg", lambda: mx.take(V, mx.array([-1, -6], dtype=mx.int32)))
    C("take_along_axis", lambda: mx.take_along_axis(A, tai, axis=2))
    C("take_along_axis_flat", lambda: mx.take_along_axis(V, mx.array([5, 0, 2], dtype=mx.int32), axis=None))
    C("take_along_axis_bcast", lambda: mx.take_along_axis(M, mx.array([[0], [4], [2], [1]], dtype=mx.int32), axis=1))
    C("put_along_axis", lambda: mx.put_along_axis(A, tai[:, :, :1], pav[:, :, :1], axis=2))
    C("put_along_axis_scalar", lambda: mx.put_along_axis(M, mx.array([[1], [0], [4], [2]], dtype=mx.int32), mx.array(-5, dtype=mx.int32), axis=1))
    # scatter-add with duplicate indices: a.at[idx].add(v)
    C("scatter_add_dup", lambda: mx.zeros((5, 5)).at[dup].add(upd))
    C("scatter_add_2idx", lambda: M.astype(mx.float32).at[idxr, idxc].add(mx.array([1.5, 2.5, 3.5])))
    C("scatter_max", lambda: M.at[mx.array([0, 0, 3], dtype=mx.int32)].maximum(mx.array([[5, 0, 9, 1, 2], [1, 7, 2, 3, 30], [0, 0, 0, 100, 0]], dtype=mx.int32)))
    C("scatter_min", lambda: M.at[mx.array([1, 1], dtype=mx.int32)].minimum(mx.array([[5, 0, 9, 1, 2], [1, 7, 2, 3, 30]], dtype=mx.int32)))
    C("scatter_prod", lambda: M.astype(mx.float32).at[mx.array([2, 2], dtype=mx.int32)].multiply(mx.full((2, 5), 0.5)))
    C("scatter_add_pairs", lambda: mx.zeros((3, 4)).at[mx.array([2, 0], dtype=mx.int32), mx.array([1, 3], dtype=mx.int32)].add(mx.array([7.0, -1.0])))
    # slice updates
    C("slice_update", lambda: mx.slice_update(M, su, mx.array([1, 2]), (0, 1)))
    C("slice_update_axis", lambda: mx.slice_update(M, su[:1], mx.array([3]), (0,)))
    # index assignment (a.put in JS)
    def setitem(a, key, v):
        b = mx.array(a)
        b[key] = v
        return b
    C("set_int", lambda: setitem(M, 1, -1))
    C("set_slice_step", lambda: setitem(M, (slice(None, None, 2), slice(1, None, 2)), su))
    C("set_neg_step", lambda: setitem(M, (slice(None, None, -1), 0), mx.array([1, 2, 3, 4], dtype=mx.int32)))
    C("set_bcast", lambda: setitem(A, (Ellipsis, 1), mx.array([9.0, 8.0, 7.0])))
    C("set_float_into_int", lambda: setitem(M, 0, 2.7))
    C("set_arr", lambda: setitem(M, idxr, mx.array([[1, 2, 3, 4, 5]], dtype=mx.int32)))
    C("set_arr_scalar", lambda: setitem(V, idx1, 0))
    C("set_slice_update_strided", lambda: setitem(M, (slice(1, 4, 2), slice(None, None, 2)), mx.array([[-1, -2, -3], [-4, -5, -6]], dtype=mx.int32)))
    return fx, None


# ---- 4. matmul, linalg, fft, fast, quantization -----------------------------------------

def linalg_fft_fast():
    fx = Fixture("linalg_fft_fast")
    I = fx.inp
    A3 = I("A3", rnd([2, 3, 4]))
    B3 = I("B3", rnd([2, 4, 5]))
    Bb = I("Bb", rnd([4, 2]))
    A4 = I("A4", rnd([2, 1, 3, 4]))
    B4 = I("B4", rnd([3, 4, 2]))
    v4 = I("v4", rnd([4]))
    w4 = I("w4", rnd([4]))
    Cm = I("Cm", rnd([3, 2]))
    Am = I("Am", rnd([3, 4]))
    Dm = I("Dm", rnd([4, 2]))
    T1 = I("T1", rnd([2, 3, 4]))
    T2 = I("T2", rnd([4, 3, 2]))
    Mm = rnd([4, 4], -1.0, 1.0)
    SPD = I("SPD", (Mm @ Mm.T + 4 * mx.eye(4)))
    Gm = I("Gm", rnd([4, 4]) + 3 * mx.eye(4))
    Rm = I("Rm", rnd([5, 3]))
    rhs = I("rhs", rnd([4, 2]))
    rhsv = I("rhsv", rnd([4]))
    Nv = I("Nv", mx.array([3.0, -4.0, 0.0, 1.5, -0.5], dtype=mx.float32))
    Nm = I("Nm", rnd([3, 4]))
    fr = I("fr", rnd([8]))
    fr2 = I("fr2", rnd([2, 8]))
    fr7 = I("fr7", rnd([7]))
    fm = I("fm", rnd([4, 6]))
    f3 = I("f3", rnd([2, 3, 4]))
    fc = I("fc", (rnd([6]) + 1j * rnd([6])).astype(mx.complex64))
    x_norm = I("x_norm", rnd([2, 3, 16]))
    g_norm = I("g_norm", rnd([16], 0.5, 1.5))
    b_norm = I("b_norm", rnd([16], -0.5, 0.5))
    x_rope = I("x_rope", rnd([1, 2, 5, 8]))
    off_b = I("off_b", mx.array([0, 2, 5], dtype=mx.int32))
    x_rope_b = I("x_rope_b", rnd([3, 2, 4, 8]))
    q = I("q", rnd([1, 4, 3, 8], -1, 1))
    k = I("k", rnd([1, 2, 5, 8], -1, 1))
    v = I("v", rnd([1, 2, 5, 8], -1, 1))
    k3 = I("k3", rnd([1, 2, 3, 8], -1, 1))
    v3 = I("v3", rnd([1, 2, 3, 8], -1, 1))
    madd = I("madd", rnd([3, 5], -2, 0.5))
    mbool = I("mbool", mx.array([[True, False, True, True, False], [True, True, False, True, True],
                                 [False, True, True, True, True]]))
    W = I("W", rnd([4, 128], -1, 1, 4))
    Wt = I("Wt", rnd([16, 64], -1, 1, 4))
    xq = I("xq", rnd([3, 128], -1, 1))
    xqt = I("xqt", rnd([2, 16], -1, 1))
    C = fx.case
    scale8 = 1.0 / math.sqrt(8)

    # matrix products
    C("matmul_batched", lambda: A3 @ B3)
    C("matmul_bcast_batch", lambda: A4 @ B4)
    C("matmul_2d_batch", lambda: A3 @ Bb)
    C("matmul_vec_mat", lambda: v4 @ Dm)
    C("matmul_mat_vec", lambda: Am @ v4)
    C("matmul_vec_vec", lambda: mx.matmul(v4, w4))
    C("matmul_batched_vec", lambda: A3 @ v4)
    C("matmul_int", lambda: mx.matmul(mx.array([[1, 2], [3, 4]], dtype=mx.int32), mx.array([[5, -1], [0, 2]], dtype=mx.int32)))
    C("addmm", lambda: mx.addmm(Cm, Am, Dm))
    C("addmm_alpha_beta", lambda: mx.addmm(Cm, Am, Dm, alpha=0.5, beta=-2.0))
    C("tensordot_1", lambda: mx.tensordot(A3, B3[0], axes=1))
    C("tensordot_2", lambda: mx.tensordot(T1, T2.transpose(1, 0, 2).reshape(3, 4, 2), axes=2))
    C("tensordot_lists", lambda: mx.tensordot(T1, T2, axes=([1, 2], [1, 0])))
    C("einsum_mm", lambda: mx.einsum("ij,jk->ik", Am, Dm))
    C("einsum_bmm", lambda: mx.einsum("bij,bjk->bik", A3, B3))
    C("einsum_diag", lambda: mx.einsum("ii->i", Gm))
    C("einsum_trace", lambda: mx.einsum("ii", Gm))
    C("einsum_sum", lambda: mx.einsum("ij->", Am))
    C("einsum_outer", lambda: mx.einsum("i,j->ij", v4, w4))
    C("einsum_transpose", lambda: mx.einsum("ijk->kji", A3))
    C("einsum_three", lambda: mx.einsum("ij,jk,kl->il", Am, Dm, Cm.T))
    C("inner_vec", lambda: mx.inner(v4, w4))
    C("inner_mat", lambda: mx.inner(Am, Nm))
    C("outer", lambda: mx.outer(v4, Nv))
    C("kron", lambda: mx.kron(Cm, mx.array([[1.0, -1.0], [0.5, 2.0]])))

    # linalg (MLX runs these on the CPU stream)
    with mx.stream(mx.cpu):
        C("norm_vec_default", lambda: mx.linalg.norm(Nv))
        for o in [1, 2, 3, float("inf"), float("-inf"), 0, 0.5]:
            C(f"norm_vec_ord_{o}", lambda o=o: mx.linalg.norm(Nv, ord=o))
        C("norm_mat_default", lambda: mx.linalg.norm(Nm))
        C("norm_mat_fro", lambda: mx.linalg.norm(Nm, ord="fro"))
        C("norm_mat_nuc", lambda: mx.linalg.norm(Nm, ord="nuc"))
        for o in [1, -1, 2, -2, float("inf"), float("-inf")]:
            C(f"norm_mat_ord_{o}", lambda o=o: mx.linalg.norm(Nm, ord=o))
        C("norm_axis", lambda: mx.linalg.norm(A3, axis=1))
        C("norm_axis_keep", lambda: mx.linalg.norm(A3, ord=1, axis=-1, keepdims=True))
        C("norm_axes_fro", lambda: mx.linalg.norm(A3, ord="fro", axis=(1, 2)))
        C("norm_axes_inf", lambda: mx.linalg.norm(A3, ord=float("inf"), axis=(2, 1), keepdims=True))
        C("inv", lambda: mx.linalg.inv(Gm))
        C("inv_batched", lambda: mx.linalg.inv(mx.stack([Gm, SPD])))
        C("cholesky", lambda: mx.linalg.cholesky(SPD))
        C("cholesky_upper", lambda: mx.linalg.cholesky(SPD, upper=True))
        C("det", lambda: mx.linalg.det(Gm))
        C("pinv", lambda: mx.linalg.pinv(Rm))
        C("tri_inv", lambda: mx.linalg.tri_inv(mx.linalg.cholesky(SPD)))
        C("tri_inv_upper", lambda: mx.linalg.tri_inv(mx.linalg.cholesky(SPD, upper=True), upper=True))

        def qr_canon(a):
            qm, rm = mx.linalg.qr(a)
            s = mx.sign(mx.diagonal(rm, 0, -2, -1))
            return [qm * s[..., None, :], rm * s[..., :, None], qm @ rm]
        C("qr_square", lambda: qr_canon(Gm))
        C("qr_tall", lambda: qr_canon(Rm))

        def svd_check(a):
            u, s, vt = mx.linalg.svd(a)
            kk = s.shape[-1]
            recon = (u[..., :, :kk] * s[..., None, :]) @ vt[..., :kk, :]
            return [s, recon, mx.abs(u[..., :, :kk].T @ u[..., :, :kk])]
        C("svd_tall", lambda: svd_check(Rm))
        C("svd_wide", lambda: svd_check(Nm))
        C("svd_values_only", lambda: mx.linalg.svd(Gm, compute_uv=False))

        def eigh_check(a, uplo="L"):
            w, vec = mx.linalg.eigh(a, UPLO=uplo)
            return [w, (vec * w[None, :]) @ vec.T, mx.abs(vec)]
        C("eigh", lambda: eigh_check(SPD))
        C("eigh_upper", lambda: eigh_check(mx.triu(SPD) + mx.tril(Gm, -1), "U"))
        C("solve", lambda: mx.linalg.solve(Gm, rhs))
        C("solve_vec", lambda: mx.linalg.solve(SPD, rhsv))

    # fft
    C("fft", lambda: mx.fft.fft(fr))
    C("fft_n_crop", lambda: mx.fft.fft(fr, n=6))
    C("fft_n_pad", lambda: mx.fft.fft(fr, n=10))
    C("fft_axis0", lambda: mx.fft.fft(fr2, axis=0))
    C("fft_complex", lambda: mx.fft.fft(fc))
    C("ifft_complex", lambda: mx.fft.ifft(fc))
    C("ifft_roundtrip", lambda: mx.fft.ifft(mx.fft.fft(fr2)))
    C("rfft", lambda: mx.fft.rfft(fr))
    C("rfft_odd", lambda: mx.fft.rfft(fr7))
    C("rfft_2d", lambda: mx.fft.rfft(fr2))
    C("irfft", lambda: mx.fft.irfft(mx.fft.rfft(fr)))
    C("irfft_n_odd", lambda: mx.fft.irfft(mx.fft.rfft(fr7), n=7))
    C("irfft_complex_in", lambda: mx.fft.irfft(fc))
    C("fftn", lambda: mx.fft.fftn(fm))
    C("fftn_axes", lambda: mx.fft.fftn(f3, axes=[0, 2]))
    C("fftn_s", lambda: mx.fft.fftn(fm, s=[3, 8], axes=[0, 1]))
    C("ifftn", lambda: mx.fft.ifftn(mx.fft.fftn(f3)))
    C("rfftn", lambda: mx.fft.rfftn(fm))
    C("irfftn", lambda: mx.fft.irfftn(mx.fft.rfftn(fm), s=[4, 6], axes=[0, 1]))
    C("fft2", lambda: mx.fft.fft2(f3))

    # fast
    C("rms_norm", lambda: mx.fast.rms_norm(x_norm, g_norm, 1e-5))
    C("rms_norm_noweight", lambda: mx.fast.rms_norm(x_norm, None, 1e-6))
    C("layer_norm", lambda: mx.fast.layer_norm(x_norm, g_norm, b_norm, 1e-5))
    C("layer_norm_noaffine", lambda: mx.fast.layer_norm(x_norm, None, None, 1e-5))
    C("layer_norm_weight_only", lambda: mx.fast.layer_norm(x_norm, g_norm, None, 1e-5))
    C("rms_norm_f16", lambda: mx.fast.rms_norm(x_norm.astype(mx.float16), g_norm.astype(mx.float16), 1e-5))
    for trad in [False, True]:
        t = int(trad)
        C(f"rope_t{t}", lambda trad=trad: mx.fast.rope(x_rope, 8, traditional=trad, base=10000.0, scale=1.0, offset=0))
        C(f"rope_t{t}_offset", lambda trad=trad: mx.fast.rope(x_rope, 8, traditional=trad, base=10000.0, scale=1.0, offset=3))
        C(f"rope_t{t}_partial", lambda trad=trad: mx.fast.rope(x_rope, 4, traditional=trad, base=500.0, scale=0.5, offset=2))
        C(f"rope_t{t}_offset_arr", lambda trad=trad: mx.fast.rope(x_rope, 8, traditional=trad, base=10000.0, scale=1.0, offset=mx.array(4)))
        C(f"rope_t{t}_offset_batch", lambda trad=trad: mx.fast.rope(x_rope_b, 8, traditional=trad, base=10000.0, scale=1.0, offset=off_b))
    C("rope_freqs", lambda: mx.fast.rope(x_rope, 8, traditional=False, base=None, scale=1.0, offset=1,
                                         freqs=mx.array([1.0, 0.5, 0.25, 0.125])))
    C("sdpa", lambda: mx.fast.scaled_dot_product_attention(q, k, v, scale=scale8))
    C("sdpa_causal", lambda: mx.fast.scaled_dot_product_attention(q, k, v, scale=scale8, mask="causal"))
    C("sdpa_causal_square", lambda: mx.fast.scaled_dot_product_attention(q, k3, v3, scale=scale8, mask="causal"))
    C("sdpa_additive_mask", lambda: mx.fast.scaled_dot_product_attention(q, k, v, scale=scale8, mask=madd))
    C("sdpa_bool_mask", lambda: mx.fast.scaled_dot_product_attention(q, k, v, scale=0.5, mask=mbool))
    C("sdpa_mha", lambda: mx.fast.scaled_dot_product_attention(q, mx.repeat(k, 2, axis=1), mx.repeat(v, 2, axis=1), scale=scale8))
    C("sdpa_ref_causal", lambda: mx.softmax(
        (q.reshape(1, 2, 2, 3, 8) @ k[:, :, None].swapaxes(-1, -2)) * scale8
        + mx.where(mx.arange(5)[None, :] <= (mx.arange(3)[:, None] + 2), 0.0, -float("inf")), axis=-1)
        @ v[:, :, None])

    # quantization
    for bits in [4, 8]:
        C(f"quantize_b{bits}", lambda bits=bits: list(mx.quantize(W, group_size=64, bits=bits)))
        C(f"dequantize_b{bits}", lambda bits=bits: mx.dequantize(*mx.quantize(W, group_size=64, bits=bits), group_size=64, bits=bits))
        C(f"qmm_b{bits}", lambda bits=bits: mx.quantized_matmul(xq, *mx.quantize(W, group_size=64, bits=bits), transpose=True, group_size=64, bits=bits))
        C(f"qmm_nt_b{bits}", lambda bits=bits: mx.quantized_matmul(xqt, *mx.quantize(Wt, group_size=64, bits=bits), transpose=False, group_size=64, bits=bits))
    C("quantize_g32_b4", lambda: mx.dequantize(*mx.quantize(W, group_size=32, bits=4), group_size=32, bits=4))
    return fx, None


# ---- 5. random ---------------------------------------------------------------------------

def random():
    fx = Fixture("random")
    logits = fx.inp("logits", mx.array([[0.0, 1.0, -1.0, 2.0], [3.0, -2.0, 0.5, 0.0]], dtype=mx.float32))
    seq = []

    def draw(name, fn):
        seq.append([name, run(fn)])

    # The global key sequence: seed, then a fixed series of draws (the JS test replays it).
    mx.random.seed(42)
    draw("uniform", lambda: mx.random.uniform(shape=[5]))
    draw("uniform_range", lambda: mx.random.uniform(-1, 2, [2, 3]))
    draw("normal", lambda: mx.random.normal([6]))
    draw("normal_loc_scale", lambda: mx.random.normal([4], loc=2.0, scale=0.5))
    draw("randint", lambda: mx.random.randint(0, 10, [8]))
    draw("randint_neg", lambda: mx.random.randint(-5, 5, [2, 4]))
    draw("bernoulli", lambda: mx.random.bernoulli(0.3, [10]))
    draw("bernoulli_default", lambda: mx.random.bernoulli(shape=[6]))
    draw("categorical", lambda: mx.random.categorical(logits))
    draw("categorical_samples", lambda: mx.random.categorical(logits, num_samples=5))
    draw("categorical_axis0", lambda: mx.random.categorical(logits, axis=0))
    draw("permutation_n", lambda: mx.random.permutation(7))
    draw("permutation_arr", lambda: mx.random.permutation(mx.arange(6, dtype=mx.int32) * 10))
    draw("truncated_normal", lambda: mx.random.truncated_normal(-1.0, 1.0, [5]))
    draw("gumbel", lambda: mx.random.gumbel([4]))
    draw("uniform_f16", lambda: mx.random.uniform(-1, 2, [4], dtype=mx.float16))
    draw("uniform_bf16", lambda: mx.random.uniform(shape=[4], dtype=mx.bfloat16))
    draw("uniform_after", lambda: mx.random.uniform(shape=[3]))
    # Re-seeding restarts the sequence.
    mx.random.seed(7)
    draw("reseed_uniform", lambda: mx.random.uniform(shape=[3]))
    draw("reseed_normal", lambda: mx.random.normal([2, 2]))

    # Explicit keys.
    keys = []

    def kdraw(name, fn):
        keys.append([name, run(fn)])

    key = mx.random.key(1234)
    kdraw("key", lambda: key)
    kdraw("key0", lambda: mx.random.key(0))
    kdraw("key_big", lambda: mx.random.key(2**40 + 3))
    kdraw("split2", lambda: mx.random.split(key))
    kdraw("split3", lambda: mx.random.split(key, 3))
    k1, k2 = mx.random.split(key)
    kdraw("uniform_k1", lambda: mx.random.uniform(shape=[4], key=k1))
    kdraw("uniform_k1_again", lambda: mx.random.uniform(shape=[4], key=k1))
    kdraw("normal_k2", lambda: mx.random.normal([2, 3], key=k2))
    kdraw("randint_k", lambda: mx.random.randint(0, 100, [6], key=key))
    kdraw("bernoulli_k", lambda: mx.random.bernoulli(0.7, [8], key=k2))
    kdraw("categorical_k", lambda: mx.random.categorical(logits, num_samples=3, key=k1))
    kdraw("permutation_k", lambda: mx.random.permutation(9, key=k1))
    kdraw("truncated_normal_k", lambda: mx.random.truncated_normal(0.0, 2.0, [4], key=k2))
    kdraw("gumbel_k", lambda: mx.random.gumbel([3], key=k1))
    kdraw("uniform_large", lambda: mx.random.uniform(shape=[3, 7], key=mx.random.key(99)))
    kdraw("categorical_shape", lambda: mx.random.categorical(logits, shape=[3, 2], key=k2))
    kdraw("randint_int16", lambda: mx.random.randint(-100, 100, [5], dtype=mx.int16, key=k1))
    kdraw("uniform_arrays", lambda: mx.random.uniform(mx.array([[0.0], [10.0]]), mx.array([1.0, 2.0, 3.0]) * 20, [2, 3], key=k2))
    kdraw("normal_bf16", lambda: mx.random.normal([4], dtype=mx.bfloat16, key=k1))
    kdraw("normal_f16_loc_arr", lambda: mx.random.normal([2, 2], dtype=mx.float16, loc=mx.array([0.0, 100.0]), key=k2))
    kdraw("bernoulli_array_p", lambda: mx.random.bernoulli(mx.array([0.0, 0.25, 0.5, 0.75, 1.0]), key=k1))
    kdraw("permutation_axis1", lambda: mx.random.permutation(mx.arange(12, dtype=mx.int32).reshape(3, 4), axis=1, key=k2))
    kdraw("truncated_normal_arrays", lambda: mx.random.truncated_normal(mx.array([-1.0, 0.0]), mx.array([0.0, 3.0]), key=k1))
    return fx, {"sequence": seq, "keys": keys}


def main():
    if mx.__version__ != EXPECTED_MLX:
        print(f"warning: fixtures are meant to come from mlx {EXPECTED_MLX}, this is {mx.__version__}",
              file=sys.stderr)
    mx.set_default_device(mx.cpu)
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for make in [promotion, ops, shape_index, linalg_fft_fast, random]:
        fx, extra = make()
        path, size = fx.write(extra)
        total += size
        what = f"{len(fx.cases)} cases" if fx.cases else f"tables {', '.join(extra)}"
        print(f"{os.path.relpath(path)}: {what}, {size / 1024:.1f} KiB")
    print(f"total {total / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
