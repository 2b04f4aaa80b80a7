//! The Node exports of @mlxn/core (only built with the `napi` feature).
//!
//! Everything here is internal API: `@mlxn/core` wraps it in the public TypeScript surface.
//! Sibling crates accept [`JsArray`] in their own exports and call [`JsArray::get`]; they
//! return new arrays with [`JsArray::new`].
use std::cell::{Cell, RefCell};

use cxx::UniquePtr;
use napi::ValueType;
use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, TypeName, ValidateNapiValue};
use napi::{Env, sys};
use napi_derive::napi;

use crate::array::{Array, from_list};
use crate::error::MlxError;
use mlxn_sys::ffi::{ArrayList, MlxArray};

pub mod create;
pub mod data;
pub mod distributed;
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
    // Bytes not yet reported: V8 is told in steps of REPORT_STEP, because a report per array
    // costs more than building the op itself.
    static PENDING: Cell<i64> = const { Cell::new(0) };
}

const REPORT_STEP: i64 = 1 << 20;

/// Called once by the loader so array creation can report native memory to V8's GC.
#[napi(js_name = "registerEnv", catch_unwind)]
pub fn register_env(env: Env) {
    ENV.with(|e| e.set(env.raw()));
}

fn adjust_external(delta: i64) {
    let pending = PENDING.with(|p| {
        let v = p.get() + delta;
        p.set(v);
        v
    });
    if pending.abs() < REPORT_STEP {
        return;
    }
    ENV.with(|e| {
        let env = e.get();
        if !env.is_null() {
            let mut out = 0i64;
            // SAFETY: the env belongs to this thread's JS context and outlives its arrays.
            unsafe { sys::napi_adjust_external_memory(env, pending, &mut out) };
            PENDING.with(|p| p.set(0));
        }
    });
}

/// How arrays cross into JS: as a plain number naming a slot in this thread's handle table.
///
/// A JS object per array (a napi class instance with a finalizer) cost more than the MLX op
/// itself (~1.7 µs of ~3 µs per op); a number costs almost nothing. The handle packs a slot
/// index (low 24 bits) and the slot's generation (the high bits), so a stale handle — one
/// whose slot was released and reused — is detected instead of reading another array.
/// @mlxn/core's `Array` owns one handle, releases it on `dispose()`, and a
/// `FinalizationRegistry` releases it if the wrapper is garbage collected first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsArray {
    handle: f64,
}

const INDEX_BITS: u32 = 24;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const MAX_GENERATION: u64 = (1 << (53 - INDEX_BITS)) - 1;

struct Slot {
    generation: u64,
    array: Option<Array>,
    bytes: i64,
}

#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table::default());
}

impl JsArray {
    /// Registers `a` in the handle table and returns its handle.
    pub fn new(a: Array) -> JsArray {
        // Views own nothing: reporting them would count their base's bytes again.
        let bytes = a.owned_nbytes() as i64;
        adjust_external(bytes);
        Self::register(a, bytes)
    }

    /// Registers `a` without telling V8 about its bytes: for arrays whose owner frees them
    /// explicitly and that replace an array of the same size each step (a KV cache's buffers,
    /// written in place). Reporting them would show V8 gigabytes of new external memory per
    /// decode step at large batches, and V8 answers that with a garbage collection right away.
    pub fn new_unreported(a: Array) -> JsArray {
        Self::register(a, 0)
    }

    fn register(a: Array, bytes: i64) -> JsArray {
        TABLE.with(|t| {
            let mut t = t.borrow_mut();
            let index = match t.free.pop() {
                Some(i) => i as usize,
                None => {
                    assert!(t.slots.len() < INDEX_MASK as usize, "more than 16M live mlx arrays");
                    t.slots.push(Slot { generation: 0, array: None, bytes: 0 });
                    t.slots.len() - 1
                }
            };
            let slot = &mut t.slots[index];
            slot.generation = (slot.generation + 1) & MAX_GENERATION;
            slot.array = Some(a);
            slot.bytes = bytes;
            JsArray { handle: ((slot.generation << INDEX_BITS) | index as u64) as f64 }
        })
    }

    /// Panics while this thread's handle table is borrowed, as the assert in `register` does.
    /// For the panic-safety test only (`probePanic`): it shows that the table is usable again
    /// once the export's `catch_unwind` has caught the panic (the borrow is released while
    /// unwinding; a `RefCell` is never poisoned).
    #[doc(hidden)]
    pub fn panic_with_table_borrowed(message: &str) -> ! {
        TABLE.with(|t| {
            let _table = t.borrow_mut();
            panic!("{message}")
        })
    }

    /// The handle a JS number names (checked when it is used, as every handle is).
    pub fn from_handle(handle: f64) -> JsArray {
        JsArray { handle }
    }

    /// The bridged array for the rest of the current native call, without tying the borrow to
    /// this `JsArray` value (for exports that read many handles out of a flat description).
    ///
    /// # Safety
    /// The reference must not be kept past the native call that received the handle: handles
    /// are only released by a separate JS call (see `raw`).
    pub unsafe fn raw_for_call<'a>(&self) -> Result<&'a MlxArray> {
        let r = self.raw()?;
        // SAFETY: see above; the array lives in the handle table until a later `release`.
        Ok(unsafe { &*(r as *const MlxArray) })
    }

    /// The handle as JS sees it.
    pub fn handle(&self) -> f64 {
        self.handle
    }

