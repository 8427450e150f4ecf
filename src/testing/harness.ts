/**
 * Runs a workload through the full engine on the simulated executor and checks what users
 * rely on: every request ends, streams carry exactly the output (none lost, none repeated),
 * plans keep the scheduling invariants, and no page leaks.
 */
import { EngineCore, type SchedulingPolicy } from '../engine/core.js';
import type { RequestResult } from '../engine/handle.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { SimulatedExecutor } from '../executor/simulated.js';
import type { StepPlan } from '../scheduler/view.js';
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
  /** The last plans the policy made (newest last), with the queues they were made from. */
  lastPlans: PlanRecord[];
}

/** One plan as the harness saw it: request ids by queue, the pool, and the plan. */
export interface PlanRecord {
  stepIndex: number;
  waiting: number[];
  running: number[];
  numFreePages: number;
  numEvictablePages: number;
  plan: StepPlan;
}

const NUM_PLANS_KEPT = 6;

export function createSimulatedEngine(workload: Workload, policy?: SchedulingPolicy, problems: string[] = [], plans: PlanRecord[] = []): EngineCore {
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
      plans.push({ stepIndex: view.stepIndex, waiting: view.waiting.map((r) => r.id), running: view.running.map((r) => r.id), numFreePages: view.numFreePages, numEvictablePages: view.numEvictablePages, plan });
      if (plans.length > NUM_PLANS_KEPT) plans.shift();
      for (const problem of checkStepPlan(view, engine, plan)) problems.push(problem);
    },
  });
}

export async function runWorkload(workload: Workload, options: { policy?: SchedulingPolicy; only?: number[] } = {}): Promise<WorkloadReport> {
  const problems: string[] = [];
  const lastPlans: PlanRecord[] = [];
  const core = createSimulatedEngine(workload, options.policy, problems, lastPlans);
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
    for (const problem of checkPageConservation(core.pageCensus())) problems.push(`step ${numSteps}: ${problem}`);
  });
  submitDue();
  while (next < indices.length || core.stats().running + core.stats().waiting > 0) {
    await core.whenIdle();
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
  for (const outcome of outcomes) problems.push(...checkOutcome(workload, outcome, lastPlans));
  await core.close();
  return { outcomes: outcomes.sort((a, b) => a.index - b.index), problems, numSteps, stats, lastPlans };
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
function checkOutcome(workload: Workload, outcome: RequestOutcome, lastPlans: readonly PlanRecord[]): string[] {
  const problems: string[] = [];
  const request = workload.requests[outcome.index];
  const label = `request ${outcome.index}`;
  if (!outcome.result && !outcome.error) return [`${label}: never settled`];
  if (outcome.error) {
    if (workload.failingSteps.length === 0 || (outcome.error as { code?: string }).code !== 'ERR_EXECUTOR') {
      const error = outcome.error as { code?: string; message?: string };
      const what = error.code === 'ERR_STALL' ? 'starved' : 'failed without a fault';
      problems.push(`${label}: ${what}: ${error.code ?? ''} ${error.message ?? String(error)}; last plans: ${JSON.stringify(lastPlans)}`);
    }
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
