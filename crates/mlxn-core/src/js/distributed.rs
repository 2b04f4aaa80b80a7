//! MLX's distributed layer for `@mlxn/core`'s `distributed` module. Groups live here, in a
//! per-thread table, and JS holds their index: a job has a handful of groups (the world and its
//! splits) that last as long as the process, as in MLX itself, so they are never freed.
use std::cell::RefCell;

use cxx::UniquePtr;
use mlxn_sys::ffi::{self, MlxGroup};
use napi_derive::napi;

use super::{JsArray, Result, arg_err, mlx_err, ret};

thread_local! {
    static GROUPS: RefCell<Vec<UniquePtr<MlxGroup>>> = const { RefCell::new(Vec::new()) };
}

fn add(g: std::result::Result<UniquePtr<MlxGroup>, cxx::Exception>) -> Result<u32> {
    let g = g.map_err(|e| mlx_err(e.what()))?;
    GROUPS.with(|t| {
        let mut t = t.borrow_mut();
        t.push(g);
        Ok((t.len() - 1) as u32)
    })
}

fn with_group<T>(id: u32, f: impl FnOnce(&MlxGroup) -> Result<T>) -> Result<T> {
    GROUPS.with(|t| {
        let t = t.borrow();
        let g = t.get(id as usize).ok_or_else(|| arg_err(format!("no distributed group {id}")))?;
        f(g)
    })
}

#[napi(js_name = "distIsAvailable", catch_unwind)]
pub fn dist_is_available(backend: String) -> Result<bool> {
    ffi::dist_is_available(&backend).map_err(|e| mlx_err(e.what()))
}

/// Initialises (or returns) the world group; its id.
#[napi(js_name = "distInit", catch_unwind)]
pub fn dist_init(strict: bool, backend: String) -> Result<u32> {
    add(ffi::dist_init(strict, &backend))
}

/// `[rank, size]` of a group.
#[napi(js_name = "distGroupInfo", catch_unwind)]
pub fn dist_group_info(id: u32) -> Result<Vec<i32>> {
    with_group(id, |g| Ok(vec![ffi::dist_rank(g), ffi::dist_size(g)]))
}

#[napi(js_name = "distSplit", catch_unwind)]
pub fn dist_split(id: u32, color: i32, key: i32) -> Result<u32> {
    let split = with_group(id, |g| Ok(ffi::dist_split(g, color, key)))?;
    add(split)
}

/// `op`: 0 allSum, 1 allGather, 2 allMax, 3 allMin, 4 sumScatter.
#[napi(js_name = "distCollective", catch_unwind)]
pub fn dist_collective(op: u8, a: JsArray, id: u32) -> Result<JsArray> {
    with_group(id, |g| ret(ffi::dist_collective(op, a.raw()?, g)))
}

#[napi(js_name = "distSend", catch_unwind)]
pub fn dist_send(a: JsArray, dst: i32, id: u32) -> Result<JsArray> {
    with_group(id, |g| ret(ffi::dist_send(a.raw()?, dst, g)))
}

#[napi(js_name = "distRecv", catch_unwind)]
pub fn dist_recv(shape: Vec<i32>, dtype: u8, src: i32, id: u32) -> Result<JsArray> {
    with_group(id, |g| ret(ffi::dist_recv(&shape, dtype, src, g)))
}

#[napi(js_name = "distRecvLike", catch_unwind)]
pub fn dist_recv_like(a: JsArray, src: i32, id: u32) -> Result<JsArray> {
    with_group(id, |g| ret(ffi::dist_recv_like(a.raw()?, src, g)))
}
