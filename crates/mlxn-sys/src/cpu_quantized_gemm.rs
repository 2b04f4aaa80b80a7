//! Affine-quantized linear products on the CPU, `out = x · dequantize(w)ᵀ`, for the
//! `CpuQuantizedMatmul` primitive (shim/cpu_quantized_matmul.cc), 2-, 4- and 8-bit weights.
//!
//! Why: MLX's CPU `QuantizedMatmul` without a SIMD width to match (x86-64 builds) runs a scalar
//! loop on one thread that dequantizes and accumulates in the input's format (bfloat16 sums for a
//! bfloat16 model): on our 2-core x86-64 a 1-row product with a 4-bit 151,936 × 1,024 output head
//! took 823 ms, where the bfloat16 head takes 20–40 ms (cpu_half_gemm.rs). The 4-bit community
//! checkpoints are what many CPU users download.
//!
//! How: as cpu_half_gemm.rs, with dequantization as the widening: the output columns (rows of
//! `w`) are cut into panels; each panel is dequantized to float32 (`scale · q + bias` per group,
//! as MLX's SIMD kernel computes it) and multiplied with the widened `x` by the `gemm` crate's
//! float32 kernel, panels spread over rayon's global pool. Sums are float32, rounded once to the
//! output format; the packed weights are read from memory once, about a quarter of a bfloat16
//! weight's bytes at 4 bits.

use crate::cpu_half_gemm::{over_panels, panel_layout, panel_product};
use crate::float_formats::{Element, for_element};
use std::sync::atomic::{AtomicU64, Ordering};

static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many quantized products have been computed here since the process started.
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// `x · dequantize(w)ᵀ`: `x` has `x_rows.len()` rows of `k` (row `i` at `x + x_rows[i]`,
/// elements `x_cs` apart); `w` is `n` rows of `k · bits / 32` words, `scales` and `biases` `n`
/// rows of `k / group_size`, each with its row and column strides; `out` is contiguous `m × n`.
pub struct QuantizedProduct<'a, T: Element> {
    pub x: *const T,
    pub x_rows: &'a [i64],
    pub x_cs: isize,
    pub w: *const u32,
    pub w_strides: [isize; 2],
    pub scales: *const T,
    pub scales_strides: [isize; 2],
    pub biases: *const T,
    pub biases_strides: [isize; 2],
    pub out: *mut T,
    pub k: usize,
    pub n: usize,
    pub bits: u32,
    pub group_size: usize,
}

// SAFETY: the inputs are only read, and the threads of one product write disjoint columns of
// `out` (`run` hands each a range of panels).
unsafe impl<T: Element> Sync for QuantizedProduct<'_, T> {}

/// The native bridge's entry (lib.rs), with the operands `CpuQuantizedGemmArgs` describes;
/// `dtype` names the element type of x, scales, biases and the output (see `for_element`).
///
/// # Safety
/// The primitive (shim/cpu_quantized_matmul.cc) passes its evaluated inputs' data, shapes and
/// strides, checked widths and group size, and a freshly allocated output; MLX keeps the inputs
/// alive until this returns.
pub unsafe fn bridge(args: &crate::ffi::CpuQuantizedGemmArgs) {
    let pair = |s: &[i64]| [s[0] as isize, s[1] as isize];
    for_element!(args.dtype, T => {
        let product = QuantizedProduct::<T> {
            x: args.x.cast(),
            x_rows: args.x_rows,
            x_cs: args.x_cs as isize,
            w: args.w.data.cast(),
            w_strides: pair(args.w.strides),
            scales: args.scales.data.cast(),
            scales_strides: pair(args.scales.strides),
            biases: args.biases.data.cast(),
            biases_strides: pair(args.biases.strides),
            out: args.out.cast(),
            k: args.k,
            n: args.n,
            bits: args.bits,
            group_size: args.group_size,
        };
        // SAFETY: as this function requires; `dtype` names the buffers' element type.
        unsafe { product.run(crate::cpu_gemm::threads()) }
    })
}

