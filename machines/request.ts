/**
 * The request lifecycle: the single owner of a request's phase.
 *
 *   waiting -> prefilling -> decoding -> finished
 *   prefilling | decoding --sched.preempt--> waiting
 *   any live state --client.abort--> aborted, --sched.fail--> failed, --sched.timeout--> finished (reason 'timeout')
 *
 * Per-token data never travels through this machine: tokens live in typed arrays
 * beside the actor (src/engine/request-slot.ts); only lifecycle events come here.
 */
import { assign, setup } from 'xstate';

export type FinishReason = 'stop' | 'length' | 'abort' | 'timeout';

export interface RequestContext {
  id: number;
  finishReason?: FinishReason;
  error?: unknown;
  numPreemptions: number;
}

export type RequestEvent =
  | { type: 'sched.admit' }
  | { type: 'sched.prefilled' }
  | { type: 'sched.preempt' }
  | { type: 'sched.finish'; reason: 'stop' | 'length' }
  | { type: 'sched.timeout' }
  | { type: 'sched.fail'; error: unknown }
  | { type: 'client.abort' };

export type RequestPhase = 'waiting' | 'prefilling' | 'decoding' | 'finished' | 'aborted' | 'failed';

/** Transitions every live state has; final states have none, so they ignore everything. */
const endings = {
  'client.abort': { target: 'aborted', actions: 'recordAbort' },
  'sched.fail': { target: 'failed', actions: 'recordFailure' },
  'sched.timeout': { target: 'finished', actions: 'recordTimeout' },
} as const;

export const requestMachine = setup({
  types: {
    context: {} as RequestContext,
    events: {} as RequestEvent,
    input: {} as { id: number },
  },
  actions: {
    recordFinish: assign({
      finishReason: ({ event }) => (event.type === 'sched.finish' ? event.reason : undefined),
    }),
    recordTimeout: assign({ finishReason: () => 'timeout' as const }),
    recordAbort: assign({ finishReason: () => 'abort' as const }),
    recordFailure: assign({ error: ({ event }) => (event.type === 'sched.fail' ? event.error : undefined) }),
    countPreemption: assign({ numPreemptions: ({ context }) => context.numPreemptions + 1 }),
  },
}).createMachine({
  id: 'request',
  context: ({ input }) => ({ id: input.id, numPreemptions: 0 }),
  initial: 'waiting',
  states: {
    waiting: {
      on: { ...endings, 'sched.admit': 'prefilling' },
    },
    prefilling: {
      on: {
        ...endings,
        'sched.prefilled': 'decoding',
        'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
      },
    },
    decoding: {
      on: {
        ...endings,
        'sched.finish': { target: 'finished', actions: 'recordFinish' },
        'sched.preempt': { target: 'waiting', actions: 'countPreemption' },
      },
    },
    finished: { type: 'final' },
    aborted: { type: 'final' },
    failed: { type: 'final' },
  },
});

export type RequestMachine = typeof requestMachine;
