/**
 * The binding's share of a step: the synchronous part of NativeExecutor.step() (reading the
 * typed arrays, checking them, applying kept-sequence deltas) for 256 decoding sequences,
 * with whole page tables and histories each step (stateless) against kept sequences (only
 * what changed), at several context lengths, penalties off and on. The model is a 1-layer toy so
 * the forward pass stays out of the way; only the call itself is timed (median of steps).
 */
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import type { ModelConfig } from '../src/models/config.js';
import { syntheticTensors } from '../src/models/synthetic.js';

const PAGE_SIZE = 16;
const NUM_SEQS = 256;

function config(contextLength: number): ModelConfig {
  return {
    family: 'llama', vocabSize: 1024, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 1, headDim: 16,
    intermediateSize: 64, contextLength, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
  };
}

const perSeq = <T>(make: (n: number) => T): T => make(NUM_SEQS);

/** A decode step of every sequence at `position` (sequence s owns pages [s * pagesPer, (s + 1) * pagesPer)). */
function decodeStep(position: number, pagesPer: number, kept: { isNew: boolean } | undefined, penalties: boolean): StepInput {
  const numPages = Math.floor(position / PAGE_SIZE) + 1;
  const newPages = kept && !kept.isNew ? (position % PAGE_SIZE === 0 ? 1 : 0) : numPages;
  const firstNew = numPages - newPages;
  const historyLen = !penalties ? 0 : kept ? (kept.isNew ? position : 0) : position + 1;
  const offsets = (len: number): Int32Array => Int32Array.from({ length: NUM_SEQS + 1 }, (_, s) => s * len);
  const input: StepInput = {
    tokens: Int32Array.from({ length: NUM_SEQS }, (_, s) => (s * 7 + position) % 1024),
    positions: new Int32Array(NUM_SEQS).fill(position),
    seqStart: offsets(1),
    pageTable: Int32Array.from({ length: NUM_SEQS * newPages }, (_, k) => Math.floor(k / newPages) * pagesPer + firstNew + (k % newPages)),
    pageStart: offsets(newPages),
    isSampled: new Uint8Array(NUM_SEQS).fill(1),
    temperature: perSeq((n) => new Float32Array(n).fill(0.8)),
    topK: new Int32Array(NUM_SEQS),
    topP: new Float32Array(NUM_SEQS).fill(1),
    minP: new Float32Array(NUM_SEQS),
    seed: Float64Array.from({ length: NUM_SEQS }, (_, s) => s),
    presencePenalty: new Float32Array(NUM_SEQS).fill(penalties ? 0.5 : 0),
    frequencyPenalty: new Float32Array(NUM_SEQS).fill(penalties ? 0.5 : 0),
    repetitionPenalty: new Float32Array(NUM_SEQS).fill(penalties ? 1.1 : 1),
    historyTokens: Int32Array.from({ length: NUM_SEQS * historyLen }, (_, k) => (k * 13) % 1024),
    historyStart: offsets(historyLen),
    historyPromptLen: new Int32Array(NUM_SEQS).fill(Math.min(historyLen, 32)),
    numTopLogprobs: new Int32Array(NUM_SEQS),
    returnLogits: false,
  };
  if (!kept) return input;
  return {
    ...input,
    historyPromptLen: new Int32Array(NUM_SEQS).fill(penalties ? 32 : 0),
    seqIds: Int32Array.from({ length: NUM_SEQS }, (_, s) => s),
    seqIsNew: new Uint8Array(NUM_SEQS).fill(kept.isNew ? 1 : 0),
    pageKeep: new Int32Array(NUM_SEQS).fill(kept.isNew ? 0 : firstNew),
    releaseSeqs: new Int32Array(0),
  };
}

/** Median microseconds of the synchronous step() call over `numSteps` decode steps from `context`. */
async function timeCalls(context: number, isKept: boolean, penalties: boolean, numSteps: number): Promise<number> {
  const pagesPer = Math.ceil((context + numSteps + 1) / PAGE_SIZE);
  const cfg = config(pagesPer * PAGE_SIZE);
  const executor = NativeExecutor.create({ config: cfg, tensors: syntheticTensors(cfg, 1), numPages: NUM_SEQS * pagesPer, pageSize: PAGE_SIZE, numThreads: 2, maxBatchTokens: NUM_SEQS, maxSeqs: NUM_SEQS });
  const times: number[] = [];
  try {
    if (isKept) await executor.step(decodeStep(context - 1, pagesPer, { isNew: true }, penalties));
    const inputs = Array.from({ length: numSteps }, (_, k) => decodeStep(context + k, pagesPer, isKept ? { isNew: false } : undefined, penalties));
    for (const input of inputs) {
      const t0 = performance.now();
      const pending = executor.step(input);
      times.push((performance.now() - t0) * 1000);
      await pending;
    }
  } finally {
    executor.close();
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

export async function stepCallRows(contexts: readonly number[], numSteps: number): Promise<Array<Record<string, string | number>>> {
  const rows: Array<Record<string, string | number>> = [];
  for (const context of contexts) for (const penalties of [false, true]) {
    const whole = await timeCalls(context, false, penalties, numSteps);
    const kept = await timeCalls(context, true, penalties, numSteps);
    rows.push({
      sequences: NUM_SEQS,
      context,
      penalties: penalties ? 'on' : 'off',
      'step() call µs, whole tables + histories': whole.toFixed(0),
      'step() call µs, kept sequences': kept.toFixed(0),
      'µs per sequence, whole / kept': `${(whole / NUM_SEQS).toFixed(2)} / ${(kept / NUM_SEQS).toFixed(2)}`,
      ratio: `${(whole / kept).toFixed(1)}x`,
    });
  }
  return rows;
}
