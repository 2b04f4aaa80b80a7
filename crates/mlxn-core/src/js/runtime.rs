//! Devices, streams, memory and version exports.
use napi_derive::napi;

use super::{Result, mlx_err};
use mlxn_sys::ffi;

fn check<T>(r: std::result::Result<T, cxx::Exception>) -> Result<T> {
    r.map_err(|e| mlx_err(e.what()))
}

/// 0 = cpu, 1 = gpu.
#[napi(js_name = "defaultDeviceType", catch_unwind)]
pub fn default_device_type() -> i32 {
    ffi::default_device_type()
}

#[napi(js_name = "setDefaultDevice", catch_unwind)]
pub fn set_default_device(device_type: i32) -> Result<()> {
    check(ffi::set_default_device(device_type))
}

#[napi(js_name = "deviceAvailable", catch_unwind)]
pub fn device_available(device_type: i32) -> bool {
    (0..=1).contains(&device_type) && ffi::device_available(device_type)
}

#[napi(js_name = "newStream", catch_unwind)]
pub fn new_stream(device_type: i32) -> Result<i32> {
    check(ffi::new_stream(device_type))
}

#[napi(js_name = "defaultStreamIndex", catch_unwind)]
pub fn default_stream_index(device_type: i32) -> Result<i32> {
    check(ffi::default_stream_index(device_type))
}

#[napi(js_name = "setDefaultStream", catch_unwind)]
pub fn set_default_stream(device_type: i32, index: i32) -> Result<()> {
    check(ffi::set_default_stream(device_type, index))
}

#[napi(catch_unwind)]
pub fn synchronize(device_type: i32, index: i32) -> Result<()> {
    check(ffi::synchronize(device_type, index))
}

#[napi(object)]
pub struct MemoryStats {
    pub active: f64,
    pub peak: f64,
    pub cache: f64,
}

#[napi(catch_unwind)]
pub fn memory() -> MemoryStats {
    MemoryStats { active: ffi::active_memory() as f64, peak: ffi::peak_memory() as f64, cache: ffi::cache_memory() as f64 }
}

#[napi(js_name = "resetPeakMemory", catch_unwind)]
pub fn reset_peak_memory() {
    ffi::reset_peak_memory();
}

#[napi(js_name = "clearCache", catch_unwind)]
pub fn clear_cache() {
    ffi::clear_cache();
}

#[napi(js_name = "setMemoryLimit", catch_unwind)]
pub fn set_memory_limit(bytes: f64) -> Result<f64> {
    Ok(check(ffi::set_memory_limit(bytes as usize))? as f64)
}

#[napi(js_name = "setCacheLimit", catch_unwind)]
pub fn set_cache_limit(bytes: f64) -> Result<f64> {
    Ok(check(ffi::set_cache_limit(bytes as usize))? as f64)
}

#[napi(js_name = "setWiredLimit", catch_unwind)]
pub fn set_wired_limit(bytes: f64) -> Result<f64> {
    Ok(check(ffi::set_wired_limit(bytes as usize))? as f64)
}

#[napi(js_name = "mlxVersion", catch_unwind)]
pub fn mlx_version() -> String {
    ffi::mlx_version()
}
