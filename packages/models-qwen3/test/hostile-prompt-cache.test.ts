// Hostile prompt-cache files load correctly or fail naming the file.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest(
  'hostile prompt-cache files load correctly or fail naming the file',
  new URL('./hostile/prompt-cache.cases.ts', import.meta.url),
  { sample: 8, timeoutMs: 20_000 },
);
