/**
 * The step-cost coefficients of this machine, measured for the interference shape: raw
 * executor steps of the decode streams alone and beside a prefill chunk, at short and long
 * contexts, fitted by the linear latency model (src/testing/latency.ts) and mapped onto the
 * engine's measuredStepCost (stepCostFromLatency). A few seconds.
 * Run alone, it refits the shape-derived model (src/scheduler/step-cost.ts): per KV type the
 * measured coefficients, how far the shape model's prediction is from each step measured, and
 * the machine rates the measured coefficients imply for its constants:
 *   node dist/bench/step-cost-fit.js [--kv f32,bf16] [--threads N] [--rounds R (each step's fastest of R)]
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { NativeExecutor } from '../src/executor/native.js';
import { presetConfig } from '../src/models/presets.js';
import { syntheticTensors } from '../src/models/synthetic.js';
import type { KvDtype } from '../src/native/binding.js';
import { kvBytesPerElement, stepCostFromLatency, stepCostModel, type StepCostCoefficients } from '../src/scheduler/step-cost.js';
import { fitLinearLatency, stepShape, type StepShape } from '../src/testing/latency.js';
import { cpuLine } from './machine.js';
import type { ModelUnderTest } from './ours.js';
import { rawStep, timeStepMs, type RawRun } from './raw-steps.js';

const PAGE = 16;

export interface StepCostFit {
  coefficients: StepCostCoefficients;
  numSamples: number;
  /** Median |predicted - measured| / measured over the steps fitted. */
  medianError: number;
  /** The steps measured: what ran (labelled) and its ms. */
  samples: Array<{ label: string; shape: StepShape; ms: number }>;
}

/** A step's cost as the coefficients predict it. */
export function predictMs(c: StepCostCoefficients, shape: StepShape): number {
  return c.fixedMs + shape.numTokens * c.perTokenMs + shape.numSampled * c.perSampledMs + shape.numAttended * c.perKeyMs + shape.numKvRead * c.perKvReadMs;
}

/** `rounds`: each step measured that many times over, its fastest kept (a shared machine's noise only adds). */
export async function fitStepCost(model: ModelUnderTest, kvDtype: KvDtype, numStreams: number, longPromptLen: number, rounds = 1): Promise<StepCostFit> {
  const context = model.config.contextLength;
  const pagesPerSeq = Math.ceil(context / PAGE);
  const ex = NativeExecutor.create({
    config: model.config, tensors: model.tensors, weightDtype: model.weightDtype, kvDtype,
    numPages: (numStreams + 1) * pagesPerSeq, pageSize: PAGE, numThreads: model.threads, maxBatchTokens: 512, maxSeqs: numStreams + 1,
  });
  const pages = (seq: number): number[] => Array.from({ length: pagesPerSeq }, (_, i) => seq * pagesPerSeq + i);
  const decodes = (at: number): RawRun[] => Array.from({ length: numStreams }, (_, s) => ({ start: at, length: 1, pages: pages(s + 1) }));
  const shapes: Array<[string, RawRun[]]> = [];
  // Decode batches of several sizes separate the step's fixed cost from each sampled token's.
  for (const batch of [1, 4]) shapes.push([`${batch} decodes @40`, decodes(40).slice(0, batch)]);
  for (const at of [40, 1000, 2000]) shapes.push([`${numStreams} decodes @${at}`, decodes(at)]);
  for (const chunk of [16, 64]) shapes.push([`chunk ${chunk} @0 alone`, [{ start: 0, length: chunk, pages: pages(0), isSampled: false }]]);
  for (const at of [0, longPromptLen / 2, longPromptLen - 64]) {
    for (const chunk of [1, 16, 64]) shapes.push([`${numStreams} decodes @40 + chunk ${chunk} @${at}`, [...decodes(40), { start: at, length: chunk, pages: pages(0), isSampled: false }]]);
  }
  // The long prompt's own first decodes beside the streams (one row reading its whole K/V).
  shapes.push([`${numStreams} decodes @1000 + 1 decode @${longPromptLen}`, [...decodes(1000), { start: longPromptLen, length: 1, pages: pages(0) }]]);
  shapes.push(['chunk 256 @0 alone', [{ start: 0, length: 256, pages: pages(0), isSampled: false }]]);
  try {
    const samples = shapes.map(([label, runs]) => ({ label, input: rawStep(runs), shape: stepShape(rawStep(runs)), ms: Infinity }));
    for (let round = 0; round < rounds; round++) {
      for (const sample of samples) sample.ms = Math.min(sample.ms, await timeStepMs(ex, sample.input, 3));
    }
    const fit = fitLinearLatency(samples, { without: ['wakeMs'] });
    // All steps here carry a fixed part; a fit that puts none there (noise) keeps a floor the engine accepts.
    const coefficients = { ...stepCostFromLatency(fit), fixedMs: Math.max(fit.fixedMs, 1e-3) };
    const errors = samples.map(({ shape, ms }) => Math.abs(predictMs(coefficients, shape) - ms) / ms).sort((a, b) => a - b);
    return { coefficients, numSamples: samples.length, medianError: errors[Math.floor(errors.length / 2)], samples: samples.map(({ label, shape, ms }) => ({ label, shape, ms })) };
  } finally {
    ex.close();
  }
}

