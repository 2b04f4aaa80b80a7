// The hostile-resume battery (test/hostile/resume-cases.ts): damaged or edited checkpoint files
// must give one error naming the file and the field, leaving the model and trainer untouched.
// The first case in each child trains the checkpoint the others damage, hence the long bound.
import { hostileBatteryTest } from '@mlxn/test-support/hostile-test';

hostileBatteryTest(
  'every damaged checkpoint gives a clear error and leaves the trainer as it was',
  new URL('./hostile/resume-cases.ts', import.meta.url),
  { timeoutMs: 90_000, sample: 2 },
);
