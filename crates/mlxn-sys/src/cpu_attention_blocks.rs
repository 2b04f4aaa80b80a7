//! One task of the `CpuAttention` primitive's attention (cpu_attention.rs): a block of queries
//! against all the keys, in blocks.
//!
//! Why: MLX's CPU fallback materializes the scores of every query against every key (a
//! 2,048-token prompt: 16.7M floats per four heads), masks them with a second array of that size,
//! and takes a scalar `exp` of each; on our 2-core machine that was 300 ms per layer of the `tiny`
//! preset, 600 ms for `small-float32`'s, most of a long prompt's prefill. For a decoding step the
//! blocks also beat scoring one key row at a time against the few queries (the previous kernel):
//! 8 rows at up to 2,048 cached tokens through `tiny`'s 8 layers, 8.2 → 5.3 ms per step.
//!
//! How (the online softmax of flash attention): the block's queries of every head that shares the
//! key/value head are the rows of one matrix. A task walks the keys in blocks: scores of the
//! block by a small product (the `gemm` crate), the mask, the running maximum and sum of each row
//! updated and the exponentials taken in vector registers (fast_exp.rs), then the block's values
//! accumulated by a second product. With a causal mask the key blocks past a query block's last visible position
//! are skipped, which halves the work of a prompt; so are key blocks an array mask hides from
//! every row of the task (a left-padded batch's padding and, in a padded prompt, the blocks past
//! the queries), and a query an array mask hides everything from (a padding query) takes the
//! values' mean without walking them (`key_blocks`). Scores, probabilities and sums stay float32;
//! the output is rounded once.

use crate::cpu_attention::{Attention, Element, Mask};
use crate::fast_exp::exp_shifted;

/// Keys per block.
const KEY_BLOCK: usize = 128;

/// `dst (m × n) = keep · dst + a (m × k) · b (k × n)`, each operand given as (pointer, column
/// stride, row stride), on the calling thread.
///
/// # Safety
/// The operands must cover the stated shapes, and `dst` overlap neither input.
unsafe fn product(m: usize, n: usize, k: usize, dst: *mut f32, keep: bool, a: (*const f32, isize, isize), b: (*const f32, isize, isize)) {
    // `gemm::gemm(m, n, k, dst, dst_cs, dst_rs, read_dst, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs,
    // alpha, beta, …)` computes `dst = alpha · dst + beta · lhs · rhs`.
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(m, n, k, dst, 1, n as isize, keep, a.0, a.1, a.2, b.0, b.1, b.2, 1.0, 1.0, false, false, false, gemm::Parallelism::None)
    }
}

/// How many of `bytes` (a block of a boolean mask, at most `KEY_BLOCK`) are not zero. A byte
/// counter per lane, which the compiler vectorises (a `filter().count()` stayed one byte a step,
/// most of a padded prompt's extra attention time).
#[inline]
fn visible_bytes(bytes: &[u8]) -> usize {
    bytes.chunks(255).map(|chunk| chunk.iter().fold(0u8, |c, &x| c.wrapping_add(u8::from(x != 0))) as usize).sum()
}

/// How an array mask treats one key block of a task (`Attention::key_blocks`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyBlock {
    /// Hidden from every row that sees anything: skipped.
    Hidden,
    /// Seen whole by every row that sees anything: scored without the mask.
    Visible,
    /// Scored, then masked.
    Mixed,
}

/// A task's key blocks under an array mask (`class` empty: walk them all, masking each), and
/// its rows that see no key at all (they take the values' mean).
struct KeyBlocks {
    class: Vec<KeyBlock>,
    blind: Vec<bool>,
    /// Past the last key that a row sees (the keys after it are not walked).
    end: usize,
}

