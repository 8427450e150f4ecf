/** The executor contract: one batched step in flat typed arrays, and what it returns. */
import type { ModelConfig } from '../models/config.js';

/** One batched step, as flat typed arrays. nSeq = seqStart.length - 1. */
export interface StepInput {
  tokens: Int32Array;          // [nTok] all new tokens, sequence after sequence
  positions: Int32Array;       // [nTok] their positions (consecutive within a sequence's run)
  seqStart: Int32Array;        // [nSeq+1] offset of each sequence's run in tokens
  pageTable: Int32Array;       // page ids of each sequence, concatenated
  pageStart: Int32Array;       // [nSeq+1] offset of each sequence's pages in pageTable
  isSampled: Uint8Array;       // [nSeq] 1 = the run's last token produces logits and a sampled token
  temperature: Float32Array;   // [nSeq] 0 = greedy
  topK: Int32Array;            // [nSeq] 0 = off
  topP: Float32Array;          // [nSeq] 1 = off
  minP: Float32Array;          // [nSeq] 0 = off
  seed: Float64Array;          // [nSeq] integer-valued, 0..2^53-1
  presencePenalty: Float32Array;   // [nSeq] 0 = off   (over output tokens)
  frequencyPenalty: Float32Array;  // [nSeq] 0 = off   (over output tokens)
  repetitionPenalty: Float32Array; // [nSeq] 1 = off   (over prompt + output tokens)
  historyTokens: Int32Array;   // prompt + output tokens of each sequence, for penalties (may be empty for a sequence without penalties)
  historyStart: Int32Array;    // [nSeq+1]
  historyPromptLen: Int32Array;// [nSeq] how many of a sequence's history tokens are prompt (with seqIds: the prompt's length)
  numTopLogprobs: Int32Array;  // [nSeq] top-n alternatives to return (0..20)
  returnLogits: boolean;       // tests: also return the raw logits of sampled rows
  /**
   * Kept sequences (optional; absent = stateless: every page table and history sent whole).
   * With seqIds the executor keeps each sequence's page table and penalty counts between
   * steps, and a step sends only what changed:
   *  - pageTable/pageStart: the pages after the first pageKeep[s] kept ones (new or replaced);
   *  - historyTokens: for a new sequence with penalties, its tokens before this run (exactly
   *    positions [0, first position)); nothing for a kept one (the executor counts the tokens
   *    it is fed); historyPromptLen: a new sequence's prompt length;
   *  - a kept sequence's run starts where its last run ended.
   * Refused by name (ERR_NATIVE_SEQ): an id not kept (never started, or released), an id twice.
   */
  seqIds?: Int32Array;         // [nSeq] the caller's id of each sequence (>= 0)
  seqIsNew?: Uint8Array;       // [nSeq] 1 = start the sequence afresh (whatever was kept for the id is dropped)
  pageKeep?: Int32Array;       // [nSeq] kept pages that stay (0 for a new sequence)
  releaseSeqs?: Int32Array;    // ids the executor forgets before this step (an id it does not keep: nothing to do)
  /** Constrained decoding (optional; absent = nothing constrained). Bit t of a row allows token t. */
  tokenMask?: Uint32Array;     // [nMasked*ceil(vocab/32)]
  maskRow?: Int32Array;        // [nSeq] row of tokenMask for the sequence's sampled token, -1 = none
  /**
   * [1] Deferred masks: tokenMask is written after step() is called, while the forward pass
   * runs, and read once maskReady[0] is 1 (Atomics.store; -1 = abandoned: the step fails).
   * Both arrays must be views of a SharedArrayBuffer (memory that never moves).
   */
  maskReady?: Int32Array;
  /** Logit bias (optional; absent = none). */
  biasStart?: Int32Array;      // [nSeq+1] offsets into biasTokens / biasValues
  biasTokens?: Int32Array;     // token ids, concatenated per sequence
  biasValues?: Float32Array;   // added to those tokens' logits
}

export interface StepOutput {
  tokens: Int32Array;          // [nSampled] in sequence order among sampled sequences
  logprobs: Float32Array;      // [nSampled] log-softmax of the raw logits at the chosen token
  topK: number;                // max numTopLogprobs over sampled sequences
  topIds: Int32Array;          // [nSampled*topK] best first
  topLogprobs: Float32Array;   // [nSampled*topK]
  logits?: Float32Array;       // [nSampled*vocab] raw logits, only when returnLogits
}


export interface ExecutorInfo {
  vocabSize: number;
  contextLength: number;
  numPages: number;
  pageSize: number;
  /** Most tokens one step may carry. */
  maxBatchTokens: number;
  /** Most sequences one step may carry. */
  maxSeqs: number;
  /** The model's shape, when the executor runs a real model (the step-cost model is derived from it). */
  modelConfig?: Readonly<ModelConfig>;
}

/** What the engine drives: the native addon or the simulator. The engine does not know which. */
export interface Executor {
  readonly info: ExecutorInfo;
  /**
   * One step at a time; rejects with an ExecutorError when the step failed (the requests in it fail, the engine goes on).
   * The engine reuses the input's buffers: they stay valid until the returned promise settles, not after.
   */
  step(input: StepInput): Promise<StepOutput>;
  /**
   * Optional: the same step on the calling thread, blocking it (the native executor: the JS
   * thread computes it, with no round trip through the step runner). Throws what step() rejects
   * with. The engine uses it for short steps (engine option syncSteps).
   */
  stepSync?(input: StepInput): StepOutput;
  /** True when the executor computes single-stream decode steps ahead of the call (decodeAhead): stepSync would defeat that. */
  readonly decodesAhead?: boolean;
  close(): void;
}
