/**
 * Drives one chaos workload through an engine (simulated or native): submits at random
 * steps and wall times, aborts and unsubscribes at random moments, closes the engine
 * with requests in flight, and records what every subscriber saw. chaos-checks.ts then
 * judges the record.
 */
import type { Observable, Subscription } from 'rxjs';
import { CapacityError, EngineClosedError } from '../../src/errors.js';
import type { EngineEvent, EngineStats, RequestHandle, RequestPhase, RequestResult, SamplingParams, SubmitOptions } from '../../src/index.js';
import { chaosPrompt, type ChaosMoment, type ChaosRequest, type ChaosWorkload } from '../../src/testing/chaos.js';
import { checkNoLeak, checkPageConservation, type PageCensus } from '../../src/testing/invariants.js';

/** What the runner needs of an engine: EngineCore and NanoServingEngine both fit. */
export interface ChaosEngine {
  submit(prompt: ArrayLike<number>, params: SamplingParams, options: SubmitOptions): RequestHandle;
  stats(): EngineStats;
  whenIdle(): Promise<void>;
  checkIntegrity(): void;
  pageCensus(): PageCensus;
  close(options?: { drain?: boolean }): Promise<void>;
  readonly events$: Observable<EngineEvent>;
}

export interface Watched<T> {
  items: T[];
  end: 'open' | 'complete' | 'error';
  isUnsubscribed: boolean;
  subscription?: Subscription;
}

export interface Tracked {
  index: number;
  request: ChaosRequest;
  handle?: RequestHandle;
  /** What submit threw, if it refused the request. */
  refusal?: unknown;
  main?: Watched<number>;
  late?: Watched<number>;
  text?: Watched<string>;
  result?: RequestResult;
  error?: unknown;
  /** Ended by us while live (abort(), last subscriber gone, close without drain): must finish 'abort'. */
  mustAbort: boolean;
  /** Some abort happened to it: it may finish 'abort'. */
  mayAbort: boolean;
  timeoutMs?: number;
  /** A subscriber that joined after the request settled (replay only). */
  postMortem?: Watched<number> & { isSync: boolean };
}

export interface ChaosRun {
  workload: ChaosWorkload;
  tracked: Tracked[];
  numSteps: number;
  /** How the engine was closed: at the workload's moment (with requests in flight) or once idle. */
  closedAt: 'moment' | 'idle';
  drain: boolean;
  stats: EngineStats;
  problems: string[];
}

const FINAL: ReadonlySet<RequestPhase> = new Set(['releasing', 'finished', 'aborted', 'failed']);

interface Action {
  at: ChaosMoment;
  run: () => void;
}

