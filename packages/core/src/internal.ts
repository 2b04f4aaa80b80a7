/**
 * `@mlxn/core/internal` — for @mlxn's own packages, not for applications.
 *
 * Every @mlxn package's Rust crate is linked into the one native binary that @mlxn/core loads;
 * a sibling package reaches its own exports through `native` (typed by the generated
 * `binding.d.ts`), passes arrays in with `handleOf(array)` and wraps results with `wrap(h)` so
 * they join `tidy` scopes like any other array.
 */

export { Array, handleOf, waitAvailable, wrap, wrapAll } from './array.js';
export { dtypeCode, dtypeFromCode, weakScalarDtype } from './dtype.js';
export {
  evalThreadReady,
  forgetScheduled,
  readNumbers,
  readScheduled,
  type ScheduledRead,
  scheduleEval,
  scheduleForRead,
  settleEvalThread,
  useEvalThread,
} from './evaluate.js';
export { freePort } from './launch/free-port.js';
export type { NativeArray, NativeBinding } from './native.js';
export { native, VERSION } from './native.js';
export { quantizedProductNeedsDequantize } from './ops/quantized.js';
export { checkOptionKeys, editDistance } from './options.js';
export { track } from './scope.js';
export { fillSkeleton, treeSkeleton } from './tree.js';
