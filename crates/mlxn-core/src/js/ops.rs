//! Operation exports. Op families are selected by the numeric codes of the bridge's shared
//! enums (the TypeScript op tables use the same order); an unknown code is an MLX error, not UB.
use napi_derive::napi;

use super::{JsArray, Result, arg_err, axes_or_all, list_arg, opt_ptr, ret, ret_list};
use mlxn_sys::ffi::{self, BinaryOp, FftOp, LinalgOp, ReduceOp, ScanOp, ScatterMode, SortOp, UnaryOp};

#[napi(catch_unwind)]
pub fn unary(op: u8, a: JsArray) -> Result<JsArray> {
    ret(ffi::unary(UnaryOp { repr: op }, a.raw()?))
}

#[napi(catch_unwind)]
pub fn binary(op: u8, a: JsArray, b: JsArray) -> Result<JsArray> {
    ret(ffi::binary(BinaryOp { repr: op }, a.raw()?, b.raw()?))
}

/// `a op scalar` (or `scalar op a`) with the scalar already given its weak-typed dtype.
#[napi(js_name = "binaryScalar", catch_unwind)]
pub fn binary_scalar(op: u8, a: JsArray, value: f64, scalar_dtype: u8, scalar_first: bool) -> Result<JsArray> {
    ret(ffi::binary_scalar(BinaryOp { repr: op }, a.raw()?, value, scalar_dtype, scalar_first))
}

#[napi(catch_unwind)]
pub fn divmod(a: JsArray, b: JsArray) -> Result<Vec<JsArray>> {
    ret_list(ffi::divmod(a.raw()?, b.raw()?))
}

#[napi(catch_unwind)]
pub fn round(a: JsArray, decimals: i32) -> Result<JsArray> {
    ret(ffi::round(a.raw()?, decimals))
}

#[napi(catch_unwind)]
pub fn reduce(op: u8, a: JsArray, axes: Option<Vec<i32>>, keepdims: bool, ddof: i32) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::reduce(ReduceOp { repr: op }, a.raw()?, &axes, all, keepdims, ddof))
}

#[napi(catch_unwind)]
pub fn scan(op: u8, a: JsArray, axis: Option<i32>, reverse: bool, inclusive: bool) -> Result<JsArray> {
    ret(ffi::scan(ScanOp { repr: op }, a.raw()?, axis.unwrap_or(0), axis.is_none(), reverse, inclusive))
}

/// Sorting and selection (`sort`, `argsort`, `partition`, `argpartition`, `topk`, `argmax`, `argmin`).
#[napi(js_name = "sortOp", catch_unwind)]
pub fn sort_op(op: u8, a: JsArray, axis: Option<i32>, kth: i32, keepdims: bool) -> Result<JsArray> {
    ret(ffi::sort_op(SortOp { repr: op }, a.raw()?, axis.unwrap_or(0), axis.is_none(), kth, keepdims))
}

#[napi(catch_unwind)]
pub fn softmax(a: JsArray, axes: Option<Vec<i32>>, precise: bool) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::softmax(a.raw()?, &axes, all, precise))
}

#[napi(catch_unwind)]
pub fn clip(a: JsArray, lo: Option<JsArray>, hi: Option<JsArray>) -> Result<JsArray> {
    // SAFETY: the pointers come from live JsArray borrows held for this call.
    ret(unsafe { ffi::clip(a.raw()?, opt_ptr(lo)?, opt_ptr(hi)?) })
}

#[napi(js_name = "where", catch_unwind)]
pub fn where_(cond: JsArray, x: JsArray, y: JsArray) -> Result<JsArray> {
    ret(ffi::where_(cond.raw()?, x.raw()?, y.raw()?))
}

#[napi(catch_unwind)]
pub fn astype(a: JsArray, dtype: u8) -> Result<JsArray> {
    ret(ffi::astype(a.raw()?, dtype))
}

#[napi(catch_unwind)]
pub fn view(a: JsArray, dtype: u8) -> Result<JsArray> {
    ret(ffi::view_as(a.raw()?, dtype))
}

#[napi(js_name = "nanToNum", catch_unwind)]
pub fn nan_to_num(a: JsArray, nan: f64, posinf: Option<f64>, neginf: Option<f64>) -> Result<JsArray> {
    ret(ffi::nan_to_num(a.raw()?, nan, posinf.unwrap_or(0.0), posinf.is_some(), neginf.unwrap_or(0.0), neginf.is_some()))
}