impl<T: Element> Attention<T> {
    /// Queries `first..first + count` of batch row `b`, for the heads that share key/value head `g`.
    ///
    /// # Safety
    /// As `Attention::run`; no other task writes these output rows.
    pub(crate) unsafe fn block_task(&self, b: usize, g: usize, first: usize, count: usize) {
        let (d, dv, s_len, t_len) = (self.d, self.dv, self.keys, self.queries);
        let rep = self.heads / self.kv_heads;
        let rows = rep * count; // row r: head g*rep + r / count, query first + r % count
        let head_query = |r: usize| (g * rep + r / count, first + r % count);
        let mut qs = vec![0f32; rows * d];
        for r in 0..rows {
            let (h, t) = head_query(r);
            let dst = &mut qs[r * d..(r + 1) * d];
            // SAFETY: a row of q.
            unsafe { self.q.widen_row(b, h, t, dst) };
            for x in dst.iter_mut() {
                *x *= self.scale;
            }
        }
        // Query t sees keys up to `S - T + t` under a causal mask. When every query sees at least
        // one key (S ≥ T), key blocks past the block's last visible key are skipped; otherwise a
        // query that sees nothing averages every value, as MLX's does, so all keys are walked.
        let causal = matches!(self.mask, Mask::Causal);
        let keys_walked = if causal && s_len >= t_len { s_len - t_len + first + count } else { s_len };
        // SAFETY: an array mask covers (b, every head, every query, every key).
        let plan = unsafe { self.key_blocks(b, rows, &head_query, keys_walked) };
        let keys_walked = keys_walked.min(plan.end);
        let mut max = vec![f32::NEG_INFINITY; rows];
        let mut sum = vec![0f32; rows];
        let mut acc = vec![0f32; rows * dv];
        let mut ks = vec![0f32; KEY_BLOCK * d];
        let mut vs = vec![0f32; KEY_BLOCK * dv];
        let mut scores = vec![0f32; rows * KEY_BLOCK];
        for (block_index, start) in (0..keys_walked).step_by(KEY_BLOCK).enumerate() {
            let class = plan.class.get(block_index).copied().unwrap_or(KeyBlock::Mixed);
            if class == KeyBlock::Hidden {
                continue;
            }
            let n = KEY_BLOCK.min(keys_walked - start);
            for j in 0..n {
                // SAFETY: rows of k and v.
                unsafe {
                    self.k.widen_row(b, g, start + j, &mut ks[j * d..(j + 1) * d]);
                    self.v.widen_row(b, g, start + j, &mut vs[j * dv..(j + 1) * dv]);
                }
            }
            let block = &mut scores[..rows * n];
            // scores (rows × n) = qs (rows × d) · ksᵀ (d × n).
            // SAFETY: the buffers have these shapes.
            unsafe { product(rows, n, d, block.as_mut_ptr(), false, (qs.as_ptr(), 1, d as isize), (ks.as_ptr(), d as isize, 1)) };
            for r in 0..rows {
                let (h, t) = head_query(r);
                let row = &mut block[r * n..(r + 1) * n];
                if class != KeyBlock::Visible {
                    // SAFETY: the mask covers (b, h, t, start..start + n).
                    unsafe { self.apply_mask(row, b, h, t, start) };
                }
                let block_max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let new_max = max[r].max(block_max);
                // Rows that have seen only -inf (an additive mask) so far keep zero weight and sum.
                let shift = if new_max == f32::NEG_INFINITY { 0.0 } else { new_max };
                let correction = (max[r] - shift).exp();
                max[r] = new_max;
                sum[r] = sum[r] * correction + exp_shifted(row, shift);
                if correction != 1.0 {
                    for a in &mut acc[r * dv..(r + 1) * dv] {
                        *a *= correction;
                    }
                }
            }
            // acc (rows × dv) += probabilities (rows × n) · vs (n × dv).
            // SAFETY: the buffers have these shapes.
            unsafe { product(rows, dv, n, acc.as_mut_ptr(), true, (block.as_ptr(), 1, n as isize), (vs.as_ptr(), 1, dv as isize)) };
        }
        // Rows that see nothing average every value (what walking all keys, each at the same
        // lowest score, gives), whatever the walk above left in their accumulators.
        if plan.blind.contains(&true) {
            let mut total = vec![0f32; dv];
            let mut row = vec![0f32; dv];
            for s in 0..s_len {
                // SAFETY: a row of v.
                unsafe { self.v.widen_row(b, g, s, &mut row) };
                for (m, &x) in total.iter_mut().zip(&row) {
                    *m += x;
                }
            }
            for r in (0..rows).filter(|&r| plan.blind[r]) {
                acc[r * dv..(r + 1) * dv].copy_from_slice(&total);
                sum[r] = s_len as f32;
            }
        }
        for r in 0..rows {
            let (h, t) = head_query(r);
            let at = ((b * self.heads + h) * t_len + t) * dv;
            let inv = 1.0 / sum[r];
            for (c, &x) in acc[r * dv..(r + 1) * dv].iter().enumerate() {
                // SAFETY: an element of this task's output rows.
                unsafe { *self.out.add(at + c) = T::narrow(x * inv) };
            }
        }
    }

