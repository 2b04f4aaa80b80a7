import { describe, expect, it } from 'vitest';
import { grownCapacity } from '../src/growth.js';

// The same cases as mlxn-cache's tests of `grown_capacity` (the native forward's copy of the rule).
describe('grownCapacity', () => {
  it('grows by whole steps', () => {
    expect(grownCapacity(0, 0, 1, 256)).toBe(256);
    expect(grownCapacity(0, 0, 300, 256)).toBe(512);
    expect(grownCapacity(256, 255, 1, 256)).toBeNull();
    expect(grownCapacity(256, 256, 1, 256)).toBe(512);
    expect(grownCapacity(256, 200, 100, 256)).toBe(456);
    // 10 000 single-token appends grow the buffer only 40 times.
    let capacity = 0;
    let grows = 0;
    for (let offset = 0; offset < 10_000; offset++) {
      const c = grownCapacity(capacity, offset, 1, 256);
      if (c !== null) {
        capacity = c;
        grows++;
      }
    }
    expect(grows).toBe(40);
  });

  it('grows to exactly a reserved end less than a step away', () => {
    // A 32-token prompt that may grow to 288: one buffer of 288, no second growth.
    expect(grownCapacity(0, 0, 32, 256, 288)).toBe(288);
    expect(grownCapacity(288, 287, 1, 256, 288)).toBeNull();
    // Past the reservation (a cache reused beyond it), plain growth resumes.
    expect(grownCapacity(288, 288, 1, 256, 288)).toBe(544);
    // An end more than a step away changes nothing until it comes within a step.
    expect(grownCapacity(0, 0, 32, 256, 10_000)).toBe(256);
    expect(grownCapacity(256, 256, 1, 256, 400)).toBe(400);
    expect(grownCapacity(9_728, 9_728, 1, 256, 10_000)).toBe(9_984);
    expect(grownCapacity(9_984, 9_984, 1, 256, 10_000)).toBe(10_000);
    // Never smaller than what is needed now.
    expect(grownCapacity(0, 0, 300, 256, 100)).toBe(512);
  });

  it('rejects a step that is not positive', () => {
    expect(() => grownCapacity(0, 0, 1, 0)).toThrow(/step must be positive/);
  });
});
