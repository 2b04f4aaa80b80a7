import { packageTests } from '../../vitest.shared.js';

export default packageTests({
  // The memory checks collect garbage first: arrays only a finalizer releases are not leaks.
  execArgv: ['--expose-gc'],
});
