// The official `openai` npm client against a running server on 127.0.0.1: chat (whole and
// streamed), text completions, log-probabilities, tool calls, reasoning, seeds, stop strings
// and every error class the client raises.

import * as mx from '@mlxn/core';
import { type Qwen3, tokenLogprobs } from '@mlxn/models-qwen3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MlxnServer } from '../src/index.js';
import { scriptedModel, startServer, tinyModel } from './helpers.js';

let model: Qwen3;
let server: MlxnServer & { url: string };
let client: OpenAI;
const messages = [{ role: 'user' as const, content: 'Write a haiku about the sea' }];

beforeAll(async () => {
  model = tinyModel();
  server = await startServer({ model });
  // 120 s: on a fresh GPU machine a request's first sampled step compiles MLX's CUDA kernels
  // (the n-choices request below took over 30 s there).
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
});

afterAll(async () => {
  await server?.close();
});

describe('chat completions', () => {
  it('lists the served model', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['tiny']);
    expect((await client.models.retrieve('tiny')).id).toBe('tiny');
  });

  it('answers greedily with what the library generates for the same messages', async () => {
    const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 });
    const solo = await model.chat(messages, { maxTokens: 12, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].message.role).toBe('assistant');
    expect(r.choices[0].message.content).toBe(solo.text);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toMatchObject({
      prompt_tokens: solo.usage.promptTokens,
      completion_tokens: 12,
      total_tokens: solo.usage.promptTokens + 12,
    });
  });

  it('streams the same reply as server-sent events, with usage when asked', async () => {
    const whole = await client.chat.completions.create({ model: 'tiny', messages, max_completion_tokens: 10, temperature: 0 });
    const stream = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_completion_tokens: 10,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    const finishes: (string | null)[] = [];
    let usage: OpenAI.CompletionUsage | undefined;
    let first = true;
    for await (const chunk of stream) {
      expect(chunk.object).toBe('chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      for (const c of chunk.choices) {
        if (first) expect(c.delta.role).toBe('assistant');
        first = false;
        text += c.delta.content ?? '';
        finishes.push(c.finish_reason);
      }
    }
    expect(text).toBe(whole.choices[0].message.content);
    expect(finishes.filter((f) => f !== null)).toEqual(['length']);
    expect(usage).toEqual(whole.usage);
  });

  it('reports log-probabilities with the most likely alternatives, best first', async () => {
    const r = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 6,
      temperature: 0,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = r.choices[0].logprobs!.content!;
    expect(content).toHaveLength(6);
    const tokenizer = model.tokenizer!;
    for (const e of content) {
      expect(e.top_logprobs).toHaveLength(3);
      // Greedy: the chosen token is the most likely one.
      expect(e.top_logprobs[0].token).toBe(e.token);
      expect(e.top_logprobs[0].logprob).toBeCloseTo(e.logprob, 5);
      expect(e.top_logprobs[0].logprob).toBeGreaterThanOrEqual(e.top_logprobs[1].logprob);
      expect(e.top_logprobs[1].logprob).toBeGreaterThanOrEqual(e.top_logprobs[2].logprob);
      expect(e.logprob).toBeLessThan(0);
      expect(Buffer.from(e.bytes!).toString('utf8')).toBe(e.token);
    }
    // The tokens spell the reply.
    expect(tokenizer.decode(tokenizer.encode(content.map((e) => e.token).join(''), { addSpecialTokens: false }))).toBe(
      r.choices[0].message.content,
    );
    // The log-probabilities are the library's for the same tokens.
    const solo = await model.generate(messages, { maxTokens: 6, logprobs: true });
    for (const [i, e] of content.entries()) expect(e.logprob).toBeCloseTo(solo.logprobs![i], 4);
  });

  it('gives n choices; a seed makes sampled replies reproducible', async () => {
    // `top_k` is mlx-lm's extension: the client sends it as given.
    const body = {
      model: 'tiny',
      messages,
      max_tokens: 8,
      temperature: 1,
      top_p: 0.95,
      top_k: 50,
      seed: 7,
      n: 2,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming;
    const ask = () => client.chat.completions.create(body);
    const [a, b] = await Promise.all([ask(), ask()]);
    expect(a.choices.map((c) => c.index)).toEqual([0, 1]);
    expect(a.choices.map((c) => c.message.content)).toEqual(b.choices.map((c) => c.message.content));
    // Choice i draws with seed + i: the choices differ.
    expect(a.choices[0].message.content).not.toBe(a.choices[1].message.content);
    expect(a.usage!.completion_tokens).toBe(16);
  });

  it('stops at a stop string without returning it', async () => {
    const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0 });
    const text = whole.choices[0].message.content!;
    const stop = text.slice(5, 8);
    const r = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 12, temperature: 0, stop: [stop] });
    expect(r.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  it('applies logit_bias and penalties per request', async () => {
    const whole = await client.chat.completions.create({ model: 'tiny', messages, max_tokens: 4, temperature: 0, logprobs: true });
    const firstToken = model.tokenizer!.encode(whole.choices[0].logprobs!.content![0].token, { addSpecialTokens: false })[0];
    const banned = await client.chat.completions.create({
      model: 'tiny',
      messages,
      max_tokens: 4,
      temperature: 0,
      logprobs: true,
      logit_bias: { [firstToken]: -100 },
      presence_penalty: 0.5,
      frequency_penalty: 0.5,
    });
    expect(banned.choices[0].logprobs!.content![0].token).not.toBe(whole.choices[0].logprobs!.content![0].token);
  });
});

