/**
 * Gradient checkpointing by layer-wise recomputation, built on `mx.vjp` / `mx.valueAndGrad`
 * alone. Differentiating the whole network at once keeps every layer's intermediates (attention
 * scores, the MLP's wide activations, …) alive until the backward pass; here only each decoder
 * layer's input hidden state is kept. The backward pass then walks the layers in reverse and
 * recomputes one layer at a time inside `mx.vjp`, so at most one layer's intermediates exist.
 * The gradients are those of `valueAndGrad(model, …)` over the same loss (same tree, trainable
 * parameters only).
 */
import * as mx from '@mlxn/core';
import { type AttentionMask, attentionMask } from '@mlxn/cache';
import type { Module, ParamDict } from '@mlxn/nn';

/** A module with trainable parameters and a forward pass (what a part of the network is). */
interface Part {
  trainableParameters(): ParamDict;
  update(tree: Record<string, unknown>): unknown;
}

/** The structure checkpointing needs (`Qwen3` has it): embeddings, decoder layers, final norm, head. */
export interface CheckpointableModel extends Module {
  readonly model: {
    embedTokens: Part & { forward(ids: mx.Array): mx.Array };
    layers: readonly (Part & { forward(x: mx.Array, mask: AttentionMask): mx.Array })[];
    norm: Part & { forward(x: mx.Array): mx.Array };
  };
  lmHead?: Part;
  logitsFromHidden(h: mx.Array): mx.Array;
}

/** Whether `model` has the embeddings / layers / norm structure `checkpointedValueAndGrad` walks. */
export function isCheckpointable(model: unknown): model is CheckpointableModel {
  const inner = (model as { model?: { layers?: unknown; embedTokens?: unknown; norm?: unknown } } | null)?.model;
  return (
    inner !== undefined && inner !== null && Array.isArray(inner.layers) && inner.layers.length > 0 &&
    typeof (inner.embedTokens as Part | undefined)?.trainableParameters === 'function' &&
    typeof (inner.norm as Part | undefined)?.trainableParameters === 'function' &&
    typeof (model as CheckpointableModel).logitsFromHidden === 'function'
  );
}

export interface CheckpointOptions {
  /** Attention mask for every layer: `'causal'` (default), a boolean/additive array, or none. */
  mask?: 'causal' | mx.Array | null;
}

/** The loss of the head part: the final-normed hidden states `[B, L, hidden]` → loss, or `[loss, ...aux]`. */
export type HeadLoss<R> = (hidden: mx.Array) => R;

/**
 * `[value, grads]` as `valueAndGrad(model, () => headLoss(model.hidden(inputs, { mask })))()`
 * gives them, with only the decoder layers' inputs kept between the forward and backward passes.
 * `grads` has the structure of `model.trainableParameters()`; frozen parameters (LoRA's base
 * weights) get none. Random draws inside the layers (dropout) are replayed exactly when a layer
 * is recomputed.
 *
 * @example
 * const [loss, grads] = checkpointedValueAndGrad(model, (h) => myLoss(h), ids);
 */
