/**
 * Runs a workload through the full engine on the simulated executor and checks what users
 * rely on: every request ends, streams carry exactly the output (none lost, none repeated),
 * plans keep the scheduling invariants, and no page leaks.
 */
import { EngineCore, type CoreOptions, type SchedulingPolicy } from '../engine/core.js';
import type { RequestResult } from '../engine/handle.js';
import { ByteTokenizer } from '../engine/tokenizer.js';
import { SimulatedExecutor } from '../executor/simulated.js';
import type { RequestView, SchedulerConfig, SchedulerView, StepPlan } from '../scheduler/view.js';
import { promptOf, type Workload } from './arbitraries.js';
import { checkNoLeak, checkPageConservation, checkStepPlan, isOn, type InvariantName, type InvariantSelection } from './invariants.js';

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
  /** Every step, when run with { trace: true }. */
  trace?: StepRecord[];
}

/** A request as the policy saw it in one view (a copy: the live view is frozen and moves on). */
export type RequestState = Pick<RequestView, 'id' | 'phase' | 'priority' | 'numTokens' | 'numComputed' | 'numPages'>;

/** One plan as the harness saw it: request ids by queue, each request's state, the pool, and the plan. */
export interface PlanRecord {
  stepIndex: number;
  waiting: number[];
  running: number[];
  /** Every queued request's state in the view, waiting ones first. */
  requests: RequestState[];
  numFreePages: number;
  numEvictablePages: number;
  plan: StepPlan;
}

const stateOf = ({ id, phase, priority, numTokens, numComputed, numPages }: RequestView): RequestState => ({ id, phase, priority, numTokens, numComputed, numPages });

const NUM_PLANS_KEPT = 6;

export interface HarnessOptions {
  /** The policy under test (the built-in one by default). */
  policy?: SchedulingPolicy;
  /** Built-in invariants to check, each on unless set to false (e.g. { fcfs: false } for a non-FCFS policy). */
  invariants?: InvariantSelection;
  /** Your own checks, run on every plan with the view it was made from; return the violations. */
  extraChecks?: (view: SchedulerView, plan: StepPlan, config: SchedulerConfig) => string[];
  /** Keep a record of every step in report.trace (the last few are always in report.lastPlans). */
  trace?: boolean;
  /** Only these request indices (in arrival order). */
  only?: number[];
}

/** One step as the harness saw it: the plan, the queues and pool it was made from, and what ran. */
export interface StepRecord extends PlanRecord {
  /** Requests that ran in the step, in batch order (empty for a preempt-only or refused plan). */
  ran: number[];
}

interface Sink {
  problems: string[];
  lastPlans: PlanRecord[];
  trace?: StepRecord[];
}

/** The engine core on the simulated executor, with the selected invariants checked on every plan. */
export function createSimulatedEngine(workload: Workload, options: HarnessOptions | SchedulingPolicy = {}, sink: Sink = { problems: [], lastPlans: [] }, extra: Partial<CoreOptions> = {}): EngineCore {
  const o: HarnessOptions = typeof options === 'function' ? { policy: options } : options;
  const { engine } = workload;
  const executor = new SimulatedExecutor({
    vocabSize: workload.vocabSize,
    numPages: engine.numPages,
    pageSize: engine.pageSize,
    failStep: (step) => workload.failingSteps.includes(step),
  });
  const core = new EngineCore(executor, new ByteTokenizer(workload.vocabSize, [SIM_EOS]), {
    ...engine,
    maxWaiting: Infinity,
    policy: o.policy,
    ...extra,
    onPlan: (view, plan) => {
      const record: StepRecord = {
        stepIndex: view.stepIndex, waiting: view.waiting.map((r) => r.id), running: view.running.map((r) => r.id),
        requests: [...view.waiting, ...view.running].map(stateOf), numFreePages: view.numFreePages, numEvictablePages: view.numEvictablePages, plan, ran: [],
      };
      sink.lastPlans.push(record);
      if (sink.lastPlans.length > NUM_PLANS_KEPT) sink.lastPlans.shift();
      sink.trace?.push(record);
      for (const problem of checkStepPlan(view, engine, plan, o.invariants)) sink.problems.push(problem);
      if (o.extraChecks) for (const problem of o.extraChecks(view, plan, engine)) sink.problems.push(`extra: ${problem}`);
    },
  });
  let numSteps = 0;
  core.events$.subscribe((event) => {
    if (event.type !== 'step') return;
    numSteps++;
    const last = sink.lastPlans[sink.lastPlans.length - 1] as StepRecord | undefined;
    if (last) last.ran = event.ids;
    if (isOn(o.invariants, 'pages')) for (const problem of checkPageConservation(core.pageCensus())) sink.problems.push(`step ${numSteps}: ${problem}`);
  });
  return core;
}

