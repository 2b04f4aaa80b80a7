//! The decoder layer's fused CUDA kernels (mlxn-sys `shim/gpu_fused.cc` and, for a decoding
//! step's few rows, `shim/gpu_fused_rows.cc`), each with the separate MLX ops it replaces as the
//! fallback.
//!
//! On a GPU a decoding step of a small model costs what the host spends encoding its graph's
//! nodes, more than the device spends running them: on an H100's host about 2 µs per MLX
//! element-wise kernel, 10 per cuBLAS product, under one per view, and for a kernel of ours 2.4 µs
//! plus 0.2 µs per KB of its PTX, which MLX hashes on every call (docs/benchmarks.md, fourteenth
//! session; shim/gpu_kernel_by_name.cc hands MLX a short name for the PTX instead). So a
//! kernel of ours pays where it replaces two or more. Per layer the q/k norms and rotary
//! embeddings become one kernel that also lays out v's heads, each residual add with its RMS norm
//! another, and the SwiGLU one that reads the stacked gate/up product in place (no copies of the
//! strided head slices MLX's RMSNorm makes at batch sizes above one, and no views); a decoding
//! step's attention runs as one kernel that reads the caches' buffers in place, under a
//! left-padded batch's mask (where MLX's fused vector attention would fall back to about five
//! kernels) or without one. With a decoding step's few rows (at most 8) the norms also fold into
//! the products that follow them and the SwiGLU into the gate/up product (`Plan::folded`):
//! eight kernels a layer at batch 1 or 2, seven above. They serve decoding
//! steps with caches (where no gradient flows: MLX's custom kernels have none), on a CUDA device,
//! all of them by default (see `DEFAULT`; `MLXN_FUSED_KERNELS` = `0`, `1`, `norms` for all but
//! the attention kernel; `MLXN_FOLD_NORMS=0` keeps the norms out of the products), except the
//! rows product of plain projections (`MLXN_ROWS_PRODUCT=1`, below).
use std::sync::atomic::{AtomicU8, Ordering};

pub use mlxn_core::ffi::QkvSources;
use mlxn_core::ffi::{self, BinaryOp, MlxArray};

use crate::forward::{Ptr, ok};
use crate::forward_desc::{Desc, DescError, NormDesc};

/// The setting when `MLXN_FUSED_KERNELS` is not set: every kernel, checked on H200 and H100
/// machines (tooling/bench/fused-parity.ts: float32 logits within 2.3e-6 of the separate ops)
/// and faster there (batch 1: 1.35 → 1.60× mlx-lm on an H200; a server's batches of 8 padded
/// rows served 3.2× the requests of one at a time on an H100, 2.4× without the attention
/// kernel). The attention kernel waited for this until its compile no longer stalled a
/// process's first padded batch (gpu_kernel_compile.cc).
const DEFAULT: u8 = ON;

/// The setting: off, on (CUDA only), the fused layout with the separate ops in place of the
/// kernels on any device (which lets CPU tests hold the restructured blocks to the plain ones),
/// or the norm and rotary kernels without the masked attention kernel (CUDA only).
pub const OFF: u8 = 0;
pub const ON: u8 = 1;
pub const LAYOUT_ONLY: u8 = 2;
pub const WITHOUT_ATTENTION: u8 = 3;
/// The folded layout (`Plan::folded`) with the separate ops in place of the kernels, on any
/// device (CPU tests hold it to the plain blocks, as LAYOUT_ONLY does the fused layout).
pub const FOLDED_LAYOUT_ONLY: u8 = 4;
const UNSET: u8 = u8::MAX;
static SETTING: AtomicU8 = AtomicU8::new(UNSET);

/// Sets the setting for this process (`qwen3SetFusedKernels`); the environment gives the first.
pub fn set(setting: u8) {
    SETTING.store(setting, Ordering::Relaxed);
}

fn setting() -> u8 {
    match SETTING.load(Ordering::Relaxed) {
        UNSET => {
            let s = match std::env::var("MLXN_FUSED_KERNELS").as_deref() {
                Ok("1") => ON,
                Ok("0") => OFF,
                Ok("norms") => WITHOUT_ATTENTION,
                _ => DEFAULT,
            };
            // A concurrent `set` wins over the environment.
            let _ = SETTING.compare_exchange(UNSET, s, Ordering::Relaxed, Ordering::Relaxed);
            SETTING.load(Ordering::Relaxed)
        }
        s => s,
    }
}