describe('text completions', () => {
  it('continues a prompt, with the legacy log-probability shape', async () => {
    const r = await client.completions.create({ model: 'tiny', prompt: 'The sea is', max_tokens: 5, temperature: 0, logprobs: 2 });
    const solo = await model.generate('The sea is', { maxTokens: 5 });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0].text).toBe(solo.text);
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(5);
    expect(lp.token_logprobs).toHaveLength(5);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);
    expect(lp.tokens!.join('')).toBe(r.choices[0].text);
  });

  it('streams a completion from token ids', async () => {
    const ids = model.tokenizer!.encode('The sea is', { addSpecialTokens: false });
    const stream = await client.completions.create({ model: 'tiny', prompt: ids, max_tokens: 5, temperature: 0, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe((await model.generate(ids, { maxTokens: 5 })).text);
  });

  it('echo with max_tokens 0 scores the prompt: each token given what precedes it, as tokenLogprobs does', async () => {
    const prompt = 'The sea is wide and deep';
    const r = await client.completions.create({ model: 'tiny', prompt, max_tokens: 0, echo: true, logprobs: 3 });
    const ids = model.tokenizer!.encode(prompt, { addSpecialTokens: false });
    expect(r.choices[0].text).toBe(prompt);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toMatchObject({ prompt_tokens: ids.length, completion_tokens: 0 });
    const lp = r.choices[0].logprobs!;
    expect(lp.tokens).toHaveLength(ids.length);
    expect(lp.tokens!.join('')).toBe(prompt);
    expect(lp.text_offset![0]).toBe(0);
    expect(lp.token_logprobs![0]).toBeNull();
    expect(lp.top_logprobs![0]).toBeNull();
    // The reference: the library's own scoring, one pass without a cache.
    const direct = mx.tidy(() =>
      Array.from(tokenLogprobs(model, mx.array([ids], 'int32'), { start: 1 }).logprobs.dataSync() as Float32Array),
    );
    for (const [i, v] of direct.entries()) expect(lp.token_logprobs![i + 1]).toBeCloseTo(v, 4);
    // Alternatives: three, best first, the best at least as likely as the prompt's own token.
    for (let i = 1; i < ids.length; i++) {
      const top = Object.values(lp.top_logprobs![i]!);
      expect(top.length).toBeGreaterThanOrEqual(1);
      expect(top.length).toBeLessThanOrEqual(3);
      expect([...top].sort((a, b) => b - a)).toEqual(top);
      expect(top[0]).toBeGreaterThanOrEqual(lp.token_logprobs![i]! - 1e-5);
    }
  });

  it("echo puts the prompt before each choice, whole and streamed; logprobs go on after the prompt's", async () => {
    const plain = await client.completions.create({ model: 'tiny', prompt: 'The sea is', max_tokens: 4, temperature: 0, logprobs: 1 });
    const echoed = await client.completions.create({
      model: 'tiny',
      prompt: 'The sea is',
      max_tokens: 4,
      temperature: 0,
      logprobs: 1,
      echo: true,
    });
    expect(echoed.choices[0].text).toBe(`The sea is${plain.choices[0].text}`);
    const prompt = model.tokenizer!.encode('The sea is', { addSpecialTokens: false }).length;
    const lp = echoed.choices[0].logprobs!;
    expect(lp.tokens!.slice(prompt)).toEqual(plain.choices[0].logprobs!.tokens);
    for (const [i, v] of lp.token_logprobs!.slice(prompt).entries())
      expect(v).toBeCloseTo(plain.choices[0].logprobs!.token_logprobs![i], 5);
    expect(lp.text_offset![prompt]).toBe('The sea is'.length);
    const stream = await client.completions.create({
      model: 'tiny',
      prompt: 'The sea is',
      max_tokens: 4,
      temperature: 0,
      echo: true,
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    expect(text).toBe(echoed.choices[0].text);
  });

  it('refuses max_tokens 0 without echo', async () => {
    const e = await client.completions.create({ model: 'tiny', prompt: 'The sea is', max_tokens: 0 }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.error).toMatchObject({ param: 'max_tokens' });
  });
});

describe('tool calls and reasoning', () => {
  let scripted: MlxnServer & { url: string };
  let toolClient: OpenAI;
  const tokenizer = () => model.tokenizer!;
  const ids = (s: string) => tokenizer().encode(s, { addSpecialTokens: false });

  afterAll(async () => {
    await scripted?.close();
  });

  const serve = async (text: string[]) => {
    await scripted?.close();
    scripted = await startServer({ model: scriptedModel(model, text.flatMap(ids)) });
    toolClient = new OpenAI({ baseURL: `${scripted.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  };
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Weather of a city',
        parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      },
    },
  ];

  it('answers a tool call with ids, JSON-string arguments and finish_reason "tool_calls"', async () => {
    await serve(['<tool_call>', '{"name": "get_weather", "arguments": {"city": "Paris"}}', '</tool_call>']);
    const r = await toolClient.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      temperature: 0,
    });
    const c = r.choices[0];
    expect(c.finish_reason).toBe('tool_calls');
    expect(c.message.content).toBeNull();
    expect(c.message.tool_calls).toHaveLength(1);
    const call = c.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(call.type).toBe('function');
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris' });

    // Streamed: the call arrives whole in one delta, with its index.
    const stream = await toolClient.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools,
      temperature: 0,
      stream: true,
    });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        deltas.push(...(ch.delta.tool_calls ?? []));
        finish = ch.finish_reason ?? finish;
      }
    }
    expect(finish).toBe('tool_calls');
    expect(deltas).toHaveLength(1);
    expect(deltas[0].index).toBe(0);
    expect(deltas[0].function?.name).toBe('get_weather');
    expect(JSON.parse(deltas[0].function!.arguments!)).toEqual({ city: 'Paris' });

    // The call and its result go back into the conversation.
    const followUp = await toolClient.chat.completions.create({
      model: 'tiny',
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [call] },
        { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' },
      ],
      tools,
      temperature: 0,
      max_tokens: 3,
    });
    expect(followUp.choices).toHaveLength(1);
  });

  it('returns the thinking text as reasoning_content', async () => {
    await serve(['<think>', 'Let me think', '</think>', 'Hello there']);
    const r = await toolClient.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], temperature: 0 });
    const message = r.choices[0].message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(message.reasoning_content).toBe('Let me think');
    expect(message.content).toBe('Hello there');
    expect(r.choices[0].finish_reason).toBe('stop');
    const stream = await toolClient.chat.completions.create({
      model: 'tiny',
      messages: [{ role: 'user', content: 'Hi' }],
      temperature: 0,
      stream: true,
    });
    let reasoning = '';
    let content = '';
    for await (const chunk of stream) {
      const d = chunk.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      reasoning += d?.reasoning_content ?? '';
      content += d?.content ?? '';
    }
    expect([reasoning, content]).toEqual(['Let me think', 'Hello there']);
  });
});

describe('errors', () => {
  it('raises the client error classes for 400, 404 and 422', async () => {
    await expect(client.chat.completions.create({ model: 'gpt-4o', messages })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.chat.completions.create({ model: 'tiny', messages, temperature: 5 })).rejects.toBeInstanceOf(
      OpenAI.BadRequestError,
    );
    await expect(client.chat.completions.create({ model: 'tiny', messages, max_tokens: 100_000 })).rejects.toThrow(/at most 4096/);
    const long = 'word '.repeat(5000);
    await expect(
      client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: long }], max_tokens: 5 }),
    ).rejects.toBeInstanceOf(OpenAI.UnprocessableEntityError);
    await expect(
      client.chat.completions.create({
        model: 'tiny',
        messages,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nope' } } },
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    const e = await client.chat.completions.create({ model: 'tiny', messages, top_p: 0 }).catch((x) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e.error).toMatchObject({ type: 'invalid_request_error', param: 'top_p' });
  });

  it('refuses requests without the API key (401) and serves those with it', async () => {
    const guarded = await startServer({ model, apiKey: 'sesame' });
    try {
      const wrong = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      await expect(wrong.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
      const right = new OpenAI({ baseURL: `${guarded.url}/v1`, apiKey: 'sesame', maxRetries: 0 });
      expect((await right.chat.completions.create({ model: 'tiny', messages, max_tokens: 2 })).choices).toHaveLength(1);
    } finally {
      await guarded.close();
    }
  });

  it('answers 429 when the queue is full, without disturbing the requests in flight', async () => {
    const small = await startServer({ model, maxBatchSize: 1, maxQueue: 1 });
    try {
      const c = new OpenAI({ baseURL: `${small.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const running = c.chat.completions.create({ model: 'tiny', messages, max_tokens: 100, temperature: 0 });
      const waiting = c.chat.completions.create({ model: 'tiny', messages, max_tokens: 100, temperature: 0 });
      // Until the server reports one request running and one waiting (a fixed sleep was too long
      // on a GPU, where both had finished before it ended).
      for (;;) {
        const h = (await (await fetch(`${small.url}/health`)).json()) as { running: number; waiting: number };
        if (h.running === 1 && h.waiting === 1) break;
        await new Promise((r) => setTimeout(r, 1));
      }
      const busy = await c.chat.completions.create({ model: 'tiny', messages, max_tokens: 3 }).catch((e) => e);
      expect(busy).toBeInstanceOf(OpenAI.RateLimitError);
      expect(busy.headers.get('retry-after')).toBe('1');
      expect(busy.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
      const [a, b] = await Promise.all([running, waiting]);
      expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
      expect(a.usage!.completion_tokens).toBe(100);
    } finally {
      await small.close();
    }
  });
});
