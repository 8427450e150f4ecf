/**
 * Runs one GGUF file greedily through our executor and through llama.cpp (node-llama-cpp's
 * prebuilt CPU binary, f32 KV cache), and compares the two runs: greedy tokens must agree
 * until a near-tie (top-2 gap under NEAR_TIE in log-probability, on either side, at the step
 * where they part), and the log-probabilities of every step up to there must agree within a
 * tolerance (over tokens llama.cpp gives at least MIN_PROB). With quantized activations a
 * rounding event (compareRuns) can shift everything after it; its measured size (see
 * test/models/quant-llamacpp.test.ts) is the near-tie threshold after such an event.
 */
import type { Llama, Token } from 'node-llama-cpp';
import { NativeExecutor } from '../../src/executor/native.js';
import type { StepInput } from '../../src/executor/step.js';
import { loadGgufModel } from '../../src/models/gguf-loader.js';
import { buildStep, GREEDY, pagesFor } from '../native/steps.js';

export const NEAR_TIE = 2e-3;
const MIN_PROB = 1e-6;

export interface Run {
  tokens: number[];
  logprobs: Float64Array[];  // per step, over the vocabulary
}

function step(tokens: number[], start: number): StepInput {
  const pages = Array.from({ length: pagesFor(start + tokens.length, 16) }, (_, i) => i);
  return buildStep([{ seq: 0, tokens, startPos: start, pages, isSampled: true, sampling: GREEDY }]);
}

function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

export async function runOurs(path: string, prompt: number[], numTokens: number, numThreads = 1): Promise<Run> {
  const model = await loadGgufModel(path);
  const ex = NativeExecutor.create({ config: model.config, tensors: model.tensors, numPages: 16, pageSize: 16, numThreads, maxBatchTokens: 64, maxSeqs: 1 });
  const run: Run = { tokens: [], logprobs: [] };
  try {
    let out = await ex.step(step(prompt, 0));
    for (let i = 0; i < numTokens; i++) {
      run.tokens.push(out.tokens[0]);
      run.logprobs.push(logSoftmax(out.logits!));
      if (i + 1 < numTokens) out = await ex.step(step([out.tokens[0]], prompt.length + i));
    }
  } finally {
    ex.close();
  }
  return run;
}

export async function runLlamaCpp(llama: Llama, path: string, prompt: number[], numTokens: number, vocabSize: number): Promise<Run> {
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: 128, batchSize: 64, threads: 1, flashAttention: false,
    experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32',
  });
  const run: Run = { tokens: [], logprobs: [] };
  try {
    const sequence = context.getSequence();
    const stream = sequence.evaluateWithMetadata(prompt as Token[], { probabilities: true }, { temperature: 0, yieldEogToken: true });
    for await (const { token, probabilities } of stream) {
      const lp = new Float64Array(vocabSize).fill(-Infinity);
      for (const [id, p] of probabilities) lp[id] = Math.log(p);
      run.tokens.push(token);
      run.logprobs.push(lp);
      if (run.tokens.length >= numTokens) break;
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  return run;
}

function topGap(lp: Float64Array): number {
  let a = -Infinity, b = -Infinity;
  for (const v of lp) {
    if (v > a) [a, b] = [v, a];
    else if (v > b) b = v;
  }
  return a - b;
}

/** Largest |Δ log p| over tokens the second run gives at least MIN_PROB. */
export function maxDiff(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) if (b[i] > Math.log(MIN_PROB)) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

export interface Comparison {
  /** Steps whose tokens agree before the runs part (all of them when they never do). */
  agreed: number;
  /** Whether the runs parted, and then whether at a near-tie (see compareRuns). */
  parted: boolean;
  partedAtNearTie: boolean;
  gapAtParting: number;
  /** Largest |Δ log p| over the steps compared (those agreed, plus the parting one). */
  maxLogprobDiff: number;
  /** First compared step whose |Δ log p| exceeds ROUNDING_EVENT (-1: none), and the largest before it. */
  firstEvent: number;
  maxBeforeEvent: number;
}

/** A |Δ log p| above this marks a rounding event: an activation quantized one int8 step apart. */
export const ROUNDING_EVENT = 1e-4;

/**
 * Compares two greedy runs. Parting is allowed at a top-2 gap under NEAR_TIE; after a rounding
 * event (quantized weights: the two sides' floats, a few ulps apart, put one activation on two
 * sides of a rounding boundary, and that token's K/V carries it) the runs no longer compute the
 * same thing, and parting is allowed at a gap under `afterEvent` (the measured size of such an
 * event). For float weights pass afterEvent = NEAR_TIE: no rounding step sits in between.
 */
export function compareRuns(ours: Run, theirs: Run, afterEvent = NEAR_TIE): Comparison {
  const n = Math.min(ours.tokens.length, theirs.tokens.length);
  let agreed = 0;
  while (agreed < n && ours.tokens[agreed] === theirs.tokens[agreed]) agreed++;
  const parted = agreed < n;
  const gap = parted ? Math.min(topGap(ours.logprobs[agreed]), topGap(theirs.logprobs[agreed])) : Infinity;
  let worst = 0, firstEvent = -1, maxBeforeEvent = 0;
  for (let i = 0; i < Math.min(n, agreed + 1); i++) {
    const d = maxDiff(ours.logprobs[i], theirs.logprobs[i]);
    worst = Math.max(worst, d);
    if (firstEvent < 0 && d > ROUNDING_EVENT) firstEvent = i;
    if (firstEvent < 0) maxBeforeEvent = Math.max(maxBeforeEvent, d);
  }
  const threshold = firstEvent >= 0 && firstEvent <= agreed ? afterEvent : NEAR_TIE;
  return { agreed, parted, partedAtNearTie: parted && gap < threshold, gapAtParting: gap, maxLogprobDiff: worst, firstEvent, maxBeforeEvent };
}
