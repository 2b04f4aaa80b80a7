//! The Qwen3 forward pass built in one native call (mlx-lm's `models/qwen3.py` semantics).
//!
//! Building a decode step's graph op by op from JavaScript costs several microseconds per op
//! (about 1,500 ops for Qwen3-0.6B), which on a GPU is longer than evaluating the step. Here the
//! same graph is built from Rust in one call: the TypeScript network (`model.ts`) describes its
//! parameters, settings and caches in a flat `Float64Array` ([`Desc`]), and this module computes
//! what the TypeScript layers compute, op for op, with fewer graph nodes (the parity tests hold
//! both paths to the same logits within 1e-5, and to mlx-lm's goldens). Anything the
//! description cannot express (a replaced submodule, MoE blocks, YaRN rope, rotating or
//! quantized caches) stays on the TypeScript path, which remains the definition of the network.
//!
//! Each decoder layer runs as two compiled blocks around the attention: the projections,
//! q/k norms and rotary embedding before it, and the output projection, residuals, norm and MLP
//! after it. Their shapes do not change from one decode step to the next (the cache's length
//! only enters the attention, which runs between them), so MLX traces each block once and
//! replays it in C++, fusing element-wise chains (on the CPU, where the fused kernels are
//! decompositions, that is most of the layer). All layers with the same structure share one
//! cache entry. Compiled kernels may round differently from the op-by-op graph (a few ulps), so
//! the parity tests hold this path to mlx-lm's goldens with the same tolerances as the
//! TypeScript path. Per step it also avoids the nodes MLX would add for nothing: the residual
//! stream stays 2-D (a matmul of a 3-D input adds a flatten and an unflatten), and evaluated
//! weights enter the blocks already transposed, as leaves sharing their buffers.
//!
//! The caches' buffer growth follows `mlxn_cache::grown_capacity`, as the TypeScript caches do;
//! the new buffers are returned so the caches can take them over.
//!
//! This module walks the layers; the ops they are built from (norms, projections, the rotary
//! embedding, the caches' writes, compiled blocks) are in `forward_ops.rs`.
use std::collections::VecDeque;

use cxx::UniquePtr;
use mlxn_core::ffi::{self, BinaryOp, MlxArray};

use crate::forward_desc::{CacheKind, Desc, DescError, LayerDesc, NormDesc, ProjDesc};
use crate::forward_ops::{
    block_inputs, compiled, embed, linear, maybe_compiled, plain_linear, rms, rope, seq_prefix, swiglu, transposed_weights, write_growing,
};
use crate::fused_kernels::{self, Plan, QkHeads, QkvSources};

pub type Ptr = UniquePtr<MlxArray>;

pub(crate) fn ok<T>(r: Result<T, cxx::Exception>) -> Result<T, DescError> {
    r.map_err(|e| DescError(e.what().to_string()))
}

/// What a forward returns: the final-normed hidden states and, per layer with a cache, the
/// buffers (and per-row offsets) the cache must take over.
pub struct ForwardOutput {
    pub hidden: Ptr,
    pub caches: Vec<CacheUpdate>,
}

pub struct CacheUpdate {
    pub keys: Ptr,
    pub values: Ptr,
}

