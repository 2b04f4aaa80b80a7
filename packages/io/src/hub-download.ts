/**
 * Downloading a model from the Hugging Face hub into the local cache, in the layout
 * huggingface_hub writes (so mlx-lm and transformers find it too, and we find theirs):
 *
 *   models--<org>--<name>/blobs/<etag>              the bytes, named by their sha256 or git blob id
 *   models--<org>--<name>/blobs/<etag>.incomplete   a partial download, resumed from where it stopped
 *   models--<org>--<name>/snapshots/<commit>/<file> a relative link to ../../blobs/<etag>
 *   models--<org>--<name>/refs/<revision>           the commit the branch or tag pointed at
 *
 * A kill at any instant leaves a cache that loads: a blob appears only complete and checked (its
 * sha256 or git blob id is verified, then it is renamed from `.incomplete`), links are replaced
 * by rename, a new snapshot folder is built beside its final name and renamed into place, and
 * the ref, which is what a name such as `main` resolves through, is written last. A partial
 * blob stays for the next try to resume. (huggingface_hub 1.x named and resumed partial files
 * the same way; 2.x writes `<etag>.<random>.incomplete` and resumes only within one call, so
 * neither resumes the other's partial file, and neither is disturbed by it.)
 */
import { createHash, type Hash, randomBytes } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statfsSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readTextFileSync } from './files.js';
import { hubCacheDir, hubTarget, resolveHubSnapshot } from './hub-cache.js';
import {
  DEFAULT_HUB_ENDPOINT,
  fetchRevisionCommit,
  getFileBody,
  HubHttpError,
  HubNetworkError,
  type HubRequest,
  headFile,
  listRepoTree,
} from './hub-http.js';
import { selectModelFiles } from './hub-model-files.js';
import { hubToken } from './hub-token.js';

/** A progress event of a download: bytes of the current file and of all files. */
export interface HubDownloadProgress {
  /** The file being downloaded (a name in the repository). */
  file: string;
  fileBytes: number;
  fileTotal: number;
  /** Bytes of all files to download so far (those already in the cache count as done). */
  bytes: number;
  total: number;
  /** Files finished, of `files`. */
  filesDone: number;
  files: number;
}

export interface HubDownloadOptions {
  /** A branch, tag or commit hash (default: the id's `@revision`, else `main`). */
  revision?: string;
  /** Access token for gated or private repositories (default: `HF_TOKEN`, then the token file of `huggingface-cli login`). */
  token?: string;
  /** The cache folder (default: `HF_HUB_CACHE`, `HF_HOME/hub`, ... as huggingface_hub picks it). */
  cacheDir?: string;
  /** The hub's address (default: `HF_ENDPOINT`, else the public hub). */
  endpoint?: string;
  /** The environment read for the settings above and `HF_HUB_OFFLINE` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Stops the download; what was received stays for the next try to resume. */
  signal?: AbortSignal;
  onProgress?: (event: HubDownloadProgress) => void;
  /** The largest single file accepted (default 1 TiB). */
  maxFileBytes?: number;
  /** The most files a repository listing may have (default 100000). */
  maxRepoFiles?: number;
  /**
   * Milliseconds an answer may keep us waiting (for its headers, or between two pieces of a
   * file) before the request is given up or, mid-file, resumed (default: `HF_HUB_DOWNLOAD_TIMEOUT`
   * seconds, else 10 s, as huggingface_hub).
   */
  timeoutMs?: number;
}

const COMMIT = /^[0-9a-f]{40}$/;
/** What huggingface_hub writes at the top of its cache, so backup tools skip the folder. */
const CACHEDIR_TAG =
  'Signature: 8a477f597d28d172789f06886806bc55\n' +
  '# This file is a cache directory tag created by huggingface_hub.\n' +
  '# For information about cache directory tags, see:\n' +
  '#\thttps://bford.info/cachedir/\n';
const DEFAULT_MAX_FILE_BYTES = 2 ** 40;
const DEFAULT_MAX_REPO_FILES = 100_000;
/** A dropped connection is retried this many times per file, each time from where it stopped. */
const RETRIES = 5;

/** huggingface_hub's reading of a boolean variable. */
export function isHubOffline(env: NodeJS.ProcessEnv = process.env): boolean {
  return /^(1|on|yes|true)$/i.test((env.HF_HUB_OFFLINE ?? '').trim());
}

