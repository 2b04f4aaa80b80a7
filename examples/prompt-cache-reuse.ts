// Prompt-cache reuse: a long system prompt shared by many questions is run through the model
// once, its key/value cache is saved to a file, and every later question (in this process or
// another one) loads it and prefills only its own few tokens. Greedy answers are identical to
// running each full prompt from scratch.
// Run: pnpm exec tsx prompt-cache-reuse.ts [--model <folder or hub id, e.g. Qwen/Qwen3-0.6B>] [--revision R] [--max-tokens N]
// Without a folder it uses a tiny random Qwen3 with the real tokenizer (its answers are noise,
// but the token counts and the equality checks mean the same as with a real model).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Cache, loadPromptCache, makePromptCache, savePromptCache, trimPromptCache } from '@mlxn/cache';
import * as mx from '@mlxn/core';
import { encodePrompt, Qwen3 } from '@mlxn/models-qwen3';
import { tinyQwen3WithTokenizer } from '../tooling/test-support/qwen3.mjs';

const { values } = parseArgs({
  options: { model: { type: 'string' }, revision: { type: 'string' }, 'max-tokens': { type: 'string', default: '24' } },
});
const folder = values.model ?? tinyQwen3WithTokenizer();
// A hub id not in the local Hugging Face cache is downloaded into it first.
const loadOptions = values.revision === undefined ? {} : { revision: values.revision };
const maxTokens = Number(values['max-tokens']);

// A support-desk policy long enough that prefilling it dominates a short question.
const rules = [
  'Greet the customer by name when it is known.',
  'Never ask for a full card number or a password.',
  'Password resets are done from the sign-in page with the "Forgot password" link.',
  'Priority support is included in the Team and Enterprise plans only.',
  'Refunds are possible within 30 days of purchase for annual plans.',
  'Escalate outages to the on-call engineer and give the customer the status page.',
  'Answer in the language of the question and keep answers under five sentences.',
  'Invoices can be downloaded from Settings, then Billing, then History.',
];
const system = `You are the support assistant of Acme Cloud. Follow these rules.\n${Array.from({ length: 12 }, (_, block) =>
  rules.map((r, i) => `Rule ${block * rules.length + i + 1}: ${r}`).join('\n'),
).join('\n')}`;
const questions = ['How do I reset my password?', 'Which plans include priority support?'];

const model = await Qwen3.load(folder, loadOptions);
if (model.tokenizer === undefined) throw new Error(`${folder} has no tokenizer.json: this example needs text prompts`);
console.log(`model: ${folder} (${model.config.numHiddenLayers} layers)`);

// Each question as the model sees it: the chat template rendered to token ids.
const prompts = questions.map(
  (q) =>
    encodePrompt(
      model,
      [
        { role: 'system', content: system },
        { role: 'user', content: q },
      ],
      { enableThinking: false },
      'prompt-cache-reuse',
    ).tokens,
);
// The shared prefix is what the rendered prompts have in common token for token (the system
// turn and the start of the user turn); cutting by tokens, not text, keeps tokenization exact.
let shared = 0;
while (prompts.every((p) => p[shared] === prompts[0][shared]) && shared < prompts[0].length - 1) shared++;
const prefix = prompts[0].slice(0, shared);
console.log(`shared prefix: ${prefix.length} tokens`);

// 1. Prefill the prefix once (in chunks, as generation does) and save its cache.
const dir = mkdtempSync(join(tmpdir(), 'mlxn-prompt-cache-'));
const file = join(dir, 'support-desk.safetensors');
const cache = makePromptCache(model);
for (let start = 0; start < prefix.length; start += 2048) {
  mx.tidy(() => {
    model.forward(mx.array([prefix.slice(start, start + 2048)], 'int32'), { cache });
    mx.eval(cache.map((c) => c.state));
  });
}
await savePromptCache(file, cache, { prefixTokens: String(prefix.length) });
for (const c of cache) c.dispose();
console.log(`saved the prefix cache: ${(statSync(file).size / 1024).toFixed(0)} KiB`);

// 2. Later (another process would do the same): load the file and answer every question.
const { cache: loaded, metadata } = await loadPromptCache(file);
const cachedLength = Number(metadata.prefixTokens);
const offsetOf = (c: Cache) => (c as unknown as { offset: number }).offset;

let withCache = 0;
let without = 0;
let allEqual = true;
let maxGap = 0;
for (const [i, tokens] of prompts.entries()) {
  // A cache that generation did not fill itself holds the text *before* the prompt, so only the
  // question's own tokens are passed; onPromptProgress reports how many need a forward pass.
  let prefilledCached = 0;
  const cached = await model.generate(tokens.slice(cachedLength), {
    promptCache: loaded,
    maxTokens,
    logprobs: true,
    onPromptProgress: (p) => (prefilledCached = p.total),
  });
  // Generation appended the question and the answer; trim back to the shared prefix for the next one.
  trimPromptCache(loaded, offsetOf(loaded[0]) - cachedLength);

  let prefilledFresh = 0;
  const fresh = await model.generate(tokens, { maxTokens, logprobs: true, onPromptProgress: (p) => (prefilledFresh = p.total) });

  const same = cached.tokens.length === fresh.tokens.length && cached.tokens.every((t, j) => t === fresh.tokens[j]);
  // Equal tokens could hide a wrong cache when a model repeats itself; the log-probabilities of
  // every generated token would not.
  const { logprobs: cachedLogprobs } = cached;
  const { logprobs: freshLogprobs } = fresh;
  if (cachedLogprobs === undefined || freshLogprobs === undefined) throw new Error('generation was asked for log-probabilities');
  const logprobGap = Math.max(...cachedLogprobs.map((l, j) => Math.abs(l - freshLogprobs[j])));
  allEqual &&= same;
  maxGap = Math.max(maxGap, logprobGap);
  withCache += prefilledCached;
  without += prefilledFresh;
  console.log(`question ${i + 1}: ${questions[i]}`);
  console.log(`  prefilled with cache: ${prefilledCached} tokens, without: ${prefilledFresh} tokens`);
  console.log(`  same greedy output as a fresh run: ${same} (${cached.tokens.length} tokens, ${cached.finishReason})`);
  console.log(`  answer: ${JSON.stringify(cached.text)}`);
}
console.log(`cache after the last trim: ${offsetOf(loaded[0])} tokens (the prefix)`);
for (const c of loaded) c.dispose();
console.log(
  `prefill total: ${withCache} tokens with the cache vs ${without} without (${((1 - withCache / without) * 100).toFixed(1)}% saved)`,
);
console.log(`all outputs equal: ${allEqual}; largest log-probability difference: ${maxGap.toExponential(2)}`);

// 3. Within one process the split is automatic: give generation the whole prompt and a cache it
// filled before; it reuses the longest common prefix (usage.cachedPromptTokens) and trims the rest.
const live = model.makeCache();
const first = await model.generate(prompts[0], { promptCache: live, maxTokens });
const second = await model.generate(prompts[1], { promptCache: live, maxTokens });
console.log(
  `automatic reuse: first call reused ${first.usage.cachedPromptTokens} tokens, second reused ${second.usage.cachedPromptTokens} of ${second.usage.promptTokens}`,
);
for (const c of live) c.dispose();
rmSync(dir, { recursive: true, force: true });
