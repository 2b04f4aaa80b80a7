//! Atomic file replacement: write a temporary file in the same folder, fsync it, rename it over
//! the target, fsync the folder. A crash at any point leaves either the old file or the new one.
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoError, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `.NAME.tmp-PID-N-START-BOOT-NS` (Linux) or `.NAME.tmp-PID-N`. A kill before the rename leaves
/// this file; @mlxn/io's next save of NAME deletes it once its writer is gone, which it judges
/// from the name (`parseHiddenName` and `writerRunning` in packages/io/src/folder-replace.ts,
/// which names its hidden folders the same way).
fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.tmp-{}-{n}{}", std::process::id(), writer_mark()))
}

/// Who this process is beyond its PID, as `-START-BOOT-NS` in hex: its start time (clock ticks
/// after boot, field 22 of /proc/self/stat), the first 8 hex digits of the boot id, and the
/// inode of its PID namespace. A PID alone is reused once its process exits, and means nothing
/// in another PID namespace (a container sharing the folder). Empty where /proc lacks them.
fn writer_mark() -> &'static str {
    static MARK: OnceLock<String> = OnceLock::new();
    MARK.get_or_init(|| {
        let start = fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(19)?.parse::<u64>().ok()));
        let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.chars().filter(char::is_ascii_hexdigit).take(8).collect::<String>().to_ascii_lowercase())
            .filter(|b| b.len() == 8);
        let ns = fs::read_link("/proc/self/ns/pid").ok().and_then(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("pid:[")?.strip_suffix(']')?.parse::<u64>().ok()
        });
        match (start, boot, ns) {
            (Some(start), Some(boot), Some(ns)) => format!("-{start:x}-{boot}-{ns:x}"),
            _ => String::new(),
        }
    })
}

pub fn atomic_write(path: &Path, fill: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>) -> Result<()> {
    let err = |e: std::io::Error| IoError::file(path, &format!("write failed: {e}"));
    let tmp = temp_path(path);
    let result = (|| -> std::io::Result<()> {
        let f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // The rename itself is durable only once the folder is synced (not possible everywhere).
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(Ok(d)) = dir.map(File::open) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

pub fn atomic_write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    #[cfg(target_os = "linux")]
    fn temporary_names_carry_the_writer_mark() {
        let p = super::temp_path(Path::new("/x/w.safetensors"));
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let rest = name.strip_prefix(&format!(".w.safetensors.tmp-{}-", std::process::id())).unwrap();
        let parts: Vec<&str> = rest.split('-').collect();
        // N, then the mark: START, BOOT (8 hex digits), NS.
        assert_eq!(parts.len(), 4, "{name}");
        assert!(parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_hexdigit())), "{name}");
        assert_eq!(parts[2].len(), 8, "{name}");
    }
}
