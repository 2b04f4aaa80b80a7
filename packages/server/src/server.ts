/**
 * `createServer`: the OpenAI-compatible HTTP server on Node's own `http`. Routing, the body
 * limit, the API key, CORS, per-request stop signals (client gone, timeout, server closing) and
 * one log line per request live here; the endpoints are in chat.ts, completions.ts and
 * models.ts, and every generation goes through the one shared `Scheduler`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type GenerationModel, type LoadOptions, Qwen3 } from '@mlxn/models-qwen3';
import { handleChat } from './chat.js';
import { handleCompletion } from './completions.js';
import { ApiError, badRequest } from './errors.js';
import { type HandlerContext, type RequestRun, setOverflowGuard } from './handler-shared.js';
import type { PrefixCacheOptions } from './prefix-cache.js';
import type { StopCause } from './run.js';
import { Scheduler, type SchedulerStats } from './scheduler.js';
import { TokenTexts } from './token-text.js';

export interface ServerOptions {
  /** A model folder or Hugging Face hub id (loaded with `Qwen3.load`), or a loaded model. */
  model: string | GenerationModel;
  /** The model name clients use. Default: `model` when it is a string, else `'default'`. */
  modelId?: string;
  /** Options for `Qwen3.load` when `model` is a string. */
  loadOptions?: LoadOptions;
  /** Interface to listen on. Default `127.0.0.1` (this machine only). */
  host?: string;
  /** Port. Default 8080; 0 picks a free one. */
  port?: number;
  /** When set, `/v1/*` requires `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** Origins allowed to call from a browser (`'*'` for any). Default: none (no CORS headers). */
  cors?: string | readonly string[];
  /** Largest request body in bytes (413 above). Default 4 MiB. */
  maxBodyBytes?: number;
  /** Largest `max_tokens` a request may ask for (400 above). Default 4096. */
  maxTokens?: number;
  /** `max_tokens` of a request that gives none. Default 512. */
  defaultMaxTokens?: number;
  /** Most rows decoded together. Default 32. */
  maxBatchSize?: number;
  /** Most prompts prefilled together. Default 8. */
  prefillBatchSize?: number;
  /** Most rows waiting for a place in the batch (429 above). Default 64. */
  maxQueue?: number;
  /**
   * The prompt-prefix cache: finished sequences' keys and values, reused by requests that start
   * with the same tokens; least recently used evicted. `false` for none. Default
   * `{ maxEntries: 16, maxBytes: 512 MiB }`.
   */
  prefixCache?: PrefixCacheOptions | false;
  /** A request still running after this many milliseconds is stopped (504). Default 600000. */
  requestTimeoutMs?: number;
  /** A streaming client that leaves this many bytes unread is disconnected. Default 8 MiB. */
  maxUnreadBytes?: number;
  /** Receives one line per request (the library is silent by default; `mlxn-serve` prints them). */
  onLog?: (line: string) => void;
}

export interface ListeningAddress {
  host: string;
  port: number;
  /** `http://host:port` */
  url: string;
}

/** A server: `listen`, then `close` (stops generations, frees their memory, closes sockets). */
export interface MlxnServer {
  readonly modelId: string;
  readonly model: GenerationModel;
  /** The request listener, for mounting in an existing Node `http` server. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** The scheduler's load: rows running and waiting, steps so far. */
  readonly stats: SchedulerStats;
  listen(): Promise<ListeningAddress>;
  /** Resolves once no generation is running or waiting (the batch's memory is released). */
  idle(): Promise<void>;
  /** The address once listening. */
  readonly address: ListeningAddress | null;
  close(): Promise<void>;
}

const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

