//! Opening files that came from someone else. Only regular files are read: a FIFO, a character
//! device or a socket given as a checkpoint or a JSON file would block a synchronous open or read
//! forever (or never end), and a folder cannot be read at all. Files are opened with
//! `O_NONBLOCK`, so opening a FIFO returns at once, and the opened handle is checked with `fstat`
//! (checking the path first and opening it second would leave a window in which it could be
//! swapped). Whole-file reads are bounded.
use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

use crate::error::{IoError, Result};

/// What a non-regular file is, for error messages.
fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "not a regular file"
}

/// Opens `path` for reading if it is a regular file (symbolic links are followed); returns the
/// handle and the file's length.
pub fn open_regular(path: &Path) -> Result<(File, u64)> {
    open_checked(path, "cannot open")
}

/// `failure` starts the message when the file cannot be opened ("cannot open", "cannot read").
fn open_checked(path: &Path, failure: &str) -> Result<(File, u64)> {
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Without O_NONBLOCK, open() on a FIFO waits for a writer that may never come.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| match std::fs::metadata(path) {
        // open() refuses a socket (ENXIO): name what it is rather than the errno.
        Ok(meta) if !meta.is_file() => IoError::file(path, &format!("is {}, not a regular file", kind(&meta))),
        _ => IoError::file(path, &format!("{failure}: {e}")),
    })?;
    let meta = file.metadata().map_err(|e| IoError::file(path, &format!("cannot stat: {e}")))?;
    if !meta.is_file() {
        return Err(IoError::file(path, &format!("is {}, not a regular file", kind(&meta))));
    }
    Ok((file, meta.len()))
}

/// Reads a whole regular file of at most `max_bytes` bytes. `what` names the limit in the error
/// (e.g. "tokenizer.json files").
pub fn read_regular(path: &Path, max_bytes: u64, what: &str) -> Result<Vec<u8>> {
    let (file, len) = open_checked(path, "cannot read")?;
    if len > max_bytes {
        return Err(IoError::file(path, &format!("{len} bytes exceeds the limit of {max_bytes} bytes for {what}")));
    }
    // The file may grow between fstat and the read: read at most one byte past the limit.
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(|e| IoError::file(path, &format!("cannot read: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(IoError::file(path, &format!("grew past the limit of {max_bytes} bytes for {what} while being read")));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, max_bytes: u64, what: &str) -> Result<String> {
    String::from_utf8(read_regular(path, max_bytes, what)?)
        .map_err(|e| IoError::file(path, &format!("not valid UTF-8 (at byte {})", e.utf8_error().valid_up_to())))
}

/// Reads a regular file, or `None` when it does not exist (other errors, a FIFO included, are
/// errors).
pub fn read_regular_text_if_exists(path: &Path, max_bytes: u64, what: &str) -> Result<Option<String>> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => read_regular_text(path, max_bytes, what).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("mlxn-io-files-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn reads_a_regular_file_within_the_limit() {
        let d = tmp();
        std::fs::write(d.join("a.json"), b"{}").unwrap();
        assert_eq!(read_regular(&d.join("a.json"), 2, "test files").unwrap(), b"{}");
        let e = read_regular(&d.join("a.json"), 1, "test files").unwrap_err();
        assert!(e.0.ends_with("a.json: 2 bytes exceeds the limit of 1 bytes for test files"), "{e}");
    }

    #[test]
    fn refuses_a_folder() {
        let d = tmp();
        let e = open_regular(&d).unwrap_err();
        assert!(e.0.ends_with("is a folder, not a regular file"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_fifo_without_blocking() {
        let d = tmp();
        let fifo = d.join("weights.safetensors");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo).unwrap_err();
        assert!(e.0.ends_with("weights.safetensors: is a FIFO, not a regular file"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_character_device() {
        let e = read_regular(Path::new("/dev/zero"), 10, "test files").unwrap_err();
        assert_eq!(e.0, "/dev/zero: is a character device, not a regular file");
    }

    #[test]
    fn missing_is_none_only_when_missing() {
        let d = tmp();
        assert_eq!(read_regular_text_if_exists(&d.join("nope.json"), 10, "x").unwrap(), None);
        assert!(read_regular_text_if_exists(&d, 10, "x").is_err());
    }
}
