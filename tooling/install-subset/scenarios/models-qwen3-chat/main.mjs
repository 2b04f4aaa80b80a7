// @mlxn/models-qwen3 alone: write a tiny random Qwen3 with the real Qwen3 tokenizer, load it back
// from its folder, and stream a chat reply.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';
import whereNative from './where-native.cjs';

const folder = join(process.cwd(), 'model');
const random = new Qwen3(
  parseQwen3Config({
    model_type: 'qwen3',
    vocab_size: 151936,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 8,
    rope_theta: 1000000,
    tie_word_embeddings: true,
    eos_token_id: 151645,
  }),
);
await random.save(folder);
for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join('tokenizer', f), join(folder, f));

const model = await Qwen3.load(folder);
const parts = [];
for await (const part of model.chatStream([{ role: 'user', content: 'Hello!' }], { maxTokens: 6, enableThinking: false })) {
  parts.push(part);
}
const done = parts.at(-1);
assert.equal(done.type, 'done');
assert.equal(done.usage.completionTokens > 0, true);
let streamed = 0;
for await (const chunk of model.stream('Hello', { maxTokens: 4 })) {
  assert.equal(typeof chunk.token, 'number');
  streamed++;
}
assert.equal(streamed, 4);
whereNative.assertNativeFromPlatformPackage(process.cwd());
console.log('ok');