    /// How an array mask treats the task's key blocks (empty: walk them all, masking each).
    ///
    /// Why: a server's batch is left-padded to its longest row, so a decoding step of a short row
    /// beside a 2,048-token one would otherwise read and score two thousand padding positions per
    /// layer; and a padded prompt's attention, under an array mask rather than `Causal`, walked
    /// every key for every query (its padding queries see nothing, which turned the skipping off
    /// for their tasks) and read the mask one byte at a time: `tiny`'s 2,047-token attention took
    /// 26.7 ms under an explicit causal mask against 12.7 ms as `Causal`, and a prefill of a
    /// 2,048- and a 1,024-token prompt together 774 ms against 420 ms for the two alone, more
    /// than two 2,048-token prompts together (571 ms; 2 cores). Now (13.6 vs 12.5 ms; 545 ms) key
    /// blocks hidden from every row that sees anything are skipped (for a causal mask, those past
    /// the queries, as `Causal` skips them) and the last one is walked only up to its last seen
    /// key, blocks every such row sees whole are not masked, and rows that see nothing (padding
    /// queries) take the values' mean, which is what walking every key at one lowest score gives
    /// (MLX's fallback averages them too). Skipping is exact: a hidden score (float32's lowest or
    /// an added -inf) has weight zero beside any visible one. An additive mask hides only where
    /// it adds -inf (any finite value, however low, is a score) and is added wherever a block is
    /// walked; a row that sees nothing under it walks every key as before.
    ///
    /// # Safety
    /// An array mask must cover the task's rows and keys `..keys_walked`.
    unsafe fn key_blocks(&self, b: usize, rows: usize, head_query: &dyn Fn(usize) -> (usize, usize), keys_walked: usize) -> KeyBlocks {
        let walk_all = KeyBlocks { class: Vec::new(), blind: Vec::new(), end: keys_walked };
        let bool_mask = match self.mask {
            Mask::Bool(_) => true,
            Mask::Additive(_) => false,
            Mask::None | Mask::Causal => return walk_all,
        };
        let blocks = keys_walked.div_ceil(KEY_BLOCK);
        // Per row and block: how many of its keys the row sees.
        let mut seen = vec![0usize; rows * blocks];
        let mut blind = vec![false; rows];
        for r in 0..rows {
            let (h, t) = head_query(r);
            let mut any = false;
            for (block_index, start) in (0..keys_walked).step_by(KEY_BLOCK).enumerate() {
                let n = KEY_BLOCK.min(keys_walked - start);
                let count = match self.mask {
                    Mask::Bool(m) => {
                        // SAFETY: as the caller promises.
                        let base = unsafe { m.at(b, h, t).offset(start as isize * m.strides[3]) };
                        if m.strides[3] == 1 {
                            // SAFETY: as the caller promises (n contiguous bytes).
                            let bytes = unsafe { std::slice::from_raw_parts(base, n) };
                            visible_bytes(bytes)
                        } else {
                            // SAFETY: as the caller promises.
                            (0..n).filter(|&s| unsafe { *base.offset(s as isize * m.strides[3]) } != 0).count()
                        }
                    }
                    Mask::Additive(m) => {
                        // SAFETY: as the caller promises.
                        let base = unsafe { m.at(b, h, t).offset(start as isize * m.strides[3]) };
                        // SAFETY: as the caller promises.
                        (0..n).filter(|&s| unsafe { *base.offset(s as isize * m.strides[3]) }.widen() != f32::NEG_INFINITY).count()
                    }
                    Mask::None | Mask::Causal => unreachable!("an array mask"),
                };
                seen[r * blocks + block_index] = count;
                any |= count > 0;
            }
            if !any {
                if !bool_mask {
                    return walk_all;
                }
                blind[r] = true;
            }
        }
        let class = (0..blocks)
            .map(|block_index| {
                let n = KEY_BLOCK.min(keys_walked - block_index * KEY_BLOCK);
                let (mut some, mut whole) = (false, true);
                for c in (0..rows).filter(|&r| !blind[r]).map(|r| seen[r * blocks + block_index]) {
                    some |= c > 0;
                    whole &= c == n;
                }
                match (some, whole && bool_mask) {
                    (false, _) => KeyBlock::Hidden,
                    (true, true) => KeyBlock::Visible,
                    (true, false) => KeyBlock::Mixed,
                }
            })
            .collect::<Vec<_>>();
        // The last walked block is walked up to its last seen key, as `Causal` walks up to the
        // queries' last position (a boolean mask: an additive one is not read twice).
        let mut end = keys_walked;
        if let (Mask::Bool(m), Some(last)) = (self.mask, class.iter().rposition(|&c| c != KeyBlock::Hidden)) {
            let start = last * KEY_BLOCK;
            end = (0..rows)
                .filter(|&r| !blind[r])
                .filter_map(|r| {
                    let (h, t) = head_query(r);
                    // SAFETY: as the caller promises.
                    let base = unsafe { m.at(b, h, t).offset(start as isize * m.strides[3]) };
                    (start..keys_walked.min(start + KEY_BLOCK))
                        .rev()
                        // SAFETY: as the caller promises.
                        .find(|&key| unsafe { *base.offset((key - start) as isize * m.strides[3]) } != 0)
                })
                .max()
                .map_or(keys_walked, |key| key + 1);
        }
        KeyBlocks { class, blind, end }
    }

