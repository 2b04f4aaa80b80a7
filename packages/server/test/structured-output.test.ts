// Structured output through the official `openai` client: `response_format` json_schema and
// json_object, `tool_choice` required and named, answered by constrained decoding. The tiny
// model has random weights, so its free output is never JSON (a test below shows it): every
// reply validating against its schema (checked with ajv, a real JSON-Schema validator) is the
// constraint's doing, and these tests fail when the mask is not applied.

import { type Qwen3, resolveGenerateOptions, type TokenMaskHook } from '@mlxn/models-qwen3';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type MlxnServer, type RowEvent, Scheduler } from '../src/index.js';
import { rawRequest, scriptedModel, startServer, tinyModel } from './helpers.js';

let model: Qwen3;
let server: MlxnServer & { url: string };
let client: OpenAI;
const ajv = new Ajv({ strict: false });
const messages = [{ role: 'user' as const, content: 'Describe a person as JSON' }];
// No thinking block: the template closes it in the prompt, so the answer starts at once.
const noThinking = { chat_template_kwargs: { enable_thinking: false } } as Record<string, unknown>;

/** A chat completion of `messages` without thinking; `settings` add to the request or override it. */
type Settings = Partial<OpenAI.ChatCompletionCreateParamsNonStreaming>;
const ask = (settings: Settings) => client.chat.completions.create({ model: 'tiny', messages, ...noThinking, ...settings });
/** The same, streamed. */
const askStream = (settings: Settings) =>
  client.chat.completions.create({ model: 'tiny', messages, ...noThinking, ...settings, stream: true });

/** Nested objects, arrays, enums, required fields, numbers and strings (random ones hold escapes). */
const person = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 24 },
    age: { type: 'integer', minimum: 0, maximum: 150 },
    height: { type: 'number' },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
    address: {
      type: 'object',
      properties: { city: { type: 'string', maxLength: 16 }, zip: { type: 'string', pattern: '^[0-9]{5}$' } },
      required: ['city', 'zip'],
      additionalProperties: false,
    },
  },
  required: ['name', 'age', 'height', 'role', 'tags', 'address'],
  additionalProperties: false,
};
const personFormat = { type: 'json_schema' as const, json_schema: { name: 'person', schema: person, strict: true } };
/** A short document, where the test is about something else than the schema. */
const flag = {
  type: 'object',
  properties: { level: { enum: ['low', 'high'] }, ok: { type: 'boolean' } },
  required: ['level', 'ok'],
  additionalProperties: false,
};
const flagFormat = { type: 'json_schema' as const, json_schema: { name: 'flag', schema: flag } };

function expectValid(text: string | null | undefined, schema: object): unknown {
  expect(typeof text).toBe('string');
  const value = JSON.parse(text!);
  const validate = ajv.compile(schema);
  expect(validate(value), JSON.stringify(validate.errors)).toBe(true);
  return value;
}

beforeAll(async () => {
  model = tinyModel();
  server = await startServer({ model });
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 60_000 });
});

afterAll(async () => {
  await server?.close();
});

