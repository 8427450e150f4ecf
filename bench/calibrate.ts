/**
 * Latency calibration: times a grid of step shapes (prefill chunks, decode batches at
 * several contexts, chunks mixed with decodes, steps after an idle gap) on the native
 * executor, fits nano-serving/testing's linear latency model to them per model, and
 * writes bench/results/latency-calibration-DATE.json, or --out FILE (latencyModelFromCalibration loads
 * it); the tracked bench/results/latency-calibration.json, which tests read, is only replaced by
 * naming it with --out.
 * bench:kernel runs it too.
 *   npm run bench:calibrate [-- --models tiny,small] [-- --dtype f32] [-- --threads N] [-- --out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import { isPresetName, presetConfig, type PresetName } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import { CALIBRATION_FORMAT, type CalibrationEntry, type LatencyCalibration } from '../src/testing/calibration.js';
import { fitLinearLatency, linearLatency, stepShape, type LinearLatency, type StepShape } from '../src/testing/latency.js';
import { machineInfo } from './machine.js';
import { datedResultPath } from './result-path.js';
import { greedyParams } from './greedy-params.js';

const PAGE_SIZE = 16;
const REPEATS = 3;
const IDLE_MS = 10;

/** One sequence's run in a step: `length` tokens from position `start`; sampled or a mid-prompt chunk. */
interface Run {
  start: number;
  length: number;
  isSampled: boolean;
}

/** A step of the grid; `afterIdle` steps are timed after an idle gap (the threads' wake-up). */
interface GridStep {
  runs: Run[];
  afterIdle: boolean;
}

const decodes = (batch: number, context: number): Run[] => Array.from({ length: batch }, (_, s) => ({ start: context + (s % 8), length: 1, isSampled: true }));
const prefill = (length: number, start = 0, isSampled = true): Run => ({ start, length, isSampled });

/** The shapes a serving engine makes: whole prompts, chunks, decode batches, mixes of both. */
function grid(contextLength: number): GridStep[] {
  const steps: GridStep[] = [];
  const add = (runs: Run[], afterIdle = false): void => {
    if (runs.every((r) => r.start + r.length <= contextLength)) steps.push({ runs, afterIdle });
  };
  for (const length of [8, 32, 64, 128, 256, 512]) add([prefill(length)]);
  for (const start of [128, 256]) for (const length of [64, 256]) add([prefill(length, start, false)]);
  for (const batch of [1, 2, 4, 8, 16, 32]) for (const context of [16, 128, 384]) add(decodes(batch, context));
  for (const context of [16, 128]) add(decodes(64, context));
  for (const chunk of [64, 256]) for (const batch of [4, 16, 32]) add([prefill(chunk, 0, false), ...decodes(batch, 128)]);
  for (const [count, length] of [[4, 64], [8, 32], [16, 16]]) add(Array.from({ length: count }, () => prefill(length)));
  add(decodes(1, 64), true);
  add(decodes(8, 64), true);
  add([prefill(64)], true);
  return steps;
}

const pagesOf = (run: Run): number => Math.ceil((run.start + run.length) / PAGE_SIZE);

