/**
 * What the long-prompt interference target (ITL p99 during a 4,000-token prefill <= 2x the
 * p50 before it, 8 streams on small) needs of the kernels, on the simulator with the step
 * costs known exactly (no step variance): the decode K/V read and the chunk attention's
 * arithmetic sped up by factors, each schedule's best ratio, beside the rough model
 *   constant allowance: 1 + 2 sqrt(s W / D)     paced to the growth: 1 + sqrt(2 s W / D)
 * (D: the decodes' step before the prompt; s: its relative growth a step; W: the prompt's
 * work alone, one chunk).
 *   node dist/bench/interference-floor.js [--kv bf16|f32|q8_0] [--kv-speed 1,2,3] [--attn-speed 1,2]
 *                                         [--ratios 1.25,1.5,2,3] [--split 1,6] [--out FILE.json]
 *                                         [--coefficients '{"fixedMs":..,"perTokenMs":..,"perSampledMs":..,"perKeyMs":..,"perKvReadMs":..}']
 * --coefficients: the base costs measured on this machine (what step-cost-fit.js prints), in
 * place of the simulator's Zen 5 ones (ZEN5_SMALL[--kv]).
 * --split L: a chunk's K/V read costs 1/L a step (its layers split over L steps: a what-if,
 * no executor does it). Virtual time: a few seconds a row, no native code, no lock needed.
 */
import { writeFileSync } from 'node:fs';
import { keysAttended, stepCostFromLatency, type StepCostCoefficients } from '../src/scheduler/step-cost.js';
import type { StepInput } from '../src/executor/step.js';
import { ISSUE_17_WORKLOAD, simulateInterference, ZEN5_SMALL } from '../src/testing/interference.js';
import type { LinearLatency } from '../src/testing/latency.js';

const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const numbers = (name: string, fallback: string): number[] => arg(name, fallback).split(',').map(Number);
const kv = arg('kv', 'bf16') as keyof typeof ZEN5_SMALL;
if (!ZEN5_SMALL[kv]) throw new RangeError(`--kv: one of ${Object.keys(ZEN5_SMALL).join(', ')}`);
const given = arg('coefficients', '');
const base: LinearLatency = given ? latencyOf(JSON.parse(given) as StepCostCoefficients) : ZEN5_SMALL[kv];

/** The simulator's latency of measured step-cost coefficients (no per-sequence or wake-up term). */
function latencyOf(c: StepCostCoefficients): LinearLatency {
  for (const key of ['fixedMs', 'perTokenMs', 'perSampledMs', 'perKeyMs', 'perKvReadMs'] as const) {
    if (!(c[key] >= 0)) throw new RangeError(`--coefficients: ${key} must be a number >= 0`);
  }
  return { fixedMs: c.fixedMs, perTokenMs: c.perTokenMs, perSampledMs: c.perSampledMs, perContextMs: c.perKeyMs, perKvReadMs: c.perKvReadMs, perSeqMs: 0, wakeMs: 0 };
}

/** A latency whose prefill runs (not a lone sampled token) read their K/V at `scale` of a decode's cost. */
function withPrefillKvScale(latency: LinearLatency, scale: number): (input: StepInput) => number {
  return (input) => {
    let ms = latency.fixedMs + latency.perTokenMs * input.tokens.length;
    for (let s = 0; s + 1 < input.seqStart.length; s++) {
      const first = input.seqStart[s], n = input.seqStart[s + 1] - first;
      if (n === 0) continue;
      const start = input.positions[first], isDecode = n === 1 && input.isSampled[s] === 1;
      ms += latency.perSampledMs * input.isSampled[s] + latency.perSeqMs;
      ms += latency.perContextMs * keysAttended(start, n) + latency.perKvReadMs * (start + n) * (isDecode ? 1 : scale);
    }
    return ms;
  };
}

/** The rough model's inputs: D, s and W of the workload under `latency`. */
function roughModel(latency: LinearLatency): { constant: number; paced: number; s: number; w: number; d: number } {
  const { numStreams, streamPromptLen, longPromptLen, before } = ISSUE_17_WORKLOAD;
  const perPosition = latency.perContextMs + latency.perKvReadMs;
  const d = latency.fixedMs + numStreams * (latency.perTokenMs + latency.perSampledMs + perPosition * (streamPromptLen + before / 2));
  const s = (numStreams * perPosition) / d;
  const w = longPromptLen * latency.perTokenMs + keysAttended(0, longPromptLen) * latency.perContextMs + longPromptLen * latency.perKvReadMs;
  return { constant: 1 + 2 * Math.sqrt((s * w) / d), paced: 1 + Math.sqrt((2 * s * w) / d), s, w, d };
}

interface Row {
  kvSpeed: number;
  attnSpeed: number;
  split: number;
  model: { constant: number; paced: number };
  best: Record<'ratio' | 'paced', { spike: number; maxRatio: number; ttftMs: number }>;
}

const rows: Row[] = [];
const ratios = numbers('ratios', '1.25,1.5,1.75,2,2.5,3,4');
for (const split of numbers('split', '1')) {
  for (const attnSpeed of numbers('attn-speed', '1,1.5,2')) {
    for (const kvSpeed of numbers('kv-speed', '1,1.5,2,3,4')) {
      const latency: LinearLatency = { ...base, perKvReadMs: base.perKvReadMs / kvSpeed, perContextMs: base.perContextMs / attnSpeed };
      const exact = stepCostFromLatency(latency);
      const best: Row['best'] = { ratio: { spike: Infinity, maxRatio: 0, ttftMs: 0 }, paced: { spike: Infinity, maxRatio: 0, ttftMs: 0 } };
      for (const mode of ['ratio', 'paced'] as const) {
        for (const maxRatio of ratios) {
          const stepCost = { ...exact, maxRatio, isPaced: mode === 'paced', prefillKvReadScale: 1 / split };
          const run = await simulateInterference(withPrefillKvScale(latency, 1 / split), { maxChunkSize: 256 * split, stepCost });
          if (run.spikeRatio < best[mode].spike) best[mode] = { spike: run.spikeRatio, maxRatio, ttftMs: run.ttftMs };
        }
      }
      const model = roughModel(latency);
      rows.push({ kvSpeed, attnSpeed, split, model: { constant: model.constant, paced: model.paced }, best });
      const f = (x: number): string => x.toFixed(2);
      console.log(
        `split ${split}  attn x${attnSpeed}  K/V read x${kvSpeed}: ratio bound ${f(best.ratio.spike)}x at ${best.ratio.maxRatio} (TTFT ${(best.ratio.ttftMs / 1000).toFixed(1)} s), ` +
          `paced ${f(best.paced.spike)}x at ${best.paced.maxRatio} (${(best.paced.ttftMs / 1000).toFixed(1)} s); model ${f(model.constant)} / ${f(model.paced)} (s ${model.s.toExponential(2)}, W ${model.w.toFixed(0)} ms, D ${model.d.toFixed(2)} ms)`,
      );
    }
  }
}
const out = arg('out', '');
if (out) writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), kv, base, workload: ISSUE_17_WORKLOAD, rows }, null, 1) + '\n');