#[napi(catch_unwind)]
pub fn isclose(a: JsArray, b: JsArray, rtol: f64, atol: f64, equal_nan: bool) -> Result<JsArray> {
    ret(ffi::isclose(a.raw()?, b.raw()?, rtol, atol, equal_nan))
}

#[napi(js_name = "arrayEqual", catch_unwind)]
pub fn array_equal(a: JsArray, b: JsArray, equal_nan: bool) -> Result<JsArray> {
    ret(ffi::array_equal(a.raw()?, b.raw()?, equal_nan))
}

// ---- shapes ----------------------------------------------------------------------------

#[napi(catch_unwind)]
pub fn reshape(a: JsArray, shape: Vec<i32>) -> Result<JsArray> {
    // MLX only checks that the product matches, so [-2, -3] would pass for 6 elements and
    // give an array of negative shape that later size arithmetic overflows on.
    if let Some(&d) = shape.iter().find(|&&d| d < -1) {
        return Err(arg_err(format!("reshape: dimension {d} in {shape:?} is negative (only one -1 may be inferred)")));
    }
    ret(ffi::reshape(a.raw()?, &shape))
}

#[napi(catch_unwind)]
pub fn flatten(a: JsArray, start: i32, end: i32) -> Result<JsArray> {
    ret(ffi::flatten(a.raw()?, start, end))
}

#[napi(catch_unwind)]
pub fn squeeze(a: JsArray, axes: Option<Vec<i32>>) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::squeeze(a.raw()?, &axes, all))
}

#[napi(js_name = "expandDims", catch_unwind)]
pub fn expand_dims(a: JsArray, axes: Vec<i32>) -> Result<JsArray> {
    ret(ffi::expand_dims(a.raw()?, &axes))
}

#[napi(catch_unwind)]
pub fn transpose(a: JsArray, axes: Option<Vec<i32>>) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::transpose(a.raw()?, &axes, all))
}

#[napi(catch_unwind)]
pub fn swapaxes(a: JsArray, axis1: i32, axis2: i32) -> Result<JsArray> {
    ret(ffi::swapaxes(a.raw()?, axis1, axis2))
}

#[napi(catch_unwind)]
pub fn moveaxis(a: JsArray, source: i32, destination: i32) -> Result<JsArray> {
    ret(ffi::moveaxis(a.raw()?, source, destination))
}

#[napi(js_name = "broadcastTo", catch_unwind)]
pub fn broadcast_to(a: JsArray, shape: Vec<i32>) -> Result<JsArray> {
    ret(ffi::broadcast_to(a.raw()?, &shape))
}

#[napi(catch_unwind)]
pub fn concatenate(arrays: Vec<JsArray>, axis: Option<i32>) -> Result<JsArray> {
    ret(ffi::concatenate(&*list_arg(&arrays)?, axis.unwrap_or(0), axis.is_none()))
}

#[napi(catch_unwind)]
pub fn stack(arrays: Vec<JsArray>, axis: i32) -> Result<JsArray> {
    ret(ffi::stack(&*list_arg(&arrays)?, axis))
}

#[napi(js_name = "splitSections", catch_unwind)]
pub fn split_sections(a: JsArray, sections: i32, axis: i32) -> Result<Vec<JsArray>> {
    ret_list(ffi::split_sections(a.raw()?, sections, axis))
}

#[napi(js_name = "splitAt", catch_unwind)]
pub fn split_at(a: JsArray, indices: Vec<i32>, axis: i32) -> Result<Vec<JsArray>> {
    ret_list(ffi::split_at(a.raw()?, &indices, axis))
}

#[napi(catch_unwind)]
pub fn tile(a: JsArray, reps: Vec<i32>) -> Result<JsArray> {
    ret(ffi::tile(a.raw()?, &reps))
}

#[napi(catch_unwind)]
pub fn repeat(a: JsArray, repeats: i32, axis: Option<i32>) -> Result<JsArray> {
    ret(ffi::repeat(a.raw()?, repeats, axis.unwrap_or(0), axis.is_none()))
}

#[napi(catch_unwind)]
pub fn pad(a: JsArray, axes: Vec<i32>, low: Vec<i32>, high: Vec<i32>, value: JsArray, mode: String) -> Result<JsArray> {
    ret(ffi::pad(a.raw()?, &axes, &low, &high, value.raw()?, &mode))
}

