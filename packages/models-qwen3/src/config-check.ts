/**
 * `config.json` against the checkpoint, before a model is built from it. The full check of every
 * weight's name and shape (`sanitize`) needs the model; these few sizes decide how large the
 * model would be, so they are compared with the weights first: the number of decoder layers,
 * the hidden size and the vocabulary.
 */
import type * as mx from '@mlxn/core';
import type { Qwen3Config } from './config.js';

const LAYER = /^model\.layers\.(\d+)\./;

/** Throws an error naming `configFile`, the config key and what the weights hold. */
export function checkConfigAgainstWeights(configFile: string, config: Qwen3Config, weights: Record<string, mx.Array>): void {
  let lastLayer = -1;
  for (const name of Object.keys(weights)) {
    const m = LAYER.exec(name);
    if (m) lastLayer = Math.max(lastLayer, Number(m[1]));
  }
  if (lastLayer < 0) {
    throw new Error(`${configFile}: the checkpoint has no decoder layer weights (model.layers.*) for num_hidden_layers = ${config.numHiddenLayers}`);
  }
  if (lastLayer + 1 !== config.numHiddenLayers) {
    throw new Error(
      `${configFile}: num_hidden_layers = ${config.numHiddenLayers}, but the checkpoint's weights are for ${lastLayer + 1} layers ` +
        `(model.layers.0 to model.layers.${lastLayer})`,
    );
  }
  const norm = weights['model.norm.weight'];
  if (norm !== undefined && norm.shape[0] !== config.hiddenSize) {
    throw new Error(`${configFile}: hidden_size = ${config.hiddenSize}, but model.norm.weight has shape [${norm.shape.join(', ')}]`);
  }
  const embed = weights['model.embed_tokens.weight'];
  if (embed !== undefined && embed.shape[0] !== config.vocabSize) {
    throw new Error(`${configFile}: vocab_size = ${config.vocabSize}, but model.embed_tokens.weight has ${embed.shape[0]} rows (shape [${embed.shape.join(', ')}])`);
  }
}
