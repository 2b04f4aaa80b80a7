/**
 * Saving a checkpoint folder over an older set without ever breaking it: the new files are
 * written into a hidden staging folder inside the target, which is renamed `.new` once complete
 * (with a manifest of its files); only then are the files moved into place and the old set's
 * files that the new set does not have removed. A failed write deletes the staging folder (the
 * old set is untouched, and no orphan shard stays beside it); a process killed while moving is
 * finished by `recoverFolderSave` before the next load or save of the folder.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hiddenName, markInFlight, parseHiddenName, syncFolder, syncTree, writerRunning, writtenByThisProcess } from './folder-replace.js';

const STAGING = 'mlxn-save';
const MANIFEST = 'mlxn-save-manifest.json';
const MAX_MANIFEST_BYTES = 1 << 20;
const INDEX = 'model.safetensors.index.json';

/** The files a checkpoint folder save writes (and so the only ones it moves or removes). */
export function isCheckpointFileName(name: string): boolean {
  return name === 'model.safetensors' || name === INDEX || /^model-\d{5}-of-\d{5}\.safetensors$/.test(name);
}

/** Moves a complete staged set into `folder` and removes the old set's other files. */
function commitStaged(folder: string, ready: string, files: readonly string[]): void {
  // The index last: a reader never finds a new index naming shards that are not there yet.
  const order = [...files].sort((a, b) => Number(a === INDEX) - Number(b === INDEX));
  for (const f of order) {
    const from = join(ready, f);
    if (!existsSync(from)) continue; // moved before an interruption
    renameSync(from, join(folder, f));
  }
  const keep = new Set(files);
  // A stale index would shadow a new model.safetensors: it goes first.
  const stale = readdirSync(folder).filter((f) => isCheckpointFileName(f) && !keep.has(f));
  stale.sort((a, b) => Number(b === INDEX) - Number(a === INDEX));
  for (const f of stale) {
    unlinkSync(join(folder, f));
  }
  syncFolder(folder);
  // Renamed before it is emptied, so a half-deleted staging folder is never taken for a set.
  const trash = join(folder, hiddenName(STAGING, 'del'));
  renameSync(ready, trash);
  rmSync(trash, { recursive: true, force: true });
}

function readManifest(ready: string): string[] {
  const path = join(ready, MANIFEST);
  const st = lstatSync(path);
  if (!st.isFile() || st.size > MAX_MANIFEST_BYTES) throw new Error(`${path}: not a manifest file`);
  const files: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(files) || !files.every((f) => typeof f === 'string' && isCheckpointFileName(f))) {
    throw new Error(`${path}: not a list of checkpoint file names`);
  }
  return files as string[];
}

/**
 * Finishes a save of `folder` that was interrupted while moving its files into place, and
 * deletes staging folders of saves that never completed (their writer gone).
 */
export function recoverFolderSave(folder: string): void {
  let entries: string[];
  try {
    entries = readdirSync(folder);
  } catch {
    return;
  }
  for (const e of entries) {
    const h = parseHiddenName(e);
    if (h === null || h.name !== STAGING) continue;
    const path = join(folder, e);
    // This process saves synchronously, so a staging folder of its own is a leftover.
    if (!writtenByThisProcess(h) && writerRunning(h, path)) continue;
    if (h.kind === 'new') {
      let files: string[] | null = null;
      try {
        files = readManifest(path);
      } catch {
        files = null; // not ours after all, or damaged: never move anything out of it
      }
      if (files !== null) {
        commitStaged(folder, path, files);
        continue;
      }
    }
    if (h.kind === 'tmp' || h.kind === 'del') {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

/**
 * Saves through `write(staging)` (which writes the checkpoint files into an empty folder and
 * returns their names) and publishes them in `folder`. Returns the file names.
 */
export function saveFolderStaged(folder: string, write: (staging: string) => string[]): string[] {
  recoverFolderSave(folder);
  mkdirSync(folder, { recursive: true });
  const staging = join(folder, hiddenName(STAGING, 'tmp'));
  mkdirSync(staging);
  markInFlight(staging, true);
  let files: string[];
  let ready: string;
  try {
    files = write(staging);
    writeFileSync(join(staging, MANIFEST), JSON.stringify(files));
    syncTree(staging);
    ready = join(folder, hiddenName(STAGING, 'new'));
    renameSync(staging, ready);
    syncFolder(folder);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    // Errors name the hidden staging folder's files: name the folder the caller asked for.
    if (e instanceof Error) e.message = e.message.split(staging).join(folder);
    throw e;
  } finally {
    markInFlight(staging, false);
  }
  commitStaged(folder, ready, files);
  return files;
}