describe('response_format', () => {
  it('the free output of the random model is not JSON (so validity below is the constraint)', async () => {
    const r = await ask({ max_tokens: 60, temperature: 0 });
    expect(() => JSON.parse(r.choices[0].message.content ?? '')).toThrow();
  });

  it('json_schema: every choice is valid against the schema, greedy and sampled', async () => {
    const greedy = await ask({ max_tokens: 200, temperature: 0, response_format: personFormat });
    expect(greedy.choices[0].finish_reason).toBe('stop');
    expectValid(greedy.choices[0].message.content, person);
    const sampled = await ask({ max_tokens: 200, temperature: 1, seed: 7, n: 2, response_format: personFormat });
    expect(sampled.choices).toHaveLength(2);
    for (const c of sampled.choices) {
      expect(c.finish_reason).toBe('stop');
      expectValid(c.message.content, person);
    }
  });

  it('json_schema streamed: the deltas join into a valid document', async () => {
    const stream = await askStream({ max_tokens: 200, temperature: 1, seed: 11, response_format: personFormat });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text += c.delta.content ?? '';
        finish = c.finish_reason ?? finish;
      }
    }
    expect(finish).toBe('stop');
    expectValid(text, person);
  });

  it('json_object: a JSON object, streamed or not; "stop" only when complete', async () => {
    // Any object may nest without end, so a random model does not always close it in time:
    // then the reply says "length".
    const r = await ask({ max_tokens: 100, temperature: 1, seed: 3, n: 2, response_format: { type: 'json_object' } });
    for (const c of r.choices) {
      if (c.finish_reason === 'stop') expectValid(c.message.content, { type: 'object' });
      else expect(c.finish_reason).toBe('length');
    }
    expect(r.choices.some((c) => c.finish_reason === 'stop')).toBe(true);
    const stream = await askStream({ max_tokens: 100, temperature: 0, response_format: { type: 'json_object' } });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expectValid(text, { type: 'object' });
  });

  it("serves the openai client's zod helper (`parse`), nullable fields included", async () => {
    const Forecast = z.object({ city: z.string().max(12), days: z.number().int().min(1).max(7), note: z.string().max(8).nullable() });
    const r = await client.chat.completions.parse({
      model: 'tiny',
      messages,
      max_tokens: 60,
      temperature: 0,
      response_format: zodResponseFormat(Forecast, 'forecast'),
      ...noThinking,
    });
    expect(r.choices[0].finish_reason).toBe('stop');
    const parsed = r.choices[0].message.parsed;
    expect(Forecast.parse(parsed)).toEqual(parsed);
  });

  it('a document cut by max_tokens ends with finish_reason "length", never "stop"', async () => {
    const r = await ask({ max_tokens: 4, temperature: 0, response_format: personFormat });
    expect(r.choices[0].finish_reason).toBe('length');
    expect(() => JSON.parse(r.choices[0].message.content ?? '')).toThrow();
  });

  it('a constrained row and free rows share the batch, each as it would run alone', async () => {
    const free: Settings[] = [
      { messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 24, temperature: 0 },
      { messages: [{ role: 'user', content: 'Name three colors' }], max_tokens: 24, temperature: 0 },
    ];
    const constrained: Settings = { max_tokens: 40, temperature: 0, response_format: flagFormat };
    const reply = async (settings: Settings) => (await ask(settings)).choices[0].message.content;
    let steps = server.stats.steps;
    const alone: Array<string | null> = [];
    for (const settings of [...free, constrained]) alone.push(await reply(settings));
    const stepsAlone = server.stats.steps - steps;
    steps = server.stats.steps;
    const together = await Promise.all([...free, constrained].map(reply));
    // Sent at once, they joined one batch: fewer steps than one after the other.
    expect(server.stats.steps - steps).toBeLessThan(stepsAlone);
    expect(together).toEqual(alone);
    expectValid(together[2], flag);
    expect(() => JSON.parse(together[0] ?? '')).toThrow();
  });

  it('the constraint applies to the answer, after the thinking block', async () => {
    const tok = model.tokenizer!;
    const ids = (s: string) => tok.encode(s, { addSpecialTokens: false });
    // Thinks, then would end at once: the constraint makes it write the document instead.
    const thinker = await startServer({ model: scriptedModel(model, ['<think>', 'Let me think', '</think>'].flatMap(ids)) });
    try {
      const c = new OpenAI({ baseURL: `${thinker.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
      const r = await c.chat.completions.create({
        model: 'tiny',
        messages,
        max_tokens: 40,
        temperature: 0,
        response_format: { type: 'json_schema', json_schema: { name: 'ok', schema } },
      });
      const message = r.choices[0].message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
      expect(message.reasoning_content).toBe('Let me think');
      expect(r.choices[0].finish_reason).toBe('stop');
      expectValid(message.content, schema);
    } finally {
      await thinker.close();
    }
  });
});

describe('constraint lifetime', () => {
  it("a row's constraint advances with its tokens and is freed when it finishes or its client leaves", async () => {
    const scheduler = new Scheduler(model, { prefixCache: false });
    const prompt = model.tokenizer!.encode('Hello there', { addSpecialTokens: false });
    const hooks = [0, 1].map(() => {
      const seen = { accepted: [] as number[], masks: 0, disposed: 0 };
      const hook: TokenMaskHook = {
        mask: () => {
          seen.masks++;
          return null;
        },
        accept: (t) => void seen.accepted.push(t),
        dispose: () => void seen.disposed++,
      };
      return { hook, seen };
    });
    const leaving = new AbortController();
    const tokens: number[][] = [[], []];
    const done = [0, 1].map(
      (i) =>
        new Promise<void>((resolve) => {
          const plan = resolveGenerateOptions({ maxTokens: i === 0 ? 5 : 50 }, model.config.vocabSize, 'test');
          plan.tokenMask = hooks[i].hook;
          const onEvent = (e: RowEvent) => {
            if (e.type === 'token') tokens[i].push(e.token);
            if (i === 1 && tokens[1].length === 3) leaving.abort();
            if (e.type !== 'token') resolve();
          };
          scheduler.submit([{ prompt, plan, topLogprobs: 0, signal: i === 1 ? leaving.signal : undefined, onEvent }]);
        }),
    );
    await Promise.all(done);
    await scheduler.close();
    // The finished row: every token accepted, one mask per step, freed once.
    expect(hooks[0].seen).toEqual({ accepted: tokens[0], masks: 5, disposed: 1 });
    // The row whose client left: freed once, nothing accepted after it left.
    expect(hooks[1].seen.disposed).toBe(1);
    expect(hooks[1].seen.accepted).toEqual(tokens[1]);
    expect(tokens[1].length).toBeLessThan(50);
  });
});

describe('tool_choice', () => {
  const weather = {
    type: 'object',
    properties: { city: { type: 'string', maxLength: 20 }, unit: { enum: ['C', 'F'] } },
    required: ['city', 'unit'],
    additionalProperties: false,
  };
  const time = { type: 'object', properties: { zone: { enum: ['UTC', 'CET'] } }, required: ['zone'], additionalProperties: false };
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', parameters: weather } },
    { type: 'function', function: { name: 'get_time', parameters: time } },
  ];
  const schemas: Record<string, object> = { get_weather: weather, get_time: time };

  it('"required" answers with valid tool calls and finish_reason "tool_calls"', async () => {
    const r = await ask({ tools, tool_choice: 'required', max_tokens: 120, temperature: 1, seed: 5 });
    const c = r.choices[0];
    expect(c.finish_reason).toBe('tool_calls');
    expect(c.message.tool_calls!.length).toBeGreaterThan(0);
    for (const call of c.message.tool_calls! as OpenAI.ChatCompletionMessageFunctionToolCall[]) {
      expect(call.id).toMatch(/^call_[0-9a-f]{24}$/);
      expectValid(call.function.arguments, schemas[call.function.name]);
    }
  });

  it('a named function is the one called (streamed too), once without parallel calls', async () => {
    const choice = { type: 'function' as const, function: { name: 'get_time' } };
    const r = await ask({ tools, tool_choice: choice, parallel_tool_calls: false, max_tokens: 120, temperature: 0 });
    const calls = r.choices[0].message.tool_calls as OpenAI.ChatCompletionMessageFunctionToolCall[];
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    expect(calls).toHaveLength(1);
    expect(calls[0].function.name).toBe('get_time');
    expectValid(calls[0].function.arguments, time);
    const stream = await askStream({ tools, tool_choice: choice, parallel_tool_calls: false, max_tokens: 120, temperature: 0 });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    for await (const chunk of stream) deltas.push(...(chunk.choices[0]?.delta.tool_calls ?? []));
    expect(deltas.map((d) => d.function?.name)).toEqual(['get_time']);
    expect(deltas[0].function!.arguments).toBe(calls[0].function.arguments);
  });
});

describe('bad and hostile schemas', () => {
  const bad = (body: Record<string, unknown>) =>
    client.chat.completions.create({ model: 'tiny', messages, max_tokens: 5, ...body } as never).catch((e: unknown) => e);

  it("answers 400 in OpenAI's shape, naming the parameter", async () => {
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nope' } } } }, 'response_format', /nope|type/i],
      [
        {
          response_format: {
            type: 'json_schema',
            json_schema: { name: 'x', schema: { allOf: [{ type: 'string' }, { type: 'integer' }] } },
          },
        },
        'response_format',
        /Unsatisfiable/,
      ],
      [
        { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { $ref: '#/$defs/missing' } } } },
        'response_format',
        /missing|ref/i,
      ],
      [
        { response_format: { type: 'json_schema', json_schema: { name: 'bad name!', schema: { type: 'object' } } } },
        'response_format',
        /name/,
      ],
      [
        { response_format: { type: 'json_schema', json_schema: { schema: { type: 'object' } } } },
        'response_format.json_schema.name',
        /name/,
      ],
      [{ response_format: { type: 'json_object' }, stop: ['}'] }, 'stop', /stop/],
      [{ tool_choice: 'required' }, 'tool_choice', /needs tools/],
      [
        {
          tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
          tool_choice: { type: 'function', function: { name: 'g' } },
        },
        'tool_choice',
        /"g"/,
      ],
    ];
    for (const [body, param, message] of cases) {
      const e = await bad(body);
      expect(e, JSON.stringify(body)).toBeInstanceOf(OpenAI.BadRequestError);
      expect((e as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ type: 'invalid_request_error', param });
      expect((e as Error).message).toMatch(message);
    }
  });

  it('deep nesting, huge enums and pathological patterns end with an error or a valid reply, and the server goes on', async () => {
    let deep: unknown = { type: 'string' };
    for (let i = 0; i < 100; i++) deep = { type: 'object', properties: { a: deep }, required: ['a'] };
    const nested = await bad({ response_format: { type: 'json_schema', json_schema: { name: 'deep', schema: deep } } });
    expect(nested).toBeInstanceOf(OpenAI.BadRequestError);
    expect((nested as Error).message).toMatch(/nests too deeply/);
    // 100,000 levels: refused before anything recurses over it.
    const abyss = `{"model":"tiny","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"d","schema":{"type":"object","properties":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}}}`;
    const deepRaw = await rawRequest(server.url, 'POST', '/v1/chat/completions', abyss);
    expect(deepRaw.status).toBe(400);
    expect(JSON.parse(deepRaw.body).error).toMatchObject({ param: 'response_format', message: expect.stringMatching(/nests too deeply/) });
    const huge = { enum: Array.from({ length: 100_000 }, (_, i) => `value-${i}`) };
    const tooBig = await bad({ response_format: { type: 'json_schema', json_schema: { name: 'huge', schema: huge } } });
    expect(tooBig).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooBig as Error).message).toMatch(/too big/);
    // Backtracking-prone patterns are automata to llguidance: they compile and hold.
    for (const pattern of ['^(a|aa)*(b|bb)*c{100}$', '^([a-z]{1,20}){1,20}$', '(.*a){30}']) {
      const schema = { type: 'object', properties: { s: { type: 'string', pattern } }, required: ['s'], additionalProperties: false };
      const r = await ask({ max_tokens: 30, temperature: 0, response_format: { type: 'json_schema', json_schema: { name: 'p', schema } } });
      const c = r.choices[0];
      if (c.finish_reason === 'stop') expectValid(c.message.content, schema);
      else expect(c.finish_reason).toBe('length');
    }
    const after = await ask({ max_tokens: 40, temperature: 0, response_format: flagFormat });
    expectValid(after.choices[0].message.content, flag);
  });
});
