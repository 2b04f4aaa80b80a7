//! MLX's CPU matrix products in float32 and float64, computed by the `gemm` crate on several
//! threads instead of the reference BLAS that the `mlx-cpu` wheel bundles on Linux.
//!
//! Why: MLX's CPU `Matmul` calls `cblas_sgemm` / `cblas_dgemm` (and nothing else from BLAS; LAPACK
//! routines come from the bundled LAPACK). On Linux the wheel resolves them to netlib's reference
//! BLAS: plain loops on one thread, 1.4-2.7 GFLOP/s in float32 on our 2-core x86-64. The `gemm`
//! crate (the kernels behind faer and candle: packed, SIMD for the running CPU, rayon threads) ran
//! the same products 6x (a 1x128 by 128x32000 head) to 40x (32x512 by 512x32000) faster there.
//!
//! How: this crate defines `cblas_sgemm` and `cblas_dgemm` with the CBLAS signatures and exports
//! them from the one native binary. Node loads that binary with `dlopen`, so the binary heads the
//! lookup scope of everything it brings in, libmlx.so included: the dynamic linker binds
//! libmlx.so's undefined `cblas_sgemm` to ours before it reaches the bundled libblas (ELF symbol
//! interposition, the mechanism allocators such as jemalloc use for `malloc`). The Rust test
//! binaries link this crate statically and interpose the same way. Complex products
//! (`cblas_cgemm`) and LAPACK keep the bundled libraries. macOS resolves symbols per library
//! (two-level namespace), so there MLX keeps Accelerate, which is already multithreaded: the
//! functions are only defined on Linux. `calls()` counts the products that reached us, so a test
//! can prove that MLX uses them.
//!
//! Results agree with a single-threaded BLAS to rounding: the sum over the inner dimension is
//! blocked and vectorised, so its order differs (float32 products differ by a few ulps).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Products smaller than this many multiply-adds per thread run on the calling thread: handing
/// work to the thread pool costs tens of microseconds, which small products (attention scores of
/// one token, the layers of a tiny model) do not recover.
const MIN_MACS_PER_THREAD: usize = 1 << 16;

/// Up to this many rows, a product with more columns than rows is computed transposed.
const SWAP_MAX_ROWS: usize = 64;

static THREADS: AtomicUsize = AtomicUsize::new(1);
static CALLS: AtomicU64 = AtomicU64::new(0);

/// Sets how many threads one product may use (at least 1). Products already queued keep theirs.
pub fn set_threads(threads: usize) {
    THREADS.store(threads.max(1), Ordering::Relaxed);
}

/// How many threads one product may use.
pub fn threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

/// Whether MLX's float32 and float64 CPU products run here (Linux) rather than in the platform's
/// BLAS, which is threaded on its own terms (Accelerate on macOS).
pub const REPLACES_PLATFORM_BLAS: bool = cfg!(target_os = "linux");

/// How many products MLX has computed here since the process started.
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

// CBLAS's enumerations (cblas.h).
const CBLAS_ROW_MAJOR: i32 = 101;
const CBLAS_NO_TRANS: i32 = 111;

/// One matrix of a CBLAS product: its first element, its leading dimension, and whether the
/// product takes it transposed.
#[derive(Clone, Copy)]
struct CblasMatrix<P> {
    ptr: P,
    ld: i32,
    transposed: bool,
}

impl<P> CblasMatrix<P> {
    /// From a CBLAS call's pointer, leading dimension and `CBLAS_TRANSPOSE` value.
    fn new(ptr: P, ld: i32, trans: i32) -> Self {
        CblasMatrix { ptr, ld, transposed: trans != CBLAS_NO_TRANS }
    }

    /// Row and column strides of `op(X)` for the matrix stored in `layout`.
    fn strides(&self, layout: i32) -> (isize, isize) {
        let ld = self.ld as isize;
        let (rows, cols) = if layout == CBLAS_ROW_MAJOR { (ld, 1) } else { (1, ld) };
        if self.transposed { (cols, rows) } else { (rows, cols) }
    }
}

