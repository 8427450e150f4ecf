import { describe, expect, it } from 'vitest';
import { gapsOutside, stallSpans } from '../../bench/stall-gaps.js';

describe('the ITL with stalls left out', () => {
  // Steps of 2 ms, one of 50 ms ending at 60, then two slow followers.
  const steps = [{ end: 2, ms: 2 }, { end: 4, ms: 2 }, { end: 6, ms: 2 }, { end: 56, ms: 50 }, { end: 60, ms: 4 }, { end: 63, ms: 3 }, { end: 65, ms: 2 }, { end: 67, ms: 2 }];
  const times = [steps.map((s) => s.end)];

  it('spans a stall and its followers, and only those', () => {
    expect(stallSpans(steps, 16, 2)).toEqual([[6, 63]]);
    expect(stallSpans(steps, 60, 2)).toEqual([]);
    expect(stallSpans(steps, 16, 10)).toEqual([[6, 67]]); // followers past the last step stop at it
  });

  it('leaves out the gaps that end inside a span, keeps the rest within [from, to)', () => {
    expect(gapsOutside(times, 0, Infinity, stallSpans(steps, 16, 2))).toEqual([2, 2, 2, 2]);
    expect(gapsOutside(times, 0, Infinity, [])).toEqual([2, 2, 50, 4, 3, 2, 2]);
    expect(gapsOutside(times, 5, 66, [])).toEqual([2, 50, 4, 3, 2]);
  });
});
