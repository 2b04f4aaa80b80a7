//! Attention on the CPU, `softmax(q·kᵀ·scale + mask)·v` with grouped-query heads, for the
//! `CpuAttention` primitive (shim/cpu_attention.cc): the operands, the bridge's entry and the
//! spreading over threads; the computation, in blocks of queries and keys, is
//! cpu_attention_blocks.rs.
//!
//! Why: on the CPU MLX attends with a composed fallback: a batched `q·kᵀ`, the mask, a softmax and
//! a batched `p·v`, each a pass over memory, the products in bfloat16/float16 in MLX's
//! single-threaded loop. A decoding step's attention reads the whole cache and does little
//! arithmetic with it: at 1,024 cached tokens, Qwen3-0.6B's shapes in bfloat16 took 2.9 ms per
//! layer on our 2-core x86-64, as much as the layer's weights, where reading the keys and values
//! once takes about 0.4 ms.
//!
//! How: one task per (batch row, key/value head, block of queries), spread over rayon's global
//! pool; a task walks the keys in blocks with a running softmax (cpu_attention_blocks.rs), so it
//! reads each key and value row once per block of queries and never holds more than a block's
//! scores. Scores and probabilities stay in float32 (MLX's fallback rounds both to a half
//! format); a masked position gets float32's lowest value, as MLX's gets its format's lowest,
//! so a query that sees nothing averages all values as MLX's does.

pub use crate::float_formats::Element;
use crate::float_formats::for_element;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};

/// Attention smaller than this many multiply-adds runs on the calling thread.
const MIN_MACS_FOR_THREADS: usize = 1 << 17;
/// Rows (queries × grouped heads) per task.
const ROWS_PER_TASK: usize = 128;

static CALLS: AtomicU64 = AtomicU64::new(0);

/// How many attentions have been computed here since the process started.
pub fn calls() -> u64 {
    CALLS.load(Ordering::Relaxed)
}

/// A 4-D operand `[batch, heads, rows, columns]` read in place: element `(b, h, r, c)` is at
/// `ptr + b*strides[0] + h*strides[1] + r*strides[2] + c*strides[3]` (in elements).
#[derive(Clone, Copy)]
pub struct View<T> {
    pub ptr: *const T,
    pub strides: [isize; 4],
}

impl<T> View<T> {
    #[inline]
    pub(crate) fn at(&self, b: usize, h: usize, r: usize) -> *const T {
        // SAFETY (of the callers' reads): the caller of `Attention::run` promises the view is live.
        unsafe { self.ptr.offset(b as isize * self.strides[0] + h as isize * self.strides[1] + r as isize * self.strides[2]) }
    }
}

impl<T: Element> View<T> {
    /// Widens row `(b, h, r)` (`dst.len()` columns) into `dst`.
    ///
    /// # Safety
    /// The row must lie in the live view.
    #[inline]
    pub(crate) unsafe fn widen_row(&self, b: usize, h: usize, r: usize, dst: &mut [f32]) {
        let start = self.at(b, h, r);
        if self.strides[3] == 1 {
            // SAFETY: as the caller promises.
            let row = unsafe { std::slice::from_raw_parts(start, dst.len()) };
            for (d, &x) in dst.iter_mut().zip(row) {
                *d = x.widen();
            }
        } else {
            for (c, d) in dst.iter_mut().enumerate() {
                // SAFETY: as the caller promises.
                *d = unsafe { *start.offset(c as isize * self.strides[3]) }.widen();
            }
        }
    }
}

/// Which key positions each query sees.
#[derive(Clone, Copy)]
pub enum Mask<T> {
    /// Every position.
    None,
    /// Query `t` of `T` sees positions up to `S - T + t` (the queries are the last `T` positions).
    Causal,
    /// A boolean per (batch, head, query, position), as bytes (0: hidden).
    Bool(View<u8>),
    /// A value added to each score.
    Additive(View<T>),
}

