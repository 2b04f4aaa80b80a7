// A tiny random Qwen3 (one layer, hidden size 16) with the real Qwen3 tokenizer, which the
// scenarios that need one copy into ./tokenizer.
'use strict';
const { copyFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * Writes the model into `folder` with the scenario's own `Qwen3` and `parseQwen3Config` (each
 * scenario imports @mlxn/models-qwen3 its own way: that is what it tests).
 */
async function writeTinyQwen3({ Qwen3, parseQwen3Config }, folder) {
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

module.exports = { writeTinyQwen3 };
