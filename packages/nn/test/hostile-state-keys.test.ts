// Optimizer-state files whose tensor names would reach Object.prototype: a clear error, and no
// object in the process gains a property.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest('optimizer-state keys never reach Object.prototype', new URL('./hostile/state-keys.cases.ts', import.meta.url), {
  sample: 6,
  timeoutMs: 20_000,
});
