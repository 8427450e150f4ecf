/** The targets, checked against one run's results (ratios from the same run). */
import type { InterferenceResult } from './interference.js';
import type { DemoResult, ModelResult } from './suites.js';

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  isMet: boolean;
}

const x = (v: number): string => `${v.toFixed(2)}x`;

function modelTargets(m: ModelResult): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const top = m.random[m.random.length - 1];
  const one = m.random[0];
  if (top.llamaCpp) {
    const r = top.ours.outputTokPerS / top.llamaCpp.outputTokPerS;
    checks.push({ name: `${m.model}: output tok/s at ${top.concurrency} concurrent vs llama.cpp`, target: '>= 3x', measured: x(r), isMet: r >= 3 });
  }
  if (m.prefill.llamaCpp) {
    const r = m.prefill.ours.totalTokPerS / m.prefill.llamaCpp.totalTokPerS;
    checks.push({ name: `${m.model}: prefill tok/s (${m.prefill.promptLen}-token prompts) vs llama.cpp`, target: '>= 2x', measured: x(r), isMet: r >= 2 });
  }
  if (one.llamaCpp && one.concurrency === 1) {
    const r = one.llamaCpp.tpotMs.p50 / one.ours.tpotMs.p50;
    checks.push({ name: `${m.model}: single-stream decode (1 / TPOT p50) vs llama.cpp`, target: '>= 1x', measured: x(r), isMet: r >= 1 });
  }
  const shared = m.sharedPrefix[m.sharedPrefix.length - 1];
  const speedup = shared.ours.totalTokPerS / m.baselines.cacheOff.totalTokPerS;
  checks.push({ name: `${m.model}: shared-prefix at ${shared.concurrency} concurrent, cache on vs off`, target: '>= 2.5x', measured: x(speedup), isMet: speedup >= 2.5 });
  for (const p of m.sharedPrefix) {
    const gap = (p.optimumHitRate - p.ours.engine.cacheHitRate) * 100;
    checks.push({
      name: `${m.model}: shared-prefix hit rate at ${p.concurrency} concurrent vs optimum`,
      target: 'within 2 points',
      measured: `${(p.ours.engine.cacheHitRate * 100).toFixed(1)} % vs ${(p.optimumHitRate * 100).toFixed(1)} % (${gap.toFixed(1)} points below)`,
      isMet: gap <= 2,
    });
  }
  return checks;
}

export function checkTargets(models: readonly ModelResult[], demo: DemoResult | undefined, interference: readonly InterferenceResult[]): TargetCheck[] {
  const checks = models.flatMap(modelTargets);
  if (demo) {
    const v = demo.ours.outputTokPerS;
    checks.push({ name: `tiny: output tok/s at ${demo.numRequests} concurrent`, target: '>= 100,000', measured: Math.round(v).toLocaleString('en-US'), isMet: v >= 100_000 });
  }
  for (const r of interference) {
    checks.push({
      name: `interference (${r.label}): ITL p99 during the long prompt / p50 before`,
      target: '<= 2x',
      measured: `${x(r.spikeRatio)} (${r.itlDuringMs.p99.toFixed(1)} / ${r.itlBeforeMs.p50.toFixed(1)} ms)`,
      isMet: r.spikeRatio <= 2,
    });
  }
  return checks;
}
