//! Errors name the file and the problem.
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IoError(pub String);

impl IoError {
    pub fn file(path: &Path, problem: &str) -> Self {
        IoError(format!("{}: {problem}", path.display()))
    }
    pub fn msg(m: impl Into<String>) -> Self {
        IoError(m.into())
    }
}

pub type Result<T> = std::result::Result<T, IoError>;
