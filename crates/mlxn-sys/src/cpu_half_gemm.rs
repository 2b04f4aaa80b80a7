//! bfloat16 and float16 matrix products on the CPU, `out = x · b (+ bias)`, for the
//! `CpuHalfMatmul` primitive that linear layers use there (shim/cpu_half_matmul.cc).
//!
//! Why: MLX computes half-precision CPU products in its own portable SIMD loop (`simd_gemm`): one
//! thread, no packing. On our 2-core x86-64 that ran a 256-row prompt through a 1024→3072 layer in
//! 204 ms where the float32 product of cpu_gemm.rs took 11, and a 1-row decoding step through the
//! 151,936-row output head of a bfloat16 Qwen3 in 131 ms. Every checkpoint on the Hugging Face hub is bfloat16,
//! so that was the speed CPU users saw.
//!
//! How: the columns of `b` are cut into panels small enough to stay in a core's cache; each panel
//! is widened to float32 (exact for both formats) and multiplied by the widened `x` with the `gemm`
//! crate's float32 kernels, single-threaded, the panels spread over rayon's global pool. The sums
//! are float32 and each result is rounded once to the output format (round to nearest even), as
//! MLX's own loop does, so results agree with MLX's to a unit in the last place of the half
//! format (the order of the float32 sums differs). A panel is read from memory once, in its half
//! format: half the bytes of a float32 weight, which is what a decoding step's products wait for.

use crate::float_formats::Element;
use half::{bf16, f16};
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Products smaller than this many multiply-adds per thread run on the calling thread (handing
/// work to the pool costs tens of microseconds), as in cpu_gemm.rs.
const MIN_MACS_PER_THREAD: usize = 1 << 16;

/// A widened panel of `b` is about this many bytes for a product of up to `FEW_ROWS` rows (a
/// decoding step: the panel stays in a core's L2 cache while it is read), and `WIDE_PANEL_BYTES`
/// for more rows (a prompt), where the gemm kernel's own blocking works on wider panels. Measured
/// on 2 cores: 256 rows through a 1024→3072 layer 14.0 ms with 128 KiB panels, 10.0 with 2 MiB;
/// 8 rows through the 151,936-row head 43 ms with 128 KiB, 57-68 with 256 KiB-1 MiB.
const PANEL_BYTES: usize = 128 << 10;
const WIDE_PANEL_BYTES: usize = 2 << 20;
const FEW_ROWS: usize = 16;

/// Each thread gets at least this many panels, so that uneven panels balance out.
const PANELS_PER_THREAD: usize = 4;

/// Up to this many rows of `x`, the product is computed transposed (`outᵀ = bᵀ · xᵀ`), the panel's
/// long side first; a decoding step's few rows against a layer's many columns ran faster that way
/// in cpu_gemm.rs.
const SWAP_MAX_ROWS: usize = 64;

static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many half-precision products have been computed here since the process started.
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// The two 16-bit floating-point formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    BFloat16,
    Float16,
}

impl Half {
    #[inline]
    fn widen(self, bits: u16) -> f32 {
        match self {
            Half::BFloat16 => bf16::from_bits(bits).widen(),
            Half::Float16 => f16::from_bits(bits).widen(),
        }
    }

    #[inline]
    fn narrow(self, value: f32) -> u16 {
        match self {
            Half::BFloat16 => bf16::narrow(value).to_bits(),
            Half::Float16 => f16::narrow(value).to_bits(),
        }
    }

    /// Widens `src[i * stride]` for `i < dst.len()` into `dst`.
    ///
    /// # Safety
    /// Every element read must lie in one live allocation.
    #[inline]
    unsafe fn widen_strided(self, src: *const u16, stride: isize, dst: &mut [f32]) {
        if stride == 1 {
            // SAFETY: `dst.len()` consecutive elements from `src`, as the caller promises.
            let bits = unsafe { std::slice::from_raw_parts(src, dst.len()) };
            // One loop per format, so that each is vectorised on its own.
            match self {
                Half::BFloat16 => {
                    for (d, &b) in dst.iter_mut().zip(bits) {
                        *d = bf16::from_bits(b).widen();
                    }
                }
                Half::Float16 => {
                    for (d, &b) in dst.iter_mut().zip(bits) {
                        *d = f16::from_bits(b).widen();
                    }
                }
            }
        } else {
            for (i, d) in dst.iter_mut().enumerate() {
                // SAFETY: as the caller promises.
                *d = self.widen(unsafe { *src.offset(i as isize * stride) });
            }
        }
    }
}