/// One attention: `q` `[batch, heads, queries, d]`, `k` `[batch, kv_heads, keys, d]`, `v`
/// `[batch, kv_heads, keys, dv]`; `out` contiguous `[batch, heads, queries, dv]`.
pub struct Attention<T: Element> {
    pub q: View<T>,
    pub k: View<T>,
    pub v: View<T>,
    pub mask: Mask<T>,
    pub out: *mut T,
    pub batch: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub queries: usize,
    pub keys: usize,
    pub d: usize,
    pub dv: usize,
    pub scale: f32,
}

// SAFETY: the inputs are only read, and each task writes the output rows of its own heads.
unsafe impl<T: Element> Sync for Attention<T> {}

/// The native bridge's entry (lib.rs), with the operands `CpuAttentionArgs` describes; `dtype`
/// names the element type (see `for_element`).
///
/// # Safety
/// The primitive (shim/cpu_attention.cc) passes its evaluated inputs' data and strides, dims
/// that describe them, and a freshly allocated contiguous output; MLX keeps the inputs alive
/// until this returns.
pub unsafe fn bridge(args: &crate::ffi::CpuAttentionArgs) {
    fn view<T>(input: &crate::ffi::StridedInput) -> View<T> {
        let s = input.strides;
        View { ptr: input.data.cast(), strides: [s[0] as isize, s[1] as isize, s[2] as isize, s[3] as isize] }
    }
    let dims = args.dims;
    for_element!(args.dtype, T => {
        let attention = Attention::<T> {
            q: view(&args.q),
            k: view(&args.k),
            v: view(&args.v),
            mask: match args.mask_kind {
                1 => Mask::Causal,
                2 => Mask::Bool(view(&args.mask)),
                3 => Mask::Additive(view(&args.mask)),
                _ => Mask::None,
            },
            out: args.out.cast(),
            batch: dims[0],
            heads: dims[1],
            kv_heads: dims[2],
            queries: dims[3],
            keys: dims[4],
            d: dims[5],
            dv: dims[6],
            scale: args.scale,
        };
        // SAFETY: as this function requires; `dtype` names the buffers' element type.
        unsafe { attention.run(crate::cpu_gemm::threads()) }
    })
}

impl<T: Element> Attention<T> {
    /// Computes the attention on up to `threads` threads.
    ///
    /// # Safety
    /// Every view must describe live memory of the stated shape, `out` a live contiguous output
    /// that overlaps no input, and `heads` a multiple of `kv_heads`.
    pub unsafe fn run(&self, threads: usize) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        if self.batch * self.kv_heads == 0 || self.queries == 0 {
            return;
        }
        // Query positions per task: about `ROWS_PER_TASK` rows over the grouped heads (a decoding
        // step's one query: one block per batch row and key/value head).
        let block = (ROWS_PER_TASK / (self.heads / self.kv_heads)).max(8);
        let blocks = self.queries.div_ceil(block);
        let tasks = self.batch * self.kv_heads * blocks;
        let task = |i: usize| {
            let (bg, qb) = (i / blocks, i % blocks);
            let first = qb * block;
            // SAFETY: as the caller promises; task i writes only its own rows of the output.
            unsafe { self.block_task(bg / self.kv_heads, bg % self.kv_heads, first, block.min(self.queries - first)) }
        };
        let work = self.batch * self.heads * self.queries * self.keys * (self.d + self.dv);
        let threads = if work < MIN_MACS_FOR_THREADS { 1 } else { threads.clamp(1, tasks) };
        if threads < 2 {
            (0..tasks).for_each(task);
        } else {
            // At most `threads` at once (the configured CPU threads), each taking every
            // `threads`-th task: under a causal mask later query blocks see more keys, and
            // interleaving gives each thread a share of the large ones.
            (0..threads).into_par_iter().for_each(|t| (t..tasks).step_by(threads).for_each(task));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use half::bf16;

    pub(crate) fn values(len: usize, seed: u64) -> Vec<f32> {
        (0..len).map(|i| ((((i as u64 + 1) * 2654435761 + seed * 97) % 1000) as f32 - 500.0) / 250.0).collect()
    }

    /// The textbook attention in float64, contiguous inputs.
    pub(crate) fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        shape: (usize, usize, usize, usize, usize, usize, usize),
        scale: f64,
        causal: bool,
        hide: Option<&dyn Fn(usize, usize, usize, usize) -> bool>,
    ) -> Vec<f64> {
        let (bn, hn, kvn, tn, sn, d, dv) = shape;
        let rep = hn / kvn;
        let mut out = vec![0f64; bn * hn * tn * dv];
        for b in 0..bn {
            for h in 0..hn {
                let g = h / rep;
                for t in 0..tn {
                    let mut sc: Vec<f64> = (0..sn)
                        .map(|s| {
                            let qrow = &q[((b * hn + h) * tn + t) * d..][..d];
                            let krow = &k[((b * kvn + g) * sn + s) * d..][..d];
                            qrow.iter().zip(krow).map(|(&x, &y)| x as f64 * y as f64).sum::<f64>() * scale
                        })
                        .collect();
                    for (s, x) in sc.iter_mut().enumerate() {
                        if (causal && s as isize > sn as isize - tn as isize + t as isize) || hide.is_some_and(|f| f(b, h, t, s)) {
                            *x = f64::NEG_INFINITY;
                        }
                    }
                    // A query that sees nothing averages the values, as MLX's attention does.
                    if sc.iter().all(|x| *x == f64::NEG_INFINITY) {
                        sc.fill(0.0);
                    }
                    let max = sc.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = sc.iter().map(|x| (x - max).exp()).collect();
                    let sum: f64 = e.iter().sum();
                    for c in 0..dv {
                        out[((b * hn + h) * tn + t) * dv + c] =
                            (0..sn).map(|s| e[s] / sum * v[((b * kvn + g) * sn + s) * dv + c] as f64).sum();
                    }
                }
            }
        }
        out
    }

