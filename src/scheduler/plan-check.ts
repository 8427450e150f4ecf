/**
 * What every plan must satisfy before the engine applies it, whatever the policy: the
 * engine treats the plan as authoritative and refuses, by request, a plan it cannot
 * apply as written. (Policy choices such as FCFS or chunk sizes are the testing
 * harness's invariants, not checked here.) Pure: reads the view and the plan only.
 */
import { IdSet } from './id-set.js';
import { pagesFor, type PlannedRun, type RequestView, type SchedulerView, type StepPlan } from './view.js';

const EMPTY: Set<number> = new Set();
/** Ids that have a run in the plan being checked (emptied on entry: the check keeps nothing between calls). */
const withRun = new IdSet();

export interface PlanLimits {
  /** Most tokens the executor takes in one step. */
  readonly maxBatchTokens: number;
  /** Most sequences the executor takes in one step (and most running requests). */
  readonly maxSeqs: number;
}

/** One thing wrong with a plan; `id` names the request concerned (undefined = the whole plan). */
export interface PlanProblem {
  readonly id: number | undefined;
  readonly message: string;
}

/** Finds a request of the view by id (undefined: neither waiting nor running); its phase says which queue. */
export type LocateRequest = (id: number) => RequestView | undefined;

/** A locator built from the view's own lists (the engine passes a faster one of its own). */
export function locateInView(view: SchedulerView): LocateRequest {
  const byId = new Map<number, RequestView>();
  for (const request of view.running) byId.set(request.id, request);
  for (const request of view.waiting) byId.set(request.id, request);
  return (id) => byId.get(id);
}

const isRunning = (request: RequestView | undefined): boolean | undefined => (request === undefined ? undefined : request.phase !== 'waiting');

export function checkPlanShape(view: SchedulerView, plan: StepPlan, limits: PlanLimits, locate: LocateRequest = locateInView(view)): PlanProblem[] {
  const problems: PlanProblem[] = [];
  const fail = (id: number | undefined, message: string): void => void problems.push({ id, message });
  if (!plan || !Array.isArray(plan.runs) || !Array.isArray(plan.admit) || !Array.isArray(plan.preempt)) {
    return [{ id: undefined, message: 'plan must have arrays runs, admit and preempt' }];
  }
  const preempted = plan.preempt.length === 0 ? EMPTY : new Set<number>();
  for (const id of plan.preempt) {
    if (isRunning(locate(id)) !== true) fail(id, `preempts request ${id}, which is not running`);
    else if (preempted.has(id)) fail(id, `preempts request ${id} twice`);
    preempted.add(id);
  }
  const admitted = plan.admit.length === 0 ? EMPTY : new Set<number>();
  for (const id of plan.admit) {
    if (isRunning(locate(id)) !== false) fail(id, `admits request ${id}, which is not waiting`);
    else if (admitted.has(id)) fail(id, `admits request ${id} twice`);
    admitted.add(id);
  }
  const numRunningAfter = view.running.length - preempted.size + admitted.size;
  if (numRunningAfter > limits.maxSeqs) fail(undefined, `${numRunningAfter} requests running after the step; the executor takes ${limits.maxSeqs}`);
  let numTokens = 0;
  const seen = withRun;
  seen.clear();
  for (const run of plan.runs) {
    const found = locate(run.id);
    const request = found && (found.phase !== 'waiting' || admitted.has(run.id)) ? found : undefined;
    if (!seen.addNew(run.id)) fail(run.id, `request ${run.id} has two runs in one step`);
    if (!request) fail(run.id, `runs request ${run.id}, which is neither running nor admitted`);
    else if (preempted.has(run.id)) fail(run.id, `runs request ${run.id}, which it also preempts`);
    else {
      const message = checkRun(view, run, request, admitted.has(run.id));
      if (message) fail(run.id, `request ${run.id}: ${message}`);
    }
    numTokens += Number.isInteger(run.numTokens) ? run.numTokens : 0;
  }
  for (const id of admitted) if (!seen.has(id)) fail(id, `admits request ${id} without a run`);
  if (numTokens > limits.maxBatchTokens) fail(undefined, `step of ${numTokens} tokens; the executor takes ${limits.maxBatchTokens}`);
  return problems;
}

/** A run must start where its request is (or at a page-aligned cached prefix on admission) and grow pages exactly. */
function checkRun(view: SchedulerView, run: PlannedRun, request: RequestView, isAdmitted: boolean): string | undefined {
  if (!Number.isInteger(run.numTokens) || run.numTokens < 1) return `run of ${run.numTokens} tokens`;
  const end = run.start + run.numTokens;
  if (end > request.numTokens) return `run ends at ${end}, past its ${request.numTokens} known tokens`;
  if (run.isSampled !== (end === request.numTokens)) return `isSampled is ${run.isSampled}, but the run ${end === request.numTokens ? 'ends' : 'does not end'} at the last known token`;
  let numPagesHeld = request.numPages;
  if (isAdmitted) {
    const cached = view.cachedPrefix(request).numTokens;
    if (run.start % view.pageSize !== 0 || run.start < 0 || run.start > cached) return `admitted at ${run.start}; must be a page-aligned start within the cached prefix (${cached})`;
    numPagesHeld = run.start / view.pageSize;
    if (run.kind !== 'prefill') return 'an admitted request must run a prefill';
  } else {
    if (run.start !== request.numComputed) return `run starts at ${run.start}, but ${request.numComputed} tokens are computed`;
    const expected = request.phase === 'decoding' ? 'decode' : 'prefill';
    if (run.kind !== expected) return `${run.kind} run while ${request.phase}`;
    if (run.kind === 'decode' && run.numTokens !== 1) return `decode run of ${run.numTokens} tokens`;
  }
  const need = Math.max(0, pagesFor(end, view.pageSize) - numPagesHeld);
  if (run.numNewPages !== need) return `numNewPages is ${run.numNewPages}; the run needs exactly ${need}`;
  return undefined;
}
