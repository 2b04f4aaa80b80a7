//! The one error type of the Rust side: MLX's own message, carried verbatim.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MlxError(pub String);

impl From<cxx::Exception> for MlxError {
    fn from(e: cxx::Exception) -> Self {
        MlxError(e.what().to_string())
    }
}

pub type Result<T> = std::result::Result<T, MlxError>;