impl<T: Element> QuantizedProduct<'_, T> {
    /// Computes the product on up to `threads` threads.
    ///
    /// # Safety
    /// Every pointer, stride and row start must describe live memory of the stated shape,
    /// `bits` must be 2, 4 or 8 and `group_size` a multiple of `32 / bits` dividing `k`; `out`
    /// must not overlap the inputs.
    pub unsafe fn run(&self, threads: usize) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        let (m, k, n) = (self.x_rows.len(), self.k, self.n);
        if m == 0 || n == 0 {
            return;
        }
        let mut xs = vec![0f32; m * k];
        if k > 0 {
            for (row, &start) in xs.chunks_exact_mut(k).zip(self.x_rows) {
                for (p, d) in row.iter_mut().enumerate() {
                    // SAFETY: row `i` of `x`, as the caller promises.
                    *d = unsafe { *self.x.offset(start as isize + p as isize * self.x_cs) }.widen();
                }
            }
        }
        let xs = &xs[..];
        if self.direct_path_applies() {
            // SAFETY: as the caller promises; the path applies (cpu_quantized_gemv.rs).
            return unsafe { self.run_direct(xs, threads) };
        }
        over_panels(m, k, n, threads, |first, last, panel| {
            // SAFETY: columns `first * panel .. last * panel` of `out`, written by this task only.
            unsafe { self.panels(xs, first, last, panel) };
        });
    }

    /// Dequantizes row `j` of `w` (`k` values) into `dst`.
    ///
    /// # Safety
    /// As `run`.
    #[inline]
    unsafe fn dequantize_row(&self, j: usize, dst: &mut [f32]) {
        // SAFETY (all three): as the caller promises.
        unsafe {
            match self.bits {
                2 => self.dequantize_row_as::<2>(j, dst),
                4 => self.dequantize_row_as::<4>(j, dst),
                _ => self.dequantize_row_as::<8>(j, dst),
            }
        }
    }

    /// `dequantize_row` with the width known to the compiler (the inner loop over a word's values
    /// then becomes a few vector instructions), in a build for AVX2 and FMA where the CPU has them.
    #[inline]
    unsafe fn dequantize_row_as<const BITS: usize>(&self, j: usize, dst: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has the features; the rest as the caller promises.
            return unsafe { self.dequantize_row_avx2::<BITS>(j, dst) };
        }
        // SAFETY: as the caller promises.
        unsafe { self.dequantize_row_generic::<BITS>(j, dst) }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dequantize_row_avx2<const BITS: usize>(&self, j: usize, dst: &mut [f32]) {
        // SAFETY: as the caller promises.
        unsafe { self.dequantize_row_generic::<BITS>(j, dst) }
    }

    #[inline(always)]
    unsafe fn dequantize_row_generic<const BITS: usize>(&self, j: usize, dst: &mut [f32]) {
        let per_word = 32 / BITS;
        let mask = (1u32 << BITS) - 1;
        let groups = self.k / self.group_size;
        let word_row = unsafe { self.w.offset(j as isize * self.w_strides[0]) };
        for g in 0..groups {
            // SAFETY: element (j, g) of scales and biases.
            let (scale, bias) = unsafe {
                (
                    (*self.scales.offset(j as isize * self.scales_strides[0] + g as isize * self.scales_strides[1])).widen(),
                    (*self.biases.offset(j as isize * self.biases_strides[0] + g as isize * self.biases_strides[1])).widen(),
                )
            };
            let first_word = g * self.group_size / per_word;
            let out = &mut dst[g * self.group_size..(g + 1) * self.group_size];
            for (wi, chunk) in out.chunks_exact_mut(per_word).enumerate() {
                // SAFETY: a word of row j.
                let word = unsafe { *word_row.offset((first_word + wi) as isize * self.w_strides[1]) };
                for (p, d) in chunk.iter_mut().enumerate() {
                    *d = scale * ((word >> (p * BITS)) & mask) as f32 + bias;
                }
            }
        }
    }

    /// Panels `first..last` (of `panel` columns each) of the product.
    ///
    /// # Safety
    /// As `run`; no other thread writes these columns of `out`.
    unsafe fn panels(&self, xs: &[f32], first: usize, last: usize, panel: usize) {
        let (m, k, n, out) = (self.x_rows.len(), self.k, self.n, self.out);
        let mut wide = vec![0f32; panel * k];
        let mut sums = vec![0f32; m * panel];
        for p in first..last {
            let j0 = p * panel;
            let width = panel.min(n - j0);
            for (jj, dst) in wide.chunks_exact_mut(k.max(1)).take(width).enumerate() {
                if k > 0 {
                    // SAFETY: row j0 + jj of w.
                    unsafe { self.dequantize_row(j0 + jj, dst) };
                }
            }
            // SAFETY: the buffers above, the panel laid out as `width` rows of `k`.
            unsafe { panel_product(xs, m, k, &wide, width, panel_layout(true, k, width), &mut sums) };
            for i in 0..m {
                for jj in 0..width {
                    // SAFETY: element (i, j0 + jj) of the contiguous `m × n` output.
                    unsafe { *out.add(i * n + j0 + jj) = T::narrow(sums[i * width + jj]) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    /// Packs `q` (values below 2^bits, `k` per row) into little-endian words as MLX does.
    fn pack(q: &[u32], bits: usize) -> Vec<u32> {
        let per_word = 32 / bits;
        q.chunks(per_word).map(|c| c.iter().enumerate().fold(0u32, |w, (p, &v)| w | (v << (p * bits)))).collect()
    }

    fn check<T: Element>(bits: usize, group_size: usize, m: usize, k: usize, n: usize, threads: usize, tolerance: f64) {
        let q: Vec<u32> = (0..n * k).map(|i| ((i * 7919 + 13) % (1 << bits)) as u32).collect();
        let groups = k / group_size;
        let scales: Vec<f32> = (0..n * groups).map(|i| 0.01 + (i % 7) as f32 * 0.003).collect();
        let biases: Vec<f32> = (0..n * groups).map(|i| -0.05 + (i % 5) as f32 * 0.02).collect();
        let x: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        // The inputs in T, and the reference from exactly those values.
        let (xt, st, bt): (Vec<T>, Vec<T>, Vec<T>) = (
            x.iter().map(|&v| T::narrow(v)).collect(),
            scales.iter().map(|&v| T::narrow(v)).collect(),
            biases.iter().map(|&v| T::narrow(v)).collect(),
        );
        let words = pack(&q, bits);
        let rows: Vec<i64> = (0..m).map(|i| (i * k) as i64).collect();
        let mut out = vec![T::narrow(0.0); m * n];
        let product = QuantizedProduct {
            x: xt.as_ptr(),
            x_rows: &rows,
            x_cs: 1,
            w: words.as_ptr(),
            w_strides: [(k * bits / 32) as isize, 1],
            scales: st.as_ptr(),
            scales_strides: [groups as isize, 1],
            biases: bt.as_ptr(),
            biases_strides: [groups as isize, 1],
            out: out.as_mut_ptr(),
            k,
            n,
            bits: bits as u32,
            group_size,
        };
        unsafe { product.run(threads) };
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| {
                        let g = j * groups + p / group_size;
                        let w = st[g].widen() as f64 * q[j * k + p] as f64 + bt[g].widen() as f64;
                        xt[i * k + p].widen() as f64 * w
                    })
                    .sum();
                let got = out[i * n + j].widen() as f64;
                assert!((got - want).abs() <= tolerance * want.abs().max(1.0), "{bits}-bit {m}x{k}x{n} ({i},{j}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn matches_the_definition_for_each_width_and_format() {
        for (bits, group_size) in [(2usize, 32usize), (4, 64), (8, 128), (4, 32)] {
            for (m, k, n) in [(1usize, 256usize, 700usize), (20, 128, 33), (3, 512, 9)] {
                for threads in [1, 3] {
                    check::<f32>(bits, group_size, m, k, n, threads, 1e-5);
                    check::<bf16>(bits, group_size, m, k, n, threads, 1.0 / 128.0);
                }
            }
        }
    }
}