/// How a forward runs its layers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The blocks after the attention norm what follows them (the next layer's input, or the
    /// final norm), so the blocks before it receive their input normed.
    pub layout: bool,
    /// The CUDA kernels run (else the separate ops, in the same layout).
    pub kernels: bool,
    /// A decoding step runs the attention kernel (else MLX's).
    pub attention_kernel: bool,
    /// The Linear projections of a decoding step's few rows run the rows-product kernel (else
    /// MLX's matmul).
    pub rows_product: bool,
    /// Each residual add and RMS norm runs inside the product after it (a decoding step's few
    /// rows; with the kernels, one kernel each): the block before the attention adds the layer
    /// before's MLP output and norms the sum itself, in one kernel with the q/k/v product and
    /// the q/k norms and rotations; the block after it adds and norms in the gate/up product's
    /// kernel and applies the SwiGLU in the down product's. Seven kernels a layer instead of
    /// eleven.
    pub folded: bool,
}

/// The plan for a forward of `length` tokens per row: the fused layout and kernels need caches
/// on every layer and full-width rotary embeddings, and the kernels an input no transformation
/// traces (`hidden`, the embedded tokens): generation takes no gradient, but a user's own loss may
/// run a cached forward under `valueAndGrad`, and MLX's custom kernels have no derivative.
/// Prompts (more than one token) keep the separate ops on a GPU: the kernels cut what the host
/// spends encoding a decoding step, which a prompt's forward does not wait on, and with them a
/// prefill of 2,048 tokens peaked 1.6 GB higher on an H100 (4.56 against 2.96 GB, Qwen3-0.6B
/// shapes; docs/benchmarks.md) at the same speed.
pub fn plan(d: &Desc, hidden: &MlxArray, length: i32) -> Plan {
    let off = Plan { layout: false, kernels: false, attention_kernel: false, rows_product: false, folded: false };
    if d.rope.dims != d.head_dim || !d.layers.iter().all(|l| l.cache.is_some()) {
        return off;
    }
    let setting = setting();
    if length > 1 && setting != LAYOUT_ONLY && setting != FOLDED_LAYOUT_ONLY {
        return off;
    }
    match setting {
        s @ (ON | WITHOUT_ATTENTION) if ffi::gpu_fused_kernels_usable() && !ffi::is_tracer(hidden) => {
            let rows = i64::from(*ffi::shape(hidden).first().expect("rows of the residual stream"));
            let few_rows = rows <= ROWS_PRODUCT_MAX_ROWS;
            Plan {
                layout: true,
                kernels: true,
                attention_kernel: s == ON,
                rows_product: few_rows && rows_product_enabled(),
                folded: few_rows && folded_enabled(),
            }
        }
        LAYOUT_ONLY => Plan { layout: true, kernels: false, attention_kernel: false, rows_product: false, folded: false },
        FOLDED_LAYOUT_ONLY => Plan { layout: true, kernels: false, attention_kernel: false, rows_product: false, folded: true },
        _ => off,
    }
}

/// Rows a decoding step may have for the rows-product kernel (its limit in shim/gpu_fused_common.h):
/// with more, MLX's matmul on the tensor cores wins on the device's time.
const ROWS_PRODUCT_MAX_ROWS: i64 = 8;

/// `MLXN_ROWS_PRODUCT=1` runs the kernel for the projections the folded kernels leave to MLX
/// (the output projection; every projection unfolded), else MLX's matmul runs them: on an H100
/// the kernel decoded batch 1 no faster (365 against 380 tok/s, thirteenth session in
/// docs/benchmarks.md, before the PTX was handed over by name). The folded layout always runs the
/// down projection through it, with the SwiGLU before it.
fn rows_product_enabled() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| std::env::var("MLXN_ROWS_PRODUCT").as_deref() == Ok("1"))
}

/// Whether the norms fold into the products (`Plan::folded`): by default (on an H100 batch 1
/// decoded at 637–652 against 577–582 tok/s unfolded, docs/benchmarks.md); `MLXN_FOLD_NORMS=0`
/// keeps them separate.
fn folded_enabled() -> bool {
    static SET: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SET.get_or_init(|| std::env::var("MLXN_FOLD_NORMS").as_deref() != Ok("0"))
}