/** The machine rates (src/scheduler/step-cost.ts's constants) that make the shape model give these coefficients. */
function impliedRates(c: StepCostCoefficients, m: ModelUnderTest, kvDtype: KvDtype): Record<string, string> {
  const s = m.config, qDim = s.numHeads * s.headDim, kvDim = s.numKvHeads * s.headDim;
  const layerWeights = s.hiddenSize * (2 * qDim + 2 * kvDim + 3 * s.intermediateSize);
  const lmHead = s.hiddenSize * s.vocabSize;
  const weightBytes = m.weightDtype === 'bf16' ? 2 : 4, kvBytes = kvBytesPerElement(kvDtype, s.headDim);
  const rate = (num: number, ms: number): string => (ms > 0 ? (num / ms).toExponential(2) : 'n/a');
  return {
    GEMM_FLOPS_PER_MS: rate(2 * layerWeights * s.numLayers, c.perTokenMs),
    'GEMM_FLOPS_PER_MS (LM head)': rate(2 * lmHead, c.perSampledMs),
    ATTENTION_FLOPS_PER_MS: rate(4 * qDim * s.numLayers, c.perKeyMs),
    KV_BYTES_PER_MS: rate(2 * kvDim * s.numLayers * kvBytes, c.perKvReadMs),
    WEIGHT_BYTES_PER_MS: rate((layerWeights * s.numLayers + lmHead) * weightBytes, c.fixedMs),
  };
}

async function main(): Promise<void> {
  const arg = (name: string): string | undefined => {
    const at = process.argv.indexOf(`--${name}`);
    return at >= 0 ? process.argv[at + 1] : undefined;
  };
  const threads = Number(arg('threads') ?? Math.min(2, availableParallelism()));
  const rounds = Number(arg('rounds') ?? 1);
  const longPromptLen = 4000, numStreams = 8;
  const config = { ...presetConfig('small'), contextLength: 4608 };
  const model: ModelUnderTest = { name: 'small', config, tensors: syntheticTensors(config, 0), threads, weightDtype: 'f32' };
  console.log(`${cpuLine()}; ${threads} threads; small preset, ${numStreams} streams, ${longPromptLen}-token prompt`);
  for (const kvDtype of (arg('kv') ?? 'f32,bf16').split(',') as KvDtype[]) {
    {
      const fit = await fitStepCost(model, kvDtype, numStreams, longPromptLen, rounds);
      const shapeModel = stepCostModel(config, 2, { kvDtype });
      console.log(`\n${kvDtype} KV (fastest of ${rounds} rounds): measured ${JSON.stringify(fit.coefficients)} (median error ${(fit.medianError * 100).toFixed(0)} %)`);
      console.log(`  shape model: ${JSON.stringify({ ...shapeModel, maxRatio: undefined })}`);
      console.log('| step | measured ms | fit ms | shape model ms | shape / measured |');
      console.log('|---|---|---|---|---|');
      for (const { label, shape, ms } of fit.samples) {
        const byShape = predictMs(shapeModel, shape);
        console.log(`| ${label} | ${ms.toFixed(2)} | ${predictMs(fit.coefficients, shape).toFixed(2)} | ${byShape.toFixed(2)} | ${(byShape / ms).toFixed(2)} |`);
      }
      console.log(`  rates implied by the fit: ${JSON.stringify(impliedRates(fit.coefficients, model, kvDtype))}`);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
