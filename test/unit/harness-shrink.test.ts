/**
 * Deliberately broken policies are caught by the harness, and fast-check shrinks the
 * random workload that exposes each to a small readable counterexample: few requests,
 * arriving together, at the simplest engine shape, fields at their defaults left out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeWorkload, runWorkload, schedule, workloadArb, type HarnessOptions, type SchedulingPolicy, type Workload } from '../../src/testing/index.js';

/** Last come, first served: not FCFS, caught by the fcfs invariant once two requests wait together. */
const lcfs: SchedulingPolicy = (view, config) => schedule({ ...view, waiting: [...view.waiting].reverse() }, config);

/** Under-reserves: a run that needs two or more new pages is planned with one fewer. */
const underReserving: SchedulingPolicy = (view, config) => {
  const plan = schedule(view, config);
  return { ...plan, runs: plan.runs.map((r) => (r.numNewPages >= 2 ? { ...r, numNewPages: r.numNewPages - 1 } : r)) };
};

/** The workload, shrunk, that breaks `options` with a problem starting with `name` (seeded: the same one every run). */
async function shrunk(name: string, options: HarnessOptions): Promise<{ workload: Workload; printed: string }> {
  const result = await fc.check(
    fc.asyncProperty(workloadArb(), async (w) => {
      const report = await runWorkload(w, options);
      return !report.problems.some((p) => p.startsWith(`${name}:`));
    }),
    { seed: 20261202, numRuns: 300 },
  );
  expect(result.failed, `${name} never broke`).toBe(true);
  return { workload: result.counterexample![0], printed: fc.stringify(result.counterexample![0]) };
}

describe('a broken policy shrinks to a small readable counterexample', () => {
  it('LCFS under the fcfs invariant: two requests arriving together, at the smallest engine', async () => {
    const { workload, printed } = await shrunk('fcfs', { policy: lcfs });
    expect(workload.requests).toHaveLength(2);
    expect(workload.requests.map((r) => r.arrivalStep)).toEqual([0, 0]);
    for (const r of workload.requests) expect(r).toMatchObject({ temperature: 0, priority: 0, abortAfterTokens: undefined });
    expect(workload.engine).toMatchObject({ numPages: 6, pageSize: 1, maxRunning: 1, prefixCache: false });
    expect(printed).toBe(describeWorkload(workload));
    expect(printed).not.toMatch(/temp|priority|abort|group|failing/);
    expect(printed.length).toBeLessThan(160);
  });

  it('under-reserved pages under the pageAccounting invariant: one request, one step', async () => {
    const { workload, printed } = await shrunk('pageAccounting', { policy: underReserving });
    expect(workload.requests).toHaveLength(1);
    expect(workload.requests[0]).toMatchObject({ arrivalStep: 0, maxTokens: 1, temperature: 0, priority: 0, abortAfterTokens: undefined });
    expect(workload.engine.pageSize).toBe(1);
    expect(workload.requests[0].promptLength).toBe(2); // the smallest prompt that needs two pages
    expect(printed).toMatch(/^workload\(pages \d+x1, .*; #0 \+0 prompt 2\/1\)$/);
  });

  it('the same policies pass when the invariant they break is turned off, and the built-in policy passes all', async () => {
    await fc.assert(
      fc.asyncProperty(workloadArb({ maxRequests: 6 }), async (w) => {
        expect((await runWorkload(w, { policy: lcfs, invariants: { fcfs: false } })).problems).toEqual([]);
        expect((await runWorkload(w)).problems).toEqual([]);
      }),
      { numRuns: 60 },
    );
  });
});
