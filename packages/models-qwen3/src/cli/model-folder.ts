/**
 * Finding and loading the model a command names: a local folder, or a Hugging Face model id
 * (`org/name[@revision]`, with `--revision`) taken from the local cache or downloaded into it
 * with a progress bar. A missing or non-model folder is a usage error (the user typed the path),
 * anything that goes wrong while downloading or reading it is a runtime error.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { classifyModelSource, isHubOffline, isValidRevision } from '@mlxn/io';
import { type LoadOptions, resolveModelFolder } from '../load.js';
import { Qwen3 } from '../model.js';
import { type FlagSpec, UsageError } from './args.js';
import { downloadProgressBar } from './progress-bar.js';

/** The `--revision` flag of every command that takes a model. */
export const REVISION_FLAG: Record<string, FlagSpec> = {
  revision: { kind: 'string', value: 'REV', help: 'For a Hugging Face model id: the branch, tag or commit (default main).' },
};

/**
 * The folder of the model `source` names. A hub id not in the cache is downloaded into it
 * (progress on stderr); with `HF_HUB_OFFLINE` set, one that is missing is a usage error.
 */
export async function resolveModelArg(
  source: string | undefined,
  revision: string | undefined,
  what = 'model folder',
  signal?: AbortSignal,
): Promise<string> {
  if (source === undefined || source === '')
    throw new UsageError(`missing the ${what} (a folder or a Hugging Face model id such as Qwen/Qwen3-0.6B)`);
  if (revision !== undefined && !isValidRevision(revision))
    throw new UsageError(`--revision ${JSON.stringify(revision)} is not a branch, tag or commit hash`);
  const kind = classifyModelSource(source);
  if (kind.kind === 'folder' && revision !== undefined)
    throw new UsageError(`--revision applies to Hugging Face model ids, but ${source} is a local folder`);
  let dir: string;
  if (kind.kind === 'hub') {
    if (kind.id.revision !== undefined && revision !== undefined && kind.id.revision !== revision) {
      throw new UsageError(`${source}: --revision ${revision} given as well as @${kind.id.revision}`);
    }
    const bar = downloadProgressBar(kind.id.repo);
    try {
      dir = await resolveModelFolder(source, { revision, signal, onDownload: (e) => bar.update(e) });
    } catch (e) {
      const message = (e as Error).message.replace(/^Qwen3\.load: /, '');
      if (isHubOffline() && /is not in the Hugging Face cache/.test(message)) throw new UsageError(message);
      throw e instanceof Error && !signal?.aborted ? new Error(message) : e;
    } finally {
      bar.end();
    }
  } else {
    dir = kind.path;
  }
  if (!existsSync(dir)) throw new UsageError(`${what} ${source} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${what} ${source} is not a folder`);
  if (!existsSync(join(dir, 'config.json'))) throw new UsageError(`${what} ${source} has no config.json (not a model folder?)`);
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
