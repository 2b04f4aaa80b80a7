//! The Rust side of `@mlxn/models-qwen3`.
//!
//! - [`checkpoint_keys`]: which checkpoint tensors a Qwen3 / Qwen3-MoE model keeps, drops or
//!   stacks (the `sanitize` plan), checked as untrusted input.
//! - [`reply`]: the parser that splits a Qwen3 reply into reasoning (`<think>`), text and tool
//!   calls (`<tool_call>` JSON), whole or incrementally as tokens stream in.
pub mod checkpoint_keys;
pub mod reply;
