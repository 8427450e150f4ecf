/** The paced prefill allowance: the step's total held flat while the decodes grow, finishing the prompt; the option that turns it on. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { keysAttended, pacedAllowance, prefillCost, runCost, stepCostFromLatency, type StepCostModel } from '../../src/scheduler/step-cost.js';
import { runWorkload, schedule, workloadArb } from '../../src/testing/index.js';
import { simulateInterference, ZEN5_SMALL } from '../../src/testing/interference.js';
import type { RequestView, SchedulerConfig, SchedulerView } from '../../src/scheduler/view.js';

const model: StepCostModel = { ...stepCostFromLatency(ZEN5_SMALL.bf16), maxRatio: 100, isPaced: true };
const PAGE = 16;

const req = (id: number, phase: RequestView['phase'], numTokens: number, numComputed: number): RequestView => ({ id, phase, arrival: id, priority: 0, numTokens, numComputed, numPages: Math.ceil(numComputed / PAGE) });
const view = (running: RequestView[]): SchedulerView => ({
  waiting: [], running, numFreePages: 10_000, numEvictablePages: 0, pageSize: PAGE, stepIndex: 0,
  cachedPrefix: () => ({ numTokens: 0, numEvictablePages: 0 }), reclaimablePages: (r) => r.numPages,
});

describe('pacedAllowance', () => {
  it('is the re-read of the context now plus a, with a^2 - dR a - 2 g W = 0', () => {
    const start = 1000, numTokens = 4000, kv = model.perKvReadMs;
    const g = 8 * (model.perKeyMs + model.perKvReadMs), dR = (numTokens - start) * kv;
    const w = (numTokens - start) * model.perTokenMs + keysAttended(start, numTokens - start) * model.perKeyMs;
    const a = pacedAllowance(model, 8, [{ start, numTokens }]) - start * kv;
    expect(a * a - dR * a - 2 * g * w).toBeCloseTo(0, 6);
    expect(pacedAllowance(model, 0, [{ start, numTokens }])).toBeCloseTo(start * kv + dR, 9); // no growth: only the re-read's own
    expect(pacedAllowance(model, 8, [])).toBe(0);
  });

  it('on the line\'s tail, still affords two tokens a step (one when one is left)', () => {
    const twoAtEnd = prefillCost(model, 3990, 2, false);
    expect(pacedAllowance(model, 8, [{ start: 3990, numTokens: 4000 }])).toBeGreaterThanOrEqual(twoAtEnd);
    expect(pacedAllowance(model, 8, [{ start: 3990, numTokens: 4000 }])).toBeLessThan(prefillCost(model, 3990, 4, false));
    expect(pacedAllowance(model, 8, [{ start: 3999, numTokens: 4000 }])).toBeGreaterThanOrEqual(prefillCost(model, 3999, 1, false));
  });

  it('spent step after step, holds the step total within a few percent of flat and finishes the prompt', () => {
    // The idealized schedule (fractional tokens): the decodes gain a position a step.
    let context = 60, done = 0;
    const totals: number[] = [];
    for (let step = 0; done < 4000 && step < 100_000; step++) {
      const decodes = model.fixedMs + 8 * runCost(model, context, 1, true);
      const allowance = pacedAllowance(model, 8, [{ start: done, numTokens: 4000 }]);
      let n = 1;
      while (done + n < 4000 && prefillCost(model, done, n + 1, false) <= allowance) n++;
      totals.push(decodes + prefillCost(model, done, n, done + n === 4000));
      done += n;
      context++;
    }
    expect(done).toBe(4000);
    const body = totals.slice(1, Math.floor(totals.length * 0.8)); // the tail runs on the one-token minimum
    expect(Math.max(...body) / Math.min(...body)).toBeLessThan(1.15);
  });

  it('in the policy: the chunk beside the decodes is within the smaller of the ratio and the pace', () => {
    const running = [...Array.from({ length: 8 }, (_, i) => req(i + 1, 'decoding', 61, 60)), req(9, 'prefilling', 4000, 512)];
    const config = (isPaced: boolean): SchedulerConfig => ({ maxBatchTokens: 8192, maxRunning: 16, maxChunkSize: 256, chunkedPrefill: true, stepCost: { ...model, maxRatio: 3, isPaced } });
    const chunk = (isPaced: boolean): number => schedule(view(running), config(isPaced)).runs.find((r) => r.kind === 'prefill')?.numTokens ?? 0;
    expect(chunk(true)).toBeGreaterThan(0);
    expect(chunk(true)).toBeLessThan(chunk(false));
    const allowance = pacedAllowance(model, 8, [{ start: 512, numTokens: 4000 }]);
    expect(prefillCost(model, 512, chunk(true), false)).toBeLessThanOrEqual(allowance);
    expect(prefillCost(model, 512, chunk(true) + 1, false)).toBeGreaterThan(allowance);
  });

  it('on the simulator, lowers the streams\' ITL spike of the issue-17 workload below the ratio bound\'s best', async () => {
    const exact = stepCostFromLatency(ZEN5_SMALL.bf16);
    const ratio = await simulateInterference(ZEN5_SMALL.bf16, { stepCost: { ...exact, maxRatio: 1.5 } });
    const paced = await simulateInterference(ZEN5_SMALL.bf16, { stepCost: { ...exact, maxRatio: 2, isPaced: true } });
    expect(paced.spikeRatio).toBeLessThan(0.95 * ratio.spikeRatio); // 2.30x against 2.53x
    expect(paced.ttftMs).toBeLessThan(ratio.ttftMs); // 2.1 s against 2.5 s
  }, 30_000);
});

describe('the paced bound under the harness (DESIGN invariants 1-9: streams exact, no leak, aborts, preemption)', () => {
  it('every workload ends with every request final, streams exact, plans valid and no page leaked', async () => {
    const bound = fc.record({ maxRatio: fc.double({ min: 1, max: 4, noNaN: true }), perKvReadMs: fc.double({ min: 0, max: 1e-2, noNaN: true }), perKeyMs: fc.double({ min: 0, max: 1e-3, noNaN: true }) });
    await fc.assert(
      fc.asyncProperty(workloadArb(), bound, async (workload, b) => {
        const stepCost: StepCostModel = { fixedMs: 1, perTokenMs: 0.03, perSampledMs: 0.05, ...b, isPaced: true };
        const report = await runWorkload(workload, { policy: (v, c) => schedule(v, { ...c, stepCost }) });
        expect(report.problems).toEqual([]);
        expect(report.outcomes).toHaveLength(workload.requests.length);
      }),
      { numRuns: 300 },
    );
  }, 120_000);
});

describe('the pacedPrefill engine option', () => {
  const sim = () => new SimulatedExecutor({ vocabSize: 256, numPages: 64, pageSize: 16 });
  const measured = { fixedMs: 1.5, perTokenMs: 0.03, perSampledMs: 0.05, perKeyMs: 6e-5, perKvReadMs: 8e-4 };

  it('is refused by name when not a boolean, or without maxStepCostRatio', async () => {
    await expect(NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2, measuredStepCost: measured, pacedPrefill: 'yes' as never })).rejects.toMatchObject({ name: 'InvalidRequestError', param: 'pacedPrefill' });
    await expect(NanoServingEngine.create({ executor: sim(), pacedPrefill: true })).rejects.toMatchObject({ name: 'InvalidRequestError', param: 'pacedPrefill' });
  });

  it('reaches the policy as isPaced, and only when asked', async () => {
    for (const pacedPrefill of [true, false, undefined]) {
      const seen: SchedulerConfig[] = [];
      const engine = await NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2, measuredStepCost: measured, pacedPrefill, policy: (v, c) => (seen.push(c), schedule(v, c)) });
      expect((await engine.submit([1, 2, 3], { maxTokens: 2 }).done).outputTokens).toBe(2);
      await engine.close();
      expect(seen[0].stepCost?.isPaced === true).toBe(pacedPrefill === true);
    }
  });
});