function endpointOf(options: HubDownloadOptions, env: NodeJS.ProcessEnv): string {
  const text = options.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`the hub endpoint ${JSON.stringify(text)} (HF_ENDPOINT) is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the hub endpoint ${text} must be an http(s) URL`);
  return url.href.replace(/\/+$/, '');
}

function timeoutOf(options: HubDownloadOptions, env: NodeJS.ProcessEnv): number {
  const fromEnv =
    env.HF_HUB_DOWNLOAD_TIMEOUT === undefined || env.HF_HUB_DOWNLOAD_TIMEOUT === ''
      ? undefined
      : Number(env.HF_HUB_DOWNLOAD_TIMEOUT) * 1000;
  const ms = options.timeoutMs ?? fromEnv ?? 10_000;
  if (!Number.isFinite(ms) || ms <= 0)
    throw new Error(
      `the download timeout must be a positive number, got ${options.timeoutMs ?? env.HF_HUB_DOWNLOAD_TIMEOUT} (timeoutMs or HF_HUB_DOWNLOAD_TIMEOUT in seconds)`,
    );
  return ms;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The download was aborted', 'AbortError');
}

/** The blob's expected digest check: sha256 for LFS ids, git's blob sha1 for 40-digit ids. */
function newDigest(etag: string, size: number): Hash {
  if (etag.length === 64) return createHash('sha256');
  const h = createHash('sha1');
  h.update(`blob ${size}\0`);
  return h;
}

async function hashFileInto(hash: Hash, file: string, signal: AbortSignal | undefined): Promise<void> {
  for await (const chunk of createReadStream(file, { signal })) hash.update(chunk as Buffer);
}

/**
 * The name of a file about to be renamed into place: the process id (so a later run can tell
 * whether its maker is gone) and a random part (two downloads in one process do not collide).
 */
