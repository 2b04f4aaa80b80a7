//! Evaluation and reading values back: `eval`, `asyncEval`, synchronous and asynchronous reads.
//!
//! Asynchronous reads never evaluate on the libuv pool: @mlxn/core schedules the work with
//! MLX's own `async_eval` (MLX runs it on its stream threads) and polls `isAvailable` from the
//! event loop. (MLX does not export its event API, and waiting through the array handle on
//! another thread would race with the JS thread's use of the same array.)
use half::{bf16, f16};
use napi::bindgen_prelude::{Buffer, Float64Array};
use napi_derive::napi;

use super::{JsArray, Result, arg_err, list_arg, mlx_err};
use crate::array::Array;
use crate::dtype::Dtype;
use mlxn_sys::ffi;

#[napi(catch_unwind)]
pub fn eval(arrays: Vec<JsArray>) -> Result<()> {
    ffi::eval(&*list_arg(&arrays)?).map_err(|e| mlx_err(e.what()))
}

#[napi(js_name = "asyncEval", catch_unwind)]
pub fn async_eval(arrays: Vec<JsArray>) -> Result<()> {
    ffi::async_eval(&*list_arg(&arrays)?).map_err(|e| mlx_err(e.what()))
}

/// Reads an evaluated array into bytes. Half-precision values widen to float32 unless
/// `rawHalf` asks for the stored 16-bit patterns.
fn read_bytes(a: &Array, raw_half: bool) -> Result<Vec<u8>> {
    let dense = a.materialize()?;
    let dtype = dense.dtype();
    Ok(dense.with_bytes(|b| match dtype {
        Dtype::Float16 | Dtype::Bfloat16 if !raw_half => {
            let mut out = Vec::with_capacity(b.len() * 2);
            for c in b.chunks_exact(2) {
                let bits = u16::from_le_bytes([c[0], c[1]]);
                let v = if dtype == Dtype::Float16 { f16::from_bits(bits).to_f32() } else { bf16::from_bits(bits).to_f32() };
                out.extend_from_slice(&v.to_le_bytes());
            }
            out
        }
        _ => b.to_vec(),
    }))
}

#[napi(js_name = "dataSync", catch_unwind)]
pub fn data_sync(a: JsArray, raw_half: bool) -> Result<Buffer> {
    Ok(read_bytes(&a.get()?, raw_half)?.into())
}

#[napi(js_name = "isAvailable", catch_unwind)]
pub fn is_available(a: JsArray) -> Result<bool> {
    ffi::is_available(a.raw()?).map_err(|e| mlx_err(e.what()))
}

/// MLX's own printout of the array (evaluates it).
#[napi(catch_unwind)]
pub fn describe(a: JsArray) -> Result<String> {
    ffi::describe(a.raw()?).map_err(|e| mlx_err(e.what()))
}

/// The unevaluated graph behind `arrays`, as lines `<primitive>\t<count>` (each node once).
/// Benchmarks use it to compare the work two graph builders make; it evaluates nothing.
#[napi(js_name = "graphOps", ts_args_type = "arrays: JsArray[]", catch_unwind)]
pub fn graph_ops(arrays: Vec<JsArray>) -> Result<String> {
    let mut list = ffi::list_new();
    for a in &arrays {
        ffi::list_push(list.pin_mut(), a.raw()?);
    }
    Ok(ffi::graph_ops(&list))
}

/// Waits on the JS thread until `a` is available and raises any error its asynchronous
/// evaluation hit (MLX keeps that error with the array until someone waits).
#[napi(catch_unwind)]
pub fn wait(a: JsArray) -> Result<()> {
    ffi::wait(a.raw()?).map_err(|e| mlx_err(e.what()))
}

// ---- the evaluation thread ----------------------------------------------------------------
// A native thread that evaluates graphs while the JS thread builds the next one (see
// crates/mlxn-sys/src/shim/eval_thread.cc). Decoding loops hand it each step.

/// Makes the JS thread's default streams ones the evaluation thread can evaluate (at load).
#[napi(js_name = "useSharedStreams", catch_unwind)]
pub fn use_shared_streams() -> Result<()> {
    ffi::use_shared_streams().map_err(|e| mlx_err(e.what()))
}

/// Whether the evaluation thread can be used (the shared streams are set up).
#[napi(js_name = "evalThreadReady", catch_unwind)]
pub fn eval_thread_ready() -> bool {
    ffi::shared_streams()
}

/// Queues an asynchronous evaluation of `arrays` on the evaluation thread and returns at once.
#[napi(js_name = "evalThreadSchedule", catch_unwind)]
pub fn eval_thread_schedule(arrays: Vec<JsArray>) -> Result<()> {
    ffi::eval_thread_schedule(&*list_arg(&arrays)?).map_err(|e| mlx_err(e.what()))
}

/// Reads `arrays` on the evaluation thread, after everything queued before: their elements in
/// order, as numbers. Raises the first evaluation error since the last read.
#[napi(js_name = "evalThreadRead", catch_unwind)]
pub fn eval_thread_read(arrays: Vec<JsArray>) -> Result<Float64Array> {
    let values = ffi::eval_thread_read(&*list_arg(&arrays)?).map_err(|e| mlx_err(e.what()))?;
    Ok(Float64Array::new(values))
}

/// Queues an asynchronous evaluation of `arrays` on the evaluation thread, with copies of them
/// to read back, and returns the ticket `evalThreadReadTicket` reads them by.
#[napi(js_name = "evalThreadScheduleRead", catch_unwind)]
pub fn eval_thread_schedule_read(arrays: Vec<JsArray>) -> Result<f64> {
    let t = ffi::eval_thread_schedule_read(&*list_arg(&arrays)?).map_err(|e| mlx_err(e.what()))?;
    Ok(t as f64)
}

/// A ticket's arrays (see `evalThreadScheduleRead`), their elements in order, as numbers: it
/// waits for the device to compute them, not for the steps queued after them to be encoded.
#[napi(js_name = "evalThreadReadTicket", catch_unwind)]
pub fn eval_thread_read_ticket(ticket: f64) -> Result<Float64Array> {
    let values = ffi::eval_thread_read_ticket(ticket_arg(ticket)?).map_err(|e| mlx_err(e.what()))?;
    Ok(Float64Array::new(values))
}

/// Drops a ticket that will not be read.
#[napi(js_name = "evalThreadForgetTicket", catch_unwind)]
pub fn eval_thread_forget_ticket(ticket: f64) -> Result<()> {
    ffi::eval_thread_forget_ticket(ticket_arg(ticket)?).map_err(|e| mlx_err(e.what()))
}

fn ticket_arg(ticket: f64) -> Result<u64> {
    if !(ticket >= 1.0 && ticket.fract() == 0.0 && ticket <= 9_007_199_254_740_991.0) {
        return Err(arg_err(format!("evalThread: a ticket is a positive integer, got {ticket}")));
    }
    Ok(ticket as u64)
}

/// Waits until the evaluation thread has finished what was queued; raises a pending error.
#[napi(js_name = "evalThreadDrain", catch_unwind)]
pub fn eval_thread_drain() -> Result<()> {
    ffi::eval_thread_drain().map_err(|e| mlx_err(e.what()))
}

/// For benchmarks: what the evaluation thread did since the last call, as
/// [schedule tasks, ms in them, read tasks, ms in them, ms idle] (empty without the thread).
#[napi(js_name = "evalThreadStats", catch_unwind)]
pub fn eval_thread_stats() -> Float64Array {
    Float64Array::new(ffi::eval_thread_stats())
}