    /// Masks the scores of query `t` of head `h` (batch row `b`) against keys `start..`: a hidden
    /// position gets float32's lowest value (MLX's fallback gives its format's lowest).
    ///
    /// # Safety
    /// An array mask must cover those positions.
    #[inline]
    unsafe fn apply_mask(&self, row: &mut [f32], b: usize, h: usize, t: usize, start: usize) {
        match self.mask {
            Mask::None => {}
            Mask::Causal => {
                // Query t sees keys `..seen`; this block starts at key `start`.
                let seen = (self.keys + t + 1).saturating_sub(self.queries);
                for x in row.iter_mut().skip(seen.saturating_sub(start)) {
                    *x = f32::MIN;
                }
            }
            Mask::Bool(m) => {
                // SAFETY: as the caller promises.
                let base = unsafe { m.at(b, h, t).offset(start as isize * m.strides[3]) };
                if m.strides[3] == 1 {
                    // SAFETY: as the caller promises (contiguous keys); a loop that vectorises.
                    let bytes = unsafe { std::slice::from_raw_parts(base, row.len()) };
                    for (x, &keep) in row.iter_mut().zip(bytes) {
                        *x = if keep == 0 { f32::MIN } else { *x };
                    }
                    return;
                }
                for (s, x) in row.iter_mut().enumerate() {
                    // SAFETY: as the caller promises.
                    if unsafe { *base.offset(s as isize * m.strides[3]) } == 0 {
                        *x = f32::MIN;
                    }
                }
            }
            Mask::Additive(m) => {
                // SAFETY: as the caller promises.
                let base = unsafe { m.at(b, h, t).offset(start as isize * m.strides[3]) };
                for (s, x) in row.iter_mut().enumerate() {
                    // SAFETY: as the caller promises.
                    *x += unsafe { *base.offset(s as isize * m.strides[3]) }.widen();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu_attention::tests::{attention, check_masks, contiguous, reference, values};
    use crate::cpu_attention::{Mask, View};
    use half::bf16;

    /// Cases as cpu_attention.rs's; hides a pattern, and every position of query 3 of head 0 (it
    /// then averages the values).
    fn check(dims: [usize; 7], threads: usize) {
        let hidden = |b: usize, h: usize, t: usize, s: usize| (b * 3 + h + t * 7 + s).is_multiple_of(5) || (h == 0 && t == 3);
        check_masks(dims, threads, 11, &hidden, 2e-5);
    }

    #[test]
    fn matches_the_definition_over_many_key_and_query_blocks() {
        // Several query blocks (64 per task with 2 grouped heads) and key blocks, with remainders.
        check([2, 4, 2, 150, 300, 20, 12], 1);
        check([2, 4, 2, 150, 300, 20, 12], 3);
        // More queries than keys (the first queries see nothing under the causal mask), one head.
        check([1, 1, 1, 40, 17, 8, 8], 2);
        // Exactly one block of each, no grouped heads, head size of a real model.
        check([1, 2, 2, 16, 128, 64, 64], 2);
    }

    /// A decoding step of a left-padded batch: row b hides its first `pad[b]` positions (a mask
    /// broadcast over heads). Whole hidden key blocks are skipped, with the same result.
    #[test]
    fn skips_key_blocks_hidden_by_left_padding() {
        let (bn, hn, kvn, sn, d) = (3usize, 4usize, 2usize, 600usize, 16usize);
        let pad = [0usize, 300, 590];
        let q = values(bn * hn * d, 21);
        let k = values(bn * kvn * sn * d, 22);
        let v = values(bn * kvn * sn * d, 23);
        let hidden = |b: usize, _h: usize, _t: usize, s: usize| s < pad[b];
        let bools: Vec<u8> = (0..bn * sn).map(|i| u8::from(!hidden(i / sn, 0, 0, i % sn))).collect();
        let additive: Vec<f32> = bools.iter().map(|&x| if x == 1 { 0.0 } else { f32::NEG_INFINITY }).collect();
        let mask_strides = [sn as isize, 0, sn as isize, 1];
        let dims = [bn, hn, kvn, 1, sn, d, d];
        let want = reference(&q, &k, &v, (bn, hn, kvn, 1, sn, d, d), 0.3, false, Some(&hidden));
        let views = [
            View { ptr: q.as_ptr(), strides: contiguous([bn, hn, 1, d]) },
            View { ptr: k.as_ptr(), strides: contiguous([bn, kvn, sn, d]) },
            View { ptr: v.as_ptr(), strides: contiguous([bn, kvn, sn, d]) },
        ];
        for additive_mask in [false, true] {
            let mask = if additive_mask {
                Mask::Additive(View { ptr: additive.as_ptr(), strides: mask_strides })
            } else {
                Mask::Bool(View { ptr: bools.as_ptr(), strides: mask_strides })
            };
            let mut out = vec![0f32; bn * hn * d];
            let run = attention(views, mask, &mut out, dims, 0.3);
            // Row 1 (300 hidden) skips blocks 0 and 1 of 5; row 2 (590 hidden) all but the last.
            let head_query = |r: usize| (r, 0);
            let classes = |b| unsafe { run.key_blocks(b, 2, &head_query, sn) }.class;
            use super::KeyBlock::{Hidden, Mixed, Visible};
            // An additive mask is added wherever a block is walked.
            let seen = if additive_mask { Mixed } else { Visible };
            assert_eq!(classes(0), vec![seen; 5]);
            assert_eq!(classes(1), vec![Hidden, Hidden, Mixed, seen, seen]);
            assert_eq!(classes(2), vec![Hidden, Hidden, Hidden, Hidden, Mixed]);
            unsafe { run.run(2) };
            for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                assert!((g as f64 - w).abs() < 2e-5, "additive {additive_mask} at {i}: {g} vs {w}");
            }
        }
    }

    /// A left-padded prompt under an explicit causal mask (broadcast over heads), as a server's
    /// padded prefill attends: blocks past the queries are skipped, whole visible blocks are not
    /// masked, and the padding queries (they see nothing) take the values' mean.
    #[test]
    fn left_padded_prompts_under_a_causal_mask() {
        let (bn, hn, kvn, tn, d) = (2usize, 4usize, 2usize, 300usize, 16usize);
        let sn = tn;
        let pad = [0usize, 170];
        let q = values(bn * hn * tn * d, 31);
        let k = values(bn * kvn * sn * d, 32);
        let v = values(bn * kvn * sn * d, 33);
        let hidden = |b: usize, _h: usize, t: usize, s: usize| s > t || s < pad[b];
        let bools: Vec<u8> = (0..bn * tn * sn).map(|i| u8::from(!hidden(i / (tn * sn), 0, i / sn % tn, i % sn))).collect();
        let want = reference(&q, &k, &v, (bn, hn, kvn, tn, sn, d, d), 0.3, false, Some(&hidden));
        let views = [
            View { ptr: q.as_ptr(), strides: contiguous([bn, hn, tn, d]) },
            View { ptr: k.as_ptr(), strides: contiguous([bn, kvn, sn, d]) },
            View { ptr: v.as_ptr(), strides: contiguous([bn, kvn, sn, d]) },
        ];
        let mask = Mask::Bool(View { ptr: bools.as_ptr(), strides: [(tn * sn) as isize, 0, sn as isize, 1] });
        for threads in [1, 2] {
            let mut out = vec![0f32; bn * hn * tn * d];
            unsafe { attention(views, mask, &mut out, [bn, hn, kvn, tn, sn, d, d], 0.3).run(threads) };
            for (i, (&g, &w)) in out.iter().zip(&want).enumerate() {
                assert!((g as f64 - w).abs() < 2e-5, "threads {threads} at {i}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn reads_strided_half_operands() {
        // Keys and values as the first 200 of 256 rows of a preallocated bfloat16 cache.
        let (hn, kvn, tn, sn, cap, d) = (4usize, 2usize, 24usize, 200usize, 256usize, 16usize);
        let q = values(hn * tn * d, 14);
        let kc = values(kvn * cap * d, 15);
        let vc = values(kvn * cap * d, 16);
        let used = |c: &[f32]| (0..kvn).flat_map(|g| c[g * cap * d..(g * cap + sn) * d].to_vec()).collect::<Vec<f32>>();
        let round = |x: &[f32]| x.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<bf16>>();
        let (qh, kh, vh) = (round(&q), round(&kc), round(&vc));
        let wide = |x: &[bf16]| x.iter().map(|x| x.to_f32()).collect::<Vec<f32>>();
        let want = reference(&wide(&qh), &used(&wide(&kh)), &used(&wide(&vh)), (1, hn, kvn, tn, sn, d, d), 0.25, true, None);
        let mut out = vec![bf16::ZERO; hn * tn * d];
        let cache = [(kvn * cap * d) as isize, (cap * d) as isize, d as isize, 1];
        let views = [
            View { ptr: qh.as_ptr(), strides: contiguous([1, hn, tn, d]) },
            View { ptr: kh.as_ptr(), strides: cache },
            View { ptr: vh.as_ptr(), strides: cache },
        ];
        unsafe { attention(views, Mask::Causal, &mut out, [1, hn, kvn, tn, sn, d, d], 0.25).run(2) };
        for (&g, &w) in out.iter().zip(&want) {
            // float32 attention of the rounded inputs, rounded once: half a bfloat16 unit.
            assert!((g.to_f64() - w).abs() <= 2f64.powi(-8) * w.abs().max(2f64.powi(-8)) + 1e-6, "{g} vs {w}");
        }
    }
}
