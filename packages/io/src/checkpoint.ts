// Checkpoints: safetensors files, Hugging Face sharded folders and GGUF. The header of every
// safetensors file is validated natively (sizes, offsets, overlaps, byte counts) before MLX's
// lazy reader opens it; arrays read their bytes when first evaluated.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type * as mx from '@mlxn/core';
import type { NativeArray } from '@mlxn/core/internal';
import { checkOptionKeys, handleOf, native, wrap } from '@mlxn/core/internal';
import { recoverFolder, removeStaleTempFiles } from './folder-replace.js';
import { recoverFolderSave, saveFolderStaged } from './folder-save.js';

/** Tensors selected by name: a list of names, a RegExp, or a predicate. */
export type TensorFilter = readonly string[] | RegExp | ((name: string) => boolean);

export interface LoadOptions {
  /** Load only the tensors whose names match (shards holding none are not opened). */
  filter?: TensorFilter;
}

const LOAD_OPTIONS: readonly string[] = ['filter'] satisfies (keyof LoadOptions)[];

export interface Checkpoint {
  /**
   * Lazy arrays by tensor name (bytes are read on first evaluation). A record without a
   * prototype: every name in the file, `__proto__` included, is an ordinary key.
   */
  arrays: Record<string, mx.Array>;
  /** String metadata (`__metadata__`; from the first shard of a sharded folder), without a prototype. */
  metadata: Record<string, string>;
}

export interface SaveOptions {
  /** String metadata stored in each file's `__metadata__`. */
  metadata?: Record<string, string>;
  /**
   * Folders only: the largest shard, in bytes or as `'5GB'`, `'500MB'` (decimal units, as
   * transformers counts them). Default `'5GB'`.
   */
  maxShardSize?: number | string;
}

const SAVE_OPTIONS: readonly string[] = ['metadata', 'maxShardSize'] satisfies (keyof SaveOptions)[];

/** One tensor of a safetensors header. `begin`/`end` are byte offsets in the file. */
export interface TensorInfo {
  name: string;
  dtype: mx.Dtype;
  shape: number[];
  begin: number;
  end: number;
}

const INDEX = 'model.safetensors.index.json';

function matcher(filter: TensorFilter | undefined): (name: string) => boolean {
  if (filter === undefined) return () => true;
  if (filter instanceof RegExp)
    return (n) => {
      filter.lastIndex = 0;
      return filter.test(n);
    };
  if (typeof filter === 'function') return filter;
  if (Array.isArray(filter)) {
    const set = new Set(filter);
    return (n) => set.has(n);
  }
  throw new TypeError('filter must be a list of names, a RegExp or a function');
}

// Names and metadata keys come from the file: both records have no prototype, so a tensor named
// `__proto__` (or `constructor`) is an ordinary entry and can never reach Object.prototype.
function toCheckpoint(loaded: { names: string[]; arrays: NativeArray[]; metadata: Record<string, string> }, into: Checkpoint) {
  loaded.names.forEach((n, i) => {
    into.arrays[n] = wrap(loaded.arrays[i]);
  });
  if (Object.keys(into.metadata).length === 0) for (const [k, v] of Object.entries(loaded.metadata)) into.metadata[k] = v;
}

/** An empty record without a prototype, for keys read from files. */
function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Validates and returns the header of a safetensors file without loading anything. */
export function inspectSafetensors(file: string): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const h = native.ioSafetensorsHeader(resolve(file));
  const metadata = record<string>();
  for (const [k, v] of Object.entries(h.metadata)) metadata[k] = v;
  return { tensors: h.tensors.map((t) => ({ ...t, dtype: t.dtype as mx.Dtype })), metadata };
}

/**
 * Loads a checkpoint lazily: a `.safetensors` file, a `.gguf` file (where the MLX build has
 * GGUF), or a folder (`model.safetensors.index.json` and its shards, else every
 * `*.safetensors` file in it).
 */
export function loadSync(path: string, options: LoadOptions = {}): Checkpoint {
  checkOptionKeys(options, LOAD_OPTIONS, 'load');
  const full = resolve(path);
  const out = loadInto(full, options.filter);
  // A list of names is a request for exactly those tensors.
  if (Array.isArray(options.filter)) {
    const missing = options.filter.filter((n) => !(n in out.arrays));
    if (missing.length > 0) {
      for (const a of Object.values(out.arrays)) a.dispose();
      throw new Error(`${full}: no tensor named ${missing.map((n) => `'${n}'`).join(', ')}`);
    }
  }
  return out;
}

