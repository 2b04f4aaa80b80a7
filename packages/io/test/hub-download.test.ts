// Downloading into the Hugging Face cache from a mock of the hub on 127.0.0.1 (no network):
// the layout huggingface_hub writes, resume after a dropped connection, gated repositories,
// offline mode, aborts, and answers that must not be trusted.
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type MockHub, startHubMock } from '@mlxn/test-support/hub-mock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadHubSnapshot, ensureHubSnapshot, type HubDownloadProgress, listHubCache, selectModelFiles } from '../src/index.js';

const work = mkdtempSync(join(tmpdir(), 'mlxn-hub-download-'));
const MAIN = '1'.repeat(40);
const V1 = '2'.repeat(40);
const weights = randomBytes(300_000);
const files = {
  'config.json': '{"model_type":"qwen3"}',
  'generation_config.json': '{"eos_token_id":2}',
  'tokenizer.json': '{"model":{}}',
  'tokenizer_config.json': '{}',
  'chat_template.jinja': '{{ messages }}',
  'added_tokens.json': '',
  'model.safetensors': weights,
  'README.md': '# not needed',
  'adapters.safetensors': 'not the model',
  'onnx/model.onnx': 'not needed',
  '../../escape.json': 'never written',
};
const NEEDED = [
  'added_tokens.json',
  'chat_template.jinja',
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
];
let hub: MockHub;
let weightsOid: string;

