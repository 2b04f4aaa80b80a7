//! The Rust side of `@mlxn/io`.
//!
//! - `safetensors`: our own header validation (sizes, offsets, overlaps, byte counts) that runs
//!   before MLX's lazy reader opens a file, and the writer.
//! - `files`: only regular files are opened (a FIFO would block a read forever), with bounded
//!   whole-file reads.
//! - `gguf`: our own GGUF header validation, which runs before MLX's GGUF reader opens a file.
//! - `atomic`: every write is a temporary file, fsync, rename.
//! - `shards`: Hugging Face sharded folders (`model.safetensors.index.json`).
//! - `checkpoint`: load (lazy, via MLX) and save of MLX arrays.
//! - `tokenizer`: `tokenizer.json` through the `tokenizers` crate; streaming detokenizer.
//! - `template`: chat templates through minijinja with transformers' Jinja settings.
//! - `template_limits`: the bounds on rendering an untrusted template (size, fuel, bytes, depth).
//!
//! Everything is plain Rust (tested with `cargo test`); the `napi` feature adds the exports.
pub mod atomic;
pub mod checkpoint;
pub mod error;
pub mod files;
pub mod gguf;
pub mod safetensors;
pub mod shards;
pub mod template;
pub mod template_limits;
pub mod tokenizer;

pub use error::{IoError, Result};

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js;
