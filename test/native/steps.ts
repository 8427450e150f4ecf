/**
 * Builds executor steps for native tests: sequences split into chunks, dealt pages from a
 * shuffled pool, interleaved into batched steps, and the sampled rows read back per sequence.
 */
import { expect } from 'vitest';
import type { Executor, StepInput, StepOutput } from '../../src/executor/step.js';
import type { ModelConfig } from '../../src/models/config.js';

/** Weights past 2 MB: the executor splits the step by layers, as a real model's is (and a step ahead can be cancelled between layers). */
export const LAYERED_CONFIG: ModelConfig = {
  family: 'llama', vocabSize: 2000, hiddenSize: 256, numLayers: 3, numHeads: 4, numKvHeads: 2, headDim: 64,
  intermediateSize: 512, contextLength: 256, normEps: 1e-5, ropeTheta: 10000, ropeNeox: true, tieEmbeddings: false, qkvBias: false,
};

/** Two runs of steps gave the same tokens and the same bits of logits and logprobs (steps asked with returnLogits). */
export function expectSameBits(a: StepOutput[], b: StepOutput[]): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(Array.from(a[i].tokens)).toEqual(Array.from(b[i].tokens));
    expect(Buffer.from(a[i].logits!.buffer).equals(Buffer.from(b[i].logits!.buffer))).toBe(true);
    expect(Buffer.from(a[i].logprobs.buffer).equals(Buffer.from(b[i].logprobs.buffer))).toBe(true);
  }
}

export interface Sampling { temperature: number; topK: number; topP: number; minP: number; seed: number }
export const GREEDY: Sampling = { temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0 };

/** One sequence's contiguous run of new tokens in a step. */
export interface Run {
  seq: number;
  tokens: number[];
  startPos: number;
  pages: number[];          // the sequence's page table, covering startPos + tokens.length
  isSampled: boolean;
  sampling: Sampling;
}

/**
 * A sequence to feed: its tokens, how those from `cachedLen` on are chunked (the first
 * `cachedLen` are already in its first pages, e.g. shared from another sequence), its pages.
 * Chunks before the last are sampled with probability sampleRate (default 1).
 */
export interface SeqWork {
  seq: number;
  tokens: number[];
  chunks: number[];
  pages: number[];
  sampling: Sampling;
  sampleRate?: number;
  cachedLen?: number;
}

/** What a sampled run returned: the token, its logprob and the raw logits at the run's last position. */
export interface SampledRow { seq: number; pos: number; token: number; logprob: number; logits: Float32Array }

