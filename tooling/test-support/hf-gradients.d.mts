/** transformers' parameter name → ours (`model.layers.0.mlp.experts.gate_proj` → `…mlp.switchMlp.gateProj.weight`). */
export declare function ourParameterName(hf: string): string;
/** The fixed direction the reference scripts project each gradient on: sin(0.37·i + 0.1). */
export declare function projectionPattern(n: number): Float64Array;
/** Our gradient of `hf` summarised as the golden files summarise theirs; throws when missing or of another shape. */
export declare function gradientSummary(
  grads: ReadonlyMap<string, { shape: readonly number[]; reshape(shape: number[]): { dataSync(): ArrayLike<number | bigint> } }>,
  hf: string,
  shape: readonly number[],
): {
  /** The values, row-major, in float64. */
  data: Float64Array;
  sqNorm: number;
  /** The projection on `projectionPattern`. */
  dot: number;
  /** The norm of `projectionPattern` of this length. */
  patternNorm: number;
};
