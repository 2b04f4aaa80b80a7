/**
 * Loading the model folder a command names: a missing or non-model folder is a usage error
 * (the user typed the path), anything that goes wrong while reading it is a runtime error.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadOptions, modelFolder } from '../load.js';
import { Qwen3 } from '../model.js';
import { installGenerationMethods } from '../methods.js';
import { UsageError } from './args.js';

// The package is marked free of side effects, so the bundler may drop a bare import of the
// module that adds `stream`/`chat` to Qwen3; installing them explicitly keeps them.
installGenerationMethods();

/**
 * Checks that `folder` looks like a model folder (config.json present). A Hugging Face model id
 * (`org/name[@revision]`) that is not a local path names its snapshot in the local cache.
 */
export function checkModelFolder(folder: string | undefined, what = 'model folder'): string {
  if (folder === undefined || folder === '') throw new UsageError(`missing the ${what}`);
  let dir: string;
  try {
    dir = modelFolder(folder, undefined);
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^Qwen3\.load: /, ''));
  }
  if (!existsSync(dir)) throw new UsageError(`${what} ${folder} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${what} ${folder} is not a folder`);
  if (!existsSync(join(dir, 'config.json'))) throw new UsageError(`${what} ${folder} has no config.json (not a model folder?)`);
  return dir;
}

/** Loads the model, showing progress on a terminal. */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<Qwen3> {
  const tty = Boolean(process.stderr.isTTY);
  const model = await Qwen3.load(dir, {
    ...options,
    onProgress: tty
      ? (p) => {
          if (p.phase === 'weights') process.stderr.write(`\rLoading ${dir}: layer ${p.done}/${p.total}`);
          if (p.phase === 'done') process.stderr.write('\r\x1b[2K');
        }
      : undefined,
  });
  return model;
}
