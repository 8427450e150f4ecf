/**
 * The step-cost bound in the whole engine, in virtual time: whatever the bound (paced to the
 * decodes' growth or not, corrected online from the steps' times or not), the cost
 * coefficients, the arrivals and a page pool small enough to preempt, every request finishes
 * with all its tokens (no request starves behind a long prompt's shrinking chunks, and a prompt being
 * prefilled progresses in every step that has a page for it), every
 * plan keeps the policy's invariants, and the simulator's page checks never fire (a wrong
 * page table or a skipped chunk fails the step).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { schedule } from '../../src/scheduler/policy.js';
import type { SchedulerConfig, SchedulerView } from '../../src/scheduler/view.js';
import { checkStepPlan, linearLatency, runTimedWorkload } from '../../src/testing/index.js';

const latency = linearLatency({ fixedMs: 1.2, perTokenMs: 0.031, perSeqMs: 0, perContextMs: 5.8e-5, perKvReadMs: 8e-4, perSampledMs: 0.05, wakeMs: 0 });

const workload = fc.record({
  maxRatio: fc.double({ min: 1, max: 4, noNaN: true }),
  isPaced: fc.boolean(),
  isCalibrated: fc.boolean(),
  fixedMs: fc.double({ min: 0.01, max: 5, noNaN: true }),
  perKvReadMs: fc.double({ min: 0, max: 1e-2, noNaN: true }),
  perKeyMs: fc.double({ min: 0, max: 1e-3, noNaN: true }),
  maxChunkSize: fc.integer({ min: 1, max: 256 }),
  numPages: fc.integer({ min: 48, max: 200 }), // 48 pages hold the longest request (600 + 120 tokens)
  requests: fc.array(fc.record({ promptLen: fc.integer({ min: 1, max: 600 }), maxTokens: fc.integer({ min: 1, max: 120 }), arrivalMs: fc.nat(200) }), { minLength: 1, maxLength: 10 }),
});

describe('maxStepCostRatio in the engine, paced or not, calibrated or not', () => {
  it('no request starves, plans keep their invariants, pages stay accounted', async () => {
    await fc.assert(
      fc.asyncProperty(workload, async (w) => {
        const stepCost = { maxRatio: w.maxRatio, isPaced: w.isPaced, isCalibrated: w.isCalibrated, fixedMs: w.fixedMs, perTokenMs: 0.03, perSampledMs: 0.05, perKeyMs: w.perKeyMs, perKvReadMs: w.perKvReadMs };
        const problems: string[] = [];
        const policy = (view: SchedulerView, config: SchedulerConfig) => {
          const plan = schedule(view, config);
          problems.push(...checkStepPlan(view, config, plan));
          // Progress: a prompt being prefilled gets a chunk in every step that leaves a page for it (or it has room in its own).
          const spare = view.numFreePages + view.numEvictablePages - plan.runs.reduce((n, r) => n + (r.kind === 'decode' ? r.numNewPages : 0), 0);
          const isStarved = (r: (typeof view.running)[number]) => r.phase === 'prefilling' && (spare > 0 || r.numPages * view.pageSize > r.numComputed);
          if (plan.preempt.length === 0 && view.running.some(isStarved) && !plan.runs.some((r) => r.kind === 'prefill')) problems.push(`step ${view.stepIndex}: no prefill progressed ${JSON.stringify(view.running.map((r) => [r.id, r.phase, r.numTokens, r.numComputed, r.numPages]))} free ${view.numFreePages} evictable ${view.numEvictablePages} ${JSON.stringify(plan)}`);
          return plan;
        };
        const requests = w.requests.map((r, i) => ({ prompt: Array.from({ length: r.promptLen }, (_, j) => 1 + ((i * 37 + j * 11) % 250)), maxTokens: r.maxTokens, arrivalMs: r.arrivalMs }));
        const report = await runTimedWorkload(
          requests,
          { numPages: w.numPages, pageSize: 16, maxBatchTokens: 1024, maxRunning: 8, maxChunkSize: w.maxChunkSize, chunkedPrefill: true, prefixCache: true, vocabSize: 256, stepCost },
          { latency, policy },
        );
        expect(problems).toEqual([]);
        expect(report.results.map((r) => [r.finishReason, r.outputTokens])).toEqual(w.requests.map((r) => ['length', r.maxTokens]));
      }),
      { numRuns: 60 },
    );
  }, 120_000);
});
