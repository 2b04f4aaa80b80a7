/**
 * Hugging Face hub ids (`Qwen/Qwen3-0.6B`, `Qwen/Qwen3-0.6B@<revision>`) resolved to a snapshot
 * folder of the local Hugging Face cache, in the layout `huggingface_hub` writes and mlx-lm and
 * transformers read: `<cache>/models--<org>--<name>/refs/<revision>` holds a commit hash, and
 * `snapshots/<commit>/` holds the files (links into `blobs/`). Only reading (hub-download.ts downloads): a model not in the
 * cache is an error naming where it was looked for.
 *
 * A string is a hub id only when it is not an existing path and has the id's exact shape
 * (`org/name`, optionally `@revision`), so a local folder keeps working whatever its name.
 * Ids, revisions and the ref file's contents are checked strictly before any of them becomes
 * part of a path: none can climb out of the cache folder.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { readTextFileSync } from './files.js';

export interface HubId {
  /** `org/name`. */
  repo: string;
  /** A branch, tag or commit hash; undefined when the id names none. */
  revision?: string;
}

// huggingface_hub's rule for repo ids: word characters, '-' and '.', neither first nor last,
// no '--' or '..' (the cache folder name joins the parts with '--'), at most 96 characters.
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;
const MAX_REPO_ID = 96;
// Git ref names: no '..', no empty or dot-led component, no leading '-'.
const REVISION = /^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
const MAX_REVISION = 255;
const COMMIT = /^[0-9a-f]{40}$/;

function validPart(p: string): boolean {
  return PART.test(p) && !p.includes('--') && !p.includes('..');
}

/** Whether `revision` is a name the cache can hold (a branch, tag, `refs/pr/N` or a commit hash). */
export function isValidRevision(revision: string): boolean {
  if (revision.length === 0 || revision.length > MAX_REVISION || !REVISION.test(revision)) return false;
  return revision.split('/').every((c) => c.length > 0 && !c.startsWith('.') && !c.endsWith('.lock')) && !revision.includes('..');
}

/** `org/name` or `org/name@revision` parsed, or undefined when `text` does not have that shape. */
export function parseHubId(text: string): HubId | undefined {
  if (typeof text !== 'string') return undefined;
  const at = text.indexOf('@');
  const repo = at < 0 ? text : text.slice(0, at);
  const revision = at < 0 ? undefined : text.slice(at + 1);
  const parts = repo.split('/');
  if (repo.length > MAX_REPO_ID || parts.length !== 2 || !parts.every(validPart)) return undefined;
  if (revision !== undefined && !isValidRevision(revision)) return undefined;
  return revision === undefined ? { repo } : { repo, revision };
}

/**
 * The cache folder, as huggingface_hub picks it: `HF_HUB_CACHE`, else `HF_HOME/hub`, else
 * `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HF_HOME) return resolve(env.HF_HOME, 'hub');
  if (env.XDG_CACHE_HOME) return resolve(env.XDG_CACHE_HOME, 'huggingface', 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

/** A ref file holds one commit hash; anything larger is not a ref. */
const REF_FILE_LIMITS = { maxBytes: 256, what: 'Hugging Face cache ref files' };

export interface ResolveHubOptions {
  /** Overrides the id's `@revision`; default `main`. */
  revision?: string;
  /** The cache folder (default: `hubCacheDir()`). */
  cacheDir?: string;
  /** The environment read for the cache folder and `HF_HUB_OFFLINE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/**
 * `id` parsed, with the revision to use: `revision` (an option) or the id's `@revision`, which
 * must not disagree, else `main`. Throws on a malformed id or revision.
 */
export function hubTarget(id: string, revision: string | undefined): { parsed: HubId; revision: string } {
  const parsed = parseHubId(id);
  if (parsed === undefined) throw new Error(`${JSON.stringify(id)} is not a Hugging Face model id (org/name, optionally @revision)`);
  if (revision !== undefined && parsed.revision !== undefined && revision !== parsed.revision) {
    throw new Error(`${id}: revision ${JSON.stringify(revision)} given as well as @${parsed.revision}`);
  }
  const chosen = revision ?? parsed.revision ?? 'main';
  if (!isValidRevision(chosen)) throw new Error(`${JSON.stringify(chosen)} is not a valid revision (a branch, tag or commit hash)`);
  return { parsed, revision: chosen };
}

/**
 * The snapshot folder of `id` (`org/name` or `org/name@revision`) in the local Hugging Face
 * cache. Throws when the id or revision is malformed, or when the cache has no complete
 * snapshot for it (the message names the folder it looked in).
 */
export function resolveHubSnapshot(id: string, options: ResolveHubOptions = {}): string {
  const { parsed, revision } = hubTarget(id, options.revision);
  const env = options.env ?? process.env;
  const cache = options.cacheDir === undefined ? hubCacheDir(env) : resolve(options.cacheDir);
  const repoDir = join(cache, `models--${parsed.repo.replace('/', '--')}`);
  const missing = (why: string): Error => {
    const offline = /^(1|true|yes|on)$/i.test((env.HF_HUB_OFFLINE ?? '').trim())
      ? ' HF_HUB_OFFLINE is set, so it is not downloaded: unset it, or set HF_HUB_CACHE / HF_HOME to the cache that holds it.'
      : '';
    return new Error(`${parsed.repo} (revision ${revision}) is not in the Hugging Face cache: ${why}.${offline}`);
  };
  if (!isDirectory(repoDir)) return throwError(missing(`no folder ${repoDir}`));
  let commit = revision;
  if (!COMMIT.test(revision)) {
    const refFile = join(repoDir, 'refs', revision);
    if (!existsSync(refFile)) return throwError(missing(`no ref file ${refFile}`));
    commit = readTextFileSync(refFile, REF_FILE_LIMITS).trim();
    if (!COMMIT.test(commit))
      throw new Error(`${refFile}: expected a 40-character commit hash, got ${JSON.stringify(commit.slice(0, 60))}`);
  }
  const snapshot = join(repoDir, 'snapshots', commit);
  if (!isDirectory(snapshot)) return throwError(missing(`no snapshot folder ${snapshot}`));
  return snapshot;
}

const throwError = (e: Error): never => {
  throw e;
};

function isDirectory(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * How a model argument is read: an existing path is a folder (whatever its name); otherwise a
 * string shaped like a hub id is one; anything else is a folder path (that does not exist).
 */
export function classifyModelSource(text: string): { kind: 'folder'; path: string } | { kind: 'hub'; id: HubId } {
  const path = resolve(text);
  if (existsSync(path)) return { kind: 'folder', path };
  const id = parseHubId(text);
  return id === undefined ? { kind: 'folder', path } : { kind: 'hub', id };
}
