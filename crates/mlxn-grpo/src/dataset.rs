//! Datasets for the trainers: JSONL files read with line-numbered errors, and the seeded order in
//! which an epoch visits the records.
//!
//! The order of epoch `e` is a Fisher–Yates shuffle driven by xoshiro256** seeded (through
//! SplitMix64) from `(seed, e)` alone. It therefore needs no stored generator state: a run resumed
//! at epoch `e`, batch `b` recomputes exactly the order the interrupted run was using, on any
//! platform.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DatasetError(pub String);

/// A dataset is read whole and handed to JavaScript, whose strings stop near this size.
pub const MAX_DATASET_BYTES: u64 = 1 << 30;

/// The records of a JSONL file, each re-serialised compactly; blank lines are skipped.
/// Every non-blank line must hold one JSON object; an error names the file and the line
/// (1-based) and column.
pub fn read_jsonl(path: &Path) -> Result<Vec<String>, DatasetError> {
    // Only a regular file (a FIFO would block the read forever), and one JavaScript can hold.
    let text = mlxn_io::files::read_regular_text(path, MAX_DATASET_BYTES, "dataset files").map_err(|e| DatasetError(e.0))?;
    parse_jsonl(&text, &path.display().to_string())
}

/// [`read_jsonl`] on text already in memory; `source` names it in errors.
pub fn parse_jsonl(text: &str, source: &str) -> Result<Vec<String>, DatasetError> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| DatasetError(format!("{source}:{}: invalid JSON at column {}: {e}", i + 1, e.column())))?;
        if !value.is_object() {
            let kind = match value {
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::Bool(_) => "a boolean",
                _ => "null",
            };
            return Err(DatasetError(format!("{source}:{}: expected a JSON object (one record per line), got {kind}", i + 1)));
        }
        records.push(value.to_string());
    }
    Ok(records)
}

