/**
 * The simulator against the real engine, on the same workloads: the latency model comes
 * from a calibration file written by the kernel calibration (bench/calibrate.ts: a grid
 * of step shapes timed on the bare native executor, no engine, no workload), loaded with
 * latencyModelFromCalibration. Each workload (steady Poisson, bursts, long prompts in
 * chunked prefill) runs once on the real engine and once in virtual time
 * (runTimedWorkload). Prints TTFT, ITL and throughput of both and their ratio, and what
 * each term of the model is worth (the model refitted without it); writes
 * bench/results/sim-vs-real-DATE.json, or --out FILE (the tracked sim-vs-real.json only when named).
 *   npm run build:ts && node dist/bench/sim-vs-real.js [--model small] [--rounds 3] [--calibration FILE] [--workloads 0,2] [--budget-s S] [--out FILE]
 * Without --calibration, each workload run is preceded by its own calibration (adjacent in time),
 * written to bench/results/latency-calibration-DATE.json (never the tracked one).
 * --budget-s: no new round starts after S seconds (the bench lock's turn on a shared machine).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { NanoServingEngine } from '../src/engine/engine.js';
import { NativeExecutor } from '../src/executor/native.js';
import { isPresetName } from '../src/models/presets.js';
import { burstArrivals } from '../src/testing/arrivals.js';
import { latencyModelFromCalibration } from '../src/testing/calibration.js';
import type { Executor, StepInput, StepOutput } from '../src/executor/step.js';
import { fitLinearLatency, LATENCY_TERMS, linearLatency, stepShape, type LatencyModel } from '../src/testing/latency.js';
import { runTimedWorkload } from '../src/testing/timed.js';
import { calibrateModel, fitErrorOf, writeCalibration, type Sample } from './calibrate.js';
import { datedResultPath } from './result-path.js';
import { drive } from './drive.js';
import { cpuDescription } from './machine.js';
import { summarize } from './metrics.js';
import type { EngineKnobs, ModelUnderTest } from './ours.js';
import { knobsFor, loadModel } from './suites.js';
import { randomWorkload, type BenchRequest } from './workloads.js';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

interface Case {
  name: string;
  requests: BenchRequest[];
  knobs: EngineKnobs;
}

/** Arrivals start at 0 in both engines, so throughput counts the same span. */
const fromZero = (requests: BenchRequest[]): BenchRequest[] => requests.map((r) => ({ ...r, arrivalMs: r.arrivalMs - requests[0].arrivalMs }));

function cases(vocabSize: number): Case[] {
  const steady = fromZero(randomWorkload({ numRequests: 48, inputLen: [32, 256], outputLen: [16, 64], rate: 12, vocabSize, seed: 7 }));
  const bursts = burstArrivals(40, 8, 2000);
  const bursty = randomWorkload({ numRequests: 40, inputLen: [32, 128], outputLen: [32, 64], rate: Infinity, vocabSize, seed: 8 }).map((r, i) => ({ ...r, arrivalMs: bursts[i] }));
  const long = fromZero(randomWorkload({ numRequests: 16, inputLen: [300, 440], outputLen: [16, 48], rate: 1.5, vocabSize, seed: 9 }));
  return [
    { name: 'Poisson 12 req/s, prompts 32-256', requests: steady, knobs: knobsFor(steady, steady.length) },
    { name: 'bursts of 8 every 2 s, prompts 32-128', requests: bursty, knobs: knobsFor(bursty, bursty.length) },
    { name: 'long prompts 300-440, chunks of 128, Poisson 1.5 req/s', requests: long, knobs: knobsFor(long, long.length, { maxChunkSize: 128 }) },
  ];
}

