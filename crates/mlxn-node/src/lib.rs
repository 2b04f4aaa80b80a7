//! The one Node addon. It holds no logic: it links every @mlxn crate's exports into a single
//! `.node` file so that all packages share one MLX runtime and one array class.
#![deny(clippy::all)]

use napi_derive::napi;

// Referencing each crate keeps its #[napi] registrations in the final link.
pub use mlxn_cache as cache_exports;
pub use mlxn_core::js as core_exports;
pub use mlxn_grpo as grpo_exports;
pub use mlxn_io as io_exports;
pub use mlxn_nn as nn_exports;
#[cfg(feature = "probe")]
pub use mlxn_probe as probe_exports;
pub use mlxn_qwen3 as qwen3_exports;
pub use mlxn_sampling as sampling_exports;

/// The version compiled into this binary; @mlxn/core refuses a binary whose version differs
/// from its own package.json.
#[napi(js_name = "bindingVersion", catch_unwind)]
pub fn binding_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The MLX version this binary was built against.
#[napi(js_name = "bindingMlxVersion", catch_unwind)]
pub fn binding_mlx_version() -> String {
    mlxn_core::mlx_version()
}

/// `"release"` or `"dev"`: benchmarks report which build they measured.
#[napi(js_name = "bindingProfile", catch_unwind)]
pub fn binding_profile() -> String {
    if cfg!(debug_assertions) { "dev" } else { "release" }.to_string()
}
