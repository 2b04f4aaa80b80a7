// @mlxn/models-qwen3 from CommonJS: load the tiny model that main.mjs wrote (or write it) and chat.
'use strict';
const assert = require('node:assert/strict');
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { Qwen3, parseQwen3Config } = require('@mlxn/models-qwen3');
const { writeTinyQwen3 } = require('./tiny-qwen3.cjs');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

async function main() {
  const folder = join(process.cwd(), 'model-cjs');
  if (!existsSync(folder)) {
    await writeTinyQwen3({ Qwen3, parseQwen3Config }, folder);
  }
  const model = await Qwen3.load(folder);
  const reply = await model.chat([{ role: 'user', content: 'Hello!' }], { maxTokens: 5, enableThinking: false });
  assert.equal(typeof reply.text, 'string');
  assert.equal(reply.usage.completionTokens > 0, true);
  assertNativeFromPlatformPackage(process.cwd());
  console.log('ok');
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
