// Test helpers: a tiny random Qwen3 with the real Qwen3 tokenizer and chat template (what is
// tested here is the server, not the network's numbers), a server on 127.0.0.1 with a free
// port, and raw HTTP/SSE readers.
import { request } from 'node:http';
import * as mx from '@mlxn/core';
import { Tokenizer } from '@mlxn/io';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';
import { randomTinyQwen3 } from '@mlxn/test-support/qwen3';
import { createServer, type MlxnServer, type ServerOptions } from '../src/index.js';

/** A 2-layer Qwen3 (hidden 64) with random weights from `seed` and peaked logits. */
export function tinyModel(seed = 0): Qwen3 {
  return randomTinyQwen3({ mx, Tokenizer, Qwen3, parseQwen3Config }, seed);
}

/** A listening server on 127.0.0.1 (a free port); `close` it in `afterAll`. */
export async function startServer(options: Partial<ServerOptions> & Pick<ServerOptions, 'model'>): Promise<MlxnServer & { url: string }> {
  const server = await createServer({ modelId: 'tiny', port: 0, ...options });
  const { url } = await server.listen();
  return Object.assign(server, { url });
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP request (no client library): for bodies no client would send. */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}${path}`,
      { method, headers: { ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The `data:` payloads of a server-sent event stream. */
export function sseData(body: string): string[] {
  return body
    .split('\n\n')
    .map((e) => e.trim())
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

/**
 * A model that says `script` (token ids) and then ends (end-of-sequence), for one request at a
 * time: its first decode step is the one fed `startToken` (the last token of the chat
 * template's generation prompt, `\n`), and each later one-token step moves along the script. The
 * real network still runs, so caches and batching are exercised.
 */
export function scriptedModel(base: Qwen3, script: readonly number[], startToken = 198): Qwen3 {
  const eos = base.eosTokenIds[0];
  const vocab = base.config.vocabSize;
  let position = -1;
  const forward = (inputs: mx.Array, options?: Parameters<Qwen3['forward']>[1]): mx.Array => {
    const logits = base.forward(inputs, options);
    if (inputs.shape[1] !== 1) return logits;
    const fed = (inputs.tolist() as number[][])[0][0];
    position = fed === startToken ? 0 : position + 1;
    const target = position < script.length ? script[position] : eos;
    const [b, l] = logits.shape;
    logits.dispose();
    return mx.broadcastTo(mx.where(mx.equal(mx.arange(vocab), target), 30, -30), [b, l, vocab]);
  };
  return new Proxy(base, {
    get(target, key) {
      if (key === 'forward') return forward;
      const v = Reflect.get(target, key, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * MLX's active memory once nothing reachable holds arrays: garbage is collected first (a few
 * small arrays, such as a disposed BatchKVCache's offsets, are released only by finalizers).
 */
export async function settledActiveMemory(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc (vitest.config.ts sets it)');
  gc();
  await new Promise((r) => setTimeout(r, 20));
  gc();
  await new Promise((r) => setTimeout(r, 20));
  return mx.memory().active;
}
