/**
 * Decode-only jitter: 8 streams on `small` through the engine (no long prompt), each step's
 * input copied and timed; then the same inputs replayed back to back on a fresh executor.
 * Prints step ms percentiles by kind and the slowest steps with where they stood.
 *   node dist/bench/decode-jitter.js [--tokens 600] [--kv q8_0]
 * (JITTER_MARK=1 prints a line every 50 steps, to place V8's --trace-opt lines among the steps.)
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import type { StepProfileFigures } from '../src/native/binding.js';
import { benchArgs, KV_DTYPES } from './args.js';
import { percentiles } from './metrics.js';
import { createOurEngine } from './ours.js';
import { loadModel } from './suites.js';
import { rng } from './workloads.js';

const args = benchArgs({ tokens: 'value', kv: 'value' });
const numTokens = args.int('tokens', 600), kvDtype = args.choice('kv', KV_DTYPES, 'q8_0');
const copy = (input: StepInput): StepInput => {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) out[k] = ArrayBuffer.isView(v) ? (v as Int32Array).slice() : v;
  return out as unknown as StepInput;
};
const model = loadModel('small', 2, 'f32', { contextLength: 4608 });
const knobs = { kvCachePages: 2000, pageSize: 16, maxBatchTokens: 8192, maxRunning: 10, prefixCache: true, chunkedPrefill: true, maxChunkSize: 256, kvDtype };
const { engine, profiler } = await createOurEngine(model, knobs);
const inputs: StepInput[] = [], ms: number[] = [], ends: number[] = [], prof: StepProfileFigures[] = [];
profiler.onStep = (input, t, native) => (process.env.JITTER_MARK && inputs.length % 50 === 0 && console.log(`-- step ${inputs.length}`), inputs.push(copy(input)), ms.push(t), ends.push(performance.now()), prof.push(native.stepProfile(true)));
const gcs: Array<{ start: number; ms: number; kind: number }> = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration, kind: (e as unknown as { detail: { kind: number } }).detail.kind });
});
gcObserver.observe({ entryTypes: ['gc'] });
const next = rng(17);
const tokens = (n: number): number[] => Array.from({ length: n }, () => 3 + Math.floor(next() * 250));
await engine.submit(tokens(8), { maxTokens: 4, ignoreEos: true }).done;
await Promise.all(Array.from({ length: 8 }, () => engine.submit(tokens(32), { maxTokens: numTokens, ignoreEos: true }).done));
await engine.close();
gcObserver.disconnect();
const kinds = new Map<number, number[]>();
for (const g of gcs) kinds.set(g.kind, [...(kinds.get(g.kind) ?? []), g.ms]);
console.log(`GC over the run: ` + [...kinds].map(([k, v]) => `kind ${k}: ${v.length} (${v.reduce((a, b) => a + b, 0).toFixed(1)} ms)`).join(', '));
const inStep = (i: number): number => gcs.filter((g) => g.start > ends[i] - ms[i] && g.start < ends[i]).length;
console.log(`GC pauses beginning inside a step: ${ms.map((_, i) => inStep(i)).reduce((a, b) => a + b, 0)}`);
const summary = (label: string, v: number[]): void => {
  const p = percentiles(v), s = [...v].sort((a, b) => a - b);
  console.log(`${label}: n ${v.length} p50 ${p.p50.toFixed(2)} p90 ${s[Math.floor(0.9 * s.length)].toFixed(2)} p99 ${p.p99.toFixed(2)} max ${s[s.length - 1].toFixed(2)}`);
};
const isDecode8 = (inp: StepInput): boolean => inp.seqStart.length === 9 && inp.tokens.length === 8;
const decodeIdx = inputs.map((inp, i) => (isDecode8(inp) ? i : -1)).filter((i) => i >= 0);
summary('engine decode-8 steps', decodeIdx.map((i) => ms[i]));
const between = decodeIdx.filter((i) => i > 0).map((i) => ends[i] - ms[i] - ends[i - 1]);
summary('engine between steps', between);
const withPages = decodeIdx.filter((i) => inputs[i].pageTable.length > 0), noPages = decodeIdx.filter((i) => inputs[i].pageTable.length === 0);
summary('  with new pages', withPages.map((i) => ms[i]));
summary('  without', noPages.map((i) => ms[i]));
const slowest = [...decodeIdx].sort((a, b) => ms[b] - ms[a]).slice(0, 16);
const f = (x: number): string => x.toFixed(2);
const show = (i: number): string => { const q = prof[i]; return q ? `gc ${inStep(i)} #${i} ${f(ms[i])}ms pos ${inputs[i].positions[0]} np ${inputs[i].pageTable.length} | step ${f(q.stepMs)} gemm ${f(q.gemmMs)} attn ${f(q.attentionMs)} row ${f(q.rowOpsMs)} lm ${f(q.lmHeadMs)} samp ${f(q.samplingMs)} wait ${f(q.poolWaitMs)} gap ${f(q.gapMs)}` : ''; };
console.log('slowest engine steps:\n' + slowest.map(show).join('\n'));
const stepP50 = percentiles(decodeIdx.map((j) => prof[j].stepMs)).p50;
console.log(`engine steps alone (no pool wait, step > 1.4x p50): ${decodeIdx.filter((i) => prof[i].poolWaitMs < 0.005 && prof[i].stepMs > 1.4 * stepP50).length}; round trip (ms - step) p50 ${percentiles(decodeIdx.map((i) => ms[i] - prof[i].stepMs)).p50.toFixed(3)} p99 ${percentiles(decodeIdx.map((i) => ms[i] - prof[i].stepMs)).p99.toFixed(3)}`);
console.log('median engine steps:\n' + [...decodeIdx].sort((a, b) => ms[a] - ms[b]).slice(decodeIdx.length / 2, decodeIdx.length / 2 + 3).map(show).join('\n'));
for (const mode of ['async', 'sync'] as const) {
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: 2000, pageSize: 16, numThreads: 2, maxBatchTokens: 8192, maxSeqs: 10, kvDtype });
  const rms: number[] = [], rprof: StepProfileFigures[] = [];
  for (const inp of inputs) {
    const t0 = performance.now();
    if (mode === 'sync') ex.stepSync(inp);
    else await ex.step(inp);
    rms.push(performance.now() - t0);
    rprof.push(ex.stepProfile(true));
  }
  const alone = decodeIdx.filter((i) => i > 0 && rprof[i].poolWaitMs < 0.005 && rprof[i].stepMs > 1.4 * percentiles(decodeIdx.map((j) => rprof[j].stepMs)).p50);
  console.log(`  steps alone (no pool wait, step > 1.4x p50): ${alone.length}; round trip (ms - step) p50 ${percentiles(decodeIdx.map((i) => rms[i] - rprof[i].stepMs)).p50.toFixed(3)} p99 ${percentiles(decodeIdx.map((i) => rms[i] - rprof[i].stepMs)).p99.toFixed(3)}`);
  ex.close();
  summary(`replay ${mode} decode-8`, decodeIdx.map((i) => rms[i]));
  const sl = [...decodeIdx].sort((a, b) => rms[b] - rms[a]).slice(0, 12);
  console.log(`  slowest: ` + sl.map((i) => `#${i} ${rms[i].toFixed(2)} pos ${inputs[i].positions[0]} np ${inputs[i].pageTable.length}`).join('; '));
  // windows: per 50 decode steps, p50 and max
  const w: string[] = [];
  for (let a = 0; a < decodeIdx.length; a += 50) {
    const v = decodeIdx.slice(a, a + 50).map((i) => rms[i]);
    w.push(`${inputs[decodeIdx[a]].positions[0]}:${percentiles(v).p50.toFixed(2)}/${Math.max(...v).toFixed(2)}`);
  }
  console.log('  by window (pos:p50/max): ' + w.join(' '));
}
