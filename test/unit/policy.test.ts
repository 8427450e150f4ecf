import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkStepPlan, schedule } from '../../src/testing/index.js';
import type { RequestView, SchedulerConfig, SchedulerView } from '../../src/scheduler/view.js';

const config: SchedulerConfig = { maxBatchTokens: 64, maxRunning: 8, maxChunkSize: 16, chunkedPrefill: true };

function req(id: number, phase: RequestView['phase'], numTokens: number, numComputed: number, pageSize = 4): RequestView {
  return { id, phase, arrival: id, priority: 0, numTokens, numComputed, numPages: Math.ceil(numComputed / pageSize) };
}

function view(waiting: RequestView[], running: RequestView[], numFreePages: number, extra: Partial<SchedulerView> = {}): SchedulerView {
  return {
    waiting,
    running,
    numFreePages,
    numEvictablePages: 0,
    pageSize: 4,
    stepIndex: 0,
    cachedPrefix: () => ({ numTokens: 0, numEvictablePages: 0 }),
    reclaimablePages: (r) => r.numPages,
    ...extra,
  };
}

describe('scheduler policy: scenarios', () => {
  it('merges one decode token per decoding request with prefill chunks in one step', () => {
    const plan = schedule(view([req(3, 'waiting', 40, 0)], [req(1, 'decoding', 9, 8), req(2, 'decoding', 5, 4)], 100), config);
    expect(plan.runs.map((r) => [r.id, r.kind, r.numTokens])).toEqual([[1, 'decode', 1], [2, 'decode', 1], [3, 'prefill', 16]]);
    expect(plan.admit).toEqual([3]);
  });

  it('a long prompt never takes the decode tokens: decodes come first under the budget', () => {
    const running = Array.from({ length: 6 }, (_, i) => req(i + 1, 'decoding', 9, 8));
    const plan = schedule(view([req(9, 'waiting', 500, 0)], running, 100), { ...config, maxBatchTokens: 10 });
    expect(plan.runs.filter((r) => r.kind === 'decode')).toHaveLength(6);
    expect(plan.runs.find((r) => r.id === 9)?.numTokens).toBe(4);
  });

  it('partly prefilled requests go round-robin', () => {
    const running = [req(1, 'prefilling', 100, 16), req(2, 'prefilling', 100, 16)];
    const first = schedule(view([], running, 100, { stepIndex: 0 }), { ...config, maxBatchTokens: 16 });
    const second = schedule(view([], running, 100, { stepIndex: 1 }), { ...config, maxBatchTokens: 16 });
    expect(first.runs[0].id).not.toBe(second.runs[0].id);
  });

  it('FCFS: a request that does not fit blocks those behind it', () => {
    const plan = schedule(view([req(1, 'waiting', 40, 0), req(2, 'waiting', 4, 0)], [], 2), config);
    expect(plan.admit).toEqual([1]); // admitted with the 8 tokens its 2 pages hold
    expect(plan.runs[0].numTokens).toBe(8);
    const blocked = schedule(view([req(1, 'waiting', 40, 0), req(2, 'waiting', 4, 0)], [], 0), config);
    expect(blocked.admit).toEqual([]);
  });

  it('preempts the youngest running request when a decode needs a page, and admits nobody that step', () => {
    const running = [req(1, 'decoding', 9, 8), req(2, 'decoding', 13, 12)];
    const plan = schedule(view([req(3, 'waiting', 4, 0)], running, 0), config);
    expect(plan.preempt).toEqual([2]);
    expect(plan.admit).toEqual([]);
    expect(plan.runs.map((r) => r.id)).toEqual([1]);
  });

  it('with chunking off a prompt is prefilled whole or not at all', () => {
    const plan = schedule(view([req(1, 'waiting', 40, 0)], [], 100), { ...config, chunkedPrefill: false, maxBatchTokens: 32 });
    expect(plan.admit).toEqual([]);
    const fits = schedule(view([req(1, 'waiting', 30, 0)], [], 100), { ...config, chunkedPrefill: false, maxBatchTokens: 32 });
    expect(fits.runs[0]).toMatchObject({ numTokens: 30, isSampled: true });
  });

  it('uses the cached prefix: the first chunk starts after it', () => {
    const plan = schedule(view([req(1, 'waiting', 40, 0)], [], 100, { cachedPrefix: () => ({ numTokens: 32, numEvictablePages: 8 }) }), config);
    expect(plan.runs[0]).toMatchObject({ start: 32, numTokens: 8, numNewPages: 2, isSampled: true });
  });
});