/// A strided matrix of 16-bit floats: element `(i, j)` is at `ptr + i * rs + j * cs`, except for
/// `x`, whose rows start at `row_starts[i]`.
#[derive(Clone, Copy)]
pub struct HalfProduct<'a> {
    pub format: Half,
    /// `x`: `m` rows of `k` elements, row `i` starting at `x + x_rows[i]`, elements `x_cs` apart.
    pub x: *const u16,
    pub x_rows: &'a [i64],
    pub x_cs: isize,
    /// `b`: `k × n`, element `(p, j)` at `b + p * b_rs + j * b_cs`.
    pub b: *const u16,
    pub b_rs: isize,
    pub b_cs: isize,
    /// An optional bias of `n` elements, `bias_stride` apart (0 for a broadcast scalar).
    pub bias: *const u16,
    pub bias_stride: isize,
    /// `out`: `m × n`, row-major and contiguous.
    pub out: *mut u16,
    pub k: usize,
    pub n: usize,
}

// SAFETY: the inputs are only read, and the threads of one product write disjoint columns of
// `out` (`run` hands each a range of panels).
unsafe impl Sync for HalfProduct<'_> {}

/// The native bridge's entry (lib.rs), with the operands `CpuHalfGemmArgs` describes; strides
/// come as the shim's `int64` values.
///
/// # Safety
/// The primitive (shim/cpu_half_matmul.cc) passes its evaluated inputs' data, shapes and
/// strides, and a freshly allocated output; MLX keeps the inputs alive until this returns.
pub unsafe fn bridge(args: &crate::ffi::CpuHalfGemmArgs) {
    let product = HalfProduct {
        format: if args.bfloat16 { Half::BFloat16 } else { Half::Float16 },
        x: args.x,
        x_rows: args.x_rows,
        x_cs: args.x_cs as isize,
        b: args.b,
        b_rs: args.b_rs as isize,
        b_cs: args.b_cs as isize,
        bias: args.bias,
        bias_stride: args.bias_stride as isize,
        out: args.out,
        k: args.k,
        n: args.n,
    };
    // SAFETY: as this function requires.
    unsafe { product.run(crate::cpu_gemm::threads()) };
}

impl HalfProduct<'_> {
    fn m(&self) -> usize {
        self.x_rows.len()
    }

    /// Computes the product on up to `threads` threads.
    ///
    /// # Safety
    /// Every pointer, stride and row start must describe live memory of the stated shape, and
    /// `out` must not overlap the inputs.
    pub unsafe fn run(&self, threads: usize) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        let (m, k, n) = (self.m(), self.k, self.n);
        if m == 0 || n == 0 {
            return;
        }
        // `x` widened once, row-major `m × k`.
        let mut xs = vec![0f32; m * k];
        if k > 0 {
            for (row, &start) in xs.chunks_exact_mut(k).zip(self.x_rows) {
                // SAFETY: row `i` of `x`, as the caller promises.
                unsafe { self.format.widen_strided(self.x.offset(start as isize), self.x_cs, row) };
            }
        }
        let xs = &xs[..];
        over_panels(m, k, n, threads, |first, last, panel| {
            // SAFETY: columns `first * panel .. last * panel` of `out`, written by this task only.
            unsafe { self.panels(xs, first, last, panel) };
        });
    }

    /// Panels `first..last` (of `panel` columns each) of the product.
    ///
    /// # Safety
    /// As `run`; no other thread writes these columns of `out`.
    unsafe fn panels(&self, xs: &[f32], first: usize, last: usize, panel: usize) {
        let (m, k, n, out) = (self.m(), self.k, self.n, self.out);
        let mut wide = vec![0f32; panel * k];
        let mut sums = vec![0f32; m * panel];
        for p in first..last {
            let j0 = p * panel;
            let width = panel.min(n - j0);
            // The panel widened as `width` rows of `k` (`bᵀ`'s rows) when `b` is contiguous along
            // `k` (a linear layer's weight), else as `k` rows of `width`.
            let along_k = self.b_rs == 1 || self.b_cs != 1;
            // SAFETY (both branches): columns j0..j0+width of `b`.
            if along_k {
                for (jj, dst) in wide.chunks_exact_mut(k.max(1)).take(width).enumerate() {
                    let col = unsafe { self.b.offset((j0 + jj) as isize * self.b_cs) };
                    unsafe { self.format.widen_strided(col, self.b_rs, dst) };
                }
            } else {
                for (pp, dst) in wide.chunks_exact_mut(width).take(k).enumerate() {
                    let row = unsafe { self.b.offset(pp as isize * self.b_rs + j0 as isize * self.b_cs) };
                    unsafe { self.format.widen_strided(row, 1, dst) };
                }
            }
            // SAFETY: the buffers above, the panel in the layout it was widened in.
            unsafe { panel_product(xs, m, k, &wide, width, panel_layout(along_k, k, width), &mut sums) };
            for i in 0..m {
                for jj in 0..width {
                    let j = j0 + jj;
                    let mut v = sums[i * width + jj];
                    if !self.bias.is_null() {
                        // SAFETY: element j of the bias.
                        v += self.format.widen(unsafe { *self.bias.offset(j as isize * self.bias_stride) });
                    }
                    // SAFETY: element (i, j) of the contiguous `m × n` output.
                    unsafe { *out.add(i * n + j) = self.format.narrow(v) };
                }
            }
        }
    }
}