function temporarySuffix(): string {
  return `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Writes `text` to `file` so that a reader sees the old or the new contents, never a mix. */
function replaceFile(file: string, text: string): void {
  const tmp = `${file}${temporarySuffix()}`;
  writeFileSync(tmp, text, { flush: true });
  renameSync(tmp, file);
}

/** Points `link` at `target` (relative), replacing whatever is there in one rename. */
function replaceLink(link: string, target: string): void {
  try {
    if (lstatSync(link).isSymbolicLink() && readlinkSync(link) === target) return;
  } catch {
    // absent: made below
  }
  const tmp = `${link}${temporarySuffix()}`;
  rmSync(tmp, { force: true });
  symlinkSync(target, tmp);
  renameSync(tmp, link);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What a killed download left half made, whose process is gone: snapshot folders being built
 * (`.mlxn-partial-<commit>-<pid>-<random>`) and files or links about to be renamed into place
 * (`<name>.tmp-<pid>-<random>`), which `hf cache scan` would otherwise list as refs or files.
 */
function removeStaleTemporaries(dir: string, depth = 0, prefix = ''): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.name.startsWith(prefix)) continue;
    const m = /^\.mlxn-partial-[0-9a-f]{40}-(\d+)-[0-9a-f]+$/.exec(entry.name) ?? /\.tmp-(\d+)-[0-9a-f]+$/.exec(entry.name);
    if (m && Number(m[1]) !== process.pid && !isAlive(Number(m[1]))) rmSync(join(dir, entry.name), { recursive: true, force: true });
    else if (entry.isDirectory() && depth > 0) removeStaleTemporaries(join(dir, entry.name), depth - 1);
  }
}

/**
 * Runs `fn` holding the download lock of one blob, so two downloads of the same file (two
 * processes, or two calls in one) never write the same partial file: the second waits, then
 * finds the blob made. The lock is a file hard-linked into place (so it exists only whole) in
 * huggingface_hub's lock folder (`.locks/models--org--name/<etag>.mlxn-lock`), holding the
 * holder's process id; one whose process is gone is taken over. (huggingface_hub's own locks are flock()s, which Node cannot
 * take: a Python download of the same blob at the same moment is not excluded.)
 */
async function withBlobLock<T>(lockDir: string, etag: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  mkdirSync(lockDir, { recursive: true });
  const lock = join(lockDir, `${etag}.mlxn-lock`);
  const token = `${process.pid} ${randomBytes(8).toString('hex')}`;
  for (;;) {
    if (signal?.aborted) throw abortReason(signal);
    // Written beside it, then linked into place: the lock never exists without its holder's id.
    const tmp = `${lock}${temporarySuffix()}`;
    writeFileSync(tmp, token);
    try {
      linkSync(tmp, lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      rmSync(tmp, { force: true });
    }
    let holder: string;
    try {
      holder = readTextFileSync(lock, { maxBytes: 256, what: 'download lock files' });
    } catch {
      continue; // released meanwhile
    }
    const pid = Number(holder.split(' ')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) {
      rmSync(lock, { force: true });
      continue;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    return await fn();
  } finally {
    // Only our own lock: a holder taken for dead and replaced must not lose its lock to us.
    try {
      if (readTextFileSync(lock, { maxBytes: 256, what: 'download lock files' }) === token) rmSync(lock, { force: true });
    } catch {
      // already gone
    }
  }
}

/** Lock files of downloads whose process is gone (killed while holding them). */
function removeStaleLocks(lockDir: string): void {
  if (!existsSync(lockDir)) return;
  for (const name of readdirSync(lockDir)) {
    if (!name.endsWith('.mlxn-lock')) continue;
    try {
      const pid = Number(readTextFileSync(join(lockDir, name), { maxBytes: 256, what: 'download lock files' }).split(' ')[0]);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid)) rmSync(join(lockDir, name), { force: true });
    } catch {
      // gone meanwhile
    }
  }
}

interface BlobJob {
  file: string;
  etag: string;
  size: number;
  location: string;
}

/**
 * Downloads one blob into `blobs/<etag>`, resuming `blobs/<etag>.incomplete`, verifying its
 * digest before it is renamed into place. A dropped connection is retried from where it stopped.
 */
async function downloadBlob(req: HubRequest, blobs: string, job: BlobJob, report: (fileBytes: number) => void): Promise<void> {
  const blob = join(blobs, job.etag);
  const partial = `${blob}.incomplete`;
  const what = `${job.file} (${job.etag.slice(0, 12)})`;
  // An empty file has no body to receive; its partial file still has to exist to be renamed.
  if (job.size === 0) writeFileSync(partial, '');
  for (let attempt = 0; ; attempt++) {
    let have = existsSync(partial) ? statSync(partial).size : 0;
    if (have > job.size) {
      truncateSync(partial, 0);
      have = 0;
    }
    const hash = newDigest(job.etag, job.size);
    try {
      if (have > 0) await hashFileInto(hash, partial, req.signal);
      report(have);
      if (have < job.size) {
        const { body, ranged } = await getFileBody(req, job.location, have, what);
        // The server ignored the range and sent the whole file: start the file and its digest again.
        const digest = ranged || have === 0 ? hash : newDigest(job.etag, job.size);
        if (!ranged) have = 0;
        const out = await open(partial, ranged ? 'a' : 'w');
        try {
          for await (const chunk of body) {
            if (have + chunk.byteLength > job.size) throw new Error(`${what}: the server sent more than the ${job.size} bytes announced`);
            await out.write(chunk);
            digest.update(chunk);
            have += chunk.byteLength;
            report(have);
          }
          await out.sync();
        } finally {
          await out.close();
        }
        if (have < job.size) throw new TruncatedBody(`${what}: the connection closed after ${have} of ${job.size} bytes`);
        finishBlob(digest, job, partial, blob, what);
      } else {
        finishBlob(hash, job, partial, blob, what);
      }
      return;
    } catch (e) {
      if (req.signal?.aborted) throw abortReason(req.signal);
      if (e instanceof HubHttpError || e instanceof DigestMismatch || attempt >= RETRIES || !isTransient(e)) throw e;
    }
  }
}

class TruncatedBody extends Error {}
class DigestMismatch extends Error {}

/** A network failure (worth resuming) rather than an answer or a check that would fail again. */
function isTransient(e: unknown): boolean {
  if (e instanceof TruncatedBody || e instanceof HubNetworkError) return true;
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  return (
    err?.name === 'TypeError' ||
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_)/.test(err?.code ?? err?.cause?.code ?? '') ||
    String((e as Error)?.message).includes('terminated')
  );
}

function finishBlob(digest: Hash, job: BlobJob, partial: string, blob: string, what: string): void {
  const got = digest.digest('hex');
  if (got !== job.etag) {
    rmSync(partial, { force: true });
    throw new DigestMismatch(`${what}: the bytes received do not match their id (got ${got}); the partial file was removed, try again`);
  }
  renameSync(partial, blob);
}

function blobIsComplete(blob: string, size: number): boolean {
  try {
    const st = statSync(blob);
    return st.isFile() && st.size === size;
  } catch {
    return false;
  }
}

function checkFreeSpace(dir: string, needed: number): void {
  let free: number;
  try {
    const st = statfsSync(dir);
    free = st.bavail * st.bsize;
  } catch {
    return; // not knowable here: let the writes tell
  }
  if (needed > free) {
    throw new Error(`not enough disk space in ${dir}: the download needs ${needed} more bytes, ${free} are free`);
  }
}

/**
 * Downloads the files a model needs (config, weights, tokenizer, chat template, generation
 * config) of `id` (`org/name` or `org/name@revision`) into the Hugging Face cache and returns the
 * snapshot folder. Files already there are not downloaded again. Throws with `HF_HUB_OFFLINE` set.
 */
export async function downloadHubSnapshot(id: string, options: HubDownloadOptions = {}): Promise<string> {
  const { parsed, revision } = hubTarget(id, options.revision);
  const env = options.env ?? process.env;
  const cache = options.cacheDir === undefined ? hubCacheDir(env) : resolve(options.cacheDir);
  if (isHubOffline(env)) {
    throw new Error(
      `${parsed.repo} (revision ${revision}) cannot be downloaded: HF_HUB_OFFLINE is set. Unset it to download into ${cache}.`,
    );
  }
  const { signal, onProgress } = options;
  if (signal?.aborted) throw abortReason(signal);
  const req: HubRequest = {
    endpoint: endpointOf(options, env),
    token: hubToken(options.token, env),
    signal,
    timeoutMs: timeoutOf(options, env),
  };
  const maxFileBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;

  const commit = COMMIT.test(revision) ? revision : await fetchRevisionCommit(req, parsed.repo, revision);
  const tree = await listRepoTree(req, parsed.repo, commit, options.maxRepoFiles ?? DEFAULT_MAX_REPO_FILES);
  const names = selectModelFiles(tree.map((f) => f.path));
  if (!names.includes('config.json'))
    throw new Error(`${parsed.repo}@${revision}: the repository has no config.json at its top level (not a model?)`);

  const repoDir = join(cache, `models--${parsed.repo.replace('/', '--')}`);
  const blobs = join(repoDir, 'blobs');
  const snapshots = join(repoDir, 'snapshots');
  mkdirSync(blobs, { recursive: true });
  mkdirSync(snapshots, { recursive: true });
  if (!existsSync(join(cache, 'CACHEDIR.TAG'))) replaceFile(join(cache, 'CACHEDIR.TAG'), CACHEDIR_TAG);
  removeStaleTemporaries(cache, 0, 'CACHEDIR.TAG.'); // the cache folder is shared: only our own
  removeStaleTemporaries(snapshots, 1);
  removeStaleTemporaries(join(repoDir, 'refs'), 4);
  const lockDir = join(cache, '.locks', `models--${parsed.repo.replace('/', '--')}`);
  removeStaleTemporaries(lockDir);
  removeStaleLocks(lockDir);

  const jobs: BlobJob[] = [];
  for (const file of names) {
    if (signal?.aborted) throw abortReason(signal);
    const meta = await headFile(req, parsed.repo, commit, file, maxFileBytes);
    jobs.push({ file, etag: meta.etag, size: meta.size, location: meta.location });
  }
  const total = jobs.reduce((s, j) => s + j.size, 0);
  const missing = jobs.filter((j) => !blobIsComplete(join(blobs, j.etag), j.size));
  checkFreeSpace(
    blobs,
    missing.reduce(
      (s, j) => s + j.size - (existsSync(join(blobs, `${j.etag}.incomplete`)) ? statSync(join(blobs, `${j.etag}.incomplete`)).size : 0),
      0,
    ),
  );

  // A partial file beside a complete blob (another tool finished the file) is of no more use.
  for (const job of jobs) {
    if (!missing.includes(job) && existsSync(join(blobs, `${job.etag}.incomplete`))) {
      await withBlobLock(lockDir, job.etag, signal, async () => rmSync(join(blobs, `${job.etag}.incomplete`), { force: true }));
    }
  }
  let doneBytes = total - missing.reduce((s, j) => s + j.size, 0);
  let filesDone = jobs.length - missing.length;
  for (const job of missing) {
    if (signal?.aborted) throw abortReason(signal);
    const before = doneBytes;
    const report = (fileBytes: number, finished = 0) =>
      onProgress?.({
        file: job.file,
        fileBytes,
        fileTotal: job.size,
        bytes: before + fileBytes,
        total,
        filesDone: filesDone + finished,
        files: jobs.length,
      });
    // Made meanwhile by another download, or by an earlier file with the same contents.
    await withBlobLock(lockDir, job.etag, signal, async () => {
      if (!blobIsComplete(join(blobs, job.etag), job.size)) await downloadBlob(req, blobs, job, report);
    });
    report(job.size, 1);
    doneBytes += job.size;
    filesDone++;
  }

  linkSnapshot(snapshots, commit, jobs);
  if (revision !== commit) {
    mkdirSync(join(repoDir, 'refs', ...revision.split('/').slice(0, -1)), { recursive: true });
    replaceFile(join(repoDir, 'refs', revision), commit); // as huggingface_hub: no newline
  }
  return join(snapshots, commit);
}

/**
 * Makes `snapshots/<commit>/<file>` link to `../../blobs/<etag>` for every file. A snapshot folder
 * that does not exist yet is built under a hidden name and renamed into place, so it never exists
 * half made; one that exists (another tool downloaded other files of it) gets links one by one.
 */
function linkSnapshot(snapshots: string, commit: string, jobs: BlobJob[]): void {
  const final = join(snapshots, commit);
  if (!existsSync(final)) {
    const partial = join(snapshots, `.mlxn-partial-${commit}-${process.pid}-${randomBytes(4).toString('hex')}`);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(partial);
    for (const j of jobs) symlinkSync(join('..', '..', 'blobs', j.etag), join(partial, j.file));
    try {
      renameSync(partial, final);
      return;
    } catch (e) {
      // Someone else made the folder meanwhile: fill it in below.
      rmSync(partial, { recursive: true, force: true });
      if (!existsSync(final)) throw e;
    }
  }
  for (const j of jobs) replaceLink(join(final, j.file), join('..', '..', 'blobs', j.etag));
}

/**
 * Whether a snapshot folder has what loading needs: config.json, and the weights (every shard
 * the index names, or at least one `.safetensors` file). A snapshot another tool filled with
 * other files of the repository (a README) is not enough.
 */
export function snapshotHasModel(snapshot: string): boolean {
  if (!existsSync(join(snapshot, 'config.json'))) return false;
  const index = join(snapshot, 'model.safetensors.index.json');
  if (existsSync(index)) {
    try {
      const map = (JSON.parse(readFileSyncBounded(index)) as { weight_map?: Record<string, unknown> }).weight_map ?? {};
      return Object.values(map).every((f) => typeof f === 'string' && existsSync(join(snapshot, f)));
    } catch {
      return true; // a broken index is for the loader to report, with its own message
    }
  }
  return readdirSync(snapshot).some((f) => f.endsWith('.safetensors') && existsSync(join(snapshot, f)));
}

function readFileSyncBounded(file: string): string {
  return readTextFileSync(file, { maxBytes: 64 * 2 ** 20, what: 'safetensors index files' });
}

/**
 * The snapshot folder of `id` in the Hugging Face cache, downloading it first when it is not
 * there (or lacks the model's files). With `HF_HUB_OFFLINE` set, a model not in the cache is an
 * error saying so.
 */
export async function ensureHubSnapshot(id: string, options: HubDownloadOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  let cached: string | undefined;
  let cacheError: Error | undefined;
  try {
    cached = resolveHubSnapshot(id, { revision: options.revision, cacheDir: options.cacheDir, env });
  } catch (e) {
    cacheError = e as Error;
  }
  if (cached !== undefined && snapshotHasModel(cached)) return cached;
  if (isHubOffline(env)) {
    if (cached !== undefined) return cached; // what there is; the loader says what is missing
    throw cacheError;
  }
  // A malformed id or revision is not worth a request.
  if (cacheError !== undefined && !/is not in the Hugging Face cache/.test(cacheError.message)) throw cacheError;
  return downloadHubSnapshot(id, options);
}