/// Before the attention: `[q, k, v]` as `[B, heads, L, headDim]`, q and k normed and rotated.
///
/// The residual stream `h` is kept 2-D (`[B·L, hidden]`) between blocks: a matmul of a 3-D
/// input adds a flatten and an unflatten node around every projection (about 300 per step for
/// Qwen3-0.6B), which cost time both when the graph is built and when MLX evaluates it; the
/// products are the same. With the fused layout (fused_kernels.rs) the block receives the
/// layer's input already normed by the block before, and with the kernels norms and rotates q
/// and k in one. Folded (`plan.folded`), it receives the residual stream and the MLP output of
/// the layer before (`delta`; none before the first layer), adds and norms them itself (one
/// kernel with the q/k/v product and the q/k norms and rotations), and gives the sum first:
/// `[h + delta, q, k, v]`.
#[allow(
    clippy::too_many_arguments,
    reason = "the layer's inputs, its description, the step's position and shape, and the plan: separate borrows a struct would bundle for this one call"
)]
fn pre_attention(
    h: &MlxArray,
    delta: Option<&MlxArray>,
    d: &Desc,
    layer: &LayerDesc,
    offset: &MlxArray,
    b: i32,
    l: i32,
    plan: Plan,
) -> Result<Vec<Ptr>, DescError> {
    // One matmul for q, k and v when the model holds them fused (three fewer kernels to
    // encode per layer and step, the largest per-node cost on a GPU), else one each.
    let projs: Vec<&ProjDesc> = match &layer.qkv {
        Some(f) => vec![f],
        None => vec![&layer.q, &layer.k, &layer.v],
    };
    // The weights as stored where a kernel of ours takes them (the fallbacks' products too).
    let rp = plan.rows_product || (plan.folded && plan.kernels);
    let wts = transposed_weights(&projs, rp)?;
    let mut inputs = vec![h];
    inputs.extend(delta);
    // The input norm runs here unless the block before ran it (the fused layout, not folded).
    let own_norm = !plan.layout || plan.folded;
    if own_norm {
        inputs.push(layer.input_norm.weight);
    }
    inputs.extend([layer.q_norm.weight, layer.k_norm.weight, offset]);
    block_inputs(&projs, &wts, &mut inputs);
    let r = &d.rope;
    let proj_sig: Vec<String> = projs.iter().map(|p| p.signature()).collect();
    // b and l are baked into the reshapes, and h's shape [B·L, hidden] does not tell them apart.
    let signature = format!(
        "qwen3-pre {b}x{l} {} {} {} {} {} {} {} {} {} {} {} {} fused {} {} {} folded {} {}",
        layer.input_norm.signature(),
        layer.q_norm.signature(),
        layer.k_norm.signature(),
        proj_sig.join(" "),
        layer.qkv.is_some(),
        d.n_heads,
        d.n_kv_heads,
        d.head_dim,
        r.dims,
        r.traditional,
        r.base,
        r.scale,
        plan.layout,
        plan.kernels,
        rp,
        plan.folded,
        delta.is_some()
    );
    // A prompt's block (L > 1) on the CPU runs as the separate ops: compiled, it raised the peak
    // memory of a prefill by about a fifth (small-float32, 8 x 31 tokens: 28.5 → 24.2 MB over the
    // weights; 1 x 512: 34 → 27.6 MB; mlx-lm's uncompiled layers: 22.8) for no measurable speed.
    // Each compiled piece of it (the projections, the q/k norms, the rotary embedding) added about
    // 1 MB with MLX 0.32.4 (the same in Python MLX). Decoding steps (L = 1) and GPUs stay compiled:
    // with the fused kernels too, although MLX has no element-wise chain left to fuse then, since
    // each call of a custom kernel outside a compiled block copies its PTX into a new primitive
    // (a compiled block's replay shares the traced ones; on an H100 batch-1 decoding measured
    // 328 against 371 tok/s uncompiled, docs/benchmarks.md).
    let compile = l == 1 || ffi::default_device_type() != 0;
    maybe_compiled(compile, signature, &inputs, |it| {
        let h = it.next().unwrap();
        let delta = delta.map(|_| it.next().unwrap());
        let input_norm = own_norm.then(|| layer.input_norm.rebind(it));
        let (q_norm, k_norm, offset) = (layer.q_norm.rebind(it), layer.k_norm.rebind(it), it.next().unwrap());
        let heads = QkHeads { q_norm: &q_norm, k_norm: &k_norm, offset, desc: d };
        let projs: Vec<ProjDesc> = match &layer.qkv {
            Some(f) => vec![f.rebind(it)],
            None => vec![layer.q.rebind(it), layer.k.rebind(it), layer.v.rebind(it)],
        };
        // Folded: the sum and q, k, v from one kernel.
        if plan.folded
            && plan.kernels
            && let ([f], Some(n)) = (projs.as_slice(), &input_norm)
            && plain_linear(f)
            && let Some((sum, qkv)) = fused_kernels::norm_qkv_heads(h, delta, n, f.weight(), &heads)?
        {
            return Ok(delta.map(|_| sum).into_iter().chain(qkv).collect());
        }
        // Else the sum (folded, after the first layer) and the normed input, then q, k and v.
        let (sum, normed) = match (&input_norm, delta) {
            (Some(n), Some(dl)) => {
                let (sum, normed) = fused_kernels::add_norm(h, dl, n, plan.kernels)?;
                (Some(sum), Some(normed))
            }
            (Some(n), None) => (None, Some(rms(h, n)?)),
            (None, _) => (None, None),
        };
        let qkv = heads_after_input_norm(normed.as_deref().unwrap_or(h), &projs, &heads, b, l, plan, rp)?;
        Ok(sum.into_iter().chain(qkv).collect())
    })
}