/// `x · wᵀ` for a decoding step's few rows of `x` and a Linear's `[out, in]` weight, in one
/// kernel; with `swiglu`, `silu(gate) · up` of x's two halves `[rows, gate | up]` in place of x
/// (the SwiGLU and the down projection in one). `None` when the shapes or dtypes are not ones
/// it takes.
pub fn rows_product(x: &MlxArray, w: &MlxArray, swiglu: bool) -> Result<Option<Ptr>, DescError> {
    ok_optional(ffi::gpu_rows_product(x, w, swiglu))
}

/// `(s, rms_norm(s) · wᵀ)` for `s = residual + delta` (the residual alone without a delta), a
/// decoding step's few rows and a Linear's `[out, in]` weight, in one kernel (the add and the
/// norm fold into the product that follows them); with `swiglu`, `w` stacks `[gate | up]` and
/// the product's place holds `silu(gate) · up` (the activation folds in too). `None` when the
/// shapes or dtypes are not ones it takes.
pub fn norm_product(
    residual: &MlxArray,
    delta: Option<&MlxArray>,
    norm: &NormDesc,
    w: &MlxArray,
    swiglu: bool,
) -> Result<Option<(Ptr, Ptr)>, DescError> {
    let d = delta.map_or(std::ptr::null(), |d| d as *const MlxArray);
    // SAFETY: the delta pointer is null or a live array for this call.
    let Some(outs) = ok_list(unsafe { ffi::gpu_norm_product(residual, d, norm.weight, norm.eps as f32, w, swiglu) })? else {
        return Ok(None);
    };
    let mut it = outs.into_iter();
    Ok(Some((it.next().expect("the sum"), it.next().expect("the product"))))
}

/// What follows the q/k/v product for the heads: q's and k's RMS norms, the position they are
/// rotated at, and the model (its heads and rotary embedding).
pub struct QkHeads<'a> {
    pub q_norm: &'a NormDesc<'a>,
    pub k_norm: &'a NormDesc<'a>,
    pub offset: &'a MlxArray,
    pub desc: &'a Desc<'a>,
}

impl<'a> QkHeads<'a> {
    /// The same, as the kernels take it.
    fn kernel_settings(&self) -> ffi::QkHeadsSettings<'a> {
        let (d, r) = (self.desc, &self.desc.rope);
        ffi::QkHeadsSettings {
            n_q: d.n_heads,
            n_k: d.n_kv_heads,
            head_dim: d.head_dim,
            q_weight: self.q_norm.weight,
            q_eps: self.q_norm.eps as f32,
            k_weight: self.k_norm.weight,
            k_eps: self.k_norm.eps as f32,
            offset: self.offset,
            traditional: r.traditional,
            base: r.base as f32,
            scale: r.scale as f32,
        }
    }
}

/// A decoding step's `(s, [q, k, v])` in one kernel: `s` as `norm_product` makes it, its input
/// norm, the stacked q|k|v product `w` and what `qkv_heads` does after it. `None` when the
/// shapes or dtypes are not ones it takes.
pub fn norm_qkv_heads(
    residual: &MlxArray,
    delta: Option<&MlxArray>,
    input_norm: &NormDesc,
    w: &MlxArray,
    heads: &QkHeads,
) -> Result<Option<(Ptr, [Ptr; 3])>, DescError> {
    let dp = delta.map_or(std::ptr::null(), |d| d as *const MlxArray);
    let settings = heads.kernel_settings();
    // SAFETY: the delta pointer is null or a live array for this call.
    let Some(outs) = ok_list(unsafe { ffi::gpu_norm_qkv_heads(residual, dp, input_norm.weight, input_norm.eps as f32, w, &settings) })?
    else {
        return Ok(None);
    };
    let mut it = outs.into_iter();
    let sum = it.next().expect("the sum");
    Ok(Some((sum, [it.next().expect("q"), it.next().expect("k"), it.next().expect("v")])))
}

