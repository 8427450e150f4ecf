/**
 * What the scheduler policy sees (read-only) and what it returns (a plan, as data).
 * Nothing here touches the allocator, the cache, the lifecycle machines or the executor.
 */

import type { StepCostModel } from './step-cost.js';

/** A request as the policy sees it. */
export interface RequestView {
  readonly id: number;
  /** The phase, read from the request's lifecycle machine. */
  readonly phase: 'waiting' | 'prefilling' | 'decoding';
  /** Arrival order (smaller = earlier). */
  readonly arrival: number;
  /** Higher runs first among waiting requests; equal priorities keep arrival order. */
  readonly priority: number;
  /** Tokens known: the prompt plus every token generated so far. */
  readonly numTokens: number;
  /** Tokens whose KV is computed and stored in the request's pages. */
  readonly numComputed: number;
  /** Pages in the request's page table. */
  readonly numPages: number;
}

export interface CachedPrefix {
  /** Page-aligned cached tokens the request can reuse (always < numTokens). */
  readonly numTokens: number;
  /** Of the matched pages, how many are counted in numEvictablePages now (locking them removes them from the evictable pool). */
  readonly numEvictablePages: number;
}

export interface SchedulerView {
  /** Waiting requests in queue order (preempted requests at the head). */
  readonly waiting: readonly RequestView[];
  /** Admitted requests (prefilling or decoding), oldest admission first. */
  readonly running: readonly RequestView[];
  readonly numFreePages: number;
  /** Pages the prefix cache can give back by eviction. */
  readonly numEvictablePages: number;
  readonly pageSize: number;
  /** Increments every step; rotates the round-robin over partly prefilled requests. */
  readonly stepIndex: number;
  /** The cached prefix a waiting request would reuse if admitted now (read-only query). */
  cachedPrefix(request: RequestView): CachedPrefix;
  /** Pages that become free or evictable if this running request is preempted. */
  reclaimablePages(request: RequestView): number;
  /**
   * Whether both requests know the tokens [start, start + pageSize) and they are equal
   * (read-only). Lets a policy see that a waiting prompt shares a page with a prefill in
   * flight; absent = the policy assumes no sharing.
   */
  sharesPage?(a: RequestView, b: RequestView, start: number): boolean;
}

export interface SchedulerConfig {
  /** Token budget of one step (decode tokens + prefill chunk tokens). */
  readonly maxBatchTokens: number;
  /** Cap on admitted requests. */
  readonly maxRunning: number;
  /** Longest prefill chunk; Infinity (or chunkedPrefill false) = whole prompts only. */
  readonly maxChunkSize: number;
  /** false: a prompt is prefilled in one step or not admitted yet. */
  readonly chunkedPrefill: boolean;
  /** Bounds a step's predicted cost when prefill chunks join decodes (chunked prefill only); absent = token budget only. */
  readonly stepCost?: StepCostModel;
}

/** One sequence's contiguous run of new tokens in the step. */
export interface PlannedRun {
  readonly id: number;
  readonly kind: 'prefill' | 'decode';
  /** Position of the run's first token (= the request's numComputed, or the cached prefix on admission). */
  readonly start: number;
  readonly numTokens: number;
  /** The run ends at the request's last known token, so it produces the next token. */
  readonly isSampled: boolean;
  /** Pages the request must gain before the step (beyond what it holds, or beyond the cached prefix on admission). */
  readonly numNewPages: number;
}

export interface StepPlan {
  /** Running requests to preempt first (their pages go back; they return to the head of the queue). */
  readonly preempt: readonly number[];
  /** Waiting requests admitted in this step, in order; each also has a run. */
  readonly admit: readonly number[];
  /** Decode runs first, then prefill chunks. */
  readonly runs: readonly PlannedRun[];
  readonly numTokens: number;
}

export function pagesFor(numTokens: number, pageSize: number): number {
  const n = Math.ceil(numTokens / pageSize);
  return n <= 0x3fffffff ? n | 0 : n; // a small integer, so plans hold no boxed numbers
}
