import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runWorkload, workloadArb, type Workload } from '../../src/testing/index.js';

const RUNS = Number(process.env.NANO_PROPERTY_RUNS ?? 1);

describe('engine on the simulated executor (DESIGN invariants 1-9, 11)', () => {
  it('every workload ends with every request final, streams exact, plans valid and no leak', async () => {
    await fc.assert(
      fc.asyncProperty(workloadArb(), async (workload) => {
        const report = await runWorkload(workload);
        expect(report.problems).toEqual([]);
        expect(report.outcomes).toHaveLength(workload.requests.length);
      }),
      { numRuns: 1000 * RUNS },
    );
  });

  it('executor faults fail only the requests of the failed step; the engine keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(workloadArb({ faults: true }), async (workload) => {
        const report = await runWorkload(workload);
        expect(report.problems).toEqual([]);
        const failed = report.outcomes.filter((o) => o.error !== undefined);
        for (const outcome of failed) {
          expect((outcome.error as { code?: string }).code).toBe('ERR_EXECUTOR');
          expect(outcome.streamEnded).toBe('error');
        }
        expect(report.stats.requests.failed).toBe(failed.length);
      }),
      { numRuns: 300 * RUNS },
    );
  });

  it('batch invariance: each request outputs the same tokens as when served alone (any batch, chunking, cache, preemption)', async () => {
    const noAborts = workloadArb({ maxRequests: 8 }).map(
      (w): Workload => ({ ...w, requests: w.requests.map((r) => ({ ...r, abortAfterTokens: undefined })) }),
    );
    await fc.assert(
      fc.asyncProperty(noAborts, async (workload) => {
        const together = await runWorkload(workload);
        expect(together.problems).toEqual([]);
        for (let i = 0; i < workload.requests.length; i++) {
          const alone = await runWorkload(
            { ...workload, engine: { ...workload.engine, prefixCache: false, maxChunkSize: 1 + (i % 7) } },
            { only: [i] },
          );
          expect(together.outcomes[i].result?.tokens).toEqual(alone.outcomes[0].result?.tokens);
        }
      }),
      { numRuns: 150 * RUNS },
    );
  });

  it('stats agree with counts taken independently', async () => {
    await fc.assert(
      fc.asyncProperty(workloadArb(), async (workload) => {
        const report = await runWorkload(workload);
        const results = report.outcomes.map((o) => o.result).filter((r) => r !== undefined);
        const generated = results.reduce((sum, r) => sum + r.outputTokens, 0);
        expect(report.stats.generatedTokens).toBe(generated);
        expect(report.stats.requests.submitted).toBe(workload.requests.length);
        const byReason = (reason: string) => results.filter((r) => r.finishReason === reason).length;
        expect(report.stats.requests.aborted).toBe(byReason('abort'));
        expect(report.stats.requests.finished).toBe(byReason('stop') + byReason('length'));
        if (!workload.engine.prefixCache) expect(report.stats.cachedTokens).toBe(0);
        expect(report.stats.running + report.stats.waiting).toBe(0);
      }),
      { numRuns: 300 * RUNS },
    );
  });
});
