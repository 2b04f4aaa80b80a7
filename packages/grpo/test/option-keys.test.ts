// Unknown option keys are errors naming the nearest option (a typo would otherwise be ignored
// and the default used).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  accuracyReward,
  answersMatch,
  computeAdvantages,
  formatReward,
  GenerationBatchSampler,
  GRPOTrainer,
  generateRollouts,
  jsonSchemaReward,
  lengthReward,
  MetricsLog,
  ProgressBar,
  PromptDataset,
  plot,
  runRewardFunctions,
  SFTTrainer,
  tokenizePrompts,
  toolCallReward,
} from '../src/index.js';

const T = { zzTypo: 1 };
const dir = mkdtempSync(join(tmpdir(), 'mlxn-grpo-keys-'));

const calls: Record<string, () => unknown> = {
  'PromptDataset.fromRecords': () => PromptDataset.fromRecords([{ prompt: 'x' }], T as object),
  'PromptDataset.fromJsonl': () => PromptDataset.fromJsonl(join(dir, 'none.jsonl'), T as object),
  GenerationBatchSampler: () => new GenerationBatchSampler(4, { numGenerations: 2, generationBatchSize: 2, seed: 0, ...T }),
  plot: () => plot([{ step: 1, loss: 1 }], { output: join(dir, 'p.html'), ...T }),
  answersMatch: () => answersMatch('1', '1', T as object),
  accuracyReward: () => accuracyReward(T as object),
  formatReward: () => formatReward(T as object),
  lengthReward: () => lengthReward({ maxCompletionLength: 10, softPunishCache: 2, ...T }),
  toolCallReward: () => toolCallReward(T as object),
  jsonSchemaReward: () => jsonSchemaReward({ schema: { type: 'object' }, ...T }),
  computeAdvantages: () => computeAdvantages({ rewardsPerFunc: [[1, 0]], rewardFuncNames: ['r'], numGenerations: 2, ...T }),
  ProgressBar: () => new ProgressBar(3, T as object),
  MetricsLog: () => new MetricsLog(T as object),
  GRPOTrainer: () => new GRPOTrainer({ ...T } as never),
  tokenizePrompts: () => tokenizePrompts({} as never, [], T as object),
  generateRollouts: () => generateRollouts({} as never, [], [], { maxCompletionLength: 4, temperature: 1, ...T }),
  runRewardFunctions: () =>
    runRewardFunctions({ rewardFuncs: [], inputs: [], completions: [], completionIds: [], trainerState: null, step: 0, ...T }),
  SFTTrainer: () => new SFTTrainer({ ...T } as never),
};

describe('unknown option keys', () => {
  for (const [name, call] of Object.entries(calls)) {
    it(name, () => {
      const error = (() => {
        try {
          const out = call();
          return out instanceof Promise
            ? out.then(
                () => undefined,
                (e: unknown) => e,
              )
            : undefined;
        } catch (e) {
          return e;
        }
      })();
      return Promise.resolve(error).then((e) =>
        expect(String(e)).toMatch(new RegExp(`^TypeError: ${name.replace('.', '\\.')}: unknown option "zzTypo"$`)),
      );
    });
  }

  it('name the nearest option', () => {
    expect(() => accuracyReward({ answer_field: 'gold' } as object)).toThrow(
      /accuracyReward: unknown option "answer_field" \(did you mean "answerField"\?\)/,
    );
    expect(() => answersMatch('1.0', '1', { tolerence: 0.1 } as object)).toThrow(
      /answersMatch: unknown option "tolerence" \(did you mean "tolerance"\?\)/,
    );
    expect(() => new ProgressBar(3, { lable: 'x' } as object)).toThrow(/ProgressBar: unknown option "lable" \(did you mean "label"\?\)/);
    // Valid options still work.
    expect(answersMatch('1.05', '1', { compare: 'numeric', tolerance: 0.1 })).toBe(true);
  });
});