function inputOf(step: GridStep): StepInput {
  const n = step.runs.reduce((sum, r) => sum + r.length, 0);
  const numSeqs = step.runs.length;
  const tokens = new Int32Array(n);
  const positions = new Int32Array(n);
  const seqStart = new Int32Array(numSeqs + 1);
  const pageStart = new Int32Array(numSeqs + 1);
  step.runs.forEach((r, s) => {
    seqStart[s + 1] = seqStart[s] + r.length;
    pageStart[s + 1] = pageStart[s] + pagesOf(r);
    for (let t = 0; t < r.length; t++) {
      tokens[seqStart[s] + t] = 3 + ((s * 7919 + t * 31) % 250);
      positions[seqStart[s] + t] = r.start + t;
    }
  });
  return {
    tokens, positions, seqStart, pageStart,
    pageTable: Int32Array.from({ length: pageStart[numSeqs] }, (_, i) => i), // every sequence on its own pages
    isSampled: Uint8Array.from(step.runs, (r) => (r.isSampled ? 1 : 0)),
    ...greedyParams(numSeqs),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export type Sample = { shape: StepShape; ms: number };

/** Times every grid step (median of REPEATS, round-robin so a noisy neighbour spreads over all) and fits the model. */
export async function calibrateModel(name: PresetName, dtype: 'f32' | 'bf16', threads: number, kernel: 'auto' | 'portable' = 'auto'): Promise<CalibrationEntry & { samples: Sample[] }> {
  const config = presetConfig(name);
  const steps = grid(config.contextLength);
  const numPages = Math.max(...steps.map((s) => s.runs.reduce((sum, r) => sum + pagesOf(r), 0)));
  const maxTokens = Math.max(...steps.map((s) => s.runs.reduce((sum, r) => sum + r.length, 0)));
  const ex = NativeExecutor.create({
    config, tensors: syntheticTensors(config, 1), weightDtype: dtype, numThreads: threads, pageSize: PAGE_SIZE, kernel,
    numPages, maxBatchTokens: maxTokens, maxSeqs: Math.max(...steps.map((s) => s.runs.length)),
  });
  const inputs = steps.map(inputOf);
  const times: number[][] = steps.map(() => []);
  for (let round = 0; round <= REPEATS; round++) {
    for (let i = 0; i < steps.length; i++) {
      if (steps[i].afterIdle) await sleep(IDLE_MS);
      const t0 = performance.now();
      await ex.step(inputs[i]);
      if (round > 0) times[i].push(performance.now() - t0); // round 0 warms up
    }
  }
  const info = ex.nativeInfo();
  ex.close();
  const samples: Sample[] = steps.map((s, i) => ({ shape: stepShape(inputs[i], s.afterIdle ? Infinity : 0), ms: median(times[i]) }));
  const coefficients = fitLinearLatency(samples);
  const { vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize } = config;
  return {
    model: name, shape: { vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim, intermediateSize },
    weightDtype: dtype, kernel: info.kernel, threads: info.numThreads, coefficients,
    numSamples: samples.length, fitError: fitErrorOf(coefficients, samples), samples,
  };
}

/** Median and p90 of |predicted / timed - 1| over the samples. */
export function fitErrorOf(coefficients: LinearLatency, samples: readonly Sample[]): { median: number; p90: number } {
  const model = linearLatency(coefficients);
  const errors = samples.map((s) => Math.abs(model(s.shape) / s.ms - 1)).sort((a, b) => a - b);
  return { median: median(errors), p90: errors[Math.floor(errors.length * 0.9)] };
}

export function calibrationFile(entries: CalibrationEntry[]): LatencyCalibration {
  const m = machineInfo();
  return { format: CALIBRATION_FORMAT, version: 1, date: new Date().toISOString(), cpu: { model: m.cpu, cores: m.cores, isa: m.isa }, entries };
}

/** The tracked calibration (tests and sim-vs-real --calibration read it; no run writes it unless told with --out). */
export const DEFAULT_CALIBRATION_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'latency-calibration.json');

/** Writes a calibration file: to `file`, else to a dated name of its own (bench/results/latency-calibration-DATE.json). */
export function writeCalibration(withSamples: CalibrationEntry[], file = datedResultPath('latency-calibration')): string {
  const entries = withSamples.map(({ samples: _, ...entry }: CalibrationEntry & { samples?: unknown }) => entry);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(calibrationFile(entries), null, 2) + '\n');
  console.log(`wrote ${file}`);
  console.table(entries.map((e) => ({ model: e.model, dtype: e.weightDtype, kernel: e.kernel, threads: e.threads, ...roundAll(e.coefficients), 'fit err p50': pct(e.fitError.median), 'fit err p90': pct(e.fitError.p90) })));
  return file;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
const roundAll = (o: object): Record<string, string> => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, (v as number).toPrecision(3)]));

function arg(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const models = (arg('models') ?? 'tiny,small').split(',');
  for (const m of models) if (!isPresetName(m)) throw new RangeError(`--models: unknown preset '${m}'`);
  const dtype = arg('dtype') ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'bf16') throw new RangeError(`--dtype: expected f32 or bf16, got '${dtype}'`);
  const threads = Number(arg('threads') ?? availableParallelism());
  const entries: CalibrationEntry[] = [];
  for (const m of models as PresetName[]) entries.push(await calibrateModel(m, dtype, threads));
  writeCalibration(entries, arg('out'));
}
