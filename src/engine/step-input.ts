/**
 * The executor's step input, written into persistent buffers: every per-token and
 * per-sequence array is allocated once at the executor's limits (maxBatchTokens,
 * maxSeqs); the page-table and history arrays grow by doubling when a step needs more
 * and are reused after. A step writes only its used prefix and hands out views of it (the
 * same view objects as the step before while the lengths hold).
 * Sequences are kept by the executor (seqIds, kept-sequences.ts): a step carries only the
 * pages a request gained (or those replaced), and a request's tokens for its penalties only
 * when it starts (the executor counts the tokens it is fed after that). Writing a step
 * changes no request's kept record: accepted() records what the executor now keeps, once
 * the step was taken; refused() leaves every record as it was.
 *
 * Extending the step (a per-sequence mask, logit bias, ...): add a field to StepInput,
 * a buffer here (per-sequence: PerSeq; variable length: a Growable with an offsets
 * array), and write it in writeSequence.
 */
import type { ExecutorInfo, StepInput } from '../executor/step.js';
import type { PlannedRun } from '../scheduler/view.js';
import type { KeptSequences } from './kept-sequences.js';
import type { RequestSlot } from './request-slot.js';

type TypedArray = Int32Array | Uint8Array | Float32Array | Float64Array;

/**
 * The used prefix of a persistent buffer, as a view kept from step to step: a new view is
 * made only when the length (or, for a Growable, the buffer) changed, so a step whose
 * batch keeps its shape hands out the same views and allocates none.
 */
class PrefixView<T extends TypedArray> {
  private source: T | undefined;
  private view: T | undefined;
  of(buffer: T, length: number): T {
    if (this.view === undefined || this.source !== buffer || this.view.length !== length) {
      this.view = buffer.subarray(0, length) as T;
      this.source = buffer;
    }
    return this.view;
  }
}

const NO_RELEASES = new Int32Array(0);

/** An Int32Array that grows by doubling and is otherwise reused. */
class Growable {
  data: Int32Array;
  constructor(capacity: number) {
    this.data = new Int32Array(Math.max(16, capacity));
  }
  reserve(n: number): Int32Array {
    if (n > this.data.length) {
      let capacity = this.data.length;
      while (capacity < n) capacity *= 2;
      this.data = new Int32Array(capacity);
    }
    return this.data;
  }
}

export class StepBuffers {
  private readonly tokens: Int32Array;        // [maxBatchTokens]
  private readonly positions: Int32Array;     // [maxBatchTokens]
  private readonly seqStart: Int32Array;      // [maxSeqs + 1]
  private readonly pageStart: Int32Array;     // [maxSeqs + 1]
  private readonly historyStart: Int32Array;  // [maxSeqs + 1]
  private readonly isSampled: Uint8Array;     // [maxSeqs]
  private readonly temperature: Float32Array; // [maxSeqs]
  private readonly topK: Int32Array;          // [maxSeqs]
  private readonly topP: Float32Array;        // [maxSeqs]
  private readonly minP: Float32Array;        // [maxSeqs]
  private readonly seed: Float64Array;        // [maxSeqs]
  private readonly presencePenalty: Float32Array;   // [maxSeqs]
  private readonly frequencyPenalty: Float32Array;  // [maxSeqs]
  private readonly repetitionPenalty: Float32Array; // [maxSeqs]
  private readonly historyPromptLen: Int32Array;    // [maxSeqs]
  private readonly numTopLogprobs: Int32Array;      // [maxSeqs]
  private readonly seqIds: Int32Array;              // [maxSeqs]
  private readonly seqIsNew: Uint8Array;            // [maxSeqs]
  private readonly pageKeep: Int32Array;            // [maxSeqs]
  private readonly pagesAfter: Int32Array;          // [maxSeqs] each sequence's page count once the step is taken
  private written: readonly RequestSlot[] = [];     // the slots of the step last written
  private readonly pageTable: Growable;       // page ids of every sequence, concatenated
  private readonly history: Growable;         // prompt + output tokens of sequences with penalties
  /** The views handed out, one per field of StepInput that is a buffer prefix (kept while their lengths hold). */
  private readonly prefixes = {
    tokens: new PrefixView<Int32Array>(), positions: new PrefixView<Int32Array>(), seqStart: new PrefixView<Int32Array>(),
    pageTable: new PrefixView<Int32Array>(), pageStart: new PrefixView<Int32Array>(), isSampled: new PrefixView<Uint8Array>(),
    temperature: new PrefixView<Float32Array>(), topK: new PrefixView<Int32Array>(), topP: new PrefixView<Float32Array>(),
    minP: new PrefixView<Float32Array>(), seed: new PrefixView<Float64Array>(), presencePenalty: new PrefixView<Float32Array>(),
    frequencyPenalty: new PrefixView<Float32Array>(), repetitionPenalty: new PrefixView<Float32Array>(),
    historyTokens: new PrefixView<Int32Array>(), historyStart: new PrefixView<Int32Array>(), historyPromptLen: new PrefixView<Int32Array>(),
    numTopLogprobs: new PrefixView<Int32Array>(), seqIds: new PrefixView<Int32Array>(), seqIsNew: new PrefixView<Uint8Array>(),
    pageKeep: new PrefixView<Int32Array>(),
  };

