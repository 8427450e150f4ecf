/**
 * The request lifecycle: the single owner of a request's phase.
 *
 *   live: waiting -> prefilling -> decoding          (sched.admit, sched.prefilled)
 *         prefilling | decoding --sched.preempt--> waiting
 *   live --sched.finish | client.abort | sched.fail | deadline--> releasing
 *   releasing --sched.release--> finished | aborted | failed   (final)
 *
 * `releasing` means the request has ended for its client but its pages are still held
 * (a step may be in flight); the engine sends sched.release once it gave them back.
 * The deadline is a timer of this machine on the actor's clock (inject a virtual clock
 * with createActor(..., { clock })); when it fires the machine emits `request.deadline`.
 * Per-token data never travels through this machine: tokens live in typed arrays beside
 * the actor (src/engine/request-slot.ts); only lifecycle events come here.
 */
import { assign, emit, setup, type SnapshotFrom } from 'xstate';

export type FinishReason = 'stop' | 'length' | 'abort' | 'timeout';

/** What a released request became. */
export type RequestOutcome = 'finished' | 'aborted' | 'failed';

export interface RequestContext {
  id: number;
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

export type RequestEmitted = { type: 'request.deadline' };

export type RequestPhase = 'waiting' | 'prefilling' | 'decoding' | 'releasing' | RequestOutcome;

/** Longest delay a Node.js timer can hold; a longer deadline is no deadline. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const requestMachine = setup({
  types: {
    context: {} as RequestContext,
    events: {} as RequestEvent,
    emitted: {} as RequestEmitted,
    input: {} as { id: number; timeoutMs?: number },
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
  },
  guards: {
    hasDeadline: ({ context }) => context.timeoutMs !== undefined,
    becameFinished: ({ context }) => context.outcome === 'finished',
    becameAborted: ({ context }) => context.outcome === 'aborted',
  },
  delays: {
    deadline: ({ context }) => context.timeoutMs ?? MAX_TIMER_MS,
  },
}).createMachine({
  id: 'request',
  context: ({ input }) => ({ id: input.id, timeoutMs: input.timeoutMs, numPreemptions: 0, numAdmissions: 0 }),
  initial: 'live',
  states: {
    live: {
      initial: 'waiting',
      on: {
        'client.abort': { target: 'releasing', actions: 'recordAbort' },
        'sched.fail': { target: 'releasing', actions: 'recordFailure' },
      },
      after: {
        deadline: { guard: 'hasDeadline', target: 'releasing', actions: ['recordTimeout', 'announceDeadline'] },
      },
      states: {
        waiting: {
          on: { 'sched.admit': { target: 'prefilling', actions: 'countAdmission' } },
        },
        prefilling: {
          on: {
            'sched.prefilled': 'decoding',
            'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
          },
        },
        decoding: {
          on: {
            'sched.finish': { target: '#request.releasing', actions: 'recordFinish' },
            'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
          },
        },
      },
    },
    releasing: {
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

export type RequestMachine = typeof requestMachine;
export type RequestSnapshot = SnapshotFrom<RequestMachine>;

/** The phase of a snapshot, flattened (`{ live: 'waiting' }` -> 'waiting'). */
export function phaseOf(snapshot: RequestSnapshot): RequestPhase {
  const value = snapshot.value;
  return typeof value === 'string' ? (value as RequestPhase) : (value.live as RequestPhase);
}
