/**
 * A deterministic simulated executor: same contract as the native one, no model.
 *
 * Each KV slot stores (position, rolling hash of the sequence up to it). A run reads the
 * hash of its previous position through the page table, so a wrong page table, a page
 * written by the wrong request or a skipped chunk changes the output: the simulator
 * checks the engine's page accounting, and its tokens depend only on (seed, sequence
 * content, position), never on the batch. It can be slowed down or made to fail steps.
 */
import { ExecutorError } from '../errors.js';
import { KeptPageTables } from './kept-pages.js';
import type { Executor, ExecutorInfo, StepInput, StepOutput } from './step.js';

export interface SimulatedExecutorOptions {
  vocabSize?: number;
  contextLength?: number;
  numPages: number;
  pageSize?: number;
  maxBatchTokens?: number;
  maxSeqs?: number;
  /** Milliseconds each step takes (a number, or a function of the step index). */
  delayMs?: number | ((stepIndex: number) => number);
  /** Return true to make that step fail (the requests in it fail). */
  failStep?: (stepIndex: number, input: StepInput) => boolean;
  /**
   * Virtual time: each step advances this clock by `latencyMs(input)` instead of sleeping
   * (the testing harness's VirtualClock and a latency model). Ignored without latencyMs.
   */
  clock?: { now(): number; advance(ms: number): void };
  /** `idleBeforeMs`: virtual time since the previous step ended (Infinity before the first). */
  latencyMs?: (input: StepInput, idleBeforeMs: number) => number;
}

const EMPTY_HASH = 0x9e3779b9;

