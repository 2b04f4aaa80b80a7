//! Hugging Face sharded checkpoints: `model.safetensors.index.json` maps each tensor name to a
//! shard file in the same folder. Shard names must be plain file names: an index naming a path
//! outside the folder is refused before anything is opened.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{IoError, Result};

pub const INDEX_FILE: &str = "model.safetensors.index.json";
pub const SINGLE_FILE: &str = "model.safetensors";
/// An index lists one line per tensor; the largest published ones are a few megabytes.
pub const MAX_INDEX_BYTES: u64 = 64 << 20;

/// A shard file name must be a single, ordinary path component.
pub fn check_shard_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0'])
        && !(name.len() >= 2 && name.as_bytes()[1] == b':');
    if ok { Ok(()) } else { Err(format!("shard name '{name}' is not a plain file name inside the folder")) }
}

/// The validated index: tensor name → shard path (inside `folder`), in index order.
pub struct Index {
    pub weight_map: Vec<(String, PathBuf)>,
    pub metadata: Map<String, Value>,
}

pub fn read_index(index_path: &Path) -> Result<Index> {
    let bad = |p: &str| IoError::file(index_path, p);
    let folder = index_path.parent().unwrap_or(Path::new("."));
    let text = crate::files::read_regular_text(index_path, MAX_INDEX_BYTES, "index files")?;
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not valid JSON: {e}")))?;
    let map = v.get("weight_map").and_then(Value::as_object).ok_or_else(|| bad("missing \"weight_map\" object"))?;
    let mut weight_map = Vec::with_capacity(map.len());
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| bad(&format!("weight_map entry '{tensor}' is not a file name")))?;
        check_shard_name(file).map_err(|p| bad(&p))?;
        weight_map.push((tensor.clone(), folder.join(file)));
    }
    let metadata = v.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    Ok(Index { weight_map, metadata })
}

/// Splits tensors (name, bytes) into shards of at most `max_bytes` each (a tensor larger than
/// the limit gets a shard of its own), keeping their order. Returns index lists.
pub fn plan_shards(sizes: &[u64], max_bytes: u64) -> Vec<Vec<usize>> {
    let mut shards: Vec<Vec<usize>> = vec![];
    let mut current = 0u64;
    for (i, &n) in sizes.iter().enumerate() {
        // Saturating: sizes come from user arrays, and an overflow must not wrap into a fit.
        if shards.is_empty() || (current.saturating_add(n) > max_bytes && shards.last().is_some_and(|s| !s.is_empty())) {
            shards.push(vec![]);
            current = 0;
        }
        if let Some(last) = shards.last_mut() {
            last.push(i);
        }
        current = current.saturating_add(n);
    }
    shards
}

/// `model-00001-of-00003.safetensors`, the names transformers and mlx-lm write.
pub fn shard_file_name(i: usize, n: usize) -> String {
    format!("model-{:05}-of-{:05}.safetensors", i + 1, n)
}

/// The index JSON: `metadata.total_size` and a sorted `weight_map`.
pub fn index_json(total_size: u64, weight_map: &BTreeMap<String, String>) -> String {
    let mut meta = Map::new();
    meta.insert("total_size".into(), Value::from(total_size));
    let wm: Map<String, Value> = weight_map.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
    let mut root = Map::new();
    root.insert("metadata".into(), Value::Object(meta));
    root.insert("weight_map".into(), Value::Object(wm));
    let mut s = serde_json::to_string_pretty(&Value::Object(root)).expect("serializable");
    s.push('\n');
    s
}

/// Whether `name` is a checkpoint file this crate writes (`model.safetensors`, the index, or a
/// `model-0000i-of-0000n.safetensors` shard).
pub fn is_checkpoint_file(name: &str) -> bool {
    if name == SINGLE_FILE || name == INDEX_FILE {
        return true;
    }
    let Some(mid) = name.strip_prefix("model-").and_then(|r| r.strip_suffix(".safetensors")) else { return false };
    let b = mid.as_bytes();
    b.len() == 14 && &mid[5..9] == "-of-" && b[..5].iter().chain(&b[9..]).all(u8::is_ascii_digit)
}

/// After a save, removes checkpoint files of an earlier save that the new one did not write
/// (a stale index would otherwise shadow a new `model.safetensors`, or name old shards).
pub fn remove_stale(folder: &Path, written: &[String]) -> Result<()> {
    let entries = std::fs::read_dir(folder).map_err(|e| IoError::file(folder, &format!("cannot list: {e}")))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_checkpoint_file(&name) && !written.contains(&name) {
            std::fs::remove_file(entry.path()).map_err(|e| IoError::file(&entry.path(), &format!("cannot remove stale file: {e}")))?;
        }
    }
    Ok(())
}