/// q, k and v of the normed input `x` (pre_attention): the products, then q and k normed and
/// rotated, as `[B, heads, L, headDim]`.
fn heads_after_input_norm(
    x: &MlxArray,
    projs: &[ProjDesc],
    qk: &QkHeads,
    b: i32,
    l: i32,
    plan: Plan,
    rp: bool,
) -> Result<Vec<Ptr>, DescError> {
    let QkHeads { q_norm, k_norm, offset, desc: d } = *qk;
    let (hq, hk, dh) = (d.n_heads, d.n_kv_heads, d.head_dim);
    // Heads as [B, L, heads, headDim], made [B, heads, L, headDim] by a transpose (`to_bhld`).
    // With one position (a decoding step) the rows' memory already is the second layout, so
    // a reshape gives it and `to_bhld` has nothing to do: a step's graph keeps three
    // transposes per layer fewer (q, k, v), nodes that the evaluation encodes one by one
    // (what bounds a GPU's batch-1 step).
    let one = l == 1;
    let (head_axis, seq_axis) = if one { (1, 2) } else { (2, 1) };
    let heads = |t: &MlxArray, n: i32| ok(ffi::reshape(t, &if one { [b, n, 1, dh] } else { [b, l, n, dh] }));
    let to_bhld = |t: Ptr| match one {
        true => Ok(t),
        false => ok(ffi::transpose(&t, &[0, 2, 1, 3], false)),
    };
    // The products as 2-D rows ([B·L, width]): stacked q|k|v, or one each.
    let products: Vec<Ptr> = projs.iter().map(|p| linear(x, p, rp)).collect::<Result<_, _>>()?;
    if plan.kernels {
        let src = match products.as_slice() {
            [all] => QkvSources { q: all, q_col: 0, k: all, k_col: i64::from(hq * dh), v: all, v_col: i64::from((hq + hk) * dh) },
            [q, k, v] => QkvSources { q, q_col: 0, k, k_col: 0, v, v_col: 0 },
            _ => unreachable!("one stacked product or three"),
        };
        if let Some(qkv) = fused_kernels::qkv_heads(&src, qk, b, l)? {
            return Ok(Vec::from(qkv));
        }
    }
    let (q, k, v) = match products.as_slice() {
        [all] => {
            let all = heads(all, hq + 2 * hk)?;
            let part = |from: i32, to: i32| {
                let (mut start, mut stop) = ([0; 4], [b, 0, 0, dh]);
                (start[head_axis], stop[head_axis], stop[seq_axis]) = (from, to, l);
                ok(ffi::slice(&all, &start, &stop, &[1, 1, 1, 1]))
            };
            (part(0, hq)?, part(hq, hq + hk)?, part(hq + hk, hq + 2 * hk)?)
        }
        [q, k, v] => (heads(q, hq)?, heads(k, hk)?, heads(v, hk)?),
        _ => unreachable!("one stacked product or three"),
    };
    let v = to_bhld(v)?;
    let q = to_bhld(rms(&q, q_norm)?)?;
    let k = to_bhld(rms(&k, k_norm)?)?;
    Ok(vec![rope(&q, d, offset)?, rope(&k, d, offset)?, v])
}

