//! Few-row affine-quantized products straight from the packed words, for decoding steps: the
//! `QuantizedProduct` of cpu_quantized_gemm.rs with at most `MAX_ROWS` rows of `x`.
//!
//! Why: the panel path dequantizes every weight to float32 before multiplying, which costs more
//! than the multiplication itself when `x` has one row; a 4-bit Qwen3-0.6B decoded no faster than
//! its bfloat16 original (8.8 against 9.1 tokens/s on our 2-core x86-64), though it reads a
//! quarter of the bytes.
//!
//! How: each output is `Σ_g scale_g · (q_g · x_g) + bias_g · Σ x_g` over the groups `g` of its
//! weight row, so only the integer codes meet `x`. Eight packed words are loaded as one AVX2
//! vector; the codes at bit position `p` of the eight words are shifted and masked out, converted
//! to float32 and multiplied into `x`'s values at the same eight positions, which `x` is laid out
//! for beforehand (`interleaved`). A row's product is a chain of dependent FMAs, so one or two
//! rows are computed for several columns at once. Sums are float32; columns are spread over
//! rayon's pool as the panel path spreads its panels.

use crate::cpu_half_gemm::over_panels;
use crate::cpu_quantized_gemm::QuantizedProduct;
use crate::float_formats::Element;

/// Rows of `x` up to which the direct path runs (a decoding step of up to this many sequences).
pub const MAX_ROWS: usize = 8;

/// Words read as one vector.
const LANES: usize = 8;

