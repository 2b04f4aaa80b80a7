//! Float32 products of a few rows against a weight stored output by output (`x · Wᵀ` with `W`
//! `[n, k]` row-major, as a linear layer keeps it): a decoding batch's projections and head on the
//! CPU, taken out of cpu_gemm.rs's `cblas_sgemm` before the `gemm` crate sees them.
//!
//! Why: `gemm` packs panels of both operands for a blocked kernel; with 8 rows the head of the
//! `tiny` preset (`[8, 128] · [128, 32000]`) took 2.1–4 ms on our 2-core x86-64 where reading its
//! 16 MB of weights once takes well under 1 ms.
//!
//! How: each weight row is loaded once, eight values at a time, and multiplied into every row of
//! `x` with AVX2 FMAs (one accumulator per row of `x`, so the rows' sums are independent chains);
//! a few output columns at a time when `x` has one or two rows, to keep several chains in flight.
//! Columns are spread over rayon's pool as the half-precision products spread their panels.
//! Sums are float32, in a different order than `gemm`'s (a few ulps apart).

use crate::cpu_half_gemm::over_panels;

/// Rows of `x` up to which this path runs (a decoding step of up to this many sequences).
pub const MAX_ROWS: usize = 8;

/// Values of a row loaded as one vector.
const LANES: usize = 8;

/// One product `C = alpha · x · Wᵀ + beta · C`, described by element strides.
pub(crate) struct FewRows {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    /// `x`: row `i` starts at `x + i · x_rs` and is contiguous.
    pub x: *const f32,
    pub x_rs: usize,
    /// `W`: output column `j`'s weights start at `w + j · w_cs` and are contiguous.
    pub w: *const f32,
    pub w_cs: usize,
    pub c: *mut f32,
    pub c_rs: isize,
    pub c_cs: isize,
    pub alpha: f32,
    pub beta: f32,
}

// SAFETY: the pointers address the caller's matrices for the duration of `run`, which writes
// disjoint columns of `c` from each task.
unsafe impl Sync for FewRows {}

impl FewRows {
    /// Whether this path can compute the product on this CPU: 1 to `MAX_ROWS` rows, at least one
    /// vector of `k`, and AVX2 with FMA.
    pub(crate) fn applies(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            (1..=MAX_ROWS).contains(&self.m)
                && self.k >= LANES
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Computes the product on up to `threads` threads.
    ///
    /// # Safety
    /// The pointers and strides must describe valid matrices, and `applies()` must hold.
    pub(crate) unsafe fn run(&self, threads: usize) {
        over_panels(self.m, self.k, self.n, threads, |first, last, panel| {
            let columns = first * panel..(last * panel).min(self.n);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as the caller promises; these columns are written by this task only.
            unsafe {
                match self.m {
                    1 => self.columns_avx2::<1, 4>(columns),
                    2 => self.columns_avx2::<2, 2>(columns),
                    3 => self.columns_avx2::<3, 1>(columns),
                    4 => self.columns_avx2::<4, 1>(columns),
                    5 => self.columns_avx2::<5, 1>(columns),
                    6 => self.columns_avx2::<6, 1>(columns),
                    7 => self.columns_avx2::<7, 1>(columns),
                    _ => self.columns_avx2::<8, 1>(columns),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = columns;
        });
    }

    /// Output columns `columns` of the `M` rows, `C` at a time (the last few one at a time).
    ///
    /// # Safety
    /// As `run`; no other thread writes these columns.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn columns_avx2<const M: usize, const C: usize>(&self, columns: std::ops::Range<usize>) {
        let mut j = columns.start;
        while j + C <= columns.end {
            // SAFETY: as the caller promises.
            unsafe { self.block_avx2::<M, C>(j) };
            j += C;
        }
        while j < columns.end {
            // SAFETY: as the caller promises.
            unsafe { self.block_avx2::<M, 1>(j) };
            j += 1;
        }
    }

    /// Output columns `j0..j0 + C` of the `M` rows.
    ///
    /// # Safety
    /// As `columns_avx2`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block_avx2<const M: usize, const C: usize>(&self, j0: usize) {
        use std::arch::x86_64::*;
        let k = self.k;
        let whole = k - k % LANES;
        // SAFETY: every address below is inside `x` (rows < M, offsets < k) or `W` (columns
        // j0..j0 + C < n, offsets < k), as the caller promises.
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); C]; M];
            let mut kk = 0;
            while kk < whole {
                let mut wv = [_mm256_setzero_ps(); C];
                for (c, v) in wv.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(self.w.add((j0 + c) * self.w_cs + kk));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let xv = _mm256_loadu_ps(self.x.add(i * self.x_rs + kk));
                    for (a, w) in row.iter_mut().zip(wv.iter()) {
                        *a = _mm256_fmadd_ps(xv, *w, *a);
                    }
                }
                kk += LANES;
            }
            for (i, row) in acc.iter().enumerate() {
                for (c, a) in row.iter().enumerate() {
                    let half = _mm_add_ps(_mm256_castps256_ps128(*a), _mm256_extractf128_ps(*a, 1));
                    let pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
                    let mut sum = _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
                    let (xr, wr) = (self.x.add(i * self.x_rs), self.w.add((j0 + c) * self.w_cs));
                    for t in whole..k {
                        sum += *xr.add(t) * *wr.add(t);
                    }
                    let out = self.c.offset(i as isize * self.c_rs + (j0 + c) as isize * self.c_cs);
                    // BLAS semantics: `C` is not read when beta is 0 (it may hold garbage).
                    *out = if self.beta == 0.0 { self.alpha * sum } else { self.alpha * sum + self.beta * *out };
                }
            }
        }
    }
}
