/** One hostile-input case (see hostile.mjs for how it is judged). */
export interface HostileCase {
  /** Unique and stable across runs. */
  name: string;
  /** Groups cases in the report, e.g. 'gguf.header'. */
  class: string;
  /** A named regression: CI runs every one of them. */
  regression?: boolean;
  /** Wall-time bound for this case (default: the battery's `timeoutMs`). */
  timeoutMs?: number;
  run(): unknown;
  /** True when a returned result is correct; a string says what was wrong. */
  accept?(result: unknown): boolean | string;
  /** The documented error: matched against `name: message`, or a predicate. */
  error?: RegExp | ((e: Error) => boolean);
}
export interface HostileSummary {
  seed: number;
  full: boolean;
  total: number;
  run: number;
  passed: number;
  failed: { name: string; class: string; reason: string }[];
  byClass: Record<string, { tried: number; passed: number; failed: number }>;
  ms: number;
}
export interface HostileOptions {
  cwd?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  graceMs?: number;
  maxRssMb?: number;
  full?: boolean;
  seed?: number;
  /** Non-regression cases to run when not `full` (default 40). */
  sample?: number;
}
/** Runs a case module's battery in child processes. */
export declare function runHostileBattery(moduleUrl: URL | string, options?: HostileOptions): Promise<HostileSummary>;
/** Indices of the cases to run: all, or every regression plus `sample` others drawn by seed. */
export declare function selectCases(meta: { regression?: boolean }[], options: { full: boolean; seed: number; sample: number }): number[];
/** This process's scratch root for `label` (`<tmp>/mlxn-hostile-<label>-*`), removed when it exits. */
export declare function scratchDir(label: string): string;
/** A fresh empty folder for one case, under `scratchDir(label)`. */
export declare function caseDir(label: string): string;
/** The non-regular files `makeNonRegular` makes (a socket is `listenOnSocket`). */
export type NonRegularKind = 'fifo' | 'folder' | 'device';
/** Makes `path` a FIFO, a folder or a link to `/dev/zero`; returns `path`. */
export declare function makeNonRegular(path: string, kind: NonRegularKind): string;
/** Makes `path` a listening Unix socket; resolves to the function that closes it. */
export declare function listenOnSocket(path: string): Promise<() => void>;
