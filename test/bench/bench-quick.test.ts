/**
 * Smoke test of the bench: the quick workloads on the tiny preset (no llama.cpp), checking
 * the result's shape and sanity, and that the prefix cache saves prefill on shared prefixes.
 */
import { describe, expect, it } from 'vitest';
import { runBench, type BenchResult } from '../../bench/bench.js';
import { runInterference } from '../../bench/interference.js';
import { medianOf, percentiles } from '../../bench/metrics.js';
import { markdownReport, terminalReport } from '../../bench/report.js';
import { loadModel } from '../../bench/suites.js';
import { concurrencyChart } from '../../bench/svg.js';
import { optimalHitRate, sharedPrefixWorkload } from '../../bench/workloads.js';

function expectSaneClient(m: { outputTokPerS: number; totalTokPerS: number; requestsPerS: number; ttftMs: { p50: number; p99: number } }): void {
  expect(m.outputTokPerS).toBeGreaterThan(0);
  expect(m.totalTokPerS).toBeGreaterThan(m.outputTokPerS);
  expect(m.requestsPerS).toBeGreaterThan(0);
  expect(m.ttftMs.p50).toBeGreaterThan(0);
  expect(m.ttftMs.p99).toBeGreaterThanOrEqual(m.ttftMs.p50);
}

describe('bench (quick, tiny)', () => {
  it('runs every workload and reports sane, JSON-serializable numbers', async () => {
    const result: BenchResult = await runBench({ quick: true, models: ['tiny'], threads: 2, runs: 1, weightDtype: 'f32', llamaCpp: false, demo: true, interference: false, log: () => undefined });
    const json = JSON.parse(JSON.stringify(result)) as BenchResult;
    expect(json.meta.quick).toBe(true);
    expect(json.models).toHaveLength(1);
    const [tiny] = json.models;
    expect(tiny.random.map((p) => p.concurrency)).toEqual([1, 8]);
    for (const p of [...tiny.random, ...tiny.sharedPrefix]) {
      expectSaneClient(p.ours);
      expect(p.ours.engine.cacheHitRate).toBeGreaterThanOrEqual(0);
      expect(p.ours.engine.cacheHitRate).toBeLessThanOrEqual(1);
      expect(p.ours.engine.steps).toBeGreaterThan(0);
      expect(p.ours.engine.peakPages).toBeLessThanOrEqual(p.ours.engine.naivePages);
      expect(p.llamaCpp).toBeUndefined();
    }
    for (const p of tiny.sharedPrefix) expect(p.ours.engine.cacheHitRate).toBeLessThanOrEqual(p.optimumHitRate + 1e-9);
    const shared = tiny.sharedPrefix[tiny.sharedPrefix.length - 1];
    expect(shared.ours.engine.prefillTokens).toBeLessThan(tiny.baselines.cacheOff.engine.prefillTokens);
    expect(tiny.baselines.cacheOff.engine.cacheHitRate).toBe(0);
    expectSaneClient(tiny.baselines.sequential!);
    expectSaneClient(tiny.baselines.chunkingOff);
    expect(json.demo!.ours.outputTokPerS).toBeGreaterThan(0);
    expect(json.targets.length).toBeGreaterThan(0);
    expect(terminalReport(result)).toContain('tiny: random workload');
    expect(markdownReport(result, 'chart.svg', '')).toContain('## Targets');
    expect(concurrencyChart(result.models)).toMatch(/^<svg[\s\S]*<\/svg>$/);
  }, 60_000);

  it('interference reports ITL before, during and after the long prompt', async () => {
    const model = loadModel('tiny', 2, 'f32');
    const knobs = { kvCachePages: 128, pageSize: 16, maxChunkSize: 32, maxBatchTokens: 1024, maxRunning: 8, prefixCache: true, chunkedPrefill: true };
    for (const kvDtype of ['f32', 'q8_0'] as const) {
      const r = await runInterference(`chunk 32, ${kvDtype} KV`, model, { ...knobs, kvDtype }, { numStreams: 2, streamPromptLen: 8, longPromptLen: 300, windowTokens: 8 });
      for (const p of [r.itlBeforeMs, r.itlDuringMs, r.itlAfterMs]) expect(p.p50).toBeGreaterThan(0);
      expect(r.longPromptTtftMs).toBeGreaterThan(0);
      expect(r.spikeRatio).toBeGreaterThan(0);
    }
  }, 30_000);

  it('the optimum hit rate follows the page-aligned formula', () => {
    const reqs = sharedPrefixWorkload({ numGroups: 3, requestsPerGroup: 4, prefixLen: 40, questionLen: 5, outputLen: 1, rate: Infinity, vocabSize: 256, seed: 1 });
    // per group: 3 followers x floor(40 / 16) * 16 = 96 cached tokens; 12 prompts of 45 tokens
    expect(optimalHitRate(reqs, 40, 16)).toBeCloseTo((3 * 3 * 32) / (12 * 45));
  });

  it('percentiles are nearest-rank and medians element-wise', () => {
    expect(percentiles([5, 1, 3, 2, 4])).toEqual({ p50: 3, p90: 5, p99: 5 });
    expect(medianOf([{ a: 1, b: { c: 10 } }, { a: 3, b: { c: 30 } }, { a: 2, b: { c: 20 } }])).toEqual({ a: 2, b: { c: 20 } });
  });
});