/// After the attention: the output projection, both residuals, the norm and the MLP. With
/// `next_norm` (the fused layout) it also norms its output for what follows (the next layer's
/// input norm or the final norm): `[h, normed]`; with the kernels each residual add and the
/// norm after it run as one kernel. Folded (`plan.folded`) the post-attention norm and the
/// SwiGLU run inside the gate/up product's kernel, and without
/// `next_norm` the MLP output is left for the next layer's block to add: `[h, mlp]`.
fn post_attention(
    h: &MlxArray,
    attn: &MlxArray,
    layer: &LayerDesc,
    next_norm: Option<&NormDesc>,
    plan: Plan,
) -> Result<Vec<Ptr>, DescError> {
    let (kernels, rp) = (plan.kernels, plan.rows_product);
    // The MLP's weights as stored where a kernel of ours takes them (the fallbacks' products too).
    let rp_mlp = rp || (plan.folded && kernels);
    let mlp_projs: Vec<&ProjDesc> = match &layer.gate_up {
        Some(f) => vec![f, &layer.down],
        None => vec![&layer.gate, &layer.up, &layer.down],
    };
    let projs: Vec<&ProjDesc> = std::iter::once(&layer.o).chain(mlp_projs.iter().copied()).collect();
    let mut wts = transposed_weights(&projs[..1], rp)?;
    wts.extend(transposed_weights(&mlp_projs, rp_mlp)?);
    let mut inputs = vec![h, attn, layer.post_norm.weight];
    inputs.extend(next_norm.map(|n| n.weight));
    block_inputs(&projs, &wts, &mut inputs);
    let proj_sig: Vec<String> = projs.iter().map(|p| p.signature()).collect();
    let next_sig = next_norm.map_or_else(|| "none".to_string(), |n| n.signature());
    let signature = format!(
        "qwen3-post {} {} {} next {next_sig} kernels {kernels} {rp} folded {}",
        layer.post_norm.signature(),
        proj_sig.join(" "),
        layer.gate_up.is_some(),
        plan.folded
    );
    compiled(signature, &inputs, |it| {
        let (h, attn, post_norm) = (it.next().unwrap(), it.next().unwrap(), layer.post_norm.rebind(it));
        let next_norm = next_norm.map(|n| n.rebind(it));
        let o = layer.o.rebind(it);
        let (gate_up, gate_and_up) = match &layer.gate_up {
            Some(f) => (Some(f.rebind(it)), None),
            None => (None, Some((layer.gate.rebind(it), layer.up.rebind(it)))),
        };
        let down = layer.down.rebind(it);
        let o_out = linear(attn, &o, rp)?;
        // The residual, and the stacked [gate | up] product or the SwiGLU of two separate ones;
        // folded, the residual and the SwiGLU of the stacked product from one kernel.
        let folded = match &gate_up {
            Some(gu) if plan.folded && kernels && plain_linear(gu) => {
                fused_kernels::norm_product(h, Some(&o_out), &post_norm, gu.weight(), true)?
            }
            _ => None,
        };
        let (h1, stacked, separate_act) = match folded {
            Some((h1, act)) => (h1, None, Some(act)),
            None => {
                let (h1, x) = fused_kernels::add_norm(h, &o_out, &post_norm, kernels)?;
                match (&gate_up, &gate_and_up) {
                    (Some(f), _) => (h1, Some(linear(&x, f, rp_mlp)?), None),
                    (None, Some((g, u))) => (h1, None, Some(swiglu(&*linear(&x, g, rp_mlp)?, &*linear(&x, u, rp_mlp)?)?)),
                    (None, None) => unreachable!("a stacked gate/up projection or two"),
                }
            }
        };
        // The second residual: added and normed for what follows, added, or (folded) left to
        // the next layer's block.
        let finish = |h1: Ptr, mlp: Ptr| -> Result<Vec<Ptr>, DescError> {
            match &next_norm {
                Some(n) => {
                    let (h2, normed) = fused_kernels::add_norm(&h1, &mlp, n, kernels)?;
                    Ok(vec![h2, normed])
                }
                None if plan.folded => Ok(vec![h1, mlp]),
                None => Ok(vec![ok(ffi::binary(BinaryOp::Add, &h1, &mlp))?]),
            }
        };
        // The rows product reads [gate | up] and applies the SwiGLU itself (a plain Linear down).
        if rp_mlp
            && plain_linear(&down)
            && let Some(gu) = &stacked
            && let Some(y) = fused_kernels::rows_product(gu, down.weight(), true)?
        {
            return finish(h1, y);
        }
        let act = match (stacked, separate_act) {
            (_, Some(act)) => act,
            // Both halves read in place by the kernel, else by the element-wise block through
            // two slices.
            (Some(gu), None) => match kernels.then(|| fused_kernels::swiglu_halves(&gu)).transpose()?.flatten() {
                Some(act) => act,
                None => {
                    let s = ffi::shape(&gu);
                    let (rows, half) = (s[0], s[1] / 2);
                    let g = ok(ffi::slice(&gu, &[0, 0], &[rows, half], &[1, 1]))?;
                    swiglu(&g, &*ok(ffi::slice(&gu, &[0, half], &[rows, 2 * half], &[1, 1]))?)?
                }
            },
            (None, None) => unreachable!("a stacked gate/up product or two"),
        };
        finish(h1, linear(&act, &down, rp_mlp)?)
    })
}

