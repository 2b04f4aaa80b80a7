// Batched generation: prompts of different lengths decoded together, one forward pass per step
// for the whole batch, each row with its own token budget and stop strings. With more prompts
// than `maxBatchSize`, waiting prompts join as rows finish (continuous batching). Greedy batch
// output is checked against generating each prompt on its own.
// Run: pnpm exec tsx batch-generation.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R]
// Without a folder it uses a tiny random Qwen3 with the real tokenizer: its text is noise, and it
// never ends a reply by itself, so the rows stop on their budgets and on a stop string.
import { parseArgs } from 'node:util';
import { Qwen3 } from '@mlxn/models-qwen3';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({ options: { model: { type: 'string' }, revision: { type: 'string' } } });
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const model = await Qwen3.load(folder, loadOptions);
if (model.tokenizer === undefined) throw new Error(`${folder} has no tokenizer.json: this example needs text prompts`);

// Plain-text prompts (a chat prompt, [{ role, content }], works the same way).
const prompts: { prompt: string; maxTokens: number; stop?: string }[] = [
  { prompt: 'Hi', maxTokens: 6 },
  { prompt: 'Write a haiku about the sea at night, with waves and a lighthouse.', maxTokens: 12 },
  { prompt: 'List the planets of the solar system in order from the sun, and say one fact about each of them.', maxTokens: 20, stop: '.' },
  { prompt: 'What is 12 times 7?', maxTokens: 16 },
];
const maxBatchSize = 3;

const results = await model.batchGenerate(prompts, { maxBatchSize, logprobs: true });
console.log(`model: ${folder}`);
console.log(`${prompts.length} prompts, at most ${maxBatchSize} decoded together`);
let allEqual = true;
let maxGap = 0;
for (const [i, { prompt, maxTokens, stop }] of prompts.entries()) {
  const r = results[i];
  // The same prompt alone, with the same budget and stop string.
  const single = await model.generate(prompt, { maxTokens, logprobs: true, ...(stop === undefined ? {} : { stop }) });
  const same =
    r.finishReason === single.finishReason &&
    r.text === single.text &&
    r.tokens.length === single.tokens.length &&
    r.tokens.every((t, j) => t === single.tokens[j]);
  // Left padding changes how the batch is laid out, not what each row computes.
  const { logprobs: batchLogprobs } = r;
  const { logprobs: aloneLogprobs } = single;
  if (batchLogprobs === undefined || aloneLogprobs === undefined) throw new Error('generation was asked for log-probabilities');
  const gap = Math.max(0, ...batchLogprobs.map((l, j) => Math.abs(l - aloneLogprobs[j])));
  allEqual &&= same;
  maxGap = Math.max(maxGap, gap);
  console.log(
    `row ${i}: ${r.usage.promptTokens} prompt tokens, maxTokens ${maxTokens}${stop === undefined ? '' : `, stop ${JSON.stringify(stop)}`}`,
  );
  console.log(`  finish: ${r.finishReason}, ${r.tokens.length} tokens, same as alone: ${same}`);
  console.log(`  text: ${JSON.stringify(r.text)}`);
}
const s = results.stats;
console.log(`decoding steps: ${s.steps} for ${s.generationTokens} generated tokens`);
console.log(`all rows equal one-by-one generation: ${allEqual}; largest log-probability difference: ${maxGap.toExponential(2)}`);
