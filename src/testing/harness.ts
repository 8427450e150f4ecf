/**
 * Runs a workload through the full engine on the simulated executor and checks what users
 * rely on: every request ends, streams carry exactly the output (none lost, none repeated),
 * plans keep the scheduling invariants, and no page leaks.
 */
import { EngineCore, type SchedulingPolicy } from '../engine/core.js';
import type { RequestResult } from '../engine/handle.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { SimulatedExecutor } from '../executor/simulated.js';
import { promptOf, type Workload } from './arbitraries.js';
import { checkNoLeak, checkPageConservation, checkStepPlan } from './invariants.js';

export const SIM_EOS = 0;

export interface RequestOutcome {
  index: number;
  result?: RequestResult;
  error?: unknown;
  /** Tokens seen by the subscriber. */
  streamed: number[];
  streamEnded: 'complete' | 'error' | 'open';
}

export interface WorkloadReport {
  outcomes: RequestOutcome[];
  problems: string[];
  numSteps: number;
  stats: ReturnType<EngineCore['stats']>;
}

export function createSimulatedEngine(workload: Workload, policy?: SchedulingPolicy, problems: string[] = []): EngineCore {
  const { engine } = workload;
  const executor = new SimulatedExecutor({
    vocabSize: workload.vocabSize,
    numPages: engine.numPages,
    pageSize: engine.pageSize,
    failStep: (step) => workload.failingSteps.includes(step),
  });
  return new EngineCore(executor, new ByteTokenizer(workload.vocabSize, [SIM_EOS]), {
    ...engine,
    maxWaiting: Infinity,
    policy,
    onPlan: (view, plan) => {
      if (process.env.NANO_DEBUG) console.log('PLAN', JSON.stringify({ w: view.waiting.map((r) => [r.id, r.phase, r.numComputed, r.numTokens, r.numPages]), r: view.running.map((r) => [r.id, r.phase, r.numComputed, r.numTokens, r.numPages]), free: view.numFreePages, ev: view.numEvictablePages, plan }));
      for (const problem of checkStepPlan(view, engine, plan)) problems.push(problem);
    },
  });
}

export async function runWorkload(workload: Workload, options: { policy?: SchedulingPolicy; only?: number[] } = {}): Promise<WorkloadReport> {
  const problems: string[] = [];
  const core = createSimulatedEngine(workload, options.policy, problems);
  const indices = (options.only ?? workload.requests.map((_, i) => i)).sort(
    (a, b) => workload.requests[a].arrivalStep - workload.requests[b].arrivalStep || a - b,
  );
  const outcomes: RequestOutcome[] = [];
  const settled: Promise<unknown>[] = [];
  let numSteps = 0;
  let next = 0;
  const submitDue = (): void => {
    while (next < indices.length && workload.requests[indices[next]].arrivalStep <= numSteps) {
      const outcome = submitOne(core, workload, indices[next++]);
      outcomes.push(outcome.outcome);
      settled.push(outcome.settled);
    }
  };
  const subscription = core.events$.subscribe((event) => {
    if (event.type !== 'step') return;
    numSteps++;
    submitDue();
    const stats = core.stats();
    for (const problem of checkPageConservation(stats.pages)) problems.push(`step ${numSteps}: ${problem}`);
  });
  submitDue();
  while (next < indices.length || core.stats().running + core.stats().waiting > 0) {
    await core.whenIdle();
    if (process.env.NANO_DEBUG) console.log('IDLE', next, indices.length, JSON.stringify(core.stats()));
    if (next < indices.length) numSteps = Math.max(numSteps, workload.requests[indices[next]].arrivalStep);
    submitDue();
  }
  await Promise.all(settled);
  subscription.unsubscribe();
  try {
    core.checkIntegrity();
  } catch (error) {
    problems.push(`integrity: ${(error as Error).message}`);
  }
  const stats = core.stats();
  for (const problem of checkNoLeak(stats.pages)) problems.push(problem);
  for (const outcome of outcomes) problems.push(...checkOutcome(workload, outcome));
  await core.close();
  return { outcomes: outcomes.sort((a, b) => a.index - b.index), problems, numSteps, stats };
}

function submitOne(core: EngineCore, workload: Workload, index: number): { outcome: RequestOutcome; settled: Promise<unknown> } {
  const request = workload.requests[index];
  const outcome: RequestOutcome = { index, streamed: [], streamEnded: 'open' };
  const handle = core.submit(promptOf(workload, index), { maxTokens: request.maxTokens, temperature: request.temperature, seed: request.seed }, { priority: request.priority });
  const abortAfter = request.abortAfterTokens;
  const subscription = handle.tokens$.subscribe({
    next: (token) => {
      outcome.streamed.push(token);
      if (abortAfter !== undefined && outcome.streamed.length === abortAfter) stop();
    },
    complete: () => (outcome.streamEnded = 'complete'),
    error: () => (outcome.streamEnded = 'error'),
  });
  function stop(): void {
    if (request.abortBy === 'call') handle.abort();
    else subscription.unsubscribe();
  }
  if (abortAfter === 0) stop();
  const settled = handle.done.then(
    (result) => (outcome.result = result),
    (error: unknown) => (outcome.error = error),
  );
  return { outcome, settled };
}

/** Stream integrity, output length and finish reason (invariants 8 and 9). */
function checkOutcome(workload: Workload, outcome: RequestOutcome): string[] {
  const problems: string[] = [];
  const request = workload.requests[outcome.index];
  const label = `request ${outcome.index}`;
  if (!outcome.result && !outcome.error) return [`${label}: never settled`];
  if (outcome.error) {
    if (workload.failingSteps.length === 0) problems.push(`${label}: failed without a fault: ${String(outcome.error)}`);
    return problems;
  }
  const result = outcome.result!;
  if (result.outputTokens > request.maxTokens) problems.push(`${label}: ${result.outputTokens} tokens > maxTokens ${request.maxTokens}`);
  const isUnsubscribed = result.finishReason === 'abort' && request.abortBy === 'unsubscribe';
  const streamed = outcome.streamed.join(',');
  if (!isUnsubscribed && streamed !== result.tokens.join(',')) problems.push(`${label}: streamed [${streamed}] != output [${result.tokens.join(',')}]`);
  if (isUnsubscribed && !result.tokens.join(',').startsWith(streamed)) problems.push(`${label}: stream is not a prefix of the output`);
  const last = result.tokens[result.tokens.length - 1];
  const expected =
    result.finishReason === 'abort'
      ? request.abortAfterTokens !== undefined
      : result.finishReason === 'stop'
        ? last === SIM_EOS
        : result.finishReason === 'length' && result.outputTokens === request.maxTokens;
  if (!expected) problems.push(`${label}: finishReason ${result.finishReason} with ${result.outputTokens} tokens (max ${request.maxTokens}, last ${last})`);
  if (result.finishReason === 'abort' && result.outputTokens > (request.abortAfterTokens ?? Infinity)) {
    problems.push(`${label}: ${result.outputTokens} tokens after abort at ${request.abortAfterTokens}`);
  }
  return problems;
}