function loadInto(full: string, filter: TensorFilter | undefined): Checkpoint {
  const match = matcher(filter);
  const out: Checkpoint = { arrays: record(), metadata: record() };
  // An interrupted save may have left the newest complete copy hidden beside or inside the folder.
  if (!existsSync(full) || statSync(full).isDirectory()) recoverFolder(full);
  if (existsSync(full) && statSync(full).isDirectory()) recoverFolderSave(full);
  if (!existsSync(full)) throw new Error(`${full}: no such file or folder`);
  if (statSync(full).isDirectory()) {
    const index = join(full, INDEX);
    if (existsSync(index)) {
      const { names, files } = native.ioReadIndex(index);
      const byFile = new Map<string, string[]>();
      names.forEach((n, i) => {
        if (!match(n)) return;
        const f = files[i];
        const wanted = byFile.get(f);
        if (wanted) wanted.push(n);
        else byFile.set(f, [n]);
      });
      for (const [file, wanted] of byFile) {
        if (!existsSync(file)) throw new Error(`${index}: shard ${file} (named by the index) does not exist`);
        toCheckpoint(native.ioLoadSafetensors(file, wanted), out);
      }
      return out;
    }
    const files = readdirSync(full)
      .filter((f) => f.endsWith('.safetensors'))
      .sort();
    if (files.length === 0) throw new Error(`${full}: no ${INDEX} and no .safetensors files`);
    for (const f of files) loadFileInto(join(full, f), match, filter, out);
    return out;
  }
  if (full.endsWith('.gguf')) {
    const loaded = native.ioLoadGguf(full);
    const keep = { names: [] as string[], arrays: [] as NativeArray[], metadata: loaded.metadata };
    loaded.names.forEach((n, i) => {
      if (match(n)) {
        keep.names.push(n);
        keep.arrays.push(loaded.arrays[i]);
      } else native.release(loaded.arrays[i]);
    });
    toCheckpoint(keep, out);
    return out;
  }
  // A save of this file killed before its rename left a temporary beside it (best effort: a
  // read-only folder keeps it).
  if (full.endsWith('.safetensors')) removeStaleTempFiles(full);
  loadFileInto(full, match, filter, out);
  return out;
}

function loadFileInto(file: string, match: (n: string) => boolean, filter: TensorFilter | undefined, out: Checkpoint) {
  let names: string[] | undefined;
  if (filter !== undefined) {
    names = native
      .ioSafetensorsHeader(file)
      .tensors.map((t) => t.name)
      .filter(match);
    if (names.length === 0) return;
  }
  toCheckpoint(native.ioLoadSafetensors(file, names), out);
}

/** `loadSync` as a promise. */
export async function load(path: string, options: LoadOptions = {}): Promise<Checkpoint> {
  return loadSync(path, options);
}

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** Parses `'5GB'`, `'500MB'`, `'2GiB'` or a number of bytes. */
export function parseSize(size: number | string): number {
  if (typeof size === 'number') {
    if (!(Number.isFinite(size) && size > 0)) throw new RangeError(`maxShardSize must be a positive number of bytes, got ${size}`);
    return Math.floor(size);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(size);
  const unit = m ? UNITS[(m[2] || 'B').toUpperCase()] : undefined;
  if (!m || unit === undefined || Number(m[1]) <= 0)
    throw new RangeError(`maxShardSize: cannot parse '${size}' (use bytes or e.g. '5GB', '500MB')`);
  return Math.floor(Number(m[1]) * unit);
}

function entries(arrays: Record<string, mx.Array> | Map<string, mx.Array>): [string[], NativeArray[]] {
  const list = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  return [list.map(([n]) => n), list.map(([n, a]) => handleOf(a, `array '${n}'`))];
}

/**
 * Evaluates `arrays` and writes them atomically (temporary file, fsync, rename). A path ending
 * in `.safetensors` is one file; any other path is a folder in the Hugging Face layout
 * (`model.safetensors`, or shards of at most `maxShardSize` plus `model.safetensors.index.json`).
 * Returns the files written.
 */
export function saveSync(path: string, arrays: Record<string, mx.Array> | Map<string, mx.Array>, options: SaveOptions = {}): string[] {
  checkOptionKeys(options, SAVE_OPTIONS, 'save');
  const [names, handles] = entries(arrays);
  const metadata = options.metadata ?? {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TypeError(`metadata '${k}' must be a string, got ${typeof v}`);
  }
  const full = resolve(path);
  if (full.endsWith('.safetensors')) {
    if (options.maxShardSize !== undefined) throw new TypeError('maxShardSize applies to folders, not to a .safetensors file');
    // A save killed before its rename left its temporary file here; nothing else ever removes it.
    removeStaleTempFiles(full);
    native.ioSaveSafetensors(full, names, handles, metadata);
    return [full];
  }
  const max = parseSize(options.maxShardSize ?? '5GB');
  // Written into a hidden staging folder first, so a failed save leaves the old set whole.
  return saveFolderStaged(full, (staging) => native.ioSaveSharded(staging, names, handles, metadata, max)).map((f) => join(full, f));
}

/** `saveSync` as a promise. */
export async function save(
  path: string,
  arrays: Record<string, mx.Array> | Map<string, mx.Array>,
  options: SaveOptions = {},
): Promise<string[]> {
  return saveSync(path, arrays, options);
}