    pub(crate) fn contiguous(shape: [usize; 4]) -> [isize; 4] {
        [(shape[1] * shape[2] * shape[3]) as isize, (shape[2] * shape[3]) as isize, shape[3] as isize, 1]
    }

    /// `dims` = batch, heads, kv_heads, queries, keys, d, dv.
    pub(crate) fn attention<T: Element>(
        [q, k, v]: [View<T>; 3],
        mask: Mask<T>,
        out: &mut [T],
        dims: [usize; 7],
        scale: f32,
    ) -> Attention<T> {
        let [batch, heads, kv_heads, queries, keys, d, dv] = dims;
        Attention { q, k, v, mask, out: out.as_mut_ptr(), batch, heads, kv_heads, queries, keys, d, dv, scale }
    }

    /// Attention over contiguous inputs (seeded by `seed`) against the definition, under each mask
    /// case: none, causal, the positions `hidden` says as a boolean and as an additive mask.
    /// `dims` = batch, heads, kv_heads, queries, keys, d, dv.
    pub(crate) fn check_masks(
        dims: [usize; 7],
        threads: usize,
        seed: u64,
        hidden: &dyn Fn(usize, usize, usize, usize) -> bool,
        tolerance: f64,
    ) {
        let [bn, hn, kvn, tn, sn, d, dv] = dims;
        let q = values(bn * hn * tn * d, seed);
        let k = values(bn * kvn * sn * d, seed + 1);
        let v = values(bn * kvn * sn * dv, seed + 2);
        let bools: Vec<u8> = (0..bn * hn * tn * sn)
            .map(|i| {
                let (s, t, h, b) = (i % sn, i / sn % tn, i / (sn * tn) % hn, i / (sn * tn * hn));
                u8::from(!hidden(b, h, t, s))
            })
            .collect();
        let additive: Vec<f32> = bools.iter().map(|&x| if x == 1 { 0.0 } else { -1e30 }).collect();
        for case in 0..4 {
            let mut out = vec![0f32; bn * hn * tn * dv];
            let mask = match case {
                0 => Mask::None,
                1 => Mask::Causal,
                2 => Mask::Bool(View { ptr: bools.as_ptr(), strides: contiguous([bn, hn, tn, sn]) }),
                _ => Mask::Additive(View { ptr: additive.as_ptr(), strides: contiguous([bn, hn, tn, sn]) }),
            };
            let views = [
                View { ptr: q.as_ptr(), strides: contiguous([bn, hn, tn, d]) },
                View { ptr: k.as_ptr(), strides: contiguous([bn, kvn, sn, d]) },
                View { ptr: v.as_ptr(), strides: contiguous([bn, kvn, sn, dv]) },
            ];
            unsafe { attention(views, mask, &mut out, dims, 0.3).run(threads) };
            // The additive mask's -1e30 is a very low score, not a hidden one: a query that sees
            // nothing then averages the values too.
            let want = reference(&q, &k, &v, (bn, hn, kvn, tn, sn, d, dv), 0.3, case == 1, (case >= 2).then_some(hidden));
            for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                assert!((g as f64 - w).abs() < tolerance, "dims {dims:?} case {case} threads {threads} at {i}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn matches_the_definition_with_grouped_heads_masks_and_threads() {
        for threads in [1, 3] {
            check_masks([2, 4, 2, 3, 37, 20, 12], threads, 1, &|b, h, t, s| (b + h + t + s).is_multiple_of(5), 1e-5);
        }
    }

    #[test]
    fn reads_strided_caches_and_half_formats() {
        // Keys and values as the first 9 of 16 rows of a preallocated cache.
        let (bn, hn, kvn, tn, sn, cap, d) = (1usize, 2usize, 1usize, 1usize, 9usize, 16usize, 8usize);
        let q = values(hn * d, 4);
        let kc = values(kvn * cap * d, 5);
        let vc = values(kvn * cap * d, 6);
        let want = reference(&q, &kc[..sn * d], &vc[..sn * d], (bn, hn, kvn, tn, sn, d, d), 0.5, false, None);
        let qh: Vec<bf16> = q.iter().map(|&x| bf16::from_f32(x)).collect();
        let kh: Vec<bf16> = kc.iter().map(|&x| bf16::from_f32(x)).collect();
        let vh: Vec<bf16> = vc.iter().map(|&x| bf16::from_f32(x)).collect();
        let mut out = vec![bf16::ZERO; hn * d];
        let cache = [(cap * d) as isize, (cap * d) as isize, d as isize, 1];
        let views = [
            View { ptr: qh.as_ptr(), strides: contiguous([bn, hn, tn, d]) },
            View { ptr: kh.as_ptr(), strides: cache },
            View { ptr: vh.as_ptr(), strides: cache },
        ];
        let attention = attention(views, Mask::None, &mut out, [bn, hn, kvn, tn, sn, d, d], 0.5);
        unsafe { attention.run(1) };
        for (&g, &w) in out.iter().zip(&want) {
            // Inputs rounded to bfloat16, the result once more.
            assert!((g.to_f64() - w).abs() < 3e-2 * w.abs().max(1.0), "{g} vs {w}");
        }
    }

    #[test]
    fn a_query_that_sees_nothing_averages_the_values() {
        let (d, sn) = (4usize, 3usize);
        let q = values(d, 7);
        let k = values(sn * d, 8);
        let v = values(sn * d, 9);
        let none = [0u8; 3];
        let mut out = vec![0f32; d];
        let views = [
            View { ptr: q.as_ptr(), strides: contiguous([1, 1, 1, d]) },
            View { ptr: k.as_ptr(), strides: contiguous([1, 1, sn, d]) },
            View { ptr: v.as_ptr(), strides: contiguous([1, 1, sn, d]) },
        ];
        let mask = Mask::Bool(View { ptr: none.as_ptr(), strides: [0, 0, 0, 1] });
        let attention = attention(views, mask, &mut out, [1, 1, 1, 1, sn, d, d], 1.0);
        unsafe { attention.run(1) };
        for c in 0..d {
            let mean = (0..sn).map(|s| v[s * d + c]).sum::<f32>() / sn as f32;
            assert!((out[c] - mean).abs() < 1e-6);
        }
    }
}