/** Times each step the engine hands the native executor, with its shape: how the calibration holds inside the engine. */
class TimedExecutor implements Executor {
  readonly steps: Sample[] = [];
  private lastEnd = -Infinity;
  constructor(private readonly inner: Executor) {}
  get info() {
    return this.inner.info;
  }
  async step(input: StepInput): Promise<StepOutput> {
    const startedAt = performance.now();
    const shape = stepShape(input, startedAt - this.lastEnd);
    const output = await this.inner.step(input);
    this.lastEnd = performance.now();
    this.steps.push({ shape, ms: this.lastEnd - startedAt });
    return output;
  }
  close(): void {
    this.inner.close();
  }
}

/** Median of (step time in the engine / the model's prediction), for decode-only steps and steps with a prefill. */
function stepRatios(steps: readonly Sample[], latency: LatencyModel): { decode: number; prefill: number } {
  const ratio = (s: Sample): number => s.ms / latency(s.shape);
  const isDecode = (s: Sample): boolean => s.shape.numTokens === s.shape.numSeqs;
  return { decode: median(steps.filter(isDecode).map(ratio)), prefill: median(steps.filter((s) => !isDecode(s)).map(ratio)) };
}

async function runReal(model: ModelUnderTest, c: Case, latency: LatencyModel) {
  const { knobs } = c;
  const native = NativeExecutor.create({
    config: model.config, tensors: model.tensors, weightDtype: model.weightDtype, numPages: knobs.kvCachePages,
    pageSize: knobs.pageSize, numThreads: model.threads, maxBatchTokens: knobs.maxBatchTokens, maxSeqs: knobs.maxRunning,
  });
  const executor = new TimedExecutor(native);
  const engine = await NanoServingEngine.create({ ...knobs, executor, maxWaiting: 1 << 20 });
  await engine.submit([1, 2, 3, 4, 5, 6, 7, 8], { maxTokens: 4, ignoreEos: true }).done; // warm-up
  const { records, startedAt } = await drive(c.requests, c.requests.length, (r, onToken) =>
    new Promise<void>((resolve, reject) => {
      const h = engine.submit(r.prompt, { maxTokens: r.maxTokens, ignoreEos: true });
      h.tokens$.subscribe({ next: onToken, error: reject });
      h.done.then(() => resolve(), reject);
    }),
  );
  await engine.close();
  const m = summarize(records, startedAt);
  return { ttft: m.ttftMs.p50, itl: m.itlMs.p50, tput: m.outputTokPerS, stepVsModel: stepRatios(executor.steps.slice(1), latency) };
}

async function runSim(c: Case, latency: LatencyModel, vocabSize: number) {
  const r = await runTimedWorkload(c.requests, { ...c.knobs, numPages: c.knobs.kvCachePages, vocabSize }, { latency });
  return { ttft: r.ttftMs.p50, itl: r.itlMs.p50, tput: r.outputTokPerS };
}

const modelName = arg('model', 'small');
if (!isPresetName(modelName)) throw new RangeError(`--model: unknown preset '${modelName}'`);
const rounds = Number(arg('rounds', '3'));
const given = process.argv.includes('--calibration') ? arg('calibration', '') : undefined;
const threads = Math.min(2, cpus().length);
const model = loadModel(modelName, threads, 'f32');
const picked = arg('workloads', '');
const all = cases(model.config.vocabSize).filter((_, i) => picked === '' || picked.split(',').map(Number).includes(i));
const load = [loadavg()[0]];

