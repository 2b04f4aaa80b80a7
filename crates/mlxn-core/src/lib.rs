//! Safe MLX arrays for Rust, and (behind the `napi` feature) the Node exports of
//! `@mlxn/core`.
//!
//! Sibling crates (`mlxn-nn`, `mlxn-sampling`, ...) build on [`Array`] in Rust, and take
//! [`js::JsArray`] in their own `#[napi]` exports: because every crate links into one addon,
//! an array created by `@mlxn/core` is the very same class instance they receive.
pub mod array;
pub mod dtype;
pub mod error;
#[cfg(feature = "napi")]
pub mod js;

pub use array::Array;
pub use dtype::Dtype;
pub use error::{MlxError, Result};
pub use mlxn_sys::ffi;

/// The MLX version compiled into this binary.
pub fn mlx_version() -> String {
    ffi::mlx_version()
}