    fn locate(&self) -> Option<(usize, u64)> {
        let h = self.handle;
        if !(h >= 0.0 && h.fract() == 0.0 && h < 9_007_199_254_740_992.0) {
            return None;
        }
        let h = h as u64;
        Some(((h & INDEX_MASK) as usize, h >> INDEX_BITS))
    }

    /// The bridged array. The reference stays valid for the current native call: handles are
    /// only released by `release` (a separate JS call), and transforms copy their inputs before
    /// running JS code.
    pub fn raw(&self) -> Result<&MlxArray> {
        let (index, generation) = self.locate().ok_or_else(not_an_array)?;
        TABLE.with(|t| {
            let t = t.borrow();
            match t.slots.get(index) {
                Some(Slot { generation: g, array: Some(a), .. }) if *g == generation => {
                    let p: *const MlxArray = a.raw();
                    // SAFETY: the C++ object lives on the heap behind the slot's UniquePtr and is
                    // only freed by `release`, which cannot run during this call (see above).
                    Ok(unsafe { &*p })
                }
                _ => Err(disposed()),
            }
        })
    }

    /// An owned handle to the same array (cheap: another reference to the graph node).
    pub fn get(&self) -> Result<Array> {
        Ok(Array::from_ptr(mlxn_sys::ffi::clone_array(self.raw()?)))
    }

    /// Frees the slot (the MLX array itself lives on while other arrays use it in a graph).
    /// Returns false for an unknown or already released handle.
    pub fn release(&self) -> bool {
        let Some((index, generation)) = self.locate() else { return false };
        let freed = TABLE.with(|t| {
            let mut t = t.borrow_mut();
            let slot = match t.slots.get_mut(index) {
                Some(s) if s.generation == generation && s.array.is_some() => s,
                _ => return None,
            };
            let a = slot.array.take();
            let bytes = slot.bytes;
            t.free.push(index as u32);
            Some((a, bytes))
        });
        match freed {
            Some((a, bytes)) => {
                drop(a);
                adjust_external(-bytes);
                true
            }
            None => false,
        }
    }
}

fn disposed() -> JsError {
    JsError::new(Code::Disposed, "Array has been disposed".to_string())
}

fn not_an_array() -> JsError {
    arg_err("expected an mlx array handle")
}

impl TypeName for JsArray {
    fn type_name() -> &'static str {
        "JsArray"
    }
    fn value_type() -> ValueType {
        ValueType::Number
    }
}

impl ValidateNapiValue for JsArray {}

impl FromNapiValue for JsArray {
    unsafe fn from_napi_value(env: sys::napi_env, v: sys::napi_value) -> napi::Result<Self> {
        let mut out = 0f64;
        let status = unsafe { sys::napi_get_value_double(env, v, &mut out) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::InvalidArg, "expected an mlx array handle".to_string()));
        }
        Ok(JsArray { handle: out })
    }
}

impl ToNapiValue for JsArray {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        unsafe { f64::to_napi_value(env, val.handle) }
    }
}

/// Releases a handle (from `Array.dispose()` or the wrapper's finalizer). Idempotent.
#[napi(catch_unwind)]
pub fn release(a: JsArray) -> bool {
    a.release()
}

/// Releases many handles in one call (what `tidy` does at the end of a scope).
#[napi(js_name = "releaseMany", ts_args_type = "handles: JsArray[]", catch_unwind)]
pub fn release_many(handles: Vec<f64>) -> u32 {
    handles.into_iter().filter(|&h| JsArray { handle: h }.release()).count() as u32
}

/// Number of live handles on this thread (for leak tests).
#[napi(js_name = "liveHandles", catch_unwind)]
pub fn live_handles() -> u32 {
    TABLE.with(|t| {
        let t = t.borrow();
        (t.slots.len() - t.free.len()) as u32
    })
}

#[napi(catch_unwind)]
pub fn shape(a: JsArray) -> Result<Vec<i32>> {
    Ok(mlxn_sys::ffi::shape(a.raw()?))
}
/// The dtype code (index into @mlxn/core's dtype table).
#[napi(catch_unwind)]
pub fn dtype(a: JsArray) -> Result<u32> {
    Ok(mlxn_sys::ffi::dtype(a.raw()?) as u32)
}
#[napi(catch_unwind)]
pub fn nbytes(a: JsArray) -> Result<f64> {
    Ok(mlxn_sys::ffi::nbytes(a.raw()?) as f64)
}
/// Identity of the underlying graph node (equal for handles of the same array).
#[napi(js_name = "arrayId", catch_unwind)]
pub fn array_id(a: JsArray) -> Result<f64> {
    Ok(mlxn_sys::ffi::array_id(a.raw()?) as f64)
}
#[napi(js_name = "isLive", catch_unwind)]
pub fn is_live(a: JsArray) -> bool {
    a.raw().is_ok()
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

/// A JS list of array handles into a bridge list.
pub(crate) fn list_arg(list: &[JsArray]) -> Result<UniquePtr<ArrayList>> {
    let mut out = mlxn_sys::ffi::list_new();
    for a in list {
        mlxn_sys::ffi::list_push(out.pin_mut(), a.raw()?);
    }
    Ok(out)
}

/// An optional array argument as the nullable pointer the bridge expects.
pub(crate) fn opt_ptr(a: Option<JsArray>) -> Result<*const MlxArray> {
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
