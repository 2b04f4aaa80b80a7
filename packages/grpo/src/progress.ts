import { checkOptionKeys } from '@mlxn/core/internal';

/**
 * A progress display for training runs: a bar redrawn in place on a terminal, plain lines when
 * the output is a file or a pipe (CI logs). Libraries stay silent; the trainers only draw one
 * when asked (`progress: true`) and examples do.
 */

export interface ProgressOptions {
  /** Where to draw (default `process.stderr`). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** A label before the bar, e.g. `'GRPO'`. */
  label?: string;
  /** Width of the bar in characters on a terminal (default 24). */
  width?: number;
  /** Force the terminal (`true`) or the plain-line (`false`) form; default: the stream's `isTTY`. */
  tty?: boolean;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

function formatValue(v: number | string): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(2);
}

/**
 * @example
 * const bar = new ProgressBar(10, { label: 'GRPO' });
 * for (let i = 1; i <= 10; i++) bar.update(i, { reward: i / 10 });
 * bar.done();
 */
export class ProgressBar {
  readonly total: number;
  readonly #stream: NonNullable<ProgressOptions['stream']>;
  readonly #label: string;
  readonly #width: number;
  readonly #tty: boolean;
  readonly #start = performance.now();
  #lastLength = 0;
  #lastPrinted = -1;
  #finished = false;

  constructor(total: number, options: ProgressOptions = {}) {
    checkOptionKeys(options, ['stream', 'label', 'width', 'tty'], 'ProgressBar');
    if (!Number.isInteger(total) || total < 0) throw new RangeError(`ProgressBar: total must be a non-negative integer, got ${total}`);
    this.total = total;
    this.#stream = options.stream ?? process.stderr;
    this.#label = options.label ?? '';
    this.#width = options.width ?? 24;
    this.#tty = options.tty ?? Boolean(this.#stream.isTTY);
  }

  /** The text of one update (without cursor control), for logs and tests. */
  line(done: number, info: Record<string, number | string> = {}): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const frac = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const eta = done > 0 ? (elapsed / done) * (this.total - done) : Number.NaN;
    const fields = Object.entries(info).map(([k, v]) => `${k} ${formatValue(v)}`);
    const head = this.#label ? `${this.#label} ` : '';
    const count = `${done}/${this.total}`;
    const time = `${formatSeconds(elapsed)}<${formatSeconds(eta)}`;
    if (this.#tty) {
      const filled = Math.round(frac * this.#width);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(this.#width - filled)}`;
      return `${head}${bar} ${count} ${time}${fields.length ? ` | ${fields.join(' | ')}` : ''}`;
    }
    return `${head}step ${count} (${(frac * 100).toFixed(0)}%) ${time}${fields.length ? ` ${fields.join(' ')}` : ''}`;
  }

  /** Shows progress `done` of `total` with named values (rewards, loss, ...). */
  update(done: number, info: Record<string, number | string> = {}): void {
    const text = this.line(done, info);
    if (this.#tty) {
      // A pseudo-terminal without a size reports 0 columns: then nothing is clipped.
      const cols = this.#stream.columns && this.#stream.columns > 0 ? this.#stream.columns : Number.POSITIVE_INFINITY;
      const clipped = text.length > cols - 1 ? text.slice(0, cols - 1) : text;
      this.#stream.write(`\r${clipped}${' '.repeat(Math.max(0, this.#lastLength - clipped.length))}`);
      this.#lastLength = clipped.length;
    } else {
      // Plain lines (logs, pipes): about twenty per run, plus the last.
      const every = Math.max(1, Math.floor(this.total / 20));
      if (done !== this.total && done - this.#lastPrinted < every && this.#lastPrinted >= 0) return;
      this.#lastPrinted = done;
      this.#stream.write(`${text}\n`);
    }
  }

  /** Prints a message above the bar without breaking it. */
  log(message: string): void {
    if (this.#tty && this.#lastLength > 0) {
      this.#stream.write(`\r${' '.repeat(this.#lastLength)}\r${message}\n`);
      this.#lastLength = 0;
    } else {
      this.#stream.write(`${message}\n`);
    }
  }

  /** Ends the bar (moves to a new line on a terminal). */
  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#tty && this.#lastLength > 0) this.#stream.write('\n');
  }
}
