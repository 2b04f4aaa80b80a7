//! The only crate that touches MLX C++. A `cxx` bridge over a thin C++ shim
//! (`src/shim/*.cc`). Every shim call that can throw returns `Result`: cxx catches the C++
//! exception and hands its message over as `cxx::Exception`, so no input can abort the process.
//!
//! Ops are grouped by signature and selected by shared enums (`UnaryOp`, `BinaryOp`, ...)
//! instead of one bridged function per op: the surface stays small, and dispatch is a switch.
//! Optional array arguments are nullable raw pointers (cxx has no `Option<&T>`). Most calls go
//! through `mlxn-core`'s safe wrappers; the rest reach the bridge directly: `mlxn-qwen3`'s
//! native forward (through `mlxn_core::ffi`), `mlxn-io`'s checkpoint loaders and the probe.

pub use cxx::{Exception, UniquePtr};

pub mod cpu_attention;
pub mod cpu_attention_blocks;
pub mod cpu_few_rows;
pub mod cpu_gemm;
pub mod cpu_half_gemm;
pub mod cpu_quantized_gemm;
pub mod cpu_quantized_gemv;
pub mod fast_exp;
pub mod float_formats;

/// The MLX version this crate was compiled against (read from MLX's `version.h`).
pub const MLX_VERSION: &str = env!("MLXN_MLX_VERSION");

#[cxx::bridge(namespace = "mlxn")]
#[allow(clippy::missing_safety_doc, reason = "each unsafe call's SAFETY comment, at the caller, says why it holds")]
pub mod ffi {
    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum UnaryOp {
        Abs,
        Negative,
        Sign,
        Sqrt,
        Rsqrt,
        Square,
        Reciprocal,
        Exp,
        Expm1,
        Log,
        Log2,
        Log10,
        Log1p,
        Sin,
        Cos,
        Tan,
        Arcsin,
        Arccos,
        Arctan,
        Sinh,
        Cosh,
        Tanh,
        Arcsinh,
        Arccosh,
        Arctanh,
        Erf,
        Erfinv,
        Sigmoid,
        Floor,
        Ceil,
        LogicalNot,
        BitwiseInvert,
        StopGradient,
        Isnan,
        Isinf,
        Isfinite,
        Isposinf,
        Isneginf,
        Real,
        Imag,
        Conjugate,
        Degrees,
        Radians,
        Copy,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum BinaryOp {
        Add,
        Subtract,
        Multiply,
        Divide,
        FloorDivide,
        Remainder,
        Power,
        Maximum,
        Minimum,
        Equal,
        NotEqual,
        Less,
        LessEqual,
        Greater,
        GreaterEqual,
        LogicalAnd,
        LogicalOr,
        BitwiseAnd,
        BitwiseOr,
        BitwiseXor,
        LeftShift,
        RightShift,
        Arctan2,
        Logaddexp,
        Matmul,
        Inner,
        Outer,
        Kron,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum ReduceOp {
        Sum,
        Mean,
        Prod,
        Max,
        Min,
        All,
        Any,
        Logsumexp,
        Var,
        Std,
        Median,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum ScanOp {
        Cumsum,
        Cumprod,
        Cummax,
        Cummin,
        Logcumsumexp,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum SortOp {
        Sort,
        Argsort,
        Partition,
        Argpartition,
        Topk,
        Argmax,
        Argmin,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum ScatterMode {
        Set,
        Add,
        Prod,
        Max,
        Min,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum LinalgOp {
        Inv,
        Pinv,
        Cholesky,
        CholeskyUpper,
        Det,
        TriInvLower,
        TriInvUpper,
    }

    /// A product of a traced function's derivative with a vector: with cotangents of its
    /// outputs (`Vjp`, reverse mode) or tangents of its inputs (`Jvp`, forward mode).
    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum DerivativeProduct {
        Vjp,
        Jvp,
    }

    #[repr(u8)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum FftOp {
        Fftn,
        Ifftn,
        Rfftn,
        Irfftn,
    }

    /// The operands of `cpu_half_gemm`, `out = x · b (+ bias)` in bfloat16 (`bfloat16` true) or
    /// float16: `x` has `x_rows.len()` rows of `k`, row `i` at `x + x_rows[i]`, elements `x_cs`
    /// apart; `b` is `k × n` with strides `b_rs`, `b_cs`; `bias` is null or `n` elements
    /// `bias_stride` apart; `out` is a contiguous `rows × n`.
    struct CpuHalfGemmArgs<'a> {
        bfloat16: bool,
        x: *const u16,
        x_rows: &'a [i64],
        x_cs: i64,
        b: *const u16,
        b_rs: i64,
        b_cs: i64,
        bias: *const u16,
        bias_stride: i64,
        out: *mut u16,
        k: usize,
        n: usize,
    }

    /// An evaluated array as a CPU kernel reads it: its first element and its element strides,
    /// one per dimension.
    struct StridedInput<'a> {
        data: *const u8,
        strides: &'a [i64],
    }

    /// The operands of `cpu_quantized_gemm`, `out = x · dequantize(w)ᵀ`: `dtype` 0 float32,
    /// 1 bfloat16, 2 float16 (of x, scales, biases and out); `x` as in `CpuHalfGemmArgs`; `w`
    /// (`u32` words), `scales`, `biases` 2-D.
    struct CpuQuantizedGemmArgs<'a> {
        dtype: u8,
        x: *const u8,
        x_rows: &'a [i64],
        x_cs: i64,
        w: StridedInput<'a>,
        scales: StridedInput<'a>,
        biases: StridedInput<'a>,
        out: *mut u8,
        k: usize,
        n: usize,
        bits: u32,
        group_size: usize,
    }

    /// The operands of `cpu_attention`: `dtype` 0 float32, 1 bfloat16, 2 float16; `mask_kind`
    /// 0 none, 1 causal, 2 boolean array, 3 additive array; each operand 4-D; `dims` = batch,
    /// heads, kv_heads, queries, keys, d, dv; `out` contiguous.
    struct CpuAttentionArgs<'a> {
        dtype: u8,
        q: StridedInput<'a>,
        k: StridedInput<'a>,
        v: StridedInput<'a>,
        mask_kind: u8,
        mask: StridedInput<'a>,
        out: *mut u8,
        dims: &'a [usize],
        scale: f32,
    }

    /// A quantized matrix as MLX's quantization ops take it: the packed `w`, its `scales` and
    /// `biases` (null in modes without them), and how it was quantized (`group_size` and `bits`
    /// 0 for the mode's defaults).
    struct QuantizedMatrix<'a> {
        w: &'a MlxArray,
        scales: &'a MlxArray,
        biases: *const MlxArray,
        group_size: i32,
        bits: i32,
        mode: &'a str,
    }