/// One `cblas_?gemm` call: `C = alpha · op(A) · op(B) + beta · C` for `op(A)` `m × k` and
/// `op(B)` `k × n`, the matrices stored in `layout` (row or column major).
#[derive(Clone, Copy)]
struct CblasGemm<T> {
    layout: i32,
    m: i32,
    n: i32,
    k: i32,
    alpha: T,
    a: CblasMatrix<*const T>,
    b: CblasMatrix<*const T>,
    beta: T,
    c: CblasMatrix<*mut T>,
}

/// A product in strides: `C = alpha · A · B + beta · C` for `A` `m × k`, `B` `k × n`, each
/// matrix a pointer and its (row, column) element strides, with CBLAS's transposes applied.
#[derive(Clone, Copy)]
struct Strided<T> {
    m: usize,
    n: usize,
    k: usize,
    alpha: T,
    a: *const T,
    a_strides: (isize, isize),
    b: *const T,
    b_strides: (isize, isize),
    beta: T,
    c: *mut T,
    c_strides: (isize, isize),
}

/// An element type whose few-row products may skip `gemm` (cpu_few_rows.rs, float32 only).
trait FewRowsElement: Sized {
    /// Computes the product when it has the few-row shape and this CPU can; false leaves it to
    /// `gemm`.
    ///
    /// # Safety
    /// The pointers and strides must describe valid matrices.
    unsafe fn few_rows(_product: &Strided<Self>) -> bool {
        false
    }
}

impl FewRowsElement for f64 {}

impl FewRowsElement for f32 {
    unsafe fn few_rows(product: &Strided<f32>) -> bool {
        let Strided { m, n, k, alpha, a, a_strides: (a_rs, a_cs), b, b_strides: (b_rs, b_cs), beta, c, c_strides: (c_rs, c_cs) } = *product;
        // `x · Wᵀ`: each row of x and each column of op(B) (a weight row) contiguous along k.
        if a_cs != 1 || b_rs != 1 || a_rs < 0 || b_cs < 0 {
            return false;
        }
        let p = crate::cpu_few_rows::FewRows { m, n, k, x: a, x_rs: a_rs as usize, w: b, w_cs: b_cs as usize, c, c_rs, c_cs, alpha, beta };
        if !p.applies() {
            return false;
        }
        // SAFETY: the caller's matrices; `applies` checked the shape and the CPU.
        unsafe { p.run(threads()) };
        true
    }
}