function mix(h: number, value: number): number {
  let x = (h ^ Math.imul(value + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d) >>> 0;
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

export class SimulatedExecutor implements Executor {
  readonly info: ExecutorInfo;
  private readonly slotPosition: Int32Array; // (page, slot) -> position written there, -1 = never
  private readonly slotHash: Uint32Array;    // (page, slot) -> rolling hash of the sequence up to that position
  private readonly options: SimulatedExecutorOptions;
  private readonly kept: KeptPageTables;
  private numSteps = 0;
  private lastStepEnd = -Infinity;
  private isBusy = false;
  private isClosed = false;

  constructor(options: SimulatedExecutorOptions) {
    this.options = options;
    this.info = {
      vocabSize: options.vocabSize ?? 256,
      contextLength: options.contextLength ?? 4096,
      numPages: options.numPages,
      pageSize: options.pageSize ?? 16,
      maxBatchTokens: options.maxBatchTokens ?? 8192,
      maxSeqs: options.maxSeqs ?? 1024,
    };
    this.kept = new KeptPageTables(this.info);
    const numSlots = this.info.numPages * this.info.pageSize;
    this.slotPosition = new Int32Array(numSlots).fill(-1);
    this.slotHash = new Uint32Array(numSlots);
  }

  get stepsRun(): number {
    return this.numSteps;
  }

  async step(input: StepInput): Promise<StepOutput> {
    if (this.isClosed) throw new ExecutorError('executor is closed', 'ERR_NATIVE_CLOSED');
    if (this.isBusy) throw new ExecutorError('a step is already in flight', 'ERR_NATIVE_BUSY');
    const stepIndex = this.numSteps++;
    this.isBusy = true;
    try {
      const delay = typeof this.options.delayMs === 'function' ? this.options.delayMs(stepIndex) : this.options.delayMs ?? 0;
      await new Promise<void>((resolve) => (delay > 0 ? setTimeout(resolve, delay) : setImmediate(resolve)));
      if (input.maskReady) await masksWritten(input.maskReady);
      const { clock, latencyMs } = this.options;
      if (clock && latencyMs) {
        clock.advance(latencyMs(input, clock.now() - this.lastStepEnd));
        this.lastStepEnd = clock.now();
      }
      if (this.options.failStep?.(stepIndex, input)) {
        throw new ExecutorError(`simulated failure of step ${stepIndex}`, 'ERR_SIMULATED_FAULT');
      }
      return this.compute(input);
    } finally {
      this.isBusy = false;
    }
  }

  close(): void {
    this.isClosed = true;
  }

  private compute(input: StepInput): StepOutput {
    const numSeqs = input.seqStart.length - 1;
    const tables = this.kept.apply(input);
    const sampled: number[] = [];
    const hashes: number[] = [];
    for (let s = 0; s < numSeqs; s++) {
      const hash = this.writeRun(input, s, tables[s]);
      if (input.isSampled[s]) {
        sampled.push(s);
        hashes.push(hash);
      }
    }
    const topK = sampled.reduce((m, s) => Math.max(m, input.numTopLogprobs[s]), 0);
    const out: StepOutput = {
      tokens: new Int32Array(sampled.length),
      logprobs: new Float32Array(sampled.length),
      topK,
      topIds: new Int32Array(sampled.length * topK).fill(-1),
      topLogprobs: new Float32Array(sampled.length * topK).fill(-Infinity),
    };
    sampled.forEach((s, i) => this.sample(input, s, hashes[i], i, out));
    return out;
  }

  /** Writes one sequence's run into its pages and returns the hash at its last token. */
  private writeRun(input: StepInput, s: number, pages: ArrayLike<number>): number {
    const { pageSize, numPages, vocabSize, contextLength } = this.info;
    const slotOf = (position: number): number => {
      const page = pages[Math.floor(position / pageSize)];
      if (page === undefined || page < 0 || page >= numPages) {
        throw new ExecutorError(`sequence ${s}: no valid page for position ${position}`, 'ERR_NATIVE_PAGE');
      }
      return page * pageSize + (position % pageSize);
    };
    const first = input.positions[input.seqStart[s]];
    let hash = EMPTY_HASH;
    if (first > 0) {
      const slot = slotOf(first - 1);
      if (this.slotPosition[slot] !== first - 1) {
        throw new ExecutorError(`sequence ${s}: KV for position ${first - 1} was never written`, 'ERR_SIMULATED_KV');
      }
      hash = this.slotHash[slot];
    }
    for (let t = input.seqStart[s]; t < input.seqStart[s + 1]; t++) {
      const token = input.tokens[t];
      const position = input.positions[t];
      if (token < 0 || token >= vocabSize) throw new ExecutorError(`token ${token} outside the vocabulary`, 'ERR_NATIVE_TOKEN');
      if (position !== first + (t - input.seqStart[s]) || position >= contextLength) {
        throw new ExecutorError(`bad position ${position}`, 'ERR_NATIVE_POSITION');
      }
      hash = mix(mix(hash, token), position);
      const slot = slotOf(position);
      this.slotPosition[slot] = position;
      this.slotHash[slot] = hash;
    }
    return hash;
  }

  private sample(input: StepInput, s: number, hash: number, row: number, out: StepOutput): void {
    const vocab = this.info.vocabSize;
    const nextPosition = input.positions[input.seqStart[s + 1] - 1] + 1;
    const key = input.temperature[s] === 0 ? hash : mix(mix(hash, input.seed[s] >>> 0), nextPosition);
    const token = allowedFrom(input, s, key % vocab, vocab);
    out.tokens[row] = token;
    out.logprobs[row] = -((key >>> 8) % 1000) / 100;
    for (let j = 0; j < input.numTopLogprobs[s]; j++) {
      out.topIds[row * out.topK + j] = (token + j) % vocab;
      out.topLogprobs[row * out.topK + j] = out.logprobs[row] - j;
    }
  }
}

/** The first token at or after `token` (cyclically) that the sequence's mask allows; `token` when unmasked. */
function allowedFrom(input: StepInput, s: number, token: number, vocab: number): number {
  const row = input.maskRow?.[s] ?? -1;
  if (row < 0 || !input.tokenMask) return token;
  const words = Math.ceil(vocab / 32);
  for (let i = 0; i < vocab; i++) {
    const t = (token + i) % vocab;
    if ((input.tokenMask[row * words + (t >> 5)] >>> (t & 31)) & 1) return t;
  }
  throw new ExecutorError(`token mask of sequence ${s} allows no token`, 'ERR_NATIVE_PARAM');
}

/** Deferred token masks: waits for the engine to write them (as the native sampler does). */
async function masksWritten(ready: Int32Array): Promise<void> {
  while (Atomics.load(ready, 0) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  if (Atomics.load(ready, 0) !== 1) throw new ExecutorError('the step\'s token masks were abandoned', 'ERR_NATIVE_STEP');
}