type Row = { round: number; workload: string; real: Awaited<ReturnType<typeof runReal>>; sim: Awaited<ReturnType<typeof runSim>>; ablation: Record<string, Awaited<ReturnType<typeof runSim>>> };
const rows: Row[] = [];
const fitTable: Array<Record<string, string>> = [];
// Each workload right after its own calibration (adjacent in time: this shared machine's speed drifts
// by 2x within a minute), rounds over all workloads, medians over rounds.
const budgetMs = Number(arg('budget-s', 'Infinity')) * 1000;
const freshCalibration = datedResultPath('latency-calibration'); // this run's own, rewritten before each workload
const startedAt = performance.now();
let roundsDone = 0;
for (let round = 0; round < rounds && (round === 0 || performance.now() - startedAt < budgetMs); round++, roundsDone++) {
  for (const c of all) {
    let file = given;
    let samples: Sample[] = [];
    if (!file) {
      const entry = await calibrateModel(modelName, 'f32', threads);
      samples = entry.samples;
      file = writeCalibration([entry], freshCalibration);
    }
    const latency = latencyModelFromCalibration(file, { model: modelName, weightDtype: 'f32', threads });
    const real = await runReal(model, c, latency);
    const sim = await runSim(c, latency, model.config.vocabSize);
    // What each term is worth: the model refitted to the same calibration steps without it.
    const ablation: Row['ablation'] = {};
    for (const term of samples.length === 0 ? [] : LATENCY_TERMS.filter((t) => t !== 'fixedMs')) {
      const coefficients = fitLinearLatency(samples, { without: [term] });
      if (round === 0 && c === all[all.length - 1]) fitTable.push({ without: term, 'fit err p50': pct(fitErrorOf(coefficients, samples).median), 'fit err p90': pct(fitErrorOf(coefficients, samples).p90) });
      ablation[term] = await runSim(c, linearLatency(coefficients), model.config.vocabSize);
    }
    rows.push({ round, workload: c.name, real, sim, ablation });
    load.push(loadavg()[0]);
  }
}

function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}
function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
}
const measures = [['ttft', 'TTFT p50 ms', 1], ['itl', 'ITL p50 ms', 2], ['tput', 'output tok/s', 0]] as const;
const table = all.flatMap((c) => {
  const mine = rows.filter((r) => r.workload === c.name);
  return measures.map(([key, label, digits]) => ({
    workload: c.name, measure: label,
    real: median(mine.map((r) => r.real[key])).toFixed(digits),
    simulated: median(mine.map((r) => r.sim[key])).toFixed(digits),
    'sim vs real': pct(median(mine.map((r) => r.sim[key] / r.real[key] - 1))),
  }));
});
const ablationTable = rows.length === 0 || Object.keys(rows[0].ablation).length === 0 ? [] : Object.keys(rows[0].ablation).map((term) => {
  const line: Record<string, string> = { without: term };
  for (const c of all) {
    const mine = rows.filter((r) => r.workload === c.name);
    line[`${c.name.split(',')[0]}: TTFT`] = pct(median(mine.map((r) => r.ablation[term].ttft / r.real.ttft - 1)));
    line[`${c.name.split(',')[0]}: tok/s`] = pct(median(mine.map((r) => r.ablation[term].tput / r.real.tput - 1)));
  }
  return line;
});
const calibration = JSON.parse(readFileSync(given ?? freshCalibration, 'utf8'));
console.log(`${modelName} f32, ${threads} threads; latency model from the kernel calibration (${given ?? 'a fresh one before each workload'}); medians of ${roundsDone} rounds' ratios; ${cpuDescription()}; load average ${load.map((l) => l.toFixed(2)).join(' -> ')} (shared machine)`);
console.table(table);
console.log('step time inside the engine / the calibrated model, median over the run\'s steps:');
console.table(all.map((c) => {
  const mine = rows.filter((r) => r.workload === c.name);
  return { workload: c.name, 'decode-only steps': median(mine.map((r) => r.real.stepVsModel.decode)).toFixed(2), 'steps with a prefill': median(mine.map((r) => r.real.stepVsModel.prefill)).toFixed(2) };
}));
if (ablationTable.length > 0) {
  console.log('the model refitted without one term: its fit on the calibration steps, and sim vs real on each workload');
  console.table(fitTable);
  console.table(ablationTable);
}
const out = arg('out', '') || datedResultPath('sim-vs-real');
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), model: modelName, threads, cpu: cpuDescription(), loadAverage: load, calibration, rounds: rows, table, fitTable, ablationTable }, null, 2) + '\n');
console.log(`wrote ${out}`);
