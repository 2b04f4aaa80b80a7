/**
 * `model.save(folder)`: config.json (Hugging Face keys), safetensors weights (sharded with an
 * index past `maxShardSize`) and the side files of the source folder (@mlxn/io's
 * `MODEL_SIDE_FILES`: tokenizer files, chat templates, generation config), written into a
 * hidden sibling folder and swapped into place (crash-safe: see `saveQwen3`), so a failed save
 * leaves the target as it was.
 * Experts of a float MoE are written per expert (`mlp.experts.E.*`), the layout transformers
 * reads and mlx-lm stacks on load; a quantized model keeps them stacked (mlx-lm's layout).
 */
import { copyFileSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as mx from '@mlxn/core';
import { checkOptionKeys } from '@mlxn/core/internal';
import { MODEL_SIDE_FILES, saveSync } from '@mlxn/io';
import { beginFolderReplace, type FolderReplace } from '@mlxn/io/internal';
import { quantizationToJson } from './config.js';
import { toPortableKeys } from './config-generations.js';
import type { Qwen3 } from './model.js';

export interface SaveOptions {
  /** Largest weight shard, in bytes or as `'5GB'` / `'500MB'` (default `'5GB'`). */
  maxShardSize?: number | string;
}

/**
 * The config.json to write: the one read, with what the model now is, in the keys every reader
 * knows (a transformers 5 config is written back in the older keys; see config-generations.ts).
 */
function configJson(model: Qwen3): Record<string, unknown> {
  const c = model.config;
  const out: Record<string, unknown> = { ...c.raw };
  delete out.quantization;
  delete out.quantization_config;
  if (c.quantization) {
    const q = quantizationToJson(c.quantization);
    // mlx-lm writes both keys; it reads either.
    out.quantization = q;
    out.quantization_config = q;
  }
  toPortableKeys(out, { ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling, numExperts: c.numExperts, moe: c.modelType === 'qwen3_moe' });
  out.model_type = c.modelType;
  out.tie_word_embeddings = c.tieWordEmbeddings;
  const floatDtype = model.model.norm.weight.dtype;
  if (mx.isFloating(floatDtype)) out.torch_dtype = floatDtype;
  return out;
}

/**
 * Checkpoint key → array; in a float model expert stacks are split per expert. A quantized
 * model keeps every stack (mlx-lm re-stacks only whole per-expert groups, and transformers
 * cannot read MLX-quantized weights anyway).
 */
function tensorsToWrite(model: Qwen3): Map<string, mx.Array> {
  const out = new Map<string, mx.Array>();
  const split = model.config.quantization === null;
  for (const [k, a] of model.namedParameters()) {
    const m = /^(model\.layers\.\d+\.mlp)\.switch_mlp\.(gate_proj|up_proj|down_proj)\.weight$/.exec(k);
    if (split && m && a.ndim === 3) {
      for (let e = 0; e < a.shape[0]; e++) out.set(`${m[1]}.experts.${e}.${m[2]}.weight`, a.index(e));
    } else out.set(k, a);
  }
  return out;
}

/**
 * Writes the model folder; returns the files written (paths inside `folder`). The new folder is
 * complete and synced before it takes the old one's place, and a process killed midway leaves
 * the old or the new folder (restored by the next load or save; see @mlxn/io's folder replace).
 */
export function saveQwen3(model: Qwen3, folder: string, options: SaveOptions = {}): string[] {
  if (typeof folder !== 'string' || folder.length === 0) throw new TypeError('Qwen3.save: folder must be a non-empty path');
  checkOptionKeys(options, ['maxShardSize'] satisfies (keyof SaveOptions)[], 'Qwen3.save');
  const target = resolve(folder);
  if (existsSync(target) && !statSync(target).isDirectory()) throw new Error(`Qwen3.save: ${target} exists and is not a folder`);
  let replace: FolderReplace;
  try {
    replace = beginFolderReplace(target);
  } catch (e) {
    throw new Error(`Qwen3.save: ${target}: ${(e as Error).message}`);
  }
  const temp = replace.temp;
  try {
    const tensors = tensorsToWrite(model);
    try {
      saveSync(temp, tensors, { maxShardSize: options.maxShardSize ?? '5GB', metadata: { format: 'mlx' } });
    } finally {
      // The per-expert slices are views made here; the model's own arrays stay.
      const own = new Set(model.namedParameters().map(([, a]) => a));
      for (const a of tensors.values()) if (!own.has(a)) a.dispose();
    }
    writeFileSync(join(temp, 'config.json'), `${JSON.stringify(configJson(model), null, 2)}\n`);
    const src = model.sourceFolder;
    // Saving over the source folder copies its side files from the current copy.
    if (src && src !== temp) {
      for (const f of MODEL_SIDE_FILES) if (existsSync(join(src, f))) copyRegularFile(join(src, f), join(temp, f));
    }
    replace.commit();
    return readdirSync(target)
      .sort()
      .map((f) => join(target, f));
  } catch (e) {
    replace.abort();
    throw new Error(`Qwen3.save: ${target}: ${(e as Error).message}`);
  }
}

/** Copies a side file; copying a FIFO would block forever, so anything but a regular file is an error. */
function copyRegularFile(from: string, to: string): void {
  if (!statSync(from).isFile()) throw new Error(`${from} is not a regular file`);
  copyFileSync(from, to);
}