export function shuffle<T>(items: T[], rand: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Random positive chunk lengths summing to `len` (each at most `maxChunk`). */
export function randomChunks(len: number, rand: () => number, maxChunk = len): number[] {
  const chunks: number[] = [];
  for (let left = len; left > 0;) {
    const size = 1 + Math.floor(rand() * Math.min(left, maxChunk));
    chunks.push(size);
    left -= size;
  }
  return chunks;
}

/** Disjoint page lists of the given lengths, drawn from a shuffled pool of `numPages`. */
export function dealPages(counts: number[], numPages: number, rand: () => number): number[][] {
  const pool = shuffle(Array.from({ length: numPages }, (_, i) => i), rand);
  let next = 0;
  return counts.map((n) => pool.slice(next, (next += n)));
}

export const pagesFor = (numTokens: number, pageSize: number): number => Math.ceil(numTokens / pageSize);

/**
 * Interleaves the sequences' chunks into steps: each step takes the next chunk of a random
 * non-empty subset of the unfinished sequences, in random order. A sequence's last chunk is
 * always sampled.
 */
export function interleave(work: SeqWork[], pageSize: number, rand: () => number): Run[][] {
  const next = work.map((w) => ({ chunk: 0, pos: w.cachedLen ?? 0 }));
  const steps: Run[][] = [];
  for (;;) {
    const open = work.map((_, i) => i).filter((i) => next[i].chunk < work[i].chunks.length);
    if (open.length === 0) return steps;
    let picked = open.filter(() => rand() < 0.6);
    if (picked.length === 0) picked = [open[Math.floor(rand() * open.length)]];
    steps.push(shuffle(picked, rand).map((i) => {
      const w = work[i];
      const len = w.chunks[next[i].chunk++];
      const startPos = next[i].pos;
      next[i].pos += len;
      const pages = w.pages.slice(0, pagesFor(startPos + len, pageSize));
      const isSampled = next[i].chunk === w.chunks.length || rand() < (w.sampleRate ?? 1);
      return { seq: w.seq, tokens: w.tokens.slice(startPos, startPos + len), startPos, pages, isSampled, sampling: w.sampling };
    }));
  }
}

/** [0, a, a+b, ...]: the start offsets of consecutive runs of the given lengths. */
function offsets(lens: number[]): Int32Array {
  const out = new Int32Array(lens.length + 1);
  lens.forEach((len, i) => (out[i + 1] = out[i] + len));
  return out;
}

/** The flat StepInput of a list of runs; penalties off, no top logprobs. */
export function buildStep(runs: Run[], returnLogits = true): StepInput {
  const n = runs.length;
  const per = <T>(f: (r: Run) => T) => runs.map(f);
  return {
    tokens: Int32Array.from(runs.flatMap((r) => r.tokens)),
    positions: Int32Array.from(runs.flatMap((r) => r.tokens.map((_, i) => r.startPos + i))),
    seqStart: offsets(per((r) => r.tokens.length)),
    pageTable: Int32Array.from(runs.flatMap((r) => r.pages)),
    pageStart: offsets(per((r) => r.pages.length)),
    isSampled: Uint8Array.from(per((r) => (r.isSampled ? 1 : 0))),
    temperature: Float32Array.from(per((r) => r.sampling.temperature)),
    topK: Int32Array.from(per((r) => r.sampling.topK)),
    topP: Float32Array.from(per((r) => r.sampling.topP)),
    minP: Float32Array.from(per((r) => r.sampling.minP)),
    seed: Float64Array.from(per((r) => r.sampling.seed)),
    presencePenalty: new Float32Array(n),
    frequencyPenalty: new Float32Array(n),
    repetitionPenalty: new Float32Array(n).fill(1),
    historyTokens: new Int32Array(0),
    historyStart: new Int32Array(n + 1),
    historyPromptLen: new Int32Array(n),
    numTopLogprobs: new Int32Array(n),
    returnLogits,
  };
}

/** The sampled rows of one step's output, in run order. */
export function sampledRows(runs: Run[], out: StepOutput, vocabSize: number): SampledRow[] {
  const sampled = runs.filter((r) => r.isSampled);
  if (out.tokens.length !== sampled.length) throw new Error(`expected ${sampled.length} sampled tokens, got ${out.tokens.length}`);
  if (!out.logits || out.logits.length !== sampled.length * vocabSize) throw new Error(`expected ${sampled.length}x${vocabSize} logits, got ${out.logits?.length}`);
  const logits = out.logits;
  return sampled.map((r, i) => ({
    seq: r.seq,
    pos: r.startPos + r.tokens.length - 1,
    token: out.tokens[i],
    logprob: out.logprobs[i],
    logits: logits.slice(i * vocabSize, (i + 1) * vocabSize),
  }));
}

/** Runs the steps one after another and returns every sampled row. */
export async function runSteps(executor: Pick<Executor, 'step'>, steps: Run[][], vocabSize: number): Promise<SampledRow[]> {
  const rows: SampledRow[] = [];
  for (const runs of steps) rows.push(...sampledRows(runs, await executor.step(buildStep(runs)), vocabSize));
  return rows;
}

/** Each sequence fed one token per step, alone: a sampled row at every position. */
export function oneTokenSteps(w: SeqWork, pageSize: number): Run[][] {
  return w.tokens.map((tok, pos) => [{
    seq: w.seq, tokens: [tok], startPos: pos, pages: w.pages.slice(0, pagesFor(pos + 1, pageSize)), isSampled: true, sampling: w.sampling,
  }]);
}
