/**
 * The Hugging Face hub's HTTP API: the four calls huggingface_hub's `snapshot_download` makes,
 * made the same way so both write the same cache. Everything the server sends is checked before
 * use: JSON bodies are bounded, commit hashes are 40 hex digits, ETags (which become blob file
 * names) are 40 or 64 hex digits, sizes are integers within a limit, and pagination or
 * redirects that would carry the token to another host are not followed.
 *
 * `@huggingface/hub` (npm) was considered: its `downloadFileToCacheDir` names the snapshot folder
 * after the last commit that touched each file (not the revision's commit, as Python does),
 * writes no ref, cannot resume a partial file and logs to the console, so the cache it writes is
 * not the one huggingface_hub writes. The calls themselves are four, so they are made here.
 */

/** The hub huggingface_hub talks to when `HF_ENDPOINT` is not set. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubRequest {
  /** `HF_ENDPOINT` or the default hub, without a trailing slash. */
  endpoint: string;
  token?: string;
  signal?: AbortSignal;
  /**
   * How long an answer may keep us waiting, in milliseconds: for the headers of any request,
   * and between two pieces of a file's body (huggingface_hub's HF_HUB_ETAG_TIMEOUT and
   * HF_HUB_DOWNLOAD_TIMEOUT, 10 s by default). A stalled connection is then retried.
   */
  timeoutMs: number;
}

/** An answer of the hub that is not a success (`status` is the HTTP status). */
export class HubHttpError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'HubHttpError';
    this.status = status;
  }
}

/** The hub could not be reached, or the connection broke (worth retrying, unlike an answer). */
export class HubNetworkError extends Error {
  constructor(message: string, cause: unknown) {
    super(message, { cause });
    this.name = 'HubNetworkError';
  }
}

/**
 * `fetch`, with a failure to connect or a broken connection named for what it is (fetch says
 * only "fetch failed"). An abort stays the signal's reason.
 */
async function hubFetch(req: HubRequest, url: string, init: RequestInit, what: string, signal?: AbortSignal): Promise<Response> {
  // Limits the wait for the headers only: the signal stays attached to the body, which a
  // download may take far longer to receive (idleLimited watches that).
  const headersLate = new AbortController();
  const timer = setTimeout(() => headersLate.abort(), req.timeoutMs);
  const signals = [signal ?? req.signal, headersLate.signal].filter((s): s is AbortSignal => s !== undefined);
  try {
    return await fetch(url, { ...init, signal: AbortSignal.any(signals) });
  } catch (e) {
    if (req.signal?.aborted) throw req.signal.reason ?? e;
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const detail = headersLate.signal.aborted
      ? `no answer within ${req.timeoutMs / 1000} s`
      : (cause?.code ?? cause?.message ?? (e as Error).message);
    throw new HubNetworkError(
      `${what}: cannot reach ${new URL(url).origin} (${detail}). Check the network (or HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use only the local cache.`,
      e,
    );
  } finally {
    clearTimeout(timer);
  }
}

const COMMIT = /^[0-9a-f]{40}$/;
// Git blob ids (sha1, regular files) and LFS/xet object ids (sha256).
const ETAG = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
/** repo_info and one page of a tree listing are kilobytes; a generous bound still stops a flood. */
const MAX_JSON_BYTES = 64 * 2 ** 20;
const MAX_TREE_PAGES = 10_000;
const MAX_REDIRECTS = 10;

function headers(req: HubRequest, extra: Record<string, string> = {}): Record<string, string> {
  return req.token ? { ...extra, authorization: `Bearer ${req.token}` } : extra;
}

/** The message for a failed answer, in the words huggingface_hub uses for the common cases. */
async function failure(res: Response, what: string, repo: string): Promise<HubHttpError> {
  const code = res.headers.get('x-error-code') ?? '';
  await res.body?.cancel().catch(() => {});
  if (res.status === 401 || res.status === 403 || code === 'GatedRepo') {
    return new HubHttpError(
      `${what}: the hub answered ${res.status}${code ? ` (${code})` : ''}: ${repo} is gated or private, or does not exist. ` +
        'If it is gated, accept its terms on the hub, then pass a token ({ token } or the HF_TOKEN environment variable).',
      res.status,
    );
  }
  if (res.status === 404) {
    const which = code === 'RevisionNotFound' ? 'that revision' : code === 'EntryNotFound' ? 'that file' : 'that repository or revision';
    return new HubHttpError(`${what}: the hub has no ${which} (404${code ? `, ${code}` : ''})`, 404);
  }
  return new HubHttpError(`${what}: the hub answered ${res.status} ${res.statusText}`.trim(), res.status);
}