fn same_float_dtype(arrays: &[&MlxArray]) -> bool {
    use mlxn_core::Dtype;
    let t = ffi::dtype(arrays[0]);
    let float = [Dtype::Float32.code(), Dtype::Float16.code(), Dtype::Bfloat16.code()];
    float.contains(&t) && arrays.iter().all(|a| ffi::dtype(a) == t)
}

/// `(residual + delta, rms_norm(residual + delta))`, as one kernel when `kernel` and the shapes
/// and dtypes allow it.
pub fn add_norm(residual: &MlxArray, delta: &MlxArray, norm: &NormDesc, kernel: bool) -> Result<(Ptr, Ptr), DescError> {
    if kernel
        && same_float_dtype(&[residual, delta, norm.weight])
        && let Some(outs) = ok_list(ffi::gpu_add_rms_norm(residual, delta, norm.weight, norm.eps as f32))?
    {
        let mut it = outs.into_iter();
        return Ok((it.next().expect("the sum"), it.next().expect("the normed sum")));
    }
    let sum = ok(ffi::binary(BinaryOp::Add, residual, delta))?;
    // SAFETY: the weight is a live array for this call.
    let normed = ok(unsafe { ffi::fast_rms_norm(&sum, norm.weight as *const MlxArray, norm.eps as f32) })?;
    Ok((sum, normed))
}

/// q and k normed and rotated, and v, as `[B, heads, L, headDim]`, in one kernel; `None` when
/// the shapes or dtypes do not allow it (the caller then runs the separate ops).
pub fn qkv_heads(src: &QkvSources<'_>, heads: &QkHeads, b: i32, l: i32) -> Result<Option<[Ptr; 3]>, DescError> {
    let int32 = crate::forward_desc::dtype_code_int32();
    if !same_float_dtype(&[src.q, src.k, src.v, heads.q_norm.weight, heads.k_norm.weight]) || ffi::dtype(heads.offset) != int32 {
        return Ok(None);
    }
    let Some(outs) = ok_list(ffi::gpu_qkv_heads(src, b, l, &heads.kernel_settings()))? else {
        return Ok(None);
    };
    let mut it = outs.into_iter();
    Ok(Some([it.next().expect("q"), it.next().expect("k"), it.next().expect("v")]))
}

/// `silu(gate) · up` of the stacked `[rows, gate | up]` product in one kernel; `None` when the
/// shape or dtype is not one it takes.
pub fn swiglu_halves(gate_up: &MlxArray) -> Result<Option<Ptr>, DescError> {
    ok_optional(ffi::gpu_swiglu_halves(gate_up))
}

/// Keys past which a decoding step without a mask keeps MLX's fused vector attention: this
/// kernel runs one block per row and query head, and MLX's splits long key ranges over more
/// blocks (with few rows, most of the GPU would idle while one block reads a long cache).
pub const UNMASKED_ATTENTION_MAX_KEYS: i32 = 1024;

/// A decoding step's attention as one kernel, over the first `length` positions of the key and
/// value buffers `k` and `v`, under `mask` (a left-padded batch) or none: the output as rows
/// `[B, heads · headDim]`; `None` when the shapes or dtypes are not ones it takes.
pub fn decode_attention(
    q: &MlxArray,
    k: &MlxArray,
    v: &MlxArray,
    length: i32,
    mask: Option<&MlxArray>,
    scale: f64,
) -> Result<Option<Ptr>, DescError> {
    let m = mask.map_or(std::ptr::null(), |m| m as *const MlxArray);
    // SAFETY: the mask pointer is null or a live array for this call.
    ok_optional(unsafe { ffi::gpu_decode_attention(q, k, v, m, length, scale as f32) })
}

/// The kernel's output; `None` for a null array (shapes the kernel does not take).
fn ok_optional(r: Result<Ptr, cxx::Exception>) -> Result<Option<Ptr>, DescError> {
    let out = ok(r)?;
    Ok((!out.is_null()).then_some(out))
}

/// The kernel's outputs; `None` for a null list (shapes the kernel does not take).
fn ok_list(r: Result<cxx::UniquePtr<ffi::ArrayList>, cxx::Exception>) -> Result<Option<Vec<Ptr>>, DescError> {
    let list = ok(r)?;
    if list.is_null() {
        return Ok(None);
    }
    Ok(Some((0..ffi::list_len(&list)).map(|i| ffi::list_get(&list, i)).collect()))
}
