// Structured output in the library's own chat API: `responseFormat` and a forced `toolChoice`
// constrain the reply (llguidance masks, applied by generate.ts's hook). The tiny model's free
// output is random tokens, so a reply that parses and matches the schema is the constraint's.
import { beforeAll, describe, expect, it } from 'vitest';
import { standardSchema } from '../src/lm/structured.js';
import type { Qwen3 } from '../src/model.js';
import { toolCallGrammar } from '../src/qwen3-chat.js';
import { scripted, tinyQwen3 } from './generate-helpers.js';

let model: Qwen3;
beforeAll(() => {
  model = tinyQwen3();
});

const messages = [{ role: 'user', content: 'A status report as JSON' }];
const status = {
  type: 'object',
  properties: {
    level: { enum: ['low', 'high'] },
    count: { type: 'integer', minimum: 0, maximum: 99 },
    ok: { type: 'boolean' },
    items: { type: 'array', items: { type: 'integer', minimum: -5, maximum: 5 }, maxItems: 2 },
  },
  required: ['level', 'count', 'ok', 'items'],
  additionalProperties: false,
};
const statusFormat = { type: 'json_schema' as const, json_schema: { name: 'status', schema: status } };
/** The greedy answer of the first test, which the streamed one must equal. */
let greedy = '';

function expectStatus(text: string): void {
  const v = JSON.parse(text) as Record<string, unknown>;
  expect(Object.keys(v)).toEqual(['level', 'count', 'ok', 'items']);
  expect(['low', 'high']).toContain(v.level);
  expect(Number.isInteger(v.count) && (v.count as number) >= 0 && (v.count as number) <= 99).toBe(true);
  expect(typeof v.ok).toBe('boolean');
  expect(Array.isArray(v.items) && (v.items as unknown[]).length <= 2 && (v.items as unknown[]).every((x) => typeof x === 'number')).toBe(
    true,
  );
}

describe('chat with responseFormat', () => {
  it('answers JSON valid against the schema, where free output is not JSON', async () => {
    const free = await model.chat(messages, { maxTokens: 40, enableThinking: false });
    expect(() => JSON.parse(free.text)).toThrow();
    const r = await model.chat(messages, { maxTokens: 120, enableThinking: false, responseFormat: statusFormat });
    expect(r.finishReason).toBe('stop');
    expectStatus(r.text);
    greedy = r.text;
    const sampled = await model.chat(messages, {
      maxTokens: 120,
      enableThinking: false,
      temperature: 1,
      seed: 4,
      responseFormat: statusFormat,
    });
    expect(sampled.finishReason).toBe('stop');
    expectStatus(sampled.text);
  });

  it('streams the same answer as parts', async () => {
    let text = '';
    for await (const part of model.chatStream(messages, { maxTokens: 120, enableThinking: false, responseFormat: statusFormat }))
      if (part.type === 'text') text += part.text;
    expect(text).toBe(greedy);
  });

  it('says "length" when maxTokens cuts the document', async () => {
    const r = await model.chat(messages, { maxTokens: 3, enableThinking: false, responseFormat: statusFormat });
    expect(r.finishReason).toBe('length');
  });

  it('leaves the thinking block free and constrains the answer after it', async () => {
    const tok = model.tokenizer!;
    const prompt = tok.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: true });
    // Says <think>hmm</think>, then would end: the constraint makes it answer the schema instead.
    const script = [...tok.encode('<think>hmm</think>', { addSpecialTokens: false }), model.eosTokenIds[0]];
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const r = await model.chat(messages, {
      maxTokens: 30,
      logitsProcessors: [scripted(script, prompt.length)],
      responseFormat: { type: 'json_schema', json_schema: { name: 'ok', schema } },
    });
    expect(r.reasoning).toBe('hmm');
    expect(r.finishReason).toBe('stop');
    expect(typeof (JSON.parse(r.text) as { ok: unknown }).ok).toBe('boolean');
  });

  it('rejects bad formats and conflicting options', async () => {
    await expect(
      model.chat(messages, { responseFormat: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'nope' } } } }),
    ).rejects.toThrow(/Qwen3.chat: invalid grammar/);
    await expect(model.chat(messages, { responseFormat: { type: 'json_object' }, stop: '}' })).rejects.toThrow(
      /stop strings cannot be combined/,
    );
    await expect(model.chat(messages, { responseFormat: 'json' as never })).rejects.toThrow(/responseFormat must be an object/);
    await expect(model.chat(messages, { toolChoice: 'required' })).rejects.toThrow(/needs tools/);
    await expect(model.chat(messages, { responseFormt: { type: 'json_object' } } as object)).rejects.toThrow(
      /did you mean "responseFormat"/,
    );
  });
});

