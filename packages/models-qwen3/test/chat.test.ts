// Chat: the reply parser (crates/mlxn-qwen3/src/reply.rs) through its bindings, and chat /
// chatStream end to end with the real Qwen3 chat template and scripted replies.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ChatPart } from '../src/lm/chat.js';
import type { ReplyPart } from '../src/lm/reply-format.js';
import type { Qwen3 } from '../src/model.js';
import { parseReply, promptOpensThinking, ReplyParser } from '../src/reply.js';
import { scripted, tinyQwen3 } from './generate-helpers.js';

const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

const REPLY =
  '<think>\nThe user wants the weather.\n</think>\n\nLet me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>';

let model: Qwen3;
beforeAll(() => {
  model = tinyQwen3();
});

/** Chat options that make the model say `reply` (then end with <|im_end|>) after `messages`. */
function saying(reply: string, messages: { role: string; content: string }[], extra: Record<string, unknown> = {}) {
  const tok = model.tokenizer!;
  const prompt = tok.applyChatTemplate(messages, {
    addGenerationPrompt: true,
    tokenize: true,
    tools: extra.tools as unknown[] | undefined,
    enableThinking: extra.enableThinking as boolean | undefined,
  });
  const script = [...tok.encode(reply, { addSpecialTokens: false }), model.eosTokenIds[0]];
  return { ...extra, maxTokens: 200, logitsProcessors: [scripted(script, prompt.length)] };
}

