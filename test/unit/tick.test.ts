import { describe, expect, it } from 'vitest';
import { createTickLoop } from '../../streams/tick.js';

describe('tick loop', () => {
  it('a long run of steps that resolve through microtasks still lets timers through', async () => {
    let steps = 0;
    const loop = createTickLoop(async () => ++steps < 20_000, () => undefined);
    let timers = 0;
    const timer = setInterval(() => timers++, 1);
    loop.wake();
    const started = Date.now();
    while (loop.isRunning && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 5));
    clearInterval(timer);
    loop.stop();
    expect(steps).toBe(20_000);
    expect(timers).toBeGreaterThan(5);
  });

  it('never runs two steps at once, and a wake during the last step is not lost', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let work = 3;
    let steps = 0;
    const loop = createTickLoop(async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      steps++;
      if (work === 0) return false;
      work--;
      if (work === 0) loop.wake(); // more work arrives while the loop is finishing
      return true;
    }, () => undefined);
    for (let i = 0; i < 5; i++) loop.wake();
    await new Promise((r) => setTimeout(r, 100));
    expect(maxInFlight).toBe(1);
    expect(loop.isRunning).toBe(false);
    work = 2;
    loop.wake();
    await new Promise((r) => setTimeout(r, 100));
    expect(work).toBe(0);
    expect(steps).toBeGreaterThanOrEqual(7);
    loop.stop();
  });

  it('an exception in a step is reported and the loop keeps going', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const loop = createTickLoop(async () => {
      calls++;
      if (calls === 1) throw new Error('boom');
      return calls < 3;
    }, (e) => errors.push(e));
    loop.wake();
    await new Promise((r) => setTimeout(r, 50));
    expect(errors).toHaveLength(1);
    expect(calls).toBe(3);
    loop.stop();
  });
});
