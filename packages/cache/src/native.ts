/** This package's part of the native binary (crate mlxn-cache). */
import { native } from '@mlxn/core/internal';

export interface PromptCacheLayout {
  metadata: Record<string, string>;
  classes: string[];
  scalars: Record<string, 'scalar' | 'string' | 'none'>;
}

/** Validates mlx-lm's prompt-cache layout (metadata against tensor names) in Rust. */
export function promptCacheLayout(metadata: Record<string, string>, tensorNames: string[]): PromptCacheLayout {
  return native.cachePromptCacheLayout(metadata, tensorNames) as PromptCacheLayout;
}
