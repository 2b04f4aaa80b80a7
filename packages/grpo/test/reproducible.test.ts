// Same config and seed ⇒ the same weights, in fresh processes, with and without LoRA. Each
// configuration trains first in its child, so no earlier seeding in the process can hide a draw
// from MLX's clock-seeded global generator (what LoRA adapters used to be initialised from).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

type Digests = Record<string, { before: string; after: string }>;

const train = (configs: string[]): Digests =>
  JSON.parse(
    execFileSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'reproducible-child.ts'), ...configs], {
      cwd: join(import.meta.dirname, '..'),
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop()!,
  ) as Digests;

describe('reproducible training', () => {
  it.each([
    ['GRPOTrainer', ['grpo-lora', 'grpo-full']],
    ['SFTTrainer', ['sft-lora', 'sft-full']],
  ])('%s: two fresh processes give identical weights, with LoRA and without', (_name, configs) => {
    const first = train(configs);
    const second = train(configs);
    for (const c of configs) {
      expect(second[c].before, `${c}: weights before training`).toBe(first[c].before);
      expect(second[c].after, `${c}: weights after training`).toBe(first[c].after);
      // Training changed something: the digests compare real runs.
      expect(first[c].after).not.toBe(first[c].before);
    }
  });
});