/// The attention between the blocks, as rows `[B·L, heads·headDim]`: the cache update and the
/// fused attention (with `attention_kernel`, a decoding step runs fused_kernels.rs's kernel:
/// MLX's fused vector attention on CUDA takes no array mask, and without one it would take
/// views of the buffers and give heads to reshape).
fn attention(
    qkv: &[Ptr],
    d: &Desc,
    layer: &LayerDesc,
    mask: Mask<'_>,
    attention_kernel: bool,
) -> Result<(Ptr, Option<CacheUpdate>), DescError> {
    let (q, k, v) = (&qkv[0], &qkv[1], &qkv[2]);
    let s = ffi::shape(q);
    let (b, l) = (s[0], s[2]);
    // `k`/`v` hold the keys in their first `length` positions (the kernel reads the buffers in
    // place; `prefix` makes the views MLX's attention takes). The result is rows from the kernel,
    // else heads `[B, heads, L, headDim]`.
    let sdpa = |k: &MlxArray, v: &MlxArray, length: i32, prefix: bool| -> Result<Attended, DescError> {
        if attention_kernel && l == 1 {
            // One query at the last position: a causal mask hides nothing.
            let kernel_mask = match mask {
                Mask::Array(m) => Some(Some(m)),
                Mask::None | Mask::Causal => (length <= fused_kernels::UNMASKED_ATTENTION_MAX_KEYS).then_some(None),
            };
            if let Some(m) = kernel_mask
                && let Some(rows) = fused_kernels::decode_attention(q, k, v, length, m, d.attn_scale)?
            {
                return Ok(Attended::Rows(rows));
            }
        }
        let views;
        let (k, v) = match prefix {
            true => {
                views = (seq_prefix(k, length)?, seq_prefix(v, length)?);
                (&*views.0, &*views.1)
            }
            false => (k, v),
        };
        let (mode, m) = match mask {
            Mask::None => ("", std::ptr::null()),
            Mask::Causal => ("causal", std::ptr::null()),
            Mask::Array(a) => ("array", a as *const MlxArray),
        };
        // SAFETY: the mask pointer is null or a live array for this call.
        ok(unsafe { ffi::fast_sdpa(q, k, v, d.attn_scale as f32, mode, m, std::ptr::null()) }).map(Attended::Heads)
    };
    let (out, cache) = match &layer.cache {
        None => (sdpa(k, v, ffi::shape(k)[2], false)?, None),
        Some(c) => {
            let keys = write_growing(c.keys, k, c.prev, c.reserved)?;
            let values = write_growing(c.values, v, c.prev, c.reserved)?;
            let out = sdpa(&keys, &values, c.prev + l, true)?;
            (out, Some(CacheUpdate { keys, values }))
        }
    };
    let out = match out {
        Attended::Rows(rows) => rows,
        Attended::Heads(heads) => {
            // Back to rows; with one position a reshape alone (see pre_attention).
            let back = match l {
                1 => None,
                _ => Some(ok(ffi::transpose(&heads, &[0, 2, 1, 3], false))?),
            };
            ok(ffi::reshape(back.as_deref().unwrap_or(&heads), &[b * l, d.n_heads * d.head_dim]))?
        }
    };
    Ok((out, cache))
}

