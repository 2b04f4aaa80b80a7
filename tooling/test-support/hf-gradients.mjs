// Gradients against the summaries the reference scripts write of transformers' (TRL's and the
// router loss's golden files): each gradient's squared norm and its projection on a fixed
// direction, with its values for the small ones.

/** transformers' parameter name → ours (`model.layers.0.mlp.experts.gate_proj` → `…mlp.switchMlp.gateProj.weight`). */
export function ourParameterName(hf) {
  const experts = hf.match(/^(.*)\.mlp\.experts\.(gate|up|down)_proj$/);
  const name = experts ? `${experts[1]}.mlp.switch_mlp.${experts[2]}_proj.weight` : hf;
  return name.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
}

/** The fixed direction the reference scripts project each gradient on: sin(0.37·i + 0.1). */
export function projectionPattern(n) {
  return Float64Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + 0.1));
}

/**
 * Our gradient of transformers' parameter `hf`, out of `grads` (our path → array), summarised as
 * the golden files summarise theirs. Throws when it is missing or its shape is not `shape`.
 */
export function gradientSummary(grads, hf, shape) {
  const ours = grads.get(ourParameterName(hf));
  if (ours === undefined) throw new Error(`${hf}: no gradient named ${ourParameterName(hf)}`);
  if (ours.shape.join() !== shape.join()) throw new Error(`${hf}: shape [${ours.shape.join(', ')}], expected [${shape.join(', ')}]`);
  const data = Float64Array.from(ours.reshape([-1]).dataSync(), Number);
  const p = projectionPattern(data.length);
  return {
    data,
    sqNorm: data.reduce((s, x) => s + x * x, 0),
    dot: data.reduce((s, x, i) => s + x * p[i], 0),
    patternNorm: Math.sqrt(p.reduce((s, x) => s + x * x, 0)),
  };
}