  constructor(info: Pick<ExecutorInfo, 'maxBatchTokens' | 'maxSeqs' | 'pageSize' | 'contextLength'>, private readonly kept: KeptSequences) {
    const numTokens = info.maxBatchTokens;
    const numSeqs = info.maxSeqs;
    this.tokens = new Int32Array(numTokens);
    this.positions = new Int32Array(numTokens);
    this.seqStart = new Int32Array(numSeqs + 1);
    this.pageStart = new Int32Array(numSeqs + 1);
    this.historyStart = new Int32Array(numSeqs + 1);
    this.isSampled = new Uint8Array(numSeqs);
    this.temperature = new Float32Array(numSeqs);
    this.topK = new Int32Array(numSeqs);
    this.topP = new Float32Array(numSeqs);
    this.minP = new Float32Array(numSeqs);
    this.seed = new Float64Array(numSeqs);
    this.presencePenalty = new Float32Array(numSeqs);
    this.frequencyPenalty = new Float32Array(numSeqs);
    this.repetitionPenalty = new Float32Array(numSeqs);
    this.historyPromptLen = new Int32Array(numSeqs);
    this.numTopLogprobs = new Int32Array(numSeqs);
    this.seqIds = new Int32Array(numSeqs);
    this.seqIsNew = new Uint8Array(numSeqs);
    this.pageKeep = new Int32Array(numSeqs);
    this.pagesAfter = new Int32Array(numSeqs);
    this.pageTable = new Growable(Math.min(numSeqs, 64) * Math.ceil(Math.min(info.contextLength, 1024) / info.pageSize));
    this.history = new Growable(1024);
  }

  /** Writes the step (runs[i] of slots[i]) and returns views of the used part; valid until the next fill. */
  fill(runs: readonly PlannedRun[], slots: readonly RequestSlot[]): StepInput {
    const numSeqs = runs.length;
    let numTokens = 0;
    let numPages = 0;
    let numHistory = 0;
    let isBiased = false;
    for (let s = 0; s < numSeqs; s++) {
      const slot = slots[s];
      numTokens += runs[s].numTokens;
      if (slot.sampling.hasLogitBias) isBiased = true;
      numPages += slot.pages.length - (slot.isKept ? slot.keptPages : 0);
      if (!slot.isKept && slot.sampling.hasPenalties) numHistory += runs[s].start;
    }
    const pageTable = this.pageTable.reserve(numPages);
    const history = this.history.reserve(numHistory);
    let t = 0;
    let p = 0;
    let h = 0;
    for (let s = 0; s < numSeqs; s++) {
      const run = runs[s];
      const slot = slots[s];
      this.seqStart[s] = t;
      for (let i = 0; i < run.numTokens; i++) {
        this.tokens[t + i] = slot.tokenAt(run.start + i);
        this.positions[t + i] = run.start + i;
      }
      t += run.numTokens;
      const isNew = !slot.isKept;
      const keep = isNew ? 0 : slot.keptPages;
      this.seqIds[s] = slot.id;
      this.seqIsNew[s] = isNew ? 1 : 0;
      this.pageKeep[s] = keep;
      this.pageStart[s] = p;
      const pages = slot.pages;
      for (let i = keep; i < pages.length; i++) pageTable[p++] = pages[i];
      this.historyStart[s] = h;
      this.historyPromptLen[s] = isNew ? slot.numPrompt : 0;
      if (isNew && slot.sampling.hasPenalties) {
        history.set(slot.tokens.subarray(0, run.start), h);
        h += run.start;
      }
      this.pagesAfter[s] = pages.length;
      this.writeSequence(s, run, slot);
    }
    this.seqStart[numSeqs] = t;
    this.pageStart[numSeqs] = p;
    this.historyStart[numSeqs] = h;
    this.written = slots;
    const input = this.views(numSeqs, numTokens, numPages, numHistory);
    if (isBiased) Object.assign(input, logitBiasInput(slots));
    return input;
  }

