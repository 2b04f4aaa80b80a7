//! The Rust side of `@mlxn/cache`.
//!
//! The caches themselves are MLX graph work (slice updates, concatenations, quantization) that
//! the TypeScript package builds with `@mlxn/core` ops. Two pieces belong here:
//!
//! - **Reading a prompt-cache file safely.** A prompt-cache file is a safetensors file whose
//!   `__metadata__` carries mlx-lm's layout: the user's metadata under `0.*`, one cache class per
//!   layer under `1.<layer>`, and the list of non-array state entries under `2.*`. The
//!   safetensors level (sizes, offsets, dtypes) is checked by `mlxn-io`; before any cache is
//!   rebuilt, [`prompt_cache_layout`] checks the cache level as untrusted input: every layer's
//!   class known and numbered without gaps, every state entry that class needs present, every
//!   scalar entry well-formed and backed by a tensor. A mismatched file becomes one clear error
//!   instead of a wrong cache.
//! - **Buffer growth for the native forward.** [`grown_capacity`] is the step arithmetic of the
//!   growing caches (grow by whole steps of 256, so appending one token does not copy the
//!   buffer), for mlxn-qwen3's forward, which grows the caches' buffers in Rust. The TypeScript
//!   caches keep their own copy (`packages/cache/src/growth.ts`, same rule and same tests): it
//!   runs on every cache update, where a call into the addon would cost more than the arithmetic.
//!
//! Both are plain Rust tested with `cargo test`; the `napi` feature exports the layout check to
//! the addon as `cachePromptCacheLayout`, with typed objects in and out.
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CacheFileError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, CacheFileError> {
    Err(CacheFileError(msg.into()))
}

/// The capacity a growing buffer needs to append `incoming` tokens at `offset`, or `None` when
/// the current `capacity` suffices. Growth is by whole `step`s beyond the used part, as mlx-lm's
/// `KVCache` does: the new capacity is `offset + ceil(incoming / step) * step`.
///
/// `reserved` (0 for none) is where the cache is known to end, e.g. a prompt plus the most tokens
/// a generation may add. When that end lies between what is needed now and one step past it, the
/// buffer grows to exactly that end: the tail a whole step would leave unused is never allocated,
/// and the last growth (a copy of the whole buffer) is skipped. A farther end changes nothing, so
/// a large token budget that is never used allocates no more than plain growth does.
pub fn grown_capacity(capacity: u64, offset: u64, incoming: u64, step: u64, reserved: u64) -> Option<u64> {
    assert!(step > 0, "step must be positive");
    let needed = offset + incoming;
    if capacity > 0 && needed <= capacity {
        return None;
    }
    if reserved >= needed && reserved - needed <= step {
        return Some(reserved);
    }
    Some(offset + incoming.div_ceil(step) * step)
}

/// The validated layout of a prompt-cache file.
#[cfg_attr(feature = "napi", napi_derive::napi(object))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptCacheLayout {
    /// The user's metadata, keys without the `0.` prefix.
    pub metadata: BTreeMap<String, String>,
    /// One cache class name per layer.
    pub classes: Vec<String>,
    /// State paths (`"<layer>.<i>"`) stored as scalars, strings or `None`, with their kind.
    pub scalars: BTreeMap<String, String>,
}

/// The state paths each supported class needs, relative to its layer.
pub fn class_state_paths(class: &str) -> Option<&'static [&'static str]> {
    Some(match class {
        "KVCache" => &["0", "1", "2"],
        "RotatingKVCache" => &["0", "1", "2", "3", "4", "5"],
        "QuantizedKVCache" => &["0.0", "0.1", "0.2", "1.0", "1.1", "1.2", "2", "3", "4"],
        "BatchKVCache" => &["0", "1", "2", "3", "4"],
        _ => return None,
    })
}

