//! The one error type of the Rust side: MLX's own message, carried verbatim.
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlxError(pub String);

impl fmt::Display for MlxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MlxError {}

impl From<cxx::Exception> for MlxError {
    fn from(e: cxx::Exception) -> Self {
        MlxError(e.what().to_string())
    }
}

pub type Result<T> = std::result::Result<T, MlxError>;
