// @mlxn/models-qwen3 from CommonJS: load the tiny model that main.mjs wrote (or write it) and chat.
'use strict';
const assert = require('node:assert/strict');
const { copyFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { Qwen3, parseQwen3Config } = require('@mlxn/models-qwen3');
const { assertNativeFromPlatformPackage } = require('./where-native.cjs');

async function main() {
  const folder = join(process.cwd(), 'model-cjs');
  if (!existsSync(folder)) {
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