/// Validates mlx-lm's prompt-cache layout: the file's string `metadata` (its `__metadata__`)
/// against the names of the tensors it holds.
pub fn prompt_cache_layout(metadata: &BTreeMap<String, String>, tensor_names: &[String]) -> Result<PromptCacheLayout, CacheFileError> {
    // tree_flatten([user_metadata, classes, scalars]).
    let mut user = BTreeMap::new();
    let mut class_by_index = BTreeMap::new();
    let mut scalar_pairs: BTreeMap<u64, (Option<String>, Option<String>)> = BTreeMap::new();
    for (key, value) in metadata {
        if let Some(k) = key.strip_prefix("0.") {
            user.insert(k.to_string(), value.clone());
        } else if let Some(i) = key.strip_prefix("1.") {
            let Ok(i) = i.parse::<u64>() else { return err(format!("metadata {key:?}: not a layer index")) };
            class_by_index.insert(i, value.clone());
        } else if let Some(rest) = key.strip_prefix("2.") {
            if rest == "0" {
                continue; // mlx-lm's placeholder that keeps the list non-empty
            }
            let (i, part) = rest.split_once('.').unwrap_or((rest, ""));
            let Ok(i) = i.parse::<u64>() else { return err(format!("metadata {key:?}: malformed scalar entry")) };
            let slot = scalar_pairs.entry(i).or_default();
            match part {
                "0" => slot.0 = Some(value.clone()),
                "1" => slot.1 = Some(value.clone()),
                _ => return err(format!("metadata {key:?}: malformed scalar entry")),
            }
        } else {
            return err(format!(
                "metadata {key:?} is not part of a prompt-cache file (expected 0.*, 1.* or 2.* keys as mlx-lm writes them)"
            ));
        }
    }
    if class_by_index.is_empty() {
        return err("not a prompt-cache file: the metadata names no cache classes (1.<layer> keys)");
    }
    let mut classes = Vec::new();
    for (n, (i, c)) in class_by_index.into_iter().enumerate() {
        if i != n as u64 {
            return err(format!("metadata: cache class of layer {n} is missing"));
        }
        if class_state_paths(&c).is_none() {
            return err(format!(
                "layer {n}: unsupported cache class {c:?} (supported: KVCache, RotatingKVCache, QuantizedKVCache, BatchKVCache)"
            ));
        }
        classes.push(c);
    }
    let mut scalars = BTreeMap::new();
    for (i, (path, kind)) in scalar_pairs {
        let (Some(path), Some(kind)) = (path, kind) else { return err(format!("metadata: scalar entry 2.{i} is incomplete")) };
        if !matches!(kind.as_str(), "scalar" | "string" | "none") {
            return err(format!("metadata: scalar entry {path:?} has unknown type {kind:?}"));
        }
        scalars.insert(path, kind);
    }
    let names: BTreeSet<&str> = tensor_names.iter().map(String::as_str).collect();
    for (layer, c) in classes.iter().enumerate() {
        for p in class_state_paths(c).unwrap() {
            let full = format!("{layer}.{p}");
            // A quantized triple may be one `None` (an empty cache) stored under its parent path.
            let parent = p.split_once('.').map(|(a, _)| format!("{layer}.{a}"));
            let present = names.contains(full.as_str())
                || parent.as_ref().is_some_and(|q| scalars.get(q).is_some_and(|k| k == "none") && names.contains(q.as_str()));
            if !present {
                return err(format!("layer {layer} ({c}): state entry {full:?} is missing from the file"));
            }
        }
    }
    for p in scalars.keys() {
        if !names.contains(p.as_str()) {
            return err(format!("metadata names a scalar {p:?} that has no tensor in the file"));
        }
    }
    Ok(PromptCacheLayout { metadata: user, classes, scalars })
}

#[cfg(feature = "napi")]
mod exports {
    use std::collections::BTreeMap;

    use napi_derive::napi;

    use super::PromptCacheLayout;

