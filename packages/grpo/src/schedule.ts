// Learning-rate schedules with Hugging Face's get_scheduler semantics (the schedule TRL's trainer
// uses): `step` is the number of optimizer steps already taken, so the first update uses step 0
// (learning rate 0 when there is warmup, as in HF). Steps past totalSteps hold the final value.
import * as mx from '@mlxn/core';
import { constantSchedule, cosineDecay, joinSchedules, linearSchedule, type Schedule } from '@mlxn/nn';
import type { GRPOConfig } from './config.js';

type ScheduleConfig = Pick<GRPOConfig, 'learningRate' | 'lrSchedulerType' | 'warmupRatio' | 'warmupSteps'>;

/** HF's rule: warmupSteps when > 0, else ceil(totalSteps · warmupRatio). */
export function warmupStepsFor(config: Pick<GRPOConfig, 'warmupRatio' | 'warmupSteps'>, totalSteps: number): number {
  return config.warmupSteps > 0 ? config.warmupSteps : Math.ceil(totalSteps * config.warmupRatio);
}

function checkTotal(totalSteps: number): void {
  if (!Number.isInteger(totalSteps) || totalSteps < 1) {
    throw new RangeError(`totalSteps must be a positive integer, got ${totalSteps}`);
  }
}

/**
 * The learning rate for the update after `step` completed optimizer steps, in float64.
 * @example learningRateAt(0, parseGRPOConfig({ learningRate: 1e-5, lrSchedulerType: 'cosine' }), 100); // 1e-5
 */
export function learningRateAt(step: number, config: ScheduleConfig, totalSteps: number): number {
  checkTotal(totalSteps);
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be a non-negative integer, got ${step}`);
  // Past the end the schedule holds its final value (HF's cosine would rise again; nothing trains there).
  step = Math.min(step, totalSteps);
  const lr = config.learningRate;
  if (config.lrSchedulerType === 'constant') return lr; // HF's plain constant ignores warmup
  const warmup = warmupStepsFor(config, totalSteps);
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  if (config.lrSchedulerType === 'constant_with_warmup') return lr;
  const progressDen = Math.max(1, totalSteps - warmup);
  if (config.lrSchedulerType === 'linear') return lr * Math.max(0, (totalSteps - step) / progressDen);
  const progress = (step - warmup) / progressDen;
  return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}

/**
 * The same schedule as an @mlxn/nn `Schedule` (MLX float32), for optimizers that take one.
 * @example const opt = new AdamW({ learningRate: learningRateSchedule(config, 100) });
 */
export function learningRateSchedule(config: ScheduleConfig, totalSteps: number): Schedule {
  checkTotal(totalSteps);
  const lr = config.learningRate;
  if (config.lrSchedulerType === 'constant') return constantSchedule(lr);
  const warmup = warmupStepsFor(config, totalSteps);
  const decaySteps = Math.max(1, totalSteps - warmup);
  const after: Schedule =
    config.lrSchedulerType === 'constant_with_warmup'
      ? constantSchedule(lr)
      : config.lrSchedulerType === 'linear'
        ? linearSchedule(lr, 0, decaySteps)
        : cosineDecay(lr, decaySteps);
  const joined = warmup === 0 ? after : joinSchedules([linearSchedule(0, lr, warmup), after], [warmup]);
  // float32 rounding can leave the decayed end a hair below zero; HF clamps at 0.
  return (step) => mx.maximum(joined(step), 0);
}

export type { Schedule };