/// SplitMix64: expands a 64-bit seed into well-mixed state words.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna), the generator behind the shuffles.
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// A generator for `(seed, stream)`: the two words are mixed so nearby seeds and epochs give
    /// unrelated sequences.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut sm = SplitMix64(seed ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03));
        Self { s: [sm.next(), sm.next(), sm.next(), sm.next()] }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, bound)` without modulo bias (Lemire's multiply-and-reject).
    pub fn below(&mut self, bound: u64) -> u64 {
        debug_assert!(bound > 0);
        let threshold = bound.wrapping_neg() % bound;
        loop {
            let m = (self.next_u64() as u128) * (bound as u128);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }
}

/// The order in which epoch `epoch` visits `n` records: a seeded permutation, or `0..n`
/// when `shuffle` is false.
pub fn epoch_order(n: usize, seed: u64, epoch: u64, shuffle: bool) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    if shuffle && n > 1 {
        let mut rng = Xoshiro256::new(seed, epoch);
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    order
}

/// The record indices of generation batch `batch` of epoch `epoch`, TRL's RepeatSampler layout:
/// `prompts_per_batch` distinct records (an incomplete last batch of an epoch is dropped), each
/// repeated `num_generations` times consecutively so a prompt's completions form one group.
pub fn generation_batch(
    n: usize,
    seed: u64,
    shuffle: bool,
    epoch: u64,
    batch: usize,
    prompts_per_batch: usize,
    num_generations: usize,
) -> Result<Vec<u32>, DatasetError> {
    if prompts_per_batch == 0 || num_generations == 0 {
        return Err(DatasetError("promptsPerBatch and numGenerations must be positive".into()));
    }
    let batches = n / prompts_per_batch;
    if batch >= batches {
        return Err(DatasetError(format!(
            "generation batch {batch} is past the end of the epoch ({batches} batches of {prompts_per_batch} prompts from {n} records)"
        )));
    }
    let order = epoch_order(n, seed, epoch, shuffle);
    Ok(order[batch * prompts_per_batch..(batch + 1) * prompts_per_batch]
        .iter()
        .flat_map(|&i| std::iter::repeat_n(i, num_generations))
        .collect())
}

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js {
    use std::path::Path;

    use mlxn_core::js::{Result, arg_err};
    use napi_derive::napi;

    /// The records of a JSONL file as compact JSON texts (validated objects).
    #[napi(js_name = "grpoReadJsonl", catch_unwind)]
    pub fn grpo_read_jsonl(path: String) -> Result<Vec<String>> {
        super::read_jsonl(Path::new(&path)).map_err(|e| arg_err(e.0))
    }

    /// The visiting order of one epoch.
    #[napi(js_name = "grpoEpochOrder", catch_unwind)]
    pub fn grpo_epoch_order(n: u32, seed: f64, epoch: u32, shuffle: bool) -> Result<Vec<u32>> {
        if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
            return Err(arg_err(format!("seed must be a non-negative safe integer, got {seed}")));
        }
        Ok(super::epoch_order(n as usize, seed as u64, epoch as u64, shuffle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_skips_blank_lines_and_names_bad_lines() {
        let recs = parse_jsonl("{\"prompt\":\"a\"}\n\n  \n{\"prompt\": \"b\", \"x\": 1}\n", "d.jsonl").unwrap();
        assert_eq!(recs, vec![r#"{"prompt":"a"}"#, r#"{"prompt":"b","x":1}"#]);
        let e = parse_jsonl("{\"a\":1}\n{\"a\":\n", "d.jsonl").unwrap_err().0;
        assert!(e.starts_with("d.jsonl:2: invalid JSON"), "{e}");
        let e = parse_jsonl("{\"a\":1}\n\n[1,2]\n", "d.jsonl").unwrap_err().0;
        assert_eq!(e, "d.jsonl:3: expected a JSON object (one record per line), got an array");
        assert!(parse_jsonl("\u{feff}{\"a\":1}\r\n", "bom").is_ok());
    }

    #[test]
    fn jsonl_file_errors_name_the_path() {
        let e = read_jsonl(Path::new("/nonexistent/file.jsonl")).unwrap_err().0;
        assert!(e.starts_with("/nonexistent/file.jsonl: "), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn jsonl_must_be_a_regular_file() {
        // Reading /dev/zero would never end; a FIFO would never open.
        let e = read_jsonl(Path::new("/dev/zero")).unwrap_err().0;
        assert_eq!(e, "/dev/zero: is a character device, not a regular file");
    }

    #[test]
    fn epoch_order_is_a_seeded_permutation() {
        let a = epoch_order(100, 42, 0, true);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<u32>>());
        assert_ne!(a, (0..100).collect::<Vec<u32>>());
        assert_eq!(a, epoch_order(100, 42, 0, true));
        assert_ne!(a, epoch_order(100, 42, 1, true));
        assert_ne!(a, epoch_order(100, 43, 0, true));
        assert_eq!(epoch_order(5, 42, 3, false), vec![0, 1, 2, 3, 4]);
        assert!(epoch_order(0, 1, 0, true).is_empty());
    }

    #[test]
    fn epoch_order_is_pinned() {
        // The generator is part of the resume contract: this order must never change.
        assert_eq!(epoch_order(10, 42, 0, true), PINNED_42_0);
    }
    const PINNED_42_0: [u32; 10] = [9, 1, 4, 2, 8, 7, 6, 5, 3, 0];

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // The reference implementation's first outputs from state {1, 2, 3, 4}.
        let mut g = Xoshiro256 { s: [1, 2, 3, 4] };
        let out: Vec<u64> = (0..4).map(|_| g.next_u64()).collect();
        assert_eq!(out, vec![11520, 0, 1509978240, 1215971899390074240]);
    }

    #[test]
    fn shuffles_are_close_to_uniform() {
        // Position of record 0 over many seeds: each of 4 slots about a quarter of the time.
        let mut counts = [0usize; 4];
        for seed in 0..4000 {
            let order = epoch_order(4, seed, 0, true);
            counts[order.iter().position(|&i| i == 0).unwrap()] += 1;
        }
        for c in counts {
            assert!((850..1150).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn generation_batches_repeat_each_prompt_and_drop_the_tail() {
        let order = epoch_order(7, 5, 2, true);
        let b = generation_batch(7, 5, true, 2, 1, 3, 2).unwrap();
        let expect: Vec<u32> = order[3..6].iter().flat_map(|&i| [i, i]).collect();
        assert_eq!(b, expect);
        // 7 records, 3 per batch: batch 2 would be incomplete and is dropped.
        assert!(generation_batch(7, 5, true, 2, 2, 3, 2).unwrap_err().0.contains("past the end"));
        assert!(generation_batch(7, 5, true, 0, 0, 0, 2).is_err());
    }
}
