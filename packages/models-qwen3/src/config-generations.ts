/**
 * The two generations of config.json keys. transformers 5's `save_pretrained` nests
 * `rope_theta` and the scaling fields under `rope_parameters` (with `rope_type`), names Qwen3-MoE's
 * expert count `num_local_experts` and the weights' dtype `dtype`; earlier versions (and mlx-lm,
 * and most published checkpoints) write `rope_theta` + `rope_scaling`, `num_experts` and
 * `torch_dtype`. A file may hold both (a config edited by hand, or converted by a tool that adds
 * the new keys and keeps the old): that is accepted when they agree and an error when they do
 * not, since picking either silently would run a different model than the other reader would.
 */
import type { RopeScalingConfig } from '@mlxn/nn';

/** The rope and expert fields as the schema parsed them (either generation, or both). */
export interface GenerationKeys {
  rope_theta?: number;
  rope_scaling?: Record<string, unknown> | null;
  rope_parameters?: Record<string, unknown> | null;
  num_experts?: number;
  num_local_experts?: number;
  dtype?: string | null;
  torch_dtype?: string | null;
}

export interface ReconciledKeys {
  ropeTheta: number;
  ropeScaling: RopeScalingConfig | null;
  numExperts: number;
}

/** Qwen3's rope base when a config names none (transformers' Qwen3 default). */
const DEFAULT_ROPE_THETA = 1_000_000;

const ropeType = (o: Record<string, unknown>): unknown => o.rope_type ?? o.type ?? 'default';

/** The scaling part of a rope dict: everything but the base, with the type under one name. */
function scalingFields(o: Record<string, unknown>): Map<string, unknown> {
  const out = new Map<string, unknown>([['rope_type', ropeType(o)]]);
  for (const [k, v] of Object.entries(o)) if (k !== 'rope_theta' && k !== 'type' && k !== 'rope_type') out.set(k, v);
  return out;
}

/** Values from JSON compared by content (scaling fields may be lists, such as long_factor). */
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Resolves the rope base and scaling, the expert count and the dtype from either generation of keys. */
export function reconcileGenerations(c: GenerationKeys): ReconciledKeys {
  const params = c.rope_parameters ?? null;
  const nestedTheta = params?.rope_theta as number | undefined;
  if (c.rope_theta !== undefined && nestedTheta !== undefined && c.rope_theta !== nestedTheta) {
    throw new Error(`rope_theta (${c.rope_theta}) and rope_parameters.rope_theta (${nestedTheta}) disagree`);
  }
  const old = c.rope_scaling ?? null;
  if (old !== null && params !== null) {
    const a = scalingFields(old);
    const b = scalingFields(params);
    for (const k of new Set([...a.keys(), ...b.keys()])) {
      if (!same(a.get(k), b.get(k))) {
        throw new Error(`rope_scaling.${k} (${JSON.stringify(a.get(k))}) and rope_parameters.${k} (${JSON.stringify(b.get(k))}) disagree`);
      }
    }
  }
  let ropeScaling: RopeScalingConfig | null = old as RopeScalingConfig | null;
  if (ropeScaling === null && params !== null && ropeType(params) !== 'default') {
    // The base is not a scaling field: kept out so that saving writes it once, as rope_theta.
    const { rope_theta: _base, ...scaling } = params;
    ropeScaling = scaling as RopeScalingConfig;
  }
  if (c.num_experts !== undefined && c.num_local_experts !== undefined && c.num_experts !== c.num_local_experts) {
    throw new Error(`num_experts (${c.num_experts}) and num_local_experts (${c.num_local_experts}) disagree`);
  }
  const dtype = c.dtype ?? null;
  const torchDtype = c.torch_dtype ?? null;
  if (dtype !== null && torchDtype !== null && dtype !== torchDtype) {
    throw new Error(`dtype (${JSON.stringify(dtype)}) and torch_dtype (${JSON.stringify(torchDtype)}) disagree`);
  }
  return {
    ropeTheta: c.rope_theta ?? nestedTheta ?? DEFAULT_ROPE_THETA,
    ropeScaling,
    numExperts: c.num_experts ?? c.num_local_experts ?? 0,
  };
}

/**
 * Rewrites a config.json object in the first generation of keys, which transformers 4 and 5 and
 * mlx-lm all read (mlx-lm's qwen3_moe reads neither `rope_parameters` nor `num_local_experts`).
 */
export function toPortableKeys(out: Record<string, unknown>, r: ReconciledKeys & { moe: boolean }): void {
  delete out.rope_parameters;
  out.rope_theta = r.ropeTheta;
  if (r.ropeScaling !== null) out.rope_scaling = r.ropeScaling;
  else if (Object.hasOwn(out, 'rope_scaling')) out.rope_scaling = null;
  delete out.num_local_experts;
  if (r.moe) out.num_experts = r.numExperts;
  // `save` writes torch_dtype from the weights it writes; a stale `dtype` would contradict it.
  delete out.dtype;
}