/// Cuts the `n` output columns of an `m × k` by `k × n` product into panels and runs
/// `f(first, last, panel)` over contiguous ranges of them, one range per thread on rayon's global
/// pool (at most `threads`; one, on the calling thread, for small products).
pub(crate) fn over_panels(m: usize, k: usize, n: usize, threads: usize, f: impl Fn(usize, usize, usize) + Sync) {
    let work = m.saturating_mul(n).saturating_mul(k.max(1));
    let threads = threads.min(work / MIN_MACS_PER_THREAD).max(1);
    let bytes = if m <= FEW_ROWS { PANEL_BYTES } else { WIDE_PANEL_BYTES };
    let panel = (bytes / (4 * k.max(1))).clamp(8, 4096).min(n.div_ceil(threads * PANELS_PER_THREAD)).max(8);
    let panels = n.div_ceil(panel);
    let threads = threads.min(panels);
    if threads < 2 {
        f(0, panels, panel);
    } else {
        (0..threads).into_par_iter().for_each(|t| f(panels * t / threads, panels * (t + 1) / threads, panel));
    }
}

/// The strides (along `k`, along the columns) of a widened panel of `width` columns, laid out as
/// `width` rows of `k` (`along_k`) or as `k` rows of `width`.
pub(crate) fn panel_layout(along_k: bool, k: usize, width: usize) -> (isize, isize) {
    if along_k { (1, k as isize) } else { (width as isize, 1) }
}

