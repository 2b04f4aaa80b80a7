//! A deliberately tiny sibling crate. It exists to prove the pattern every package crate
//! follows: its exports take arrays created by @mlxn/core's exports, compute with the safe
//! `mlxn_core::Array` API, and return arrays that @mlxn/core's functions accept again — all
//! inside the one addon, so there is one MLX runtime and one array class.
use mlxn_core::{Array, Dtype, Result};

/// `a * factor + 1`, computed through `mlxn_core` rather than the bridge directly.
pub fn scale_and_shift(a: &Array, factor: f64) -> Result<Array> {
    let f = Array::scalar(factor, a.dtype())?;
    let one = Array::scalar(1.0, a.dtype())?;
    a.multiply(&f)?.add(&one)
}

/// Total bytes of all arrays (shows list arguments crossing crates).
pub fn total_bytes(arrays: &[&Array]) -> usize {
    arrays.iter().map(|a| a.nbytes()).sum()
}

pub fn is_float(a: &Array) -> bool {
    matches!(a.dtype(), Dtype::Float16 | Dtype::Bfloat16 | Dtype::Float32 | Dtype::Float64)
}

// napi-derive registers the exports only outside test builds, where they would be dead code.
#[cfg(all(feature = "napi", not(test)))]
mod js {
    use cxx::UniquePtr;
    use mlxn_core::js::{JsArray, Result, arg_err, mlx_err};
    use mlxn_sys::ffi::{self, ArrayList};
    use napi_derive::napi;

    #[napi(js_name = "probeScaleAndShift", catch_unwind)]
    pub fn probe_scale_and_shift(a: JsArray, factor: f64) -> Result<JsArray> {
        Ok(JsArray::new(super::scale_and_shift(&a.get()?, factor)?))
    }

    #[napi(js_name = "probeTotalBytes", catch_unwind)]
    pub fn probe_total_bytes(a: JsArray, b: JsArray) -> Result<f64> {
        Ok(super::total_bytes(&[&a.get()?, &b.get()?]) as f64)
    }

    /// A traced function that panics (for `probePanic`'s `"trace"` site).
    struct PanickingTrace(String);

    impl mlxn_sys::Trace for PanickingTrace {
        fn call(&mut self, _: &ArrayList) -> std::result::Result<UniquePtr<ArrayList>, String> {
            panic!("{}", self.0)
        }
    }

    /// Panics on purpose. For tests only (reached through `@mlxn/core/internal`; see
    /// packages/core/test/panic-safety.test.ts): a Rust panic in an export must become a JS
    /// Error and leave the process usable. `site` says where it panics: `"export"` in the
    /// export's own body, `"table"` while the handle table is borrowed (as the 16M-handles
    /// assert does), `"trace"` inside a traced function that MLX's C++ code calls back. With
    /// `a`, a copy of it is registered first, as by an export that panics after making outputs.
    #[napi(js_name = "probePanic", catch_unwind)]
    pub fn probe_panic(message: String, site: String, a: Option<JsArray>) -> Result<()> {
        if let Some(a) = &a {
            JsArray::new(a.get()?);
        }
        match site.as_str() {
            "export" => panic!("{message}"),
            "table" => JsArray::panic_with_table_borrowed(&message),
            "trace" => {
                let a = a.ok_or_else(|| arg_err("probePanic: the trace site needs an array"))?;
                let mut primals = ffi::list_new();
                ffi::list_push(primals.pin_mut(), a.raw()?);
                let mut cotangents = ffi::list_new();
                ffi::list_push(cotangents.pin_mut(), a.raw()?);
                let mut out = ffi::list_new();
                let mut trace = PanickingTrace(message);
                // SAFETY: `trace` outlives the bridged call, the only user of the callback.
                let mut cb = unsafe { mlxn_sys::TraceCallback::new(&mut trace) };
                ffi::derivative_product(ffi::DerivativeProduct::Vjp, &mut cb, &primals, &cotangents, out.pin_mut())
                    .map_err(|e| mlx_err(e.what()))?;
                Err(mlx_err("probePanic: the traced function did not run"))
            }
            other => Err(arg_err(format!("probePanic: unknown site {other:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_through_core() {
        let a = Array::from_slice(&[1.0f32, 2.0], &[2]).unwrap();
        assert_eq!(scale_and_shift(&a, 3.0).unwrap().to_f32_vec().unwrap(), vec![4.0, 7.0]);
        assert!(is_float(&a));
        assert_eq!(total_bytes(&[&a, &a]), 16);
    }
}
