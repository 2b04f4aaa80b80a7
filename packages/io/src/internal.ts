/**
 * `@mlxn/io/internal`: for the sibling packages only (not a public API). Crash-safe folder
 * replacement shared by `Qwen3.save` and the trainers' checkpoints, and the atomic file writer.
 */

export type { FolderReplace, HiddenKind } from './folder-replace.js';
export {
  beginFolderReplace,
  hiddenName,
  isInFlight,
  markInFlight,
  parseHiddenName,
  recoverFolder,
  recoverFolders,
  removeFolder,
  syncFolder,
  syncTree,
} from './folder-replace.js';
export { isCheckpointFileName, recoverFolderSave } from './folder-save.js';
export { writeFileAtomic } from './write-atomic.js';
