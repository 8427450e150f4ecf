/**
 * The scheduling policy: a pure function from a read-only view of the queues and the
 * page pool to a StepPlan. One step merges:
 *   1. decode: one token for every decoding request (oldest admission first);
 *      when pages run out, the youngest running request is preempted (recompute);
 *   2. prefill chunks of partly prefilled requests, round-robin;
 *   3. admission of waiting requests in queue order (FCFS), never past one that does
 *      not fit, and never in a step that preempted. A request whose next uncached page is
 *      being computed by a prefill in flight (running, or admitted in this step) is held
 *      back until that page is cached, so a shared prefix is computed once (as SGLang
 *      does); it blocks the queue behind it like one that does not fit (FCFS).
 * With a step-cost model (config.stepCost, chunked prefill only), each chunk is also sized
 * so the step's predicted cost stays within the bound relative to its decodes alone
 * (step-cost.ts): a long prompt's chunks shrink as its context grows.
 * Victim rule: the most recently admitted running request goes first (it has the least
 * work to lose and the latest arrival), as vLLM does.
 */
import {
  pagesFor,
  type PlannedRun,
  type RequestView,
  type SchedulerConfig,
  type SchedulerView,
  type StepPlan,
} from './view.js';
import { chunkWithin, pacedAllowance, prefillCost, runCost } from './step-cost.js';

interface Draft {
  budget: number;
  available: number;
  /** Predicted cost the step's prefill chunks may still add (Infinity: no cost bound). */
  costAllowance: number;
  numPrefills: number;
  /** Running requests in prefill (counted by planDecodes' pass over the running list). */
  numPrefilling: number;
  readonly runs: PlannedRun[];
  readonly preempted: Set<number>;
  readonly preempt: number[];
}

export function schedule(view: SchedulerView, config: SchedulerConfig): StepPlan {
  const draft: Draft = {
    budget: config.maxBatchTokens,
    available: view.numFreePages + view.numEvictablePages,
    costAllowance: Infinity,
    numPrefills: 0,
    numPrefilling: 0,
    runs: [],
    preempted: new Set(),
    preempt: [],
  };
  planDecodes(view, draft);
  boundPrefillCost(view, config, draft);
  planContinuingPrefills(view, config, draft);
  const admit = draft.preempt.length === 0 ? planAdmissions(view, config, draft) : [];
  if (draft.runs.length === 0 && draft.preempt.length === 0 && view.running.length > 1) {
    // Every running request is stuck on pages: free the youngest so the older ones progress.
    preemptYoungest(view, draft, -1);
  }
  let numTokens = 0;
  for (const run of draft.runs) numTokens += run.numTokens;
  return { preempt: draft.preempt, admit, runs: draft.runs, numTokens };
}

function planDecodes(view: SchedulerView, draft: Draft): void {
  for (const request of view.running) {
    if (request.phase === 'prefilling') draft.numPrefilling++;
    if (request.phase !== 'decoding' || draft.preempted.has(request.id)) continue;
    if (draft.budget < 1) continue;
    const need = pagesFor(request.numTokens, view.pageSize) - request.numPages;
    while (need > draft.available && preemptYoungest(view, draft, request.id)) {
      /* each victim returns its pages to the pool */
    }
    if (need > draft.available) {
      preempt(view, draft, request);
      continue;
    }
    draft.available -= need;
    draft.budget -= 1;
    draft.runs.push({ id: request.id, kind: 'decode', start: request.numComputed, numTokens: 1, isSampled: true, numNewPages: need });
  }
}

/** With a cost model and decodes in the step: what its prefill chunks may add. */
function boundPrefillCost(view: SchedulerView, config: SchedulerConfig, draft: Draft): void {
  const model = config.stepCost;
  if (!model || !config.chunkedPrefill || draft.runs.length === 0) return;
  const decodes = draft.runs.reduce((sum, run) => sum + runCost(model, run.start, run.numTokens, run.isSampled), model.fixedMs);
  draft.costAllowance = (model.maxRatio - 1) * decodes;
  if (!model.isPaced) return;
  const prefills = [...view.running, ...view.waiting].filter((r) => r.phase !== 'decoding' && !draft.preempted.has(r.id));
  const paced = pacedAllowance(model, draft.runs.length, prefills.map((r) => ({ start: r.numComputed, numTokens: r.numTokens })));
  draft.costAllowance = Math.min(draft.costAllowance, paced);
}