#[napi(catch_unwind)]
pub fn roll(a: JsArray, shift: Vec<i32>, axes: Option<Vec<i32>>) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::roll(a.raw()?, &shift, &axes, all))
}

#[napi(catch_unwind)]
pub fn tril(a: JsArray, k: i32) -> Result<JsArray> {
    ret(ffi::tril(a.raw()?, k))
}

#[napi(catch_unwind)]
pub fn triu(a: JsArray, k: i32) -> Result<JsArray> {
    ret(ffi::triu(a.raw()?, k))
}

#[napi(catch_unwind)]
pub fn diagonal(a: JsArray, offset: i32, axis1: i32, axis2: i32) -> Result<JsArray> {
    ret(ffi::diagonal(a.raw()?, offset, axis1, axis2))
}

#[napi(catch_unwind)]
pub fn diag(a: JsArray, k: i32) -> Result<JsArray> {
    ret(ffi::diag(a.raw()?, k))
}

#[napi(catch_unwind)]
pub fn flip(a: JsArray, axes: Option<Vec<i32>>) -> Result<JsArray> {
    let (axes, all) = axes_or_all(axes);
    ret(ffi::flip(a.raw()?, &axes, all))
}

// ---- indexing --------------------------------------------------------------------------

/// Steps limited to the axis length: a step at least as long selects the same single element,
/// and MLX's `(stop - start + step - 1) / step` overflows int32 for steps near 2^31 (giving a
/// negative dimension). A zero step would divide by zero.
fn clamp_strides(a: &JsArray, strides: &[i32]) -> Result<Vec<i32>> {
    let shape = ffi::shape(a.raw()?);
    strides
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            if s == 0 {
                return Err(arg_err("slice: step cannot be zero"));
            }
            let n = shape.get(i).copied().unwrap_or(1).max(1);
            Ok(s.clamp(-n, n))
        })
        .collect()
}

#[napi(catch_unwind)]
pub fn slice(a: JsArray, start: Vec<i32>, stop: Vec<i32>, strides: Vec<i32>) -> Result<JsArray> {
    let strides = clamp_strides(&a, &strides)?;
    ret(ffi::slice(a.raw()?, &start, &stop, &strides))
}

#[napi(js_name = "sliceUpdate", catch_unwind)]
pub fn slice_update(src: JsArray, update: JsArray, start: Vec<i32>, stop: Vec<i32>, strides: Vec<i32>) -> Result<JsArray> {
    let strides = clamp_strides(&src, &strides)?;
    ret(ffi::slice_update(src.raw()?, update.raw()?, &start, &stop, &strides))
}

#[napi(catch_unwind)]
pub fn take(a: JsArray, indices: JsArray, axis: Option<i32>) -> Result<JsArray> {
    ret(ffi::take(a.raw()?, indices.raw()?, axis.unwrap_or(0), axis.is_none()))
}

#[napi(js_name = "takeAlongAxis", catch_unwind)]
pub fn take_along_axis(a: JsArray, indices: JsArray, axis: Option<i32>) -> Result<JsArray> {
    ret(ffi::take_along_axis(a.raw()?, indices.raw()?, axis.unwrap_or(0), axis.is_none()))
}

#[napi(js_name = "putAlongAxis", catch_unwind)]
pub fn put_along_axis(a: JsArray, indices: JsArray, values: JsArray, axis: Option<i32>) -> Result<JsArray> {
    ret(ffi::put_along_axis(a.raw()?, indices.raw()?, values.raw()?, axis.unwrap_or(0), axis.is_none()))
}

#[napi(catch_unwind)]
pub fn gather(a: JsArray, indices: Vec<JsArray>, axes: Vec<i32>, slice_sizes: Vec<i32>) -> Result<JsArray> {
    ret(ffi::gather(a.raw()?, &*list_arg(&indices)?, &axes, &slice_sizes))
}

#[napi(catch_unwind)]
pub fn scatter(mode: u8, a: JsArray, indices: Vec<JsArray>, updates: JsArray, axes: Vec<i32>) -> Result<JsArray> {
    ret(ffi::scatter(ScatterMode { repr: mode }, a.raw()?, &*list_arg(&indices)?, updates.raw()?, &axes))
}

// ---- contractions, linear algebra, fft -------------------------------------------------

