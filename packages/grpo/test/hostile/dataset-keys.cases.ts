// Hostile dataset records: a column named `__proto__` (or `constructor`) must reach reward
// functions as an ordinary argument, never be dropped or touch Object.prototype.
import type { HostileCase } from '@mlxn/test-support/hostile';
import { runRewardFunctions } from '../../src/rewards/runner.js';

const record = (extra: string) => JSON.parse(`{"prompt": "p", ${extra}}`) as Record<string, unknown>;

export const cases: HostileCase[] = ['__proto__', 'constructor', 'toString'].map((col, i) => ({
  name: `dataset column '${col}' reaches rewards as data`,
  class: 'keys',
  regression: i === 0,
  run: async () => {
    let seen: unknown;
    const reward = (args: Record<string, unknown>) => {
      seen = Object.hasOwn(args, col) ? args[col] : 'missing';
      return [1];
    };
    await runRewardFunctions({
      rewardFuncs: [reward as never],
      inputs: [record(`"${col}": {"mlxnPwned": 1}`)],
      completions: ['c'],
      completionIds: [[1]],
      trainerState: {},
      step: 0,
    });
    return [JSON.stringify(seen), Object.getOwnPropertyNames(Object.prototype).includes('mlxnPwned')];
  },
  accept: (r) => JSON.stringify(r) === JSON.stringify(['[{"mlxnPwned":1}]', false]) || JSON.stringify(r),
}));