describe('chat with a forced tool call', () => {
  const tools = [
    {
      type: 'function',
      function: {
        name: 'lamp',
        parameters: { type: 'object', properties: { on: { type: 'boolean' } }, required: ['on'], additionalProperties: false },
      },
    },
    {
      type: 'function',
      function: {
        name: 'dial',
        parameters: { type: 'object', properties: { level: { enum: [1, 2, 3] } }, required: ['level'], additionalProperties: false },
      },
    },
  ];

  it("calls the named tool with arguments valid against its schema, in OpenAI's shape", async () => {
    const r = await model.chat(messages, {
      maxTokens: 60,
      enableThinking: false,
      tools,
      toolChoice: { type: 'function', function: { name: 'dial' } },
      parallelToolCalls: false,
    });
    expect(r.finishReason).toBe('stop');
    expect(r.toolCalls).toHaveLength(1);
    expect(r.toolCalls[0]).toMatchObject({ name: 'dial', type: 'function', function: { name: 'dial' } });
    expect(r.toolCalls[0].id).toMatch(/^call_[0-9a-f]{24}$/);
    expect([1, 2, 3]).toContain((JSON.parse(r.toolCalls[0].function.arguments) as { level: number }).level);
  });

  it("reads OpenAPI's nullable as JSON Schema does not (the openai client's zod helper writes it)", () => {
    expect(
      standardSchema({
        type: 'object',
        properties: {
          a: { type: 'string', nullable: true },
          b: { enum: ['x'], nullable: true },
          c: { type: ['integer'], nullable: true },
          d: { type: 'number', nullable: false },
        },
      }),
    ).toEqual({
      type: 'object',
      properties: { a: { type: ['string', 'null'] }, b: { enum: ['x', null] }, c: { type: ['integer', 'null'] }, d: { type: 'number' } },
    });
  });

  it("resolves each tool's own $defs (as pydantic and zod write them), with no clash between tools", async () => {
    // Both tools name a definition `Level`; each must keep its own.
    const withDefs = (name: string, levels: number[]) => ({
      type: 'function',
      function: {
        name,
        parameters: {
          $defs: { Level: { enum: levels }, 'a/b': { type: 'boolean' } },
          type: 'object',
          properties: { level: { $ref: '#/$defs/Level' }, flag: { $ref: '#/$defs/a~1b' } },
          required: ['level', 'flag'],
          additionalProperties: false,
        },
      },
    });
    const defTools = [withDefs('low', [1, 2]), withDefs('high', [8, 9])];
    const grammar = toolCallGrammar(defTools, 'required', false);
    expect(grammar).toContain('"$ref":"#/$defs/tool0.def0"');
    expect(grammar).toContain('"$ref":"#/$defs/tool1.def1"');
    for (const toolChoice of [
      { type: 'function', function: { name: 'low' } },
      { type: 'function', function: { name: 'high' } },
      'required',
    ] as const) {
      const r = await model.chat(messages, { maxTokens: 60, enableThinking: false, tools: defTools, toolChoice, parallelToolCalls: false });
      expect(r.toolCalls).toHaveLength(1);
      const call = r.toolCalls[0].function;
      if (typeof toolChoice === 'object') expect(call.name).toBe(toolChoice.function.name);
      const args = JSON.parse(call.arguments) as { level: number; flag: boolean };
      expect(call.name === 'low' ? [1, 2] : [8, 9]).toContain(args.level);
      expect(typeof args.flag).toBe('boolean');
    }
    // References outside the parameters' definitions would resolve against the combined schema.
    const refTo = (ref: string) => [
      {
        type: 'function',
        function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' }, b: { $ref: ref } } } },
      },
    ];
    expect(() => toolCallGrammar(refTo('#/properties/a'), 'required', true)).toThrow(/\$ref "#\/properties\/a"/);
    expect(() => toolCallGrammar(refTo('#'), 'required', true)).toThrow(/own \$defs or definitions/);
    expect(() => toolCallGrammar(refTo('other.json#/$defs/x'), 'required', true)).toThrow(/own \$defs or definitions/);
    expect(() => toolCallGrammar(refTo('#/$defs/missing'), 'required', true)).toThrow(/names no definition/);
  });

  it('keeps a property named __proto__ a property', () => {
    const schema = JSON.parse('{"type":"object","properties":{"__proto__":{"type":"integer","nullable":true}}}') as unknown;
    const out = standardSchema(schema) as { properties: Record<string, unknown> };
    expect(Object.getPrototypeOf(out.properties)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out.properties, '__proto__')?.value).toEqual({ type: ['integer', 'null'] });
  });

  it("builds Qwen3's tool-call format as a grammar", () => {
    const g = toolCallGrammar(tools, 'required', true);
    expect(g).toContain('start: call ("\\n" call)*');
    expect(g).toContain('"<tool_call>\\n" %json');
    expect(() => toolCallGrammar(tools, { type: 'function', function: { name: 'nope' } }, true)).toThrow(
      /"nope", which is not among the tools/,
    );
  });
});