#[napi(catch_unwind)]
pub fn addmm(c: JsArray, a: JsArray, b: JsArray, alpha: f64, beta: f64) -> Result<JsArray> {
    ret(ffi::addmm(c.raw()?, a.raw()?, b.raw()?, alpha as f32, beta as f32))
}

/// `x · Wᵀ (+ bias)`: `w` is `[N, K]`, or `[K, N]` when `w_transposed` (see shim/linear.cc).
#[napi(js_name = "linearProduct", catch_unwind)]
pub fn linear_product(x: JsArray, w: JsArray, bias: Option<JsArray>, w_transposed: bool) -> Result<JsArray> {
    ret(unsafe { ffi::linear_product(x.raw()?, w.raw()?, opt_ptr(bias)?, w_transposed) })
}

#[napi(js_name = "setCpuMatmulThreads", catch_unwind)]
pub fn set_cpu_matmul_threads(threads: i32) -> Result<()> {
    ffi::set_cpu_matmul_threads(threads).map_err(|e| arg_err(e.what()))
}

#[napi(js_name = "cpuMatmulThreads", catch_unwind)]
pub fn cpu_matmul_threads() -> i32 {
    ffi::cpu_matmul_threads()
}

/// How many float32/float64 CPU products MLX has handed to @mlxn's own GEMM (mlxn-sys's
/// cpu_gemm.rs), how many bfloat16/float16 linear products ran in cpu_half_gemm.rs, and whether
/// this platform uses them: tests prove with it that the products reach them.
#[napi(js_name = "cpuGemmStatus", catch_unwind)]
pub fn cpu_gemm_status() -> CpuGemmStatus {
    CpuGemmStatus {
        replaces_blas: mlxn_sys::cpu_gemm::REPLACES_PLATFORM_BLAS,
        calls: mlxn_sys::cpu_gemm::calls() as f64,
        half_calls: mlxn_sys::cpu_half_gemm::calls() as f64,
    }
}

#[napi(object)]
pub struct CpuGemmStatus {
    pub replaces_blas: bool,
    pub calls: f64,
    pub half_calls: f64,
}

#[napi(catch_unwind)]
pub fn tensordot(a: JsArray, b: JsArray, axes_a: Vec<i32>, axes_b: Vec<i32>) -> Result<JsArray> {
    ret(ffi::tensordot(a.raw()?, b.raw()?, &axes_a, &axes_b))
}

#[napi(js_name = "tensordotN", catch_unwind)]
pub fn tensordot_n(a: JsArray, b: JsArray, n: i32) -> Result<JsArray> {
    ret(ffi::tensordot_n(a.raw()?, b.raw()?, n))
}

#[napi(catch_unwind)]
pub fn einsum(subscripts: String, operands: Vec<JsArray>) -> Result<JsArray> {
    ret(ffi::einsum(&subscripts, &*list_arg(&operands)?))
}

/// `ordKind`: 0 = default norm, 1 = numeric `ord`, 2 = named `ordName` ('fro', 'nuc').
#[napi(js_name = "linalgNorm", catch_unwind)]
pub fn linalg_norm(a: JsArray, ord_kind: u8, ord: f64, ord_name: String, axes: Option<Vec<i32>>, keepdims: bool) -> Result<JsArray> {
    let has_axes = axes.is_some();
    ret(ffi::linalg_norm(a.raw()?, ord_kind, ord, &ord_name, &axes.unwrap_or_default(), has_axes, keepdims))
}

#[napi(js_name = "linalgUnary", catch_unwind)]
pub fn linalg_unary(op: u8, a: JsArray) -> Result<JsArray> {
    ret(ffi::linalg_unary(LinalgOp { repr: op }, a.raw()?))
}

#[napi(js_name = "linalgQr", catch_unwind)]
pub fn linalg_qr(a: JsArray) -> Result<Vec<JsArray>> {
    ret_list(ffi::linalg_qr(a.raw()?))
}

#[napi(js_name = "linalgSvd", catch_unwind)]
pub fn linalg_svd(a: JsArray, compute_uv: bool) -> Result<Vec<JsArray>> {
    ret_list(ffi::linalg_svd(a.raw()?, compute_uv))
}

#[napi(js_name = "linalgEigh", catch_unwind)]
pub fn linalg_eigh(a: JsArray, uplo: String) -> Result<Vec<JsArray>> {
    ret_list(ffi::linalg_eigh(a.raw()?, &uplo))
}

