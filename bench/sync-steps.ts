/**
 * Synchronous steps against steps through the step runner (engine option syncSteps, the
 * executor's stepSync): single-stream decode, 2 threads, KV f16, rounds alternating the two
 * modes (so a burst of other work on a shared machine hits both). Per model and kernel path:
 * - engine: one request of a 16-token prompt and 128 greedy tokens, decode tok/s (tokens after
 *   the first over the time from the first token to the last), syncSteps 'auto' against false;
 * - raw: 64 greedy steps of one sequence at positions 0..63 on the executor, stepSync() against
 *   step() (tok/s);
 * with the tokens of both modes compared (they must be the same). Medians over the rounds, and
 * each round's ratio. Writes bench/results/sync-steps-DATE.json (never an earlier run's) or --out.
 *
 *   npm run build:ts && flock /tmp/nano-bench.lock node dist/bench/sync-steps.js \
 *     [--models small,medium] [--gguf FILE,...] [--kernels avx512,avx2] [--rounds 6] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname } from 'node:path';
import { NanoServingEngine } from '../src/index.js';
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import { loadGgufModel } from '../src/models/gguf-loader.js';
import { isPresetName, presetConfig } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { ModelConfig, TensorMap } from '../src/models/config.js';
import { greedyParams } from './greedy-params.js';
import { cpuLine, machineInfo } from './machine.js';
import { datedResultPath } from './result-path.js';

const STEPS = 64;
const PAGE = 16;
const NUM_PAGES = Math.ceil(STEPS / PAGE) + 1;
const PROMPT = Array.from({ length: 16 }, (_, i) => 10 + i);
const OUTPUT = 128;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}
const list = (s: string): string[] => s.split(',').filter((x) => x && x !== 'none');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

interface Model { label: string; spec: string; config: ModelConfig; tensors: TensorMap }

async function loadModel(spec: string): Promise<Model> {
  if (isPresetName(spec)) {
    const config = presetConfig(spec);
    return { label: `${spec} f32`, spec, config, tensors: syntheticTensors(config, 1) };
  }
  const m = await loadGgufModel(spec);
  return { label: basename(spec, '.gguf'), spec, config: m.config, tensors: m.tensors };
}

function decodeStep(token: number, position: number): StepInput {
  return {
    tokens: Int32Array.of(token), positions: Int32Array.of(position), seqStart: Int32Array.of(0, 1),
    pageTable: Int32Array.from({ length: NUM_PAGES }, (_, i) => i), pageStart: Int32Array.of(0, NUM_PAGES),
    isSampled: Uint8Array.of(1), ...greedyParams(1),
  };
}

/** tok/s of STEPS greedy steps from position 0, and the tokens. */
async function rawPass(ex: NativeExecutor, sync: boolean): Promise<{ tps: number; tokens: string }> {
  let token = 5;
  const tokens: number[] = [];
  const t0 = performance.now();
  for (let p = 0; p < STEPS; p++) {
    const input = decodeStep(token, p);
    token = (sync ? ex.stepSync(input) : await ex.step(input)).tokens[0];
    tokens.push(token);
  }
  return { tps: STEPS / ((performance.now() - t0) / 1000), tokens: tokens.join(',') };
}

/** Decode tok/s of one request through the engine, and its tokens. */
async function enginePass(engine: NanoServingEngine): Promise<{ tps: number; tokens: string }> {
  let first = 0;
  const req = engine.submit(PROMPT, { maxTokens: OUTPUT });
  req.tokens$.subscribe(() => { if (first === 0) first = performance.now(); });
  const result = await req.done;
  return { tps: (OUTPUT - 1) / ((performance.now() - first) / 1000), tokens: result.tokens.join(',') };
}

interface Row { model: string; kernel: string; measure: string; sync: number[]; async: number[]; sameTokens: boolean }

