/**
 * The step arithmetic of the growing caches. It runs on every cache update, so it lives here
 * rather than behind a call into the addon; mlxn-cache's `grown_capacity` is the same rule for
 * the native forward, which grows the caches' buffers in Rust (both have the same tests).
 */

/** Tokens a growing cache adds at a time (mlx-lm's `step`). */
export const STEP = 256;

/**
 * The capacity a growing buffer needs to append `incoming` tokens at `offset`, or `null` when
 * the current `capacity` suffices. Growth is by whole `step`s beyond the used part, as mlx-lm's
 * `KVCache` does: the new capacity is `offset + ceil(incoming / step) * step`.
 *
 * `reserved` (0 for none) is where the cache is known to end, e.g. a prompt plus the most tokens
 * a generation may add. When that end lies between what is needed now and one step past it, the
 * buffer grows to exactly that end: the tail a whole step would leave unused is never allocated,
 * and the last growth (a copy of the whole buffer) is skipped. A farther end changes nothing, so
 * a large token budget that is never used allocates no more than plain growth does.
 */
export function grownCapacity(capacity: number, offset: number, incoming: number, step: number, reserved = 0): number | null {
  if (!(step > 0)) throw new RangeError(`grownCapacity: step must be positive, got ${step}`);
  const needed = offset + incoming;
  if (capacity > 0 && needed <= capacity) return null;
  if (reserved >= needed && reserved - needed <= step) return reserved;
  return offset + Math.ceil(incoming / step) * step;
}