#[napi(js_name = "linalgSolve", catch_unwind)]
pub fn linalg_solve(a: JsArray, b: JsArray) -> Result<JsArray> {
    ret(ffi::linalg_solve(a.raw()?, b.raw()?))
}

#[napi(catch_unwind)]
pub fn fft(op: u8, a: JsArray, n: Option<Vec<i32>>, axes: Option<Vec<i32>>) -> Result<JsArray> {
    let (has_n, has_axes) = (n.is_some(), axes.is_some());
    ret(ffi::fft(FftOp { repr: op }, a.raw()?, &n.unwrap_or_default(), has_n, &axes.unwrap_or_default(), has_axes))
}

// ---- random (keys are explicit: @mlxn/core owns the global key sequence) -------------

#[napi(js_name = "randomKey", catch_unwind)]
pub fn random_key(seed: napi::bindgen_prelude::BigInt) -> Result<JsArray> {
    let (_, v, _) = seed.get_u64();
    ret(ffi::random_key(v))
}

#[napi(js_name = "randomSplit", catch_unwind)]
pub fn random_split(key: JsArray, num: i32) -> Result<JsArray> {
    ret(ffi::random_split(key.raw()?, num))
}

#[napi(js_name = "randomBits", catch_unwind)]
pub fn random_bits(shape: Vec<i32>, width: i32, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_bits(&shape, width, key.raw()?))
}

#[napi(js_name = "randomUniform", catch_unwind)]
pub fn random_uniform(low: JsArray, high: JsArray, shape: Vec<i32>, dtype: u8, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_uniform(low.raw()?, high.raw()?, &shape, dtype, key.raw()?))
}

#[napi(js_name = "randomNormal", catch_unwind)]
pub fn random_normal(shape: Vec<i32>, dtype: u8, loc: JsArray, scale: JsArray, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_normal(&shape, dtype, loc.raw()?, scale.raw()?, key.raw()?))
}

#[napi(js_name = "randomRandint", catch_unwind)]
pub fn random_randint(low: JsArray, high: JsArray, shape: Vec<i32>, dtype: u8, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_randint(low.raw()?, high.raw()?, &shape, dtype, key.raw()?))
}

#[napi(js_name = "randomBernoulli", catch_unwind)]
pub fn random_bernoulli(p: JsArray, shape: Option<Vec<i32>>, key: JsArray) -> Result<JsArray> {
    let has = shape.is_some();
    ret(ffi::random_bernoulli(p.raw()?, &shape.unwrap_or_default(), has, key.raw()?))
}

#[napi(js_name = "randomTruncatedNormal", catch_unwind)]
pub fn random_truncated_normal(lower: JsArray, upper: JsArray, shape: Option<Vec<i32>>, dtype: u8, key: JsArray) -> Result<JsArray> {
    let has = shape.is_some();
    ret(ffi::random_truncated_normal(lower.raw()?, upper.raw()?, &shape.unwrap_or_default(), has, dtype, key.raw()?))
}

#[napi(js_name = "randomGumbel", catch_unwind)]
pub fn random_gumbel(shape: Vec<i32>, dtype: u8, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_gumbel(&shape, dtype, key.raw()?))
}

#[napi(js_name = "randomCategorical", catch_unwind)]
pub fn random_categorical(logits: JsArray, axis: i32, shape: Option<Vec<i32>>, num_samples: i32, key: JsArray) -> Result<JsArray> {
    let has = shape.is_some();
    ret(ffi::random_categorical(logits.raw()?, axis, &shape.unwrap_or_default(), has, num_samples, key.raw()?))
}

#[napi(js_name = "randomPermutation", catch_unwind)]
pub fn random_permutation(x: JsArray, axis: i32, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_permutation(x.raw()?, axis, key.raw()?))
}

#[napi(js_name = "randomPermutationN", catch_unwind)]
pub fn random_permutation_n(n: i32, key: JsArray) -> Result<JsArray> {
    ret(ffi::random_permutation_n(n, key.raw()?))
}

// ---- fast kernels and quantization ---------------------------------------------------
// SAFETY (all unsafe calls below): optional pointers come from JsArray borrows that live
// for the duration of the call.

#[napi(js_name = "fastRmsNorm", catch_unwind)]
pub fn fast_rms_norm(x: JsArray, weight: Option<JsArray>, eps: f64) -> Result<JsArray> {
    ret(unsafe { ffi::fast_rms_norm(x.raw()?, opt_ptr(weight)?, eps as f32) })
}

