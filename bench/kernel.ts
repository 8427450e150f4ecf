/**
 * Kernel bench: raw executor speed, no scheduler. Prefill of a 512-token prompt and
 * decode at batch 1, 8, 32, 64 on the synthetic presets, f32 and bf16 weights.
 * Prints a table and writes bench/results/kernel.json; then fits the latency model of
 * nano-serving/testing per model and dtype (bench/calibrate.ts) and writes
 * bench/results/latency-calibration-DATE.json (a name of its own: the tracked calibration stays).
 * The tiny preset also runs issue 8's serving shape: 256 concurrent decode streams with
 * contexts of 20 to 150 tokens on scattered KV pages (as the page allocator hands them out).
 *   npm run bench:kernel [-- --quick] [-- --threads N] [-- --portable]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import type { ModelConfig } from '../src/models/config.js';
import { presetConfig, type PresetName } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { CalibrationEntry } from '../src/testing/calibration.js';
import { calibrateModel, writeCalibration } from './calibrate.js';
import { greedyParams } from './greedy-params.js';

const PAGE_SIZE = 16;
const PREFILL_TOKENS = 512;
const DECODE_CONTEXT = 64; // decode steps start at this position
const DECODE_BATCHES = [1, 8, 32, 64];
const MANY_STREAMS = 256; // tiny only: decode at many short contexts

interface Row {
  model: PresetName;
  dtype: 'f32' | 'bf16';
  kernel: string;
  threads: number;
  phase: string;
  batch: number;
  tokensPerSec: number;
  msPerStep: number;
  gflops: number;
  gbps: number;
}

/** One step: `batch` sequences of `length` tokens each, starting at `start`, every one sampled greedily. */
function stepInput(batch: number, length: number, start: number, pagesPerSeq: number): StepInput {
  const n = batch * length;
  const seqStart = Int32Array.from({ length: batch + 1 }, (_, s) => s * length);
  return {
    tokens: Int32Array.from({ length: n }, (_, i) => (i * 7919) % 250),
    positions: Int32Array.from({ length: n }, (_, i) => start + (i % length)),
    seqStart,
    pageTable: Int32Array.from({ length: batch * pagesPerSeq }, (_, i) => i),
    pageStart: Int32Array.from({ length: batch + 1 }, (_, s) => s * pagesPerSeq),
    isSampled: new Uint8Array(batch).fill(1),
    ...greedyParams(batch),
  };
}

/** One decode step of `batch` streams at contexts 20..149 (+ i % 40), each on its own scattered pages. */
function manyStreamsInput(batch: number, i: number, pagesPerSeq: number, numPages: number): StepInput {
  const input = stepInput(batch, 1, 0, pagesPerSeq);
  for (let s = 0; s < batch; s++) input.positions[s] = 20 + ((s * 37) % 130) + (i % 40);
  input.pageTable = Int32Array.from({ length: batch * pagesPerSeq }, (_, k) => (k * 1237) % numPages);
  return input;
}

/** Multiply-adds of the linear layers for one token through the blocks (not the output head). */
function blockParams(c: ModelConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const ffnMats = c.family === 'llama' ? 3 : 2;
  return c.numLayers * (c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + ffnMats * c.hiddenSize * c.intermediateSize);
}

/** FLOPs of one step: 2 per weight per token, the output head per sampled row, and attention (qk and pv). */
function stepFlops(c: ModelConfig, tokens: number, sampled: number, attendedPositions: number): number {
  const attention = 4 * c.numLayers * c.numHeads * c.headDim * attendedPositions;
  return 2 * blockParams(c) * tokens + 2 * c.vocabSize * c.hiddenSize * sampled + attention;
}

/**
 * Seconds per step: the fastest of three timed windows (each >= minSeconds / 3 and >= 2 steps),
 * so that bursts from other processes on this shared 2-core machine count less.
 */
async function timeSteps(ex: NativeExecutor, make: (i: number) => StepInput, minSeconds: number, maxSteps: number): Promise<number> {
  await ex.step(make(0)); // warm-up
  let best = Infinity;
  let i = 0;
  for (let window = 0; window < 3; window++) {
    const t0 = performance.now();
    let steps = 0;
    while (steps < maxSteps && (steps < 2 || performance.now() - t0 < (minSeconds * 1000) / 3)) {
      await ex.step(make(++i));
      steps++;
    }
    best = Math.min(best, (performance.now() - t0) / 1000 / steps);
  }
  return best;
}