/// `C = alpha · op(A) · op(B) + beta · C` as CBLAS defines it (`C` is not read when `beta` is 0).
///
/// # Safety
/// The pointers and leading dimensions must describe valid matrices, as for any CBLAS call.
unsafe fn gemm_cblas<T: Copy + PartialEq + Default + FewRowsElement + 'static>(call: CblasGemm<T>) {
    CALLS.fetch_add(1, Ordering::Relaxed);
    let CblasGemm { layout, m, n, k, alpha, a, b, beta, c } = call;
    if m <= 0 || n <= 0 {
        return;
    }
    let (m, n, k_len) = (m as usize, n as usize, k.max(0) as usize);
    let ((a_rs, a_cs), (b_rs, b_cs), (c_rs, c_cs)) = (a.strides(layout), b.strides(layout), c.strides(layout));
    let (a, b, c) = (a.ptr, b.ptr, c.ptr);
    let strided =
        Strided { m, n, k: k_len, alpha, a, a_strides: (a_rs, a_cs), b, b_strides: (b_rs, b_cs), beta, c, c_strides: (c_rs, c_cs) };
    // SAFETY: the caller's matrices, described by the strides above.
    if k_len > 0 && unsafe { T::few_rows(&strided) } {
        return;
    }
    let work = m.saturating_mul(n).saturating_mul(k_len);
    let threads = threads().min(work / MIN_MACS_PER_THREAD);
    let read_c = beta != T::default();
    // A few rows against many columns (a decoding batch times a layer's weights) ran 1.2-2.4x
    // faster as the transposed problem `Cᵀ = op(B)ᵀ · op(A)ᵀ`, the long side first (measured on
    // 2 cores for 2 to 64 rows); transposing only swaps strides. One row is a matrix-vector
    // product either way.
    let swap = (2..=SWAP_MAX_ROWS).contains(&m) && n > m;
    let (m, n) = if swap { (n, m) } else { (m, n) };
    let (c_rs, c_cs) = if swap { (c_cs, c_rs) } else { (c_rs, c_cs) };
    let ((lhs, l_rs, l_cs), (rhs, r_rs, r_cs)) = if swap { ((b, b_cs, b_rs), (a, a_cs, a_rs)) } else { ((a, a_rs, a_cs), (b, b_rs, b_cs)) };
    // On rayon's global pool: a pool of our own (so that other crates' rayon work could not delay
    // an evaluation) made batch-1 decoding of the 45M-parameter preset 25% slower on 2 cores
    // (135 vs 182 tokens/s). Nothing that runs on the global pool waits for an evaluation.
    let parallelism = if threads >= 2 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the caller's matrices, described by the strides above. `gemm` computes
    // `dst = alpha · dst + beta · lhs · rhs`: BLAS's alpha and beta trade places.
    unsafe {
        gemm::gemm(m, n, k_len, c, c_cs, c_rs, read_c, lhs, l_cs, l_rs, rhs, r_cs, r_rs, beta, alpha, false, false, false, parallelism);
    }
}

/// Defines CBLAS's `cblas_?gemm` for one element type (the symbols MLX's CPU `Matmul` calls).
macro_rules! cblas_gemm {
    ($name:ident, $t:ty) => {
        #[cfg(target_os = "linux")]
        #[unsafe(no_mangle)]
        #[allow(clippy::too_many_arguments, reason = "CBLAS's signature, which libmlx.so calls")]
        #[doc = concat!("# Safety\nAs CBLAS's `", stringify!($name), "`.")]
        pub unsafe extern "C" fn $name(
            layout: i32,
            trans_a: i32,
            trans_b: i32,
            m: i32,
            n: i32,
            k: i32,
            alpha: $t,
            a: *const $t,
            lda: i32,
            b: *const $t,
            ldb: i32,
            beta: $t,
            c: *mut $t,
            ldc: i32,
        ) {
            let (a, b) = (CblasMatrix::new(a, lda, trans_a), CblasMatrix::new(b, ldb, trans_b));
            let c = CblasMatrix::new(c, ldc, CBLAS_NO_TRANS);
            unsafe { gemm_cblas(CblasGemm { layout, m, n, k, alpha, a, b, beta, c }) }
        }
    };
}

cblas_gemm!(cblas_sgemm, f32);
cblas_gemm!(cblas_dgemm, f64);

#[cfg(test)]
mod tests {
    use super::*;

    /// A test product's CBLAS arguments apart from the matrices, which come with each call.
    #[derive(Clone, Copy)]
    struct Case {
        layout: i32,
        ta: bool,
        tb: bool,
        m: usize,
        n: usize,
        k: usize,
        alpha: f64,
        beta: f64,
        lda: usize,
        ldb: usize,
        ldc: usize,
    }

    impl Case {
        /// The textbook triple loop over the same CBLAS arguments.
        fn naive(&self, a: &[f64], b: &[f64], c: &mut [f64]) {
            let Case { layout, ta, tb, m, n, k, alpha, beta, lda, ldb, ldc } = *self;
            let at = |x: &[f64], ld: usize, t: bool, i: usize, j: usize| {
                let (i, j) = if t { (j, i) } else { (i, j) };
                if layout == CBLAS_ROW_MAJOR { x[i * ld + j] } else { x[i + j * ld] }
            };
            for i in 0..m {
                for j in 0..n {
                    let dot: f64 = (0..k).map(|p| at(a, lda, ta, i, p) * at(b, ldb, tb, p, j)).sum();
                    let slot = if layout == CBLAS_ROW_MAJOR { i * ldc + j } else { i + j * ldc };
                    c[slot] = alpha * dot + if beta == 0.0 { 0.0 } else { beta * c[slot] };
                }
            }
        }

