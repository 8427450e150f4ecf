/**
 * The step-cost coefficients of this machine, measured for the interference shape: raw
 * executor steps of the decode streams alone and beside a prefill chunk, at short and long
 * contexts, fitted by the linear latency model (src/testing/latency.ts) and mapped onto the
 * engine's measuredStepCost (stepCostFromLatency). A few seconds.
 */
import { NativeExecutor } from '../src/executor/native.js';
import type { KvDtype } from '../src/native/binding.js';
import { stepCostFromLatency, type StepCostCoefficients } from '../src/scheduler/step-cost.js';
import { fitLinearLatency, stepShape } from '../src/testing/latency.js';
import type { ModelUnderTest } from './ours.js';
import { rawStep, timeStepMs, type RawRun } from './raw-steps.js';

const PAGE = 16;

export interface StepCostFit {
  coefficients: StepCostCoefficients;
  numSamples: number;
  /** Median |predicted - measured| / measured over the steps fitted. */
  medianError: number;
}

export async function fitStepCost(model: ModelUnderTest, kvDtype: KvDtype, numStreams: number, longPromptLen: number): Promise<StepCostFit> {
  const context = model.config.contextLength;
  const pagesPerSeq = Math.ceil(context / PAGE);
  const ex = NativeExecutor.create({
    config: model.config, tensors: model.tensors, weightDtype: model.weightDtype, kvDtype,
    numPages: (numStreams + 1) * pagesPerSeq, pageSize: PAGE, numThreads: model.threads, maxBatchTokens: 512, maxSeqs: numStreams + 1,
  });
  const pages = (seq: number): number[] => Array.from({ length: pagesPerSeq }, (_, i) => seq * pagesPerSeq + i);
  const decodes = (at: number): RawRun[] => Array.from({ length: numStreams }, (_, s) => ({ start: at, length: 1, pages: pages(s + 1) }));
  const shapes: RawRun[][] = [];
  // Decode batches of several sizes separate the step's fixed cost from each sampled token's.
  for (const batch of [1, 4]) shapes.push(decodes(40).slice(0, batch));
  for (const at of [40, 1000, 2000]) shapes.push(decodes(at));
  for (const chunk of [16, 64]) shapes.push([{ start: 0, length: chunk, pages: pages(0), isSampled: false }]);
  for (const at of [0, longPromptLen / 2, longPromptLen - 64]) {
    for (const chunk of [1, 16, 64]) shapes.push([...decodes(40), { start: at, length: chunk, pages: pages(0), isSampled: false }]);
  }
  shapes.push([{ start: 0, length: 256, pages: pages(0), isSampled: false }]);
  try {
    const samples = [];
    for (const runs of shapes) {
      const input = rawStep(runs);
      samples.push({ shape: stepShape(input), ms: await timeStepMs(ex, input, 3) });
    }
    const fit = fitLinearLatency(samples, { without: ['wakeMs'] });
    // All steps here carry a fixed part; a fit that puts none there (noise) keeps a floor the engine accepts.
    const coefficients = { ...stepCostFromLatency(fit), fixedMs: Math.max(fit.fixedMs, 1e-3) };
    const errors = samples.map(({ shape, ms }) => {
      const predicted = coefficients.fixedMs + shape.numTokens * coefficients.perTokenMs + shape.numSampled * coefficients.perSampledMs + shape.numAttended * coefficients.perKeyMs + shape.numKvRead * coefficients.perKvReadMs;
      return Math.abs(predicted - ms) / ms;
    }).sort((a, b) => a - b);
    return { coefficients, numSamples: samples.length, medianError: errors[Math.floor(errors.length / 2)] };
  } finally {
    ex.close();
  }
}