impl<T: Element> QuantizedProduct<'_, T> {
    /// Whether the direct path can compute this product on this CPU: few rows, the words of a
    /// weight row contiguous, each group a whole number of 8-word vectors, and AVX2 with FMA.
    pub(crate) fn direct_path_applies(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let per_word = 32 / self.bits as usize;
            let m = self.x_rows.len();
            (1..=MAX_ROWS).contains(&m)
                && self.w_strides[1] == 1
                && self.group_size.is_multiple_of(per_word * LANES)
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// `x` widened, each row laid out in blocks of `8 · per_word` values (the values eight words
    /// hold), position `p` of the eight words together: `[block][p][word]`. Also each row's sum
    /// over each group, for the bias term.
    fn interleaved(&self, xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (m, k, gs) = (self.x_rows.len(), self.k, self.group_size);
        let per_word = 32 / self.bits as usize;
        let block = per_word * LANES;
        let mut laid = vec![0f32; m * k];
        let mut sums = vec![0f32; m * (k / gs)];
        for i in 0..m {
            let row = &xs[i * k..(i + 1) * k];
            let dst = &mut laid[i * k..(i + 1) * k];
            for (from, to) in row.chunks_exact(block).zip(dst.chunks_exact_mut(block)) {
                for w in 0..LANES {
                    for p in 0..per_word {
                        to[p * LANES + w] = from[w * per_word + p];
                    }
                }
            }
            for (g, s) in sums[i * (k / gs)..(i + 1) * (k / gs)].iter_mut().enumerate() {
                *s = row[g * gs..(g + 1) * gs].iter().sum();
            }
        }
        (laid, sums)
    }

    /// Computes the product; `xs` is `x` widened, row-major `m × k`.
    ///
    /// # Safety
    /// As `run`, and `direct_path_applies()` must hold.
    pub(crate) unsafe fn run_direct(&self, xs: &[f32], threads: usize) {
        let (laid, sums) = self.interleaved(xs);
        let (m, k, n) = (self.x_rows.len(), self.k, self.n);
        over_panels(m, k, n, threads, |first, last, panel| {
            let columns = first * panel..(last * panel).min(n);
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has AVX2 and FMA (`direct_path_applies`); these columns of `out` are
            // written by this task only.
            unsafe {
                match self.bits {
                    2 => self.columns_for_rows::<2>(&laid, &sums, columns),
                    4 => self.columns_for_rows::<4>(&laid, &sums, columns),
                    _ => self.columns_for_rows::<8>(&laid, &sums, columns),
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = (columns, &laid, &sums);
        });
    }

    /// `columns_avx2` with the number of rows known to the compiler (each row's sums then stay in
    /// registers), and as many columns at once as keep the FMA unit busy: one row's product is a
    /// chain of dependent FMAs, so one row takes four columns, two take two.
    ///
    /// # Safety
    /// As `columns_avx2`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn columns_for_rows<const BITS: usize>(&self, laid: &[f32], sums: &[f32], columns: std::ops::Range<usize>) {
        // SAFETY (each arm): as the caller promises; `m` is 1..=MAX_ROWS (`direct_path_applies`).
        unsafe {
            match self.x_rows.len() {
                1 => self.columns_avx2::<BITS, 1, 4>(laid, sums, columns),
                2 => self.columns_avx2::<BITS, 2, 2>(laid, sums, columns),
                3 => self.columns_avx2::<BITS, 3, 1>(laid, sums, columns),
                4 => self.columns_avx2::<BITS, 4, 1>(laid, sums, columns),
                5 => self.columns_avx2::<BITS, 5, 1>(laid, sums, columns),
                6 => self.columns_avx2::<BITS, 6, 1>(laid, sums, columns),
                7 => self.columns_avx2::<BITS, 7, 1>(laid, sums, columns),
                _ => self.columns_avx2::<BITS, 8, 1>(laid, sums, columns),
            }
        }
    }

    /// Output columns `columns` of the `M` rows, `C` columns at a time (the last few one at a time).
    ///
    /// # Safety
    /// As `run_direct`; no other thread writes these columns.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn columns_avx2<const BITS: usize, const M: usize, const C: usize>(
        &self,
        laid: &[f32],
        sums: &[f32],
        columns: std::ops::Range<usize>,
    ) {
        let mut j = columns.start;
        while j + C <= columns.end {
            // SAFETY: as the caller promises.
            unsafe { self.column_block_avx2::<BITS, M, C>(laid, sums, j) };
            j += C;
        }
        while j < columns.end {
            // SAFETY: as the caller promises.
            unsafe { self.column_block_avx2::<BITS, M, 1>(laid, sums, j) };
            j += 1;
        }
    }

    /// Output columns `j0..j0 + C` of the `M` rows.
    ///
    /// # Safety
    /// As `run_direct`; no other thread writes these columns.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn column_block_avx2<const BITS: usize, const M: usize, const C: usize>(&self, laid: &[f32], sums: &[f32], j0: usize) {
        use std::arch::x86_64::*;
        let (k, n, gs) = (self.k, self.n, self.group_size);
        let per_word = 32 / BITS;
        let block = per_word * LANES;
        let groups = k / gs;
        let mask = _mm256_set1_epi32(((1u32 << BITS) - 1) as i32);
        // SAFETY (the reads below): rows j0.. of w, scales and biases, as the caller promises.
        let words: [*const u32; C] = std::array::from_fn(|c| unsafe { self.w.offset((j0 + c) as isize * self.w_strides[0]) });
        let mut total = [[_mm256_setzero_ps(); C]; M];
        let mut bias_part = [[0f32; C]; M];
        for g in 0..groups {
            let at = |s: *const T, strides: [isize; 2], c: usize| {
                unsafe { *s.offset((j0 + c) as isize * strides[0] + g as isize * strides[1]) }.widen()
            };
            let mut dots = [[_mm256_setzero_ps(); C]; M];
            for b in (g * gs / block)..((g + 1) * gs / block) {
                let packed: [__m256i; C] =
                    std::array::from_fn(|c| unsafe { _mm256_loadu_si256(words[c].add(b * LANES) as *const __m256i) });
                for p in 0..per_word {
                    let shift = _mm_cvtsi32_si128((p * BITS) as i32);
                    let codes: [__m256; C] =
                        std::array::from_fn(|c| _mm256_cvtepi32_ps(_mm256_and_si256(_mm256_srl_epi32(packed[c], shift), mask)));
                    for (i, row) in dots.iter_mut().enumerate() {
                        // SAFETY: block b of row i of `laid` holds `block` values.
                        let xv = unsafe { _mm256_loadu_ps(laid.as_ptr().add(i * k + b * block + p * LANES)) };
                        for (dot, &code) in row.iter_mut().zip(&codes) {
                            *dot = _mm256_fmadd_ps(code, xv, *dot);
                        }
                    }
                }
            }
            for c in 0..C {
                let scale = _mm256_set1_ps(at(self.scales, self.scales_strides, c));
                let bias = at(self.biases, self.biases_strides, c);
                for i in 0..M {
                    total[i][c] = _mm256_fmadd_ps(scale, dots[i][c], total[i][c]);
                    bias_part[i][c] += bias * sums[i * groups + g];
                }
            }
        }
        for i in 0..M {
            for c in 0..C {
                let mut lanes = [0f32; LANES];
                // SAFETY: a local array of LANES floats.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total[i][c]) };
                let value = lanes.iter().sum::<f32>() + bias_part[i][c];
                // SAFETY: element (i, j0 + c) of the contiguous `m × n` output.
                unsafe { *self.out.add(i * n + j0 + c) = T::narrow(value) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::bf16;

    /// Packs `q` (values below 2^bits) into little-endian words as MLX does.
    fn pack(q: &[u32], bits: usize) -> Vec<u32> {
        let per_word = 32 / bits;
        q.chunks(per_word).map(|c| c.iter().enumerate().fold(0u32, |w, (p, &v)| w | (v << (p * bits)))).collect()
    }

    /// The direct path against the float64 definition, with scales and biases read through
    /// transposed strides.
    fn check<T: Element>(bits: usize, group_size: usize, m: usize, k: usize, n: usize, tolerance: f64) {
        let q: Vec<u32> = (0..n * k).map(|i| ((i * 7919 + 13) % (1 << bits)) as u32).collect();
        let groups = k / group_size;
        // Stored transposed: element (j, g) at g * n + j.
        let scales: Vec<T> = (0..n * groups).map(|i| T::narrow(0.01 + (i % 7) as f32 * 0.003)).collect();
        let biases: Vec<T> = (0..n * groups).map(|i| T::narrow(-0.05 + (i % 5) as f32 * 0.02)).collect();
        let x: Vec<T> = (0..m * k).map(|i| T::narrow(((i * 37 % 101) as f32 - 50.0) / 50.0)).collect();
        let words = pack(&q, bits);
        let rows: Vec<i64> = (0..m).map(|i| (i * k) as i64).collect();
        let mut out = vec![T::narrow(0.0); m * n];
        let product = QuantizedProduct {
            x: x.as_ptr(),
            x_rows: &rows,
            x_cs: 1,
            w: words.as_ptr(),
            w_strides: [(k * bits / 32) as isize, 1],
            scales: scales.as_ptr(),
            scales_strides: [1, n as isize],
            biases: biases.as_ptr(),
            biases_strides: [1, n as isize],
            out: out.as_mut_ptr(),
            k,
            n,
            bits: bits as u32,
            group_size,
        };
        if !product.direct_path_applies() {
            return; // this CPU (or architecture) has no direct path
        }
        let xs: Vec<f32> = x.iter().map(|v| v.widen()).collect();
        unsafe { product.run_direct(&xs, 2) };
        for i in 0..m {
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| {
                        let g = (p / group_size) * n + j;
                        let w = scales[g].widen() as f64 * q[j * k + p] as f64 + biases[g].widen() as f64;
                        xs[i * k + p] as f64 * w
                    })
                    .sum();
                let got = out[i * n + j].widen() as f64;
                assert!((got - want).abs() <= tolerance * want.abs().max(1.0), "{bits}-bit {m}x{k}x{n} ({i},{j}): {got} vs {want}");
            }
        }
    }

    #[test]
    fn direct_path_matches_the_definition() {
        for (bits, group_size) in [(2usize, 128usize), (4, 64), (4, 128), (8, 32), (8, 64)] {
            // Row counts of each column grouping (four columns for one row, two for two), with tails.
            for (m, k, n) in [(1usize, 256usize, 303usize), (2, 128, 7), (3, 512, 17), (8, 128, 9)] {
                check::<f32>(bits, group_size, m, k, n, 1e-5);
                check::<bf16>(bits, group_size, m, k, n, 1.0 / 128.0);
            }
        }
    }

    #[test]
    fn applies_only_to_few_rows_and_whole_vectors() {
        let words = [0u32; 64];
        let x = [0f32; 9 * 64];
        let scales = [0f32; 9];
        let rows: Vec<i64> = (0..9).map(|i| i * 64).collect();
        let mut out = [0f32; 9];
        let out = out.as_mut_ptr();
        let product = |m: usize, bits: u32, group_size: usize, w_cs: isize| QuantizedProduct {
            x: x.as_ptr(),
            x_rows: &rows[..m],
            x_cs: 1,
            w: words.as_ptr(),
            w_strides: [8, w_cs],
            scales: scales.as_ptr(),
            scales_strides: [1, 1],
            biases: scales.as_ptr(),
            biases_strides: [1, 1],
            out,
            k: 64,
            n: 1,
            bits,
            group_size,
        };
        if !product(1, 4, 64, 1).direct_path_applies() {
            return; // no AVX2 here
        }
        assert!(product(8, 4, 64, 1).direct_path_applies());
        assert!(!product(9, 4, 64, 1).direct_path_applies(), "a prompt's rows take the panel path");
        assert!(!product(1, 4, 32, 1).direct_path_applies(), "a 32-value group is half a vector of 4-bit words");
        assert!(!product(1, 4, 64, 2).direct_path_applies(), "strided words");
    }
}