beforeAll(async () => {
  hub = await startHubMock({
    repos: {
      'org/model': {
        refs: { main: MAIN, v1: V1 },
        commits: { [MAIN]: { files }, [V1]: { files: { 'config.json': '{"v":1}', 'model.safetensors': 'x' } } },
      },
      'org/gated': { token: 'hf_secret', refs: { main: MAIN }, commits: { [MAIN]: { files } } },
    },
    renamed: { 'old-org/model': 'org/model' },
  });
  weightsOid = hub.sha256(weights);
});
afterAll(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

let n = 0;
function freshCache(): { cache: string; env: NodeJS.ProcessEnv } {
  const cache = join(work, `cache-${n++}`);
  return { cache, env: { HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint, HOME: work } };
}
const storageRequests = (from: number) => hub.requests.slice(from).filter((r) => r.path.startsWith('/storage/'));

describe('downloadHubSnapshot', () => {
  it("writes huggingface_hub's layout: blobs named by id, relative snapshot links, the ref; only the model's files", async () => {
    const { cache, env } = freshCache();
    const events: HubDownloadProgress[] = [];
    const from = hub.requests.length;
    const snapshot = await downloadHubSnapshot('org/model', { env, onProgress: (e) => events.push(e) });
    const repoDir = join(cache, 'models--org--model');
    expect(snapshot).toBe(join(repoDir, 'snapshots', MAIN));
    expect(readdirSync(snapshot).sort()).toEqual(NEEDED);
    for (const name of NEEDED) {
      const link = join(snapshot, name);
      const content = Buffer.from(files[name as keyof typeof files]);
      const id = name.endsWith('.safetensors') ? hub.sha256(content) : hub.gitBlobId(content);
      expect(lstatSync(link).isSymbolicLink(), name).toBe(true);
      expect(readlinkSync(link)).toBe(`../../blobs/${id}`);
      expect(readFileSync(link).equals(content), name).toBe(true);
    }
    expect(readdirSync(join(repoDir, 'blobs')).length).toBe(NEEDED.length);
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(MAIN);
    expect(existsSync(join(work, 'escape.json'))).toBe(false);
    // Progress: bytes only grow and end at the total of the needed files.
    const total = NEEDED.reduce((s, f) => s + Buffer.byteLength(files[f as keyof typeof files]), 0);
    expect(events.at(-1)).toMatchObject({ bytes: total, total, filesDone: NEEDED.length, files: NEEDED.length });
    for (let i = 1; i < events.length; i++) expect(events[i].bytes).toBeGreaterThanOrEqual(events[i - 1].bytes);
    expect(events.some((e) => e.file === 'model.safetensors' && e.fileBytes > 0 && e.fileBytes < weights.length)).toBe(true);
    // The weights came from the storage host, with no token and no range.
    expect(storageRequests(from)).toEqual([{ method: 'GET', path: `/storage/${weightsOid}`, range: undefined, auth: undefined }]);

    // Again: nothing is downloaded; ensureHubSnapshot does not even ask the hub.
    const again = hub.requests.length;
    expect(await downloadHubSnapshot('org/model', { env })).toBe(snapshot);
    expect(storageRequests(again)).toEqual([]);
    const none = hub.requests.length;
    expect(await ensureHubSnapshot('org/model', { env })).toBe(snapshot);
    expect(hub.requests.length).toBe(none);

    // A tag writes its ref; a commit hash writes none.
    expect(await ensureHubSnapshot('org/model@v1', { env })).toBe(join(repoDir, 'snapshots', V1));
    expect(readFileSync(join(repoDir, 'refs', 'v1'), 'utf8')).toBe(V1);
    rmSync(join(repoDir, 'refs', 'v1'));
    expect(await downloadHubSnapshot('org/model', { env, revision: V1 })).toBe(join(repoDir, 'snapshots', V1));
    expect(existsSync(join(repoDir, 'refs', 'v1'))).toBe(false);

    expect(listHubCache(cache)).toEqual([
      {
        repo: 'org/model',
        bytes: total + 1 + Buffer.byteLength('{"v":1}'),
        revisions: [
          { commit: MAIN, refs: ['main'], files: NEEDED.length, bytes: total },
          { commit: V1, refs: [], files: 2, bytes: 1 + Buffer.byteLength('{"v":1}') },
        ],
      },
    ]);
  });

  it('resumes after a dropped connection, within one call and across calls', async () => {
    const { cache, env } = freshCache();
    // Dropped once: the retry asks for the rest only.
    hub.dropAfter(weightsOid, 100_000, 1);
    let from = hub.requests.length;
    const snapshot = await downloadHubSnapshot('org/model', { env });
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(weights)).toBe(true);
    expect(storageRequests(from).map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);

    // Dropped more often than it retries: the call fails, leaving the partial file and no snapshot.
    const other = freshCache();
    // (10000 bytes per try: the first and five retries.)
    hub.dropAfter(weightsOid, 10_000, 100);
    await expect(downloadHubSnapshot('org/model', { env: other.env })).rejects.toThrow(
      /connection closed after 60000 of 300000 bytes|terminated|other side closed/,
    );
    const repoDir = join(other.cache, 'models--org--model');
    expect(statSync(join(repoDir, 'blobs', `${weightsOid}.incomplete`)).size).toBe(60_000);
    expect(existsSync(join(repoDir, 'blobs', weightsOid))).toBe(false);
    expect(existsSync(join(repoDir, 'snapshots', MAIN))).toBe(false);
    expect(existsSync(join(repoDir, 'refs', 'main'))).toBe(false);
    // The next call picks up at byte 60000.
    hub.dropAfter(weightsOid, 0, 0);
    from = hub.requests.length;
    const resumed = await downloadHubSnapshot('org/model', { env: other.env });
    expect(storageRequests(from).map((r) => r.range)).toEqual(['bytes=60000-']);
    expect(readFileSync(join(resumed, 'model.safetensors')).equals(weights)).toBe(true);
    expect(readdirSync(join(repoDir, 'blobs')).some((f) => f.endsWith('.incomplete'))).toBe(false);
    expect(cache).not.toBe(other.cache);
  });

  it('a gated repository needs its token (option or HF_TOKEN), which never goes to the storage host', async () => {
    const { env } = freshCache();
    await expect(downloadHubSnapshot('org/gated', { env })).rejects.toThrow(
      /org\/gated@main: the hub answered 401 \(GatedRepo\): org\/gated is gated or private.*HF_TOKEN/,
    );
    await expect(downloadHubSnapshot('org/gated', { env, token: 'wrong' })).rejects.toThrow(/401 \(GatedRepo\)/);
    const from = hub.requests.length;
    const snapshot = await downloadHubSnapshot('org/gated', { env: { ...env, HF_TOKEN: 'hf_secret' } });
    expect(readFileSync(join(snapshot, 'config.json'), 'utf8')).toBe(files['config.json']);
    const sent = hub.requests.slice(from);
    expect(sent.filter((r) => !r.path.startsWith('/storage/')).every((r) => r.auth === 'Bearer hf_secret')).toBe(true);
    expect(storageRequests(from).map((r) => r.auth)).toEqual([undefined]);
    await expect(downloadHubSnapshot('org/gated', { env, token: 'bad\r\nx: y' })).rejects.toThrow(/characters a token cannot have/);
  });

  it('HF_HUB_OFFLINE: the cache is used, a missing model is a clear error, nothing is requested', async () => {
    const { cache, env } = freshCache();
    const offline = { ...env, HF_HUB_OFFLINE: '1' };
    const from = hub.requests.length;
    await expect(ensureHubSnapshot('org/model', { env: offline })).rejects.toThrow(
      `org/model (revision main) is not in the Hugging Face cache: no folder ${join(cache, 'models--org--model')}. HF_HUB_OFFLINE is set, so it is not downloaded`,
    );
    await expect(downloadHubSnapshot('org/model', { env: offline })).rejects.toThrow(/cannot be downloaded: HF_HUB_OFFLINE is set/);
    expect(hub.requests.length).toBe(from);
    const snapshot = await ensureHubSnapshot('org/model', { env });
    const after = hub.requests.length;
    expect(await ensureHubSnapshot('org/model', { env: offline })).toBe(snapshot);
    expect(hub.requests.length).toBe(after);
  });

  it('an abort stops the download at once and keeps what arrived for the next try', async () => {
    const { cache, env } = freshCache();
    hub.stallAfter(weightsOid, 10_000);
    const controller = new AbortController();
    const done = downloadHubSnapshot('org/model', {
      env,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.file === 'model.safetensors' && e.fileBytes >= 10_000) controller.abort(new Error('stop now'));
      },
    });
    await expect(done).rejects.toThrow('stop now');
    const partial = join(cache, 'models--org--model', 'blobs', `${weightsOid}.incomplete`);
    expect(statSync(partial).size).toBe(10_000);
    await expect(downloadHubSnapshot('org/model', { env, signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    const snapshot = await downloadHubSnapshot('org/model', { env });
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(weights)).toBe(true);
  });

  it('follows a renamed repository; fills in a snapshot another tool left without the weights', async () => {
    const { cache, env } = freshCache();
    const snapshot = await downloadHubSnapshot('old-org/model', { env });
    // Cached under the name asked for, as huggingface_hub does.
    expect(snapshot).toBe(join(cache, 'models--old-org--model', 'snapshots', MAIN));
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(weights)).toBe(true);
    rmSync(join(snapshot, 'model.safetensors'));
    const from = hub.requests.length;
    expect(await ensureHubSnapshot('old-org/model', { env })).toBe(snapshot);
    // The blob was still there: only the link was missing, nothing was downloaded again.
    expect(storageRequests(from)).toEqual([]);
    expect(readlinkSync(join(snapshot, 'model.safetensors'))).toBe(`../../blobs/${weightsOid}`);
  });

  it('a connection that stalls mid-file is given up after the timeout and resumed', async () => {
    const { env } = freshCache();
    hub.stallAfter(weightsOid, 20_000);
    const from = hub.requests.length;
    const snapshot = await downloadHubSnapshot('org/model', { env, timeoutMs: 300 });
    expect(storageRequests(from).map((r) => r.range)).toEqual([undefined, 'bytes=20000-']);
    expect(readFileSync(join(snapshot, 'model.safetensors')).equals(weights)).toBe(true);
    await expect(downloadHubSnapshot('org/model', { env: { ...env, HF_HUB_DOWNLOAD_TIMEOUT: 'soon' } })).rejects.toThrow(
      /the download timeout must be a positive number, got soon/,
    );
  });

  it('two downloads of the same model at once fetch each file once', async () => {
    const { cache, env } = freshCache();
    const from = hub.requests.length;
    const [a, b] = await Promise.all([downloadHubSnapshot('org/model', { env }), downloadHubSnapshot('org/model', { env })]);
    expect(a).toBe(b);
    expect(readFileSync(join(a, 'model.safetensors')).equals(weights)).toBe(true);
    expect(storageRequests(from)).toHaveLength(1);
    expect(readdirSync(join(cache, '.locks', 'models--org--model'))).toEqual([]);
  });

  it('picks the files a model needs', () => {
    expect(
      selectModelFiles([
        'model-00001-of-00002.safetensors',
        'model-00002-of-00002.safetensors',
        'model.safetensors.index.json',
        'consolidated.safetensors',
        'merges.txt',
        'vocab.json',
        'x/config.json',
        '.config.json',
        'pytorch_model.bin',
        'chat_template.json',
      ]),
    ).toEqual([
      'chat_template.json',
      'merges.txt',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'vocab.json',
    ]);
    expect(selectModelFiles(['config.json', 'weights.safetensors'])).toEqual(['config.json', 'weights.safetensors']);
  });
});