describe('reply parser', () => {
  it('splits reasoning, text and tool calls', () => {
    expect(parseReply(REPLY)).toEqual({
      text: 'Let me check.',
      reasoning: 'The user wants the weather.',
      toolCalls: [
        { name: 'get_weather', arguments: { city: 'Paris' }, raw: '\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n' },
      ],
      invalidToolCalls: [],
    });
    expect(parseReply('plain')).toEqual({ text: 'plain', reasoning: null, toolCalls: [], invalidToolCalls: [] });
    expect(parseReply('still thinking</think>answer', { startInReasoning: true })).toMatchObject({
      reasoning: 'still thinking',
      text: 'answer',
    });
  });

  it('reports malformed calls with the raw text and the JSON error', () => {
    const r = parseReply('<tool_call>{"name": "f", "arguments": {"a": }}</tool_call><tool_call>{"name": "g"');
    expect(r.toolCalls).toEqual([]);
    expect(r.invalidToolCalls).toHaveLength(2);
    expect(r.invalidToolCalls[0].raw).toBe('{"name": "f", "arguments": {"a": }}');
    expect(r.invalidToolCalls[0].error).toMatch(/^the tool call is not valid JSON: expected value at line 1 column 34/);
    expect(r.invalidToolCalls[1]).toEqual({
      raw: '{"name": "g"',
      error: 'the tool call was not closed with </tool_call> before the reply ended',
    });
  });

  it('streams the same parts whatever the cut', () => {
    const whole = parseReply(REPLY);
    for (let step = 1; step <= 7; step++) {
      const p = new ReplyParser();
      const parts: ReplyPart[] = [];
      for (let i = 0; i < REPLY.length; i += step) parts.push(...p.push(REPLY.slice(i, i + step)));
      parts.push(...p.finish());
      const text = parts
        .filter((x) => x.type === 'text')
        .map((x) => (x as { text: string }).text)
        .join('');
      const reasoning = parts
        .filter((x) => x.type === 'reasoning')
        .map((x) => (x as { text: string }).text)
        .join('');
      expect({ text, reasoning }).toEqual({ text: whole.text, reasoning: whole.reasoning });
      expect(parts.filter((x) => x.type === 'toolCall')).toEqual([{ type: 'toolCall', toolCall: whole.toolCalls[0] }]);
      // Parts come in reply order: reasoning first, the tool call last.
      expect(parts[0].type).toBe('reasoning');
      expect(parts.at(-1)!.type).toBe('toolCall');
    }
    const p = new ReplyParser();
    p.finish();
    expect(() => p.push('x')).toThrow(/push after finish/);
  });

  it('knows when a rendered prompt opened a think block', () => {
    expect(promptOpensThinking('<|im_start|>assistant\n<think>\n')).toBe(true);
    expect(promptOpensThinking('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(false);
    expect(promptOpensThinking('<|im_start|>assistant\n')).toBe(false);
  });
});

describe('chat', () => {
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];

  it('returns text, reasoning and tool calls of the reply', async () => {
    const r = await model.chat(messages, saying(REPLY, messages, { tools: [WEATHER_TOOL] }));
    expect(r).toMatchObject({
      text: 'Let me check.',
      reasoning: 'The user wants the weather.',
      toolCalls: [{ name: 'get_weather', arguments: { city: 'Paris' } }],
      invalidToolCalls: [],
      finishReason: 'stop',
    });
    // OpenAI's shape too: an id and JSON-string arguments, ready for the next request.
    expect(r.toolCalls[0]).toMatchObject({ type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
    expect(r.toolCalls[0].id).toMatch(/^call_[0-9a-f]{24}$/);
    const again = await model.chat(messages, saying(REPLY, messages, { tools: [WEATHER_TOOL] }));
    expect(again.toolCalls[0].id).not.toBe(r.toolCalls[0].id);
    const rendered = model.tokenizer!.applyChatTemplate(messages, { addGenerationPrompt: true, tokenize: true, tools: [WEATHER_TOOL] });
    expect(r.usage.promptTokens).toBe(rendered.length);
    expect(r.usage.completionTokens).toBe(model.tokenizer!.encode(REPLY, { addSpecialTokens: false }).length + 1);
  });

  it('streams parts as they arrive, ending with done', async () => {
    const parts: ChatPart[] = [];
    for await (const part of model.chatStream(messages, saying(REPLY, messages, { tools: [WEATHER_TOOL] }))) parts.push(part);
    const types = parts.map((p) => p.type);
    expect(types.at(-1)).toBe('done');
    expect(types.at(-2)).toBe('toolCall');
    const call = parts.at(-2) as Extract<ChatPart, { type: 'toolCall' }>;
    expect(call.toolCall.id).toMatch(/^call_[0-9a-f]{24}$/);
    expect(JSON.parse(call.toolCall.function.arguments)).toEqual({ city: 'Paris' });
    expect(types.filter((t) => t === 'reasoning').length).toBeGreaterThan(1); // token by token
    expect(types.indexOf('text')).toBeGreaterThan(types.lastIndexOf('reasoning'));
    expect(parts.at(-1)).toMatchObject({ type: 'done', finishReason: 'stop' });
  });

  it('reports a malformed tool call instead of dropping it', async () => {
    const bad = '<tool_call>\n{"name": "get_weather", "arguments": {"city": Paris}}\n</tool_call>';
    const r = await model.chat(messages, saying(bad, messages, { tools: [WEATHER_TOOL], enableThinking: false }));
    expect(r.toolCalls).toEqual([]);
    expect(r.invalidToolCalls).toHaveLength(1);
    expect(r.invalidToolCalls[0].raw).toContain('"city": Paris');
    expect(r.invalidToolCalls[0].error).toMatch(/not valid JSON/);
    // enableThinking: false closes the think block in the prompt, so the reply has none.
    expect(r.reasoning).toBeNull();
  });

  it('a reply cut by maxTokens keeps what it has and reports an unclosed call', async () => {
    const opts = saying(REPLY, messages, { tools: [WEATHER_TOOL] });
    const cut = model.tokenizer!.encode(REPLY.slice(0, REPLY.indexOf('Paris')), { addSpecialTokens: false }).length;
    const r = await model.chat(messages, { ...opts, maxTokens: cut });
    expect(r.finishReason).toBe('length');
    expect(r.text).toBe('Let me check.');
    expect(r.invalidToolCalls).toHaveLength(1);
    expect(r.invalidToolCalls[0].error).toMatch(/not closed/);
  });

  it('rejects bad messages and options', async () => {
    await expect(model.chat([] as never)).rejects.toThrow(/non-empty list of messages/);
    await expect(model.chat([{ role: 1 } as never])).rejects.toThrow(/message 0 must be/);
    await expect(model.chat(messages, { tools: 'x' as never })).rejects.toThrow(/tools must be a list/);
    expect(() => model.chatStream(messages, { enableThinking: 'yes' as never })).toThrow(/enableThinking must be a boolean/);
  });
});
