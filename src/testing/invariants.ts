/**
 * Invariant checkers for step plans and engines (DESIGN.md invariants 1, 2, 3, 5, 6, 7).
 * Each returns a list of violations (empty = fine), so property tests can assert on it
 * and users can run them against their own policies.
 */
import type { SchedulerConfig, SchedulerView, StepPlan } from '../scheduler/view.js';

export function checkStepPlan(view: SchedulerView, config: SchedulerConfig, plan: StepPlan): string[] {
  const problems: string[] = [];
  const fail = (message: string): void => void problems.push(message);
  const running = new Map(view.running.map((r) => [r.id, r]));
  const waitingIndex = new Map(view.waiting.map((r, i) => [r.id, i]));
  const preempted = new Set(plan.preempt);
  const admitted = new Set(plan.admit);
  const seen = new Set<number>();

  // 1. Budget and running cap.
  const numTokens = plan.runs.reduce((sum, run) => sum + run.numTokens, 0);
  if (numTokens > config.maxBatchTokens) fail(`step has ${numTokens} tokens, budget ${config.maxBatchTokens}`);
  if (numTokens !== plan.numTokens) fail(`plan.numTokens ${plan.numTokens} != sum of runs ${numTokens}`);
  const numRunningAfter = view.running.length - plan.preempt.length + plan.admit.length;
  if (numRunningAfter > config.maxRunning) fail(`${numRunningAfter} running after the step, cap ${config.maxRunning}`);
  if (plan.preempt.length > 0 && plan.admit.length > 0) fail('admitted a request in a step that preempted');

  // 5. FCFS: the admitted requests are exactly the head of the waiting queue, in order.
  plan.admit.forEach((id, i) => {
    if (waitingIndex.get(id) !== i) fail(`admitted request ${id} out of queue order (queue position ${waitingIndex.get(id)}, admission ${i})`);
  });

  for (const run of plan.runs) {
    if (seen.has(run.id)) fail(`request ${run.id} has two runs in one step`);
    seen.add(run.id);
    if (run.numTokens < 1) fail(`request ${run.id}: empty run`);
    if (preempted.has(run.id)) fail(`request ${run.id} is preempted and scheduled in the same step`);
    const request = running.get(run.id) ?? (admitted.has(run.id) ? view.waiting[waitingIndex.get(run.id) ?? -1] : undefined);
    if (!request) {
      fail(`run for request ${run.id}, which is neither running nor admitted`);
      continue;
    }
    const end = run.start + run.numTokens;
    if (end > request.numTokens) fail(`request ${run.id}: run ends at ${end}, past its ${request.numTokens} known tokens`);
    if (run.isSampled !== (end === request.numTokens)) fail(`request ${run.id}: isSampled wrong`);
    // 7. Decode: exactly one token, only for decoding requests; never prefill and decode together.
    if (run.kind === 'decode') {
      if (request.phase !== 'decoding') fail(`request ${run.id}: decode run while ${request.phase}`);
      if (run.numTokens !== 1) fail(`request ${run.id}: decode run of ${run.numTokens} tokens`);
      if (run.start !== request.numComputed) fail(`request ${run.id}: decode at ${run.start}, computed ${request.numComputed}`);
    } else {
      if (request.phase === 'decoding') fail(`request ${run.id}: prefill run while decoding`);
      // 6. Chunks: contiguous, in order, within the chunk size.
      const expectedStart = admitted.has(run.id) ? view.cachedPrefix(request).numTokens : request.numComputed;
      if (run.start !== expectedStart) fail(`request ${run.id}: chunk starts at ${run.start}, expected ${expectedStart}`);
      if (config.chunkedPrefill && run.numTokens > config.maxChunkSize) fail(`request ${run.id}: chunk of ${run.numTokens} > ${config.maxChunkSize}`);
      if (!config.chunkedPrefill && !run.isSampled) fail(`request ${run.id}: partial prefill with chunking off`);
    }
  }
  for (const id of plan.admit) if (!seen.has(id)) fail(`admitted request ${id} has no run`);
  return problems;
}

export { checkPageConservation, type PageCensus } from '../pages/census.js';

/** Invariant 3: at idle, every page is free or evictable from the prefix cache. */
export function checkNoLeak(pages: { total: number; free: number; evictable: number }): string[] {
  return pages.free + pages.evictable === pages.total ? [] : [`leak: free ${pages.free} + evictable ${pages.evictable} != total ${pages.total}`];
}
