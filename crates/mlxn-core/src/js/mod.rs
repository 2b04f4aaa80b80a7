//! The Node exports of @mlxn/core (only built with the `napi` feature).
//!
//! Everything here is internal API: `@mlxn/core` wraps it in the public TypeScript surface.
//! Sibling crates accept [`JsArray`] in their own exports and call [`JsArray::get`]; they
//! return new arrays with [`JsArray::new`].
use std::cell::Cell;

use cxx::UniquePtr;
use napi::bindgen_prelude::{ClassInstance, ObjectFinalize};
use napi::{Env, sys};
use napi_derive::napi;

use crate::array::{Array, from_list};
use crate::error::MlxError;
use mlxn_sys::ffi::{ArrayList, MlxArray};

pub mod create;
pub mod data;
pub mod ops;
pub mod runtime;
pub mod transforms;

/// The `code` of errors thrown into JS. `MlxError` marks MLX's own failures (bad shapes,
/// dtypes, axes...); @mlxn/core's `MlxError` class recognises it.
#[derive(Debug, Clone, Copy)]
pub enum Code {
    Mlx,
    Disposed,
    InvalidArg,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::Mlx => "MlxError",
            Code::Disposed => "ERR_MLXN_DISPOSED",
            Code::InvalidArg => "ERR_INVALID_ARG_VALUE",
        }
    }
}

pub type JsError = napi::Error<Code>;
/// Export signatures must spell `Result` for napi-derive to see a fallible function.
pub type Result<T> = napi::Result<T, Code>;
pub type JsResult<T> = Result<T>;

pub fn mlx_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(Code::Mlx, e.to_string())
}
pub fn arg_err(msg: impl Into<String>) -> JsError {
    JsError::new(Code::InvalidArg, msg.into())
}

impl From<MlxError> for JsError {
    fn from(e: MlxError) -> Self {
        mlx_err(e.0)
    }
}

thread_local! {
    // The env of the JS thread that loaded the addon, for reporting native bytes to V8
    // without threading `Env` through every op.
    static ENV: Cell<sys::napi_env> = const { Cell::new(std::ptr::null_mut()) };
}

/// Called once by the loader so array creation can report native memory to V8's GC.
#[napi(js_name = "registerEnv")]
pub fn register_env(env: Env) {
    ENV.with(|e| e.set(env.raw()));
}

fn adjust_external(delta: i64) {
    ENV.with(|e| {
        let env = e.get();
        if !env.is_null() && delta != 0 {
            let mut out = 0i64;
            // SAFETY: the env belongs to this thread's JS context and outlives its arrays.
            unsafe { sys::napi_adjust_external_memory(env, delta, &mut out) };
        }
    });
}

/// An MLX array handle as a JS object. Not constructible from JS: arrays come out of ops.
#[napi(js_name = "NativeArray", custom_finalize)]
pub struct JsArray {
    inner: Option<Array>,
    reported: i64,
}

impl JsArray {
    pub fn new(a: Array) -> JsArray {
        let reported = a.nbytes() as i64;
        adjust_external(reported);
        JsArray { inner: Some(a), reported }
    }

    /// The array, or an `ERR_MLXN_DISPOSED` error if `dispose()` was called.
    pub fn get(&self) -> Result<&Array> {
        self.inner
            .as_ref()
            .ok_or_else(|| JsError::new(Code::Disposed, "Array has been disposed".to_string()))
    }

    pub fn raw(&self) -> Result<&MlxArray> {
        Ok(self.get()?.raw())
    }
}

impl ObjectFinalize for JsArray {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        adjust_external(-self.reported);
        Ok(())
    }
}

#[napi]
impl JsArray {
    #[napi(getter)]
    pub fn shape(&self) -> Result<Vec<i32>> {
        Ok(self.get()?.shape())
    }
    /// The dtype code (index into @mlxn/core's dtype table).
    #[napi(getter)]
    pub fn dtype(&self) -> Result<u32> {
        Ok(self.get()?.dtype().code() as u32)
    }
    #[napi(getter)]
    pub fn size(&self) -> Result<f64> {
        Ok(self.get()?.size() as f64)
    }
    #[napi(getter)]
    pub fn ndim(&self) -> Result<u32> {
        Ok(self.get()?.ndim() as u32)
    }
    #[napi(getter)]
    pub fn nbytes(&self) -> Result<f64> {
        Ok(self.get()?.nbytes() as f64)
    }
    /// Identity of the underlying graph node (equal for handles of the same array).
    #[napi(getter)]
    pub fn id(&self) -> Result<f64> {
        Ok(self.get()?.id() as f64)
    }
    #[napi(getter)]
    pub fn disposed(&self) -> bool {
        self.inner.is_none()
    }
    /// Releases the native handle now; later use throws `ERR_MLXN_DISPOSED`.
    #[napi]
    pub fn dispose(&mut self) {
        if self.inner.take().is_some() {
            adjust_external(-self.reported);
            self.reported = 0;
        }
    }
}

// ---- helpers shared by the export modules ------------------------------------------------

pub(crate) fn ret(r: std::result::Result<UniquePtr<MlxArray>, cxx::Exception>) -> Result<JsArray> {
    match r {
        Ok(p) => Ok(JsArray::new(Array::from_ptr(p))),
        Err(e) => Err(mlx_err(e.what())),
    }
}

pub(crate) fn ret_list(r: std::result::Result<UniquePtr<ArrayList>, cxx::Exception>) -> Result<Vec<JsArray>> {
    match r {
        Ok(l) => Ok(wrap_list(&l)),
        Err(e) => Err(mlx_err(e.what())),
    }
}

pub(crate) fn wrap_list(l: &ArrayList) -> Vec<JsArray> {
    from_list(l).into_iter().map(JsArray::new).collect()
}

/// A JS array of NativeArray into a bridge list.
pub(crate) fn list_arg(list: &[ClassInstance<JsArray>]) -> Result<UniquePtr<ArrayList>> {
    let mut out = mlxn_sys::ffi::list_new();
    for a in list {
        mlxn_sys::ffi::list_push(out.pin_mut(), a.raw()?);
    }
    Ok(out)
}

/// An optional array argument as the nullable pointer the bridge expects.
pub(crate) fn opt_ptr(a: Option<&JsArray>) -> Result<*const MlxArray> {
    match a {
        Some(a) => Ok(a.raw()? as *const MlxArray),
        None => Ok(std::ptr::null()),
    }
}

pub(crate) fn axes_or_all(axes: Option<Vec<i32>>) -> (Vec<i32>, bool) {
    match axes {
        Some(v) => (v, false),
        None => (Vec::new(), true),
    }
}
