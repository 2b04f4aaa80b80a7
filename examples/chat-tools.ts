// Chat with tool calls: tools described by JSON schema, `model.chat(messages, { tools })`, the
// reply's `toolCalls` run as JavaScript functions, their results sent back as `tool` messages,
// and the chat continued until the model answers in text.
// Run: pnpm exec tsx chat-tools.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R] [--prompt "..."] [--scripted]
//
// With a real Qwen3 folder the model decides by itself whether and how to call the tools. The
// tiny random model used without a folder never emits a tool call (its replies are noise), so
// there the assistant's turns are scripted (also with --scripted): a logits processor makes the
// model emit exactly the tokens a Qwen3 writes for a tool call. Everything else is the real
// pipeline: the chat template listing the tools, generation up to <|im_end|>, the streaming
// detokenizer, the parser that turns `<tool_call>` JSON into `toolCalls`, and the tool results
// going back through the template.
import { parseArgs } from 'node:util';
import * as mx from '@mlxn/core';
import type { ChatMessage } from '@mlxn/io';
import { encodePrompt, parseReply, Qwen3, type ToolCall } from '@mlxn/models-qwen3';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    revision: { type: 'string' },
    prompt: { type: 'string', default: 'What is the weather in Paris and in Tokyo right now?' },
    scripted: { type: 'boolean', default: false },
  },
});
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const scripted = values.scripted || values.model === undefined;

// The tools as the model sees them (OpenAI-style function definitions with a JSON schema) ...
const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'The current weather of a city',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string', description: 'City name, e.g. Paris' },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['city'],
      },
    },
  },
];
// ... and what runs when it calls them. Demo data stands in for a weather service.
const weatherByCity: Record<string, { celsius: number; sky: string }> = {
  paris: { celsius: 18, sky: 'sunny' },
  tokyo: { celsius: 24, sky: 'light rain' },
};
const implementations: Record<string, (args: Record<string, unknown>) => Promise<unknown>> = {
  async get_weather({ city, unit = 'celsius' }) {
    if (typeof city !== 'string') throw new Error('city must be a string');
    const w = weatherByCity[city.toLowerCase()];
    if (w === undefined) throw new Error(`no weather for ${city}`);
    const temperature = unit === 'fahrenheit' ? Math.round((w.celsius * 9) / 5 + 32) : w.celsius;
    return { city, temperature, unit, sky: w.sky };
  },
};

async function runTool(call: ToolCall): Promise<unknown> {
  const fn = implementations[call.name];
  if (fn === undefined) return { error: `unknown tool ${call.name}` };
  try {
    return await fn(call.arguments);
  } catch (e) {
    // The model gets the error as the tool's result and can correct itself.
    return { error: (e as Error).message };
  }
}

const model = await Qwen3.load(folder, loadOptions);
if (model.tokenizer === undefined) throw new Error(`${folder} has no tokenizer.json: chat needs one`);
const tokenizer = model.tokenizer;
const chatOptions = { tools, enableThinking: false } as const;
console.log(`model: ${folder}${scripted ? ' (assistant turns scripted)' : ''}`);

// How the template presents the tools to the model: a <tools> block in the system turn.
const firstPrompt = encodePrompt(model, [{ role: 'user', content: values.prompt }], chatOptions, 'chat-tools').text ?? '';
const toolsBlock = /<tools>\n[\s\S]*?\n<\/tools>/.exec(firstPrompt)?.[0];
console.log(`the prompt lists the tools:\n${toolsBlock}`);

/** What a tool-using Qwen3 says next: tool calls first, then an answer built from their results. */
function scriptedReply(messages: readonly ChatMessage[]): string {
  const results = messages
    .filter((m) => m.role === 'tool')
    .map((m) => JSON.parse(m.content) as { city: string; temperature: number; sky: string });
  if (results.length === 0) {
    return ['Paris', 'Tokyo']
      .map((city) => `<tool_call>\n${JSON.stringify({ name: 'get_weather', arguments: { city } })}\n</tool_call>`)
      .join('\n');
  }
  return results.map((r) => `In ${r.city} it is ${r.temperature} °C with ${r.sky}.`).join(' ');
}

/** A logits processor that leaves the model only one choice per step: the next token of `script`. */
function forceTokens(script: readonly number[], promptLength: number) {
  const vocab = model.config.vocabSize;
  return (history: mx.Array, logits: mx.Array): mx.Array => {
    const position = Math.min(history.shape[history.ndim - 1] - promptLength, script.length - 1);
    return mx.broadcastTo(mx.where(mx.equal(mx.arange(vocab), script[position]), 0, -Infinity), logits.shape);
  };
}

const messages: ChatMessage[] = [{ role: 'user', content: values.prompt }];
console.log(`user: ${values.prompt}`);
let answered = false;
for (let round = 1; round <= 4 && !answered; round++) {
  let extra = {};
  if (scripted) {
    const script = [...tokenizer.encode(scriptedReply(messages), { addSpecialTokens: false }), model.eosTokenIds[0]];
    const promptLength = encodePrompt(model, messages, chatOptions, 'chat-tools').tokens.length;
    extra = { logitsProcessors: [forceTokens(script, promptLength)], maxTokens: script.length };
  }
  const reply = await model.chat(messages, { ...chatOptions, maxTokens: 512, ...extra });
  if (reply.text.trim() !== '') console.log(`assistant: ${reply.text.trim()}`);
  for (const call of reply.toolCalls) console.log(`tool call: ${call.name}(${JSON.stringify(call.arguments)})`);
  for (const bad of reply.invalidToolCalls) console.log(`invalid tool call: ${bad.error}`);
  if (reply.toolCalls.length === 0 && reply.invalidToolCalls.length === 0) {
    answered = true;
    console.log(`[finish: ${reply.finishReason} after ${round} round${round === 1 ? '' : 's'}]`);
    break;
  }
  // The assistant turn goes back with its tool calls (the template re-renders them), then one
  // `tool` message per call, in order; a malformed call gets an error the model can act on.
  messages.push({
    role: 'assistant',
    content: reply.text,
    tool_calls: reply.toolCalls.map((c) => ({ type: 'function', function: { name: c.name, arguments: c.arguments } })),
  });
  for (const call of reply.toolCalls) {
    const result = await runTool(call);
    console.log(`tool result: ${JSON.stringify(result)}`);
    messages.push({ role: 'tool', content: JSON.stringify(result) });
  }
  for (const bad of reply.invalidToolCalls)
    messages.push({ role: 'tool', content: JSON.stringify({ error: `invalid tool call: ${bad.error}` }) });
}
if (!answered) console.log('[no final answer after 4 rounds]');

// The results reach the model as <tool_response> blocks in a user turn.
const lastPrompt = encodePrompt(model, messages, chatOptions, 'chat-tools').text ?? '';
const responses = lastPrompt.match(/<tool_response>[\s\S]*?<\/tool_response>/g) ?? [];
console.log(`tool responses in the final prompt: ${responses.length}`);

// The same parser works on any Qwen3 reply text, and reports malformed calls instead of dropping them.
const parsed = parseReply('<tool_call>\n{"name": "get_weather", "arguments": {"city": Paris}}\n</tool_call>');
console.log(`parseReply of a malformed call: ${parsed.toolCalls.length} tool calls, invalid: ${parsed.invalidToolCalls[0]?.error}`);
