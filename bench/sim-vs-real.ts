/**
 * The simulator against the real engine, on the same workload: a latency model is fitted
 * to steps timed on the native executor during a calibration workload, then an evaluation
 * workload (other requests, other arrivals) runs once on the real engine and once in
 * virtual time (nano-serving/testing runTimedWorkload). Prints TTFT and throughput of
 * both and their ratio; writes the fitted model to bench/results/latency-MODEL.json.
 *   npm run build:ts && node dist/bench/sim-vs-real.js [--model small] [--requests 48] [--rate 12]
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { NanoServingEngine } from '../src/engine/engine.js';
import { NativeExecutor } from '../src/executor/native.js';
import type { Executor, StepInput, StepOutput } from '../src/executor/step.js';
import { isPresetName } from '../src/models/presets.js';
import { fitLinearLatency, linearLatency, stepShape, type StepShape } from '../src/testing/latency.js';
import { runTimedWorkload } from '../src/testing/timed.js';
import { drive } from './drive.js';
import { cpuDescription } from './machine.js';
import { summarize } from './metrics.js';
import type { ModelUnderTest } from './ours.js';
import { knobsFor, loadModel } from './suites.js';
import { randomWorkload, type BenchRequest } from './workloads.js';

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

/** Times each step from its start to the next step's start (the engine's JS included), with the step's shape. */
class RecordingExecutor implements Executor {
  readonly samples: Array<{ shape: StepShape; ms: number }> = [];
  private pending: { shape: StepShape; startedAt: number; nativeMs: number } | undefined;
  private lastEnd = -Infinity;
  constructor(private readonly inner: Executor) {}
  get info() {
    return this.inner.info;
  }
  async step(input: StepInput): Promise<StepOutput> {
    const startedAt = performance.now();
    if (this.pending) {
      const gap = startedAt - this.pending.startedAt - this.pending.nativeMs;
      // A long gap is the engine idling between arrivals, not work: count the step alone then.
      this.samples.push({ shape: this.pending.shape, ms: this.pending.nativeMs + (gap < 2 ? gap : 0) });
    }
    const shape = stepShape(input, startedAt - this.lastEnd);
    const output = await this.inner.step(input);
    this.lastEnd = performance.now();
    this.pending = { shape, startedAt, nativeMs: this.lastEnd - startedAt };
    return output;
  }
  close(): void {
    this.inner.close();
  }
}

async function runReal(model: ModelUnderTest, requests: BenchRequest[], recorder?: (r: RecordingExecutor) => void) {
  const knobs = knobsFor(requests, requests.length);
  const native = NativeExecutor.create({
    config: model.config, tensors: model.tensors, weightDtype: model.weightDtype, numPages: knobs.kvCachePages,
    pageSize: knobs.pageSize, numThreads: model.threads, maxBatchTokens: knobs.maxBatchTokens, maxSeqs: knobs.maxRunning,
  });
  const executor = new RecordingExecutor(native);
  const engine = await NanoServingEngine.create({ ...knobs, executor, maxWaiting: 1 << 20 });
  await engine.submit([1, 2, 3, 4, 5, 6, 7, 8], { maxTokens: 4, ignoreEos: true }).done; // warm-up
  const { records, startedAt } = await drive(requests, requests.length, (r, onToken) =>
    new Promise<void>((resolve, reject) => {
      const h = engine.submit(r.prompt, { maxTokens: r.maxTokens, ignoreEos: true });
      h.tokens$.subscribe({ next: onToken, error: reject });
      h.done.then(() => resolve(), reject);
    }),
  );
  await engine.close();
  recorder?.(executor);
  const metrics = summarize(records, startedAt);
  return { knobs, metrics };
}

const modelName = arg('model', 'small');
if (!isPresetName(modelName)) throw new RangeError(`--model: unknown preset '${modelName}'`);
const numRequests = Number(arg('requests', '48'));
const rate = Number(arg('rate', '12'));
const model = loadModel(modelName, Math.min(2, cpus().length), 'f32');
const workload = (seed: number) => randomWorkload({ numRequests, inputLen: [32, 256], outputLen: [16, 64], rate, vocabSize: model.config.vocabSize, seed });

const rounds = Number(arg('rounds', '3'));
const rows: Array<Record<string, number>> = [];
let coefficients = fitLinearLatency([]);
let numSamples = 0;
// Rounds of (calibrate, evaluate), adjacent in time, so a noisy neighbour hits both alike; medians over rounds.
for (let round = 0; round < rounds; round++) {
  // 1. Calibrate on other requests: all at once, then Poisson, for a spread of step shapes.
  const samples: Array<{ shape: StepShape; ms: number }> = [];
  for (const seed of [101 + 10 * round, 102 + 10 * round]) {
    const reqs = seed % 2 === 1 ? workload(seed).map((r) => ({ ...r, arrivalMs: 0 })) : workload(seed);
    await runReal(model, reqs, (r) => samples.push(...r.samples));
  }
  coefficients = fitLinearLatency(samples);
  numSamples = samples.length;
  // 2. Evaluate on another workload: real engine, then virtual time.
  const evaluation = workload(7);
  const real = await runReal(model, evaluation);
  const sim = await runTimedWorkload(evaluation, { ...real.knobs, numPages: real.knobs.kvCachePages, vocabSize: model.config.vocabSize }, { latency: linearLatency(coefficients) });
  rows.push({
    realTtft: real.metrics.ttftMs.p50, simTtft: sim.ttftMs.p50,
    realItl: real.metrics.itlMs.p50, simItl: sim.itlMs.p50,
    realTput: real.metrics.outputTokPerS, simTput: sim.outputTokPerS,
  });
}
writeFileSync(`bench/results/latency-${modelName}.json`, JSON.stringify({ model: modelName, cpu: cpuDescription(), samples: numSamples, coefficients }, null, 2) + '\n');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = (key: string): number => median(rows.map((r) => r[key]));
const err = (sim: string, real: string): string => `${(median(rows.map((r) => r[sim] / r[real] - 1)) * 100).toFixed(1)} %`;
console.log(`${modelName}: ${numRequests} requests, Poisson ${rate} req/s, prompts 32-256, outputs 16-64; latency model fitted to other requests' steps; medians of ${rounds} rounds; ${cpuDescription()} (shared machine)`);
console.table([
  { measure: 'TTFT p50 ms', real: m('realTtft').toFixed(1), simulated: m('simTtft').toFixed(1), 'sim vs real': err('simTtft', 'realTtft') },
  { measure: 'ITL p50 ms', real: m('realItl').toFixed(2), simulated: m('simItl').toFixed(2), 'sim vs real': err('simItl', 'realItl') },
  { measure: 'output tok/s', real: m('realTput').toFixed(0), simulated: m('simTput').toFixed(0), 'sim vs real': err('simTput', 'realTput') },
]);
console.log('latency model of the last round (ms):', JSON.stringify(coefficients));