export async function runWorkload(workload: Workload, options: HarnessOptions = {}): Promise<WorkloadReport> {
  const sink: Sink = { problems: [], lastPlans: [], trace: options.trace ? [] : undefined };
  const problems = sink.problems;
  const lastPlans = sink.lastPlans;
  const core = createSimulatedEngine(workload, options, sink);
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
  if (isOn(options.invariants, 'noLeak')) for (const problem of checkNoLeak(stats.pages)) problems.push(problem);
  for (const outcome of outcomes) problems.push(...checkOutcome(workload, outcome, lastPlans, options.invariants));
  await core.close();
  return { outcomes: outcomes.sort((a, b) => a.index - b.index), problems, numSteps, stats, lastPlans, trace: sink.trace };
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
function checkOutcome(workload: Workload, outcome: RequestOutcome, lastPlans: readonly PlanRecord[], selection?: InvariantSelection): string[] {
  const problems: string[] = [];
  const push = (name: InvariantName, message: string): void => {
    if (isOn(selection, name)) problems.push(message);
  };
  const request = workload.requests[outcome.index];
  const label = `request ${outcome.index}`;
  if (!outcome.result && !outcome.error) {
    push('liveness', `liveness: ${label}: never settled`);
    return problems;
  }
  if (outcome.error) {
    if (workload.failingSteps.length === 0 || (outcome.error as { code?: string }).code !== 'ERR_EXECUTOR') {
      const error = outcome.error as { code?: string; message?: string };
      const what = error.code === 'ERR_STALL' ? 'starved' : 'failed without a fault';
      push('liveness', `${label}: ${what}: ${error.code ?? ''} ${error.message ?? String(error)}; last plans: ${JSON.stringify(lastPlans)}`);
    }
    return problems;
  }
  const result = outcome.result!;
  if (result.outputTokens > request.maxTokens) push('outputs', `outputs: ${label}: ${result.outputTokens} tokens > maxTokens ${request.maxTokens}`);
  const isUnsubscribed = result.finishReason === 'abort' && request.abortBy === 'unsubscribe';
  const streamed = outcome.streamed.join(',');
  if (!isUnsubscribed && streamed !== result.tokens.join(',')) push('streams', `streams: ${label}: streamed [${streamed}] != output [${result.tokens.join(',')}]`);
  if (isUnsubscribed && !result.tokens.join(',').startsWith(streamed)) push('streams', `streams: ${label}: stream is not a prefix of the output`);
  const last = result.tokens[result.tokens.length - 1];
  const expected =
    result.finishReason === 'abort'
      ? request.abortAfterTokens !== undefined
      : result.finishReason === 'stop'
        ? last === SIM_EOS
        : result.finishReason === 'length' && result.outputTokens === request.maxTokens;
  if (!expected) push('outputs', `outputs: ${label}: finishReason ${result.finishReason} with ${result.outputTokens} tokens (max ${request.maxTokens}, last ${last})`);
  if (result.finishReason === 'abort' && result.outputTokens > (request.abortAfterTokens ?? Infinity)) {
    push('streams', `streams: ${label}: ${result.outputTokens} tokens after abort at ${request.abortAfterTokens}`);
  }
  return problems;
}
