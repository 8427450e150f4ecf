/**
 * Runs request machines without an actor per request. XState's own interpreter decides
 * every transition: the machine is ActorLogic, and each request's snapshot advances by
 * `requestMachine.transition(snapshot, event, scope)`, the function an actor calls on each
 * event (and `xstate`'s pure `transition()` too). What an actor adds per request (a
 * system, a mailbox, observers; about a third of the cost) is shared here: one actor scope
 * for every request, whose action executor carries out what the machine asks for:
 *   xstate.raise with a delay -> a timer on the injected clock that sends the event back,
 *   xstate.cancel             -> that timer cleared,
 *   xstate.emit               -> the request's emitted-event listener,
 *   a named action            -> its implementation.
 * The snapshot stays the only place a request's phase lives; this file only stores it.
 *
 * Transitions are evaluated once and remembered. `transition(snapshot, event)` is a pure
 * function (XState's contract), and a request's context names nothing of its own (no id:
 * machines/request.ts), so every request without a deadline starts from one shared initial
 * snapshot and walks the same few snapshots: the runner keeps, per snapshot and event, the
 * snapshot XState returned and the actions it asked for, and replays those (timers are
 * still armed per request). An event that carries its own data into the context
 * (`sched.fail` and its error) is evaluated every time. Whatever XState returns is used as
 * is; the memo only saves evaluating the same input twice.
 */
import { createActor, type ExecutableActionObject } from 'xstate';
import { requestMachine, untimedRequestMachine, type RequestMachine, type RequestEmitted, type RequestEvent, type RequestSnapshot } from './request.js';

/** The timers the machines' delayed events run on (XState's clock shape; the engine injects its own). */
export interface TimerClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

type MachineEvent = Parameters<typeof requestMachine.transition>[1];
type MachineScope = Parameters<typeof requestMachine.transition>[2];

/** One request's machine: its snapshot, its pending delayed events, and who hears of changes. */
export class RequestLifecycle {
  snapshot: RequestSnapshot;
  /** Delayed events of this machine (by the id the machine gave them) and their timer handles. */
  private timers: Map<string, unknown> | undefined;
  /** Called after every transition that changed the snapshot, and on each emitted event. */
  onChange: (snapshot: RequestSnapshot) => void = () => undefined;
  onEmit: (event: RequestEmitted) => void = () => undefined;

  /** requestMachine, or its untimed variant for a request without a deadline. */
  readonly machine: RequestMachine;

  constructor(private readonly runner: LifecycleRunner, input: { timeoutMs?: number }) {
    this.machine = input.timeoutMs === undefined ? untimedRequestMachine : requestMachine;
    this.snapshot = runner.start(this, input);
  }

  /** Sends one event; an event the current state does not take changes nothing (as with an actor). */
  send(event: RequestEvent): void {
    this.runner.send(this, event);
  }

  /** @internal the runner's bookkeeping of this machine's delayed events */
  setTimer(id: string, handle: unknown): void {
    (this.timers ??= new Map()).set(id, handle);
  }

  /** @internal */
  takeTimer(id: string): unknown {
    const handle = this.timers?.get(id);
    this.timers?.delete(id);
    return handle;
  }
}

/** What XState returned for one (snapshot, event): the next snapshot and the actions to execute. */
interface Evaluated {
  readonly snapshot: RequestSnapshot;
  readonly actions: readonly ExecutableActionObject[];
}

/** Distinct deadlines whose initial snapshots are kept (a server's default deadline is one). */
const MAX_KEPT_STARTS = 16;

/** The key of an event whose transition can be remembered; undefined for one carrying data into the context. */
function memoKey(event: MachineEvent): string | undefined {
  if (event.type === 'sched.fail') return undefined;
  if (event.type === 'sched.finish') return `sched.finish/${event.reason}`;
  return event.type;
}

/** The shared scope that evaluates request machines and executes their actions on a clock. */
export class LifecycleRunner {
  private readonly scope: MachineScope;
  /** Actions of the transition being evaluated (a stack discipline: a listener may send again). */
  private collected: ExecutableActionObject[] = [];
  /** Each machine's initial snapshot, by deadline. */
  private readonly starts = new Map<RequestMachine, Map<number | undefined, Evaluated>>();
  /** What each (snapshot, event key) transitioned to; forgotten with the snapshot. */
  private readonly transitions = new WeakMap<RequestSnapshot, Map<string, Evaluated>>();