describe('answers that are not trusted', () => {
  let server: Server;
  let endpoint: string;
  /** What the resolve HEAD answers with, set per test. */
  let headHeaders: Record<string, string> = {};
  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url.includes('/silent/')) return; // never answers
      if (url.includes('/revision/')) return res.end(JSON.stringify({ sha: url.includes('bad-sha') ? '../../etc' : MAIN }));
      if (url.includes('/tree/')) {
        // A cursor on another host would carry the token there.
        if (url.includes('/elsewhere/'))
          res.setHeader('link', `<http://localhost:${(server.address() as { port: number }).port}/page2>; rel="next"`);
        return res.end(JSON.stringify([{ type: 'file', path: 'config.json', size: 2 }]));
      }
      res.writeHead(200, { 'x-repo-commit': MAIN, 'content-length': '2', ...headHeaders });
      res.end(req.method === 'HEAD' ? undefined : '{}');
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  const attempt = (id = 'org/model', options = {}) =>
    downloadHubSnapshot(id, { env: { HF_HUB_CACHE: join(work, 'hostile'), HF_ENDPOINT: endpoint, HOME: work }, ...options });

  it('refuses bad commit hashes, ETags that are not ids, wrong or oversized files', async () => {
    await expect(attempt('org/model@bad-sha')).rejects.toThrow(/no valid commit hash \(sha: "\.\.\/\.\.\/etc"\)/);
    headHeaders = { etag: '"../../../escape"' };
    await expect(attempt()).rejects.toThrow(/no usable ETag \("\.\.\/\.\.\/\.\.\/escape"\)/);
    headHeaders = { etag: `"${'a'.repeat(40)}"`, 'x-repo-commit': 'f'.repeat(40) };
    await expect(attempt()).rejects.toThrow(/resolved commit f{40}, not the 1{40} asked for/);
    headHeaders = { etag: `"${'a'.repeat(40)}"`, 'x-linked-size': '999999999999' };
    await expect(attempt('org/model', { maxFileBytes: 2 ** 20 })).rejects.toThrow(/999999999999 bytes is more than the 1048576 allowed/);
    // An id that does not match the bytes: the partial file is dropped, no blob appears.
    headHeaders = { etag: `"${'a'.repeat(40)}"` };
    await expect(attempt()).rejects.toThrow(/do not match their id/);
    expect(readdirSync(join(work, 'hostile', 'models--org--model', 'blobs'))).toEqual([]);
    await expect(attempt('org/model', { endpoint: 'file:///etc' })).rejects.toThrow(/must be an http\(s\) URL/);
    // A port nothing listens on (one just closed): the message says so, not just "fetch failed".
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((ok) => closed.close(() => ok()));
    await expect(attempt('org/model', { endpoint: `http://127.0.0.1:${port}` })).rejects.toThrow(
      new RegExp(
        `^org/model@main: cannot reach http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)\\. Check the network \\(or HF_ENDPOINT\\), or set HF_HUB_OFFLINE=1`,
      ),
    );
    await expect(attempt('org/silent', { timeoutMs: 200 })).rejects.toThrow(
      /^org\/silent@main: cannot reach http:\/\/127\.0\.0\.1:\d+ \(no answer within 0\.2 s\)/,
    );
    await expect(attempt('org/elsewhere', { token: 'hf_x' })).rejects.toThrow(
      /the next page is on another host \(http:\/\/localhost:\d+\)/,
    );
  });
});
