// A stand-in for the Hugging Face hub's HTTP API on 127.0.0.1, for tests with no network: the
// endpoints huggingface_hub's snapshot_download (and @mlxn/io's download) call, answered as the
// hub answers them.
//   GET  /api/models/<org>/<name>/revision/<rev>     repo info: { id, sha, siblings }
//   GET  /api/models/<org>/<name>/tree/<commit>      file list, paginated with a Link header
//   HEAD/GET /<org>/<name>/resolve/<rev>/<file>      regular files: ETag = git blob id;
//                                                    *.safetensors: 302 to the "storage" host
//                                                    (localhost, another origin) with
//                                                    X-Linked-Etag = sha256, X-Linked-Size
//   GET  /storage/<sha256>                           the bytes, with Range support (206)
// `renamed` maps old ids to new ones (a 307 with a relative Location, as the hub answers).
// A gated repository answers 401 (X-Error-Code: GatedRepo) without its token. `dropAfter` makes
// the next downloads of a blob stop after some bytes by destroying the connection; `stallAfter`
// makes one send some bytes and then nothing (for aborts).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const gitBlobId = (buf) => createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const isLfs = (name) => name.endsWith('.safetensors');

/** Files of a folder as { name: Buffer } (top level, regular files). */
export function filesOfFolder(folder) {
  const files = {};
  for (const name of readdirSync(folder, { withFileTypes: true }))
    if (name.isFile()) files[name.name] = readFileSync(join(folder, name.name));
  return files;
}

export async function startHubMock({ repos, pageSize = 3, renamed = {} }) {
  /** Every request, for tests to assert on: { method, path, range, auth }. */
  const requests = [];
  /** sha256 → { bytes, times }: the next `times` downloads of that blob stop after `bytes`. */
  const drops = new Map();
  const blobs = new Map();
  // A copy with every content as a Buffer (the caller's objects are left as they are).
  repos = Object.fromEntries(
    Object.entries(repos).map(([id, repo]) => [
      id,
      {
        ...repo,
        commits: Object.fromEntries(
          Object.entries(repo.commits).map(([sha, commit]) => [
            sha,
            { files: Object.fromEntries(Object.entries(commit.files).map(([name, c]) => [name, Buffer.isBuffer(c) ? c : Buffer.from(c)])) },
          ]),
        ),
      },
    ]),
  );
  for (const repo of Object.values(repos)) {
    for (const commit of Object.values(repo.commits)) {
      for (const [name, buf] of Object.entries(commit.files)) if (isLfs(name)) blobs.set(sha256(buf), buf);
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const auth = req.headers.authorization;
    requests.push({ method: req.method, path: url.pathname, range: req.headers.range, auth });
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-length': Buffer.byteLength(body), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const json = (value, headers) => send(200, JSON.stringify(value), { 'content-type': 'application/json', ...headers });
    const error = (status, code) =>
      send(status, JSON.stringify({ error: code }), { 'x-error-code': code, 'content-type': 'application/json' });

    const storage = /^\/storage\/([0-9a-f]{64})$/.exec(url.pathname);
    if (storage) return serveBytes(req, res, blobs.get(storage[1]), storage[1], drops);

    const api = /^\/api\/models\/([^/]+)\/([^/]+)\/(revision|tree)\/(.+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const m = api ?? resolve;
    if (!m) return error(404, 'NotFound');
    const repoId = `${m[1]}/${m[2]}`;
    // A renamed repository: the hub redirects (relative, same host) from the old name.
    if (renamed[repoId]) {
      res.writeHead(307, { location: `${url.pathname.replace(`/${repoId}/`, `/${renamed[repoId]}/`)}${url.search}`, 'content-length': 0 });
      return res.end();
    }
    const repo = repos[repoId];
    if (!repo) return error(401, 'RepoNotFound'); // the hub answers 401 for a repository it will not show
    if (repo.token !== undefined && auth !== `Bearer ${repo.token}`) return error(401, 'GatedRepo');
    const rev = decodeURIComponent(api ? m[4] : m[3]);
    const commitHash = /^[0-9a-f]{40}$/.test(rev) ? rev : repo.refs[rev];
    const commit = commitHash && repo.commits[commitHash];
    if (!commit) return error(404, 'RevisionNotFound');
    const names = Object.keys(commit.files).sort();

    if (api && m[3] === 'revision') {
      return json({
        _id: repoId,
        id: repoId,
        modelId: repoId,
        sha: commitHash,
        private: false,
        disabled: false,
        gated: repo.token ? 'manual' : false,
        tags: [],
        siblings: names.map((rfilename) => ({ rfilename })),
      });
    }
    if (api) {
      const start = Number(url.searchParams.get('cursor') ?? '0');
      const page = names.slice(start, start + pageSize).map((path) => {
        const buf = commit.files[path];
        return {
          type: 'file',
          oid: gitBlobId(buf),
          size: buf.length,
          path,
          ...(isLfs(path) ? { lfs: { oid: sha256(buf), size: buf.length, pointerSize: 134 } } : {}),
        };
      });
      const next =
        start + pageSize < names.length
          ? `<http://${req.headers.host}${url.pathname}?recursive=true&expand=false&cursor=${start + pageSize}>; rel="next"`
          : undefined;
      return json(page, next ? { link: next } : {});
    }
    const file = decodeURIComponent(m[4]);
    const buf = commit.files[file];
    if (!buf) return error(404, 'EntryNotFound');
    if (isLfs(file)) {
      const oid = sha256(buf);
      const port = server.address().port;
      res.writeHead(302, {
        location: `http://localhost:${port}/storage/${oid}`,
        'x-repo-commit': commitHash,
        'x-linked-etag': `"${oid}"`,
        'x-linked-size': String(buf.length),
        etag: `"${gitBlobId(Buffer.from('pointer'))}"`,
        'content-length': '0',
      });
      return res.end();
    }
    res.writeHead(200, {
      'x-repo-commit': commitHash,
      etag: `"${gitBlobId(buf)}"`,
      'content-length': buf.length,
      'content-type': 'application/octet-stream',
    });
    res.end(req.method === 'HEAD' ? undefined : buf);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    /** The next `times` downloads of the blob with this sha256 stop after sending `bytes` bytes (of what was asked for). */
    dropAfter(oid, bytes, times = 1) {
      drops.set(oid, { bytes, times, stall: false });
    },
    /** The next download of the blob with this sha256 sends `bytes` bytes (of what was asked for), then nothing more. */
    stallAfter(oid, bytes) {
      drops.set(oid, { bytes, times: 1, stall: true });
    },
    sha256,
    gitBlobId,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(ok);
      }),
  };
}

function serveBytes(req, res, buf, oid, drops) {
  if (!buf) {
    res.writeHead(404, { 'content-length': 0 });
    return res.end();
  }
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) start = Number(range[1]);
  if (start >= buf.length && buf.length > 0) {
    res.writeHead(416, { 'content-range': `bytes */${buf.length}`, 'content-length': 0 });
    return res.end();
  }
  const body = buf.subarray(start);
  const headers = { 'content-length': body.length, etag: `"${oid}"`, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
  if (range) res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${buf.length - 1}/${buf.length}` });
  else res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  const drop = drops.get(oid);
  if (drop && drop.times > 0 && drop.bytes < body.length) {
    drop.times--;
    // Send part of the body, then cut the connection as a network failure would.
    res.write(body.subarray(0, drop.bytes), () => {
      if (!drop.stall) setTimeout(() => res.socket?.destroy(), 20);
    });
    return;
  }
  res.end(body);
}