function positiveInt(v: number | undefined, name: string, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new RangeError(`createServer: ${name} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Creates an OpenAI-compatible server for one Qwen3 model (loading it first when given a folder
 * or hub id). Nothing listens until `listen()`.
 *
 * @example
 * const server = await createServer({ model: 'Qwen/Qwen3-0.6B', port: 8080 });
 * const { url } = await server.listen(); // point an OpenAI client at `${url}/v1`
 * // ...
 * await server.close();
 */
export async function createServer(options: ServerOptions): Promise<MlxnServer> {
  if (options === null || typeof options !== 'object') throw new TypeError('createServer: expected an options object { model, ... }');
  const host = options.host ?? '127.0.0.1';
  const port = positiveInt(options.port, 'port', 8080, 0);
  if (port > 65535) throw new RangeError(`createServer: port must be at most 65535, got ${port}`);
  const maxBodyBytes = positiveInt(options.maxBodyBytes, 'maxBodyBytes', 4 << 20);
  const maxTokensCeiling = positiveInt(options.maxTokens, 'maxTokens', 4096);
  const defaultMaxTokens = Math.min(positiveInt(options.defaultMaxTokens, 'defaultMaxTokens', 512), maxTokensCeiling);
  const requestTimeoutMs = positiveInt(options.requestTimeoutMs, 'requestTimeoutMs', 600_000);
  const maxUnreadBytes = positiveInt(options.maxUnreadBytes, 'maxUnreadBytes', 8 << 20);
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.length === 0))
    throw new TypeError('createServer: apiKey must be a non-empty string');
  const corsOrigins = options.cors === undefined ? [] : typeof options.cors === 'string' ? [options.cors] : [...options.cors];
  if (!corsOrigins.every((o) => typeof o === 'string' && o.length > 0))
    throw new TypeError('createServer: cors must be an origin, a list of origins or "*"');
  const log = options.onLog ?? (() => {});

  let model: GenerationModel;
  let modelId: string;
  if (typeof options.model === 'string') {
    model = await Qwen3.load(options.model, options.loadOptions);
    modelId = options.modelId ?? options.model;
  } else if (options.model !== null && typeof options.model === 'object' && typeof options.model.forward === 'function') {
    model = options.model;
    modelId = options.modelId ?? 'default';
  } else {
    throw new TypeError('createServer: model must be a folder, a hub id or a loaded model');
  }
  if (model.tokenizer === undefined)
    throw new Error('createServer: the model has no tokenizer (a server needs tokenizer.json in the model folder)');

  const scheduler = new Scheduler(model, {
    maxBatchSize: options.maxBatchSize,
    prefillBatchSize: options.prefillBatchSize,
    maxQueue: options.maxQueue,
    prefixCache: options.prefixCache,
  });
  const apiKeyDigest = options.apiKey === undefined ? null : digest(options.apiKey);
  const created = Math.floor(Date.now() / 1000);
  const inFlight = new Set<AbortController>();
  let closing = false;

  const corsHeaders = (origin: string | undefined): Record<string, string> => {
    if (origin === undefined || corsOrigins.length === 0) return {};
    if (corsOrigins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
    return corsOrigins.includes(origin) ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
  };

  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };

  const ctxFor = (headers: Record<string, string>): HandlerContext => ({
    model,
    modelId,
    scheduler,
    limits: { maxTokensCeiling, defaultMaxTokens },
    fingerprint: `mlxn-server-${VERSION}`,
    tokenTexts,
    headers,
    sendJson: (res, status, body) => {
      for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      sendJson(res, status, body);
    },
  });
  const tokenTexts = new TokenTexts(model.tokenizer);

  /** Reads the body up to the limit; a larger one is a 413 (and the connection is closed). */
  const readBody = (req: IncomingMessage): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBodyBytes) {
        reject(
          new ApiError(
            413,
            `the request body is ${declared} bytes; this server accepts at most ${maxBodyBytes}`,
            'invalid_request_error',
            null,
            'request_too_large',
          ),
        );
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBodyBytes) {
          req.removeAllListeners('data');
          req.pause();
          reject(
            new ApiError(
              413,
              `the request body is larger than ${maxBodyBytes} bytes, the most this server accepts`,
              'invalid_request_error',
              null,
              'request_too_large',
            ),
          );
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });

  const authorized = (req: IncomingMessage): boolean => {
    if (apiKeyDigest === null) return true;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return m !== null && timingSafeEqual(digest(m[1]), apiKeyDigest);
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const headers = corsHeaders(typeof req.headers.origin === 'string' ? req.headers.origin : undefined);
    const ctx = ctxFor(headers);
    const run: RequestRun = {
      signal: new AbortController().signal,
      startedAt,
      stats: { promptTokens: 0, cachedTokens: 0, completionTokens: 0, ttftMs: null, decodeMs: 0 },
      finishReasons: [],
    };
    let generation = false;
    let status = 200;

    const fail = (e: unknown): void => {
      const err = e instanceof ApiError ? e : new ApiError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, 'server_error');
      status = err.status;
      if (!res.headersSent) {
        if (err.status === 413) res.setHeader('Connection', 'close');
        // Clients (the openai packages among them) wait this long before retrying a 429.
        if (err.status === 429) res.setHeader('Retry-After', '1');
        ctx.sendJson(res, err.status, err.toJSON());
      } else if (!res.writableEnded) {
        // Mid-stream: the error is the last event.
        res.write(`data: ${JSON.stringify(err.toJSON())}\n\n`);
        res.end('data: [DONE]\n\n');
      }
    };

    res.on('close', () => {
      const s = run.stats;
      let line = `${req.method} ${path} ${status} ${Math.round(performance.now() - startedAt)}ms`;
      if (generation) {
        const tps = s.decodeMs > 0 ? (s.completionTokens / (s.decodeMs / 1000)).toFixed(1) : '-';
        const cause = run.signal.aborted ? ` stopped=${String(run.signal.reason)}` : '';
        line += ` prompt=${s.promptTokens} cached=${s.cachedTokens} completion=${s.completionTokens} ttft=${s.ttftMs === null ? '-' : `${Math.round(s.ttftMs)}ms`} gen=${tps}tok/s finish=${run.finishReasons.join(',') || '-'}${cause}`;
      }
      log(line);
    });

    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...headers,
        ...(Object.keys(headers).length > 0
          ? {
              'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
              'Access-Control-Allow-Headers': 'Authorization, Content-Type',
              'Access-Control-Max-Age': '600',
            }
          : {}),
      });
      res.end();
      return;
    }
    if (path === '/health') {
      if (req.method !== 'GET') {
        fail(new ApiError(405, `${req.method} is not allowed on ${path}`));
        return;
      }
      const st = scheduler.stats;
      ctx.sendJson(res, 200, { status: closing ? 'closing' : 'ok', model: modelId, running: st.running, waiting: st.waiting });
      return;
    }
    if (!path.startsWith('/v1/')) {
      fail(new ApiError(404, `no route ${req.method} ${path}`, 'not_found_error', null, 'unknown_url'));
      return;
    }
    if (!authorized(req)) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      fail(new ApiError(401, 'Incorrect API key provided', 'authentication_error', null, 'invalid_api_key'));
      return;
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (req.method !== 'GET') {
        fail(new ApiError(405, `${req.method} is not allowed on ${path}`));
        return;
      }
      const card = { id: modelId, object: 'model', created, owned_by: 'mlxn' };
      if (path === '/v1/models') {
        ctx.sendJson(res, 200, { object: 'list', data: [card] });
        return;
      }
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (id !== modelId) {
        fail(new ApiError(404, `The model '${id}' does not exist`, 'not_found_error', 'model', 'model_not_found'));
        return;
      }
      ctx.sendJson(res, 200, card);
      return;
    }
    const endpoint = path === '/v1/chat/completions' ? handleChat : path === '/v1/completions' ? handleCompletion : null;
    if (endpoint === null) {
      fail(new ApiError(404, `no route ${req.method} ${path}`, 'not_found_error', null, 'unknown_url'));
      return;
    }
    if (req.method !== 'POST') {
      fail(new ApiError(405, `${req.method} is not allowed on ${path}; use POST`));
      return;
    }
    if (closing) {
      fail(new ApiError(503, 'the server is shutting down', 'server_error'));
      return;
    }

    generation = true;
    const controller = new AbortController();
    run.signal = controller.signal;
    const stop = (cause: StopCause) => {
      if (!controller.signal.aborted) controller.abort(cause);
    };
    inFlight.add(controller);
    const timer = setTimeout(() => stop('timeout'), requestTimeoutMs);
    // A client that goes away (or stops reading) stops its generation at the next step.
    res.on('close', () => {
      if (!res.writableFinished) stop('disconnected');
    });
    setOverflowGuard(res, maxUnreadBytes, () => {
      stop('disconnected');
      res.destroy();
    });
    readBody(req)
      .then((raw) => {
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw badRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            null,
            'invalid_json',
          );
        }
        return endpoint(ctx, body, res, run);
      })
      .then(() => {
        const cause = run.signal.aborted ? (run.signal.reason as StopCause) : null;
        if (cause === 'timeout')
          throw new ApiError(504, `the request did not finish within ${requestTimeoutMs} ms`, 'timeout_error', null, 'timeout');
        if (cause === 'closing') throw new ApiError(503, 'the server is shutting down', 'server_error');
        if (res.headersSent && !res.writableEnded) res.end('data: [DONE]\n\n');
      })
      .catch((e) => {
        if (res.destroyed) return;
        fail(e);
      })
      .finally(() => {
        clearTimeout(timer);
        inFlight.delete(controller);
      });
  };

  const server: Server = createHttpServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, handler);
  let address: ListeningAddress | null = null;
  return {
    modelId,
    model,
    handler,
    get stats() {
      return scheduler.stats;
    },
    get address() {
      return address;
    },
    idle: () => scheduler.idle(),
    listen: () =>
      new Promise<ListeningAddress>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          address = { host: a.address, port: a.port, url: `http://${shown}:${a.port}` };
          resolve(address);
        });
      }),
    close: async () => {
      closing = true;
      const closed = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
      for (const c of inFlight) c.abort('closing' satisfies StopCause);
      await scheduler.close();
      // Responses to the stopped requests are written on the next turns of the event loop.
      await new Promise((r) => setImmediate(r));
      server.closeIdleConnections();
      const deadline = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(deadline);
    },
  };
}
