//! `exp` over a slice of float32 in vector registers, for the softmax of attention on the CPU
//! (cpu_attention_blocks.rs), where one exponential per score is most of the work after the
//! products: a 2,048-token prompt's attention takes millions per head.
//!
//! Why not `f32::exp`: it is a call into the C library per element, which keeps the loop scalar.
//! MLX's own CPU `exp` is scalar too on x86-64 (its 16.7M exponentials of a 2,048-token, 4-head
//! softmax took 222 ms on our 2-core machine).
//!
//! How: the classic range reduction `eˣ = 2ⁿ·eʳ` with `n = round(x·log₂e)` and `|r| ≤ ln2/2`, `eʳ`
//! by a degree-6 polynomial (the coefficients of Cephes' `expf`, accurate to about one unit in the
//! last place), `2ⁿ` built in the exponent bits; eight at a time with AVX2 and FMA where the CPU
//! has them, one at a time otherwise.

/// Below this, `eˣ` is under float32's smallest normal number and is returned as 0.
const LOWEST: f32 = -87.336_55;
/// Above this, `eˣ` overflows; such inputs are clamped (attention only passes `x ≤ 0`).
const HIGHEST: f32 = 88.722_83;

#[inline(always)]
fn exp_one(x: f32) -> f32 {
    let clamped = x.clamp(LOWEST, HIGHEST);
    let n = (clamped * std::f32::consts::LOG2_E + 0.5).floor();
    // ln 2 in two parts, so that `n · ln2` is exact to float32's precision.
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let z = r * r;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let e = p * z + r + 1.0;
    // `n` lies in [-126, 128] after the clamp.
    let scale = f32::from_bits(((n as i32).wrapping_add(127) as u32) << 23);
    // A NaN passes through the clamp and the arithmetic unchanged; tiny results flush to 0.
    if x < LOWEST { 0.0 } else { e * scale }
}

#[inline(always)]
fn exp_shifted_generic(xs: &mut [f32], shift: f32) -> f32 {
    let mut sums = [0f32; 8];
    let mut chunks = xs.chunks_exact_mut(8);
    for chunk in &mut chunks {
        for (x, s) in chunk.iter_mut().zip(sums.iter_mut()) {
            *x = exp_one(*x - shift);
            *s += *x;
        }
    }
    let mut sum = 0f32;
    for x in chunks.into_remainder() {
        *x = exp_one(*x - shift);
        sum += *x;
    }
    sum + sums.iter().sum::<f32>()
}

/// `exp_one` of eight lanes; a NaN lane stays NaN (the operand order of `max`/`min` keeps it).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp8(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let clamped = _mm256_min_ps(_mm256_set1_ps(HIGHEST), _mm256_max_ps(_mm256_set1_ps(LOWEST), x));
    let n = _mm256_floor_ps(_mm256_fmadd_ps(clamped, _mm256_set1_ps(std::f32::consts::LOG2_E), _mm256_set1_ps(0.5)));
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), clamped);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let z = _mm256_mul_ps(r, r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let e = _mm256_add_ps(_mm256_fmadd_ps(p, z, r), _mm256_set1_ps(1.0));
    let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127))));
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(LOWEST));
    _mm256_blendv_ps(_mm256_mul_ps(e, scale), _mm256_setzero_ps(), tiny)
}

/// The compiler keeps `exp_one` scalar (the float-to-integer conversion), so eight lanes at a
/// time are written out with AVX2 intrinsics.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_shifted_avx2(xs: &mut [f32], shift: f32) -> f32 {
    use std::arch::x86_64::*;
    let by = _mm256_set1_ps(shift);
    let mut acc = _mm256_setzero_ps();
    let mut chunks = xs.chunks_exact_mut(8);
    for chunk in &mut chunks {
        // SAFETY: eight floats of the chunk; the CPU has the features.
        unsafe {
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(chunk.as_ptr()), by));
            _mm256_storeu_ps(chunk.as_mut_ptr(), e);
            acc = _mm256_add_ps(acc, e);
        }
    }
    let mut lanes = [0f32; 8];
    // SAFETY: eight floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut sum = lanes.iter().sum::<f32>();
    for x in chunks.into_remainder() {
        *x = exp_one(*x - shift);
        sum += *x;
    }
    sum
}

/// Replaces each `x` with `e^(x - shift)` and returns their sum.
pub fn exp_shifted(xs: &mut [f32], shift: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has the features.
        return unsafe { exp_shifted_avx2(xs, shift) };
    }
    exp_shifted_generic(xs, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dispatching entry (AVX2 on this machine, where it has it) and the portable loop.
    const PATHS: [fn(&mut [f32], f32) -> f32; 2] = [exp_shifted, exp_shifted_generic];

    #[test]
    fn is_within_two_units_in_the_last_place_of_exp() {
        for path in PATHS {
            let mut xs: Vec<f32> = (0..200_001).map(|i| -87.0 + 175.0 * i as f32 / 200_000.0).collect();
            let want: Vec<f64> = xs.iter().map(|&x| (x as f64).exp()).collect();
            path(&mut xs, 0.0);
            for (&g, &w) in xs.iter().zip(&want) {
                assert!(((g as f64 - w) / w).abs() < 2.5e-7, "{g} vs {w}");
            }
            // The sum, over scores shifted by their maximum as a softmax takes them.
            let mut ys: Vec<f32> = (0..1001).map(|i| -20.0 + 20.0 * i as f32 / 1000.0).collect();
            let total: f64 = ys.iter().map(|&y| (y as f64 - 1.0).exp()).sum();
            assert!(((path(&mut ys, 1.0) as f64 - total) / total).abs() < 1e-6);
        }
    }

    #[test]
    fn flushes_tiny_results_and_keeps_nan() {
        for path in PATHS {
            // Sixteen values, so that the eight-lane path takes them all and the tail none.
            let mut xs = vec![-100.0f32, f32::MIN, f32::NEG_INFINITY, 0.0, f32::NAN, -87.0, 1.0, -1.0];
            xs.extend_from_within(..);
            path(&mut xs, 0.0);
            for half in xs.chunks(8) {
                assert_eq!(&half[..4], &[0.0, 0.0, 0.0, 1.0]);
                assert!(half[4].is_nan());
                assert!(half[5] > 0.0);
            }
            // A shift and a tail: e^(x - 2).
            let mut ys = vec![2.0f32; 11];
            assert!((path(&mut ys, 2.0) - 11.0).abs() < 1e-6);
        }
    }
}
