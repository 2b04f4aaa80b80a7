//! Errors name the file and the problem.
use std::fmt;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoError(pub String);

impl IoError {
    pub fn file(path: &Path, problem: &str) -> Self {
        IoError(format!("{}: {problem}", path.display()))
    }
    pub fn msg(m: impl Into<String>) -> Self {
        IoError(m.into())
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for IoError {}

pub type Result<T> = std::result::Result<T, IoError>;