/** The body as JSON, refusing more than `MAX_JSON_BYTES`. */
async function boundedJson(res: Response, what: string): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_JSON_BYTES) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`${what}: the answer is ${declared} bytes, more than the ${MAX_JSON_BYTES} accepted`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_JSON_BYTES) throw new Error(`${what}: the answer grew past the ${MAX_JSON_BYTES} bytes accepted`);
      chunks.push(chunk);
    }
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new Error(`${what}: the answer is not JSON (${(e as Error).message})`);
  }
}

function repoUrl(req: HubRequest, repo: string): string {
  const [org, name] = repo.split('/');
  return `${req.endpoint}/${encodeURIComponent(org)}/${encodeURIComponent(name)}`;
}

function apiUrl(req: HubRequest, repo: string): string {
  const [org, name] = repo.split('/');
  return `${req.endpoint}/api/models/${encodeURIComponent(org)}/${encodeURIComponent(name)}`;
}

/** The commit a branch or tag points at (`GET /api/models/<repo>/revision/<revision>`). */
export async function fetchRevisionCommit(req: HubRequest, repo: string, revision: string): Promise<string> {
  const what = `${repo}@${revision}`;
  const res = await hubFetch(req, `${apiUrl(req, repo)}/revision/${encodeURIComponent(revision)}`, { headers: headers(req) }, what);
  if (!res.ok) throw await failure(res, what, repo);
  const info = (await boundedJson(res, what)) as { sha?: unknown } | null;
  const sha = info !== null && typeof info === 'object' ? info.sha : undefined;
  if (typeof sha !== 'string' || !COMMIT.test(sha)) {
    throw new Error(`${what}: the hub's answer has no valid commit hash (sha: ${JSON.stringify(sha)?.slice(0, 60)})`);
  }
  return sha;
}

/** A file of a repository's tree listing. */
export interface HubTreeFile {
  path: string;
  size: number;
}

/** `rel="next"` of a Link header. */
function nextLink(link: string | null): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m && /\brel="?next"?/.test(m[2])) return m[1];
  }
  return undefined;
}

/** Every file of the repository at `commit` (`GET /api/models/<repo>/tree/<commit>?recursive=true`, paginated). */
export async function listRepoTree(req: HubRequest, repo: string, commit: string, maxFiles: number): Promise<HubTreeFile[]> {
  const what = `${repo}@${commit}: file list`;
  const origin = new URL(req.endpoint).origin;
  const files: HubTreeFile[] = [];
  let url: string | undefined = `${apiUrl(req, repo)}/tree/${commit}?recursive=true&expand=false`;
  for (let page = 0; url !== undefined; page++) {
    if (page >= MAX_TREE_PAGES) throw new Error(`${what}: more than ${MAX_TREE_PAGES} pages`);
    const res: Response = await hubFetch(req, url, { headers: headers(req) }, what);
    if (!res.ok) throw await failure(res, what, repo);
    const entries = await boundedJson(res, what);
    if (!Array.isArray(entries)) throw new Error(`${what}: expected a JSON array`);
    for (const e of entries as unknown[]) {
      if (e === null || typeof e !== 'object') throw new Error(`${what}: an entry is not an object`);
      const { type, path, size } = e as { type?: unknown; path?: unknown; size?: unknown };
      if (type !== 'file') continue;
      if (typeof path !== 'string' || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw new Error(`${what}: malformed entry ${JSON.stringify(e).slice(0, 200)}`);
      }
      files.push({ path, size });
      if (files.length > maxFiles) throw new Error(`${what}: more than ${maxFiles} files`);
    }
    const next = nextLink(res.headers.get('link'));
    // The cursor link must stay on the hub: the token goes with it.
    if (next !== undefined && new URL(next, url).origin !== origin)
      throw new Error(`${what}: the next page is on another host (${new URL(next, url).origin})`);
    url = next === undefined ? undefined : new URL(next, url).href;
  }
  return files;
}

/** What `HEAD /<repo>/resolve/<commit>/<file>` says about a file. */
export interface HubFileMetadata {
  /** The commit the hub resolved (`X-Repo-Commit`). */
  commit: string;
  /** The blob's name in the cache: the LFS sha256 or the git blob id. */
  etag: string;
  size: number;
  /** Where the bytes are: the resolve URL, or the storage URL it redirects to. */
  location: string;
}

/** huggingface_hub's `_normalize_etag`: `W/"x"` and `"x"` → `x`. */
function normalizeEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

/**
 * The file's metadata, as huggingface_hub's `get_hf_file_metadata` reads it: redirects on the
 * hub's own host are followed (a renamed repository), one to any other host (the storage the
 * bytes live on) is not: the metadata is on that redirect, and the token must not leave the hub.
 */
