/**
 * LoRA for the trainers: attaching a config's adapters to a model, and switching them off for
 * a call (the base model, the GRPO trainer's default KL reference).
 */
import * as mx from '@mlxn/core';
import { LoRALinear, linearToLoRALayers, type Module } from '@mlxn/nn';
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

/**
 * Runs `fn` with every LoRA adapter's update switched off (the base model), as PEFT's
 * `disable_adapter()`: the adapters' `loraB` are set to zero for the call and put back after.
 */
export function withAdaptersDisabled<T>(model: Module, fn: () => T): T {
  const adapters = model.modules().filter((m): m is LoRALinear => m instanceof LoRALinear);
  const saved = adapters.map((a) => a.loraB);
  for (const a of adapters) a.loraB = mx.zerosLike(a.loraB);
  try {
    return fn();
  } finally {
    adapters.forEach((a, i) => {
      a.loraB.dispose();
      a.loraB = saved[i];
    });
  }
}
