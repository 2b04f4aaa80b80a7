//! The ops the Qwen3 native forward's layers are built from (`forward.rs` walks the layers).
//!
//! Each builds one piece of the graph the TypeScript modules build (a norm, a `Linear` with or
//! without LoRA or quantization, the SwiGLU, the rotary embedding, the embedding lookup, a cache
//! buffer's growing write) or runs a closure as a compiled block, so the layer functions read as
//! the network's structure while the details of MLX's calls, the weights' layouts and the
//! compile cache live here.
use std::cell::RefCell;
use std::collections::HashMap;

use mlxn_core::Array;
use mlxn_core::ffi::{self, BinaryOp, MlxArray, UnaryOp};

use crate::forward::{Ptr, ok};
use crate::forward_desc::{Desc, DescError, NormDesc, ProjDesc, ProjKind};
use crate::fused_kernels;

/// Weak-typed scalar arithmetic, as `@mlxn/core` does for a JS number next to an array.
fn times_scalar(a: &MlxArray, s: f64) -> Result<Ptr, DescError> {
    ok(ffi::binary_scalar(BinaryOp::Multiply, a, s, ffi::dtype(a), false))
}

pub(crate) fn rms(x: &MlxArray, n: &NormDesc) -> Result<Ptr, DescError> {
    // SAFETY: the weight is a live array for this call.
    ok(unsafe { ffi::fast_rms_norm(x, n.weight as *const MlxArray, n.eps as f32) })
}

fn linear_base(x: &MlxArray, p: &ProjDesc, rows_product: bool) -> Result<Ptr, DescError> {
    match p.kind {
        // Inside the compiled blocks a Linear's weight arrives transposed (`transposed_weights`),
        // or as it is for the few rows' kernel (`rows_product`: a decoding step on a GPU); a large
        // product on the CPU is split over CPU streams (mlxn-sys shim/linear.cc).
        ProjKind::Linear => {
            if rows_product
                && p.bias().is_none()
                && let Some(y) = fused_kernels::rows_product(x, p.weight(), false)?
            {
                return Ok(y);
            }
            let bias = p.bias().map_or(std::ptr::null(), |b| b as *const MlxArray);
            // SAFETY: bias is null or a live array for this call.
            ok(unsafe { ffi::linear_product(x, p.weight(), bias, !rows_product) })
        }
        ProjKind::Quantized => {
            // SAFETY: biases is null or a live array for this call.
            let y = ok(unsafe { ffi::quantized_matmul(x, &p.quantized_matrix()?, true) })?;
            match p.bias() {
                Some(b) => ok(ffi::binary(BinaryOp::Add, &y, b)),
                None => Ok(y),
            }
        }
    }
}

/// `Linear`, `QuantizedLinear`, or either wrapped by `LoRALinear` (dropout off).
pub(crate) fn linear(x: &MlxArray, p: &ProjDesc, rows_product: bool) -> Result<Ptr, DescError> {
    let y = linear_base(x, p, rows_product)?;
    let Some(lora) = &p.lora else { return Ok(y) };
    let xa = ok(ffi::binary(BinaryOp::Matmul, x, lora.a))?;
    let z = ok(ffi::binary(BinaryOp::Matmul, &xa, lora.b))?;
    let scaled = times_scalar(&z, lora.scale)?;
    let cast = ok(ffi::astype(&scaled, ffi::dtype(x)))?;
    ok(ffi::binary(BinaryOp::Add, &y, &cast))
}

/// `silu(gate) · x` as three element-wise ops (what `activations.ts` builds for small inputs;
/// its compiled form for large inputs gives the same values).
pub(crate) fn swiglu(gate: &MlxArray, x: &MlxArray) -> Result<Ptr, DescError> {
    let s = ok(ffi::unary(UnaryOp::Sigmoid, gate))?;
    let silu = ok(ffi::binary(BinaryOp::Multiply, gate, &s))?;
    ok(ffi::binary(BinaryOp::Multiply, &silu, x))
}

pub(crate) fn rope(x: &MlxArray, d: &Desc, offset: &MlxArray) -> Result<Ptr, DescError> {
    let r = &d.rope;
    let settings =
        ffi::RopeSettings { dims: r.dims, traditional: r.traditional, base: r.base as f32, has_base: true, scale: r.scale as f32 };
    // SAFETY: no explicit frequencies (YaRN stays on the TypeScript path).
    ok(unsafe { ffi::fast_rope(x, &settings, offset, std::ptr::null()) })
}

/// Appends `update` at position `prev` of a buffer that grows in whole steps (KVCache semantics),
/// or to exactly its `reserved` end when that is near.
pub(crate) fn write_growing(buffer: Option<&MlxArray>, update: &MlxArray, prev: i32, reserved: i32) -> Result<Ptr, DescError> {
    let shape = ffi::shape(update);
    let (b, h, l, dh) = (shape[0], shape[1], shape[2], shape[3]);
    let capacity = buffer.map(|a| ffi::shape(a)[2]).unwrap_or(0);
    let grown = mlxn_cache::grown_capacity(capacity as u64, prev as u64, l as u64, STEP, reserved as u64);
    let mut owned: Option<Ptr> = None;
    if let Some(g) = grown {
        let zero = ok(ffi::scalar(0.0, ffi::dtype(update)))?;
        let fresh = ok(ffi::full(&[b, h, g as i32 - prev, dh], &zero, ffi::dtype(update), true))?;
        let mut list = ffi::list_new();
        match buffer {
            None => owned = Some(fresh),
            Some(buf) => {
                if prev < capacity {
                    let head = ok(ffi::slice(buf, &[0, 0, 0, 0], &[b, h, prev, dh], &[1, 1, 1, 1]))?;
                    ffi::list_push(list.pin_mut(), &head);
                } else {
                    ffi::list_push(list.pin_mut(), buf);
                }
                ffi::list_push(list.pin_mut(), &fresh);
                owned = Some(ok(ffi::concatenate(&list, 2, false))?);
            }
        }
    }
    let target: &MlxArray = match &owned {
        Some(p) => p,
        None => buffer.expect("a buffer exists when it does not grow"),
    };
    ok(ffi::slice_update(target, update, &[0, 0, prev, 0], &[b, h, prev + l, dh], &[1, 1, 1, 1]))
}

