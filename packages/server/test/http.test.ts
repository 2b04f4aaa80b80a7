// Raw HTTP against the server on 127.0.0.1, for what no client library sends: malformed JSON,
// oversized bodies, unknown fields, wrong routes and methods, CORS, a client that stops
// reading, timeouts and shutting down with requests in flight.
import { createServer as createHttpServer } from 'node:http';
import { connect } from 'node:net';
import type { Qwen3 } from '@mlxn/models-qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type MlxnServer } from '../src/index.js';
import { rawRequest, settledActiveMemory, sseData, startServer, tinyModel } from './helpers.js';

let model: Qwen3;
let server: MlxnServer & { url: string };
const logs: string[] = [];
const chat = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 4, temperature: 0, ...extra });

beforeAll(async () => {
  model = tinyModel();
  server = await startServer({ model, maxBodyBytes: 64 * 1024, cors: ['http://app.example'], onLog: (l) => logs.push(l) });
});

afterAll(async () => {
  await server?.close();
});

const errorOf = (body: string) =>
  (JSON.parse(body) as { error: { message: string; type: string; param: string | null; code: string | null } }).error;

describe('bad requests', () => {
  it('answers malformed JSON with an OpenAI-shaped 400', async () => {
    const r = await rawRequest(server.url, 'POST', '/v1/chat/completions', '{"model": "tiny", "messages": [');
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    expect(errorOf(r.body)).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    expect((await rawRequest(server.url, 'POST', '/v1/chat/completions', '[1, 2]')).status).toBe(400);
    expect((await rawRequest(server.url, 'POST', '/v1/completions', '')).status).toBe(400);
  });

  it('refuses an oversized body with 413, declared or streamed', async () => {
    const big = chat({ user: 'x'.repeat(100 * 1024) });
    const declared = await rawRequest(server.url, 'POST', '/v1/chat/completions', big);
    expect(declared.status).toBe(413);
    expect(errorOf(declared.body).code).toBe('request_too_large');
    // Chunked (no Content-Length): counted while it arrives.
    const chunked = await rawRequest(server.url, 'POST', '/v1/chat/completions', big, { 'Transfer-Encoding': 'chunked' });
    expect(chunked.status).toBe(413);
  });

  it('names unknown fields, at any depth', async () => {
    const top = await rawRequest(server.url, 'POST', '/v1/chat/completions', chat({ temprature: 0.5 }));
    expect(top.status).toBe(400);
    expect(errorOf(top.body)).toMatchObject({ param: 'temprature', code: 'unknown_parameter' });
    const nested = await rawRequest(
      server.url,
      'POST',
      '/v1/chat/completions',
      chat({ stream_options: { include_usage: true, extra: 1 } }),
    );
    expect(errorOf(nested.body).param).toBe('stream_options.extra');
    const badRole = await rawRequest(
      server.url,
      'POST',
      '/v1/chat/completions',
      JSON.stringify({ model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] }),
    );
    expect(badRole.status).toBe(400);
    expect(errorOf(badRole.body).param).toBe('messages.0.role');
  });

  it('answers unknown routes with 404 and wrong methods with 405', async () => {
    expect((await rawRequest(server.url, 'GET', '/v1/embeddings')).status).toBe(404);
    expect((await rawRequest(server.url, 'GET', '/')).status).toBe(404);
    expect((await rawRequest(server.url, 'GET', '/v1/chat/completions')).status).toBe(405);
    expect((await rawRequest(server.url, 'GET', '/v1/models/other')).status).toBe(404);
  });
});

describe('health, CORS and logs', () => {
  it('reports health and the load', async () => {
    const r = await rawRequest(server.url, 'GET', '/health');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ status: 'ok', model: 'tiny', running: 0, waiting: 0 });
  });

  it('allows only the configured origins', async () => {
    const allowed = await rawRequest(server.url, 'OPTIONS', '/v1/chat/completions', undefined, {
      Origin: 'http://app.example',
      'Access-Control-Request-Method': 'POST',
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://app.example');
    expect(allowed.headers['access-control-allow-headers']).toMatch(/Authorization/);
    const other = await rawRequest(server.url, 'OPTIONS', '/v1/chat/completions', undefined, { Origin: 'http://evil.example' });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const post = await rawRequest(server.url, 'POST', '/v1/chat/completions', chat(), { Origin: 'http://app.example' });
    expect(post.status).toBe(200);
    expect(post.headers['access-control-allow-origin']).toBe('http://app.example');
  });

  it('logs one line per request with tokens, time to first token and tokens/s', async () => {
    logs.length = 0;
    await rawRequest(server.url, 'POST', '/v1/chat/completions', chat());
    await new Promise((r) => setTimeout(r, 20));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(
      /^POST \/v1\/chat\/completions 200 \d+ms prompt=\d+ cached=\d+ completion=4 ttft=\d+ms gen=[\d.]+tok\/s finish=length$/,
    );
  });
});

describe('scheduler phase times', () => {
  it('accounts a request to its phases, within the time the loop ran', async () => {
    await server.idle();
    const before = server.stats.phaseMs;
    const r = await rawRequest(server.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 6 }));
    expect(r.status).toBe(200);
    await server.idle();
    const after = server.stats.phaseMs;
    const spent = Object.fromEntries(Object.keys(after).map((k) => [k, after[k as keyof typeof after] - before[k as keyof typeof before]]));
    for (const phase of ['running', 'prefill', 'build', 'evaluate', 'deliver']) expect(spent[phase], phase).toBeGreaterThan(0);
    const phases = Object.entries(spent)
      .filter(([k]) => k !== 'running')
      .reduce((n, [, v]) => n + v, 0);
    expect(phases).toBeLessThanOrEqual(spent.running + 1e-6);
    // A reading is a copy: the scheduler's later work does not change it.
    expect(server.stats.phaseMs).not.toBe(after);
  });
});