  constructor(private readonly clock: TimerClock) {
    // An actor that is never started: XState's action resolution needs a `self` to refer to.
    const self = createActor(requestMachine, { input: {} });
    this.scope = {
      self: self as MachineScope['self'],
      id: '',
      sessionId: '',
      logger: () => undefined,
      defer: () => undefined,
      emit: () => undefined,
      system: self.system,
      stopChild: () => undefined,
      actionExecutor: (action) => void this.collected.push(action),
    };
  }

  /** @internal the initial snapshot of a new request's machine (its entry actions executed) */
  start(lifecycle: RequestLifecycle, input: { timeoutMs?: number }): RequestSnapshot {
    const machine = lifecycle.machine;
    let byDeadline = this.starts.get(machine);
    if (!byDeadline) this.starts.set(machine, (byDeadline = new Map()));
    let start = byDeadline.get(input.timeoutMs);
    if (!start) {
      start = this.evaluate(() => machine.getInitialSnapshot(this.scope, { timeoutMs: input.timeoutMs }));
      if (byDeadline.size >= MAX_KEPT_STARTS) byDeadline.clear();
      byDeadline.set(input.timeoutMs, start);
    }
    lifecycle.snapshot = start.snapshot;
    this.execute(lifecycle, start.actions);
    return start.snapshot;
  }

  /** @internal */
  send(lifecycle: RequestLifecycle, event: MachineEvent): void {
    const before = lifecycle.snapshot;
    if (before.status !== 'active') return; // a final machine takes no more events
    const { snapshot: after, actions } = this.transition(lifecycle.machine, before, event);
    if (after === before) return;
    lifecycle.snapshot = after;
    this.execute(lifecycle, actions);
    lifecycle.onChange(after);
  }

  /** XState's transition of `before` on `event`, evaluated once per (snapshot, event key). */
  private transition(machine: RequestMachine, before: RequestSnapshot, event: MachineEvent): Evaluated {
    const key = memoKey(event);
    if (key === undefined) return this.evaluate(() => machine.transition(before, event, this.scope));
    let byEvent = this.transitions.get(before);
    if (!byEvent) this.transitions.set(before, (byEvent = new Map()));
    let evaluated = byEvent.get(key);
    if (!evaluated) byEvent.set(key, (evaluated = this.evaluate(() => machine.transition(before, event, this.scope))));
    return evaluated;
  }

  /** Runs one XState evaluation, collecting the actions it asks for. */
  private evaluate(run: () => RequestSnapshot): Evaluated {
    const outer = this.collected;
    this.collected = [];
    try {
      const snapshot = run();
      return { snapshot, actions: this.collected };
    } finally {
      this.collected = outer;
    }
  }

  private execute(lifecycle: RequestLifecycle, actions: readonly ExecutableActionObject[]): void {
    for (const action of actions) {
      if (action.type === 'xstate.raise') this.schedule(lifecycle, action.params as { event: MachineEvent; delay?: number; id?: string });
      else if (action.type === 'xstate.cancel') this.clock.clearTimeout(lifecycle.takeTimer((action.params as { sendId: string }).sendId));
      else if (action.type === 'xstate.emit') lifecycle.onEmit((action.params as { event: RequestEmitted }).event);
      else if (!action.type.startsWith('xstate.')) action.exec?.(action.info, action.params); // an implementation given by .provide()
    }
  }

  private schedule(lifecycle: RequestLifecycle, params: { event: MachineEvent; delay?: number; id?: string }): void {
    if (typeof params.delay !== 'number') return; // an undelayed raise was consumed inside the transition
    const id = params.id ?? params.event.type;
    const handle = this.clock.setTimeout(() => {
      lifecycle.takeTimer(id);
      this.send(lifecycle, params.event);
    }, params.delay);
    lifecycle.setTimer(id, handle);
  }
}