/// Growth step of the caches, in tokens (mlx-lm's `KVCache.step`).
const STEP: u64 = 256;

pub(crate) fn seq_prefix(buf: &MlxArray, len: i32) -> Result<Ptr, DescError> {
    let s = ffi::shape(buf);
    ok(ffi::slice(buf, &[0, 0, 0, 0], &[s[0], s[1], len, s[3]], &[1, 1, 1, 1]))
}

thread_local! {
    // Compile-cache ids by block signature: layers of the same structure share one entry.
    static BLOCK_IDS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

fn block_id(signature: String) -> usize {
    BLOCK_IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        let next = mlxn_core::array::NATIVE_COMPILE_IDS + ids.len();
        *ids.entry(signature).or_insert(next)
    })
}

/// Runs `f` over `inputs` as a compiled block, keyed by `signature` (what `f` bakes in).
pub(crate) fn compiled<F>(signature: String, inputs: &[&MlxArray], mut f: F) -> Result<Vec<Ptr>, DescError>
where
    F: FnMut(&mut dyn Iterator<Item = &MlxArray>) -> Result<Vec<Ptr>, DescError>,
{
    // The split of CPU products (`linear_product`) is decided when a block is traced.
    let signature = format!("{signature} cpu-matmul-threads {}", ffi::cpu_matmul_threads());
    let outs = mlxn_core::array::compile_call(
        block_id(signature),
        |args: &[Array]| {
            let mut it = args.iter().map(|a| a.raw());
            let outs = f(&mut it).map_err(|e| mlxn_core::MlxError(e.0))?;
            Ok(outs.into_iter().map(Array::from_ptr).collect())
        },
        inputs,
    )
    .map_err(|e| DescError(e.0))?;
    Ok(outs.into_iter().map(|a| ffi::clone_array(a.raw())).collect())
}

/// `f` over `inputs` as a compiled block (`compiled`) when `compile`, else as the separate ops.
pub(crate) fn maybe_compiled<F>(compile: bool, signature: String, inputs: &[&MlxArray], mut f: F) -> Result<Vec<Ptr>, DescError>
where
    F: FnMut(&mut dyn Iterator<Item = &MlxArray>) -> Result<Vec<Ptr>, DescError>,
{
    if compile {
        return compiled(signature, inputs, f);
    }
    f(&mut inputs.iter().copied())
}

/// `Wᵀ` of each `Linear` projection (None for quantized ones, whose matmul transposes itself,
/// and with `rows_product`, whose kernel reads W), as leaves sharing the weights' buffers when
/// the weights are evaluated.
pub(crate) fn transposed_weights(projs: &[&ProjDesc], rows_product: bool) -> Result<Vec<Option<Ptr>>, DescError> {
    projs
        .iter()
        .map(|p| match p.kind {
            ProjKind::Linear if !rows_product => ok(ffi::transposed_leaf(p.weight())).map(Some),
            _ => Ok(None),
        })
        .collect()
}

pub(crate) fn block_inputs<'x>(projs: &[&ProjDesc<'x>], wts: &'x [Option<Ptr>], out: &mut Vec<&'x MlxArray>) {
    for (p, wt) in projs.iter().zip(wts) {
        p.arrays(wt.as_deref(), out);
    }
}

/// A plain `Linear` (no bias, no LoRA): what the fused products' kernels take.
pub(crate) fn plain_linear(p: &ProjDesc) -> bool {
    p.kind == ProjKind::Linear && p.bias().is_none() && p.lora.is_none()
}

pub(crate) fn embed(tokens: &MlxArray, e: &ProjDesc) -> Result<Ptr, DescError> {
    match e.kind {
        ProjKind::Linear => ok(ffi::take(e.weight(), tokens, 0, false)),
        ProjKind::Quantized => {
            let w = ok(ffi::take(e.weight(), tokens, 0, false))?;
            let s = ok(ffi::take(e.scales()?, tokens, 0, false))?;
            let b = match e.biases() {
                Some(b) => Some(ok(ffi::take(b, tokens, 0, false))?),
                None => None,
            };
            let bp: *const MlxArray = b.as_ref().map_or(std::ptr::null(), |p| &**p as *const MlxArray);
            let matrix = ffi::QuantizedMatrix { w: &w, scales: &s, biases: bp, group_size: e.group_size, bits: e.bits, mode: e.mode };
            // SAFETY: bp is null or points at `b`, alive for this call.
            ok(unsafe { ffi::dequantize(&matrix, 0, false) })
        }
    }
}
