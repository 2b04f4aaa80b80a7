// @mlxn/models-qwen3 alone: write a tiny random Qwen3 with the real Qwen3 tokenizer, load it back
// from its folder, and stream a chat reply.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseQwen3Config, Qwen3 } from '@mlxn/models-qwen3';
import tinyQwen3 from './tiny-qwen3.cjs';
import whereNative from './where-native.cjs';

const folder = join(process.cwd(), 'model');
await tinyQwen3.writeTinyQwen3({ Qwen3, parseQwen3Config }, folder);

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
