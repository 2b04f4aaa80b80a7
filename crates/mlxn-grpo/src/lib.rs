//! The Rust side of `@mlxn/grpo`.
//!
//! - [`dataset`]: JSONL datasets read with line-numbered errors, and the seeded shuffle order
//!   that makes epochs reproducible and resumable.
//! - [`advantages`]: group-relative advantages from per-completion rewards (TRL's
//!   `scale_rewards` modes) and reward aggregation with `null` as "not applicable".
//! - [`checkpoints`]: finding and ordering `checkpoint-N` folders.
pub mod advantages;
pub mod checkpoints;
pub mod dataset;
