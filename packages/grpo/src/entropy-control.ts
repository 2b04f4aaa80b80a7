/**
 * The entropy bonus's coefficient across optimizer steps, as TRL 1.16's GRPOTrainer keeps it:
 * static (`entropyCoef`), or Skywork-OR1's adaptive controller (`useAdaptiveEntropy`). The
 * adaptive controller measures the mean entropy of the whole accumulation window (Σ entropy /
 * Σ tokens over its micro-batches, not a mean of micro-batch means), and at the window's end
 * moves the coefficient by `entropyCoefDelta` toward keeping entropy above `entropyTarget`,
 * clamped to [entropyCoefMin, entropyCoefMax]. Every micro-batch of a window applies the
 * coefficient fixed at the end of the previous window, and the adaptive bonus applies only while
 * the last measured entropy is at or below the target (none before the first measurement).
 */
import type { GRPOConfig } from './config.js';

export type EntropyControlConfig = Pick<
  GRPOConfig,
  'entropyCoef' | 'useAdaptiveEntropy' | 'entropyTarget' | 'entropyCoefDelta' | 'entropyCoefMin' | 'entropyCoefMax'
>;

/** What a checkpoint keeps (TRL's entropy_ctrl_state.json: entropy_coef, last_world_entropy). */
export interface EntropyControlState {
  entropyCoef: number;
  /** null stands for +∞ (no window measured yet), as JSON has no Infinity. */
  lastWorldEntropy: number | null;
}

/**
 * @example
 * const ctl = new EntropyController({ entropyCoef: 0.01, useAdaptiveEntropy: true, entropyTarget: 0.5, entropyCoefDelta: 0.005, entropyCoefMin: 0, entropyCoefMax: 1 });
 * const coef = ctl.applyCoef(); // pass to grpoLoss as entropyBonusCoef for every micro-batch of the window
 * ctl.addMicroBatch(entropySum, tokenCount); // each micro-batch (from grpoLoss's entropyStats)
 * ctl.endWindow(); // after the optimizer step's last micro-batch: the `entropy_coef` to log
 */
export class EntropyController {
  readonly config: Readonly<EntropyControlConfig>;
  #coef: number;
  #lastWorldEntropy = Number.POSITIVE_INFINITY;
  #windowSum = 0;
  #windowCount = 0;
  #windowSeen = false;

  constructor(config: EntropyControlConfig) {
    for (const k of ['entropyCoef', 'entropyTarget', 'entropyCoefDelta', 'entropyCoefMin', 'entropyCoefMax'] as const) {
      if (!Number.isFinite(config[k])) throw new RangeError(`EntropyController: ${k} must be a finite number, got ${config[k]}`);
    }
    if (config.useAdaptiveEntropy && config.entropyCoefMin > config.entropyCoefMax) {
      throw new RangeError(
        `EntropyController: entropyCoefMin (${config.entropyCoefMin}) exceeds entropyCoefMax (${config.entropyCoefMax})`,
      );
    }
    this.config = Object.freeze({ ...config });
    this.#coef = config.entropyCoef;
  }

  /** Whether the loss has a bonus term at all (TRL: entropy_coef ≠ 0 or adaptive, fixed for the run). */
  get enabled(): boolean {
    return this.config.entropyCoef !== 0 || this.config.useAdaptiveEntropy;
  }

  /** The current coefficient (TRL's entropy_coef, which the adaptive controller changes). */
  get coef(): number {
    return this.#coef;
  }

  /** The mean entropy of the last finished window (+∞ before the first). */
  get lastWorldEntropy(): number {
    return this.#lastWorldEntropy;
  }

  /** The coefficient this window's micro-batches apply; null when the bonus is off. */
  applyCoef(): number | null {
    if (!this.enabled) return null;
    if (!this.config.useAdaptiveEntropy) return this.#coef;
    return this.#lastWorldEntropy <= this.config.entropyTarget ? this.#coef : 0;
  }

  /** Adds one micro-batch's entropy sum and token count to the window (adaptive only; ignored otherwise). */
  addMicroBatch(entropySum: number, tokenCount: number): void {
    if (!this.config.useAdaptiveEntropy) return;
    this.#windowSum += entropySum;
    this.#windowCount += tokenCount;
    this.#windowSeen = true;
  }

  /** The open window's entropy sum and token count (data-parallel training sums them over the ranks). */
  windowTotals(): [number, number] {
    return [this.#windowSum, this.#windowCount];
  }

  /** Replaces the open window's totals by the job's (TRL reduces them across ranks before the update). */
  setWindowTotals(sum: number, count: number): void {
    if (!this.#windowSeen) return;
    this.#windowSum = sum;
    this.#windowCount = count;
  }

  /**
   * Closes the accumulation window (call after its last micro-batch): the adaptive controller
   * updates the coefficient from the window's mean entropy. Returns the coefficient to log as
   * `entropy_coef`, or null when the bonus is off (TRL logs nothing then).
   */
  endWindow(): number | null {
    if (!this.enabled) return null;
    if (this.config.useAdaptiveEntropy && this.#windowSeen) {
      const c = this.config;
      const world = this.#windowSum / Math.max(this.#windowCount, 1);
      this.#coef =
        world <= c.entropyTarget
          ? Math.min(this.#coef + c.entropyCoefDelta, c.entropyCoefMax)
          : Math.max(this.#coef - c.entropyCoefDelta, c.entropyCoefMin);
      this.#lastWorldEntropy = world;
    }
    this.#windowSum = 0;
    this.#windowCount = 0;
    this.#windowSeen = false;
    return this.#coef;
  }

  /** Forgets a window that was started but not finished (a step that failed midway). */
  discardWindow(): void {
    this.#windowSum = 0;
    this.#windowCount = 0;
    this.#windowSeen = false;
  }

  state(): EntropyControlState {
    return { entropyCoef: this.#coef, lastWorldEntropy: Number.isFinite(this.#lastWorldEntropy) ? this.#lastWorldEntropy : null };
  }

  /** Restores a checkpoint's state; throws on a malformed one without changing anything. */
  restore(state: unknown): void {
    const s = state as Partial<EntropyControlState> | null;
    if (s === null || typeof s !== 'object' || typeof s.entropyCoef !== 'number' || !Number.isFinite(s.entropyCoef)) {
      throw new TypeError('entropy controller state: entropyCoef must be a finite number');
    }
    const last = s.lastWorldEntropy;
    if (last !== null && !(typeof last === 'number' && Number.isFinite(last))) {
      throw new TypeError('entropy controller state: lastWorldEntropy must be a finite number or null');
    }
    this.#coef = s.entropyCoef;
    this.#lastWorldEntropy = last ?? Number.POSITIVE_INFINITY;
    this.discardWindow();
  }
}
