/** The step-cost budget: chunks sized by predicted cost (attention grows with the context), refused when misused. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NanoServingEngine } from '../../src/engine/engine.js';
import { InvalidRequestError } from '../../src/errors.js';
import { SimulatedExecutor } from '../../src/executor/simulated.js';
import { presetConfig } from '../../src/models/presets.js';
import { chunkWithin, keysAttended, kvBytesPerElement, runCost, stepCostFromLatency, stepCostModel, type StepCostModel } from '../../src/scheduler/step-cost.js';
import { checkStepPlan, readCalibration, schedule, selectCalibration } from '../../src/testing/index.js';
import { join } from 'node:path';
import type { RequestView, SchedulerConfig, SchedulerView, StepPlan } from '../../src/scheduler/view.js';

const PAGE = 16;
const small = stepCostModel(presetConfig('small'), 2);
const config: SchedulerConfig = { maxBatchTokens: 8192, maxRunning: 16, maxChunkSize: 256, chunkedPrefill: true, stepCost: small };

function req(id: number, phase: RequestView['phase'], numTokens: number, numComputed: number): RequestView {
  return { id, phase, arrival: id, priority: 0, numTokens, numComputed, numPages: Math.ceil(numComputed / PAGE) };
}

function view(waiting: RequestView[], running: RequestView[]): SchedulerView {
  return {
    waiting, running, numFreePages: 10_000, numEvictablePages: 0, pageSize: PAGE, stepIndex: 0,
    cachedPrefix: () => ({ numTokens: 0, numEvictablePages: 0 }),
    reclaimablePages: (r) => r.numPages,
  };
}

const decodes = (n: number, context: number): RequestView[] => Array.from({ length: n }, (_, i) => req(i + 1, 'decoding', context + 1, context));
const prefillOf = (plan: StepPlan) => plan.runs.filter((r) => r.kind === 'prefill');

/** Predicted cost of the plan's runs, and of its decodes alone (both with the fixed part). */
function costs(model: StepCostModel, plan: StepPlan): { step: number; decodes: number } {
  const of = (kind?: string) => plan.runs.filter((r) => !kind || r.kind === kind).reduce((s, r) => s + runCost(model, r.start, r.numTokens, r.isSampled), model.fixedMs);
  return { step: of(), decodes: of('decode') };
}