export async function headFile(req: HubRequest, repo: string, commit: string, path: string, maxBytes: number): Promise<HubFileMetadata> {
  const what = `${repo}@${commit.slice(0, 8)}: ${path}`;
  const origin = new URL(req.endpoint).origin;
  let url = `${repoUrl(req, repo)}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
  for (let hop = 0; ; hop++) {
    const res = await hubFetch(
      req,
      url,
      { method: 'HEAD', redirect: 'manual', headers: headers(req, { 'accept-encoding': 'identity' }) },
      what,
    );
    const location = res.headers.get('location');
    const redirect = res.status >= 300 && res.status < 400 && location !== null;
    if (!res.ok && !redirect) throw await failure(res, what, repo);
    const target = redirect ? new URL(location, url).href : url;
    if (redirect && new URL(target).origin === origin) {
      if (hop >= MAX_REDIRECTS) throw new Error(`${what}: more than ${MAX_REDIRECTS} redirects`);
      url = target;
      continue;
    }
    const sentCommit = res.headers.get('x-repo-commit');
    if (sentCommit === null || !COMMIT.test(sentCommit))
      throw new Error(`${what}: the hub sent no valid X-Repo-Commit (${JSON.stringify(sentCommit)})`);
    if (sentCommit !== commit) throw new Error(`${what}: the hub resolved commit ${sentCommit}, not the ${commit} asked for`);
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    if (etag === undefined || !ETAG.test(etag))
      throw new Error(`${what}: the hub sent no usable ETag (${JSON.stringify(etag)}); expected a sha1 or sha256 in hex`);
    const sizeText = res.headers.get('x-linked-size') ?? (redirect ? null : res.headers.get('content-length'));
    const size = sizeText !== null && /^\d{1,16}$/.test(sizeText) ? Number(sizeText) : Number.NaN;
    if (!Number.isSafeInteger(size)) throw new Error(`${what}: the hub sent no valid size (${JSON.stringify(sizeText)})`);
    if (size > maxBytes) throw new Error(`${what}: ${size} bytes is more than the ${maxBytes} allowed for one file (maxFileBytes)`);
    return { commit: sentCommit, etag, size, location: target };
  }
}

/** An open download: its body and whether the server honoured the range asked for. */
export interface HubBody {
  body: AsyncIterable<Uint8Array>;
  /** True when the body starts at the requested offset (206); false when it starts at 0 (200). */
  ranged: boolean;
}

/**
 * `GET` of a file's bytes from `start`. The token is sent only to the hub's own host; storage
 * URLs the hub redirects to are signed and must not see it.
 */
export async function getFileBody(req: HubRequest, url: string, start: number, what: string): Promise<HubBody> {
  const sameHost = new URL(url).origin === new URL(req.endpoint).origin;
  const extra: Record<string, string> = { 'accept-encoding': 'identity' };
  if (start > 0) extra.range = `bytes=${start}-`;
  // Aborted by the caller's signal, or by us when the body stalls.
  const stop = new AbortController();
  const onAbort = () => stop.abort(req.signal?.reason);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  const release = () => req.signal?.removeEventListener('abort', onAbort);
  let res: Response;
  try {
    res = await hubFetch(req, url, { headers: sameHost ? headers(req, extra) : extra }, what, stop.signal);
  } catch (e) {
    release();
    throw e;
  }
  if (!res.ok) {
    release();
    throw await failure(res, what, what);
  }
  if (res.body === null) {
    release();
    throw new Error(`${what}: the answer has no body`);
  }
  if (start > 0 && res.status === 206) {
    const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (range === null || Number(range[1]) !== start) {
      release();
      await res.body.cancel().catch(() => {});
      throw new Error(`${what}: asked for bytes from ${start}, got Content-Range ${JSON.stringify(res.headers.get('content-range'))}`);
    }
  }
  return { body: idleLimited(res.body as unknown as AsyncIterable<Uint8Array>, req, stop, release, what), ranged: res.status === 206 };
}

/** The body's pieces; when none arrives for `timeoutMs`, the request is aborted and a HubNetworkError thrown. */
async function* idleLimited(
  body: AsyncIterable<Uint8Array>,
  req: HubRequest,
  stop: AbortController,
  release: () => void,
  what: string,
): AsyncGenerator<Uint8Array> {
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      stop.abort();
    }, req.timeoutMs);
  };
  try {
    arm();
    for await (const chunk of body) {
      arm();
      yield chunk;
    }
  } catch (e) {
    if (stalled && !req.signal?.aborted) throw new HubNetworkError(`${what}: no data for ${req.timeoutMs / 1000} s`, e);
    throw e;
  } finally {
    clearTimeout(timer);
    release();
  }
}