/** Random but self-consistent views: running requests hold the pages their computed tokens need. */
const viewArb = fc
  .record({
    pageSize: fc.constantFrom(1, 4, 16),
    running: fc.array(fc.record({ numTokens: fc.integer({ min: 1, max: 200 }), fraction: fc.double({ min: 0, max: 1, noNaN: true }), isDecoding: fc.boolean() }), { maxLength: 10 }),
    waiting: fc.array(fc.record({ numTokens: fc.integer({ min: 1, max: 300 }), cached: fc.integer({ min: 0, max: 299 }) }), { maxLength: 10 }),
    numFreePages: fc.integer({ min: 0, max: 80 }),
    numEvictablePages: fc.integer({ min: 0, max: 20 }),
    stepIndex: fc.nat(100),
    config: fc.record({ maxBatchTokens: fc.integer({ min: 1, max: 512 }), maxRunning: fc.integer({ min: 1, max: 12 }), maxChunkSize: fc.integer({ min: 1, max: 128 }), chunkedPrefill: fc.boolean() }),
  })
  .map(({ pageSize, running, waiting, numFreePages, numEvictablePages, stepIndex, config }) => {
    let id = 0;
    const runningViews: RequestView[] = running.slice(0, config.maxRunning).map((r) => {
      const numComputed = r.isDecoding ? r.numTokens - 1 : Math.floor(r.fraction * (r.numTokens - 1));
      return { id: ++id, phase: r.isDecoding ? 'decoding' : 'prefilling', arrival: id, priority: 0, numTokens: r.numTokens, numComputed, numPages: Math.ceil(numComputed / pageSize) };
    });
    const cached = new Map<number, number>();
    const waitingViews: RequestView[] = waiting.map((w) => {
      const v: RequestView = { id: ++id, phase: 'waiting', arrival: id, priority: 0, numTokens: w.numTokens, numComputed: 0, numPages: 0 };
      cached.set(v.id, Math.floor(Math.min(w.cached, w.numTokens - 1) / pageSize) * pageSize);
      return v;
    });
    const sv: SchedulerView = {
      waiting: waitingViews,
      running: runningViews,
      numFreePages,
      numEvictablePages,
      pageSize,
      stepIndex,
      cachedPrefix: (r) => ({ numTokens: cached.get(r.id) ?? 0, numEvictablePages: 0 }),
      reclaimablePages: (r) => r.numPages,
    };
    return { view: sv, config };
  });

describe('scheduler policy: properties over random states', () => {
  it('every plan keeps invariants 1, 5, 6, 7 and never over-commits pages', () => {
    fc.assert(
      fc.property(viewArb, ({ view: v, config: c }) => {
        const plan = schedule(v, c);
        expect(checkStepPlan(v, c, plan)).toEqual([]);
        const reclaimed = plan.preempt.reduce((sum, id) => sum + v.running.find((r) => r.id === id)!.numPages, 0);
        const newPages = plan.runs.reduce((sum, r) => sum + r.numNewPages, 0);
        expect(newPages).toBeLessThanOrEqual(v.numFreePages + v.numEvictablePages + reclaimed);
      }),
      { numRuns: 5000 },
    );
  });

  it('progress: with requests running, a step schedules work or preempts', () => {
    fc.assert(
      fc.property(viewArb, ({ view: v, config: c }) => {
        fc.pre(v.running.length > 0);
        // What submit() guarantees: the oldest request fits the pool alone (and the budget when chunking is off).
        const oldest = v.running[0];
        const pool = v.running.reduce((sum, r) => sum + r.numPages, 0) + v.numFreePages + v.numEvictablePages;
        fc.pre(Math.ceil(oldest.numTokens / v.pageSize) <= pool);
        fc.pre(c.chunkedPrefill || oldest.numTokens <= c.maxBatchTokens);
        const plan = schedule(v, c);
        expect(plan.runs.length + plan.preempt.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });
});
