/**
 * Where one decode step's time goes, by difference of raw executor steps (no engine),
 * B sequences of one token each:
 *   base       at context 1, nothing sampled   = the layers' GEMMs, norms, rotary, glue, the call
 *   attention  at context L, nothing sampled   - base = attention over L positions
 *   LM head    at context 1, every one sampled - base = LM head GEMM + sampling
 *   full       at context L, every one sampled (what the engine runs); the rest is the residual
 * The JS side comes from an engine run (ProfiledExecutor): the synchronous call into the
 * addon, and the time between steps (applying results, scheduling, the tick's yield).
 */
import { NativeExecutor } from '../src/executor/native.js';
import type { StepInput } from '../src/executor/step.js';
import type { KvDtype } from '../src/native/binding.js';
import type { ModelUnderTest } from './ours.js';

export interface StepProfile {
  batch: number;
  context: number;
  fullMs: number;
  /** full - (layers + attention + LM head): interaction and noise. */
  residualMs: number;
  lmHeadAndSamplingMs: number;
  attentionMs: number;
  layersMs: number;
  /** GFLOP/s of the whole step's matmuls (2 * params touched * batch). */
  gemmGflops: number;
}

/** `batch` sequences, each a run of `length` tokens starting at `position`. */
export function decodeInput(batch: number, position: number, pagesPerSeq: number, sampled: boolean, length = 1): StepInput {
  const z = (n: number) => new Float32Array(n);
  return {
    tokens: Int32Array.from({ length: batch * length }, (_, i) => 3 + ((i * 7919) % 250)),
    positions: Int32Array.from({ length: batch * length }, (_, i) => position + (i % length)),
    seqStart: Int32Array.from({ length: batch + 1 }, (_, s) => s * length),
    pageTable: Int32Array.from({ length: batch * pagesPerSeq }, (_, i) => i),
    pageStart: Int32Array.from({ length: batch + 1 }, (_, s) => s * pagesPerSeq),
    isSampled: new Uint8Array(batch).fill(sampled ? 1 : 0),
    temperature: z(batch),
    topK: new Int32Array(batch),
    topP: z(batch).fill(1),
    minP: z(batch),
    seed: new Float64Array(batch),
    presencePenalty: z(batch),
    frequencyPenalty: z(batch),
    repetitionPenalty: z(batch).fill(1),
    historyTokens: new Int32Array(0),
    historyStart: new Int32Array(batch + 1),
    historyPromptLen: new Int32Array(batch),
    numTopLogprobs: new Int32Array(batch),
    returnLogits: false,
  };
}

async function medianStepMs(executor: NativeExecutor, input: StepInput, reps: number): Promise<number> {
  for (let i = 0; i < 3; i++) await executor.step(input);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await executor.step(input);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function matmulParams(model: ModelUnderTest): number {
  const c = model.config;
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const perLayer = c.hiddenSize * (2 * q + 2 * kv) + (c.family === 'llama' ? 3 : 2) * c.hiddenSize * c.intermediateSize;
  return c.numLayers * perLayer + c.vocabSize * c.hiddenSize;
}

/** kvDtype: the KV cache's elements (the executor's default, f32, unless given). */
export async function profileStep(model: ModelUnderTest, batch: number, context: number, reps: number, kvDtype?: KvDtype): Promise<StepProfile> {
  const pageSize = 16;
  const pagesPerSeq = Math.ceil((context + 1) / pageSize);
  const executor = NativeExecutor.create({
    config: model.config,
    tensors: model.tensors,
    weightDtype: model.weightDtype,
    numPages: batch * pagesPerSeq,
    pageSize,
    numThreads: model.threads,
    maxBatchTokens: Math.max(batch, 16),
    maxSeqs: batch,
    kvDtype,
  });
  try {
    const fullMs = await medianStepMs(executor, decodeInput(batch, context, pagesPerSeq, true), reps);
    const layersMs = await medianStepMs(executor, decodeInput(batch, 0, pagesPerSeq, false), reps);
    const attentionMs = (await medianStepMs(executor, decodeInput(batch, context, pagesPerSeq, false), reps)) - layersMs;
    const lmHeadAndSamplingMs = (await medianStepMs(executor, decodeInput(batch, 0, pagesPerSeq, true), reps)) - layersMs;
    return {
      batch,
      context,
      fullMs,
      residualMs: fullMs - layersMs - attentionMs - lmHeadAndSamplingMs,
      lmHeadAndSamplingMs,
      attentionMs,
      layersMs,
      gemmGflops: (2 * matmulParams(model) * batch) / (fullMs * 1e6),
    };
  } finally {
    executor.close();
  }
}

export interface LongContextProfile {
  context: number;
  /** One sequence's decode step at context 32 and at `context`. */
  decodeShortMs: number;
  decodeLongMs: number;
  /** A prefill chunk at the start of the prompt and at its end, per chunk size. */
  chunks: Array<{ chunk: number; atStartMs: number; atEndMs: number }>;
}

/** What a long context costs one step: the attention part of decode and of a prefill chunk. */
export async function profileLongContext(model: ModelUnderTest, context: number, chunkSizes: readonly number[], reps: number): Promise<LongContextProfile> {
  const pageSize = 16;
  const pagesPerSeq = Math.ceil((context + 1) / pageSize);
  const maxChunk = Math.max(...chunkSizes);
  const executor = NativeExecutor.create({ config: model.config, tensors: model.tensors, weightDtype: model.weightDtype, numPages: pagesPerSeq, pageSize, numThreads: model.threads, maxBatchTokens: maxChunk, maxSeqs: 1 });
  try {
    const at = (position: number, length: number) => medianStepMs(executor, decodeInput(1, position, pagesPerSeq, true, length), reps);
    const chunks = [];
    for (const chunk of chunkSizes) chunks.push({ chunk, atStartMs: await at(0, chunk), atEndMs: await at(context - chunk, chunk) });
    return { context, decodeShortMs: await at(32, 1), decodeLongMs: await at(context - 1, 1), chunks };
  } finally {
    executor.close();
  }
}