        /// `gemm_cblas` over these matrices in `T`, the scalars converted by `scalar`.
        fn run<T: Copy + PartialEq + Default + FewRowsElement + 'static>(&self, a: &[T], b: &[T], c: &mut [T], scalar: fn(f64) -> T) {
            let trans = |t: bool| if t { 112 } else { CBLAS_NO_TRANS };
            let (m, n, k) = (self.m as i32, self.n as i32, self.k as i32);
            let (lda, ldb, ldc) = (self.lda as i32, self.ldb as i32, self.ldc as i32);
            let (alpha, beta) = (scalar(self.alpha), scalar(self.beta));
            let call = CblasGemm {
                layout: self.layout,
                m,
                n,
                k,
                alpha,
                a: CblasMatrix::new(a.as_ptr(), lda, trans(self.ta)),
                b: CblasMatrix::new(b.as_ptr(), ldb, trans(self.tb)),
                beta,
                c: CblasMatrix::new(c.as_mut_ptr(), ldc, CBLAS_NO_TRANS),
            };
            // SAFETY: the test's matrices, as long as their leading dimensions say.
            unsafe { gemm_cblas(call) }
        }
    }

    #[test]
    fn every_layout_and_transpose_matches_the_definition() {
        let values = |len: usize, seed: u64| -> Vec<f64> {
            (0..len).map(|i| (((i as u64 + 1) * 2654435761 + seed) % 1000) as f64 / 500.0 - 1.0).collect()
        };
        // Few rows and more columns (computed transposed), the other way round, one row, many rows.
        for (m, n, k) in [(5usize, 7usize, 300usize), (7, 5, 300), (1, 9, 40), (70, 90, 33)] {
            for layout in [CBLAS_ROW_MAJOR, 102] {
                for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                    for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0)] {
                        // Leading dimensions with padding, as for views into larger matrices.
                        let rows_cols = |rows: usize, cols: usize| {
                            if layout == CBLAS_ROW_MAJOR { (rows, cols + 3) } else { (rows + 3, cols) }
                        };
                        let (ar, ac) = if ta { (k, m) } else { (m, k) };
                        let (br, bc) = if tb { (n, k) } else { (k, n) };
                        let (a_rows, a_ld) = if layout == CBLAS_ROW_MAJOR { (ar, rows_cols(ar, ac).1) } else { (ac, rows_cols(ar, ac).0) };
                        let (b_rows, b_ld) = if layout == CBLAS_ROW_MAJOR { (br, rows_cols(br, bc).1) } else { (bc, rows_cols(br, bc).0) };
                        let (c_rows, c_ld) = if layout == CBLAS_ROW_MAJOR { (m, n + 2) } else { (n, m + 2) };
                        let a = values(a_rows * a_ld, 1);
                        let b = values(b_rows * b_ld, 2);
                        // NaN where beta is 0: CBLAS does not read C then.
                        let start =
                            values(c_rows * c_ld, 3).into_iter().map(|v| if beta == 0.0 { f64::NAN } else { v }).collect::<Vec<_>>();
                        let case = Case { layout, ta, tb, m, n, k, alpha, beta, lda: a_ld, ldb: b_ld, ldc: c_ld };
                        let mut want = start.clone();
                        case.naive(&a, &b, &mut want);
                        let mut got = start.clone();
                        case.run(&a, &b, &mut got, |x| x);
                        for (slot, (g, w)) in got.iter().zip(&want).enumerate() {
                            let padding = if layout == CBLAS_ROW_MAJOR { slot % c_ld >= n } else { slot % c_ld >= m };
                            if padding {
                                assert!(g.is_nan() == start[slot].is_nan(), "padding written at {slot}");
                            } else {
                                assert!(
                                    (g - w).abs() <= 1e-12 * w.abs().max(1.0),
                                    "{m}x{n}x{k} layout {layout} ta {ta} tb {tb} at {slot}: {g} vs {w}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// Few rows against a weight stored output by output (cpu_few_rows.rs where AVX2 and FMA
    /// exist, `gemm` for the other layouts) match the definition in float32, for every layout
    /// and transpose, inner sizes with and without a partial vector, beta 0 (C not read) or not.
    #[cfg(target_os = "linux")]
    #[test]
    fn few_rows_in_float32_match_the_definition() {
        let values = |len: usize, seed: u64| -> Vec<f32> {
            (0..len).map(|i| (((i as u64 + 1) * 2654435761 + seed) % 1000) as f32 / 500.0 - 1.0).collect()
        };
        for threads in [1, 2] {
            set_threads(threads);
            for m in 1..=9usize {
                for (n, k) in [(37usize, 8usize), (300, 131), (4099, 64)] {
                    for layout in [CBLAS_ROW_MAJOR, 102] {
                        for (ta, tb) in [(false, true), (false, false), (true, true)] {
                            for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0)] {
                                let dims =
                                    |rows: usize, cols: usize| if layout == CBLAS_ROW_MAJOR { (rows, cols + 1) } else { (cols, rows + 1) };
                                let (ar, ac) = if ta { (k, m) } else { (m, k) };
                                let (br, bc) = if tb { (n, k) } else { (k, n) };
                                let ((a_outer, a_ld), (b_outer, b_ld), (c_outer, c_ld)) = (dims(ar, ac), dims(br, bc), dims(m, n));
                                let a = values(a_outer * a_ld, 1);
                                let b = values(b_outer * b_ld, 2);
                                let start: Vec<f32> =
                                    values(c_outer * c_ld, 3).into_iter().map(|v| if beta == 0.0 { f32::NAN } else { v }).collect();
                                let wide = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<f64>>();
                                let case = Case { layout, ta, tb, m, n, k, alpha, beta, lda: a_ld, ldb: b_ld, ldc: c_ld };
                                let mut want = wide(&start);
                                case.naive(&wide(&a), &wide(&b), &mut want);
                                let mut got = start.clone();
                                case.run(&a, &b, &mut got, |x| x as f32);
                                for (slot, (g, w)) in got.iter().zip(&want).enumerate() {
                                    let inner = slot % c_ld;
                                    if inner >= if layout == CBLAS_ROW_MAJOR { n } else { m } {
                                        assert!(g.is_nan() == start[slot].is_nan(), "padding written at {slot}");
                                    } else {
                                        assert!(
                                            ((*g as f64) - w).abs() <= 1e-5 * (k as f64).sqrt() * w.abs().max(1.0),
                                            "{m}x{n}x{k} layout {layout} ta {ta} tb {tb} at {slot}: {g} vs {w}"
                                        );
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        set_threads(1);
    }

    #[test]
    fn threads_do_not_change_the_products_beyond_rounding() {
        let (m, n, k) = (64usize, 96usize, 256usize);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i * 53) % 97) as f32 / 48.0 - 1.0).collect();
        let run = |threads: usize| {
            set_threads(threads);
            let mut c = vec![0f32; m * n];
            let case = Case { layout: CBLAS_ROW_MAJOR, ta: false, tb: false, m, n, k, alpha: 1.0, beta: 0.0, lda: k, ldb: n, ldc: n };
            case.run(&a, &b, &mut c, |x| x as f32);
            c
        };
        let one = run(1);
        let four = run(4);
        set_threads(1);
        for (x, y) in one.iter().zip(&four) {
            assert!((x - y).abs() <= 1e-4 * x.abs().max(1.0), "{x} vs {y}");
        }
    }
}