  /** The executor took the step last written: it now keeps each of its sequences, with every page sent. */
  accepted(): void {
    const slots = this.written;
    for (let s = 0; s < slots.length; s++) this.kept.keep(slots[s], this.pagesAfter[s]);
    this.kept.stepTaken();
    this.written = [];
  }

  /**
   * The step last written failed: no record changes, the step's releases are sent again,
   * and the ids it started are released too (the executor may have taken the step before
   * it failed; releasing an id it does not keep is a no-op).
   */
  refused(): void {
    const slots = this.written;
    for (let s = 0; s < slots.length; s++) if (this.seqIsNew[s]) this.kept.releaseId(slots[s].id);
    this.kept.stepFailed();
    this.written = [];
  }

  private writeSequence(s: number, run: PlannedRun, slot: RequestSlot): void {
    const params = slot.sampling;
    this.isSampled[s] = run.isSampled ? 1 : 0;
    this.temperature[s] = params.temperature;
    this.topK[s] = params.topK;
    this.topP[s] = params.topP;
    this.minP[s] = params.minP;
    this.seed[s] = params.seed;
    this.presencePenalty[s] = params.presencePenalty;
    this.frequencyPenalty[s] = params.frequencyPenalty;
    this.repetitionPenalty[s] = params.repetitionPenalty;
    this.numTopLogprobs[s] = params.logprobs ?? 0;
  }

  private views(numSeqs: number, numTokens: number, numPages: number, numHistory: number): StepInput {
    const v = this.prefixes;
    const released = this.kept.drain();
    return {
      tokens: v.tokens.of(this.tokens, numTokens),
      positions: v.positions.of(this.positions, numTokens),
      seqStart: v.seqStart.of(this.seqStart, numSeqs + 1),
      pageTable: v.pageTable.of(this.pageTable.data, numPages),
      pageStart: v.pageStart.of(this.pageStart, numSeqs + 1),
      isSampled: v.isSampled.of(this.isSampled, numSeqs),
      temperature: v.temperature.of(this.temperature, numSeqs),
      topK: v.topK.of(this.topK, numSeqs),
      topP: v.topP.of(this.topP, numSeqs),
      minP: v.minP.of(this.minP, numSeqs),
      seed: v.seed.of(this.seed, numSeqs),
      presencePenalty: v.presencePenalty.of(this.presencePenalty, numSeqs),
      frequencyPenalty: v.frequencyPenalty.of(this.frequencyPenalty, numSeqs),
      repetitionPenalty: v.repetitionPenalty.of(this.repetitionPenalty, numSeqs),
      historyTokens: v.historyTokens.of(this.history.data, numHistory),
      historyStart: v.historyStart.of(this.historyStart, numSeqs + 1),
      historyPromptLen: v.historyPromptLen.of(this.historyPromptLen, numSeqs),
      numTopLogprobs: v.numTopLogprobs.of(this.numTopLogprobs, numSeqs),
      returnLogits: false,
      seqIds: v.seqIds.of(this.seqIds, numSeqs),
      seqIsNew: v.seqIsNew.of(this.seqIsNew, numSeqs),
      pageKeep: v.pageKeep.of(this.pageKeep, numSeqs),
      releaseSeqs: released.length === 0 ? NO_RELEASES : Int32Array.from(released),
    };
  }
}

/** Each sequence's logit bias, concatenated (only steps with a biased request carry these arrays; rare, so allocated). */
function logitBiasInput(slots: readonly RequestSlot[]): Pick<StepInput, 'biasStart' | 'biasTokens' | 'biasValues'> {
  const total = slots.reduce((sum, slot) => sum + slot.sampling.logitBias.length, 0);
  const biasStart = new Int32Array(slots.length + 1);
  const biasTokens = new Int32Array(total);
  const biasValues = new Float32Array(total);
  let at = 0;
  slots.forEach((slot, s) => {
    biasStart[s] = at;
    for (const [token, bias] of slot.sampling.logitBias) {
      biasTokens[at] = token;
      biasValues[at++] = bias;
    }
  });
  biasStart[slots.length] = at;
  return { biasStart, biasTokens, biasValues };
}
