/**
 * Training metrics: values are collected under TRL's names while a step runs, averaged over the
 * steps between two logs (NaN values left out, as TRL's `log` does), and written as one JSON line
 * per logged step to `<outputDir>/metrics.jsonl`, plus an `onLog` callback.
 */

import { closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkOptionKeys } from '@mlxn/core/internal';
import { readTextFileSync } from '@mlxn/io';
import { writeFileAtomic } from '@mlxn/io/internal';

/** One logged step: `step`, `epoch` and the averaged metrics (`null` when no value was valid). */
export interface LogRecord {
  step: number;
  epoch: number;
  [name: string]: number | null;
}

/** Called with every logged record. */
export type OnLog = (record: LogRecord) => void;

/** The file the metrics go to, inside the output folder. */
export const METRICS_FILE = 'metrics.jsonl';

/**
 * Collects metric values by name and writes averaged records.
 *
 * @example
 * const m = new MetricsLog({ outputDir: 'runs/a' });
 * m.add('reward', 0.5); m.add('reward', 0.7);
 * m.flush({ step: 1, epoch: 0 }); // writes {"step":1,"epoch":0,"reward":0.6}
 */
export class MetricsLog {
  readonly path: string | null;
  #pending = new Map<string, number[]>();
  #onLog: OnLog | undefined;

  constructor(options: { outputDir?: string | null; onLog?: OnLog } = {}) {
    checkOptionKeys(options, ['outputDir', 'onLog'], 'MetricsLog');
    this.path = options.outputDir ? join(options.outputDir, METRICS_FILE) : null;
    this.#onLog = options.onLog;
  }

  /** Records one value of `name` for the current logging window. */
  add(name: string, value: number): void {
    let list = this.#pending.get(name);
    if (list === undefined) {
      list = [];
      this.#pending.set(name, list);
    }
    list.push(value);
  }

  /** Records several values at once (`{ name: value }`). */
  addAll(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) this.add(k, v);
  }

  /** Whether anything was recorded since the last flush. */
  get pending(): boolean {
    return this.#pending.size > 0;
  }

  /**
   * Averages the window, writes it (with `extra` fields first) and starts a new window.
   * `combine` (data-parallel training) turns this process's `{ name: [sum, count] }` of valid
   * values into the job's, so every rank logs the same averages over all ranks' values.
   */
  flush(
    extra: { step: number; epoch: number } & Record<string, number>,
    combine?: (totals: Record<string, [number, number]>) => Record<string, [number, number]>,
  ): LogRecord {
    let totals: Record<string, [number, number]> = {};
    for (const [k, values] of this.#pending) {
      const valid = values.filter((v) => !Number.isNaN(v));
      totals[k] = [valid.reduce((a, b) => a + b, 0), valid.length];
    }
    if (combine) totals = combine(totals);
    const record: LogRecord = { ...extra };
    for (const [k, [sum, count]] of Object.entries(totals)) record[k] = count === 0 ? null : sum / count;
    this.#pending.clear();
    if (this.path !== null) appendLine(this.path, JSON.stringify(record, finiteOrNull));
    this.#onLog?.(record);
    return record;
  }

  /** Drops the pending window without writing it. */
  discard(): void {
    this.#pending.clear();
  }

  /**
   * Keeps only the records up to `step` (when a run resumes from a checkpoint, the lines a
   * later, interrupted run wrote would otherwise be duplicated). Rewrites the file atomically.
   */
  truncateAfter(step: number): void {
    if (this.path === null || !existsSync(this.path)) return;
    const kept = readMetricsText(this.path)
      .split('\n')
      .filter((line) => {
        if (line.trim() === '') return false;
        try {
          return (JSON.parse(line) as LogRecord).step <= step;
        } catch {
          return false; // a torn last line from a crash
        }
      });
    writeFileAtomic(this.path, kept.length ? `${kept.join('\n')}\n` : '');
  }
}

/** A metrics file, whole: a regular file only (a FIFO would block the read forever), bounded. */
function readMetricsText(path: string): string {
  return readTextFileSync(path, { maxBytes: 2 ** 30, what: 'metrics files' });
}

/** Reads a metrics file back into records (skipping a torn last line). */
export function readMetrics(path: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of readMetricsText(path).split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      // a line cut short by a crash: the records before it are intact
    }
  }
  return out;
}

// JSON has no NaN or Infinity: those become null, as TRL reports a metric without valid values.
function finiteOrNull(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? null : value;
}

function appendLine(path: string, line: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'a');
  try {
    writeSync(fd, `${line}\n`);
  } finally {
    closeSync(fd);
  }
}
