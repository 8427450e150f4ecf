import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdSet } from '../../src/scheduler/id-set.js';

describe('IdSet (the plan check\'s reusable id set)', () => {
  it('agrees with a Set over random passes of adds, lookups and clears, any ids', () => {
    const id = fc.oneof(fc.nat(300), fc.integer({ min: -5, max: 2 ** 33 }), fc.constantFrom(NaN, 1.5, -0, Infinity));
    fc.assert(
      fc.property(fc.array(fc.array(id, { maxLength: 200 }), { maxLength: 6 }), (passes) => {
        const set = new IdSet();
        for (const ids of passes) {
          set.clear();
          const want = new Set<number>();
          for (const x of ids) {
            expect(set.has(x)).toBe(want.has(x));
            expect(set.addNew(x)).toBe(!want.has(x));
            want.add(x);
          }
          for (const x of ids) expect(set.has(x)).toBe(true);
          expect(set.has(301)).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });
});
