// Model folders with config.json fields × absurd values, and non-regular files where the
// folder's files are expected: a correct load or a documented error, never a runaway build.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

for (const name of ['config', 'generation-config', 'files']) {
  hostileBatteryTest(
    `hostile model folders (${name}) load correctly or give a documented error`,
    new URL(`./hostile/${name}.cases.ts`, import.meta.url),
    { sample: 12 },
  );
}