/// What an attention gives: rows `[B·L, heads·headDim]`, or heads `[B, heads, L, headDim]`.
enum Attended {
    Rows(Ptr),
    Heads(Ptr),
}

fn int32() -> u8 {
    crate::forward_desc::dtype_code_int32()
}

#[derive(Clone, Copy)]
enum Mask<'a> {
    None,
    Causal,
    Array(&'a MlxArray),
}

/// Runs the whole trunk: embeddings, every decoder layer, the final norm.
pub fn forward(d: &Desc, tokens: &MlxArray) -> Result<ForwardOutput, DescError> {
    let mask = match d.mask {
        crate::forward_desc::MaskDesc::None => Mask::None,
        crate::forward_desc::MaskDesc::Causal => Mask::Causal,
        crate::forward_desc::MaskDesc::Array(a) => Mask::Array(a),
    };
    let ts = ffi::shape(tokens);
    let &[b, l] = ts.as_slice() else {
        return Err(DescError(format!("tokens must be [B, L], got shape {ts:?}")));
    };
    let embedded = embed(tokens, &d.embed)?;
    let hidden_size = *ffi::shape(&embedded).last().expect("an embedding row");
    let mut h = ok(ffi::reshape(&embedded, &[b * l, hidden_size]))?;
    let mut updates = Vec::with_capacity(d.layers.len());
    // Layers whose caches stand at the same offset share one offset array, as in model.ts.
    let mut shared: Option<(i32, Ptr)> = None;
    // In the fused layout each block after the attention also norms the next layer's input (or
    // applies the final norm): `normed` carries it from block to block. Folded, each block
    // before the attention adds and norms its input itself: `delta` carries the MLP output the
    // next one adds.
    let plan = fused_kernels::plan(d, &h, l);
    let mut normed: Option<Ptr> = match (plan.layout && !plan.folded, d.layers.first()) {
        (true, Some(first)) => Some(rms(&h, &first.input_norm)?),
        _ => None,
    };
    let mut delta: Option<Ptr> = None;
    let mut pacer = Pacer::new(d, &h);
    for (i, layer) in d.layers.iter().enumerate() {
        let prev = layer.cache.as_ref().map_or(0, |c| c.prev);
        let offset: &MlxArray = match &layer.cache {
            Some(c) if c.kind == CacheKind::Batch => c.row_offset()?,
            _ => {
                if shared.as_ref().map(|s| s.0) != Some(prev) {
                    shared = Some((prev, ok(ffi::scalar_int(prev as i64, int32()))?));
                }
                &shared.as_ref().expect("just set").1
            }
        };
        let mut qkv = pre_attention(normed.as_deref().unwrap_or(&h), delta.as_deref(), d, layer, offset, b, l, plan)?;
        if delta.is_some() {
            h = qkv.remove(0);
        }
        let (attn, update) = attention(&qkv, d, layer, mask, plan.attention_kernel)?;
        let last = i + 1 == d.layers.len();
        let next_norm = match plan.folded {
            // Folded, only the final norm follows a block after the attention.
            true => last.then_some(&d.norm),
            false => plan.layout.then(|| d.layers.get(i + 1).map_or(&d.norm, |next| &next.input_norm)),
        };
        let mut out = post_attention(&h, &attn, layer, next_norm, plan)?.into_iter();
        h = out.next().expect("the residual stream");
        match plan.folded && !last {
            true => delta = out.next(),
            false => normed = out.next(),
        }
        if let Some(p) = pacer.as_mut() {
            let state: Vec<&MlxArray> = [Some(&*h), normed.as_deref(), delta.as_deref()].into_iter().flatten().collect();
            p.layer_built(&state, update.as_ref())?;
        }
        updates.extend(update);
    }
    let last = match normed {
        Some(n) => n,
        None => rms(&h, &d.norm)?,
    };
    let hidden = ok(ffi::reshape(&last, &[b, l, hidden_size]))?;
    Ok(ForwardOutput { hidden, caches: updates })
}

