//! Finding, ordering and rotating the `checkpoint-N` folders a trainer writes into its output
//! folder (the layout of Hugging Face's `Trainer`, which TRL uses).
//!
//! A checkpoint is written into a hidden temporary folder and renamed to `checkpoint-N` only when
//! complete, so a `checkpoint-N` folder holding the trainer state file is a finished checkpoint.
//! Temporary folders left by a run that died mid-write are recognised and swept by [`rotate`].

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file every finished checkpoint holds (written last, before the folder is renamed).
pub const STATE_FILE: &str = "trainer_state.json";

const PREFIX: &str = "checkpoint-";
const TEMP_PREFIX: &str = ".checkpoint-";
const TEMP_MARK: &str = ".tmp-";

/// One finished checkpoint: its global step and folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub step: u64,
    pub path: PathBuf,
}

/// The step of a folder named `checkpoint-N` (N plain decimal digits, no sign, no leading `+`).
pub fn parse_step(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The folder name for step `step`.
pub fn folder_name(step: u64) -> String {
    format!("{PREFIX}{step}")
}

/// The temporary folder a checkpoint of `step` is written into before its rename (hidden, and
/// named by the writer's process id and a counter so two writers never share one).
pub fn temp_folder_name(step: u64, pid: u32, n: u32) -> String {
    format!("{TEMP_PREFIX}{step}{TEMP_MARK}{pid}-{n}")
}

fn is_temp_folder(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX).is_some_and(|rest| rest.contains(TEMP_MARK))
}

/// The finished checkpoints in `dir`, oldest step first. A missing `dir` has none; folders
/// without the state file (unfinished or foreign) are left out.
pub fn list(dir: &Path) -> io::Result<Vec<Checkpoint>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(step) = name.to_str().and_then(parse_step) else { continue };
        let path = entry.path();
        if path.is_dir() && path.join(STATE_FILE).is_file() {
            out.push(Checkpoint { step, path });
        }
    }
    out.sort_by_key(|c| c.step);
    Ok(out)
}

/// The finished checkpoint with the highest step, if any.
pub fn latest(dir: &Path) -> io::Result<Option<Checkpoint>> {
    Ok(list(dir)?.pop())
}

/// Keeps the newest `keep` finished checkpoints (and any in `protect`) and deletes the others,
/// along with temporary folders of interrupted writes. `keep == 0` keeps everything (as
/// `save_total_limit=None`). Returns the removed folders.
pub fn rotate(dir: &Path, keep: usize, protect: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(is_temp_folder) && entry.path().is_dir() {
                fs::remove_dir_all(entry.path())?;
                removed.push(entry.path());
            }
        }
    }
    if keep == 0 {
        return Ok(removed);
    }
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep);
    let protected = |p: &Path| protect.iter().any(|q| same_path(p, q));
    for c in all.into_iter().take(excess) {
        if protected(&c.path) {
            continue;
        }
        fs::remove_dir_all(&c.path)?;
        removed.push(c.path);
    }
    Ok(removed)
}

fn same_path(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(feature = "napi")]
mod js {
    use std::path::{Path, PathBuf};

    use napi_derive::napi;

    fn err(e: std::io::Error, what: &str, dir: &str) -> napi::Error {
        napi::Error::from_reason(format!("{what} {dir}: {e}"))
    }

    /// The finished `checkpoint-N` folders of `dir`, oldest first, as `[step, path]` pairs.
    #[napi(js_name = "grpoListCheckpoints")]
    pub fn grpo_list_checkpoints(dir: String) -> napi::Result<Vec<(f64, String)>> {
        let list = super::list(Path::new(&dir)).map_err(|e| err(e, "cannot list checkpoints in", &dir))?;
        Ok(list.into_iter().map(|c| (c.step as f64, c.path.to_string_lossy().into_owned())).collect())
    }

