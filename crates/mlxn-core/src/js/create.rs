//! Array creation exports.
use napi::bindgen_prelude::Uint8ArraySlice;
use napi_derive::napi;

use super::{JsArray, Result, ret};
use mlxn_sys::ffi;

/// Copies `data` (raw little-endian bytes) into a new array of the given shape and dtype code.
#[napi(js_name = "fromBytes", catch_unwind)]
pub fn from_bytes(data: Uint8ArraySlice, shape: Vec<i32>, dtype: u8) -> Result<JsArray> {
    ret(ffi::from_bytes(&data, &shape, dtype))
}

#[napi(catch_unwind)]
pub fn scalar(value: f64, dtype: u8) -> Result<JsArray> {
    ret(ffi::scalar(value, dtype))
}

/// Exact 64-bit integer scalars (values beyond 2^53 arrive as BigInt).
#[napi(js_name = "scalarInt", catch_unwind)]
pub fn scalar_int(value: napi::bindgen_prelude::BigInt, dtype: u8) -> Result<JsArray> {
    let v = if dtype == crate::Dtype::Uint64.code() {
        let (negative, v, lossless) = value.get_u64();
        if negative || !lossless {
            return Err(super::arg_err("value does not fit in uint64"));
        }
        v as i64 // same bits; the cast to uint64 happens in MLX
    } else {
        let (v, lossless) = value.get_i64();
        if !lossless {
            return Err(super::arg_err("value does not fit in int64"));
        }
        v
    };
    ret(ffi::scalar_int(v, dtype))
}

#[napi(catch_unwind)]
pub fn full(shape: Vec<i32>, value: JsArray, dtype: Option<u8>) -> Result<JsArray> {
    ret(ffi::full(&shape, value.raw()?, dtype.unwrap_or(0), dtype.is_some()))
}

#[napi(catch_unwind)]
pub fn arange(start: f64, stop: f64, step: f64, dtype: u8) -> Result<JsArray> {
    ret(ffi::arange(start, stop, step, dtype))
}

#[napi(catch_unwind)]
pub fn linspace(start: f64, stop: f64, num: i32, dtype: u8) -> Result<JsArray> {
    ret(ffi::linspace(start, stop, num, dtype))
}

#[napi(catch_unwind)]
pub fn eye(n: i32, m: i32, k: i32, dtype: u8) -> Result<JsArray> {
    ret(ffi::eye(n, m, k, dtype))
}

#[napi(catch_unwind)]
pub fn tri(n: i32, m: i32, k: i32, dtype: u8) -> Result<JsArray> {
    ret(ffi::tri(n, m, k, dtype))
}
