import * as mx from '@mlxn/core';
import { linearToLoRALayers, type Module } from '@mlxn/nn';
import type { LoRAConfig } from './config.js';
import { deriveSeed } from './derive-seed.js';

/**
 * Puts a trainer config's LoRA adapters on `model` (the GRPO and SFT trainers alike), initialised
 * from a key stream of their own derived from the config's seed, so the same config and seed give
 * the same adapters in every process (the global generator is seeded from the clock until the
 * training loop seeds it).
 */
export function addLoRAAdapters(model: Module, lora: LoRAConfig, seed: number): void {
  const key = mx.random.key(deriveSeed(seed ^ 0x1b873593, 0));
  linearToLoRALayers(model, { rank: lora.rank, scale: lora.scale, dropout: lora.dropout, targets: lora.targetModules, key });
  key.dispose();
}