    /// Keeps the newest `keep` checkpoints of `dir` (0 = all) and those in `protect`; removes the
    /// rest and leftover temporary folders. Returns the removed paths.
    #[napi(js_name = "grpoRotateCheckpoints")]
    pub fn grpo_rotate_checkpoints(dir: String, keep: u32, protect: Vec<String>) -> napi::Result<Vec<String>> {
        let protect: Vec<PathBuf> = protect.into_iter().map(PathBuf::from).collect();
        let removed = super::rotate(Path::new(&dir), keep as usize, &protect).map_err(|e| err(e, "cannot rotate checkpoints in", &dir))?;
        Ok(removed.into_iter().map(|p| p.to_string_lossy().into_owned()).collect())
    }

    /// The name of the temporary folder a checkpoint of `step` is first written to.
    #[napi(js_name = "grpoCheckpointTempName")]
    pub fn grpo_checkpoint_temp_name(step: u32, pid: u32, n: u32) -> String {
        super::temp_folder_name(step as u64, pid, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mlxn-grpo-ckpt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn finished(dir: &Path, step: u64) -> PathBuf {
        let p = dir.join(folder_name(step));
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join(STATE_FILE), "{}").unwrap();
        p
    }

    #[test]
    fn parses_only_plain_step_numbers() {
        assert_eq!(parse_step("checkpoint-0"), Some(0));
        assert_eq!(parse_step("checkpoint-120"), Some(120));
        assert_eq!(parse_step("checkpoint-"), None);
        assert_eq!(parse_step("checkpoint--1"), None);
        assert_eq!(parse_step("checkpoint-+3"), None);
        assert_eq!(parse_step("checkpoint-3a"), None);
        assert_eq!(parse_step("ckpt-3"), None);
        assert_eq!(parse_step(".checkpoint-3.tmp-1-0"), None);
        assert_eq!(parse_step("checkpoint-99999999999999999999999"), None);
    }

    #[test]
    fn lists_in_numeric_order_not_name_order() {
        let dir = scratch("order");
        for s in [10, 2, 100, 9] {
            finished(&dir, s);
        }
        let steps: Vec<u64> = list(&dir).unwrap().iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![2, 9, 10, 100]);
        assert_eq!(latest(&dir).unwrap().unwrap().step, 100);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn skips_unfinished_and_foreign_entries() {
        let dir = scratch("skip");
        finished(&dir, 4);
        fs::create_dir_all(dir.join("checkpoint-8")).unwrap(); // no state file
        fs::write(dir.join("checkpoint-9"), "a file, not a folder").unwrap();
        fs::create_dir_all(dir.join("runs")).unwrap();
        let steps: Vec<u64> = list(&dir).unwrap().iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![4]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_folder_has_no_checkpoints() {
        let dir = std::env::temp_dir().join("mlxn-grpo-ckpt-does-not-exist-xyz");
        assert!(list(&dir).unwrap().is_empty());
        assert!(latest(&dir).unwrap().is_none());
        assert!(rotate(&dir, 2, &[]).unwrap().is_empty());
    }

    #[test]
    fn rotation_keeps_the_newest_and_sweeps_temporaries() {
        let dir = scratch("rotate");
        for s in [1, 2, 3, 4, 5] {
            finished(&dir, s);
        }
        let tmp = dir.join(temp_folder_name(6, 42, 0));
        fs::create_dir_all(&tmp).unwrap();
        let removed = rotate(&dir, 2, &[]).unwrap();
        assert_eq!(removed.len(), 4);
        assert!(!tmp.exists());
        let steps: Vec<u64> = list(&dir).unwrap().iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![4, 5]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rotation_spares_protected_folders_and_keep_zero_keeps_all() {
        let dir = scratch("protect");
        let first = finished(&dir, 1);
        for s in [2, 3, 4] {
            finished(&dir, s);
        }
        rotate(&dir, 0, &[]).unwrap();
        assert_eq!(list(&dir).unwrap().len(), 4);
        rotate(&dir, 1, std::slice::from_ref(&first)).unwrap();
        let steps: Vec<u64> = list(&dir).unwrap().iter().map(|c| c.step).collect();
        assert_eq!(steps, vec![1, 4]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temp_names_are_hidden_and_recognised() {
        let n = temp_folder_name(12, 7, 3);
        assert!(n.starts_with('.'));
        assert!(is_temp_folder(&n));
        assert!(!is_temp_folder("checkpoint-12"));
        assert_eq!(parse_step(&n), None);
    }
}
