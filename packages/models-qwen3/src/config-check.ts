/**
 * `config.json` against the checkpoint, before a model is built from it. The full check of every
 * weight's name and shape (`sanitize`) needs the model, and building one costs memory and time
 * per decoder layer: the layer count is compared with the weights first. (Every other size is
 * bounded by `QWEN3_CONFIG_LIMITS`, and its arrays are only recorded, never allocated, until
 * `sanitize` has compared them with the weights and listed every mismatch in one error.)
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
    throw new Error(
      `${configFile}: the checkpoint has no decoder layer weights (model.layers.*) for num_hidden_layers = ${config.numHiddenLayers}`,
    );
  }
  if (lastLayer + 1 !== config.numHiddenLayers) {
    throw new Error(
      `${configFile}: num_hidden_layers = ${config.numHiddenLayers}, but the checkpoint's weights are for ${lastLayer + 1} layers ` +
        `(model.layers.0 to model.layers.${lastLayer})`,
    );
  }
}