/** Preempts the youngest running request other than `exceptId`; false when there is none. */
function preemptYoungest(view: SchedulerView, draft: Draft, exceptId: number): boolean {
  for (let i = view.running.length - 1; i >= 0; i--) {
    const victim = view.running[i];
    if (draft.preempted.has(victim.id)) continue;
    if (victim.id === exceptId) return false;
    preempt(view, draft, victim);
    return true;
  }
  return false;
}

function preempt(view: SchedulerView, draft: Draft, victim: RequestView): void {
  draft.preempted.add(victim.id);
  draft.preempt.push(victim.id);
  draft.available += view.reclaimablePages(victim);
}

function planContinuingPrefills(view: SchedulerView, config: SchedulerConfig, draft: Draft): void {
  if (draft.budget <= 0 || draft.numPrefilling === 0) return;
  const prefilling = view.running.filter((r) => r.phase === 'prefilling' && !draft.preempted.has(r.id));
  const first = prefilling.length === 0 ? 0 : view.stepIndex % prefilling.length;
  for (let k = 0; k < prefilling.length && draft.budget > 0; k++) {
    const request = prefilling[(first + k) % prefilling.length];
    const remaining = request.numTokens - request.numComputed;
    const chunk = chunkFor(remaining, request.numComputed, request.numPages, config, view.pageSize, draft);
    if (chunk === 0) continue;
    addPrefillRun(request, request.numComputed, request.numPages, chunk, config, view.pageSize, draft);
  }
}

function planAdmissions(view: SchedulerView, config: SchedulerConfig, draft: Draft): number[] {
  const admitted: number[] = [];
  if (view.waiting.length === 0 || draft.budget === 0) return admitted;
  const inFlight = view.running.filter((r) => r.phase === 'prefilling');
  let numRunning = view.running.length;
  for (const request of view.waiting) {
    if (numRunning >= config.maxRunning || draft.budget === 0) break;
    const cached = view.cachedPrefix(request);
    if (isSharedPageInFlight(view, request, cached.numTokens, inFlight)) break;
    const cachedPages = cached.numTokens / view.pageSize;
    const saved = draft.available;
    draft.available -= cached.numEvictablePages;
    const chunk = chunkFor(request.numTokens - cached.numTokens, cached.numTokens, cachedPages, config, view.pageSize, draft);
    if (chunk === 0) {
      draft.available = saved;
      break; // FCFS: nobody overtakes a request that does not fit yet
    }
    addPrefillRun(request, cached.numTokens, cachedPages, chunk, config, view.pageSize, draft);
    admitted.push(request.id);
    inFlight.push(request);
    numRunning++;
  }
  return admitted;
}

/** Whether a prefill in flight will compute the request's next uncached page (so waiting for it saves recomputing it). */
function isSharedPageInFlight(view: SchedulerView, request: RequestView, numCached: number, inFlight: readonly RequestView[]): boolean {
  if (!view.sharesPage || numCached + view.pageSize > request.numTokens - 1) return false;
  for (const other of inFlight) {
    if (other.numComputed >= numCached + view.pageSize) continue; // computed already: it is cached, or never will be
    if (view.sharesPage(request, other, numCached)) return true;
  }
  return false;
}

/** The chunk a request can take now: within remaining work, chunk size, budget and the pages available. */
function chunkFor(
  remaining: number,
  start: number,
  numPagesHeld: number,
  config: SchedulerConfig,
  pageSize: number,
  draft: Draft,
): number {
  const maxChunk = config.chunkedPrefill ? config.maxChunkSize : Infinity;
  const byPages = (numPagesHeld + Math.max(0, draft.available)) * pageSize - start;
  const chunk = Math.max(0, Math.min(remaining, maxChunk, draft.budget, byPages));
  if (!config.chunkedPrefill && chunk < remaining) return 0;
  if (!config.stepCost || draft.costAllowance === Infinity || chunk === 0) return chunk;
  const byCost = chunkWithin(config.stepCost, draft.costAllowance, start, chunk, (n) => n === remaining);
  return byCost > 0 || draft.numPrefills > 0 ? byCost : 1; // the step's first chunk always progresses
}

function addPrefillRun(request: RequestView, start: number, numPagesHeld: number, chunk: number, config: SchedulerConfig, pageSize: number, draft: Draft): void {
  const need = pagesFor(start + chunk, pageSize) - numPagesHeld;
  const isSampled = start + chunk === request.numTokens;
  draft.available -= Math.max(0, need);
  draft.budget -= chunk;
  draft.numPrefills++;
  if (config.stepCost) draft.costAllowance -= prefillCost(config.stepCost, start, chunk, isSampled);
  draft.runs.push({ id: request.id, kind: 'prefill', start, numTokens: chunk, isSampled, numNewPages: Math.max(0, need) });
}
