//! Function transforms over JS functions. The JS side passes a *flat* function
//! (`NativeArray[] => NativeArray[] | null`); @mlxn/core flattens and rebuilds argument trees
//! and catches the user's exceptions (returning null), then rethrows them after the call.
use cxx::UniquePtr;
use napi::bindgen_prelude::Function;
use napi_derive::napi;

use super::{JsArray, Result, list_arg, mlx_err, wrap_list};
use mlxn_sys::ffi::{self, ArrayList};
use mlxn_sys::{Trace, TraceCallback};

type FlatFn<'a> = Function<'a, Vec<JsArray>, Option<Vec<JsArray>>>;

struct JsTrace<'a, 'f> {
    f: &'f FlatFn<'a>,
}

impl Trace for JsTrace<'_, '_> {
    fn call(&mut self, inputs: &ArrayList) -> std::result::Result<UniquePtr<ArrayList>, String> {
        match self.f.call(wrap_list(inputs)) {
            Ok(Some(list)) => list_arg(&list).map_err(|e| e.reason.clone()),
            Ok(None) => Err("the traced function threw an exception".to_string()),
            Err(e) => Err(e.reason.clone()),
        }
    }
}

fn with_callback<R>(f: &FlatFn, body: impl FnOnce(&mut TraceCallback) -> R) -> R {
    let mut trace = JsTrace { f };
    // SAFETY: `trace` outlives the bridged call made inside `body`.
    let mut cb = unsafe { TraceCallback::new(&mut trace) };
    body(&mut cb)
}

#[napi(
    js_name = "valueAndGrad",
    ts_args_type = "fn: (inputs: JsArray[]) => JsArray[] | null, inputs: JsArray[], argnums: number[]",
    catch_unwind
)]
pub fn value_and_grad(f: FlatFn, inputs: Vec<JsArray>, argnums: Vec<i32>) -> Result<Vec<Vec<JsArray>>> {
    let inputs = list_arg(&inputs)?;
    let mut grads = ffi::list_new();
    let values = with_callback(&f, |cb| ffi::value_and_grad(cb, &inputs, &argnums, grads.pin_mut())).map_err(|e| mlx_err(e.what()))?;
    Ok(vec![wrap_list(&values), wrap_list(&grads)])
}

#[napi(ts_args_type = "fn: (inputs: JsArray[]) => JsArray[] | null, primals: JsArray[], cotangents: JsArray[]", catch_unwind)]
pub fn vjp(f: FlatFn, primals: Vec<JsArray>, cotangents: Vec<JsArray>) -> Result<Vec<Vec<JsArray>>> {
    let (p, c) = (list_arg(&primals)?, list_arg(&cotangents)?);
    let mut out = ffi::list_new();
    let values = with_callback(&f, |cb| ffi::derivative_product(ffi::DerivativeProduct::Vjp, cb, &p, &c, out.pin_mut()))
        .map_err(|e| mlx_err(e.what()))?;
    Ok(vec![wrap_list(&values), wrap_list(&out)])
}

#[napi(ts_args_type = "fn: (inputs: JsArray[]) => JsArray[] | null, primals: JsArray[], tangents: JsArray[]", catch_unwind)]
pub fn jvp(f: FlatFn, primals: Vec<JsArray>, tangents: Vec<JsArray>) -> Result<Vec<Vec<JsArray>>> {
    let (p, t) = (list_arg(&primals)?, list_arg(&tangents)?);
    let mut out = ffi::list_new();
    let values = with_callback(&f, |cb| ffi::derivative_product(ffi::DerivativeProduct::Jvp, cb, &p, &t, out.pin_mut()))
        .map_err(|e| mlx_err(e.what()))?;
    Ok(vec![wrap_list(&values), wrap_list(&out)])
}

/// `inAxes`/`outAxes` use -1 for "not mapped".
#[napi(ts_args_type = "fn: (inputs: JsArray[]) => JsArray[] | null, inputs: JsArray[], inAxes: number[], outAxes: number[]", catch_unwind)]
pub fn vmap(f: FlatFn, inputs: Vec<JsArray>, in_axes: Vec<i32>, out_axes: Vec<i32>) -> Result<Vec<JsArray>> {
    let inputs = list_arg(&inputs)?;
    let out = with_callback(&f, |cb| ffi::vmap(cb, &inputs, &in_axes, &out_axes)).map_err(|e| mlx_err(e.what()))?;
    Ok(wrap_list(&out))
}

/// Calls the compiled function `id`; `fn` is traced only on a cache miss.
#[napi(
    js_name = "compileCall",
    ts_args_type = "fn: (inputs: JsArray[]) => JsArray[] | null, id: number, shapeless: boolean, inputs: JsArray[]",
    catch_unwind
)]
pub fn compile_call(f: FlatFn, id: u32, shapeless: bool, inputs: Vec<JsArray>) -> Result<Vec<JsArray>> {
    let inputs = list_arg(&inputs)?;
    let out = with_callback(&f, |cb| ffi::compile_call(cb, id as usize, shapeless, &inputs)).map_err(|e| mlx_err(e.what()))?;
    Ok(wrap_list(&out))
}

/// Drops the cached graphs of compiled function `id` (called when it is garbage collected).
#[napi(js_name = "compileErase", catch_unwind)]
pub fn compile_erase(id: u32) {
    ffi::compile_erase(id as usize);
}

#[napi(js_name = "setCompileEnabled", catch_unwind)]
pub fn set_compile_enabled(enabled: bool) {
    ffi::set_compile_enabled(enabled);
}
