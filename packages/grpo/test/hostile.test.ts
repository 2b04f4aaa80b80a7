// Non-regular files wherever the trainers read a dataset, metrics, trainer state or command-line
// file: each must be a documented error (a hang fails one case, not the runner).
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest('hostile trainer files end in a documented error', new URL('./hostile/files.cases.ts', import.meta.url), { sample: 6 });