export function checkpointedValueAndGrad<R extends mx.Array | mx.Array[]>(
  model: CheckpointableModel,
  headLoss: HeadLoss<R>,
  inputs: mx.Array,
  options: CheckpointOptions = {},
): [R, ParamDict] {
  if (!isCheckpointable(model)) throw new TypeError('checkpointedValueAndGrad: model must have model.embedTokens, model.layers and model.norm (a Qwen3)');
  if (typeof headLoss !== 'function') throw new TypeError('checkpointedValueAndGrad: headLoss must be a function of the hidden states');
  if (!(inputs instanceof mx.Array) || inputs.ndim !== 2 || !mx.isInteger(inputs.dtype)) {
    throw new TypeError(`checkpointedValueAndGrad: inputs must be integer token ids [B, L], got ${inputs instanceof mx.Array ? `${inputs.dtype} [${inputs.shape}]` : typeof inputs}`);
  }
  const inner = model.model;
  const layers = inner.layers;
  const mask: AttentionMask = options.mask !== undefined ? options.mask : attentionMask(inputs.shape[1], 0);
  const tied = model.lmHead === undefined;
  const grads = new Map<string, mx.Array>();
  const addGrads = (prefix: string, tree: ParamDict, g: mx.Array[]) => {
    mx.treeFlattenWithPaths(tree, prefix).forEach(([path], i) => {
      const prev = grads.get(path);
      if (prev === undefined) grads.set(path, g[i]);
      else {
        grads.set(path, mx.add(prev, g[i]));
        mx.eval(grads.get(path)!);
        prev.dispose();
        g[i].dispose();
      }
    });
  };

  // Forward: the layers' inputs only, evaluated and detached (no graph reaches back).
  const random = mx.random;
  // A key that exists now (not created from the clock on first draw) is one that can be replayed.
  random.getRandomState();
  const hidden: mx.Array[] = [mx.stopGradient(inner.embedTokens.forward(inputs))];
  mx.eval(hidden[0]);
  const keys: (mx.Array | null)[] = [];
  for (const layer of layers) {
    keys.push(random.saveRandomState());
    const x = hidden[hidden.length - 1];
    const y = mx.tidy(() => mx.stopGradient(layer.forward(x, mask)));
    mx.eval(y);
    hidden.push(y);
  }
  const keyAfter = random.saveRandomState();

  // Head: final norm, output head and the loss, differentiated w.r.t. its parameters and its input.
  const headParts: [string, Part][] = [['model.norm', inner.norm]];
  if (tied) headParts.push(['model.embedTokens', inner.embedTokens]);
  else headParts.push(['lmHead', model.lmHead!]);
  const headTrees = headParts.map(([, p]) => p.trainableParameters());
  const headLeaves = headTrees.flatMap((t) => mx.treeFlatten(t));
  const headFn = (h: mx.Array, leaves: mx.Array[]) => {
    let off = 0;
    headParts.forEach(([, p], k) => {
      const n = mx.treeFlatten(headTrees[k]).length;
      p.update(mx.treeUnflatten(headTrees[k], leaves.slice(off, off + n)));
      off += n;
    });
    return headLoss(inner.norm.forward(h));
  };
  const last = hidden[hidden.length - 1];
  const [value, cotangent, gLeaves] = mx.tidy((): [R, mx.Array, mx.Array[]] => {
    try {
      if (headLeaves.length > 0) {
        const [v, [gh, gl]] = mx.valueAndGrad(headFn, [0, 1])(last, headLeaves);
        mx.eval(v, gh, gl);
        return [v, gh, gl];
      }
      const [v, gh] = mx.valueAndGrad((h: mx.Array) => headLoss(inner.norm.forward(h)))(last);
      mx.eval(v, gh);
      return [v, gh, []];
    } finally {
      headParts.forEach(([, p], k) => p.update(headTrees[k]));
    }
  });
  let off = 0;
  headParts.forEach(([prefix], k) => {
    const n = mx.treeFlatten(headTrees[k]).length;
    if (n > 0) addGrads(prefix, headTrees[k], gLeaves.slice(off, off + n));
    off += n;
  });
  let grad = cotangent;

  // Backward: each layer recomputed inside vjp from its kept input, with the random key it drew from.
  try {
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i];
      const tree = layer.trainableParameters();
      const leaves = mx.treeFlatten(tree);
      random.restoreRandomState(keys[i]);
      // The tidy frees the handles of the recomputed intermediates (they would pin this layer's
      // activations until the caller's scope ends, which is what checkpointing avoids).
      const vjps = mx.tidy(() => {
        try {
          const [, v] = mx.vjp(
            (...xs: mx.Array[]) => {
              layer.update(mx.treeUnflatten(tree, xs.slice(0, leaves.length)));
              return layer.forward(xs[leaves.length], mask);
            },
            [...leaves, hidden[i]],
            [grad],
          );
          mx.eval(v);
          return v;
        } finally {
          layer.update(tree);
        }
      });
      grad.dispose();
      hidden[i + 1].dispose();
      grad = vjps[leaves.length];
      addGrads(`model.layers.${i}`, tree, vjps.slice(0, leaves.length));
    }
  } finally {
    random.restoreRandomState(keyAfter);
  }

  // The embedding table: gradient from the lookup (plus the head's share when tied).
  const embedTree = inner.embedTokens.trainableParameters();
  const embedLeaves = mx.treeFlatten(embedTree);
  if (embedLeaves.length > 0) {
    const vjps = mx.tidy(() => {
      try {
        const [, v] = mx.vjp(
          (...xs: mx.Array[]) => {
            inner.embedTokens.update(mx.treeUnflatten(embedTree, xs));
            return inner.embedTokens.forward(inputs);
          },
          embedLeaves,
          [grad],
        );
        mx.eval(v);
        return v;
      } finally {
        inner.embedTokens.update(embedTree);
      }
    });
    addGrads('model.embedTokens', embedTree, vjps);
  }
  grad.dispose();
  hidden[0].dispose();
  if (options.mask === undefined && mask instanceof mx.Array) mask.dispose();

  // The gradient tree in the order and structure of trainableParameters().
  const params = model.trainableParameters();
  const paths = mx.treeFlattenWithPaths(params);
  const missing = paths.filter(([p]) => !grads.has(p)).map(([p]) => p);
  if (missing.length > 0) {
    throw new Error(`checkpointedValueAndGrad: trainable parameters outside the embeddings, layers, norm and head: ${missing.slice(0, 5).join(', ')}`);
  }
  return [value, mx.treeUnflatten(params, paths.map(([p]) => grads.get(p)!)) as ParamDict];
}
