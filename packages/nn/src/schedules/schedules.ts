// Learning-rate schedules; values follow mlx.optimizers' schedulers (computed with MLX ops on the
// uint64 step, so they round exactly as Python's do).
import * as mx from '@mlxn/core';

/** A schedule maps the optimizer's step count (a uint64 scalar, or a plain number) to a value. */
export type Schedule = (step: mx.Array | number) => mx.Array;

const asStep = (step: mx.Array | number): mx.Array => (step instanceof mx.Array ? step : mx.array(step, { dtype: 'uint64' }));

function positiveInt(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${what} must be an integer greater than 0, got ${v}`);
}

/**
 * The same value at every step.
 * @example const lr = constantSchedule(1e-3); lr(10).item(); // 0.001
 */
export function constantSchedule(value: number): Schedule {
  return () => mx.array(value, { dtype: 'float32' });
}

/**
 * `init * decayRate ** step`.
 * @example const lr = exponentialDecay(0.1, 0.9); lr(5).item(); // 0.0590490
 */
export function exponentialDecay(init: number, decayRate: number): Schedule {
  return (step) => mx.multiply(init, mx.power(decayRate, asStep(step)));
}

/**
 * `init * decayRate ** floor(step / stepSize)`.
 * @example const lr = stepDecay(0.1, 0.9, 10); lr(21).item(); // 0.081
 */
export function stepDecay(init: number, decayRate: number, stepSize: number): Schedule {
  positiveInt(stepSize, 'stepDecay: stepSize');
  return (step) => mx.multiply(init, mx.power(decayRate, mx.floorDivide(asStep(step), stepSize)));
}

/**
 * Cosine decay from `init` to `end` over `decaySteps` steps, then constant at `end`.
 * @example const lr = cosineDecay(0.1, 1000); lr(5).item(); // 0.0999961
 */
export function cosineDecay(init: number, decaySteps: number, end = 0): Schedule {
  positiveInt(decaySteps, 'cosineDecay: decaySteps');
  return (step) => {
    const s = mx.minimum(asStep(step), decaySteps);
    const decay = mx.multiply(0.5, mx.add(1.0, mx.cos(mx.multiply(Math.PI / decaySteps, s))));
    return mx.add(end, mx.multiply(decay, init - end));
  };
}

/**
 * Linear from `init` to `end` over `steps` steps, then constant at `end` (warmup).
 * @example const warmup = linearSchedule(0, 1e-1, 100); warmup(50).item(); // 0.05
 */
export function linearSchedule(init: number, end: number, steps: number): Schedule {
  positiveInt(steps, 'linearSchedule: steps');
  return (step) => mx.add(mx.multiply(mx.minimum(asStep(step), steps), (end - init) / steps), init);
}

/**
 * Runs `schedules[0]` until `boundaries[0]`, then `schedules[1]` (with the step counted from
 * that boundary), and so on: warmup then decay.
 * @example const lr = joinSchedules([linearSchedule(0, 1e-1, 10), cosineDecay(1e-1, 200)], [10]);
 */
export function joinSchedules(schedules: Schedule[], boundaries: number[]): Schedule {
  if (schedules.length === 0) throw new RangeError('joinSchedules: at least one schedule is needed');
  if (schedules.length !== boundaries.length + 1) {
    throw new RangeError(`joinSchedules: got ${boundaries.length} boundaries but expected ${schedules.length - 1}`);
  }
  for (const b of boundaries) {
    if (!Number.isInteger(b) || b < 0) throw new RangeError(`joinSchedules: boundaries must be non-negative integers, got ${b}`);
  }
  return (step) => {
    const s = asStep(step);
    let out = schedules[0](s);
    for (let i = 0; i < boundaries.length; i++) {
      out = mx.where(mx.less(s, boundaries[i]), out, schedules[i + 1](mx.subtract(s, boundaries[i])));
    }
    return out;
  };
}
