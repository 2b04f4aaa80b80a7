// Tiny Qwen3 models with the real Qwen3 tokenizer, which the scenarios that need one copy into
// ./tokenizer: a random one written by the scenario, or the repository's canonical fixture.
'use strict';
const { copyFileSync } = require('node:fs');
const { join } = require('node:path');

/** Copies the real tokenizer's files from ./tokenizer into a model folder. */
function addTokenizer(folder) {
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join('tokenizer', f), join(folder, f));
}

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
  addTokenizer(folder);
}

/**
 * The canonical tiny Qwen3 of tooling/fixtures/qwen3/dense, which the scenario copies into
 * ./model, with the real tokenizer, loaded with the scenario's own `Qwen3`.
 */
function loadFixtureQwen3({ Qwen3 }) {
  const folder = join(process.cwd(), 'model');
  addTokenizer(folder);
  return Qwen3.load(folder, { truncatedVocab: true }); // the fixture keeps the tokenizer's first 512 ids
}

module.exports = { loadFixtureQwen3, writeTinyQwen3 };