/// Evaluates a cache-only forward (a prompt's prefill, `Desc::paced`) layer by layer as it is
/// built. Built whole and evaluated afterwards, a forward's graph is encoded far faster than the
/// device runs it, and MLX keeps each kernel's inputs alive until the batch of kernels it was
/// committed with completes: nearly every layer's activations (with MLX's unfused attention, a
/// 2,048-token prompt's score matrices) then coexist. Here each layer is scheduled as soon as it
/// is built, and building waits for the layer `IN_FLIGHT` before it to finish, so at most a few
/// layers' activations are alive while the device stays busy (the next layer is encoded while
/// the two before it run).
struct Pacer {
    in_flight: VecDeque<Ptr>,
}

/// Layers scheduled ahead of the one the builder waits for.
const IN_FLIGHT: usize = 2;

/// Rows (batch × tokens) from which a forward is paced: with fewer, a layer's activations are
/// small and the device runs a layer about as fast as the host builds one, so waiting would
/// idle it.
const PACED_MIN_ROWS: i32 = 1024;

impl Pacer {
    fn new(d: &Desc, hidden: &MlxArray) -> Option<Pacer> {
        // Never under autograd or compile, whose tracers cannot be evaluated.
        let rows = ffi::shape(hidden).first().copied().unwrap_or(0);
        (d.paced && rows >= PACED_MIN_ROWS && !ffi::is_tracer(hidden)).then(|| Pacer { in_flight: VecDeque::with_capacity(IN_FLIGHT + 1) })
    }

    /// Schedules a built layer's outputs (its residual stream and cache buffers) and waits
    /// for the layer `IN_FLIGHT` before it.
    fn layer_built(&mut self, state: &[&MlxArray], cache: Option<&CacheUpdate>) -> Result<(), DescError> {
        let mut list = ffi::list_new();
        for a in state.iter().copied().chain(cache.into_iter().flat_map(|c| [&*c.keys, &*c.values])) {
            ffi::list_push(list.pin_mut(), a);
        }
        ok(ffi::async_eval(&list))?;
        self.in_flight.push_back(ffi::clone_array(state[0]));
        if self.in_flight.len() > IN_FLIGHT {
            let done = self.in_flight.pop_front().expect("a layer in flight");
            ok(ffi::wait(&done))?;
        }
        Ok(())
    }
}
