import { describe, it, expect } from 'vitest';
import { loadNative } from '../../src/native/load.js';

// The spin budget's rules (native/src/spin_wait.h), fed waits without clocks: how long the next
// wait of a pool worker or of the step runner spins before it sleeps.
type Event = readonly [0 | 1 | 2, number, boolean];
const caught = (us: number, busy = false): Event => [0, us, busy];
const ranOut = (busy = false): Event => [1, 0, busy];
const woke = (us: number): Event => [2, us, false];
/** A wait that spun out and slept until work came `us` after it began. */
const slept = (us: number): Event[] => [ranOut(), woke(us)];

const budgets = (max: number, events: Event[]): number[] => loadNative().spinBudget(max, events);
const last = (max: number, events: Event[]): number => budgets(max, events).at(-1)!;

describe('spin budget', () => {
  it('starts at the maximum, halves when the spin runs out, doubles back when work is caught', () => {
    expect(budgets(200, [])).toEqual([]);
    expect(budgets(200, [ranOut(), ranOut(), caught(10), caught(10)])).toEqual([100, 50, 120, 200]);
    expect(last(0, [caught(10), woke(10)])).toBe(0); // a maximum of 0 never spins
  });

  it('drops to nothing on a busy machine and tries a short spin again after the next sleep', () => {
    expect(budgets(200, [caught(300, true)])).toEqual([0]);
    expect(budgets(200, [ranOut(true), woke(400)])).toEqual([0, 20]);
    expect(last(2000, [caught(10), ranOut(true)])).toBe(0);
  });

  it('is cut to a short spin while the recent long waits outlast the maximum', () => {
    const steps = Array.from({ length: 3 }, () => [caught(5), caught(8), ...slept(340)]).flat();
    expect(last(200, steps)).toBe(50); // between steps: the JS thread's 340 µs, longer than 200 µs of spin
    expect(last(200, [...steps, caught(5), caught(8)])).toBe(50); // the short waits within a step do not lift it
    expect(last(1000, steps)).toBeGreaterThan(50); // a 1,000 µs spin covers 340 µs gaps: not cut
  });

  it('spins its full budget again once the long waits fit it', () => {
    const long = [...slept(340), ...slept(340), ...slept(340)];
    expect(last(200, [...long, caught(150)])).toBe(50); // one of the last three long waits fits: still cut
    expect(last(200, [...long, caught(150), caught(150)])).toBe(160); // two of three fit: 25 µs doubled twice (+20 each)
  });

  it('is not cut by one long idle wait among short gaps (median of three)', () => {
    expect(last(2000, [caught(300), ...slept(5e6), caught(300)])).toBe(2000);
    expect(last(2000, [caught(300), ...slept(5e6), ...slept(6e6)])).toBe(50);
  });
});
