/** Workloads in virtual time: deterministic, no sleeping, latencies exactly what the model says. */
import { describe, expect, it } from 'vitest';
import { burstArrivals, fitLinearLatency, linearLatency, poissonArrivals, runTimedWorkload, traceArrivals, VirtualClock } from '../../src/testing/index.js';

const shape = { numPages: 512, pageSize: 16, maxBatchTokens: 512, maxRunning: 32, maxChunkSize: 256, chunkedPrefill: true, prefixCache: true, vocabSize: 256 };
const latency = linearLatency({ fixedMs: 1, perTokenMs: 0.01, perSeqMs: 0.05, perContextMs: 0, perKvReadMs: 0, perSampledMs: 0, wakeMs: 0 });
const prompt = (i: number, n = 40): number[] => Array.from({ length: n }, (_, j) => 1 + ((i * 31 + j * 7) % 250));

describe('virtual clock', () => {
  it('fires timers in time order, ties in the order set, and never goes back', () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b'), 20);
    clock.setTimeout(() => fired.push('a'), 10);
    const c = clock.setTimeout(() => fired.push('c'), 15);
    clock.setTimeout(() => fired.push('a2'), 10);
    clock.clearTimeout(c);
    clock.advance(12);
    expect(fired).toEqual(['a', 'a2']);
    expect(clock.now()).toBe(12);
    clock.advanceTo(5);
    expect(clock.now()).toBe(12);
    clock.advance(100);
    expect(fired).toEqual(['a', 'a2', 'b']);
  });
});

describe('arrival processes', () => {
  it('poisson is seeded and has the asked rate; bursts and traces are exact', () => {
    const times = poissonArrivals(2000, 50, 3);
    expect(poissonArrivals(2000, 50, 3)).toEqual(times);
    const meanGapMs = times[times.length - 1] / (times.length - 1);
    expect(meanGapMs).toBeGreaterThan(18);
    expect(meanGapMs).toBeLessThan(22);
    expect(burstArrivals(5, 2, 100)).toEqual([0, 0, 100, 100, 200]);
    expect(traceArrivals([5, 0, 10], { gaps: true })).toEqual([5, 5, 15]);
    expect(traceArrivals([30, 10])).toEqual([10, 30]);
  });
});

describe('runTimedWorkload', () => {
  it('one request: TTFT is the modelled prefill step, ITL the modelled decode step', async () => {
    const report = await runTimedWorkload([{ prompt: prompt(0), maxTokens: 5, arrivalMs: 7 }], shape, { latency });
    expect(report.ttftMs.p50).toBeCloseTo(1 + 0.01 * 40 + 0.05, 9);
    expect(report.itlMs.p50).toBeCloseTo(1 + 0.01 + 0.05, 9);
    expect(report.results[0].outputTokens).toBe(5);
  });

  it('is deterministic, and queueing shows in virtual time', async () => {
    const arrivals = poissonArrivals(40, 200, 11);
    const requests = arrivals.map((arrivalMs, i) => ({ prompt: prompt(i, 20 + (i % 30)), maxTokens: 8 + (i % 9), arrivalMs }));
    const a = await runTimedWorkload(requests, shape, { latency });
    const b = await runTimedWorkload(requests, shape, { latency });
    expect(b.ttftMs).toEqual(a.ttftMs);
    expect(b.makespanMs).toBe(a.makespanMs);
    const slow = await runTimedWorkload(requests, shape, { latency: (s) => 4 * latency(s) });
    expect(slow.ttftMs.p50).toBeGreaterThan(a.ttftMs.p50 * 3);
    expect(slow.outputTokPerS).toBeLessThan(a.outputTokPerS);
  });
});

describe('fitLinearLatency', () => {
  it('recovers the coefficients of timed steps', () => {
    const truth = { fixedMs: 0.3, perTokenMs: 0.02, perSeqMs: 0.004, perContextMs: 0.00001, perKvReadMs: 0.0003, perSampledMs: 0.01, wakeMs: 2 };
    const model = linearLatency(truth);
    const samples = Array.from({ length: 200 }, (_, i) => {
      const s = { numTokens: 1 + (i * 37) % 300, numSeqs: 1 + (i * 13) % 40, numAttended: (i * 7919) % 50000, numKvRead: (i * 2039) % 3000, numSampled: 1 + (i * 5) % 30, afterIdle: i % 3 === 0 ? 1 : 0 };
      return { shape: s, ms: model(s) };
    });
    const fit = fitLinearLatency(samples);
    for (const key of Object.keys(truth) as Array<keyof typeof truth>) expect(fit[key]).toBeCloseTo(truth[key], 6);
  });
});
