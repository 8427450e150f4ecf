/**
 * Invariant checkers for step plans and engines, each selectable by name (see
 * INVARIANTS). Each returns a list of violations (empty = fine), prefixed with the
 * invariant's name, so property tests can assert on them and users can run them against
 * their own policies (turning off those a policy does not promise, e.g. fcfs).
 */
import { pagesFor, type SchedulerConfig, type SchedulerView, type StepPlan } from '../scheduler/view.js';

/** The built-in invariants, by name, with what each promises (the README lists them too). */
export const INVARIANTS = {
  budget: 'a step carries at most maxBatchTokens tokens; at most maxRunning requests run; plan.numTokens is the sum of its runs',
  pageAccounting: "the plan's numNewPages fit in the free + evictable pages (plus those its preemptions give back)",
  pages: "page conservation: each page's reference count equals its holders (request page tables, the cache); free + held = total",
  noLeak: 'when every request has ended, every page is free or evictable from the prefix cache',
  fcfs: 'admission in queue order (priority first, then arrival; preempted requests at the head), never in a step that preempted',
  chunks: "a prompt's chunks are contiguous, in order, within maxChunkSize, starting at the cached prefix; whole prompts when chunking is off",
  decode: 'a decode run is one token of a decoding request; no request is in prefill and decode at once, nor run twice in a step',
  outputs: 'output length <= maxTokens, and the finish reason matches the last token (stop), the length (length) or an abort',
  streams: 'every stream carries exactly the output, once, in order; an abort ends it with no further token',
  liveness: 'every request that fits the pool reaches a final state (a starved request is reported by name)',
} as const;

export type InvariantName = keyof typeof INVARIANTS;

/** Which invariants to check; each is on unless set to false. */
export type InvariantSelection = Partial<Record<InvariantName, boolean>>;

export const isOn = (selection: InvariantSelection | undefined, name: InvariantName): boolean => selection?.[name] !== false;

export function checkStepPlan(view: SchedulerView, config: SchedulerConfig, plan: StepPlan, selection?: InvariantSelection): string[] {
  const problems: string[] = [];
  const fail = (name: InvariantName, message: string): void => {
    if (isOn(selection, name)) problems.push(`${name}: ${message}`);
  };
  const running = new Map(view.running.map((r) => [r.id, r]));
  const waitingIndex = new Map(view.waiting.map((r, i) => [r.id, i]));
  const preempted = new Set(plan.preempt);
  const admitted = new Set(plan.admit);
  const seen = new Set<number>();

  const numTokens = plan.runs.reduce((sum, run) => sum + run.numTokens, 0);
  if (numTokens > config.maxBatchTokens) fail('budget', `step has ${numTokens} tokens, budget ${config.maxBatchTokens}`);
  if (numTokens !== plan.numTokens) fail('budget', `plan.numTokens ${plan.numTokens} != sum of runs ${numTokens}`);
  const numRunningAfter = view.running.length - plan.preempt.length + plan.admit.length;
  if (numRunningAfter > config.maxRunning) fail('budget', `${numRunningAfter} running after the step, cap ${config.maxRunning}`);
  if (plan.preempt.length > 0 && plan.admit.length > 0) fail('fcfs', 'admitted a request in a step that preempted');
  plan.admit.forEach((id, i) => {
    if (waitingIndex.get(id) !== i) fail('fcfs', `admitted request ${id} out of queue order (queue position ${waitingIndex.get(id)}, admission ${i})`);
  });
  checkPageAccounting(view, plan, running, fail);

  for (const run of plan.runs) {
    if (seen.has(run.id)) fail('decode', `request ${run.id} has two runs in one step`);
    seen.add(run.id);
    if (run.numTokens < 1) fail('chunks', `request ${run.id}: empty run`);
    if (preempted.has(run.id)) fail('decode', `request ${run.id} is preempted and scheduled in the same step`);
    const request = running.get(run.id) ?? (admitted.has(run.id) ? view.waiting[waitingIndex.get(run.id) ?? -1] : undefined);
    if (!request) {
      fail('decode', `run for request ${run.id}, which is neither running nor admitted`);
      continue;
    }
    const end = run.start + run.numTokens;
    if (end > request.numTokens) fail('chunks', `request ${run.id}: run ends at ${end}, past its ${request.numTokens} known tokens`);
    if (run.isSampled !== (end === request.numTokens)) fail('chunks', `request ${run.id}: isSampled wrong`);
    if (run.kind === 'decode') {
      if (request.phase !== 'decoding') fail('decode', `request ${run.id}: decode run while ${request.phase}`);
      if (run.numTokens !== 1) fail('decode', `request ${run.id}: decode run of ${run.numTokens} tokens`);
      if (run.start !== request.numComputed) fail('decode', `request ${run.id}: decode at ${run.start}, computed ${request.numComputed}`);
    } else {
      if (request.phase === 'decoding') fail('decode', `request ${run.id}: prefill run while decoding`);
      const expectedStart = admitted.has(run.id) ? view.cachedPrefix(request).numTokens : request.numComputed;
      if (run.start !== expectedStart) fail('chunks', `request ${run.id}: chunk starts at ${run.start}, expected ${expectedStart}`);
      if (config.chunkedPrefill && run.numTokens > config.maxChunkSize) fail('chunks', `request ${run.id}: chunk of ${run.numTokens} > ${config.maxChunkSize}`);
      if (!config.chunkedPrefill && !run.isSampled) fail('chunks', `request ${run.id}: partial prefill with chunking off`);
    }
  }
  for (const id of plan.admit) if (!seen.has(id)) fail('fcfs', `admitted request ${id} has no run`);
  return problems;
}

/** numNewPages exact for each run, and in total within free + evictable + what preemptions give back. */
function checkPageAccounting(view: SchedulerView, plan: StepPlan, running: Map<number, SchedulerView['running'][number]>, fail: (name: InvariantName, message: string) => void): void {
  let available = view.numFreePages + view.numEvictablePages;
  for (const id of plan.preempt) {
    const victim = running.get(id);
    if (victim) available += view.reclaimablePages(victim);
  }
  const admitted = new Set(plan.admit);
  let needed = 0;
  for (const run of plan.runs) {
    const request = running.get(run.id) ?? view.waiting.find((r) => r.id === run.id);
    if (!request) continue;
    const held = admitted.has(run.id) ? run.start / view.pageSize : request.numPages;
    const need = Math.max(0, pagesFor(run.start + run.numTokens, view.pageSize) - Math.floor(held));
    if (run.numNewPages !== need) fail('pageAccounting', `request ${run.id}: numNewPages ${run.numNewPages}, the run needs ${need}`);
    if (admitted.has(run.id)) available -= view.cachedPrefix(request).numEvictablePages;
    needed += Math.max(0, run.numNewPages);
  }
  if (needed > available) fail('pageAccounting', `plan takes ${needed} new pages; ${available} are free, evictable or given back`);
}

export { checkPageConservation, type PageCensus } from '../pages/census.js';

/** At idle, every page is free or evictable from the prefix cache (invariant noLeak). */
export function checkNoLeak(pages: { total: number; free: number; evictable: number }): string[] {
  return pages.free + pages.evictable === pages.total ? [] : [`noLeak: free ${pages.free} + evictable ${pages.evictable} != total ${pages.total}`];
}
