//! The Rust side of `@mlxn/models-qwen3`.
//!
//! - [`checkpoint_keys`]: which checkpoint tensors a Qwen3 / Qwen3-MoE model keeps, drops or
//!   stacks (the `sanitize` plan), checked as untrusted input.
//! - [`reply`]: the parser that splits a Qwen3 reply into reasoning (`<think>`), text and tool
//!   calls (`<tool_call>` JSON), whole or incrementally as tokens stream in.
//! - [`forward`] (with [`forward_desc`]): the network's forward pass built in one native call
//!   from a flat description written by `native-forward.ts`, so a decode step costs one call
//!   from JS instead of one per op. `forward_ops` holds the ops its layers are built from.
//! - [`fused_kernels`]: the forward's fused CUDA kernels for generation (on by default on
//!   CUDA, `MLXN_FUSED_KERNELS`), and the layout of blocks they need.
pub mod checkpoint_keys;
pub mod forward;
pub mod forward_desc;
mod forward_ops;
pub mod fused_kernels;
pub mod reply;

#[cfg(feature = "napi")]
mod forward_js {
    use mlxn_core::Array;
    use mlxn_core::ffi::MlxArray;
    use mlxn_core::js::{JsArray, Result, mlx_err};
    use napi::bindgen_prelude::Float64Array;
    use napi_derive::napi;

    use crate::forward_desc::{DescError, Resolve, parse};

    struct HandleTable;

    impl<'a> Resolve<'a> for HandleTable {
        fn resolve(&self, handle: f64) -> std::result::Result<&'a MlxArray, DescError> {
            // SAFETY: the description is read and used within this one native call.
            unsafe { JsArray::from_handle(handle).raw_for_call() }.map_err(|e| DescError(e.reason.clone()))
        }
    }

    /// Builds Qwen3's trunk (embeddings, decoder layers, final norm) for `tokens` `[B, L]` from
    /// the flat description `desc` (see `forward_desc.rs`) in one call. Returns handles:
    /// the hidden states, then per cached layer its new keys and values (the caches keep their
    /// offsets on the host).
    #[napi(js_name = "qwen3Forward", ts_args_type = "desc: Float64Array, tokens: JsArray", ts_return_type = "JsArray[]", catch_unwind)]
    pub fn qwen3_forward(desc: Float64Array, tokens: JsArray) -> Result<Vec<f64>> {
        let d = parse(&desc, &HandleTable).map_err(|e| mlx_err(format!("qwen3Forward: {e}")))?;
        let out = crate::forward::forward(&d, tokens.raw()?).map_err(|e| mlx_err(e.0))?;
        let mut handles = Vec::with_capacity(1 + 2 * out.caches.len());
        handles.push(JsArray::new(Array::from_ptr(out.hidden)).handle());
        // The caches own their buffers and dispose the ones these replace (see new_unreported).
        for c in out.caches {
            handles.push(JsArray::new_unreported(Array::from_ptr(c.keys)).handle());
            handles.push(JsArray::new_unreported(Array::from_ptr(c.values)).handle());
        }
        Ok(handles)
    }

    /// Sets whether `qwen3Forward` uses the fused CUDA kernels (mlxn-qwen3 `fused_kernels.rs`):
    /// 0 off, 1 on (on a CUDA device), 2 their layout with the separate ops (for tests on any
    /// device), 3 on without the masked attention kernel, 4 the folded layout (norms inside the
    /// products) with the separate ops (for tests on any device). `MLXN_FUSED_KERNELS` (`0`,
    /// `1`, `norms`) gives the first setting.
    #[napi(js_name = "qwen3SetFusedKernels", catch_unwind)]
    pub fn qwen3_set_fused_kernels(setting: u32) -> Result<()> {
        use crate::fused_kernels::{FOLDED_LAYOUT_ONLY, LAYOUT_ONLY, OFF, ON, WITHOUT_ATTENTION};
        let valid = [OFF, ON, LAYOUT_ONLY, WITHOUT_ATTENTION, FOLDED_LAYOUT_ONLY];
        let s = u8::try_from(setting).ok().filter(|s| valid.contains(s));
        let s = s.ok_or_else(|| mlx_err(format!("qwen3SetFusedKernels: expected 0 to 4, got {setting}")))?;
        crate::fused_kernels::set(s);
        Ok(())
    }
}
