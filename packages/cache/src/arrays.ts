/** The caches' array handling: slices along the sequence axis, and who owns which handle. */
import * as mx from '@mlxn/core';

/** The ops a growing buffer uses along the sequence axis (axis 2 of `[B, heads, L, D]`). */
export function seqSlice(a: mx.Array, start: number, stop?: number): mx.Array {
  return a.index(mx.sl(), mx.sl(), mx.sl(start, stop));
}

/** A new handle on the same array, so callers may dispose what they get back. */
export function share(a: mx.Array): mx.Array {
  return mx.array(a);
}

/** Takes ownership of `next` (out of any tidy scope) and releases `prev` when it is replaced. */
export function own<T extends mx.Array | null>(prev: mx.Array | null, next: T): T {
  if (next !== null) mx.keep(next);
  if (prev !== null && prev !== next && !prev.disposed) prev.dispose();
  return next;
}

/** `own` for an array a caller handed in: the cache keeps its own handle, the caller keeps theirs. */
export function ownShared(prev: mx.Array | null, next: mx.Array | null): mx.Array | null {
  return own(prev, next === null ? null : share(next));
}

/** Bytes held by a cache's key and value buffers (`null`: not allocated yet). */
export function bufferBytes(keys: mx.Array | null, values: mx.Array | null): number {
  return (keys?.nbytes ?? 0) + (values?.nbytes ?? 0);
}
