/** How one rank of a job ended, and what it wrote. */
export interface RankResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}
/** Runs a worker script as each rank of a CPU ring job on 127.0.0.1; resolves when every rank has ended. */
export declare function runRingJob(job: {
  /** A TypeScript file, run through tsx. */
  worker: string;
  args?: readonly string[];
  /** How many ranks (default 2). */
  ranks?: number;
  /** Each rank is killed after this long. */
  timeoutMs: number;
  /** Where the hostfile is written. */
  hostfile: string;
  /** `@mlxn/core`'s freePort. */
  freePort(): Promise<number>;
}): Promise<RankResult[]>;