describe('step-cost model', () => {
  it('counts the keys a chunk attends, and its attention dominates at a long context', () => {
    expect(keysAttended(0, 4)).toBe(1 + 2 + 3 + 4);
    expect(keysAttended(100, 2)).toBe(101 + 102);
    expect(runCost(small, 4000, 16, false)).toBeGreaterThan(4 * runCost(small, 0, 16, false));
  });

  it('counts the K/V a run reads once: a lone query at a long context costs most of what a 16-token chunk does', () => {
    const one = runCost(small, 3999, 1, false), sixteen = runCost(small, 3984, 16, false);
    expect(one).toBeGreaterThan(sixteen / 4);
    expect(one - runCost(small, 3999, 0, false)).toBeLessThan(one / 4); // the read is most of the cost, not the token
    // A decode at a long context costs more than one at a short one: its own K/V read.
    expect(runCost(small, 4000, 1, true)).toBeGreaterThan(2 * runCost(small, 40, 1, true));
  });

  it('grows with tokens and with context, sampling adds', () => {
    fc.assert(
      fc.property(fc.nat(5000), fc.integer({ min: 1, max: 512 }), fc.boolean(), (start, n, isSampled) => {
        const cost = runCost(small, start, n, isSampled);
        expect(runCost(small, start, n + 1, isSampled)).toBeGreaterThan(cost);
        expect(runCost(small, start + 1, n, isSampled)).toBeGreaterThan(cost);
        expect(runCost(small, start, n, true)).toBeGreaterThanOrEqual(cost);
      }),
      { numRuns: 500 },
    );
  });

  it('takes the bytes it streams from the element types', () => {
    const shape = presetConfig('small');
    const bf16Kv = stepCostModel(shape, 2, { kvDtype: 'bf16' });
    // Half the bytes, read at the lower rate of 16-bit elements (their widening): more than half the time.
    expect(bf16Kv.perKvReadMs).toBeLessThan(small.perKvReadMs * 0.75);
    expect(bf16Kv.perKvReadMs).toBeGreaterThan(small.perKvReadMs / 2);
    expect(stepCostModel(shape, 2, { kvDtype: 'f16' }).perKvReadMs).toBe(bf16Kv.perKvReadMs);
    // q8_0: 1 + 8 / 48 bytes a value at small's head_dim 48 (a scale per 32 + one per 16), below bf16's time.
    expect(kvBytesPerElement('q8_0', 48)).toBeCloseTo(56 / 48, 12);
    expect(kvBytesPerElement('q8_0', 64)).toBe(1.125);
    const q8Kv = stepCostModel(shape, 2, { kvDtype: 'q8_0' });
    expect(q8Kv.perKvReadMs).toBeLessThan(bf16Kv.perKvReadMs);
    expect(q8Kv.perKvReadMs).toBeGreaterThan(bf16Kv.perKvReadMs * (56 / 48 / 2));
    expect(bf16Kv.fixedMs).toBe(small.fixedMs);
    expect(stepCostModel(shape, 2, { weightDtype: 'bf16' }).fixedMs).toBeCloseTo(small.fixedMs / 2, 12);
    const q8 = stepCostModel(shape, 2, { weightDtype: 'q8_0' }).fixedMs, q4 = stepCostModel(shape, 2, { weightDtype: 'q4_k' }).fixedMs;
    expect(q4).toBeLessThan(q8);
    expect(q8).toBeLessThan(small.fixedMs / 3);
    expect(bf16Kv.perTokenMs).toBe(small.perTokenMs);
    // Halved K/V traffic lets a chunk at a long context be longer within the same allowance.
    const allowance = 2 * runCost(small, 3000, 1, false);
    expect(chunkWithin(bf16Kv, allowance, 3000, 256, () => false)).toBeGreaterThan(chunkWithin(small, allowance, 3000, 256, () => false));
  });

  it('maps a measured latency fit onto the cost: the per-sequence term joins the sampled one', () => {
    const fit = { fixedMs: 1.2, perTokenMs: 0.03, perSeqMs: 0.25, perContextMs: 6e-5, perKvReadMs: 8e-4, perSampledMs: 0.5 };
    expect(stepCostFromLatency(fit)).toEqual({ fixedMs: 1.2, perTokenMs: 0.03, perSampledMs: 0.75, perKeyMs: 6e-5, perKvReadMs: 8e-4 });
  });

  it('chunkWithin is the longest chunk that fits', () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 500, noNaN: true }), fc.nat(5000), fc.integer({ min: 1, max: 300 }), fc.boolean(), (allowance, start, max, endsAt) => {
        const sampled = (n: number) => endsAt && n === max;
        const n = chunkWithin(small, allowance, start, max, sampled);
        if (n > 0) expect(runCost(small, start, n, sampled(n))).toBeLessThanOrEqual(allowance);
        if (n < max) expect(runCost(small, start, n + 1, sampled(n + 1))).toBeGreaterThan(allowance);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('scheduler policy with a step-cost budget', () => {
  it("a long prompt's chunks shrink as its context grows, beside decodes", () => {
    const early = prefillOf(schedule(view([], [...decodes(8, 40), req(9, 'prefilling', 4000, 0)]), config))[0].numTokens;
    const late = prefillOf(schedule(view([], [...decodes(8, 40), req(9, 'prefilling', 4000, 3900)]), config))[0].numTokens;
    expect(early).toBeGreaterThan(late);
    expect(early).toBeLessThan(256);
    expect(late).toBeGreaterThanOrEqual(1);
  });

  it('leaves a step without decodes alone: chunks of maxChunkSize', () => {
    const plan = schedule(view([], [req(9, 'prefilling', 4000, 3000)]), config);
    expect(prefillOf(plan)[0].numTokens).toBe(256);
  });

  it("the step's first chunk always progresses, later ones only within the bound", () => {
    const tight = { ...config, stepCost: stepCostModel(presetConfig('small'), 1) };
    const plan = schedule(view([req(20, 'waiting', 500, 0)], [...decodes(8, 40), req(9, 'prefilling', 4000, 3900)]), tight);
    expect(prefillOf(plan).map((r) => [r.id, r.numTokens])).toEqual([[9, 1]]);
    expect(plan.admit).toEqual([]);
  });

  it('keeps within the bound and the plan invariants over random states', () => {
    const state = fc.record({
      numDecodes: fc.integer({ min: 1, max: 12 }),
      decodeContext: fc.integer({ min: 1, max: 3000 }),
      prompts: fc.array(fc.record({ numTokens: fc.integer({ min: 2, max: 5000 }), fraction: fc.double({ min: 0, max: 0.99, noNaN: true }) }), { minLength: 1, maxLength: 4 }),
      maxRatio: fc.double({ min: 1, max: 8, noNaN: true }),
      maxChunkSize: fc.integer({ min: 1, max: 512 }),
    });
    fc.assert(
      fc.property(state, (s) => {
        const model = stepCostModel(presetConfig('small'), s.maxRatio);
        const c = { ...config, maxChunkSize: s.maxChunkSize, stepCost: model };
        const prefilling = s.prompts.map((p, i) => req(100 + i, 'prefilling', p.numTokens, Math.floor(p.fraction * (p.numTokens - 1))));
        const v = view([req(200, 'waiting', 300, 0)], [...decodes(s.numDecodes, s.decodeContext), ...prefilling]);
        const plan = schedule(v, c);
        expect(checkStepPlan(v, c, plan)).toEqual([]);
        const chunks = prefillOf(plan);
        expect(chunks.length).toBeGreaterThan(0);
        const { step, decodes: alone } = costs(model, plan);
        const isLoneToken = chunks.length === 1 && chunks[0].numTokens === 1;
        if (!isLoneToken) expect(step).toBeLessThanOrEqual(s.maxRatio * alone * (1 + 1e-9));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('engine option maxStepCostRatio', () => {
  const sim = () => new SimulatedExecutor({ vocabSize: 256, numPages: 64, pageSize: 16 });

  it('is refused by name when it is not a finite number >= 1, without chunking, or without a model shape', async () => {
    for (const bad of [0.5, 0, -1, Number.NaN, Infinity, '2' as unknown as number]) {
      await expect(NanoServingEngine.create({ model: 'tiny', maxStepCostRatio: bad })).rejects.toMatchObject({ name: 'InvalidRequestError', param: 'maxStepCostRatio' });
    }
    await expect(NanoServingEngine.create({ model: 'tiny', maxStepCostRatio: 2, chunkedPrefill: false })).rejects.toBeInstanceOf(InvalidRequestError);
    await expect(NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2 })).rejects.toThrow(/model shape/);
  });

  it('measuredStepCost: refused by name unless an object of five finite coefficients >= 0 (fixedMs > 0), beside maxStepCostRatio', async () => {
    const good = { fixedMs: 1, perTokenMs: 0.03, perSampledMs: 0.05, perKeyMs: 6e-5, perKvReadMs: 8e-4 };
    const cases: Array<[unknown, string]> = [
      [null, 'measuredStepCost'], [[1, 2], 'measuredStepCost'], ['fast', 'measuredStepCost'],
      [{ ...good, fixedMs: 0 }, 'measuredStepCost.fixedMs'], [{ ...good, perKeyMs: -1 }, 'measuredStepCost.perKeyMs'],
      [{ ...good, perKvReadMs: Number.NaN }, 'measuredStepCost.perKvReadMs'], [{ ...good, perTokenMs: Infinity }, 'measuredStepCost.perTokenMs'],
      [{ ...good, perSampledMs: undefined }, 'measuredStepCost.perSampledMs'], [{ ...good, perTokenMs: '1' }, 'measuredStepCost.perTokenMs'],
    ];
    for (const [bad, param] of cases) {
      await expect(NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2, measuredStepCost: bad as never })).rejects.toMatchObject({ name: 'InvalidRequestError', param });
    }
    await expect(NanoServingEngine.create({ executor: sim(), measuredStepCost: good })).rejects.toMatchObject({ param: 'measuredStepCost' });
  });

  it('measuredStepCost replaces the derived model, and needs no model shape', async () => {
    const measured = { fixedMs: 1.5, perTokenMs: 0.03, perSampledMs: 0.05, perKeyMs: 6e-5, perKvReadMs: 8e-4 };
    const seen: SchedulerConfig[] = [];
    const engine = await NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2, measuredStepCost: { ...measured, extra: 1 } as never, policy: (v, c) => (seen.push(c), schedule(v, c)) });
    await engine.submit([1, 2, 3], { maxTokens: 2 }).done;
    await engine.close();
    expect(seen[0].stepCost).toEqual({ ...measured, maxRatio: 2 });
  });

  it('takes a calibration file\'s entry, as the README shows', async () => {
    const entry = selectCalibration(readCalibration(join(import.meta.dirname, '../../bench/results/latency-calibration.json')), { model: 'small' });
    const measured = stepCostFromLatency(entry.coefficients);
    const engine = await NanoServingEngine.create({ executor: sim(), maxStepCostRatio: 2, measuredStepCost: measured });
    expect((await engine.submit([1, 2, 3], { maxTokens: 2 }).done).outputTokens).toBe(2);
    await engine.close();
  });

  it('the derived model takes the engine\'s kvDtype and weightDtype', async () => {
    const info = { ...sim().info, modelConfig: presetConfig('small') };
    const seen: SchedulerConfig[] = [];
    const engine = await NanoServingEngine.create({ executor: Object.assign(sim(), { info }), maxStepCostRatio: 2, kvDtype: 'bf16', weightDtype: 'bf16', policy: (v, c) => (seen.push(c), schedule(v, c)) });
    await engine.submit([1, 2, 3], { maxTokens: 2 }).done;
    await engine.close();
    expect(seen[0].stepCost).toEqual(stepCostModel(presetConfig('small'), 2, { kvDtype: 'bf16', weightDtype: 'bf16' }));
  });

  it('reaches the policy as a cost model of the executor\'s model', async () => {
    const info = { ...sim().info, modelConfig: presetConfig('small') };
    const executor = Object.assign(sim(), { info });
    const seen: SchedulerConfig[] = [];
    const engine = await NanoServingEngine.create({ executor, maxStepCostRatio: 1.5, policy: (v, c) => (seen.push(c), schedule(v, c)) });
    await engine.submit([1, 2, 3], { maxTokens: 2 }).done;
    await engine.close();
    expect(seen[0].stepCost).toEqual(stepCostModel(presetConfig('small'), 1.5));
  });
});
