/**
 * The request lifecycle: the single owner of a request's phase.
 *
 *   waiting -> prefilling -> decoding                 (sched.admit, sched.prefilled)
 *   prefilling | decoding --sched.preempt--> waiting
 *   waiting | prefilling | decoding --sched.finish | client.abort | sched.fail | deadline--> releasing
 *   releasing --sched.release--> finished | aborted | failed   (final)
 *
 * `releasing` means the request has ended for its client but its pages are still held
 * (a step may be in flight); the engine sends sched.release once it gave them back.
 * The deadline is a delayed event of this machine on the actor's clock (inject a virtual
 * clock with createActor(..., { clock })), raised at start only when the request has one
 * and cancelled when it ends; when it fires the machine emits `request.deadline`.
 * The states are flat (the live ones share their ending transitions) rather than nested
 * under a `live` parent: each transition costs about half as much in XState's interpreter,
 * and a request makes five of them.
 * Per-token data never travels through this machine: tokens live in typed arrays beside
 * the actor (src/engine/request-slot.ts); only lifecycle events come here. The context
 * holds nothing that names the request (its id lives beside it), so requests with the same
 * history have equal snapshots and machines/lifecycle.ts evaluates each transition once.
 */
import { assign, emit, enqueueActions, setup, type SnapshotFrom } from 'xstate';

export type FinishReason = 'stop' | 'length' | 'abort' | 'timeout';

/** What a released request became. */
export type RequestOutcome = 'finished' | 'aborted' | 'failed';

export interface RequestContext {
  /** Milliseconds from start to the deadline; undefined = none. */
  timeoutMs: number | undefined;
  finishReason?: FinishReason;
  outcome?: RequestOutcome;
  error?: unknown;
  numPreemptions: number;
  numAdmissions: number;
}

export type RequestEvent =
  | { type: 'sched.admit' }
  | { type: 'sched.prefilled' }
  | { type: 'sched.preempt' }
  | { type: 'sched.finish'; reason: 'stop' | 'length' }
  | { type: 'sched.fail'; error: unknown }
  | { type: 'sched.release' }
  | { type: 'client.abort' };

/** The machine's own delayed event (not sent from outside). */
type DeadlineEvent = { type: 'request.deadline-reached' };

export type RequestEmitted = { type: 'request.deadline' };

export type RequestPhase = 'waiting' | 'prefilling' | 'decoding' | 'releasing' | RequestOutcome;

/** Longest delay a Node.js timer can hold; a longer deadline is no deadline. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** How a live request (waiting, prefilling or decoding) ends other than by finishing. */
const ENDINGS = {
  'client.abort': { target: 'releasing', actions: 'recordAbort' },
  'sched.fail': { target: 'releasing', actions: 'recordFailure' },
  'request.deadline-reached': { target: 'releasing', actions: ['recordTimeout', 'announceDeadline'] },
} as const;

export const requestMachine = setup({
  types: {
    context: {} as RequestContext,
    events: {} as RequestEvent | DeadlineEvent,
    emitted: {} as RequestEmitted,
    input: {} as { timeoutMs?: number },
  },
  actions: {
    recordFinish: assign({
      finishReason: ({ event }) => (event.type === 'sched.finish' ? event.reason : undefined),
      outcome: 'finished' as const,
    }),
    recordTimeout: assign({ finishReason: 'timeout' as const, outcome: 'finished' as const }),
    recordAbort: assign({ finishReason: 'abort' as const, outcome: 'aborted' as const }),
    recordFailure: assign({
      error: ({ event }) => (event.type === 'sched.fail' ? event.error : undefined),
      outcome: 'failed' as const,
    }),
    countAdmission: assign({ numAdmissions: ({ context }) => context.numAdmissions + 1 }),
    countPreemption: assign({ numPreemptions: ({ context }) => context.numPreemptions + 1 }),
    announceDeadline: emit({ type: 'request.deadline' } as const),
    startDeadline: enqueueActions(({ context, enqueue }) => {
      const ms = context.timeoutMs;
      if (ms !== undefined && ms <= MAX_TIMER_MS) enqueue.raise({ type: 'request.deadline-reached' }, { delay: ms, id: 'deadline' });
    }),
    stopDeadline: enqueueActions(({ context, enqueue }) => {
      if (context.timeoutMs !== undefined) enqueue.cancel('deadline');
    }),
  },
  guards: {
    becameFinished: ({ context }) => context.outcome === 'finished',
    becameAborted: ({ context }) => context.outcome === 'aborted',
  },
}).createMachine({
  id: 'request',
  context: ({ input }) => ({ timeoutMs: input.timeoutMs, numPreemptions: 0, numAdmissions: 0 }),
  initial: 'waiting',
  entry: 'startDeadline',
  states: {
    waiting: {
      on: {
        'sched.admit': { target: 'prefilling', actions: 'countAdmission' },
        ...ENDINGS,
      },
    },
    prefilling: {
      on: {
        'sched.prefilled': 'decoding',
        'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
        ...ENDINGS,
      },
    },
    decoding: {
      on: {
        'sched.finish': { target: 'releasing', actions: 'recordFinish' },
        'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
        ...ENDINGS,
      },
    },
    releasing: {
      entry: 'stopDeadline',
      on: {
        'sched.release': [
          { guard: 'becameFinished', target: 'finished' },
          { guard: 'becameAborted', target: 'aborted' },
          { target: 'failed' },
        ],
      },
    },
    finished: { type: 'final' },
    aborted: { type: 'final' },
    failed: { type: 'final' },
  },
});

/**
 * The same machine for a request without a deadline: its entry and exit deadline actions do
 * nothing (they would find no timeoutMs), which spares XState resolving them (a fifth of
 * the machine's cost per request).
 */
export const untimedRequestMachine = requestMachine.provide({
  actions: { startDeadline: () => undefined, stopDeadline: () => undefined },
});

export type RequestMachine = typeof requestMachine;
export type RequestSnapshot = SnapshotFrom<RequestMachine>;

/** The phase of a snapshot (the state value is the phase). */
export function phaseOf(snapshot: RequestSnapshot): RequestPhase {
  return snapshot.value as RequestPhase;
}
