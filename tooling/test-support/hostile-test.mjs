// One hostile battery (see hostile.mjs) as one vitest test: the packages' `hostile*.test.ts`
// files are a call of `hostileBatteryTest` per case module. Kept out of hostile.mjs because the
// children import that module for its helpers and must not load vitest. vitest comes from the
// package whose test runs (every package with a battery has it as a dev dependency).
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { runHostileBattery } from './hostile.mjs';

/** The nearest folder above `file` with a package.json: the children's working folder. */
function packageRoot(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  return process.cwd();
}

/**
 * Declares the test `title` that runs the case module `moduleUrl` (a `file:` URL) and passes when
 * every case passes and at least one ran. Prints one line per battery: the seed, the cases run
 * of the total and the per-class counts (the report issue 15 asks for).
 */
export function hostileBatteryTest(title, moduleUrl, options = {}) {
  const { testTimeoutMs = 600_000, ...batteryOptions } = options;
  it(
    title,
    async () => {
      const file = fileURLToPath(moduleUrl);
      const summary = await runHostileBattery(moduleUrl, { cwd: packageRoot(file), ...batteryOptions });
      const report = {
        module: basename(file),
        seed: summary.seed,
        run: summary.run,
        total: summary.total,
        byClass: summary.byClass,
        ms: summary.ms,
      };
      console.log(JSON.stringify(report));
      expect(summary.failed, `seed ${summary.seed}`).toEqual([]);
      expect(summary.run).toBeGreaterThan(0);
    },
    testTimeoutMs,
  );
}
