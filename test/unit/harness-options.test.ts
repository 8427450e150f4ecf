/** The research harness: selectable invariants, extra checks, per-step trace, manual steps for model-based tests. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSimulatedEngine, runWorkload, schedule, workloadArb, type SchedulingPolicy, type Workload } from '../../src/testing/index.js';
import { checkPageConservation } from '../../src/testing/invariants.js';

const workload: Workload = {
  engine: { numPages: 64, pageSize: 4, maxBatchTokens: 64, maxRunning: 4, maxChunkSize: 16, chunkedPrefill: true, prefixCache: true },
  vocabSize: 64,
  sharedPrefix: 0,
  failingSteps: [],
  requests: [0, 1, 2, 3].map((i) => ({ group: i, promptLength: 6 + i, maxTokens: 3, arrivalStep: 0, temperature: 0, seed: i, abortBy: 'call' as const, priority: 0 })),
};

/** Last come, first served: admits the newest waiting request first. */
const lcfs: SchedulingPolicy = (view, config) => schedule({ ...view, waiting: [...view.waiting].reverse() }, config);

describe('runWorkload options', () => {
  it('fcfs can be turned off for a policy that does not promise it; the others still hold', async () => {
    const strict = await runWorkload(workload, { policy: lcfs });
    expect(strict.problems.some((p) => p.startsWith('fcfs:'))).toBe(true);
    const relaxed = await runWorkload(workload, { policy: lcfs, invariants: { fcfs: false } });
    expect(relaxed.problems).toEqual([]);
    expect(relaxed.outcomes.every((o) => o.result?.outputTokens === 3)).toBe(true);
  });

  it('runs extra checks on every plan, and traces every step with what ran', async () => {
    let calls = 0;
    const report = await runWorkload(workload, {
      trace: true,
      extraChecks: (view, plan) => {
        calls++;
        return plan.runs.length > 3 ? [`step ${view.stepIndex} ran ${plan.runs.length} requests`] : [];
      },
    });
    expect(calls).toBe(report.trace!.length);
    expect(report.problems.every((p) => p.startsWith('extra: '))).toBe(true);
    expect(report.problems.length).toBeGreaterThan(0); // the first step admits all four
    const first = report.trace![0];
    expect(first.waiting).toEqual([1, 2, 3, 4]);
    expect(first.requests).toEqual([1, 2, 3, 4].map((id) => ({ id, phase: 'waiting', priority: 0, numTokens: 5 + id, numComputed: 0, numPages: 0 })));
    expect(first.ran).toEqual(first.plan.runs.map((r) => r.id));
    const later = report.trace!.find((r) => r.running.length > 0)!;
    expect(later.requests.find((r) => r.id === later.running[0])).toMatchObject({ phase: 'decoding', numComputed: 6 });
  });

  it('pageAccounting catches a policy whose page deltas do not fit', async () => {
    const greedy: SchedulingPolicy = (view, config) => schedule({ ...view, numFreePages: view.numFreePages + 100 }, config);
    const small = { ...workload, engine: { ...workload.engine, numPages: 8 } };
    const report = await runWorkload(small, { policy: greedy });
    expect(report.problems.some((p) => p.startsWith('pageAccounting:'))).toBe(true);
  });
});

describe('manual steps for fc.commands model-based tests', () => {
  type Model = { submitted: number; ended: Set<number> };
  type Real = ReturnType<typeof createSimulatedEngine>;
  const handles = new Map<number, ReturnType<Real['submit']>>();

  class Submit implements fc.AsyncCommand<Model, Real> {
    constructor(readonly length: number, readonly maxTokens: number) {}
    check = (): boolean => true;
    async run(m: Model, r: Real): Promise<void> {
      const h = r.submit(Array.from({ length: this.length }, (_, i) => 1 + ((i * 7 + m.submitted) % 60)), { maxTokens: this.maxTokens });
      handles.set(h.id, h);
      h.done.then(() => m.ended.add(h.id), () => m.ended.add(h.id));
      m.submitted++;
    }
    toString = (): string => `submit(${this.length}, ${this.maxTokens})`;
  }
  class Step implements fc.AsyncCommand<Model, Real> {
    check = (): boolean => true;
    async run(m: Model, r: Real): Promise<void> {
      await r.step();
      expect(checkPageConservation(r.pageCensus())).toEqual([]);
      expect(r.stats().running + r.stats().waiting).toBeLessThanOrEqual(m.submitted - m.ended.size);
    }
    toString = (): string => 'step';
  }
  class Abort implements fc.AsyncCommand<Model, Real> {
    constructor(readonly pick: number) {}
    check = (m: Model): boolean => m.submitted > 0;
    async run(m: Model): Promise<void> {
      handles.get(1 + (this.pick % m.submitted))?.abort();
    }
    toString = (): string => `abort(#${this.pick})`;
  }

  it('any interleaving of submits, steps and aborts keeps the pages conserved and ends every request', async () => {
    const commands = [
      fc.record({ length: fc.integer({ min: 1, max: 30 }), maxTokens: fc.integer({ min: 1, max: 8 }) }).map(({ length, maxTokens }) => new Submit(length, maxTokens)),
      fc.constant(new Step()),
      fc.constant(new Step()),
      fc.nat(20).map((pick) => new Abort(pick)),
    ];
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { size: '-1' }), async (cmds) => {
        handles.clear();
        const real = createSimulatedEngine({ ...workload, engine: { ...workload.engine, numPages: 24 } }, {}, undefined, { manualSteps: true });
        const model: Model = { submitted: 0, ended: new Set() };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        for (let i = 0; i < 500 && real.stats().running + real.stats().waiting > 0; i++) await real.step();
        await Promise.resolve();
        expect(real.stats().running + real.stats().waiting).toBe(0);
        expect(checkPageConservation(real.pageCensus())).toEqual([]);
        await real.close();
      }),
      { numRuns: 100 },
    );
  });
});

describe('arbitraries shrink to small readable counterexamples', () => {
  it('a failing property shrinks to one short request arriving at step 0', () => {
    const failure = fc.check(fc.property(workloadArb(), (w) => w.requests.every((r) => r.maxTokens < 3)), { seed: 42 });
    expect(failure.failed).toBe(true);
    const [w] = failure.counterexample!;
    expect(w.requests).toHaveLength(1);
    expect(w.requests[0]).toMatchObject({ maxTokens: 3, arrivalStep: 0, abortAfterTokens: undefined, priority: 0 });
  });
});
