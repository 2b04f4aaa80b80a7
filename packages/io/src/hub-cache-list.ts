/**
 * What the local Hugging Face cache holds: each model repository with its snapshots, the refs
 * (branches, tags) that point at them and the bytes they take, as `hf cache scan` reports them.
 * Only reads; entries that are not in the cache's layout (another tool's files) are skipped.
 */
import { existsSync, lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readTextFileSync } from './files.js';
import { hubCacheDir } from './hub-cache.js';

export interface CachedHubRevision {
  commit: string;
  /** Branches and tags whose ref file names this commit. */
  refs: string[];
  /** The files of the snapshot. */
  files: number;
  /** Bytes of the blobs the snapshot links to. */
  bytes: number;
}

export interface CachedHubRepo {
  /** `org/name`. */
  repo: string;
  /** Bytes of all blobs of the repository (shared blobs counted once), partial downloads included. */
  bytes: number;
  revisions: CachedHubRevision[];
}

const COMMIT = /^[0-9a-f]{40}$/;

/** The ref files under `refs/` (names may have folders: `refs/pr/1`), as `name → commit`. */
function readRefs(refsDir: string): Map<string, string> {
  const refs = new Map<string, string>();
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      if (st.isDirectory()) walk(path, `${prefix}${name}/`);
      else if (st.isFile() && st.size <= 256) {
        const commit = readTextFileSync(path, { maxBytes: 256, what: 'Hugging Face cache ref files' }).trim();
        if (COMMIT.test(commit)) refs.set(`${prefix}${name}`, commit);
      }
    }
  };
  if (existsSync(refsDir)) walk(refsDir, '');
  return refs;
}

/** Every file under `dir` (following no links), for sizes. */
function filesUnder(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = lstatSync(path);
    if (st.isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

/** The model repositories in the cache (default: the cache huggingface_hub uses), sorted by name. */
export function listHubCache(cacheDir?: string, env: NodeJS.ProcessEnv = process.env): CachedHubRepo[] {
  const cache = cacheDir === undefined ? hubCacheDir(env) : resolve(cacheDir);
  if (!existsSync(cache)) return [];
  const repos: CachedHubRepo[] = [];
  for (const entry of readdirSync(cache).sort()) {
    const m = /^models--([^-].*?)--(.+)$/.exec(entry);
    const repoDir = join(cache, entry);
    if (!m || !statSync(repoDir).isDirectory()) continue;
    const blobsDir = join(repoDir, 'blobs');
    const blobSizes = new Map<string, number>();
    if (existsSync(blobsDir)) for (const f of filesUnder(blobsDir)) blobSizes.set(f, lstatSync(f).size);
    const refs = readRefs(join(repoDir, 'refs'));
    const revisions: CachedHubRevision[] = [];
    const snapshotsDir = join(repoDir, 'snapshots');
    for (const commit of existsSync(snapshotsDir) ? readdirSync(snapshotsDir).sort() : []) {
      if (!COMMIT.test(commit)) continue;
      const seen = new Set<string>();
      let bytes = 0;
      const files = filesUnder(join(snapshotsDir, commit));
      for (const f of files) {
        const st = lstatSync(f);
        // A link into blobs/ counts the blob once; a plain file (a cache made without links) counts itself.
        const target = st.isSymbolicLink() ? resolve(join(f, '..'), readlinkSync(f)) : f;
        if (seen.has(target)) continue;
        seen.add(target);
        bytes += st.isSymbolicLink() ? (blobSizes.get(target) ?? 0) : st.size;
      }
      revisions.push({
        commit,
        refs: [...refs]
          .filter(([, c]) => c === commit)
          .map(([r]) => r)
          .sort(),
        files: files.length,
        bytes,
      });
    }
    const bytes = [...blobSizes.values()].reduce((a, b) => a + b, 0);
    repos.push({ repo: `${m[1]}/${m[2]}`, bytes, revisions });
  }
  return repos;
}