    /// A rotary embedding's settings (`fast_rope`): the first `dims` features of each head
    /// rotated, `traditional` pairing, the frequencies' `base` (MLX's default where `has_base`
    /// is false; explicit frequencies take its place) and the positions' `scale`.
    struct RopeSettings {
        dims: i32,
        traditional: bool,
        base: f32,
        has_base: bool,
        scale: f32,
    }

    /// Where q, k and v start in the rows of the q/k/v projections' outputs (`[B·L, width]`
    /// each, or one stacked product three times): the columns `q_col`, `k_col`, `v_col` on.
    struct QkvSources<'a> {
        q: &'a MlxArray,
        q_col: i64,
        k: &'a MlxArray,
        k_col: i64,
        v: &'a MlxArray,
        v_col: i64,
    }

    /// What the fused q/k/v kernels do to the heads after the product: `n_q` query and `n_k`
    /// key/value heads of `head_dim`; q's and k's RMS-normed (`q_weight`, `q_eps`; `k_weight`,
    /// `k_eps`), then rotated over the whole head (`traditional`, `base`, `scale`) at `offset`
    /// (a scalar, or one position per row).
    struct QkHeadsSettings<'a> {
        n_q: i32,
        n_k: i32,
        head_dim: i32,
        q_weight: &'a MlxArray,
        q_eps: f32,
        k_weight: &'a MlxArray,
        k_eps: f32,
        offset: &'a MlxArray,
        traditional: bool,
        base: f32,
        scale: f32,
    }

    extern "Rust" {
        /// A JS (or Rust) function traced by an MLX transform; implemented by `mlxn-core`.
        type TraceCallback;
        fn invoke_trace_callback(cb: &mut TraceCallback, inputs: &ArrayList) -> Result<UniquePtr<ArrayList>>;

        /// How many threads MLX's float32/float64 CPU products may use (cpu_gemm.rs).
        fn cpu_gemm_set_threads(threads: i32);
        /// Whether those products run in cpu_gemm.rs rather than the platform's BLAS.
        fn cpu_gemm_replaces_blas() -> bool;
        /// `out = x · b (+ bias)` in bfloat16 or float16 (cpu_half_gemm.rs).
        unsafe fn cpu_half_gemm<'a>(args: &CpuHalfGemmArgs<'a>);
        /// `out = x · dequantize(w)ᵀ` for affine `bits`-bit weights (cpu_quantized_gemm.rs).
        unsafe fn cpu_quantized_gemm<'a>(args: &CpuQuantizedGemmArgs<'a>);
        /// Attention for a few queries (cpu_attention.rs).
        unsafe fn cpu_attention<'a>(args: &CpuAttentionArgs<'a>);
    }

    unsafe extern "C++" {
        include!("mlxn-sys/src/shim/shim.h");

        /// An `mlx::core::array` (a cheap, reference-counted handle to a lazy graph node).
        type MlxArray;
        /// A `std::vector<mlx::core::array>`, used for multi-input and multi-output calls.
        type ArrayList;
        /// An `mlx::core::distributed::Group`: the processes of one distributed job (or a split).
        type MlxGroup;

        // ---- lists -------------------------------------------------------------------
        fn list_new() -> UniquePtr<ArrayList>;
        fn list_push(list: Pin<&mut ArrayList>, a: &MlxArray);
        fn list_len(list: &ArrayList) -> usize;
        fn list_get(list: &ArrayList, i: usize) -> UniquePtr<MlxArray>;

        // ---- construction and metadata -----------------------------------------------
        fn from_bytes(data: &[u8], shape: &[i32], dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn scalar(value: f64, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn scalar_int(value: i64, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn clone_array(a: &MlxArray) -> UniquePtr<MlxArray>;
        fn shape(a: &MlxArray) -> Vec<i32>;
        fn dtype(a: &MlxArray) -> u8;
        fn size(a: &MlxArray) -> usize;
        fn ndim(a: &MlxArray) -> usize;
        fn nbytes(a: &MlxArray) -> usize;
        fn owned_nbytes(a: &MlxArray) -> usize;
        fn itemsize(a: &MlxArray) -> usize;
        fn array_id(a: &MlxArray) -> usize;
        fn describe(a: &MlxArray) -> Result<String>;
        fn graph_ops(list: &ArrayList) -> String;

        // ---- evaluation --------------------------------------------------------------
        fn eval(list: &ArrayList) -> Result<()>;
        fn async_eval(list: &ArrayList) -> Result<()>;
        // Result: MLX's `is_available` rethrows (once) an error that asynchronous evaluation
        // stored in the array's event; as a plain `bool` cxx would call std::terminate.
        fn is_available(a: &MlxArray) -> Result<bool>;
        fn wait(a: &MlxArray) -> Result<()>;
        /// Evaluates `a` and returns a row-contiguous array holding the same values.
        fn materialize(a: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        /// The first byte of an evaluated, row-contiguous array (null if unevaluated).
        unsafe fn data_ptr(a: &MlxArray) -> *const u8;

        // ---- elementwise, reductions, scans, sorting ---------------------------------
        fn unary(op: UnaryOp, a: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn binary(op: BinaryOp, a: &MlxArray, b: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn binary_scalar(op: BinaryOp, a: &MlxArray, value: f64, scalar_dtype: u8, scalar_first: bool) -> Result<UniquePtr<MlxArray>>;
        fn divmod(a: &MlxArray, b: &MlxArray) -> Result<UniquePtr<ArrayList>>;
        fn round(a: &MlxArray, decimals: i32) -> Result<UniquePtr<MlxArray>>;
        fn reduce(op: ReduceOp, a: &MlxArray, axes: &[i32], all_axes: bool, keepdims: bool, ddof: i32) -> Result<UniquePtr<MlxArray>>;
        fn scan(op: ScanOp, a: &MlxArray, axis: i32, all_axes: bool, reverse: bool, inclusive: bool) -> Result<UniquePtr<MlxArray>>;
        fn sort_op(op: SortOp, a: &MlxArray, axis: i32, all_axes: bool, kth: i32, keepdims: bool) -> Result<UniquePtr<MlxArray>>;
        fn softmax(a: &MlxArray, axes: &[i32], all_axes: bool, precise: bool) -> Result<UniquePtr<MlxArray>>;
        unsafe fn clip(a: &MlxArray, lo: *const MlxArray, hi: *const MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn where_(cond: &MlxArray, x: &MlxArray, y: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn astype(a: &MlxArray, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn view_as(a: &MlxArray, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn nan_to_num(a: &MlxArray, nan: f64, posinf: f64, has_posinf: bool, neginf: f64, has_neginf: bool) -> Result<UniquePtr<MlxArray>>;
        fn isclose(a: &MlxArray, b: &MlxArray, rtol: f64, atol: f64, equal_nan: bool) -> Result<UniquePtr<MlxArray>>;
        fn array_equal(a: &MlxArray, b: &MlxArray, equal_nan: bool) -> Result<UniquePtr<MlxArray>>;

        // ---- creation ----------------------------------------------------------------
        fn full(shape: &[i32], value: &MlxArray, dtype: u8, has_dtype: bool) -> Result<UniquePtr<MlxArray>>;
        fn arange(start: f64, stop: f64, step: f64, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn linspace(start: f64, stop: f64, num: i32, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn eye(n: i32, m: i32, k: i32, dtype: u8) -> Result<UniquePtr<MlxArray>>;
        fn tri(n: i32, m: i32, k: i32, dtype: u8) -> Result<UniquePtr<MlxArray>>;

        // ---- shapes ------------------------------------------------------------------
        fn reshape(a: &MlxArray, shape: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn flatten(a: &MlxArray, start: i32, end: i32) -> Result<UniquePtr<MlxArray>>;
        fn squeeze(a: &MlxArray, axes: &[i32], all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn expand_dims(a: &MlxArray, axes: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn transpose(a: &MlxArray, axes: &[i32], all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn swapaxes(a: &MlxArray, axis1: i32, axis2: i32) -> Result<UniquePtr<MlxArray>>;
        fn moveaxis(a: &MlxArray, source: i32, destination: i32) -> Result<UniquePtr<MlxArray>>;
        fn broadcast_to(a: &MlxArray, shape: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn concatenate(list: &ArrayList, axis: i32, all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn stack(list: &ArrayList, axis: i32) -> Result<UniquePtr<MlxArray>>;
        fn split_sections(a: &MlxArray, sections: i32, axis: i32) -> Result<UniquePtr<ArrayList>>;
        fn split_at(a: &MlxArray, indices: &[i32], axis: i32) -> Result<UniquePtr<ArrayList>>;
        fn tile(a: &MlxArray, reps: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn repeat(a: &MlxArray, repeats: i32, axis: i32, all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn pad(a: &MlxArray, axes: &[i32], low: &[i32], high: &[i32], value: &MlxArray, mode: &str) -> Result<UniquePtr<MlxArray>>;
        fn roll(a: &MlxArray, shift: &[i32], axes: &[i32], all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn tril(a: &MlxArray, k: i32) -> Result<UniquePtr<MlxArray>>;
        fn triu(a: &MlxArray, k: i32) -> Result<UniquePtr<MlxArray>>;
        fn diagonal(a: &MlxArray, offset: i32, axis1: i32, axis2: i32) -> Result<UniquePtr<MlxArray>>;
        fn diag(a: &MlxArray, k: i32) -> Result<UniquePtr<MlxArray>>;
        fn flip(a: &MlxArray, axes: &[i32], all_axes: bool) -> Result<UniquePtr<MlxArray>>;

        // ---- indexing ----------------------------------------------------------------
        fn slice(a: &MlxArray, start: &[i32], stop: &[i32], strides: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn slice_update(src: &MlxArray, update: &MlxArray, start: &[i32], stop: &[i32], strides: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn transposed_leaf(w: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn take(a: &MlxArray, indices: &MlxArray, axis: i32, all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn take_along_axis(a: &MlxArray, indices: &MlxArray, axis: i32, all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn put_along_axis(a: &MlxArray, indices: &MlxArray, values: &MlxArray, axis: i32, all_axes: bool) -> Result<UniquePtr<MlxArray>>;
        fn gather(a: &MlxArray, indices: &ArrayList, axes: &[i32], slice_sizes: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn scatter(mode: ScatterMode, a: &MlxArray, indices: &ArrayList, updates: &MlxArray, axes: &[i32]) -> Result<UniquePtr<MlxArray>>;

        // ---- linear algebra, contractions, fft ---------------------------------------
        fn addmm(c: &MlxArray, a: &MlxArray, b: &MlxArray, alpha: f32, beta: f32) -> Result<UniquePtr<MlxArray>>;
        /// `x · Wᵀ (+ bias)` with `w` as `[N, K]` (or `[K, N]` when `w_transposed`); large CPU
        /// products are split over CPU streams (shim/linear.cc).
        unsafe fn linear_product(x: &MlxArray, w: &MlxArray, bias: *const MlxArray, w_transposed: bool) -> Result<UniquePtr<MlxArray>>;
        fn set_cpu_matmul_threads(threads: i32) -> Result<()>;
        fn cpu_matmul_threads() -> i32;
        fn tensordot(a: &MlxArray, b: &MlxArray, axes_a: &[i32], axes_b: &[i32]) -> Result<UniquePtr<MlxArray>>;
        fn tensordot_n(a: &MlxArray, b: &MlxArray, n: i32) -> Result<UniquePtr<MlxArray>>;
        fn einsum(subscripts: &str, operands: &ArrayList) -> Result<UniquePtr<MlxArray>>;
        fn linalg_norm(
            a: &MlxArray,
            ord_kind: u8,
            ord: f64,
            ord_name: &str,
            axes: &[i32],
            has_axes: bool,
            keepdims: bool,
        ) -> Result<UniquePtr<MlxArray>>;
        fn linalg_unary(op: LinalgOp, a: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn linalg_qr(a: &MlxArray) -> Result<UniquePtr<ArrayList>>;
        fn linalg_svd(a: &MlxArray, compute_uv: bool) -> Result<UniquePtr<ArrayList>>;
        fn linalg_eigh(a: &MlxArray, uplo: &str) -> Result<UniquePtr<ArrayList>>;
        fn linalg_solve(a: &MlxArray, b: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn fft(op: FftOp, a: &MlxArray, n: &[i32], has_n: bool, axes: &[i32], has_axes: bool) -> Result<UniquePtr<MlxArray>>;

        // ---- random (explicit keys; the global key sequence lives in @mlxn/core) -----
        fn random_key(seed: u64) -> Result<UniquePtr<MlxArray>>;
        fn random_split(key: &MlxArray, num: i32) -> Result<UniquePtr<MlxArray>>;
        fn random_bits(shape: &[i32], width: i32, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_uniform(low: &MlxArray, high: &MlxArray, shape: &[i32], dtype: u8, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_normal(shape: &[i32], dtype: u8, loc: &MlxArray, scale: &MlxArray, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_randint(low: &MlxArray, high: &MlxArray, shape: &[i32], dtype: u8, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_bernoulli(p: &MlxArray, shape: &[i32], has_shape: bool, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_truncated_normal(
            lower: &MlxArray,
            upper: &MlxArray,
            shape: &[i32],
            has_shape: bool,
            dtype: u8,
            key: &MlxArray,
        ) -> Result<UniquePtr<MlxArray>>;
        fn random_gumbel(shape: &[i32], dtype: u8, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_categorical(
            logits: &MlxArray,
            axis: i32,
            shape: &[i32],
            has_shape: bool,
            num_samples: i32,
            key: &MlxArray,
        ) -> Result<UniquePtr<MlxArray>>;
        fn random_permutation(x: &MlxArray, axis: i32, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        fn random_permutation_n(n: i32, key: &MlxArray) -> Result<UniquePtr<MlxArray>>;

        // ---- fast kernels and quantization -------------------------------------------
        unsafe fn fast_rms_norm(x: &MlxArray, weight: *const MlxArray, eps: f32) -> Result<UniquePtr<MlxArray>>;
        unsafe fn fast_layer_norm(x: &MlxArray, weight: *const MlxArray, bias: *const MlxArray, eps: f32) -> Result<UniquePtr<MlxArray>>;
        unsafe fn fast_rope(
            x: &MlxArray,
            settings: &RopeSettings,
            offset: &MlxArray,
            freqs: *const MlxArray,
        ) -> Result<UniquePtr<MlxArray>>;
        /// Whether the default device is a CUDA GPU, where the fused layer kernels below run.
        fn gpu_fused_kernels_usable() -> bool;
        /// Whether the array is traced by a transformation (grad, vmap, compile): custom
        /// kernels have no derivative, so the fused kernels stay out of such graphs.
        fn is_tracer(a: &MlxArray) -> bool;
        /// q and k RMS norms and rotary embeddings, and v's heads, as one CUDA kernel
        /// (shim/gpu_fused.cc): [q, k, v] in [B, heads, L, headDim], read in place from the rows
        /// (`batch` × `seq` of them) of `sources`; null when the shapes or dtypes are not ones it
        /// takes.
        fn gpu_qkv_heads<'a>(sources: &QkvSources<'a>, batch: i32, seq: i32, heads: &QkHeadsSettings<'a>) -> Result<UniquePtr<ArrayList>>;
        /// `[residual + delta, rms_norm(residual + delta)]` as one CUDA kernel (shim/gpu_fused.cc);
        /// null when the shapes or dtypes are not ones it takes.
        fn gpu_add_rms_norm(residual: &MlxArray, delta: &MlxArray, weight: &MlxArray, eps: f32) -> Result<UniquePtr<ArrayList>>;
        /// `silu(gate) * up` of a `[rows, 2 * half]` product holding gate and up side by side, as
        /// one CUDA kernel (shim/gpu_fused.cc); null when the shape or dtype is not one it takes.
        fn gpu_swiglu_halves(gate_up: &MlxArray) -> Result<UniquePtr<MlxArray>>;
        /// `x · weightᵀ` for a `[rows, in]` x of at most 8 rows and a Linear's `[out, in]` weight
        /// (with `swiglu`, `silu(gate) · up` of a `[rows, gate | up]` x in its place), as one CUDA
        /// kernel (shim/gpu_fused_rows.cc); null when the shapes or dtypes are not ones it takes.
        fn gpu_rows_product(x: &MlxArray, weight: &MlxArray, swiglu: bool) -> Result<UniquePtr<MlxArray>>;
        /// `[s, rms_norm(s) · weightᵀ]` for `s = residual + delta` (or the residual alone where
        /// `delta` is null) of at most 8 rows and a Linear's `[out, in]` weight, as one CUDA kernel
        /// (shim/gpu_fused_rows.cc); with `swiglu` the product's second element is the SwiGLU of
        /// its gate and up halves (`weight` stacks them). Null when the shapes or dtypes are not
        /// ones it takes.
        unsafe fn gpu_norm_product(
            residual: &MlxArray,
            delta: *const MlxArray,
            norm_weight: &MlxArray,
            eps: f32,
            weight: &MlxArray,
            swiglu: bool,
        ) -> Result<UniquePtr<ArrayList>>;
        /// A decoding step's `[s, q, k, v]` as one CUDA kernel (shim/gpu_fused_rows.cc): `s` as
        /// `gpu_norm_product` makes it, its normed rows times the stacked q|k|v weight, then
        /// `heads` as `gpu_qkv_heads` does them, in `[B, heads, 1, headDim]`; null when the
        /// shapes or dtypes are not ones it takes.
        unsafe fn gpu_norm_qkv_heads<'a>(
            residual: &MlxArray,
            delta: *const MlxArray,
            norm_weight: &MlxArray,
            eps: f32,
            weight: &MlxArray,
            heads: &QkHeadsSettings<'a>,
        ) -> Result<UniquePtr<ArrayList>>;
        /// One query per row against the first `length` positions of `[B, kvHeads, capacity,
        /// headDim]` key and value buffers (whole buffers, not views of their first positions:
        /// the kernel copies what is not row-contiguous), under a `[1|B, 1|heads, 1, length]`
        /// bool or additive mask or none (null), as one CUDA kernel (shim/gpu_fused.cc): the
        /// output as rows `[B, heads * headDim]`; null when the shapes or dtypes are not ones it
        /// takes.
        unsafe fn gpu_decode_attention(
            queries: &MlxArray,
            keys: &MlxArray,
            values: &MlxArray,
            mask: *const MlxArray,
            length: i32,
            scale: f32,
        ) -> Result<UniquePtr<MlxArray>>;
        unsafe fn fast_sdpa(
            q: &MlxArray,
            k: &MlxArray,
            v: &MlxArray,
            scale: f32,
            mask_mode: &str,
            mask: *const MlxArray,
            sinks: *const MlxArray,
        ) -> Result<UniquePtr<MlxArray>>;
        fn quantize(w: &MlxArray, group_size: i32, bits: i32, mode: &str) -> Result<UniquePtr<ArrayList>>;
        unsafe fn dequantize<'a>(matrix: &QuantizedMatrix<'a>, dtype: u8, has_dtype: bool) -> Result<UniquePtr<MlxArray>>;
        unsafe fn quantized_matmul<'a>(x: &MlxArray, matrix: &QuantizedMatrix<'a>, transpose: bool) -> Result<UniquePtr<MlxArray>>;
        unsafe fn gather_mm(
            a: &MlxArray,
            b: &MlxArray,
            lhs: *const MlxArray,
            rhs: *const MlxArray,
            sorted: bool,
        ) -> Result<UniquePtr<MlxArray>>;
        unsafe fn gather_qmm<'a>(
            x: &MlxArray,
            matrix: &QuantizedMatrix<'a>,
            lhs: *const MlxArray,
            rhs: *const MlxArray,
            transpose: bool,
            sorted: bool,
        ) -> Result<UniquePtr<MlxArray>>;

        // ---- transforms --------------------------------------------------------------
        fn value_and_grad(
            cb: &mut TraceCallback,
            inputs: &ArrayList,
            argnums: &[i32],
            grads: Pin<&mut ArrayList>,
        ) -> Result<UniquePtr<ArrayList>>;
        /// The function's outputs at `primals`; `products` receives the derivative's products with
        /// `vectors` (cotangents for `Vjp`, tangents for `Jvp`).
        fn derivative_product(
            op: DerivativeProduct,
            cb: &mut TraceCallback,
            primals: &ArrayList,
            vectors: &ArrayList,
            products: Pin<&mut ArrayList>,
        ) -> Result<UniquePtr<ArrayList>>;
        fn vmap(cb: &mut TraceCallback, inputs: &ArrayList, in_axes: &[i32], out_axes: &[i32]) -> Result<UniquePtr<ArrayList>>;
        fn compile_call(cb: &mut TraceCallback, id: usize, shapeless: bool, inputs: &ArrayList) -> Result<UniquePtr<ArrayList>>;
        fn compile_erase(id: usize);
        fn set_compile_enabled(enabled: bool);

        // ---- checkpoint files (lazy readers) -------------------------------------------
        /// Opens a safetensors file lazily; fills `names` (one per returned array) and
        /// `metadata` (flat key, value pairs).
        fn load_safetensors_file(path: &str, names: &mut Vec<String>, metadata: &mut Vec<String>) -> Result<UniquePtr<ArrayList>>;
        /// Opens a GGUF file lazily (string metadata only); an error where MLX lacks GGUF.
        fn load_gguf_file(path: &str, names: &mut Vec<String>, metadata: &mut Vec<String>) -> Result<UniquePtr<ArrayList>>;

        // ---- distributed (distributed.cc) -------------------------------------------
        fn dist_is_available(backend: &str) -> Result<bool>;
        fn dist_init(strict: bool, backend: &str) -> Result<UniquePtr<MlxGroup>>;
        fn dist_rank(g: &MlxGroup) -> i32;
        fn dist_size(g: &MlxGroup) -> i32;
        fn dist_split(g: &MlxGroup, color: i32, key: i32) -> Result<UniquePtr<MlxGroup>>;
        /// `op`: 0 all_sum, 1 all_gather, 2 all_max, 3 all_min, 4 sum_scatter.
        fn dist_collective(op: u8, x: &MlxArray, g: &MlxGroup) -> Result<UniquePtr<MlxArray>>;
        fn dist_send(x: &MlxArray, dst: i32, g: &MlxGroup) -> Result<UniquePtr<MlxArray>>;
        fn dist_recv(shape: &[i32], dtype: u8, src: i32, g: &MlxGroup) -> Result<UniquePtr<MlxArray>>;
        fn dist_recv_like(x: &MlxArray, src: i32, g: &MlxGroup) -> Result<UniquePtr<MlxArray>>;

        // ---- devices, streams, memory ------------------------------------------------
        fn default_device_type() -> i32;
        fn set_default_device(device_type: i32) -> Result<()>;
        fn device_available(device_type: i32) -> bool;
        fn new_stream(device_type: i32) -> Result<i32>;
        fn default_stream_index(device_type: i32) -> Result<i32>;
        fn set_default_stream(device_type: i32, index: i32) -> Result<()>;
        fn synchronize(device_type: i32, index: i32) -> Result<()>;
        fn active_memory() -> usize;
        fn peak_memory() -> usize;
        fn cache_memory() -> usize;
        fn reset_peak_memory();
        fn clear_cache();
        fn set_memory_limit(limit: usize) -> Result<usize>;
        fn set_cache_limit(limit: usize) -> Result<usize>;
        fn set_wired_limit(limit: usize) -> Result<usize>;
        fn mlx_version() -> String;

        // ---- the evaluation thread (eval_thread.cc) -------------------------------------
        /// Makes streams every thread may evaluate the JS thread's defaults (once, at load).
        fn use_shared_streams() -> Result<()>;
        fn shared_streams() -> bool;
        /// Queues an `async_eval` of the arrays on the evaluation thread; returns at once.
        fn eval_thread_schedule(list: &ArrayList) -> Result<()>;
        /// Queues a read after everything queued before it and waits for it: the arrays'
        /// elements in order, as numbers (or the first error since the last read).
        fn eval_thread_read(list: &ArrayList) -> Result<Vec<f64>>;
        /// Queues an `async_eval` of the arrays with copies to read, and returns the ticket
        /// `eval_thread_read_ticket` reads them by (without waiting for later schedules).
        fn eval_thread_schedule_read(list: &ArrayList) -> Result<u64>;
        /// The elements of a ticket's arrays in order, as numbers, once the device has them.
        fn eval_thread_read_ticket(ticket: u64) -> Result<Vec<f64>>;
        /// Drops a ticket that will not be read (after its schedule has run).
        fn eval_thread_forget_ticket(ticket: u64) -> Result<()>;
        /// Waits until the evaluation thread has finished everything queued.
        fn eval_thread_drain() -> Result<()>;
        /// Since the last call: [schedule tasks, their ms, read tasks, their ms, idle ms].
        fn eval_thread_stats() -> Vec<f64>;
    }
}

// The array handles are reference-counted C++ objects whose counts are atomic; moving a
// handle (not sharing &mut) to another thread is how MLX's own Python binding works.
unsafe impl Send for ffi::MlxArray {}
unsafe impl Sync for ffi::MlxArray {}

/// Implemented by `mlxn-core`: the body of a traced function. Kept as a trait object so this
/// crate stays free of Node and of JS details.
pub trait Trace {
    fn call(&mut self, inputs: &ffi::ArrayList) -> Result<UniquePtr<ffi::ArrayList>, String>;
}

/// The opaque callback object handed to C++; wraps whatever implements [`Trace`].
pub struct TraceCallback {
    inner: *mut (dyn Trace + 'static),
}

impl TraceCallback {
    /// # Safety
    /// `inner` must outlive every use of the returned callback. Callers create it on the stack
    /// around one bridged transform call, which only invokes it during that call.
    pub unsafe fn new(inner: &mut dyn Trace) -> Self {
        let ptr: *mut (dyn Trace + '_) = inner;
        Self { inner: unsafe { std::mem::transmute::<*mut (dyn Trace + '_), *mut (dyn Trace + 'static)>(ptr) } }
    }
}

fn cpu_gemm_set_threads(threads: i32) {
    cpu_gemm::set_threads(threads.max(1) as usize);
}

fn cpu_gemm_replaces_blas() -> bool {
    cpu_gemm::REPLACES_PLATFORM_BLAS
}

// The kernels' bridge entries, under the names the `ffi` block declares.
use cpu_attention::bridge as cpu_attention;
use cpu_half_gemm::bridge as cpu_half_gemm;
use cpu_quantized_gemm::bridge as cpu_quantized_gemm;

fn invoke_trace_callback(cb: &mut TraceCallback, inputs: &ffi::ArrayList) -> Result<UniquePtr<ffi::ArrayList>, String> {
    // This runs under MLX's C++ frames, which a Rust panic must not unwind through (cxx would
    // abort the process). A panic becomes the call's error instead: MLX unwinds it as an
    // exception (releasing what it holds) and the export that started the transform throws it
    // to JS. Free when nothing panics.
    // SAFETY: see TraceCallback::new; the trace body outlives the bridged call.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*cb.inner).call(inputs) }))
        .unwrap_or_else(|payload| Err(format!("a Rust panic in a traced function: {}", panic_message(payload.as_ref()))))
}

/// The message a panic was raised with (`panic!("...")` payloads are `&str` or `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str)).unwrap_or("(no message)")
}
