import type { HostileOptions } from './hostile.mjs';

/** Battery options, plus the vitest timeout of the test (default 600 000 ms). */
export interface HostileTestOptions extends HostileOptions {
  testTimeoutMs?: number;
}
/**
 * Declares one vitest test that runs the case module `moduleUrl` in child processes and passes
 * when every case passes (at least one must run). The children run in the module's package root
 * unless `cwd` is given.
 */
export declare function hostileBatteryTest(title: string, moduleUrl: URL, options?: HostileTestOptions): void;