async function benchModel(name: PresetName, dtype: 'f32' | 'bf16', threads: number, quick: boolean, kernel: 'auto' | 'portable'): Promise<Row[]> {
  const config = presetConfig(name);
  const tensors = syntheticTensors(config, 1);
  const manyStreams = name === 'tiny';
  const maxBatch = manyStreams ? MANY_STREAMS : Math.max(...DECODE_BATCHES);
  const decodePages = Math.ceil((DECODE_CONTEXT + 64) / PAGE_SIZE);
  const manyPages = Math.ceil((150 + 40) / PAGE_SIZE);
  const numPages = Math.max(PREFILL_TOKENS / PAGE_SIZE, maxBatch * (manyStreams ? manyPages : decodePages));
  const ex = NativeExecutor.create({
    config, tensors, weightDtype: dtype, numThreads: threads, pageSize: PAGE_SIZE, kernel,
    numPages, maxBatchTokens: PREFILL_TOKENS, maxSeqs: maxBatch,
  });
  const info = ex.nativeInfo();
  const weightBytes = (blockParams(config) + config.vocabSize * config.hiddenSize) * (dtype === 'bf16' ? 2 : 4);
  const minSeconds = quick ? 0.3 : 1;
  const rows: Row[] = [];
  const row = (phase: string, batch: number, secPerStep: number, tokens: number, flops: number, reads: number): Row => ({
    model: name, dtype, kernel: info.kernel, threads: info.numThreads, phase, batch,
    tokensPerSec: tokens / secPerStep, msPerStep: secPerStep * 1000, gflops: flops / secPerStep / 1e9, gbps: reads / secPerStep / 1e9,
  });

  const prefillPages = PREFILL_TOKENS / PAGE_SIZE;
  const prefill = await timeSteps(ex, () => stepInput(1, PREFILL_TOKENS, 0, prefillPages), minSeconds, quick ? 3 : 10);
  const attended = (PREFILL_TOKENS * (PREFILL_TOKENS + 1)) / 2;
  rows.push(row('prefill 512', 1, prefill, PREFILL_TOKENS, stepFlops(config, PREFILL_TOKENS, 1, attended), weightBytes));

  for (const batch of DECODE_BATCHES) {
    const make = (i: number): StepInput => stepInput(batch, 1, DECODE_CONTEXT + (i % 64), decodePages);
    const sec = await timeSteps(ex, make, minSeconds, quick ? 50 : 400);
    rows.push(row('decode', batch, sec, batch, stepFlops(config, batch, batch, batch * (DECODE_CONTEXT + 32)), weightBytes));
  }
  if (manyStreams) {
    const make = (i: number): StepInput => manyStreamsInput(MANY_STREAMS, i, manyPages, numPages);
    const sec = await timeSteps(ex, make, minSeconds, quick ? 50 : 400);
    const attended = MANY_STREAMS * (20 + 65 + 20 + 1); // mean context
    rows.push(row('decode ctx 20-190', MANY_STREAMS, sec, MANY_STREAMS, stepFlops(config, MANY_STREAMS, MANY_STREAMS, attended), weightBytes));
  }
  ex.close();
  return rows;
}

function printTable(rows: Row[]): void {
  const header = ['model', 'dtype', 'kernel', 'thr', 'phase', 'batch', 'tok/s', 'ms/step', 'GFLOP/s', 'GB/s'];
  const lines = rows.map((r) => [r.model, r.dtype, r.kernel, String(r.threads), r.phase, String(r.batch), r.tokensPerSec.toFixed(0),
    r.msPerStep.toFixed(2), r.gflops.toFixed(1), r.gbps.toFixed(1)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells: string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(fmt(l));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const threadsArg = args.indexOf('--threads');
  const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : availableParallelism();
  const kernel = args.includes('--portable') ? 'portable' : 'auto';
  const models: PresetName[] = quick ? ['tiny', 'small'] : ['tiny', 'small', 'medium'];
  const rows: Row[] = [];
  for (const model of models) {
    for (const dtype of ['f32', 'bf16'] as const) rows.push(...(await benchModel(model, dtype, threads, quick, kernel)));
  }
  printTable(rows);
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results', 'kernel.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), quick, threads, rows }, null, 2));
  console.log(`wrote ${out}`);
  const calibration: CalibrationEntry[] = [];
  for (const model of models) {
    for (const dtype of ['f32', 'bf16'] as const) calibration.push(await calibrateModel(model, dtype, threads, kernel));
  }
  writeCalibration(calibration);
}

await main();