export async function runChaos(workload: ChaosWorkload, engine: ChaosEngine, options: { hangMs: number; drainAtEnd: boolean }): Promise<ChaosRun> {
  const problems: string[] = [];
  const states = new Map<number, RequestPhase>();
  const tracked: Tracked[] = workload.requests.map((request, index) => ({ index, request, mustAbort: false, mayAbort: false }));
  const settled: Promise<unknown>[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let numSteps = 0;
  let closing: Promise<void> | undefined;
  let drain = options.drainAtEnd;
  let wakeMain: () => void = () => undefined;

  const isLive = (t: Tracked): boolean => t.handle !== undefined && !FINAL.has(states.get(t.handle.id) ?? 'waiting');

  const submit = (t: Tracked): void => {
    const { request } = t;
    try {
      t.handle = engine.submit(chaosPrompt(workload, t.index), samplingOf(request), {
        priority: request.priority,
        detached: request.detached,
        timeoutMs: request.timeoutMs,
      });
    } catch (error) {
      t.refusal = error;
      const isExpected = closing ? error instanceof EngineClosedError : error instanceof CapacityError && error.code === 'ERR_QUEUE_FULL';
      if (!isExpected) problems.push(`request ${t.index}: submit threw ${String(error)}`);
      return;
    }
    t.timeoutMs = request.timeoutMs ?? workload.requestTimeoutMs;
    watch(t);
    settled.push(t.handle.done.then((result) => void (t.result = result), (error: unknown) => void (t.error = error)));
  };

  const watch = (t: Tracked): void => {
    const handle = t.handle!;
    const { request } = t;
    const main: Watched<number> = { items: [], end: 'open', isUnsubscribed: false };
    t.main = main;
    main.subscription = handle.tokens$.subscribe({
      next: (token) => {
        main.items.push(token);
        if (request.lateSubscriberAt === main.items.length && !t.late) t.late = subscribeTo(handle.tokens$);
        const at = request.abort?.at;
        if (at && 'tokens' in at && at.tokens === main.items.length) abort(t);
      },
      complete: () => void (main.end = 'complete'),
      error: () => void (main.end = 'error'),
    });
    if (request.watchText) t.text = subscribeTo(handle.text$);
    const at = request.abort?.at;
    if (at && 'tokens' in at && at.tokens === 0) abort(t);
  };

  const abort = (t: Tracked): void => {
    if (!t.handle || !t.request.abort) return;
    const wasLive = isLive(t);
    if (t.request.abort.by === 'call') {
      t.mayAbort = true;
      if (wasLive) t.mustAbort = true;
      t.handle.abort();
      return;
    }
    for (const watched of [t.main, t.text]) {
      if (!watched || watched.isUnsubscribed) continue;
      watched.isUnsubscribed = true;
      watched.subscription?.unsubscribe();
    }
    if (!t.request.detached && (!t.late || t.late.isUnsubscribed)) {
      t.mayAbort = true;
      if (wasLive) t.mustAbort = true;
    }
  };

  const close = (isDrain: boolean): void => {
    if (closing) return;
    drain = isDrain;
    if (!isDrain) {
      for (const t of tracked) {
        if (!isLive(t)) continue;
        t.mayAbort = true;
        t.mustAbort = true;
      }
    }
    closing = engine.close({ drain: isDrain });
  };

  // The timeline: arrivals, aborts at moments, and the close.
  const actions: Action[] = [];
  for (const t of tracked) {
    actions.push({ at: t.request.arrival, run: () => submit(t) });
    const at = t.request.abort?.at;
    if (at && !('tokens' in at)) actions.push({ at, run: () => abort(t) });
  }
  if (workload.close) {
    const { drain: isDrain } = workload.close;
    actions.push({ at: workload.close.at, run: () => close(isDrain) });
  }
  const byStep = actions.filter((a): a is Action & { at: { step: number } } => 'step' in a.at).sort((a, b) => a.at.step - b.at.step);
  let nextByStep = 0;
  const fireDueSteps = (): void => {
    while (nextByStep < byStep.length && byStep[nextByStep].at.step <= numSteps) byStep[nextByStep++].run();
  };

  const subscription = engine.events$.subscribe((event) => {
    if (event.type === 'request.state') states.set(event.id, event.state);
    else if (event.type === 'engine.error') problems.push(`engine.error: ${String(event.error)}`);
    else {
      numSteps++;
      for (const problem of checkPageConservation(engine.pageCensus())) problems.push(`step ${numSteps}: ${problem}`);
      fireDueSteps();
    }
  });

  for (const action of actions) {
    if (!('ms' in action.at)) continue;
    const timer = setTimeout(() => {
      timers.delete(timer);
      action.run();
      wakeMain();
    }, action.at.ms);
    timers.add(timer);
  }
  fireDueSteps();

  const play = async (): Promise<void> => {
    for (;;) {
      await engine.whenIdle();
      const { running, waiting } = engine.stats();
      if (running + waiting > 0) continue; // a step event submitted more after the idle signal
      if (nextByStep < byStep.length) {
        numSteps = Math.max(numSteps, byStep[nextByStep].at.step);
        fireDueSteps();
        continue;
      }
      if (timers.size > 0) {
        await new Promise<void>((resolve) => (wakeMain = resolve));
        continue;
      }
      break;
    }
    await Promise.all(settled);
    await engine.whenIdle(); // a request that ended during a step is released when the step returns
  };
  const isDone = await withDeadline(play(), options.hangMs);
  for (const timer of timers) clearTimeout(timer);
  if (!isDone) {
    const live = tracked.filter(isLive).map((t) => `${t.index}:${states.get(t.handle!.id)}`);
    problems.push(`hang: not done after ${options.hangMs} ms; live [${live.join(' ')}]; stats ${JSON.stringify(engine.stats())}`);
  }

  const closedAt = closing ? 'moment' : 'idle';
  if (!closing && isDone) {
    const stats = engine.stats();
    if (stats.running + stats.waiting > 0) problems.push(`not idle: ${stats.running} running, ${stats.waiting} waiting`);
    problems.push(...integrity(engine, 'at idle'), ...checkNoLeak(stats.pages));
  }
  close(drain);
  if (!(await withDeadline(closing!, options.hangMs))) problems.push(`hang: close() did not resolve in ${options.hangMs} ms`);
  subscription.unsubscribe();
  const stats = engine.stats();
  problems.push(...integrity(engine, 'after close'));
  if (stats.pages.free !== stats.pages.total) problems.push(`after close: ${stats.pages.free} of ${stats.pages.total} pages free`);
  if (stats.running + stats.waiting > 0) problems.push(`after close: ${stats.running} running, ${stats.waiting} waiting`);
  const counts = JSON.stringify(stats.requests);
  for (const t of tracked) t.handle?.abort(); // after the end: changes nothing
  if (JSON.stringify(engine.stats().requests) !== counts) problems.push('abort() after the end changed the request counts');
  try {
    engine.submit([1], {}, {});
    problems.push('submit after close was accepted');
  } catch (error) {
    if (!(error instanceof EngineClosedError)) problems.push(`submit after close threw ${String(error)}`);
  }
  for (const t of tracked) if (t.handle) t.postMortem = subscribeAfter(t.handle);
  return { workload, tracked, numSteps, closedAt, drain, stats, problems };
}

export function samplingOf(request: ChaosRequest): SamplingParams {
  const s = request.sampling;
  return {
    maxTokens: request.maxTokens,
    temperature: s.temperature,
    seed: s.seed,
    ignoreEos: s.ignoreEos,
    stopTokenIds: s.stopTokenIds,
    repetitionPenalty: s.repetitionPenalty,
    presencePenalty: s.presencePenalty,
    logprobs: s.logprobs,
  };
}

function subscribeTo<T>(source: Observable<T>): Watched<T> {
  const watched: Watched<T> = { items: [], end: 'open', isUnsubscribed: false };
  watched.subscription = source.subscribe({
    next: (item) => void watched.items.push(item),
    complete: () => void (watched.end = 'complete'),
    error: () => void (watched.end = 'error'),
  });
  return watched;
}

/** A subscriber after the end: it must get the whole output and the ending, synchronously. */
function subscribeAfter(handle: RequestHandle): Watched<number> & { isSync: boolean } {
  const watched = subscribeTo(handle.tokens$);
  return { ...watched, isSync: watched.end !== 'open' };
}

function integrity(engine: ChaosEngine, when: string): string[] {
  try {
    engine.checkIntegrity();
    return [];
  } catch (error) {
    return [`integrity ${when}: ${(error as Error).message}`];
  }
}

async function withDeadline(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
