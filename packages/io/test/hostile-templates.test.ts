// Chat templates, shapes and object keys from files: clear errors or correct results.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest(
  'templates, shapes and file keys give clear errors or correct results',
  new URL('./hostile/templates-shapes-keys.cases.ts', import.meta.url),
  {
    sample: 30,
    timeoutMs: 20_000,
    maxRssMb: 2_000,
  },
);