/// `sums` (`m × width`, row-major) = `xs` (`m × k`, row-major) · the widened panel (`k × width`
/// with the strides `layout`), on the calling thread.
///
/// # Safety
/// `xs`, `wide` and `sums` must hold the elements those shapes and strides address.
pub(crate) unsafe fn panel_product(xs: &[f32], m: usize, k: usize, wide: &[f32], width: usize, layout: (isize, isize), sums: &mut [f32]) {
    let (w_rs, w_cs) = layout;
    let (x_rs, x_cs) = (k as isize, 1isize);
    let (s_rs, s_cs) = (width as isize, 1isize);
    if k == 0 {
        sums[..m * width].fill(0.0);
        return;
    }
    // `gemm::gemm(m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
    // alpha, beta, …)` computes `dst = alpha · dst + beta · lhs · rhs`; a transposed operand is the
    // same pointer with its two strides exchanged.
    // A few rows against a wide panel as the transposed product: sumsᵀ (width × m) = panelᵀ
    // (width × k) · xsᵀ (k × m).
    let swap = m <= SWAP_MAX_ROWS && width > m;
    let (rows, cols, (d_cs, d_rs), (lhs, l_cs, l_rs), (rhs, r_cs, r_rs)) = if swap {
        (width, m, (s_rs, s_cs), (wide.as_ptr(), w_rs, w_cs), (xs.as_ptr(), x_rs, x_cs))
    } else {
        (m, width, (s_cs, s_rs), (xs.as_ptr(), x_cs, x_rs), (wide.as_ptr(), w_cs, w_rs))
    };
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            rows,
            cols,
            k,
            sums.as_mut_ptr(),
            d_cs,
            d_rs,
            false,
            lhs,
            l_cs,
            l_rs,
            rhs,
            r_cs,
            r_rs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) that are exact in both formats.
    fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len).map(|i| ((((i as u64 + 1) * 2654435761 + seed * 97) % 256) as f32 - 128.0) / 128.0).collect()
    }

    fn encode(format: Half, v: &[f32]) -> Vec<u16> {
        v.iter().map(|&x| format.narrow(x)).collect()
    }

    /// `x (m × k) · b (k × n) + bias` in float64, rounded once to `format`.
    fn reference(format: Half, x: &[f32], b: &[f32], bias: Option<&[f32]>, m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s: f64 = (0..k).map(|p| x[i * k + p] as f64 * b[p * n + j] as f64).sum();
                if let Some(bias) = bias {
                    s += bias[j] as f64;
                }
                out[i * n + j] = format.widen(format.narrow(s as f32));
            }
        }
        out
    }

    fn check(format: Half, m: usize, k: usize, n: usize, b_row_major: bool, with_bias: bool, threads: usize) {
        let x = values(m * k, 1);
        let b = values(k * n, 2);
        let bias = values(n, 3);
        let xh = encode(format, &x);
        // `b` stored row-major (k × n), or as its transpose (n × k, a linear layer's weight).
        let (bh, b_rs, b_cs) = if b_row_major {
            (encode(format, &b), n as isize, 1isize)
        } else {
            let mut t = vec![0f32; k * n];
            for p in 0..k {
                for j in 0..n {
                    t[j * k + p] = b[p * n + j];
                }
            }
            (encode(format, &t), 1, k as isize)
        };
        let biash = encode(format, &bias);
        let rows: Vec<i64> = (0..m).map(|i| (i * k) as i64).collect();
        let mut out = vec![0u16; m * n];
        let product = HalfProduct {
            format,
            x: xh.as_ptr(),
            x_rows: &rows,
            x_cs: 1,
            b: bh.as_ptr(),
            b_rs,
            b_cs,
            bias: if with_bias { biash.as_ptr() } else { std::ptr::null() },
            bias_stride: 1,
            out: out.as_mut_ptr(),
            k,
            n,
        };
        unsafe { product.run(threads) };
        let want = reference(format, &x, &b, with_bias.then_some(&bias[..]), m, k, n);
        // One unit in the last place of the half format: float32 sums in another order.
        let ulp = match format {
            Half::BFloat16 => 1.0 / 128.0,
            Half::Float16 => 1.0 / 1024.0,
        };
        for (idx, (&g, &w)) in out.iter().zip(&want).enumerate() {
            let g = format.widen(g);
            assert!(
                (g - w).abs() <= ulp * w.abs().max(1.0),
                "{format:?} {m}x{k}x{n} row-major b {b_row_major} bias {with_bias} at {idx}: {g} vs {w}"
            );
        }
    }

    #[test]
    fn matches_the_definition_in_both_formats_and_layouts() {
        for format in [Half::BFloat16, Half::Float16] {
            for (m, k, n) in [(1usize, 300usize, 1100usize), (5, 64, 7), (70, 33, 90), (3, 0, 5), (1, 1, 1)] {
                for b_row_major in [false, true] {
                    for with_bias in [false, true] {
                        for threads in [1, 4] {
                            check(format, m, k, n, b_row_major, with_bias, threads);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn strided_rows_and_columns_of_x() {
        // x as the transpose of a stored (k × m) matrix: rows one element apart, columns m apart.
        let (m, k, n) = (6usize, 40usize, 9usize);
        let format = Half::BFloat16;
        let x = values(m * k, 4);
        let mut xt = vec![0f32; m * k];
        for i in 0..m {
            for p in 0..k {
                xt[p * m + i] = x[i * k + p];
            }
        }
        let b = values(k * n, 5);
        let (xh, bh) = (encode(format, &xt), encode(format, &b));
        let rows: Vec<i64> = (0..m as i64).collect();
        let mut out = vec![0u16; m * n];
        let product = HalfProduct {
            format,
            x: xh.as_ptr(),
            x_rows: &rows,
            x_cs: m as isize,
            b: bh.as_ptr(),
            b_rs: n as isize,
            b_cs: 1,
            bias: std::ptr::null(),
            bias_stride: 0,
            out: out.as_mut_ptr(),
            k,
            n,
        };
        unsafe { product.run(1) };
        let want = reference(format, &x, &b, None, m, k, n);
        for (&g, &w) in out.iter().zip(&want) {
            assert!((format.widen(g) - w).abs() <= w.abs().max(1.0) / 128.0);
        }
    }

    #[test]
    fn rounds_to_nearest_even_and_keeps_nan_and_infinity() {
        assert_eq!(Half::BFloat16.narrow(1.0 + 1.0 / 256.0), bf16::from_f32(1.0).to_bits());
        assert!(Half::BFloat16.widen(Half::BFloat16.narrow(f32::NAN)).is_nan());
        assert_eq!(Half::Float16.widen(Half::Float16.narrow(1e6)), f32::INFINITY);
    }
}