    /// Validates a prompt-cache file's metadata (its `__metadata__`) against its tensor names.
    #[napi(js_name = "cachePromptCacheLayout", catch_unwind)]
    pub fn cache_prompt_cache_layout(metadata: BTreeMap<String, String>, tensor_names: Vec<String>) -> napi::Result<PromptCacheLayout> {
        super::prompt_cache_layout(&metadata, &tensor_names).map_err(|e| napi::Error::from_reason(e.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_by_whole_steps() {
        assert_eq!(grown_capacity(0, 0, 1, 256, 0), Some(256));
        assert_eq!(grown_capacity(0, 0, 300, 256, 0), Some(512));
        assert_eq!(grown_capacity(256, 255, 1, 256, 0), None);
        assert_eq!(grown_capacity(256, 256, 1, 256, 0), Some(512));
        assert_eq!(grown_capacity(256, 200, 100, 256, 0), Some(456));
        // 10 000 single-token appends grow the buffer only 40 times.
        let (mut cap, mut grows) = (0, 0);
        for off in 0..10_000 {
            if let Some(c) = grown_capacity(cap, off, 1, 256, 0) {
                cap = c;
                grows += 1;
            }
        }
        assert_eq!(grows, 40);
    }

    #[test]
    fn a_near_reserved_end_is_grown_to_exactly() {
        // A 32-token prompt that may grow to 288: one buffer of 288, no second growth.
        assert_eq!(grown_capacity(0, 0, 32, 256, 288), Some(288));
        assert_eq!(grown_capacity(288, 287, 1, 256, 288), None);
        // Past the reservation (a cache reused beyond it), plain growth resumes.
        assert_eq!(grown_capacity(288, 288, 1, 256, 288), Some(544));
        // An end more than a step away changes nothing until it comes within a step.
        assert_eq!(grown_capacity(0, 0, 32, 256, 10_000), Some(256));
        assert_eq!(grown_capacity(256, 256, 1, 256, 400), Some(400));
        assert_eq!(grown_capacity(9_728, 9_728, 1, 256, 10_000), Some(9_984));
        assert_eq!(grown_capacity(9_984, 9_984, 1, 256, 10_000), Some(10_000));
        // Never smaller than what is needed now.
        assert_eq!(grown_capacity(0, 0, 300, 256, 100), Some(512));
    }

    fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn kv_meta() -> BTreeMap<String, String> {
        meta(&[("0.model", "m"), ("1.0", "KVCache"), ("2.0", ""), ("2.1.0", "0.2"), ("2.1.1", "scalar")])
    }

    #[test]
    fn reads_a_kv_cache_layout() {
        let l = prompt_cache_layout(&kv_meta(), &names(&["0.0", "0.1", "0.2"])).unwrap();
        assert_eq!(l.classes, vec!["KVCache"]);
        assert_eq!(l.metadata.get("model").map(String::as_str), Some("m"));
        assert_eq!(l.scalars.get("0.2").map(String::as_str), Some("scalar"));
    }

    #[test]
    fn rejects_bad_layouts() {
        let e = |m: BTreeMap<String, String>, n: &[&str]| prompt_cache_layout(&m, &names(n)).unwrap_err().0;
        let all = ["0.0", "0.1", "0.2"];
        assert!(e(meta(&[("format", "pt")]), &all).contains("not part of a prompt-cache file"));
        assert!(e(meta(&[("0.a", "b")]), &all).contains("names no cache classes"));
        assert!(e(meta(&[("1.1", "KVCache")]), &all).contains("layer 0 is missing"));
        assert!(e(meta(&[("1.0", "MambaCache")]), &all).contains("unsupported cache class"));
        assert!(e(kv_meta(), &["0.0", "0.2"]).contains("\"0.1\" is missing"));
        let mut bad_kind = kv_meta();
        bad_kind.insert("2.1.1".into(), "tuple".into());
        assert!(e(bad_kind, &all).contains("unknown type"));
        let mut dangling = kv_meta();
        dangling.insert("2.2.0".into(), "5.5".into());
        dangling.insert("2.2.1".into(), "scalar".into());
        assert!(e(dangling, &all).contains("no tensor"));
    }

    #[test]
    fn quantized_needs_triples_unless_empty() {
        let q = meta(&[("1.0", "QuantizedKVCache")]);
        let some = ["0.0.0", "0.0.1", "0.0.2", "0.1.0", "0.1.1", "0.2", "0.3", "0.4"];
        assert!(prompt_cache_layout(&q, &names(&some)).unwrap_err().0.contains("\"0.1.2\" is missing"));
        // An empty quantized cache stores None for each triple, as mlx-lm does.
        let empty = meta(&[("1.0", "QuantizedKVCache"), ("2.1.0", "0.0"), ("2.1.1", "none"), ("2.2.0", "0.1"), ("2.2.1", "none")]);
        assert!(prompt_cache_layout(&empty, &names(&["0.0", "0.1", "0.2", "0.3", "0.4"])).is_ok());
    }
}
