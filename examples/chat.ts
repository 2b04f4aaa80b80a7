// Streams a chat with a Qwen3 model: reasoning, answer and tool calls as they arrive.
// Run: pnpm exec tsx chat.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R] [--prompt "your question"] [--max-tokens N]
// Without a folder it uses a tiny random Qwen3 with the real tokenizer (its replies are noise).
import { parseArgs } from 'node:util';
import { Qwen3 } from '@mlxn/models-qwen3';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    revision: { type: 'string' },
    prompt: { type: 'string', default: 'What is the weather like in Paris today?' },
    'max-tokens': { type: 'string', default: '256' },
  },
});
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const question = values.prompt;
const maxTokens = Number(values['max-tokens']);

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The current weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

const model = await Qwen3.load(folder, loadOptions);
console.log(`model: ${folder} (${model.config.numHiddenLayers} layers, vocabulary ${model.config.vocabSize})`);
console.log(`user: ${question}`);

// Ctrl-C stops generation cleanly (finish reason 'abort') instead of killing the process.
const abort = new AbortController();
process.once('SIGINT', () => abort.abort());

let section = '';
const show = (name: string, text: string) => {
  if (section !== name) process.stdout.write(`\n${name}: `);
  section = name;
  process.stdout.write(text);
};
for await (const part of model.chatStream([{ role: 'user', content: question }], {
  tools: [weatherTool],
  maxTokens,
  signal: abort.signal,
})) {
  if (part.type === 'reasoning') show('thinking', part.text);
  else if (part.type === 'text') show('assistant', part.text);
  else if (part.type === 'toolCall') show('tool call', `${part.toolCall.name}(${JSON.stringify(part.toolCall.arguments)})`);
  else if (part.type === 'invalidToolCall') show('invalid tool call', `${part.invalidToolCall.error}: ${part.invalidToolCall.raw}`);
  else {
    const { finishReason, usage, tokensPerSec } = part;
    console.log(`\n[finish: ${finishReason}, ${usage.completionTokens} tokens, ${tokensPerSec.toFixed(1)} tokens/s]`);
  }
}
