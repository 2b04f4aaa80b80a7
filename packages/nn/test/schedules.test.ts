import * as mx from '@mlxn/core';
import { useCpuDevice } from '@mlxn/test-support/devices';
import { describe, expect, it } from 'vitest';
import * as nn from '../src/index.js';
import { fixture, makeSchedule, type Spec } from './train-fixtures.js';

// The goldens are Python MLX's CPU float32 values, bit for bit (a GPU's float32 cos differs in the
// last bits): the file runs on the CPU.
useCpuDevice(mx);

const golden = fixture<{
  steps: number[];
  schedules: Record<string, { spec: Spec; values: number[]; dtypes: string[] }>;
  sgdCosineLearningRates: number[];
}>('train_schedules.json');

describe('schedules match mlx.optimizers (golden values from Python MLX)', () => {
  for (const [name, { spec, values, dtypes }] of Object.entries(golden.schedules)) {
    it(name, () => {
      const s = makeSchedule(spec);
      golden.steps.forEach((step, i) => {
        const v = s(mx.array(step, { dtype: 'uint64' }));
        expect(dtypes).toContain(v.dtype);
        expect(v.item()).toBe(Math.fround(values[i])); // bit-exact float32
        // A plain number step gives the same value.
        expect(s(step).item()).toBe(Math.fround(values[i]));
      });
    });
  }

  it('an optimizer evaluates its schedule at the step count before each update', () => {
    const opt = new nn.SGD({ learningRate: nn.cosineDecay(0.1, 10) });
    expect(opt.learningRate.item()).toBe(Math.fround(0.1));
    const lrs: number[] = [];
    for (let i = 0; i < 6; i++) {
      opt.update({}, {});
      lrs.push(opt.learningRate.item() as number);
    }
    expect(lrs).toEqual(golden.sgdCosineLearningRates.map(Math.fround));
    expect(opt.step.item()).toBe(6n);
  });

  it('constantSchedule and the documented examples', () => {
    expect(nn.constantSchedule(1e-3)(10).item()).toBe(Math.fround(1e-3));
    expect(nn.stepDecay(0.1, 0.9, 10)(21).item()).toBeCloseTo(0.081, 7);
    expect(nn.linearSchedule(0, 0.1, 100)(50).item()).toBeCloseTo(0.05, 7);
    const join = nn.joinSchedules([nn.linearSchedule(0, 1e-1, 10), nn.cosineDecay(1e-1, 200)], [10]);
    expect(join(11).item()).toBeCloseTo(0.0999938, 6); // the rate after 12 updates
  });

  it('rejects invalid arguments', () => {
    expect(() => nn.stepDecay(0.1, 0.9, 0)).toThrow(/stepSize/);
    expect(() => nn.cosineDecay(0.1, 0)).toThrow(/decaySteps/);
    expect(() => nn.linearSchedule(0, 1, 1.5)).toThrow(/steps/);
    expect(() => nn.joinSchedules([], [])).toThrow(/at least one/);
    expect(() => nn.joinSchedules([nn.constantSchedule(1)], [3])).toThrow(/boundaries/);
    expect(() => new nn.SGD({ learningRate: Number.NaN })).toThrow(/learning_rate/);
  });
});
