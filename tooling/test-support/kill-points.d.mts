export declare const KILL_PRELOAD: string;
export interface KillChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  error?: Error;
}
export declare function runKillChild(
  script: string,
  args: readonly string[],
  options?: { root?: string; killAfter?: number; trace?: string; env?: Record<string, string>; timeoutMs?: number; cwd?: string },
): KillChildResult;
export interface TraceEntry {
  index: number;
  op: string;
  path: string;
}
export declare function readTrace(file: string): TraceEntry[];
export declare function killSeed(): number;
export declare const killFull: boolean;
export declare function killPoints(total: number, options?: { subset?: number; always?: readonly number[] }): number[];