#[napi(js_name = "fastLayerNorm", catch_unwind)]
pub fn fast_layer_norm(x: JsArray, weight: Option<JsArray>, bias: Option<JsArray>, eps: f64) -> Result<JsArray> {
    ret(unsafe { ffi::fast_layer_norm(x.raw()?, opt_ptr(weight)?, opt_ptr(bias)?, eps as f32) })
}

#[napi(js_name = "fastRope", catch_unwind)]
pub fn fast_rope(
    x: JsArray,
    dims: i32,
    traditional: bool,
    base: Option<f64>,
    scale: f64,
    offset: JsArray,
    freqs: Option<JsArray>,
) -> Result<JsArray> {
    let settings = ffi::RopeSettings { dims, traditional, base: base.unwrap_or(0.0) as f32, has_base: base.is_some(), scale: scale as f32 };
    ret(unsafe { ffi::fast_rope(x.raw()?, &settings, offset.raw()?, opt_ptr(freqs)?) })
}

#[napi(js_name = "fastSdpa", catch_unwind)]
pub fn fast_sdpa(
    q: JsArray,
    k: JsArray,
    v: JsArray,
    scale: f64,
    mask_mode: String,
    mask: Option<JsArray>,
    sinks: Option<JsArray>,
) -> Result<JsArray> {
    ret(unsafe { ffi::fast_sdpa(q.raw()?, k.raw()?, v.raw()?, scale as f32, &mask_mode, opt_ptr(mask)?, opt_ptr(sinks)?) })
}

#[napi(catch_unwind)]
pub fn quantize(w: JsArray, group_size: i32, bits: i32, mode: String) -> Result<Vec<JsArray>> {
    ret_list(ffi::quantize(w.raw()?, group_size, bits, &mode))
}

#[napi(catch_unwind)]
pub fn dequantize(
    w: JsArray,
    scales: JsArray,
    biases: Option<JsArray>,
    group_size: i32,
    bits: i32,
    mode: String,
    dtype: Option<u8>,
) -> Result<JsArray> {
    let matrix = ffi::QuantizedMatrix { w: w.raw()?, scales: scales.raw()?, biases: opt_ptr(biases)?, group_size, bits, mode: &mode };
    ret(unsafe { ffi::dequantize(&matrix, dtype.unwrap_or(0), dtype.is_some()) })
}

#[napi(js_name = "quantizedMatmul", catch_unwind)]
#[allow(clippy::too_many_arguments, reason = "MLX's own parameter list, exported one to one for @mlxn/core to wrap")]
pub fn quantized_matmul(
    x: JsArray,
    w: JsArray,
    scales: JsArray,
    biases: Option<JsArray>,
    transpose: bool,
    group_size: i32,
    bits: i32,
    mode: String,
) -> Result<JsArray> {
    let matrix = ffi::QuantizedMatrix { w: w.raw()?, scales: scales.raw()?, biases: opt_ptr(biases)?, group_size, bits, mode: &mode };
    ret(unsafe { ffi::quantized_matmul(x.raw()?, &matrix, transpose) })
}

#[napi(js_name = "gatherMm", catch_unwind)]
pub fn gather_mm(a: JsArray, b: JsArray, lhs: Option<JsArray>, rhs: Option<JsArray>, sorted: bool) -> Result<JsArray> {
    ret(unsafe { ffi::gather_mm(a.raw()?, b.raw()?, opt_ptr(lhs)?, opt_ptr(rhs)?, sorted) })
}

#[napi(js_name = "gatherQmm", catch_unwind)]
#[allow(clippy::too_many_arguments, reason = "MLX's own parameter list, exported one to one for @mlxn/core to wrap")]
pub fn gather_qmm(
    x: JsArray,
    w: JsArray,
    scales: JsArray,
    biases: Option<JsArray>,
    lhs: Option<JsArray>,
    rhs: Option<JsArray>,
    transpose: bool,
    group_size: i32,
    bits: i32,
    mode: String,
    sorted: bool,
) -> Result<JsArray> {
    let matrix = ffi::QuantizedMatrix { w: w.raw()?, scales: scales.raw()?, biases: opt_ptr(biases)?, group_size, bits, mode: &mode };
    ret(unsafe { ffi::gather_qmm(x.raw()?, &matrix, opt_ptr(lhs)?, opt_ptr(rhs)?, transpose, sorted) })
}
