//! Finding and ordering the `checkpoint-N` folders a trainer writes into its output folder (the
//! layout of Hugging Face's `Trainer`, which TRL uses).
//!
//! A checkpoint is written into a hidden temporary folder and renamed to `checkpoint-N` only when
//! complete, so a `checkpoint-N` folder holding the trainer state file is a finished checkpoint.
//! Writing, rotation and the recovery of interrupted writes live in @mlxn/grpo's
//! `checkpoint.ts` (on @mlxn/io's crash-safe folder replace).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The file every finished checkpoint holds (written last, before the folder is renamed).
pub const STATE_FILE: &str = "trainer_state.json";

const PREFIX: &str = "checkpoint-";

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

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js {
    use std::path::Path;

    use napi_derive::napi;

    fn err(e: std::io::Error, what: &str, dir: &str) -> napi::Error {
        napi::Error::from_reason(format!("{what} {dir}: {e}"))
    }

    /// The finished `checkpoint-N` folders of `dir`, oldest first, as `[step, path]` pairs.
    #[napi(js_name = "grpoListCheckpoints", catch_unwind)]
    pub fn grpo_list_checkpoints(dir: String) -> napi::Result<Vec<(f64, String)>> {
        let list = super::list(Path::new(&dir)).map_err(|e| err(e, "cannot list checkpoints in", &dir))?;
        Ok(list.into_iter().map(|c| (c.step as f64, c.path.to_string_lossy().into_owned())).collect())
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
    }
}