async function runCase(model: Model, kernel: string, rounds: number): Promise<Row[]> {
  const prior = process.env.NANO_SERVING_KERNEL;
  if (kernel !== 'auto') process.env.NANO_SERVING_KERNEL = kernel;
  const common = { threads: 2, kvDtype: 'f16' as const, kvCachePages: 64 };
  const engines = { sync: await NanoServingEngine.create({ model: model.spec, syncSteps: 'auto', ...common }), async: await NanoServingEngine.create({ model: model.spec, syncSteps: false, ...common }) };
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: NUM_PAGES, pageSize: PAGE, numThreads: 2, maxBatchTokens: STEPS, maxSeqs: 1, kvDtype: 'f16', decodeAhead: false });
  const kernelName = ex.nativeInfo().quantKernel ? `${ex.nativeInfo().kernel}+${ex.nativeInfo().quantKernel}` : ex.nativeInfo().kernel;
  if (prior === undefined) delete process.env.NANO_SERVING_KERNEL;
  else process.env.NANO_SERVING_KERNEL = prior;
  const engine: Row = { model: model.label, kernel: kernelName, measure: `engine, ${OUTPUT} tokens: syncSteps 'auto' / false`, sync: [], async: [], sameTokens: true };
  const raw: Row = { model: model.label, kernel: kernelName, measure: `raw executor, ${STEPS} steps: stepSync / step`, sync: [], async: [], sameTokens: true };
  try {
    await enginePass(engines.sync);
    await enginePass(engines.async);
    await rawPass(ex, false);
    const firstTokens: Record<string, string> = {};
    for (let r = 0; r < rounds; r++) {
      for (const mode of r % 2 === 0 ? (['sync', 'async'] as const) : (['async', 'sync'] as const)) {
        const e = await enginePass(engines[mode]);
        const x = await rawPass(ex, mode === 'sync');
        engine[mode].push(e.tps);
        raw[mode].push(x.tps);
        firstTokens.engine ??= e.tokens;
        firstTokens.raw ??= x.tokens;
        engine.sameTokens &&= e.tokens === firstTokens.engine;
        raw.sameTokens &&= x.tokens === firstTokens.raw;
      }
    }
  } finally {
    ex.close();
    await engines.sync.close();
    await engines.async.close();
  }
  return [engine, raw];
}

async function main(): Promise<void> {
  const rounds = Number(flag('rounds', '6'));
  const specs = [...list(flag('models', 'small')), ...list(flag('gguf', ''))];
  const kernels = list(flag('kernels', 'auto'));
  const started = new Date();
  const loadStart = loadavg();
  const rows: Row[] = [];
  for (const spec of specs) {
    const model = await loadModel(spec);
    for (const kernel of kernels) rows.push(...(await runCase(model, kernel, rounds)));
  }
  const header = `${cpuLine()}; 2 threads; KV f16; ${rounds} rounds alternating; ${started.toISOString()} to ${new Date().toISOString()}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at the start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`;
  console.log(header);
  console.log('| model | kernel | measure | sync tok/s, median (range) | async tok/s, median (range) | sync / async, median of rounds | same tokens |');
  console.log('|---|---|---|---:|---:|---:|---|');
  const out = rows.map((row) => {
    const ratios = row.sync.map((s, i) => s / row.async[i]);
    const range = (xs: number[]): string => `${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)}`;
    console.log(`| ${row.model} | ${row.kernel} | ${row.measure} | ${median(row.sync).toFixed(1)} (${range(row.sync)}) | ${median(row.async).toFixed(1)} (${range(row.async)}) | ${median(ratios).toFixed(3)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}) | ${row.sameTokens ? 'yes' : 'NO'} |`);
    return { ...row, syncMedian: median(row.sync), asyncMedian: median(row.async), ratioMedian: median(ratios) };
  });
  const file = flag('out', '') || datedResultPath('sync-steps');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ header, machine: machineInfo(), rounds, rows: out }, null, 2));
  console.log(`wrote ${file}`);
}

await main();
