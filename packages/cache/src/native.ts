/** This package's part of the native binary (crate mlxn-cache). */
import { native } from '@mlxn/core/internal';

/**
 * The capacity to grow to, or `null` when the buffer has room (mlxn-cache's step arithmetic;
 * `reserved`: where the cache is known to end, 0 for unknown).
 */
export function grownCapacity(capacity: number, offset: number, incoming: number, step: number, reserved = 0): number | null {
  const c = native.cacheGrownCapacity(capacity, offset, incoming, step, reserved);
  return c < 0 ? null : c;
}

export interface PromptCacheLayout {
  metadata: Record<string, string>;
  classes: string[];
  scalars: Record<string, 'scalar' | 'string' | 'none'>;
}

/** Validates mlx-lm's prompt-cache layout (metadata against tensor names) in Rust. */
export function promptCacheLayout(metadata: Record<string, string>, tensorNames: string[]): PromptCacheLayout {
  return JSON.parse(native.cachePromptCacheLayout(JSON.stringify(metadata), JSON.stringify(tensorNames))) as PromptCacheLayout;
}
