// Hostile dataset column names reach reward functions as plain data (every case, every run).
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest(
  'dataset column names reach reward functions as plain data',
  new URL('./hostile/dataset-keys.cases.ts', import.meta.url),
  { full: true, timeoutMs: 20_000 },
);
