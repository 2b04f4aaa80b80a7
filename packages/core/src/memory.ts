/** MLX allocator statistics and limits (bytes). */
import { native } from './native.js';

export interface MemoryInfo {
  /** Bytes held by live arrays. */
  active: number;
  /** Highest `active` since start or the last `resetPeakMemory()`. */
  peak: number;
  /** Bytes kept in MLX's buffer cache for reuse. */
  cache: number;
}

export function memory(): MemoryInfo {
  return native.memory();
}
export function resetPeakMemory(): void {
  native.resetPeakMemory();
}
/** Returns MLX's cached buffers to the system. */
export function clearCache(): void {
  native.clearCache();
}
function bytes(n: number, what: string): number {
  if (!Number.isFinite(n) || n < 0) throw new TypeError(`${what}: expected a non-negative number of bytes, got ${n}`);
  return n;
}
/** Sets the memory limit MLX tries to stay under; returns the previous limit. */
export function setMemoryLimit(limit: number): number {
  return native.setMemoryLimit(bytes(limit, 'setMemoryLimit'));
}
/** Sets the buffer-cache limit; returns the previous limit. */
export function setCacheLimit(limit: number): number {
  return native.setCacheLimit(bytes(limit, 'setCacheLimit'));
}
/** Sets the wired-memory limit (Apple silicon); returns the previous limit. */
export function setWiredLimit(limit: number): number {
  return native.setWiredLimit(bytes(limit, 'setWiredLimit'));
}
