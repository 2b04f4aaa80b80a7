// Writing a small file (metrics, trainer state, a plot) so that a kill at any instant leaves a
// readable one. Model weights and checkpoint folders go through the native writer and
// folder-replace.ts; this is the same native writer for one file.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { native } from '@mlxn/core/internal';

/**
 * Replaces `path` with `data` (text as UTF-8) so that a kill at any instant leaves the old file
 * or the new one: a temporary file in the same folder, fsync, rename, then the folder synced.
 * The native writer does it (crates/mlxn-io/src/atomic.rs, which also writes checkpoint
 * indexes). A kill before the rename leaves only a hidden `.NAME.tmp-…` file beside `path`,
 * named with this process's mark as the folder replacement's names are; a failed write removes
 * it. Missing parent folders are made.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  native.ioWriteFileAtomic(
    path,
    typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength),
  );
}