/** Sends a request by hand and reads raw bytes, so the test decides when to stop reading. */
function openSocket(url: string, body: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.write(
    `POST /v1/chat/completions HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  return socket;
}

describe('clients that leave, stall or time out', () => {
  it('stops a generation when its client disconnects, and frees its memory', async () => {
    await server.idle();
    const baseline = await settledActiveMemory();
    const socket = openSocket(server.url, chat({ max_tokens: 4000, stream: true }));
    // Wait for generated tokens, not just the headers.
    let seen = '';
    await new Promise<void>((resolve) =>
      socket.on('data', (d: Buffer) => {
        seen += d.toString();
        if ((seen.match(/"content"/g) ?? []).length >= 4) resolve();
      }),
    );
    expect(server.stats.running).toBe(1);
    const stepsAtDisconnect = server.stats.steps;
    socket.destroy();
    await server.idle();
    // It stopped within a few steps of the disconnect, far from its 4000 tokens.
    expect(server.stats.steps - stepsAtDisconnect).toBeLessThan(20);
    expect(await settledActiveMemory()).toBeLessThanOrEqual(baseline);
  });

  it('never waits for a client that stops reading', async () => {
    const socket = openSocket(server.url, chat({ max_tokens: 4000, stream: true, logprobs: true, top_logprobs: 5 }));
    socket.pause(); // never reads
    // On a fast device (a GPU that first compiles the kernels the other request needs) the
    // stalled stream can pass the unread-bytes limit first: the server then drops it (a reset
    // here), which does not wait for the client either.
    let dropped = false;
    socket.on('error', () => (dropped = true));
    while (server.stats.running === 0) await new Promise((r) => setTimeout(r, 10));
    const other = await rawRequest(server.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 5 }));
    expect(other.status).toBe(200);
    expect(JSON.parse(other.body).usage.completion_tokens).toBe(5);
    // The stalled stream is still being generated (4000 tokens take far longer), or was dropped.
    expect(dropped || server.stats.running >= 1).toBe(true);
    socket.destroy();
    await server.idle();
  });

  it('drops a stream whose unsent events pass the limit (a socket that cannot flush)', async () => {
    // `handler` mounted in a server of our own whose sockets are corked: every event stays in
    // Node's buffer, as it does for a client that stopped reading once the kernel's are full.
    const guarded = await createServer({ model, modelId: 'tiny', maxUnreadBytes: 4096 });
    const own = createHttpServer((req, res) => {
      res.socket!.cork();
      guarded.handler(req, res);
    });
    await new Promise<void>((r) => own.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(own.address() as { port: number }).port}`;
      const outcome = await rawRequest(
        url,
        'POST',
        '/v1/chat/completions',
        chat({ max_tokens: 3000, stream: true, logprobs: true, top_logprobs: 5 }),
      ).then(
        () => 'answered',
        (e: Error) => e.message,
      );
      expect(outcome).toMatch(/socket hang up|ECONNRESET/);
      await guarded.idle();
      // Stopped after a few kilobytes of events, far from its 3000 tokens.
      expect(guarded.stats.steps).toBeLessThan(100);
    } finally {
      own.close();
      await guarded.close();
    }
  });

  it('serves others while a client sends its body slowly', async () => {
    const { hostname, port } = new URL(server.url);
    const body = chat({ max_tokens: 3 });
    const slow = connect(Number(port), hostname);
    slow.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, 10)}`,
    );
    let answer = '';
    slow.on('data', (d: Buffer) => (answer += d.toString()));
    const other = await rawRequest(server.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 3 }));
    expect(other.status).toBe(200);
    expect(answer).toBe(''); // still waiting for the rest of its body
    slow.write(body.slice(10));
    while (!answer.includes('"usage"')) await new Promise((r) => setTimeout(r, 10));
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    slow.destroy();
  });

  it('answers 504 for a request past its timeout; a stream ends with an error event', async () => {
    const slow = await startServer({ model, requestTimeoutMs: 200 });
    try {
      const whole = await rawRequest(slow.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 4000 }));
      expect(whole.status).toBe(504);
      expect(errorOf(whole.body).code).toBe('timeout');
      const streamed = await rawRequest(slow.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 4000, stream: true }));
      const events = sseData(streamed.body);
      expect(events.at(-1)).toBe('[DONE]');
      expect(JSON.parse(events.at(-2)!).error.code).toBe('timeout');
    } finally {
      await slow.close();
    }
  });

  it('closes with requests in flight: they end (503 or a final error event) and the port is released', async () => {
    const closing = await startServer({ model });
    const whole = rawRequest(closing.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 4000 }));
    const streamed = rawRequest(closing.url, 'POST', '/v1/chat/completions', chat({ max_tokens: 4000, stream: true }));
    while (closing.stats.running < 2) await new Promise((r) => setTimeout(r, 10));
    await closing.close();
    expect((await whole).status).toBe(503);
    const events = sseData((await streamed).body);
    expect(events.at(-1)).toBe('[DONE]');
    expect(JSON.parse(events.at(-2)!).error.type).toBe('server_error');
    await expect(rawRequest(closing.url, 'GET', '/health')).rejects.toThrow();
  });
});
